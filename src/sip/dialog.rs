//! The dialog a call lives in (RFC 3261 §12), seen from the UAS side: its
//! state, the table of dialogs, the events passed to the call task, and the
//! 2xx to INVITE that the dialog (not the transaction) sends again until the
//! ACK (§13.3.1.4).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Notify};

use super::build::{self, ALLOW, SUPPORTED};
use super::endpoint::SipSettings;
use super::endpoint::{Endpoint, Request};
use super::headers::CoreHeaders;
use super::message::Message;
use super::prack::Reliable;
use super::retransmit;
use super::sdp::{self, LocalMedia, Negotiated, SdpError, SessionDescription, SrtpTerms};
use super::session_timer::SessionTimer;
use super::transport::Flow;
use crate::media::ports::PortLease;
use crate::media::srtp::MasterKey;
use crate::model::Digit;

/// RFC 3261 §12: a dialog is identified by Call-ID and both tags; as the
/// UAS our local tag is unique, so Call-ID plus our tag is enough.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogKey {
    pub call_id: String,
    pub local_tag: String,
}

impl DialogKey {
    /// The dialog an in-dialog request names: its Call-ID and To tag.
    pub fn of(core: &CoreHeaders) -> Option<DialogKey> {
        Some(DialogKey {
            call_id: core.call_id.clone(),
            local_tag: core.to_tag.clone()?,
        })
    }
}

/// What the SIP side tells the call task.
#[derive(Debug, Clone)]
pub enum CallEvent {
    /// The 200 was acknowledged; with the answer when the INVITE had no offer.
    Confirmed(Option<Negotiated>),
    /// No ACK within 64·T1 (RFC 3261 §13.3.1.4): the call must end.
    AckTimeout,
    /// No PRACK for our reliable 180 within 64·T1 (RFC 3262 §3): the
    /// INVITE was refused with a 5xx and the call never answered.
    PrackTimeout,
    /// A key sent as SIP INFO.
    Digit(Digit),
    /// A re-INVITE or UPDATE changed the media (address, codec, hold).
    MediaChanged(Negotiated),
    /// RFC 4028 §10: no session refresh in time: the call must end.
    SessionExpired,
    /// The caller sent BYE.
    RemoteHangup,
    /// The caller sent CANCEL before we answered.
    Cancelled,
}

/// Hands `event` to its call now if its queue has room, else from a task of
/// its own, so that the router never waits on one call (whose task may be
/// busy, say with a commit that does not come back). Only for events that
/// come once per dialog (the first ACK, BYE, CANCEL): the number of such
/// tasks is bounded by the calls. Events a peer can repeat at will (INFO
/// keys, re-offers) are given with `try_send` or refused instead.
pub(super) fn deliver_later(events: mpsc::Sender<CallEvent>, event: CallEvent) {
    if let Err(mpsc::error::TrySendError::Full(event)) = events.try_send(event) {
        tokio::spawn(async move {
            let _ = events.send(event).await;
        });
    }
}

/// Dialog state kept by the endpoint.
pub struct Dialog {
    pub key: DialogKey,
    pub flow: Flow,
    /// Our address as written in Via/Contact/SDP.
    pub local_host: String,
    /// The To header as sent in our responses (with our tag): our From in requests.
    pub local_party: String,
    /// The caller's From header: our To in requests.
    pub remote_party: String,
    /// Remote target: the caller's Contact URI (§12.1.1).
    pub remote_target: String,
    /// Record-Route values in order (§12.1.1 for the UAS).
    pub route_set: Vec<String>,
    pub contact: String,
    pub remote_cseq: u32,
    pub local_cseq: u32,
    /// Our current SDP and its o= version (RFC 3264 §8: bumped only on change).
    pub local_sdp: String,
    pub sdp_version: u64,
    pub session_id: u64,
    pub local_port: u16,
    pub local_ip: std::net::IpAddr,
    pub negotiated: Option<Negotiated>,
    /// Our SRTP master key in this dialog's SDP (RFC 4568); replaced when
    /// the caller's key changes, so that no key protects two streams.
    pub srtp_key: MasterKey,
    /// `srtp_key` has been agreed (and so used) at least once.
    pub srtp_key_used: bool,
    /// Our offer went in the 200; the answer is due in the ACK.
    pub awaiting_answer: bool,
    /// The CSeq of the INVITE whose 2xx is being sent until the ACK.
    pub pending_2xx: Option<u32>,
    /// Woken by that ACK, or when the dialog ends.
    pub acked: Arc<Notify>,
    pub answered: bool,
    /// The first ACK came: the call task has been told `Confirmed`.
    pub confirmed: bool,
    /// Our reliable 180, while it waits for or after its PRACK (RFC 3262).
    pub reliable: Option<Reliable>,
    /// The session timer agreed in our last 2xx (RFC 4028), and the
    /// generation of its clock: each 2xx starts a new one.
    pub session: Option<SessionTimer>,
    pub session_generation: u64,
    pub events: mpsc::Sender<CallEvent>,
}

