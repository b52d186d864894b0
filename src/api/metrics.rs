//! GET /metrics: Prometheus text exposition (format 0.0.4) of the counters
//! the call path, SIP, media and store keep in atomics.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::dispatch;
use crate::call::{answers_snapshot, ACTIVE_CALLS, OUTCOMES, RATINGS_HAPPY, RATINGS_SAD};
use crate::journal::{JOURNALED, REPLAYED};
use crate::media::stats as media;
use crate::sip::stats as sip;
use crate::store::write_latency;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Label values are ours or bounded SIP tokens; escape anyway.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn render() -> String {
    let mut o = String::new();
    family(
        &mut o,
        "smileyd_active_calls",
        "gauge",
        "Calls in progress.",
    );
    let _ = writeln!(o, "smileyd_active_calls {}", ACTIVE_CALLS.load(Relaxed));

    family(
        &mut o,
        "smileyd_calls_total",
        "counter",
        "Finished survey calls by outcome.",
    );
    for (i, outcome) in ["rated", "no_input", "hung_up", "failed"]
        .iter()
        .enumerate()
    {
        let _ = writeln!(
            o,
            "smileyd_calls_total{{outcome=\"{outcome}\"}} {}",
            OUTCOMES[i].load(Relaxed)
        );
    }

    family(
        &mut o,
        "smileyd_ratings_total",
        "counter",
        "Smiley ratings committed by value.",
    );
    let _ = writeln!(
        o,
        "smileyd_ratings_total{{rating=\"happy\"}} {}",
        RATINGS_HAPPY.load(Relaxed)
    );
    let _ = writeln!(
        o,
        "smileyd_ratings_total{{rating=\"sad\"}} {}",
        RATINGS_SAD.load(Relaxed)
    );

    family(
        &mut o,
        "smileyd_answers_total",
        "counter",
        "Answers committed, by survey, scale and score.",
    );
    for (survey, kind, score, n) in answers_snapshot() {
        let _ = writeln!(
            o,
            "smileyd_answers_total{{survey=\"{}\",kind=\"{kind}\",score=\"{score}\"}} {n}",
            esc(&survey)
        );
    }

    family(
        &mut o,
        "smileyd_comments_total",
        "counter",
        "Recorded comments: stored with their rating, or dropped (directory, disk, store).",
    );
    let _ = writeln!(
        o,
        "smileyd_comments_total{{result=\"stored\"}} {}",
        media::COMMENTS_STORED.load(Relaxed)
    );
    let _ = writeln!(
        o,
        "smileyd_comments_total{{result=\"dropped\"}} {}",
        media::COMMENTS_DROPPED.load(Relaxed)
    );

    let snap = sip::snapshot();
    family(
        &mut o,
        "smileyd_sip_requests_total",
        "counter",
        "SIP requests by direction and method.",
    );
    for (dir, kind, key, n) in snap.iter().filter(|s| s.1 == "request") {
        let _ = kind;
        let _ = writeln!(
            o,
            "smileyd_sip_requests_total{{direction=\"{dir}\",method=\"{}\"}} {n}",
            esc(key)
        );
    }
    family(
        &mut o,
        "smileyd_sip_responses_total",
        "counter",
        "SIP responses by direction and status code.",
    );
    for (dir, _, key, n) in snap.iter().filter(|s| s.1 == "response") {
        let _ = writeln!(
            o,
            "smileyd_sip_responses_total{{direction=\"{dir}\",code=\"{}\"}} {n}",
            esc(key)
        );
    }
    family(
        &mut o,
        "smileyd_sip_dropped_total",
        "counter",
        "SIP messages that could not be parsed.",
    );
    let _ = writeln!(
        o,
        "smileyd_sip_dropped_total {}",
        sip::DROPPED.load(Relaxed)
    );

    family(
        &mut o,
        "smileyd_rtp_packets_total",
        "counter",
        "RTP packets by direction (ignored: not ours or malformed).",
    );
    let _ = writeln!(
        o,
        "smileyd_rtp_packets_total{{direction=\"in\"}} {}",
        media::RTP_PACKETS_IN.load(Relaxed)
    );
    let _ = writeln!(
        o,
        "smileyd_rtp_packets_total{{direction=\"out\"}} {}",
        media::RTP_PACKETS_OUT.load(Relaxed)
    );
    let _ = writeln!(
        o,
        "smileyd_rtp_packets_total{{direction=\"ignored\"}} {}",
        media::RTP_PACKETS_IGNORED.load(Relaxed)
    );
    family(
        &mut o,
        "smileyd_media_timeouts_total",
        "counter",
        "Calls ended because the caller's RTP stopped.",
    );
    let _ = writeln!(
        o,
        "smileyd_media_timeouts_total {}",
        media::MEDIA_TIMEOUTS.load(Relaxed)
    );

    family(
        &mut o,
        "smileyd_dtmf_digits_total",
        "counter",
        "DTMF digits received by how they came.",
    );
    let _ = writeln!(
        o,
        "smileyd_dtmf_digits_total{{source=\"rfc4733\"}} {}",
        media::DTMF_DIGITS.load(Relaxed)
    );
    let _ = writeln!(
        o,
        "smileyd_dtmf_digits_total{{source=\"info\"}} {}",
        sip::DTMF_INFO.load(Relaxed)
    );

    family(
        &mut o,
        "smileyd_journal_entries_total",
        "counter",
        "Entries by what happened: journaled while the database was away, replayed into it.",
    );
    let _ = writeln!(
        o,
        "smileyd_journal_entries_total{{state=\"journaled\"}} {}",
        JOURNALED.load(Relaxed)
    );
    let _ = writeln!(
        o,
        "smileyd_journal_entries_total{{state=\"replayed\"}} {}",
        REPLAYED.load(Relaxed)
    );

    family(
        &mut o,
        "smileyd_webhook_attempts_total",
        "counter",
        "Webhook delivery attempts by result.",
    );
    let _ = writeln!(
        o,
        "smileyd_webhook_attempts_total{{result=\"delivered\"}} {}",
        dispatch::DELIVERED.load(Relaxed)
    );
    let _ = writeln!(
        o,
        "smileyd_webhook_attempts_total{{result=\"failed\"}} {}",
        dispatch::FAILED_ATTEMPTS.load(Relaxed)
    );

    let (buckets, count, sum) = write_latency::snapshot();
    family(
        &mut o,
        "smileyd_db_write_seconds",
        "histogram",
        "Database write transactions (rating, comment, call), commit included.",
    );
    for (le, n) in write_latency::BUCKETS.iter().zip(buckets) {
        let _ = writeln!(o, "smileyd_db_write_seconds_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(o, "smileyd_db_write_seconds_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(o, "smileyd_db_write_seconds_sum {sum}");
    let _ = writeln!(o, "smileyd_db_write_seconds_count {count}");
    crate::metrics_hist::KEYPRESS_COMMIT.render(
        &mut o,
        "smileyd_keypress_commit_seconds",
        "From the call task receiving the caller's key to the rating being committed.",
    );
    o
}

/// Prometheus metrics.
#[utoipa::path(
    get,
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
