//! Ringing during `sip.answer_delay_ms`, sent reliably to a caller that
//! supports it (RFC 3262), and PRACK.
//!
//! A caller whose INVITE has `100rel` in Supported or Require gets its 180
//! with `Require: 100rel` and an RSeq, sent again (T1, doubling, no cap)
//! until the PRACK that names it comes (§3); the 200 waits for that PRACK
//! as well as for the ring time. With no PRACK within 64·T1 the INVITE is
//! refused with a 5xx (§3) and the call ends. A caller without `100rel`
//! gets a plain 180. With no ring time there is nothing to send but 100
//! and the 200, so `Require: 100rel` needs nothing more (§3 asks for
//! reliability only of the provisionals a UAS sends).

use std::sync::Arc;

use tokio::sync::Notify;

use super::build::{ALLOW, SUPPORTED};
use super::dialog::{CallEvent, DialogKey};
use super::endpoint::{Endpoint, Request, Status};
use super::message::Message;
use super::retransmit;

const NO_MATCH: Status<'static> = (481, "Call/Transaction Does Not Exist");
/// RFC 3262 §3: no PRACK for the reliable provisional within 64·T1.
const NO_PRACK: Status<'static> = (504, "Server Time-out (no PRACK)");

/// RFC 3262 §3: the reliable provisional response in flight in a dialog.
#[derive(Debug)]
pub struct Reliable {
    /// Its RSeq.
    pub rseq: u32,
    /// The CSeq of the INVITE it answers, as the PRACK's RAck names it.
    pub invite_cseq: u32,
    /// Woken by its PRACK, or when the dialog ends.
    pub pracked: Arc<Notify>,
    /// The PRACK came.
    pub acknowledged: bool,
}

/// Whether the caller takes reliable provisional responses (RFC 3262 §4).
pub fn wants_100rel(invite: &Message) -> bool {
    ["Supported", "Require"].iter().any(|h| {
        invite
            .header_values(h)
            .iter()
            .any(|t| t.eq_ignore_ascii_case("100rel"))
    })
}

/// RFC 3262 §7.2: `RAck: response-num CSeq-num Method`.
fn rack(msg: &Message) -> Option<(u32, u32, String)> {
    let mut it = msg.header("RAck")?.split_whitespace();
    let rseq = it.next()?.parse().ok()?;
    let cseq = it.next()?.parse().ok()?;
    let method = it.next()?.to_string();
    it.next().is_none().then_some((rseq, cseq, method))
}

impl Endpoint {
    /// The 180 during the ring time. Returns when it no longer holds the
    /// 200 back: at once for a plain 180; for a reliable one when its
    /// PRACK came (true) or 64·T1 passed without one (false).
    pub(super) async fn ring(&self, dkey: &DialogKey, req: &Request) -> bool {
        let reliable = wants_100rel(&req.msg);
        let Some((resp, pracked)) = self.inner.dialogs.with(dkey, |d| {
            let mut extra = vec![
                ("Contact", d.contact.clone()),
                ("Allow", ALLOW.to_string()),
                ("Supported", SUPPORTED.to_string()),
            ];
            let mut pracked = None;
            if reliable {
                // §3: the first RSeq is random in 1..2^31-1.
                let rseq = rand::random::<u32>() % (u32::MAX / 2 - 1) + 1;
                let notify = Arc::new(Notify::new());
                d.reliable = Some(Reliable {
                    rseq,
                    invite_cseq: req.core.cseq,
                    pracked: notify.clone(),
                    acknowledged: false,
                });
                extra.push(("Require", "100rel".to_string()));
                extra.push(("RSeq", rseq.to_string()));
                pracked = Some(notify);
            }
            let resp = super::build::response(
                &req.msg,
                req.flow,
                (180, "Ringing"),
                Some(&d.key.local_tag),
                &extra,
                None,
            );
            (resp, pracked)
        }) else {
            return true; // cancelled meanwhile
        };
        self.inner
            .server
            .respond(Some(&req.tx), req.reply_to, 180, resp.clone())
            .await;
        let Some(pracked) = pracked else {
            return true;
        };
        // §3: sent again at T1, doubling, until the PRACK; 64·T1 at most.
        let schedule = self.inner.settings.timers.reliable_provisional();
        let stop = pracked.notified();
        let acknowledged =
            retransmit::until(&self.inner.transport, req.reply_to, &resp, schedule, stop)
                .await
                .is_some();
        if !acknowledged {
            tracing::info!(call_id = %dkey.call_id, "no PRACK for the reliable 180 within 64*T1");
            if let Some(d) = self.inner.dialogs.remove_unanswered(dkey) {
                let tag = d.key.local_tag.clone();
                self.respond(req, NO_PRACK, Some(&tag), &[], None).await;
                let _ = d.events.send(CallEvent::PrackTimeout).await;
            }
        }
        acknowledged
    }

    /// RFC 3262 §3: a PRACK that names our reliable provisional response
    /// (RSeq, the INVITE's CSeq and method) gets 200 and releases the 200
    /// to the INVITE; any other PRACK gets 481.
    pub(super) async fn on_prack(&self, req: Request) {
        let dkey = match self.enter_dialog(&req) {
            Ok(k) => k,
            Err(status) => return self.reply(&req, status).await,
        };
        let Some((rseq, cseq, method)) = rack(&req.msg) else {
            return self
                .reply(&req, (400, "Bad Request (malformed RAck)"))
                .await;
        };
        let matched = self
            .inner
            .dialogs
            .with(&dkey, |d| {
                let r = d.reliable.as_mut()?;
                let names_it = r.rseq == rseq
                    && r.invite_cseq == cseq
                    && method.eq_ignore_ascii_case("INVITE")
                    && !r.acknowledged;
                names_it.then(|| {
                    r.acknowledged = true;
                    r.pracked.clone()
                })
            })
            .flatten();
        match matched {
            // The 200 to the PRACK goes out before the 200 it releases.
            Some(pracked) => {
                self.reply(&req, (200, "OK")).await;
                pracked.notify_one();
            }
            None => self.reply(&req, NO_MATCH).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::parse;

    fn msg(extra: &str) -> Message {
        let raw = format!("PRACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{extra}Content-Length: 0\r\n\r\n");
        parse(raw.as_bytes(), true).unwrap()
    }

    #[test]
    fn rack_and_100rel() {
        assert_eq!(
            rack(&msg("RAck: 776656 1 INVITE\r\n")),
            Some((776656, 1, "INVITE".into()))
        );
        assert_eq!(rack(&msg("RAck: 776656 INVITE\r\n")), None);
        assert_eq!(rack(&msg("RAck: x 1 INVITE\r\n")), None);
        assert!(wants_100rel(&msg("Supported: timer, 100rel\r\n")));
        assert!(wants_100rel(&msg("Require: 100REL\r\n")));
        assert!(!wants_100rel(&msg("Supported: timer\r\n")));
    }
}