impl Dialog {
    /// A request of ours inside this dialog (RFC 3261 §12.2.1.1): the
    /// remote target as Request-URI, the route set, our tag in From.
    pub fn request(
        &self,
        method: rsip::Method,
        branch: &str,
        cseq: u32,
        extra: &[(&str, String)],
    ) -> bytes::Bytes {
        build::request(&build::DialogRequest {
            method,
            request_uri: &self.remote_target,
            via_host: self.local_host.clone(),
            transport: self.flow.token(),
            branch,
            route_set: &self.route_set,
            from: &self.local_party,
            to: &self.remote_party,
            call_id: &self.key.call_id,
            cseq,
            contact: &self.contact,
            extra,
        })
    }

    /// The dialog ends: our reliable 180 is not sent again.
    fn stop_reliable(&self) {
        if let Some(r) = &self.reliable {
            r.pracked.notify_one();
        }
    }

    /// RFC 3261 §12.2.2: a request in a dialog must have a higher CSeq than
    /// the last one (an ACK the same); false for one out of order (500).
    pub fn take_cseq(&mut self, cseq: u32, is_ack: bool) -> bool {
        if cseq < self.remote_cseq || (cseq == self.remote_cseq && !is_ack) {
            return false;
        }
        self.remote_cseq = cseq;
        true
    }

    fn local_media(&self) -> LocalMedia {
        LocalMedia {
            ip: self.local_ip,
            port: self.local_port,
            session_id: self.session_id,
            version: self.sdp_version,
        }
    }

    /// RFC 4568 §7.1.4: a new offer that changes the caller's key (or the
    /// suite, or switches SRTP back on) starts new crypto contexts; our
    /// side gets a new key too, so that the fresh context never runs the
    /// keystream of the old one again.
    fn rekey(&mut self, n: &mut Negotiated, terms: &SrtpTerms) {
        let Some(new) = n.srtp.as_mut() else {
            return;
        };
        let same = self.negotiated.and_then(|cur| cur.srtp).is_some_and(|cur| {
            cur.keys.theirs == new.keys.theirs
                && cur.keys.suite == new.keys.suite
                && cur.keys.their_mki == new.keys.their_mki
        });
        if self.srtp_key_used && !same {
            self.srtp_key = MasterKey::random();
            new.keys.ours = self.srtp_key;
        } else {
            new.keys.ours = terms.our_key;
        }
        self.srtp_key_used = true;
    }

