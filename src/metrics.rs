//! What the daemon counts, for /metrics: one prometheus-client registry,
//! built in main, and a handle per layer that records into it (call path,
//! SIP, media, journal, webhooks, store). The layers never read metrics
//! back; the API only encodes the registry. Names, labels and help texts
//! are the ones the README documents; prometheus-client adds `_total` to
//! counters and a full stop to help texts.
//!
//! Every label set is bounded: outcomes, results and directions are fixed,
//! SIP methods outside a known list count as "other", response codes are
//! three digits, and survey names come from the configuration.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::model::{CallOutcome, ScaleKind};

/// Upper bounds of the latency buckets, in seconds: fine enough below
/// 20 ms to read a p99 from.
pub const BUCKETS: [f64; 24] = [
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05,
    0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0,
];

/// A latency histogram over [`BUCKETS`].
#[derive(Clone, Debug)]
pub struct Latency(Histogram);

impl Default for Latency {
    fn default() -> Self {
        Latency(Histogram::new(BUCKETS))
    }
}

impl Latency {
    pub fn observe(&self, d: Duration) {
        self.0.observe(d.as_secs_f64());
    }
}

/// A counter family whose label sets are created up front, so that each
/// is shown (at 0) before anything happened.
fn fixed<S>(sets: &[S]) -> Family<S, Counter>
where
    S: Clone + std::hash::Hash + Eq,
{
    let family = Family::default();
    for s in sets {
        family.get_or_create_owned(s);
    }
    family
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RatingLabel {
    rating: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    survey: String,
    kind: &'static str,
    score: u8,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    direction: &'static str,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResponseLabels {
    direction: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

const OUTCOMES: [CallOutcome; 5] = [
    CallOutcome::Rated,
    CallOutcome::NoInput,
    CallOutcome::HungUp,
    CallOutcome::Failed,
    CallOutcome::MediaTimeout,
];

/// What the call path records: calls, their outcomes and answers, comments,
/// and how long a rating takes from the key to the commit.
#[derive(Clone, Debug)]
pub struct CallMetrics {
    active: Gauge,
    calls: Family<Outcome, Counter>,
    ratings: Family<RatingLabel, Counter>,
    answers: Family<AnswerLabels, Counter>,
    comments: Family<ResultLabel, Counter>,
    keypress_commit: Latency,
}

impl Default for CallMetrics {
    fn default() -> Self {
        CallMetrics {
            active: Gauge::default(),
            calls: fixed(&OUTCOMES.map(|o| Outcome {
                outcome: o.as_str(),
            })),
            ratings: fixed(&["happy", "sad"].map(|rating| RatingLabel { rating })),
            answers: Family::default(),
            comments: fixed(&["stored", "dropped"].map(|result| ResultLabel { result })),
            keypress_commit: Latency::default(),
        }
    }
}

/// Counts a call in progress until dropped.
#[derive(Debug)]
pub struct ActiveCall(Gauge);

impl Drop for ActiveCall {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl CallMetrics {
    pub fn call_started(&self) -> ActiveCall {
        self.active.inc();
        ActiveCall(self.active.clone())
    }

    pub fn call_ended(&self, outcome: CallOutcome) {
        self.calls
            .get_or_create(&Outcome {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// An answer committed (database or journal).
    pub fn answer(&self, survey: &str, kind: ScaleKind, score: u8) {
        let labels = AnswerLabels {
            survey: survey.to_owned(),
            kind: kind.as_str(),
            score,
        };
        self.answers.get_or_create(&labels).inc();
        if kind == ScaleKind::Smiley {
            let rating = if score == 1 { "happy" } else { "sad" };
            self.ratings.get_or_create(&RatingLabel { rating }).inc();
        }
    }

    /// A recorded comment, stored with its rating or dropped.
    pub fn comment(&self, stored: bool) {
        let result = if stored { "stored" } else { "dropped" };
        self.comments.get_or_create(&ResultLabel { result }).inc();
    }

    pub fn keypress_commit(&self, d: Duration) {
        self.keypress_commit.observe(d);
    }
}

/// What the SIP layer records.
#[derive(Clone, Debug, Default)]
pub struct SipMetrics {
    requests: Family<RequestLabels, Counter>,
    responses: Family<ResponseLabels, Counter>,
    dropped: Counter,
    /// `smileyd_dtmf_digits_total{source="info"}`.
    info_digits: Counter,
}

/// Methods counted by name; others are "other", so a peer cannot make up
/// label values.
fn known_method(m: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "INFO",
        "UPDATE",
        "PRACK",
        "REGISTER",
        "SUBSCRIBE",
        "NOTIFY",
        "REFER",
        "MESSAGE",
        "PUBLISH",
    ];
    KNOWN.iter().find(|k| **k == m).copied().unwrap_or("other")
}

impl SipMetrics {
    fn request(&self, direction: &'static str, method: &str) {
        let method = known_method(method);
        self.requests
            .get_or_create(&RequestLabels { direction, method })
            .inc();
    }

    fn response(&self, direction: &'static str, code: u16) {
        // RFC 3261 §7.2: three digits; anything else is not counted by code.
        if (100..=699).contains(&code) {
            self.responses
                .get_or_create(&ResponseLabels { direction, code })
                .inc();
        }
    }

    pub fn request_in(&self, method: &str) {
        self.request("in", method);
    }

    pub fn request_out(&self, method: &str) {
        self.request("out", method);
    }

    pub fn response_in(&self, code: u16) {
        self.response("in", code);
    }

    pub fn response_out(&self, code: u16) {
        self.response("out", code);
    }

    /// A message that could not be parsed or had no usable Via.
    pub fn dropped(&self) {
        self.dropped.inc();
    }

    /// A key received as SIP INFO.
    pub fn info_digit(&self) {
        self.info_digits.inc();
    }
}

/// What the media tasks record, summed over all calls.
#[derive(Clone, Debug, Default)]
pub struct MediaMetrics {
    pub rtp_in: Counter,
    pub rtp_out: Counter,
    /// Not RTP, an unexpected payload type, or from the wrong source.
    pub rtp_ignored: Counter,
    /// `smileyd_dtmf_digits_total{source="rfc4733"}`.
    pub rfc4733_digits: Counter,
    /// `smileyd_dtmf_digits_total{source="inband"}`: key tones in callers' audio.
    pub inband_digits: Counter,
    pub media_timeouts: Counter,
    /// `smileyd_srtp_dropped_total{reason="auth"}`: SRTP or SRTCP that did
    /// not authenticate (RFC 3711 §3.3, §3.4).
    pub srtp_auth_dropped: Counter,
    /// `smileyd_srtp_dropped_total{reason="replay"}`: replayed (§3.3.2).
    pub srtp_replay_dropped: Counter,
}

/// Entries that went through the local journal.
#[derive(Clone, Debug, Default)]
pub struct JournalMetrics {
    pub journaled: Counter,
    pub replayed: Counter,
}

/// Webhook delivery attempts.
#[derive(Clone, Debug, Default)]
pub struct WebhookMetrics {
    pub delivered: Counter,
    pub failed: Counter,
}

/// The registry and every layer's handle into it.
#[derive(Clone, Debug)]
pub struct Metrics {
    pub registry: Arc<Registry>,
    pub call: CallMetrics,
    pub sip: SipMetrics,
    pub media: MediaMetrics,
    pub journal: JournalMetrics,
    pub webhooks: WebhookMetrics,
    /// Database write transactions, commit included.
    pub db_write: Latency,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric, registered in the order /metrics lists them. Where a
    /// layer holds one member of a labelled family (a direction, a source),
    /// it holds a clone of that member's counter.
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let call = CallMetrics::default();
        let sip = SipMetrics::default();
        let db_write = Latency::default();
        r.register(
            "smileyd_active_calls",
            "Calls in progress",
            call.active.clone(),
        );
        r.register(
            "smileyd_calls",
            "Finished survey calls by outcome",
            call.calls.clone(),
        );
        r.register(
            "smileyd_ratings",
            "Smiley ratings committed by value",
            call.ratings.clone(),
        );
        r.register(
            "smileyd_answers",
            "Answers committed, by survey, scale and score",
            call.answers.clone(),
        );
        r.register(
            "smileyd_comments",
            "Recorded comments: stored with their rating, or dropped (directory, disk, store)",
            call.comments.clone(),
        );
        r.register(
            "smileyd_sip_requests",
            "SIP requests by direction and method",
            sip.requests.clone(),
        );
        r.register(
            "smileyd_sip_responses",
            "SIP responses by direction and status code",
            sip.responses.clone(),
        );
        r.register(
            "smileyd_sip_dropped",
            "SIP messages that could not be parsed",
            sip.dropped.clone(),
        );
        let rtp = Family::<DirectionLabel, Counter>::default();
        let direction = |direction| rtp.get_or_create_owned(&DirectionLabel { direction });
        let dtmf = Family::<SourceLabel, Counter>::default();
        let media = MediaMetrics {
            rtp_in: direction("in"),
            rtp_out: direction("out"),
            rtp_ignored: direction("ignored"),
            rfc4733_digits: dtmf.get_or_create_owned(&SourceLabel { source: "rfc4733" }),
            inband_digits: Counter::default(),
            media_timeouts: Counter::default(),
            srtp_auth_dropped: Counter::default(),
            srtp_replay_dropped: Counter::default(),
        };
        let sip = SipMetrics {
            info_digits: dtmf.get_or_create_owned(&SourceLabel { source: "info" }),
            ..sip
        };
        let media = MediaMetrics {
            inband_digits: dtmf.get_or_create_owned(&SourceLabel { source: "inband" }),
            ..media
        };
        r.register(
            "smileyd_rtp_packets",
            "RTP packets by direction (ignored: not ours or malformed)",
            rtp,
        );
        let srtp = Family::<ReasonLabel, Counter>::default();
        let reason = |reason| srtp.get_or_create_owned(&ReasonLabel { reason });
        let media = MediaMetrics {
            srtp_auth_dropped: reason("auth"),
            srtp_replay_dropped: reason("replay"),
            ..media
        };
        r.register(
            "smileyd_srtp_dropped",
            "SRTP and SRTCP packets dropped: not authentic (auth) or seen before (replay)",
            srtp,
        );
        r.register(
            "smileyd_media_timeouts",
            "Calls ended because the caller's RTP stopped",
            media.media_timeouts.clone(),
        );
        r.register(
            "smileyd_dtmf_digits",
            "DTMF digits received by how they came",
            dtmf,
        );
        let entries = Family::<StateLabel, Counter>::default();
        let journal = JournalMetrics {
            journaled: entries.get_or_create_owned(&StateLabel { state: "journaled" }),
            replayed: entries.get_or_create_owned(&StateLabel { state: "replayed" }),
        };
        r.register(
            "smileyd_journal_entries",
            "Entries by what happened: journaled while the database was away, replayed into it",
            entries,
        );
        let attempts = Family::<ResultLabel, Counter>::default();
        let webhooks = WebhookMetrics {
            delivered: attempts.get_or_create_owned(&ResultLabel {
                result: "delivered",
            }),
            failed: attempts.get_or_create_owned(&ResultLabel { result: "failed" }),
        };
        r.register(
            "smileyd_webhook_attempts",
            "Webhook delivery attempts by result",
            attempts,
        );
        r.register_with_unit(
            "smileyd_db_write",
            "Database write transactions (rating, comment, call), commit included",
            Unit::Seconds,
            db_write.0.clone(),
        );
        r.register_with_unit(
            "smileyd_keypress_commit",
            "From the call task receiving the caller's key to the rating being committed",
            Unit::Seconds,
            call.keypress_commit.0.clone(),
        );
        Metrics {
            registry: Arc::new(r),
            call,
            sip,
            media,
            journal,
            webhooks,
            db_write,
        }
    }
}

/// The OpenMetrics text of every metric in `registry`.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing to a String does not fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_layers_record_is_what_the_registry_shows() {
        let m = Metrics::new();
        m.media.rtp_in.inc();
        m.sip.info_digit();
        m.sip.request_in("FOO");
        m.sip.response_in(42);
        m.journal.replayed.inc_by(3);
        m.call.answer("nps", ScaleKind::Nps, 10);
        m.call.answer("quick", ScaleKind::Smiley, 1);
        {
            let _call = m.call.call_started();
            assert!(encode(&m.registry).contains("smileyd_active_calls 1\n"));
        }
        let text = encode(&m.registry);
        for line in [
            "smileyd_active_calls 0\n",
            "smileyd_rtp_packets_total{direction=\"in\"} 1\n",
            "smileyd_rtp_packets_total{direction=\"out\"} 0\n",
            "smileyd_dtmf_digits_total{source=\"info\"} 1\n",
            "smileyd_sip_requests_total{direction=\"in\",method=\"other\"} 1\n",
            "smileyd_journal_entries_total{state=\"replayed\"} 3\n",
            "smileyd_answers_total{survey=\"nps\",kind=\"nps\",score=\"10\"} 1\n",
            "smileyd_ratings_total{rating=\"happy\"} 1\n",
            "smileyd_calls_total{outcome=\"media_timeout\"} 0\n",
            "# TYPE smileyd_db_write_seconds histogram\n",
            "smileyd_db_write_seconds_bucket{le=\"0.0005\"} 0\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        // A response code that is not three digits makes no label.
        assert!(!text.contains("code=\"42\""), "{text}");
    }
}
