//! GET /metrics: the registry every layer records into (see
//! `crate::metrics`), written by prometheus-client as OpenMetrics text for
//! scrapers that ask for it (Prometheus does), else in the Prometheus text
//! format 0.0.4 that /metrics has always served.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::response::IntoResponse;

use super::state::ApiState;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT_0_0_4: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The Prometheus text format 0.0.4 of an OpenMetrics text: a counter's
/// HELP and TYPE lines name its samples (`x_total`), bucket bounds read as
/// before (`le="1"`, not `le="1.0"`), and the UNIT and EOF lines go.
fn text_0_0_4(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if let Some(h) = line.strip_prefix("# HELP ") {
            help = Some(h);
        } else if let Some(t) = line.strip_prefix("# TYPE ") {
            let (name, kind) = t.split_once(' ').unwrap_or((t, "unknown"));
            let name = match kind {
                "counter" => format!("{name}_total"),
                _ => name.to_string(),
            };
            if let Some((_, text)) = help.take().and_then(|h| h.split_once(' ')) {
                let _ = writeln!(out, "# HELP {name} {text}");
            }
            let _ = writeln!(out, "# TYPE {name} {kind}");
        } else if !line.starts_with('#') {
            let _ = writeln!(out, "{}", plain_bound(line));
        }
    }
    out
}

/// A bucket's `le="1.0"` as `le="1"`; other lines as they are.
fn plain_bound(line: &str) -> std::borrow::Cow<'_, str> {
    let Some(start) = line.find("le=\"").map(|i| i + 4) else {
        return line.into();
    };
    let Some(len) = line[start..].find('"') else {
        return line.into();
    };
    match line[start..start + len].parse::<f64>() {
        Ok(le) if le.is_finite() => {
            format!("{}{le}{}", &line[..start], &line[start + len..]).into()
        }
        _ => line.into(),
    }
}

/// Prometheus metrics.
#[utoipa::path(
    get,
    operation_id = "metrics",
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4; OpenMetrics 1.0 (application/openmetrics-text) when the Accept header asks for it", content_type = "text/plain", body = String),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, description = "No or unknown token (when metrics = \"read\")", body = super::error::ErrorJson),
        (status = 403, description = "Not allowed", body = super::error::ErrorJson),
        (status = 404, description = "Metrics turned off", body = super::error::ErrorJson),
    ),
    security((), ("bearer" = []))
)]
pub async fn metrics(State(state): State<ApiState>, headers: HeaderMap) -> impl IntoResponse {
    let text = crate::metrics::encode(&state.metrics_registry);
    let wants_openmetrics = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    match wants_openmetrics {
        true => ([(CONTENT_TYPE, OPENMETRICS)], text),
        false => ([(CONTENT_TYPE, TEXT_0_0_4)], text_0_0_4(&text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_buckets_and_the_end_as_in_format_0_0_4() {
        let om = "# HELP x_calls Calls.\n# TYPE x_calls counter\nx_calls_total{a=\"b\"} 2\n\
                  # HELP x_s Time.\n# TYPE x_s histogram\n# UNIT x_s seconds\n\
                  x_s_sum 0.5\nx_s_bucket{le=\"1.0\"} 1\nx_s_bucket{le=\"+Inf\"} 1\n# EOF\n";
        assert_eq!(
            text_0_0_4(om),
            "# HELP x_calls_total Calls.\n# TYPE x_calls_total counter\nx_calls_total{a=\"b\"} 2\n\
             # HELP x_s Time.\n# TYPE x_s histogram\n\
             x_s_sum 0.5\nx_s_bucket{le=\"1\"} 1\nx_s_bucket{le=\"+Inf\"} 1\n"
        );
    }
}