    /// A re-INVITE's or UPDATE's offer, or none (then ours goes in the 2xx,
    /// and for a re-INVITE the answer is due in the ACK). Our description
    /// gets a new o= version only when it changes (RFC 3264 §8). Returns
    /// what the offer negotiated, which may move the media, hold it, or
    /// stop it (port 0); an offer without PCMU or PCMA, or against the
    /// SRTP terms of `flow`, is refused.
    pub fn take_offer(
        &mut self,
        offer: Option<&SessionDescription>,
        is_invite: bool,
        settings: &SipSettings,
        flow: &Flow,
    ) -> Result<Option<Negotiated>, SdpError> {
        let terms = settings.srtp_terms(flow, self.srtp_key);
        let Some(sd) = offer else {
            // Our offer keeps SRTP (and its key) on a call that has it.
            let srtp = self.negotiated.is_some_and(|n| n.srtp.is_some()) || terms.offer_srtp();
            let ours = sdp::offer(&self.local_media(), srtp.then_some(&self.srtp_key));
            if ours != self.local_sdp {
                self.sdp_version += 1;
                self.local_sdp = sdp::offer(&self.local_media(), srtp.then_some(&self.srtp_key));
            }
            self.awaiting_answer = is_invite;
            return Ok(None);
        };
        let (idx, mut n) = sd.renegotiate(self.negotiated.as_ref(), &terms)?;
        self.rekey(&mut n, &terms);
        if sdp::answer(sd, idx, &n, &self.local_media()) != self.local_sdp {
            self.sdp_version += 1;
        }
        self.local_sdp = sdp::answer(sd, idx, &n, &self.local_media());
        self.negotiated = Some(n);
        Ok(Some(n))
    }
}

/// What a new call brings to the call task.
pub struct IncomingCall {
    pub key: DialogKey,
    pub invite: Message,
    pub source: std::net::SocketAddr,
    pub negotiated: Option<Negotiated>,
    pub socket: std::net::UdpSocket,
    pub lease: PortLease,
    pub local_port: u16,
    pub events: mpsc::Receiver<CallEvent>,
}

/// The dialogs in progress.
#[derive(Default)]
pub struct Dialogs {
    map: Mutex<HashMap<DialogKey, Dialog>>,
}

impl Dialogs {
    pub fn insert(&self, d: Dialog) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(d.key.clone(), d);
        }
    }

    pub fn with<R>(&self, key: &DialogKey, f: impl FnOnce(&mut Dialog) -> R) -> Option<R> {
        let mut m = self.map.lock().ok()?;
        m.get_mut(key).map(f)
    }

    /// Ends a dialog: a 2xx or reliable 180 still being sent stops.
    pub fn remove(&self, key: &DialogKey) -> Option<Dialog> {
        let d = self.map.lock().ok()?.remove(key)?;
        d.acked.notify_one();
        d.stop_reliable();
        Some(d)
    }

    /// Ends a dialog not answered yet (CANCEL, §9.2); None when it was.
    pub fn remove_unanswered(&self, key: &DialogKey) -> Option<Dialog> {
        let mut m = self.map.lock().ok()?;
        if m.get(key)?.answered {
            return None;
        }
        let d = m.remove(key)?;
        d.stop_reliable();
        Some(d)
    }

    pub fn count(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
}

