//! RFC 4028 session timers, as the UAS.
//!
//! An INVITE, re-INVITE or UPDATE with Session-Expires below our Min-SE
//! (`sip.min_se_secs`) gets 422 naming it (§8.1). Otherwise the interval is
//! taken as asked and the refresher as §9 says: the one the request names,
//! else the caller when it supports `timer`, else us. The 2xx carries
//! Session-Expires with the refresher (and `Require: timer` when the caller
//! refreshes). From each 2xx the session clock runs again:
//!
//! - the caller refreshes: with no refresh by the interval minus
//!   min(32 s, interval/3) (§10), the call task is told the session expired
//!   and ends the call with BYE;
//! - we refresh: an UPDATE at half the interval (§10); its 2xx restarts the
//!   clock, anything else leaves the session to expire as above.
//!
//! A request without Session-Expires turns the timer off (§9: we add none).

use std::time::Duration;

use tokio::time::Instant;

use super::build;
use super::dialog::{CallEvent, DialogKey};
use super::endpoint::Endpoint;
use super::message::{param, Message};

/// RFC 4028 §4: the smallest Min-SE a UA may use, our default.
pub const RFC_MIN_SE_SECS: u32 = 90;
/// §10: the BYE goes this long before the end of the interval at most.
const EXPIRY_MARGIN_MAX: Duration = Duration::from_secs(32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

impl Refresher {
    fn token(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

/// The session timer of a dialog, as agreed in our last 2xx.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimer {
    pub interval_secs: u32,
    pub refresher: Refresher,
}

/// What a request's Session-Expires leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum Negotiated {
    /// No Session-Expires: no timer.
    Off,
    /// §8.1: 422 with this Min-SE.
    TooSmall(u32),
    On(SessionTimer),
}

impl SessionTimer {
    fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs.into())
    }

    /// §10: when the side that does not refresh gives up, from the 2xx.
    pub fn expires_after(&self) -> Duration {
        let i = self.interval();
        i - EXPIRY_MARGIN_MAX.min(i / 3)
    }

    /// The headers of our 2xx (§9).
    pub fn response_headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![(
            "Session-Expires",
            format!(
                "{};refresher={}",
                self.interval_secs,
                self.refresher.token()
            ),
        )];
        if self.refresher == Refresher::Uac {
            h.push(("Require", "timer".to_string()));
        }
        h
    }
}

fn has_tag(msg: &Message, header: &str, tag: &str) -> bool {
    msg.header_values(header)
        .iter()
        .any(|t| t.eq_ignore_ascii_case(tag))
}

/// RFC 4028 §9, for a request that may carry Session-Expires.
pub fn negotiate(msg: &Message, min_se: u32) -> Negotiated {
    let Some(se) = msg.header("Session-Expires") else {
        return Negotiated::Off;
    };
    // §4: delta-seconds *(SEMI se-params); a value we cannot read is
    // treated as absent rather than failing the call.
    let Some(Ok(interval_secs)) = se.split(';').next().map(|d| d.trim().parse::<u32>()) else {
        return Negotiated::Off;
    };
    // §5: the request's own Min-SE, when larger, is a floor as well.
    let floor = msg
        .header("Min-SE")
        .and_then(|v| v.split(';').next()?.trim().parse::<u32>().ok())
        .map_or(min_se, |m| m.max(min_se));
    if interval_secs < floor {
        return Negotiated::TooSmall(floor);
    }
    let uac_supports = has_tag(msg, "Supported", "timer") || has_tag(msg, "Require", "timer");
    let asked = param(se, "refresher").map(str::to_ascii_lowercase);
    let refresher = match asked.as_deref() {
        _ if !uac_supports => Refresher::Uas,
        Some("uac") => Refresher::Uac,
        Some("uas") => Refresher::Uas,
        // §9: the UAS chooses; a caller that supports the timer refreshes.
        _ => Refresher::Uac,
    };
    Negotiated::On(SessionTimer {
        interval_secs,
        refresher,
    })
}

impl Endpoint {
    /// Starts (or restarts, after a refresh) the session clock of a
    /// dialog as its 2xx goes out; a dialog without a timer stops an
    /// earlier clock.
    pub(super) fn restart_session_clock(&self, dkey: &DialogKey) {
        let Some((timer, generation)) = self.inner.dialogs.with(dkey, |d| {
            d.session_generation += 1;
            (d.session, d.session_generation)
        }) else {
            return;
        };
        let Some(timer) = timer else { return };
        let me = self.clone();
        let dkey = dkey.clone();
        tokio::spawn(async move { me.session_clock(dkey, timer, generation).await });
    }

