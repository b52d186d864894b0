//! GET /metrics: Prometheus text exposition (format 0.0.4) of the counters
//! the call path, SIP, media and store keep in atomics.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::dispatch;
use crate::call::{answers_snapshot, ACTIVE_CALLS, OUTCOMES};
use crate::journal::{JOURNALED, REPLAYED};
use crate::media::stats as media;
use crate::sip::stats as sip;
use crate::survey::ScaleKind;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A family whose label sets are fixed: `("", v)` is the unlabelled sample.
fn fixed<T: std::fmt::Display>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: &[(&str, T)],
) {
    family(out, name, kind, help);
    for (labels, v) in samples {
        let _ = match labels.is_empty() {
            true => writeln!(out, "{name} {v}"),
            false => writeln!(out, "{name}{{{labels}}} {v}"),
        };
    }
}

/// Label values are ours or bounded SIP tokens; escape anyway.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn render() -> String {
    let mut out = String::new();
    let o = &mut out;
    fixed(
        o,
        "smileyd_active_calls",
        "gauge",
        "Calls in progress.",
        &[("", ACTIVE_CALLS.load(Relaxed))],
    );
    let outcomes = ["rated", "no_input", "hung_up", "failed", "media_timeout"]
        .map(|outcome| format!("outcome=\"{outcome}\""));
    let outcomes: Vec<(&str, u64)> = outcomes
        .iter()
        .zip(&OUTCOMES)
        .map(|(labels, n)| (labels.as_str(), n.load(Relaxed)))
        .collect();
    fixed(
        o,
        "smileyd_calls_total",
        "counter",
        "Finished survey calls by outcome.",
        &outcomes,
    );
    let answers = answers_snapshot();
    // The smiley answers of every survey, by value.
    let smiley = |happy: bool| -> u64 {
        answers
            .iter()
            .filter(|(_, kind, score, _)| {
                *kind == ScaleKind::Smiley.as_str() && (*score == 1) == happy
            })
            .map(|(.., n)| n)
            .sum()
    };
    fixed(
        o,
        "smileyd_ratings_total",
        "counter",
        "Smiley ratings committed by value.",
        &[
            ("rating=\"happy\"", smiley(true)),
            ("rating=\"sad\"", smiley(false)),
        ],
    );

    family(
        o,
        "smileyd_answers_total",
        "counter",
        "Answers committed, by survey, scale and score.",
    );
    for (survey, kind, score, n) in answers {
        let _ = writeln!(
            o,
            "smileyd_answers_total{{survey=\"{}\",kind=\"{kind}\",score=\"{score}\"}} {n}",
            esc(&survey)
        );
    }

    fixed(
        o,
        "smileyd_comments_total",
        "counter",
        "Recorded comments: stored with their rating, or dropped (directory, disk, store).",
        &[
            ("result=\"stored\"", media::COMMENTS_STORED.load(Relaxed)),
            ("result=\"dropped\"", media::COMMENTS_DROPPED.load(Relaxed)),
        ],
    );

    let snap = sip::snapshot();
    for (what, name, help, label) in [
        (
            "request",
            "smileyd_sip_requests_total",
            "SIP requests by direction and method.",
            "method",
        ),
        (
            "response",
            "smileyd_sip_responses_total",
            "SIP responses by direction and status code.",
            "code",
        ),
    ] {
        family(o, name, "counter", help);
        for (dir, _, key, n) in snap.iter().filter(|s| s.1 == what) {
            let _ = writeln!(
                o,
                "{name}{{direction=\"{dir}\",{label}=\"{}\"}} {n}",
                esc(key)
            );
        }
    }
    fixed(
        o,
        "smileyd_sip_dropped_total",
        "counter",
        "SIP messages that could not be parsed.",
        &[("", sip::DROPPED.load(Relaxed))],
    );

    fixed(
        o,
        "smileyd_rtp_packets_total",
        "counter",
        "RTP packets by direction (ignored: not ours or malformed).",
        &[
            ("direction=\"in\"", media::RTP_PACKETS_IN.load(Relaxed)),
            ("direction=\"out\"", media::RTP_PACKETS_OUT.load(Relaxed)),
            (
                "direction=\"ignored\"",
                media::RTP_PACKETS_IGNORED.load(Relaxed),
            ),
        ],
    );
    fixed(
        o,
        "smileyd_media_timeouts_total",
        "counter",
        "Calls ended because the caller's RTP stopped.",
        &[("", media::MEDIA_TIMEOUTS.load(Relaxed))],
    );
    fixed(
        o,
        "smileyd_dtmf_digits_total",
        "counter",
        "DTMF digits received by how they came.",
        &[
            ("source=\"rfc4733\"", media::DTMF_DIGITS.load(Relaxed)),
            ("source=\"info\"", sip::DTMF_INFO.load(Relaxed)),
            ("source=\"inband\"", media::DTMF_INBAND.load(Relaxed)),
        ],
    );
    fixed(
        o,
        "smileyd_journal_entries_total",
        "counter",
        "Entries by what happened: journaled while the database was away, replayed into it.",
        &[
            ("state=\"journaled\"", JOURNALED.load(Relaxed)),
            ("state=\"replayed\"", REPLAYED.load(Relaxed)),
        ],
    );
    fixed(
        o,
        "smileyd_webhook_attempts_total",
        "counter",
        "Webhook delivery attempts by result.",
        &[
            ("result=\"delivered\"", dispatch::DELIVERED.load(Relaxed)),
            ("result=\"failed\"", dispatch::FAILED_ATTEMPTS.load(Relaxed)),
        ],
    );

    crate::metrics_hist::DB_WRITE.render(
        o,
        "smileyd_db_write_seconds",
        "Database write transactions (rating, comment, call), commit included.",
    );
    crate::metrics_hist::KEYPRESS_COMMIT.render(
        o,
        "smileyd_keypress_commit_seconds",
        "From the call task receiving the caller's key to the rating being committed.",
    );
    out
}

/// Prometheus metrics.
#[utoipa::path(
    get,
    operation_id = "metrics",
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, description = "No or unknown token (when metrics = \"read\")", body = super::error::ErrorJson),
        (status = 403, description = "Not allowed", body = super::error::ErrorJson),
        (status = 404, description = "Metrics turned off", body = super::error::ErrorJson),
    ),
    security((), ("bearer" = []))
)]
pub async fn metrics() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        render(),
    )
}