impl Endpoint {
    /// Sends the 200 for an INVITE (initial or re-INVITE) through its
    /// transaction, then again over UDP, T1 doubling to T2, until the ACK;
    /// no ACK within 64·T1, over any transport, ends the call (RFC 3261
    /// §13.3.1.4).
    pub(super) async fn send_2xx(&self, dkey: &DialogKey, req: &Request) {
        let initial = req.core.to_tag.is_none();
        let Some((resp, acked)) = self
            .inner
            .dialogs
            .with(dkey, |d| {
                if d.answered && initial {
                    return None; // cancelled meanwhile, or already answered
                }
                let mut extra = vec![
                    ("Contact", d.contact.clone()),
                    ("Allow", ALLOW.to_string()),
                    ("Supported", SUPPORTED.to_string()),
                ];
                extra.extend(d.session.map(|s| s.response_headers()).unwrap_or_default());
                let resp = build::response(
                    &req.msg,
                    req.flow,
                    (200, "OK"),
                    Some(&d.key.local_tag),
                    &extra,
                    Some(("application/sdp", d.local_sdp.as_bytes())),
                );
                d.answered = true;
                d.pending_2xx = Some(req.core.cseq);
                d.acked = Arc::new(Notify::new());
                Some((resp, d.acked.clone()))
            })
            .flatten()
        else {
            return;
        };
        // RFC 6026 §7.1: the transaction stays to absorb retransmitted INVITEs.
        self.inner
            .server
            .respond(Some(&req.tx), req.reply_to, 200, resp.clone())
            .await;
        // RFC 4028 §10: the session interval runs from this 2xx.
        self.restart_session_clock(dkey);
        let me = self.clone();
        let dkey = dkey.clone();
        let (flow, cseq) = (req.reply_to, req.core.cseq);
        tokio::spawn(async move {
            let schedule = me.inner.settings.timers.retransmit_2xx();
            let stop = acked.notified();
            if retransmit::until(&me.inner.transport, flow, &resp, schedule, stop)
                .await
                .is_some()
            {
                return;
            }
            let unacked = me
                .inner
                .dialogs
                .with(&dkey, |d| {
                    (d.pending_2xx == Some(cseq)).then(|| d.events.clone())
                })
                .flatten();
            if let Some(events) = unacked {
                tracing::info!(call_id = %dkey.call_id, "no ACK for 200 within 64*T1");
                let _ = events.send(CallEvent::AckTimeout).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog(events: mpsc::Sender<CallEvent>) -> Dialog {
        Dialog {
            key: DialogKey {
                call_id: "c".into(),
                local_tag: "t".into(),
            },
            flow: Flow::Udp("127.0.0.1:5060".parse().unwrap()),
            local_host: String::new(),
            local_party: String::new(),
            remote_party: String::new(),
            remote_target: String::new(),
            route_set: Vec::new(),
            contact: String::new(),
            remote_cseq: 5,
            local_cseq: 1,
            local_sdp: String::new(),
            sdp_version: 1,
            session_id: 1,
            local_port: 0,
            local_ip: [127, 0, 0, 1].into(),
            negotiated: None,
            srtp_key: MasterKey::random(),
            srtp_key_used: false,
            awaiting_answer: false,
            pending_2xx: None,
            acked: Arc::new(Notify::new()),
            answered: true,
            confirmed: true,
            reliable: None,
            session: None,
            session_generation: 0,
            events,
        }
    }

    #[test]
    fn cseq_must_grow_except_for_ack() {
        let (events, _rx) = mpsc::channel(1);
        let mut d = dialog(events);
        assert!(d.take_cseq(5, true));
        assert!(!d.take_cseq(5, false));
        assert!(!d.take_cseq(4, false));
        assert!(d.take_cseq(6, false));
    }

    #[test]
    fn a_new_caller_key_gets_a_new_key_of_ours() {
        use crate::media::srtp::SrtpMode;
        let (events, _rx) = mpsc::channel(1);
        let mut d = dialog(events);
        let settings = SipSettings {
            timers: Default::default(),
            allowed_networks: Vec::new(),
            public_ip: None,
            answer_delay: std::time::Duration::ZERO,
            min_se_secs: 90,
            max_calls: 1,
            max_transactions: 1,
            srtp: SrtpMode::Optional,
            srtp_keys_in_cleartext: false,
        };
        let tls = Flow::Tls("127.0.0.1:5061".parse().unwrap());
        let offer = |key: &str| {
            let sdp = format!(
                "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/SAVP 0\r\n\
                 a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}\r\n"
            );
            SessionDescription::parse(sdp.as_bytes()).unwrap()
        };
        let plain =
            SessionDescription::parse(b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n")
                .unwrap();
        let (a, b) = (
            "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
            "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB",
        );
        let mut take = |sd: &SessionDescription| {
            d.take_offer(Some(sd), true, &settings, &tls)
                .unwrap()
                .unwrap()
                .srtp
                .map(|s| s.keys.ours)
        };
        let first = take(&offer(a)).expect("SRTP");
        // A refresh with the same key keeps ours (and the contexts).
        assert_eq!(take(&offer(a)), Some(first));
        // A new key of the caller's: a new one of ours.
        let second = take(&offer(b)).expect("SRTP");
        assert_ne!(second, first);
        // Plain RTP, then SRTP again with the old key: ours is new again.
        assert_eq!(take(&plain), None);
        let third = take(&offer(b)).expect("SRTP");
        assert!(third != second && third != first);
        // Over UDP the keys are refused with the reason for the Warning.
        let udp = Flow::Udp("127.0.0.1:5060".parse().unwrap());
        assert_eq!(
            d.take_offer(Some(&offer(a)), true, &settings, &udp),
            Err(SdpError::NotAcceptable(sdp::Unacceptable::KeysInCleartext))
        );
    }
}