    /// Whether the clock of this generation is still the dialog's.
    fn clock_current(&self, dkey: &DialogKey, generation: u64) -> bool {
        self.inner
            .dialogs
            .with(dkey, |d| d.session_generation == generation)
            .unwrap_or(false)
    }

    async fn session_clock(&self, dkey: DialogKey, timer: SessionTimer, generation: u64) {
        let started = Instant::now();
        if timer.refresher == Refresher::Uas {
            tokio::time::sleep(timer.interval() / 2).await;
            if !self.clock_current(&dkey, generation) {
                return;
            }
            if let Some(200..=299) = self.refresh(&dkey, timer).await {
                return self.restart_session_clock(&dkey);
            }
        }
        tokio::time::sleep_until(started + timer.expires_after()).await;
        if !self.clock_current(&dkey, generation) {
            return;
        }
        let events = self.inner.dialogs.with(&dkey, |d| d.events.clone());
        if let Some(events) = events {
            tracing::info!(call_id = %dkey.call_id, interval = timer.interval_secs, "session expired without a refresh");
            let _ = events.send(CallEvent::SessionExpired).await;
        }
    }

    /// §7.4: our refresh, an UPDATE without a body, sent until answered.
    async fn refresh(&self, dkey: &DialogKey, timer: SessionTimer) -> Option<u16> {
        let branch = build::new_branch();
        let (flow, update) = self.inner.dialogs.with(dkey, |d| {
            d.local_cseq += 1;
            let extra = [
                (
                    "Session-Expires",
                    format!("{};refresher=uas", timer.interval_secs),
                ),
                ("Supported", build::SUPPORTED.to_string()),
            ];
            let update = d.request(rsip::Method::Update, &branch, d.local_cseq, &extra);
            (d.flow, update)
        })?;
        self.inner
            .client
            .request(flow, &branch, "UPDATE", update)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::parse;

    fn invite(extra: &str) -> Message {
        let raw = format!("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{extra}Content-Length: 0\r\n\r\n");
        parse(raw.as_bytes(), true).unwrap()
    }

    fn on(secs: u32, refresher: Refresher) -> Negotiated {
        Negotiated::On(SessionTimer {
            interval_secs: secs,
            refresher,
        })
    }

    #[test]
    fn refresher_per_section_9() {
        let cases = [
            ("", Negotiated::Off),
            ("Session-Expires: 60\r\n", Negotiated::TooSmall(90)),
            (
                "Session-Expires: 100\r\nMin-SE: 120\r\n",
                Negotiated::TooSmall(120),
            ),
            (
                "Supported: timer\r\nSession-Expires: 1800\r\n",
                on(1800, Refresher::Uac),
            ),
            (
                "Supported: timer\r\nx: 1800;refresher=uas\r\n",
                on(1800, Refresher::Uas),
            ),
            (
                "Require: timer\r\nSession-Expires: 90 ; refresher = UAC\r\n",
                on(90, Refresher::Uac),
            ),
            // A proxy asked for the timer; the caller cannot refresh.
            (
                "Session-Expires: 1800;refresher=uac\r\n",
                on(1800, Refresher::Uas),
            ),
            ("Session-Expires: soon\r\n", Negotiated::Off),
        ];
        for (headers, want) in cases {
            assert_eq!(negotiate(&invite(headers), 90), want, "{headers}");
        }
    }

    #[test]
    fn expiry_and_headers() {
        let t = |s, r| SessionTimer {
            interval_secs: s,
            refresher: r,
        };
        assert_eq!(
            t(90, Refresher::Uac).expires_after(),
            Duration::from_secs(60)
        );
        assert_eq!(
            t(1800, Refresher::Uac).expires_after(),
            Duration::from_secs(1768)
        );
        assert_eq!(
            t(1800, Refresher::Uac).response_headers(),
            [
                ("Session-Expires", "1800;refresher=uac".to_string()),
                ("Require", "timer".to_string())
            ]
        );
        assert_eq!(t(90, Refresher::Uas).response_headers().len(), 1);
    }
}
