//! An INVITE outside a dialog: accept or refuse it (who may call, shutdown,
//! extensions, the offer, a media port), answer it (100 Trying, a new
//! dialog, the call task told, the 200 after the ring time), and CANCEL.

use std::net::{IpAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

use super::build;
use super::dialog::{deliver_later, CallEvent, Dialog, DialogKey, IncomingCall};
use super::endpoint::{sanitize_reason, Endpoint, Request, BUSY_RETRY_AFTER_SECS};
use super::message::{self, Message, StartLine};
use super::sdp::{
    self, LocalMedia, Negotiated as Media, SdpError, SessionDescription, Unacceptable,
};
use super::session_timer::{self, Negotiated, SessionTimer};
use crate::media::ports::PortLease;
use crate::media::srtp::MasterKey;

/// Why an INVITE is refused: the final response to send.
struct Refusal {
    code: u16,
    reason: String,
    extra: Vec<(&'static str, String)>,
}

impl Refusal {
    fn new(code: u16, reason: impl Into<String>) -> Refusal {
        Refusal {
            code,
            reason: reason.into(),
            extra: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Refusal {
        self.extra.push((name, value.into()));
        self
    }
}

/// An INVITE we take: the offer (if any), what was agreed on which of its
/// m-lines, our SRTP key, and its port.
struct Accepted {
    offer: Option<SessionDescription>,
    negotiated: Option<Media>,
    used: usize,
    srtp_key: MasterKey,
    lease: PortLease,
    socket: UdpSocket,
    session: Option<SessionTimer>,
}

pub(super) enum OfferError {
    Unsupported,
    Sdp(SdpError),
}

/// The SDP offer in a request's body, if there is one (RFC 3264 §5).
pub(super) fn parse_offer(req: &Message) -> Result<Option<SessionDescription>, OfferError> {
    if req.body.is_empty() {
        return Ok(None);
    }
    let ct = req.content_type().unwrap_or("application/sdp");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/sdp") {
        return Err(OfferError::Unsupported);
    }
    SessionDescription::parse(&req.body)
        .map(Some)
        .map_err(OfferError::Sdp)
}

impl Endpoint {
    pub(super) async fn on_invite(&self, req: Request) {
        match self.accept(&req) {
            Ok(accepted) => self.answer_invite(req, accepted).await,
            Err(r) => {
                let extra: Vec<(&str, String)> = r.extra.into_iter().collect();
                self.answer(&req, (r.code, &r.reason), &extra, None).await;
            }
        }
    }

    pub(super) fn allowed(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        let Ok(allowed) = self.inner.allowed.read() else {
            return false;
        };
        allowed.iter().any(|n| n.contains(&ip))
    }

    /// The checks before a call is taken, in the order their answers matter.
    fn accept(&self, req: &Request) -> Result<Accepted, Refusal> {
        let src = req.flow.peer();
        // RFC 3261 §8.2.3, RFC 3264 §5: the body first (what it is does
        // not depend on who sent it), then who may call.
        let offer = match parse_offer(&req.msg) {
            Ok(o) => o,
            Err(OfferError::Unsupported) => {
                return Err(
                    Refusal::new(415, "Unsupported Media Type").with("Accept", "application/sdp")
                )
            }
            Err(OfferError::Sdp(SdpError::Malformed(e))) => {
                let reason = format!("Bad Request (malformed SDP: {})", sanitize_reason(&e));
                return Err(Refusal::new(400, reason));
            }
            Err(OfferError::Sdp(SdpError::NotAcceptable(why))) => return Err(not_acceptable(why)),
        };
        // Our own SRTP key for this dialog, fresh (RFC 4568 §6.1).
        let srtp_key = MasterKey::random();
        let terms = self.inner.settings.srtp_terms(&req.flow, srtp_key);
        let (used, negotiated) = match &offer {
            Some(sd) => match sd.negotiate(&terms) {
                Ok((used, n)) => (used, Some(n)),
                Err(SdpError::NotAcceptable(why)) => return Err(not_acceptable(why)),
                Err(SdpError::Malformed(e)) => {
                    let reason = format!("Bad Request (malformed SDP: {})", sanitize_reason(&e));
                    return Err(Refusal::new(400, reason));
                }
            },
            // Our offer would have to be SRTP, with our key in the clear.
            None if terms.mode == crate::media::srtp::SrtpMode::Required && !terms.keys_allowed => {
                return Err(not_acceptable(Unacceptable::KeysInCleartext))
            }
            None => (0, None),
        };
        // RFC 4028 §8.1: an interval below our Min-SE.
        let session = match session_timer::negotiate(&req.msg, self.inner.settings.min_se_secs) {
            Negotiated::Off => None,
            Negotiated::TooSmall(min) => {
                return Err(
                    Refusal::new(422, "Session Interval Too Small").with("Min-SE", min.to_string())
                )
            }
            Negotiated::On(t) => Some(t),
        };
        if !self.allowed(src.ip()) {
            tracing::info!(peer = %src, "INVITE from a network not in sip.allowed_networks");
            return Err(Refusal::new(403, "Forbidden"));
        }
        if self.inner.draining.load(Ordering::SeqCst) {
            return Err(
                Refusal::new(503, "Service Unavailable (shutting down)").with("Retry-After", "30")
            );
        }
        // RFC 3261 §21.5.4: full, come back later; before a port is leased
        // or a call task started.
        if self.inner.dialogs.count() >= self.inner.settings.max_calls {
            tracing::warn!(peer = %src, limit = self.inner.settings.max_calls, "sip.max_calls reached: 503");
            return Err(Refusal::new(503, "Service Unavailable (too many calls)")
                .with("Retry-After", BUSY_RETRY_AFTER_SECS.to_string()));
        }
        let bind_ip = match self.inner.transport.local_addr().ip() {
            ip if ip.is_unspecified() && src.is_ipv6() => {
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
            }
            ip => ip,
        };
        let (lease, socket) = self.inner.ports.allocate(bind_ip).map_err(|e| {
            tracing::warn!(error = %e, "no RTP port free");
            Refusal::new(503, "Service Unavailable (no media port)").with("Retry-After", "5")
        })?;
        Ok(Accepted {
            offer,
            negotiated,
            used,
            srtp_key,
            lease,
            socket,
            session,
        })
    }

    /// 100 Trying, a new dialog, the call handed to its task, then the 200
    /// (after the ring time, if one is set).
    async fn answer_invite(&self, req: Request, accepted: Accepted) {
        let Accepted {
            offer,
            negotiated,
            used,
            srtp_key,
            ..
        } = &accepted;
        let (negotiated, used, srtp_key) = (*negotiated, *used, *srtp_key);
        let src = req.flow.peer();
        let local_ip = self
            .inner
            .settings
            .public_ip
            .or(req.local_ip)
            .unwrap_or_else(|| self.inner.transport.local_ip_towards(src));
        let local_port = accepted.lease.port();
        // 100 Trying at once, so the caller stops retransmitting (§17.2.1).
        self.respond(&req, (100, "Trying"), None, &[], None).await;
        let local_tag = build::new_tag();
        let dkey = DialogKey {
            call_id: req.core.call_id.clone(),
            local_tag: local_tag.clone(),
        };
        let session_id = self.inner.session_ids.fetch_add(1, Ordering::Relaxed);
        let local_media = LocalMedia {
            ip: local_ip,
            port: local_port,
            session_id,
            version: 1,
        };
        let local_sdp = match (offer, &negotiated) {
            (Some(sd), Some(n)) => sdp::answer(sd, used, n, &local_media),
            _ => {
                let terms = self.inner.settings.srtp_terms(&req.flow, srtp_key);
                sdp::offer(&local_media, terms.offer_srtp().then_some(&srtp_key))
            }
        };
        let local_host = build::host_with_port(local_ip, self.inner.transport.local_port(req.flow));
        let contact_uri = build::contact_uri(&local_host, req.flow, &req.core.request_uri);
        let msg = &req.msg;
        let to = msg.header("To").unwrap_or_default();
        let from = msg.header("From").unwrap_or_default();
        let (events_tx, events_rx) = mpsc::channel(32);
        let remote_target = msg
            .header_values("Contact")
            .first()
            .map(|c| message::uri_of(c).to_string())
            .unwrap_or_else(|| message::uri_of(from).to_string());
        self.inner.dialogs.insert(Dialog {
            key: dkey.clone(),
            flow: req.flow,
            local_host: local_host.clone(),
            local_party: format!("{to};tag={local_tag}"),
            remote_party: from.to_string(),
            remote_target,
            route_set: msg
                .header_values("Record-Route")
                .into_iter()
                .map(str::to_string)
                .collect(),
            contact: format!("<{contact_uri}>"),
            remote_cseq: req.core.cseq,
            local_cseq: rand::random::<u16>() as u32 + 1,
            local_sdp,
            sdp_version: 1,
            session_id,
            local_port,
            local_ip,
            negotiated,
            srtp_key,
            srtp_key_used: negotiated.is_some_and(|n| n.srtp.is_some()),
            awaiting_answer: offer.is_none(),
            pending_2xx: None,
            acked: Arc::new(Notify::new()),
            answered: false,
            confirmed: false,
            reliable: None,
            session: accepted.session,
            session_generation: 0,
            events: events_tx,
        });
        self.inner.server.set_dialog(&req.tx, dkey.clone());
        let call = IncomingCall {
            key: dkey.clone(),
            invite: req.msg.clone(),
            source: src,
            negotiated,
            socket: accepted.socket,
            lease: accepted.lease,
            local_port,
            events: events_rx,
        };
        if self.inner.new_calls.send(call).await.is_err() {
            return;
        }
        let delay = self.inner.settings.answer_delay;
        if delay.is_zero() {
            self.send_2xx(&dkey, &req).await;
        } else {
            // Ringing for the ring time; a reliable 180 also holds the 200
            // until its PRACK (RFC 3262 §3).
            let me = self.clone();
            tokio::spawn(async move {
                let (pracked, ()) = tokio::join!(me.ring(&dkey, &req), tokio::time::sleep(delay));
                if pracked {
                    me.send_2xx(&dkey, &req).await;
                }
            });
        }
    }

    pub(super) async fn on_cancel(&self, req: Request) {
        // RFC 3261 §9.2: CANCEL matches the INVITE transaction with the same branch.
        let invite_tx = req.tx.for_method("INVITE");
        let Some(target) = self.inner.server.cancel_target(&invite_tx) else {
            self.reply(&req, (481, "Call/Transaction Does Not Exist"))
                .await;
            return;
        };
        self.reply(&req, (200, "OK")).await;
        if target.final_sent {
            return; // too late: the call goes on (§9.2)
        }
        let Some(d) = target
            .dialog
            .and_then(|k| self.inner.dialogs.remove_unanswered(&k))
        else {
            return;
        };
        // The INVITE gets 487 with our tag, through its transaction (§9.2).
        let invite = Request {
            msg: invite_from(&req.msg),
            core: req.core.clone(),
            flow: req.flow,
            reply_to: req.reply_to,
            local_ip: req.local_ip,
            tx: invite_tx,
        };
        self.respond(
            &invite,
            (487, "Request Terminated"),
            Some(&d.key.local_tag),
            &[],
            None,
        )
        .await;
        deliver_later(d.events, CallEvent::Cancelled);
    }
}

/// 488 with a Warning that says why (RFC 3261 §21.4.26, §20.43).
fn not_acceptable(why: Unacceptable) -> Refusal {
    Refusal::new(488, "Not Acceptable Here").with("Warning", why.warning())
}

/// The INVITE a CANCEL refers to, rebuilt from the CANCEL's headers
/// (RFC 3261 §9.1: same Request-URI, Call-ID, From, To, CSeq number and top Via).
fn invite_from(cancel: &Message) -> Message {
    let mut m = cancel.clone();
    for (name, value) in m.headers.iter_mut() {
        if name == "CSeq" {
            let n = value.split_whitespace().next().unwrap_or("0").to_string();
            *value = format!("{n} INVITE");
        }
    }
    if let StartLine::Request { method, .. } = &mut m.start {
        *method = "INVITE".into();
    }
    m
}
