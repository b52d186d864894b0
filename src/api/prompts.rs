//! /api/v1/prompts: the voice prompts calls play, listed, downloaded,
//! replaced and reverted while the daemon runs, so an admin can fix a
//! wording or add a language without a restart.
//!
//! Uploads are any WAV hound reads; they are converted to 8 kHz mono once,
//! here, and stored in the custom directory over the shipped prompts. The
//! next call hears them; calls in progress finish with what they started
//! with. Reading needs the read scope, changing needs admin.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth;
use super::body::{read_limited, Limit};
use super::error::{ApiError, ErrorJson};
use super::params::Params;
use super::schema::PromptNameName;
use super::state::ApiState;
use crate::media::prompt::{
    InstallError, PromptError, PromptInfo, PromptKey, PromptLibrary, MAX_UPLOAD_BYTES,
};

/// The prompt routes with their scopes, merged into the API router.
pub fn routes(state: ApiState) -> Router<ApiState> {
    let read = Router::new()
        .route("/api/v1/prompts", get(list))
        .route("/api/v1/prompts/{language}/{name}", get(get_shared))
        .route(
            "/api/v1/prompts/{language}/{survey}/{name}",
            get(get_survey),
        )
        .route_layer(from_fn_with_state(state.clone(), auth::read));
    let admin = Router::new()
        .route(
            "/api/v1/prompts/{language}/{name}",
            axum::routing::put(put_shared).delete(delete_shared),
        )
        .route(
            "/api/v1/prompts/{language}/{survey}/{name}",
            axum::routing::put(put_survey).delete(delete_survey),
        )
        .route_layer(from_fn_with_state(state, auth::admin));
    read.merge(admin)
}

/// One prompt.
#[derive(Debug, Serialize, ToSchema)]
pub struct PromptJson {
    /// Language tag, lower case (`sv`, `pt-br`).
    pub language: String,
    /// The survey (or scale: `csat`, `nps`) it belongs to; null when every
    /// survey shares it.
    pub survey: Option<String>,
    /// survey, invalid, thanks, goodbye, comment or beep.
    pub name: String,
    /// `shipped` (installed with smileyd) or `custom` (uploaded).
    pub source: String,
    pub duration_ms: u64,
    /// Where to GET the audio, PUT a replacement or DELETE an upload.
    pub url: String,
}

