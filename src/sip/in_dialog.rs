//! Requests inside a dialog (RFC 3261 §12.2.2): ACK, BYE, INFO (keys),
//! re-INVITE and UPDATE (new offers); and the BYE smileyd sends to end a
//! call (§15.1.1).

use super::build::{self, ALLOW};
use super::dialog::{deliver_later, CallEvent, DialogKey};
use super::endpoint::{Endpoint, Request, Status};
use super::invite::parse_offer;
use super::sdp::{SdpError, SessionDescription};
use super::session_timer::{self, Negotiated};
use crate::media::dtmf;
use crate::model::{Digit, DtmfSource};

const NO_DIALOG: Status<'static> = (481, "Call/Transaction Does Not Exist");
const OUT_OF_ORDER: Status<'static> = (500, "Server Internal Error (CSeq out of order)");

impl Endpoint {
    /// The dialog a request names, with its CSeq taken (§12.2.2); or the
    /// response that refuses the request.
    pub(super) fn enter_dialog(&self, req: &Request) -> Result<DialogKey, Status<'static>> {
        let dkey = DialogKey::of(&req.core).ok_or(NO_DIALOG)?;
        let is_ack = req.core.method == "ACK";
        match self
            .inner
            .dialogs
            .with(&dkey, |d| d.take_cseq(req.core.cseq, is_ack))
        {
            None => Err(NO_DIALOG),
            Some(false) => Err(OUT_OF_ORDER),
            Some(true) => Ok(dkey),
        }
    }

    pub(super) async fn on_reoffer(&self, req: Request) {
        if req.core.to_tag.is_none() {
            return self.reply(&req, NO_DIALOG).await;
        }
        // The dialog first: a request for none is 481 whatever it carries.
        let dkey = match self.enter_dialog(&req) {
            Ok(k) => k,
            Err(status) => return self.reply(&req, status).await,
        };
        let Ok(offer) = parse_offer(&req.msg) else {
            return self.reply(&req, (488, "Not Acceptable Here")).await;
        };
        let settings = &self.inner.settings;
        // RFC 4028 §9: a refresh agrees on the timer again (or turns it off).
        let session = match session_timer::negotiate(&req.msg, self.inner.settings.min_se_secs) {
            Negotiated::TooSmall(min) => {
                let extra = [("Min-SE", min.to_string())];
                return self
                    .respond(
                        &req,
                        (422, "Session Interval Too Small"),
                        None,
                        &extra,
                        None,
                    )
                    .await;
            }
            Negotiated::Off => None,
            Negotiated::On(t) => Some(t),
        };
        let is_invite = req.core.method == "INVITE";
        let taken = self.inner.dialogs.with(&dkey, |d| {
            d.session = session;
            d.take_offer(offer.as_ref(), is_invite, settings, &req.flow)
                .map(|n| n.map(|n| (n, d.events.clone())))
        });
        let changed = match taken {
            None => return self.reply(&req, NO_DIALOG).await,
            Some(Err(SdpError::NotAcceptable(why))) => {
                let extra = [("Warning", why.warning().to_string())];
                return self
                    .answer(&req, (488, "Not Acceptable Here"), &extra, None)
                    .await;
            }
            Some(Err(SdpError::Malformed(_))) => {
                return self.reply(&req, (488, "Not Acceptable Here")).await
            }
            Some(Ok(changed)) => changed,
        };
        if let Some((n, events)) = changed {
            let _ = events.try_send(CallEvent::MediaChanged(n));
        }
        if is_invite {
            return self.send_2xx(&dkey, &req).await;
        }
        let Some((sdp, tag)) = self
            .inner
            .dialogs
            .with(&dkey, |d| (d.local_sdp.clone(), d.key.local_tag.clone()))
        else {
            return self.reply(&req, NO_DIALOG).await;
        };
        let body = offer.as_ref().map(|_| ("application/sdp", sdp.as_bytes()));
        let mut extra = vec![("Allow", ALLOW.to_string())];
        extra.extend(session.map(|s| s.response_headers()).unwrap_or_default());
        self.respond(&req, (200, "OK"), Some(&tag), &extra, body)
            .await;
        self.restart_session_clock(&dkey);
    }

    pub(super) async fn on_ack(&self, req: Request) {
        // An ACK for a non-2xx final is its INVITE transaction's (§17.2.1).
        if self.inner.server.absorb_ack(&req.tx, !req.flow.is_udp()) {
            return;
        }
        let Some(dkey) = DialogKey::of(&req.core) else {
            return;
        };
        // §13.3.1.4: the ACK for our 2xx; with the answer when we offered.
        let answer = match SessionDescription::parse(&req.msg.body) {
            Ok(sd) if !req.msg.body.is_empty() => Some(sd),
            _ => None,
        };
        let cseq = req.core.cseq;
        let settings = &self.inner.settings;
        let event = self
            .inner
            .dialogs
            .with(&dkey, |d| {
                if d.pending_2xx != Some(cseq) {
                    return None;
                }
                // The answer's a=crypto carries the caller's key; ours is
                // the one our offer carried.
                let terms = settings.srtp_terms(&req.flow, d.srtp_key);
                let answer = answer
                    .as_ref()
                    .and_then(|sd| sd.negotiate(&terms).ok())
                    .map(|(_, n)| n);
                if answer.is_some_and(|n| n.srtp.is_some()) {
                    d.srtp_key_used = true;
                }
                d.pending_2xx = None;
                d.acked.notify_one();
                let answer = if std::mem::take(&mut d.awaiting_answer) {
                    d.negotiated = answer.or(d.negotiated);
                    answer
                } else {
                    None
                };
                // The first ACK establishes the call; a later one (for a
                // re-INVITE) matters only when it carries an answer.
                let event = if !std::mem::replace(&mut d.confirmed, true) {
                    CallEvent::Confirmed(answer)
                } else {
                    CallEvent::MediaChanged(answer?)
                };
                Some((d.events.clone(), event))
            })
            .flatten();
        if let Some((events, event)) = event {
            match event {
                // Once per dialog: it must arrive, but not by making every
                // other call wait while this one's queue is full.
                CallEvent::Confirmed(_) => deliver_later(events, event),
                // A re-INVITE's answer, like the re-offer itself: dropped
                // when the call is not reading its queue.
                _ => {
                    let _ = events.try_send(event);
                }
            }
        }
    }

    pub(super) async fn on_bye(&self, req: Request) {
        let removed = DialogKey::of(&req.core).and_then(|k| self.inner.dialogs.remove(&k));
        match removed {
            Some(d) => {
                self.reply(&req, (200, "OK")).await;
                deliver_later(d.events, CallEvent::RemoteHangup);
            }
            None => self.reply(&req, NO_DIALOG).await,
        }
    }

    pub(super) async fn on_info(&self, req: Request) {
        let events = match self.enter_dialog(&req) {
            Ok(dkey) => self.inner.dialogs.with(&dkey, |d| d.events.clone()),
            Err(status) => return self.reply(&req, status).await,
        };
        let Some(events) = events else {
            return self.reply(&req, NO_DIALOG).await;
        };
        let content_type = req.msg.content_type();
        let body = String::from_utf8_lossy(&req.msg.body);
        let digit = content_type.and_then(|ct| dtmf::parse_info(ct, &body));
        match (content_type, digit) {
            (_, Some(key)) => {
                let digit = Digit {
                    key,
                    source: DtmfSource::Info,
                };
                // The call's queue is full (its task is busy, say waiting
                // for the database): this key is refused, not waited for,
                // so no other call's SIP waits on this one (RFC 6086 §4.2.2:
                // a 5xx to INFO leaves the dialog up).
                if events.try_send(CallEvent::Digit(digit)).is_err() {
                    let extra = [("Retry-After", "1".to_string())];
                    return self
                        .answer(&req, (503, "Service Unavailable (call busy)"), &extra, None)
                        .await;
                }
                self.reply(&req, (200, "OK")).await;
                self.inner.stats.info_digit();
            }
            // An empty INFO is a keep-alive; answer it.
            (None, None) => self.reply(&req, (200, "OK")).await,
            (Some(ct), None) if ct.to_ascii_lowercase().starts_with("application/dtmf") => {
                self.reply(&req, (400, "Bad Request (no DTMF signal in body)"))
                    .await
            }
            (Some(_), None) => {
                let extra = [(
                    "Accept",
                    "application/dtmf-relay, application/dtmf".to_string(),
                )];
                self.answer(&req, (415, "Unsupported Media Type"), &extra, None)
                    .await
            }
        }
    }

    /// Ends a call from our side: a BYE in the dialog (§15.1.1), sent by a
    /// client transaction until answered. Returns the final status, if one
    /// came.
    pub async fn hangup(&self, key: &DialogKey) -> Option<u16> {
        let d = self.inner.dialogs.remove(key)?;
        let branch = build::new_branch();
        let bye = d.request(rsip::Method::Bye, &branch, d.local_cseq + 1, &[]);
        // RFC 3261 §18.1.1: over the dialog's connection, or a new one to
        // the first Route or the remote target when it is gone.
        let target = d
            .route_set
            .first()
            .map_or(d.remote_target.as_str(), |r| r.as_str());
        let flow = match super::reconnect::for_request(&self.inner.transport, d.flow, target).await
        {
            Ok(flow) => flow,
            Err(e) => {
                tracing::warn!(peer = %d.flow.peer(), %target, error = %e, "cannot reach the caller for BYE");
                d.flow
            }
        };
        self.inner.client.request(flow, &branch, "BYE", bye).await
    }

    /// Forgets a dialog without signalling (the caller already hung up).
    pub fn forget(&self, key: &DialogKey) {
        self.inner.dialogs.remove(key);
    }
}
