//! Counters for the SIP layer, read by /metrics. The SIP layer records
//! through one [`SipStats`] handle, held by the endpoint and its
//! transaction tables, so that every recording call is a method on it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Datagrams or stream messages that could not be parsed, or had no Via.
pub static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Digits received as SIP INFO.
pub static DTMF_INFO: AtomicU64 = AtomicU64::new(0);

type Table = Mutex<Vec<(String, u64)>>;

static REQUESTS_IN: Table = Mutex::new(Vec::new());
static REQUESTS_OUT: Table = Mutex::new(Vec::new());
static RESPONSES_IN: Table = Mutex::new(Vec::new());
static RESPONSES_OUT: Table = Mutex::new(Vec::new());

fn bump(table: &Table, key: &str) {
    if let Ok(mut t) = table.lock() {
        if let Some((_, n)) = t.iter_mut().find(|(k, _)| k == key) {
            *n += 1;
        } else if t.len() < 64 {
            // Bounded, so a flood of odd status codes cannot grow it.
            t.push((key.to_string(), 1));
        }
    }
}

fn known_method(m: &str) -> &str {
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

pub fn count_request(method: &str) {
    bump(&REQUESTS_IN, known_method(method));
}

pub fn count_request_out(method: &str) {
    bump(&REQUESTS_OUT, known_method(method));
}

pub fn count_response_in(code: u16) {
    bump(&RESPONSES_IN, &code.to_string());
}

pub fn count_response_out(code: u16) {
    bump(&RESPONSES_OUT, &code.to_string());
}

/// What the SIP layer records.
#[derive(Clone, Copy, Debug, Default)]
pub struct SipStats;

impl SipStats {
    pub fn request_in(&self, method: &str) {
        count_request(method);
    }

    pub fn request_out(&self, method: &str) {
        count_request_out(method);
    }

    pub fn response_in(&self, code: u16) {
        count_response_in(code);
    }

    pub fn response_out(&self, code: u16) {
        count_response_out(code);
    }

    /// A message that could not be parsed or had no usable Via.
    pub fn dropped(&self) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }

    /// A key received as SIP INFO.
    pub fn info_digit(&self) {
        DTMF_INFO.fetch_add(1, Ordering::Relaxed);
    }
}

/// Snapshot for metrics: (direction, kind, key, count).
pub fn snapshot() -> Vec<(&'static str, &'static str, String, u64)> {
    let mut out = Vec::new();
    for (dir, kind, table) in [
        ("in", "request", &REQUESTS_IN),
        ("out", "request", &REQUESTS_OUT),
        ("in", "response", &RESPONSES_IN),
        ("out", "response", &RESPONSES_OUT),
    ] {
        if let Ok(t) = table.lock() {
            out.extend(t.iter().map(|(k, n)| (dir, kind, k.clone(), *n)));
        }
    }
    out.push((
        "in",
        "dropped",
        String::new(),
        DROPPED.load(Ordering::Relaxed),
    ));
    out
}