impl From<PromptInfo> for PromptJson {
    fn from(i: PromptInfo) -> Self {
        PromptJson {
            url: format!("/api/v1/prompts/{}", i.key),
            language: i.key.language,
            survey: i.key.survey,
            name: i.key.name,
            source: i.source.as_str().to_owned(),
            duration_ms: i.duration.as_millis() as u64,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PromptsJson {
    /// By language, then survey (shared prompts first), then name.
    pub items: Vec<PromptJson>,
}

fn library(state: &ApiState) -> Result<&PromptLibrary, ApiError> {
    state
        .prompts
        .as_ref()
        .ok_or_else(|| ApiError::not_found("this server has no prompts"))
}

/// Every prompt file, shipped and uploaded (an upload hides the shipped
/// prompt with the same place).
#[utoipa::path(
    get,
    operation_id = "list_prompts",
    path = "/api/v1/prompts",
    tag = "prompts",
    params(
        ("language" = Option<String>, Query, max_length = 16, pattern = "^[A-Za-z][A-Za-z0-9]*([-_][A-Za-z0-9]+)*$", description = "Only this language"),
        ("survey" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "Only this survey's own prompts"),
    ),
    responses(
        (status = 200, description = "The prompts", body = PromptsJson),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<ApiState>,
    params: Params,
) -> Result<Json<PromptsJson>, ApiError> {
    params.only(&["language", "survey"])?;
    let lib = library(&state)?;
    let language = params
        .get("language")
        .map(|l| {
            PromptKey::loose(l, None, "survey")
                .map(|k| k.language)
                .map_err(|e| ApiError::invalid("language", e))
        })
        .transpose()?;
    let survey = params
        .get("survey")
        .map(|s| {
            PromptKey::loose("en", Some(s), "survey")
                .map(|k| k.survey)
                .map_err(|e| ApiError::invalid("survey", e))
        })
        .transpose()?
        .flatten();
    let items = lib
        .snapshot()
        .list()
        .into_iter()
        .filter(|i| language.as_ref().is_none_or(|l| &i.key.language == l))
        .filter(|i| survey.is_none() || i.key.survey == survey)
        .map(PromptJson::from)
        .collect();
    Ok(Json(PromptsJson { items }))
}

/// A shared prompt as 8 kHz mono 16-bit WAV: exactly what callers hear.
#[utoipa::path(
    get,
    operation_id = "get_shared_prompt",
    path = "/api/v1/prompts/{language}/{name}",
    tag = "prompts",
    params(
        ("language" = String, Path, max_length = 16, pattern = "^[A-Za-z][A-Za-z0-9]*([-_][A-Za-z0-9]+)*$", description = "Language tag, e.g. sv"),
        ("name" = PromptNameName, Path, description = "survey, invalid, thanks, goodbye, comment or beep"),
    ),
    responses(
        (status = 200, description = "The prompt (X-Prompt-Source: shipped or custom)", content_type = "audio/wav", body = Vec<u8>),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad language or name", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
        (status = 404, description = "No prompt at exactly this place (no fallback is applied)", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn get_shared(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    params: Params,
) -> Result<Response, ApiError> {
    params.only(&[])?;
    let key = shared_key(path)?;
    download(&state, &key)
}

/// A survey's own prompt as 8 kHz mono 16-bit WAV.
#[utoipa::path(
    get,
    operation_id = "get_survey_prompt",
    path = "/api/v1/prompts/{language}/{survey}/{name}",
    tag = "prompts",
    params(
        ("language" = String, Path, max_length = 16, pattern = "^[A-Za-z][A-Za-z0-9]*([-_][A-Za-z0-9]+)*$", description = "Language tag, e.g. sv"),
        ("survey" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "Survey name, or a scale: csat, nps"),
        ("name" = PromptNameName, Path, description = "survey, invalid, thanks, goodbye, comment or beep"),
    ),
    responses(
        (status = 200, description = "The prompt (X-Prompt-Source: shipped or custom)", content_type = "audio/wav", body = Vec<u8>),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad language, survey or name", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
        (status = 404, description = "No prompt at exactly this place (no fallback is applied)", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn get_survey(
    State(state): State<ApiState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    params: Params,
) -> Result<Response, ApiError> {
    params.only(&[])?;
    let key = survey_key(path)?;
    download(&state, &key)
}

/// Upload a shared prompt (any WAV; converted to 8 kHz mono).
#[utoipa::path(
    put,
    operation_id = "put_shared_prompt",
    path = "/api/v1/prompts/{language}/{name}",
    tag = "prompts",
    params(
        ("language" = String, Path, max_length = 16, pattern = "^[A-Za-z][A-Za-z0-9]*([-_][A-Za-z0-9]+)*$", description = "Language tag, e.g. sv"),
        ("name" = PromptNameName, Path, description = "survey, invalid, thanks, goodbye, comment or beep"),
    ),
    request_body(content = Vec<u8>, content_type = "audio/wav", description = "A WAV file: any rate, channel count, 8-32 bit PCM or 32-bit float; at most 10 MiB and 120 s"),
    responses(
        (status = 200, description = "Replaced the prompt at this place (shipped or uploaded); new calls play it", body = PromptJson),
        (status = 201, description = "Installed where there was no prompt; new calls play it", body = PromptJson),
        (status = 400, description = "Not a WAV file, corrupt or empty; the old prompt stays", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Needs an admin token", body = ErrorJson),
        (status = 413, description = "Over 10 MiB or 120 s; the old prompt stays", body = ErrorJson),
        (status = 500, description = "The custom prompt directory cannot be written", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn put_shared(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    params: Params,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    params.only(&[])?;
    let key = shared_key(path)?;
    upload(&state, key, &headers, body).await
}

/// Upload a survey's own prompt (any WAV; converted to 8 kHz mono).
#[utoipa::path(
    put,
    operation_id = "put_survey_prompt",
    path = "/api/v1/prompts/{language}/{survey}/{name}",
    tag = "prompts",
    params(
        ("language" = String, Path, max_length = 16, pattern = "^[A-Za-z][A-Za-z0-9]*([-_][A-Za-z0-9]+)*$", description = "Language tag, e.g. sv"),
        ("survey" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "Survey name, or a scale: csat, nps"),
        ("name" = PromptNameName, Path, description = "survey, invalid, thanks, goodbye, comment or beep"),
    ),
    request_body(content = Vec<u8>, content_type = "audio/wav", description = "A WAV file: any rate, channel count, 8-32 bit PCM or 32-bit float; at most 10 MiB and 120 s"),
    responses(
        (status = 200, description = "Replaced the prompt at this place (shipped or uploaded); new calls play it", body = PromptJson),
        (status = 201, description = "Installed where there was no prompt; new calls play it", body = PromptJson),
        (status = 400, description = "Not a WAV file, corrupt or empty; the old prompt stays", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Needs an admin token", body = ErrorJson),
        (status = 413, description = "Over 10 MiB or 120 s; the old prompt stays", body = ErrorJson),
        (status = 500, description = "The custom prompt directory cannot be written", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn put_survey(
    State(state): State<ApiState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    params: Params,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    params.only(&[])?;
    let key = survey_key(path)?;
    upload(&state, key, &headers, body).await
}

/// Remove an uploaded shared prompt; the shipped one plays again.
#[utoipa::path(
    delete,
    operation_id = "delete_shared_prompt",
    path = "/api/v1/prompts/{language}/{name}",
    tag = "prompts",
    params(
        ("language" = String, Path, max_length = 16, pattern = "^[A-Za-z][A-Za-z0-9]*([-_][A-Za-z0-9]+)*$", description = "Language tag, e.g. sv"),
        ("name" = PromptNameName, Path, description = "survey, invalid, thanks, goodbye, comment or beep"),
    ),
    responses(
        (status = 204, description = "Removed; new calls fall back to the shipped prompt"),
        (status = 400, description = "Bad language or name", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Needs an admin token", body = ErrorJson),
        (status = 404, description = "No upload here (shipped prompts cannot be deleted)", body = ErrorJson),
        (status = 500, description = "The custom prompt directory cannot be written", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn delete_shared(
    State(state): State<ApiState>,
    path: Result<Path<(String, String)>, PathRejection>,
    params: Params,
) -> Result<Response, ApiError> {
    params.only(&[])?;
    let key = shared_key(path)?;
    remove(&state, key).await
}

/// Remove an uploaded survey prompt; the next one in the lookup order plays.
#[utoipa::path(
    delete,
    operation_id = "delete_survey_prompt",
    path = "/api/v1/prompts/{language}/{survey}/{name}",
    tag = "prompts",
    params(
        ("language" = String, Path, max_length = 16, pattern = "^[A-Za-z][A-Za-z0-9]*([-_][A-Za-z0-9]+)*$", description = "Language tag, e.g. sv"),
        ("survey" = String, Path, pattern = "^[A-Za-z0-9_-]{1,64}$", description = "Survey name, or a scale: csat, nps"),
        ("name" = PromptNameName, Path, description = "survey, invalid, thanks, goodbye, comment or beep"),
    ),
    responses(
        (status = 204, description = "Removed; new calls fall back to the shipped prompt"),
        (status = 400, description = "Bad language, survey or name", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Needs an admin token", body = ErrorJson),
        (status = 404, description = "No upload here (shipped prompts cannot be deleted)", body = ErrorJson),
        (status = 500, description = "The custom prompt directory cannot be written", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn delete_survey(
    State(state): State<ApiState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    params: Params,
) -> Result<Response, ApiError> {
    params.only(&[])?;
    let key = survey_key(path)?;
    remove(&state, key).await
}

fn shared_key(path: Result<Path<(String, String)>, PathRejection>) -> Result<PromptKey, ApiError> {
    let Path((language, name)) = path.map_err(|e| ApiError::invalid("path", e.body_text()))?;
    key(&language, None, &name)
}

fn survey_key(
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<PromptKey, ApiError> {
    let Path((language, survey, name)) =
        path.map_err(|e| ApiError::invalid("path", e.body_text()))?;
    key(&language, Some(&survey), &name)
}

fn key(language: &str, survey: Option<&str>, name: &str) -> Result<PromptKey, ApiError> {
    use crate::media::prompt::KeyError;
    PromptKey::parse(language, survey, name).map_err(|e| {
        let param = match e {
            KeyError::Language(_) => "language",
            KeyError::Survey(_) => "survey",
            KeyError::Name(_) => "name",
        };
        ApiError::invalid(param, e)
    })
}

fn download(state: &ApiState, key: &PromptKey) -> Result<Response, ApiError> {
    let (prompt, source) = library(state)?
        .snapshot()
        .exact(key)
        .ok_or_else(|| ApiError::not_found(format!("no prompt {key}")))?;
    Ok((
        [
            (CONTENT_TYPE, "audio/wav"),
            (
                axum::http::HeaderName::from_static("x-prompt-source"),
                source.as_str(),
            ),
        ],
        prompt.to_wav(),
    )
        .into_response())
}

async fn upload(
    state: &ApiState,
    key: PromptKey,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let lib = library(state)?.clone();
    let bytes = read_limited(
        headers,
        body,
        Limit {
            max: MAX_UPLOAD_BYTES,
            what: "a prompt upload (10 MiB)",
        },
    )
    .await?;
    if bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_audio",
            "the body is empty; send the WAV file itself (curl --data-binary @file.wav)",
        ));
    }
    // 201 only where a GET would have been a 404 before.
    let replaced = lib.snapshot().exact(&key).is_some();
    let installing = key.clone();
    // Decoding and resampling up to two minutes of audio is CPU work.
    let info = tokio::task::spawn_blocking(move || lib.install(&installing, &bytes))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "prompt upload task failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the upload could not be processed",
            )
        })?
        .map_err(|e| install_error(&key, e))?;
    tracing::info!(prompt = %key, duration_ms = info.duration.as_millis() as u64, "prompt uploaded");
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(PromptJson::from(info))).into_response())
}

async fn remove(state: &ApiState, key: PromptKey) -> Result<Response, ApiError> {
    let lib = library(state)?.clone();
    let removing = key.clone();
    let removed = tokio::task::spawn_blocking(move || lib.remove(&removing))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "prompt removal task failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "the prompt could not be removed",
            )
        })?
        .map_err(|e| install_error(&key, e))?;
    if !removed {
        return Err(ApiError::not_found(format!(
            "no uploaded prompt {key}; shipped prompts cannot be deleted, only replaced"
        )));
    }
    tracing::info!(prompt = %key, "uploaded prompt removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What went wrong, for the admin who sent the file; the old prompt stays
/// in every case.
fn install_error(key: &PromptKey, e: InstallError) -> ApiError {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_audio", message);
    match e {
        InstallError::Invalid(PromptError::NotWav { .. }) => bad(format!(
            "the upload for {key} is not a WAV file (no RIFF/WAVE header); \
             send the .wav file itself, e.g. curl --data-binary @prompt.wav"
        )),
        InstallError::Invalid(PromptError::Corrupt { detail, .. }) => bad(format!(
            "the upload for {key} is a damaged WAV file ({detail}); the old prompt stays"
        )),
        InstallError::Invalid(PromptError::Empty { .. }) => bad(format!(
            "the upload for {key} contains no audio; the old prompt stays"
        )),
        InstallError::Invalid(PromptError::Unsupported { detail, .. }) => bad(format!(
            "the upload for {key} is a WAV format that cannot be read ({detail}); \
             use 8, 16, 24 or 32-bit PCM or 32-bit float"
        )),
        InstallError::Invalid(other) => bad(format!("the upload for {key} is unusable: {other}")),
        InstallError::TooLarge { max, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("a prompt upload may be at most {max} bytes (10 MiB)"),
        ),
        InstallError::TooLong(PromptError::TooLong {
            seconds,
            max_seconds,
            ..
        }) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "prompt_too_long",
            format!(
                "the upload for {key} is {seconds} s long; a prompt may be at most {max_seconds} s"
            ),
        ),
        InstallError::TooLong(other) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "prompt_too_long",
            other.to_string(),
        ),
        InstallError::Io { .. } => {
            tracing::error!(prompt = %key, error = %e, "cannot store an uploaded prompt");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage_error",
                "the prompt could not be stored (see the daemon's log); the old prompt stays",
            )
        }
    }
}
