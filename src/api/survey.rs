//! Which survey a figure is about. Figures of different surveys are never
//! counted together: every figure request is about one survey, the one named
//! by `survey` or else the configuration's `default_survey`, and its answer
//! says which (`survey`, `kind`). GET /api/v1/surveys lists them.

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::error::{ApiError, ErrorJson};
use super::etag::{request_key, Tag};
use super::export::Format;
use super::params::Params;
use super::schema::ScaleKindName;
use super::state::ApiState;
use crate::store::Filter;
use crate::survey::ScaleKind;

/// The survey a request is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    /// As configured (a request may spell it in any case).
    pub name: String,
    pub kind: ScaleKind,
}

impl Chosen {
    /// Narrows a filter to this survey's answers on its scale.
    pub fn narrow(&self, mut f: Filter) -> Filter {
        f.survey = Some(self.name.clone());
        f.kind = Some(self.kind);
        f
    }

    /// Part of an ETag key: the same URL means another survey after a
    /// reload changed the default or a survey's scale.
    pub fn key(&self) -> String {
        format!("{}\n{}", self.name, self.kind.as_str())
    }
}

/// The survey named by `survey` (any case), else the default. A survey no
/// longer configured is still found by the answers it left (on the scale of
/// the newest); a name never seen is a 404, like an unknown id.
pub async fn choose(state: &ApiState, params: &Params) -> Result<Chosen, ApiError> {
    let catalog = state.surveys.get();
    let name = params
        .string("survey")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| catalog.default_survey.clone());
    if let Some((name, kind)) = catalog.find(&name) {
        return Ok(Chosen {
            name: name.to_owned(),
            kind,
        });
    }
    if name.len() <= 200 {
        if let Some(kind) = state.store_call(state.store.survey_kind(&name)).await? {
            return Ok(Chosen { name, kind });
        }
    }
    let known: Vec<&str> = catalog.surveys.iter().map(|(n, _)| n.as_str()).collect();
    Err(ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "unknown_survey",
        format!(
            "survey: no survey of this name has been configured or answered (configured: {})",
            known.join(", ")
        ),
    ))
}

/// The ETag key of a figure request: the URL and the survey it resolved to.
pub fn tag_key(uri: &Uri, chosen: &Chosen) -> String {
    format!("{}\n{}", request_key(uri), chosen.key())
}

/// A figure request resolved to its survey.
pub enum Resolved {
    /// The client's copy is current: the 304 to send.
    NotModified(Response),
    /// The survey, the filter narrowed to it, and the answer's ETag.
    Fresh {
        chosen: Chosen,
        filter: Filter,
        tag: Tag,
    },
}

/// Chooses the survey of a figure request, narrows `filter` to it and
/// checks `If-None-Match` against the ETag of the URL and that survey.
pub async fn resolve(
    state: &ApiState,
    uri: &Uri,
    headers: &HeaderMap,
    params: &Params,
    filter: Filter,
) -> Result<Resolved, ApiError> {
    let chosen = choose(state, params).await?;
    let filter = chosen.narrow(filter);
    // The same URL answers JSON or CSV (by Accept): tagged apart.
    let format = Format::of(headers, params).unwrap_or(Format::Json);
    let key = format!("{}\n{}", tag_key(uri, &chosen), format.key());
    let tag = Tag::versioned(state, &key).await?;
    if tag.matches(headers) {
        return Ok(Resolved::NotModified(tag.not_modified()));
    }
    Ok(Resolved::Fresh {
        chosen,
        filter,
        tag,
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SurveyJson {
    pub name: String,
    #[schema(value_type = ScaleKindName)]
    pub kind: ScaleKind,
    /// The survey figures are about when a request names none.
    pub default: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SurveysJson {
    pub default_survey: String,
    pub items: Vec<SurveyJson>,
}

/// The configured surveys and their scales.
#[utoipa::path(
    get,
    operation_id = "list_surveys",
    path = "/api/v1/surveys",
    tag = "figures",
    responses(
        (status = 200, description = "Surveys in configuration order", body = SurveysJson),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn surveys(State(state): State<ApiState>, params: Params) -> Result<Response, ApiError> {
    params.only(&[])?;
    let catalog = state.surveys.get();
    // No store behind it: tagged by its body like any other answer.
    Ok(Json(SurveysJson {
        default_survey: catalog.default_survey.clone(),
        items: catalog
            .surveys
            .iter()
            .map(|(name, kind)| SurveyJson {
                name: name.clone(),
                kind: *kind,
                default: *name == catalog.default_survey,
            })
            .collect(),
    })
    .into_response())
}
