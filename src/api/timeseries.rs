//! GET /api/v1/timeseries: one survey's figures per hour, day or week in a
//! time zone. Bucket boundaries come from the zone (`buckets`); the database
//! counts all buckets in one statement.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::buckets::{self, Bucket};
use super::counts::FiguresJson;
use super::error::{ApiError, ErrorJson};
use super::etag::Tag;
use super::export::{figure_cells, figure_columns, vary, Cell, Format, Table};
use super::params::Params;
use super::schema::ScaleKindName;
use super::state::ApiState;
use super::survey::choose;
use crate::survey::ScaleKind;

/// Most buckets one request may ask for.
pub const MAX_BUCKETS: usize = 10_000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointJson {
    /// Bucket start, RFC 3339 with the zone's offset at that instant.
    #[schema(format = "date-time")]
    pub start: String,
    /// Bucket end (excluded).
    #[schema(format = "date-time")]
    pub end: String,
    #[serde(flatten)]
    pub figures: FiguresJson,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimeseriesJson {
    /// The survey counted: `survey` as configured, else the default survey.
    pub survey: String,
    #[schema(value_type = ScaleKindName)]
    pub kind: ScaleKind,
    pub bucket: Bucket,
    /// The IANA zone the buckets follow.
    pub tz: String,
    pub items: Vec<PointJson>,
}

fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// One survey's figures per bucket.
#[utoipa::path(
    get,
    operation_id = "get_timeseries",
    path = "/api/v1/timeseries",
    tag = "figures",
    params(
        ("survey" = Option<String>, Query, description = "The survey (default: the configured default_survey)"),
        ("bucket" = Option<Bucket>, Query, description = "hour, day (default) or week (from Monday)"),
        ("tz" = Option<String>, Query, description = "IANA time zone, e.g. Europe/Berlin (default UTC); days start at local midnight"),
        ("agent" = Option<String>, Query, description = "Only this agent"),
        ("queue" = Option<String>, Query, description = "Only this queue"),
        ("from" = Option<String>, Query, format = DateTime, description = "Window start (default: 24 hours, 30 days or 12 weeks back); the first bucket is the one containing it"),
        ("to" = Option<String>, Query, format = DateTime, description = "Window end, excluded (default: the end of the current bucket)"),
        ("format" = Option<String>, Query, pattern = "^(json|csv)$", description = "csv: the same buckets as text/csv (also with Accept: text/csv); default json"),
    ),
    responses(
        (status = 200, description = "One item per bucket, oldest first, empty buckets included; as CSV: survey, kind, bucket, tz, start, end, total, the scale's figures, answers_<score> per score",
            content((TimeseriesJson = "application/json"), (String = "text/csv"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, description = "Bad parameter (also: more than 10000 buckets)", body = ErrorJson),
        (status = 401, description = "No or unknown token", body = ErrorJson),
        (status = 403, description = "Not allowed", body = ErrorJson),
        (status = 404, description = "No survey of this name was configured or answered", body = ErrorJson),
        (status = 503, description = "Store unavailable", body = ErrorJson),
    ),
    security(("bearer" = []))
)]
pub async fn timeseries(
    State(state): State<ApiState>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let params = params.only(&[
        "survey", "bucket", "tz", "agent", "queue", "from", "to", "format",
    ])?;
    let format = Format::of(&headers, params)?;
    let filter = params.filter()?;
    let bucket = match params.get("bucket") {
        None => Bucket::Day,
        Some(b) => Bucket::parse(b)
            .ok_or_else(|| ApiError::invalid("bucket", "must be 'hour', 'day' or 'week'"))?,
    };
    let tz_name = params.get("tz").unwrap_or("UTC");
    let tz: Tz = tz_name
        .parse()
        .map_err(|_| ApiError::invalid("tz", "not an IANA time zone name (e.g. Europe/Berlin)"))?;
    let now = Utc::now();
    let to = match filter.to {
        Some(t) => t,
        None => {
            let current = buckets::floor(tz, bucket, now);
            buckets::next(tz, bucket, current)
        }
    };
    let from = match filter.from {
        Some(f) => f,
        None => {
            let mut f = to;
            for _ in 0..bucket.default_count() {
                f = buckets::floor(tz, bucket, f - chrono::Duration::seconds(1));
            }
            f
        }
    };
    let bounds = buckets::boundaries(tz, bucket, from, to, MAX_BUCKETS).ok_or_else(|| {
        ApiError::invalid(
            "from",
            format!(
                "the window has more than {MAX_BUCKETS} buckets; narrow it or use a wider bucket"
            ),
        )
    })?;
    let chosen = choose(&state, params).await?;
    let mut filter = chosen.narrow(filter);
    // The tag names the resolved window and survey, so defaults that follow
    // the clock or the configuration still revalidate correctly.
    let key = format!(
        "timeseries\n{}\n{}\n{bucket:?}\n{tz_name}\n{:?}\n{:?}\n{}\n{}",
        format.key(),
        chosen.key(),
        filter.agent,
        filter.queue,
        from.timestamp_millis(),
        to.timestamp_millis()
    );
    let tag = Tag::versioned(&state, &key).await?;
    if tag.matches(&headers) {
        return Ok(tag.not_modified());
    }
    let counts = if to <= from {
        // An empty window has no buckets.
        Vec::new()
    } else {
        // Edge buckets are clipped to the window, so the sum over the items
        // is the window's figure.
        let mut edges: Vec<i64> = bounds.iter().map(|b| b.timestamp_millis()).collect();
        let last = edges.len() - 1;
        edges[0] = from.timestamp_millis();
        edges[last] = edges[last].min(to.timestamp_millis()).max(edges[0]);
        filter.from = None;
        filter.to = None;
        let counts = state
            .store_call(state.store.timeseries(&filter, &edges))
            .await?;
        counts
            .into_iter()
            .zip(edges.windows(2).map(|w| (w[0], w[1])))
            .collect()
    };
    let items: Vec<PointJson> = counts
        .into_iter()
        .map(|(c, (start, end))| PointJson {
            start: local(DateTime::from_timestamp_millis(start).unwrap_or(from), tz),
            end: local(DateTime::from_timestamp_millis(end).unwrap_or(to), tz),
            figures: FiguresJson::of(chosen.kind, c),
        })
        .collect();
    if format == Format::Csv {
        let mut csv = Table::new(
            ["survey", "kind", "bucket", "tz", "start", "end"]
                .into_iter()
                .map(str::to_owned)
                .chain(figure_columns(chosen.kind))
                .collect(),
        );
        for p in &items {
            let mut row = vec![
                Cell::text(chosen.name.as_str()),
                Cell::text(chosen.kind.as_str()),
                Cell::text(bucket.as_str()),
                Cell::text(tz_name),
                Cell::text(p.start.as_str()),
                Cell::text(p.end.as_str()),
            ];
            row.extend(figure_cells(chosen.kind, &p.figures));
            csv.push(row);
        }
        let name = format!("timeseries-{}-{}", chosen.name, bucket.as_str());
        return Ok(vary(tag.attach(csv.response(&name))));
    }
    Ok(vary(tag.attach(Json(TimeseriesJson {
        survey: chosen.name,
        kind: chosen.kind,
        bucket,
        tz: tz_name.to_owned(),
        items,
    }))))
}
