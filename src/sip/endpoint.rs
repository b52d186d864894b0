//! The SIP user agent server: turns received messages into calls and dialog
//! events, and answers everything else as RFC 3261 asks.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ipnet::IpNet;
use tokio::sync::{mpsc, Notify};

use super::build::{self, DialogRequest, ALLOW, SUPPORTED};
use super::dialog::{CallEvent, Dialog, DialogKey, IncomingCall};
use super::message::{self, Message, StartLine, Via};
use super::sdp::{self, LocalMedia, SdpError, SessionDescription};
use super::stats;
use super::timers::Timers;
use super::transaction::{ClientTable, ServerTable, ServerTx, TxKey};
use super::transport::{Flow, Inbound, Transport};
use crate::media::dtmf;
use crate::media::ports::PortAllocator;
use crate::model::{Digit, DtmfSource};

/// Settings the SIP layer needs.
#[derive(Clone, Debug)]
pub struct SipSettings {
    pub timers: Timers,
    pub allowed_networks: Vec<IpNet>,
    /// Address written into SDP and Contact; None: the local address the
    /// INVITE arrived on.
    pub public_ip: Option<IpAddr>,
    /// Delay before the 200 (a ring time); 0 answers at once.
    pub answer_delay: Duration,
}

/// Extensions we can honour (RFC 3261 §8.2.2.3). `100rel` is honoured by
/// never sending a provisional response other than 100 (RFC 3262 §3).
const KNOWN_EXTENSIONS: &[&str] = &["100rel", "timer", "replaces", "outbound", "gruu"];

#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    settings: SipSettings,
    ports: PortAllocator,
    server: ServerTable,
    client: ClientTable,
    dialogs: Mutex<HashMap<DialogKey, Dialog>>,
    new_calls: mpsc::Sender<IncomingCall>,
    draining: AtomicBool,
    session_ids: AtomicU64,
    /// Replaced on configuration reload.
    allowed: std::sync::RwLock<Vec<IpNet>>,
}

impl Endpoint {
    pub fn new(
        transport: Transport,
        settings: SipSettings,
        ports: PortAllocator,
        new_calls: mpsc::Sender<IncomingCall>,
    ) -> Endpoint {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1);
        Endpoint {
            inner: Arc::new(Inner {
                transport,
                allowed: std::sync::RwLock::new(settings.allowed_networks.clone()),
                settings,
                ports,
                server: ServerTable::default(),
                client: ClientTable::default(),
                dialogs: Mutex::new(HashMap::new()),
                new_calls,
                draining: AtomicBool::new(false),
                session_ids: AtomicU64::new(seed),
            }),
        }
    }

    /// Replaces the networks that may place calls (configuration reload).
    pub fn set_allowed_networks(&self, nets: Vec<IpNet>) {
        if let Ok(mut a) = self.inner.allowed.write() {
            *a = nets;
        }
    }

    /// Stop taking new calls: INVITEs get 503 from now on.
    pub fn drain(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    pub fn active_dialogs(&self) -> usize {
        self.inner.dialogs.lock().map(|d| d.len()).unwrap_or(0)
    }

    /// Receives and handles messages until the transport closes.
    pub async fn run(self, mut inbound: mpsc::Receiver<Inbound>) {
        let sweeper = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                sweeper.inner.server.sweep(Instant::now());
            }
        });
        while let Some(msg) = inbound.recv().await {
            self.handle(msg).await;
        }
    }

    async fn send(&self, flow: Flow, data: Bytes) {
        if let Err(e) = self.inner.transport.send(flow, data).await {
            tracing::debug!(peer = %flow.peer(), error = %e, "sip send failed");
        }
    }

    async fn handle(&self, inbound: Inbound) {
        let msg = match message::parse(&inbound.data, inbound.flow.is_udp()) {
            Ok(m) => m,
            Err(e) => {
                stats::DROPPED.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(peer = %inbound.flow.peer(), error = %e, "unparsable SIP message dropped");
                // A request whose framing we can read but whose headers are
                // broken still deserves a 400 if we can address one.
                self.reject_broken(&inbound, &e.0).await;
                return;
            }
        };
        match &msg.start {
            StartLine::Response { code, .. } => {
                stats::count_response_in(*code);
                if let Some(branch) = msg.top_via().and_then(Via::parse).and_then(|v| v.branch()) {
                    self.inner.client.complete(branch, *code);
                }
            }
            StartLine::Request { method, .. } => {
                let method = method.clone();
                stats::count_request(&method);
                self.handle_request(msg, method, &inbound).await;
            }
        }
    }

    /// A message that failed to parse: when it still has the headers a
    /// response needs, answer 400 with the reason (RFC 3261 §21.4.1).
    async fn reject_broken(&self, inbound: &Inbound, reason: &str) {
        let text = String::from_utf8_lossy(&inbound.data);
        if text.starts_with("SIP/") || text.contains("\r\nACK ") || text.starts_with("ACK ") {
            return;
        }
        let mut headers = Vec::new();
        for line in text.lines().skip(1) {
            if line.is_empty() {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                let n = n.trim();
                let canon = match n.to_ascii_lowercase().as_str() {
                    "v" | "via" => "Via",
                    "f" | "from" => "From",
                    "t" | "to" => "To",
                    "i" | "call-id" => "Call-ID",
                    "cseq" => "CSeq",
                    _ => continue,
                };
                headers.push((canon.to_string(), v.trim().to_string()));
            }
        }
        let first = text.lines().next().unwrap_or("");
        let looks_like_request = first.ends_with("SIP/2.0") && first.split(' ').count() == 3;
        let shell = Message {
            start: StartLine::Request {
                method: String::new(),
                uri: String::new(),
                version: "SIP/2.0".into(),
            },
            headers,
            body: Vec::new(),
        };
        if !looks_like_request
            || shell.top_via().and_then(Via::parse).is_none()
            || shell.call_id().is_none()
        {
            return;
        }
        let reason = format!("Bad Request ({})", sanitize_reason(reason));
        let flow = build::response_flow(&shell, inbound.flow);
        let resp = build::response(&shell, inbound.flow, 400, &reason, None, &[], None);
        stats::count_response_out(400);
        self.send(flow, resp).await;
    }

    async fn respond(
        &self,
        req: &Message,
        inbound: &Inbound,
        (code, reason): (u16, &str),
        to_tag: Option<&str>,
        extra: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) -> Bytes {
        let resp = build::response(req, inbound.flow, code, reason, to_tag, extra, body);
        let flow = build::response_flow(req, inbound.flow);
        stats::count_response_out(code);
        self.send(flow, resp.clone()).await;
        resp
    }

    /// Answers a request through its server transaction, so that
    /// retransmissions get the same answer (RFC 3261 §17.2.2).
    async fn answer(
        &self,
        key: &Option<TxKey>,
        req: &Message,
        inbound: &Inbound,
        (code, reason): (u16, &str),
        extra: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) {
        let tag = build::new_tag();
        let resp = self
            .respond(req, inbound, (code, reason), Some(&tag), extra, body)
            .await;
        if let Some(key) = key {
            let keep = if inbound.flow.is_udp() {
                self.inner.settings.timers.timeout()
            } else {
                Duration::from_secs(1)
            };
            self.inner
                .server
                .responded(key, resp.clone(), code >= 200, keep);
            // RFC 3261 §17.2.1: non-2xx finals to INVITE are retransmitted
            // over UDP (Timer G) until the ACK comes or Timer H fires.
            if req.method() == Some("INVITE") && code >= 300 && inbound.flow.is_udp() {
                self.retransmit_until_ack(
                    key.clone(),
                    build::response_flow(req, inbound.flow),
                    resp,
                );
            }
        }
    }

    /// A response with no extra headers and no body.
    async fn reply(
        &self,
        key: &Option<TxKey>,
        req: &Message,
        inbound: &Inbound,
        code: u16,
        reason: &str,
    ) {
        self.answer(key, req, inbound, (code, reason), &[], None)
            .await;
    }

    fn retransmit_until_ack(&self, key: TxKey, flow: Flow, resp: Bytes) {
        let notify = Arc::new(Notify::new());
        self.inner
            .server
            .with(&key, |tx| tx.acked = Some(notify.clone()));
        let me = self.clone();
        tokio::spawn(async move {
            let timers = me.inner.settings.timers;
            let deadline = Instant::now() + timers.timeout();
            let mut interval = timers.t1;
            loop {
                tokio::select! {
                    _ = notify.notified() => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                if Instant::now() >= deadline {
                    return;
                }
                me.send(flow, resp.clone()).await;
                interval = timers.backoff(interval);
            }
        });
    }

    async fn handle_request(&self, req: Message, method: String, inbound: &Inbound) {
        // Without a usable Via there is nowhere to send a response.
        if req.top_via().and_then(Via::parse).is_none() {
            stats::DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // RFC 3261 §17.2.3: retransmissions are absorbed by their transaction.
        let key = TxKey::of(&req, &method);
        if method != "ACK" {
            if let Some(existing) = key
                .as_ref()
                .and_then(|k| self.inner.server.retransmission(k))
            {
                if let Some((flow, resp)) = existing {
                    self.send(flow, resp).await;
                }
                return;
            }
        }
        if let Err(reason) = validate(&req, &method) {
            if method != "ACK" {
                self.answer(&None, &req, inbound, (reason.0, &reason.1), &[], None)
                    .await;
            }
            return;
        }
        if method != "ACK" {
            if let Some(key) = &key {
                self.inner.server.insert(
                    key.clone(),
                    ServerTx {
                        flow: inbound.flow,
                        last_response: None,
                        final_sent: false,
                        call_id: None,
                        acked: None,
                        expires: Instant::now() + self.inner.settings.timers.timeout() * 2,
                    },
                );
            }
        }
        match method.as_str() {
            "INVITE" if req.to_tag().is_none() => self.on_invite(req, key, inbound).await,
            "INVITE" | "UPDATE" => self.on_reoffer(req, key, inbound, &method).await,
            "ACK" => self.on_ack(req, key).await,
            "BYE" => self.on_bye(req, key, inbound).await,
            "CANCEL" => self.on_cancel(req, key, inbound).await,
            "INFO" => self.on_info(req, key, inbound).await,
            "OPTIONS" => {
                let extra = [
                    ("Allow", ALLOW.to_string()),
                    (
                        "Accept",
                        "application/sdp, application/dtmf-relay, application/dtmf".to_string(),
                    ),
                    ("Supported", SUPPORTED.to_string()),
                ];
                self.answer(&key, &req, inbound, (200, "OK"), &extra, None)
                    .await;
            }
            _ => {
                // RFC 3261 §8.2.1: a method we do not implement.
                let extra = [("Allow", ALLOW.to_string())];
                self.answer(&key, &req, inbound, (501, "Not Implemented"), &extra, None)
                    .await;
            }
        }
    }

    fn allowed(&self, ip: IpAddr) -> bool {
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

    async fn on_invite(&self, req: Message, key: Option<TxKey>, inbound: &Inbound) {
        let src = inbound.flow.peer();
        if !self.allowed(src.ip()) {
            tracing::info!(peer = %src, "INVITE from a network not in sip.allowed_networks");
            self.reply(&key, &req, inbound, 403, "Forbidden").await;
            return;
        }
        if self.inner.draining.load(Ordering::SeqCst) {
            let extra = [("Retry-After", "30".to_string())];
            self.answer(
                &key,
                &req,
                inbound,
                (503, "Service Unavailable (shutting down)"),
                &extra,
                None,
            )
            .await;
            return;
        }
        // RFC 3261 §8.2.2.3: extensions we do not know → 420.
        let unsupported: Vec<&str> = req
            .header_values("Require")
            .into_iter()
            .filter(|opt| !KNOWN_EXTENSIONS.iter().any(|k| k.eq_ignore_ascii_case(opt)))
            .collect();
        if !unsupported.is_empty() {
            let extra = [("Unsupported", unsupported.join(", "))];
            self.answer(&key, &req, inbound, (420, "Bad Extension"), &extra, None)
                .await;
            return;
        }
        // RFC 3264 §5: take the offer, or make one when there is none.
        let offer = match parse_offer(&req) {
            Ok(o) => o,
            Err(OfferError::Unsupported) => {
                let extra = [("Accept", "application/sdp".to_string())];
                self.answer(
                    &key,
                    &req,
                    inbound,
                    (415, "Unsupported Media Type"),
                    &extra,
                    None,
                )
                .await;
                return;
            }
            Err(OfferError::Sdp(SdpError::Malformed(e))) => {
                let reason = format!("Bad Request (malformed SDP: {})", sanitize_reason(&e));
                self.reply(&key, &req, inbound, 400, &reason).await;
                return;
            }
            Err(OfferError::Sdp(SdpError::NotAcceptable)) => {
                self.reply(&key, &req, inbound, 488, "Not Acceptable Here")
                    .await;
                return;
            }
        };
        let negotiated = match &offer {
            Some(sd) => match sd.negotiate() {
                Ok((_, n)) => Some(n),
                Err(_) => {
                    let extra = [(
                        "Warning",
                        "304 smileyd \"no common audio codec: PCMU or PCMA required\"".to_string(),
                    )];
                    self.answer(
                        &key,
                        &req,
                        inbound,
                        (488, "Not Acceptable Here"),
                        &extra,
                        None,
                    )
                    .await;
                    return;
                }
            },
            None => None,
        };
        let local_ip = self
            .inner
            .settings
            .public_ip
            .or(inbound.local_ip)
            .unwrap_or_else(|| self.inner.transport.local_ip_towards(src));
        let bind_ip = match self.inner.transport.local_addr().ip() {
            ip if ip.is_unspecified() && src.is_ipv6() => {
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
            }
            ip => ip,
        };
        let (lease, socket) = match self.inner.ports.allocate(bind_ip) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "no RTP port free");
                let extra = [("Retry-After", "5".to_string())];
                self.answer(
                    &key,
                    &req,
                    inbound,
                    (503, "Service Unavailable (no media port)"),
                    &extra,
                    None,
                )
                .await;
                return;
            }
        };
        let local_port = lease.port();
        // 100 Trying at once, so the caller stops retransmitting (§17.2.1).
        let trying = self
            .respond(&req, inbound, (100, "Trying"), None, &[], None)
            .await;
        if let Some(k) = &key {
            self.inner
                .server
                .responded(k, trying, false, Duration::ZERO);
        }
        let Some(call_id) = req.call_id().map(str::to_string) else {
            return;
        };
        let local_tag = build::new_tag();
        let dkey = DialogKey {
            call_id: call_id.clone(),
            local_tag: local_tag.clone(),
        };
        let session_id = self.inner.session_ids.fetch_add(1, Ordering::Relaxed);
        let local_media = LocalMedia {
            ip: local_ip,
            port: local_port,
            session_id,
            version: 1,
        };
        let local_sdp = match (&offer, &negotiated) {
            (Some(sd), Some(n)) => {
                let idx = sd.negotiate().map(|(i, _)| i).unwrap_or(0);
                sdp::answer(sd, idx, n, &local_media)
            }
            _ => sdp::offer(&local_media),
        };
        let local_host = build::host_with_port(local_ip, self.inner.transport.local_addr().port());
        let transport_param = match inbound.flow {
            Flow::Udp(_) => "",
            Flow::Tcp(_) => ";transport=tcp",
        };
        let contact = format!("<sip:smileyd@{local_host}{transport_param}>");
        let to = req.header("To").unwrap_or_default();
        let (events_tx, events_rx) = mpsc::channel(32);
        let remote_target = req
            .header_values("Contact")
            .first()
            .map(|c| message::uri_of(c).to_string())
            .unwrap_or_else(|| message::uri_of(req.header("From").unwrap_or_default()).to_string());
        let dialog = Dialog {
            key: dkey.clone(),
            flow: inbound.flow,
            local_host: local_host.clone(),
            local_party: format!("{to};tag={local_tag}"),
            remote_party: req.header("From").unwrap_or_default().to_string(),
            remote_target,
            route_set: req
                .header_values("Record-Route")
                .into_iter()
                .map(str::to_string)
                .collect(),
            contact: contact.clone(),
            remote_cseq: req.cseq().map(|c| c.0).unwrap_or(0),
            local_cseq: rand::random::<u16>() as u32 + 1,
            local_sdp: local_sdp.clone(),
            sdp_version: 1,
            session_id,
            local_port,
            local_ip,
            negotiated,
            awaiting_answer: offer.is_none(),
            pending_2xx: None,
            acked: Arc::new(Notify::new()),
            answered: false,
            events: events_tx,
        };
        if let Ok(mut d) = self.inner.dialogs.lock() {
            d.insert(dkey.clone(), dialog);
        }
        if let Some(k) = &key {
            self.inner.server.with(k, |tx| {
                tx.call_id = Some((call_id.clone(), local_tag.clone()))
            });
        }
        let call = IncomingCall {
            key: dkey.clone(),
            invite: req.clone(),
            source: src,
            negotiated,
            socket,
            lease,
            local_port,
            events: events_rx,
        };
        if self.inner.new_calls.send(call).await.is_err() {
            return;
        }
        let delay = self.inner.settings.answer_delay;
        let me = self.clone();
        let inbound_flow = inbound.flow;
        let send_ok = async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            me.send_2xx(&dkey, &req, inbound_flow, key).await;
        };
        if delay.is_zero() {
            send_ok.await;
        } else {
            tokio::spawn(send_ok);
        }
    }

    /// Sends the 200 for an INVITE (initial or re-INVITE) and retransmits it
    /// over UDP, T1 doubling to T2, until the ACK (RFC 3261 §13.3.1.4).
    async fn send_2xx(&self, dkey: &DialogKey, req: &Message, flow: Flow, key: Option<TxKey>) {
        let Some((resp, acked, cseq)) = self
            .with_dialog(dkey, |d| {
                if d.answered && req.to_tag().is_none() {
                    return None; // cancelled meanwhile, or already answered
                }
                let extra = [
                    ("Contact", d.contact.clone()),
                    ("Allow", ALLOW.to_string()),
                    ("Supported", SUPPORTED.to_string()),
                ];
                let resp = build::response(
                    req,
                    flow,
                    200,
                    "OK",
                    Some(&d.key.local_tag),
                    &extra,
                    Some(("application/sdp", d.local_sdp.as_bytes())),
                );
                d.answered = true;
                let cseq = req.cseq().map(|c| c.0).unwrap_or(0);
                d.pending_2xx = Some((cseq, resp.clone()));
                d.acked = Arc::new(Notify::new());
                Some((resp, d.acked.clone(), cseq))
            })
            .flatten()
        else {
            return;
        };
        let out = build::response_flow(req, flow);
        stats::count_response_out(200);
        self.send(out, resp.clone()).await;
        if let Some(k) = &key {
            // RFC 6026 §7.1: the transaction stays to absorb retransmitted INVITEs.
            self.inner.server.responded(
                k,
                resp.clone(),
                true,
                self.inner.settings.timers.timeout(),
            );
        }
        if !flow.is_udp() {
            return;
        }
        let me = self.clone();
        let dkey = dkey.clone();
        tokio::spawn(async move {
            let timers = me.inner.settings.timers;
            let deadline = tokio::time::Instant::now() + timers.timeout();
            let mut interval = timers.t1;
            loop {
                let wake = (tokio::time::Instant::now() + interval).min(deadline);
                tokio::select! {
                    _ = acked.notified() => return,
                    _ = tokio::time::sleep_until(wake) => {}
                }
                let still_pending = me
                    .with_dialog(
                        &dkey,
                        |d| matches!(d.pending_2xx, Some((c, _)) if c == cseq),
                    )
                    .unwrap_or(false);
                if !still_pending {
                    return;
                }
                if tokio::time::Instant::now() >= deadline {
                    tracing::info!(call_id = %dkey.call_id, "no ACK for 200 within 64*T1");
                    let events = me.with_dialog(&dkey, |d| d.events.clone());
                    if let Some(ev) = events {
                        let _ = ev.send(CallEvent::AckTimeout).await;
                    }
                    return;
                }
                me.send(out, resp.clone()).await;
                interval = timers.backoff(interval);
            }
        });
    }

    fn with_dialog<R>(&self, key: &DialogKey, f: impl FnOnce(&mut Dialog) -> R) -> Option<R> {
        let mut d = self.inner.dialogs.lock().ok()?;
        d.get_mut(key).map(f)
    }

    fn dialog_key_of(req: &Message) -> Option<DialogKey> {
        Some(DialogKey {
            call_id: req.call_id()?.to_string(),
            local_tag: req.to_tag()?.to_string(),
        })
    }

    /// RFC 3261 §12.2.2: a request in a dialog must have a higher CSeq than the
    /// last one; a lower one gets 500.
    fn check_cseq(d: &mut Dialog, req: &Message) -> bool {
        let n = req.cseq().map(|c| c.0).unwrap_or(0);
        if n < d.remote_cseq || (n == d.remote_cseq && req.method() != Some("ACK")) {
            return false;
        }
        d.remote_cseq = n;
        true
    }

    async fn on_reoffer(&self, req: Message, key: Option<TxKey>, inbound: &Inbound, method: &str) {
        let Some(dkey) = Self::dialog_key_of(&req) else {
            self.reply(&key, &req, inbound, 481, "Call/Transaction Does Not Exist")
                .await;
            return;
        };
        let offer = match parse_offer(&req) {
            Ok(o) => o,
            Err(_) => {
                self.reply(&key, &req, inbound, 488, "Not Acceptable Here")
                    .await;
                return;
            }
        };
        enum Outcome {
            Missing,
            OutOfOrder,
            NotAcceptable,
            Ok(Option<(super::sdp::Negotiated, mpsc::Sender<CallEvent>)>),
        }
        let outcome = self
            .with_dialog(&dkey, |d| {
                if !Self::check_cseq(d, &req) {
                    return Outcome::OutOfOrder;
                }
                let Some(sd) = &offer else {
                    // No offer: ours goes in the 200, the answer in the ACK.
                    let media = LocalMedia {
                        ip: d.local_ip,
                        port: d.local_port,
                        session_id: d.session_id,
                        version: d.sdp_version,
                    };
                    let sdp = sdp::offer(&media);
                    if sdp != d.local_sdp {
                        d.sdp_version += 1;
                        d.local_sdp = sdp::offer(&LocalMedia {
                            version: d.sdp_version,
                            ..media
                        });
                    }
                    d.awaiting_answer = method == "INVITE";
                    return Outcome::Ok(None);
                };
                let Ok((idx, n)) = sd.negotiate() else {
                    return Outcome::NotAcceptable;
                };
                let media = LocalMedia {
                    ip: d.local_ip,
                    port: d.local_port,
                    session_id: d.session_id,
                    version: d.sdp_version,
                };
                let mut answer = sdp::answer(sd, idx, &n, &media);
                if answer != d.local_sdp {
                    // RFC 3264 §8: a changed description gets a new version.
                    d.sdp_version += 1;
                    answer = sdp::answer(
                        sd,
                        idx,
                        &n,
                        &LocalMedia {
                            version: d.sdp_version,
                            ..media
                        },
                    );
                }
                d.local_sdp = answer;
                d.negotiated = Some(n);
                Outcome::Ok(Some((n, d.events.clone())))
            })
            .unwrap_or(Outcome::Missing);
        match outcome {
            Outcome::Missing => {
                self.reply(&key, &req, inbound, 481, "Call/Transaction Does Not Exist")
                    .await
            }
            Outcome::OutOfOrder => {
                self.reply(
                    &key,
                    &req,
                    inbound,
                    500,
                    "Server Internal Error (CSeq out of order)",
                )
                .await
            }
            Outcome::NotAcceptable => {
                self.reply(&key, &req, inbound, 488, "Not Acceptable Here")
                    .await
            }
            Outcome::Ok(changed) => {
                if let Some((n, events)) = changed {
                    let _ = events.try_send(CallEvent::MediaChanged(n));
                }
                if method == "INVITE" {
                    self.send_2xx(&dkey, &req, inbound.flow, key).await;
                } else {
                    let sdp = self
                        .with_dialog(&dkey, |d| d.local_sdp.clone())
                        .unwrap_or_default();
                    let body = offer.as_ref().map(|_| ("application/sdp", sdp.as_bytes()));
                    let mut extra = vec![("Allow", ALLOW.to_string())];
                    if let Some(se) = req.header("Session-Expires") {
                        extra.push(("Session-Expires", se.to_string()));
                    }
                    self.answer(&key, &req, inbound, (200, "OK"), &extra, body)
                        .await;
                }
            }
        }
    }

    async fn on_ack(&self, req: Message, key: Option<TxKey>) {
        let Some(dkey) = Self::dialog_key_of(&req) else {
            return;
        };
        // An ACK for a non-2xx final stops Timer G (RFC 3261 §17.2.1).
        if let Some(k) = &key {
            if let Some(Some(n)) = self.inner.server.with(k, |tx| tx.acked.clone()) {
                if !self
                    .inner
                    .dialogs
                    .lock()
                    .map(|d| d.contains_key(&dkey))
                    .unwrap_or(false)
                {
                    n.notify_one();
                    return;
                }
            }
        }
        let ack_cseq = req.cseq().map(|c| c.0).unwrap_or(0);
        let answer = match SessionDescription::parse(&req.body) {
            Ok(sd) if !req.body.is_empty() => sd.negotiate().ok().map(|(_, n)| n),
            _ => None,
        };
        let result = self.with_dialog(&dkey, |d| {
            let matches = matches!(d.pending_2xx, Some((c, _)) if c == ack_cseq);
            if !matches {
                return None;
            }
            d.pending_2xx = None;
            d.acked.notify_one();
            let answer = if d.awaiting_answer {
                d.awaiting_answer = false;
                if answer.is_some() {
                    d.negotiated = answer;
                }
                answer
            } else {
                None
            };
            Some((d.events.clone(), answer))
        });
        if let Some(Some((events, answer))) = result {
            let _ = events.send(CallEvent::Confirmed(answer)).await;
        }
    }

    async fn on_bye(&self, req: Message, key: Option<TxKey>, inbound: &Inbound) {
        let removed =
            Self::dialog_key_of(&req).and_then(|k| self.inner.dialogs.lock().ok()?.remove(&k));
        match removed {
            Some(d) => {
                self.reply(&key, &req, inbound, 200, "OK").await;
                d.acked.notify_one();
                let _ = d.events.send(CallEvent::RemoteHangup).await;
            }
            None => {
                self.reply(&key, &req, inbound, 481, "Call/Transaction Does Not Exist")
                    .await
            }
        }
    }

    async fn on_cancel(&self, req: Message, key: Option<TxKey>, inbound: &Inbound) {
        // RFC 3261 §9.2: CANCEL matches the INVITE transaction with the same branch.
        let invite_key = TxKey::of(&req, "INVITE");
        let found = invite_key.as_ref().and_then(|k| {
            self.inner
                .server
                .with(k, |tx| (tx.call_id.clone(), tx.final_sent))
        });
        let Some((call, final_sent)) = found else {
            self.reply(&key, &req, inbound, 481, "Call/Transaction Does Not Exist")
                .await;
            return;
        };
        self.reply(&key, &req, inbound, 200, "OK").await;
        if final_sent {
            return; // too late: the call goes on (§9.2)
        }
        let Some((call_id, local_tag)) = call else {
            return;
        };
        let dkey = DialogKey { call_id, local_tag };
        let d = self.inner.dialogs.lock().ok().and_then(|mut m| {
            let answered = m.get(&dkey).map(|d| d.answered).unwrap_or(true);
            if answered {
                None
            } else {
                m.remove(&dkey)
            }
        });
        let Some(d) = d else { return };
        // The INVITE gets 487 with our tag (§9.2).
        let Ok(invite) = invite_from(&req) else {
            return;
        };
        let resp = build::response(
            &invite,
            inbound.flow,
            487,
            "Request Terminated",
            Some(&d.key.local_tag),
            &[],
            None,
        );
        let flow = build::response_flow(&invite, inbound.flow);
        stats::count_response_out(487);
        self.send(flow, resp.clone()).await;
        if let Some(k) = invite_key {
            self.inner.server.responded(
                &k,
                resp.clone(),
                true,
                self.inner.settings.timers.timeout(),
            );
            if inbound.flow.is_udp() {
                self.retransmit_until_ack(k, flow, resp);
            }
        }
        let _ = d.events.send(CallEvent::Cancelled).await;
    }

    async fn on_info(&self, req: Message, key: Option<TxKey>, inbound: &Inbound) {
        let Some(dkey) = Self::dialog_key_of(&req) else {
            self.reply(&key, &req, inbound, 481, "Call/Transaction Does Not Exist")
                .await;
            return;
        };
        let events = self.with_dialog(&dkey, |d| {
            Self::check_cseq(d, &req).then(|| d.events.clone())
        });
        let events = match events {
            None => {
                self.reply(&key, &req, inbound, 481, "Call/Transaction Does Not Exist")
                    .await;
                return;
            }
            Some(None) => {
                self.reply(
                    &key,
                    &req,
                    inbound,
                    500,
                    "Server Internal Error (CSeq out of order)",
                )
                .await;
                return;
            }
            Some(Some(ev)) => ev,
        };
        let body = String::from_utf8_lossy(&req.body);
        let digit = req
            .content_type()
            .and_then(|ct| dtmf::parse_info(ct, &body));
        match (req.content_type(), digit) {
            (_, Some(key_char)) => {
                self.reply(&key, &req, inbound, 200, "OK").await;
                stats::DTMF_INFO.fetch_add(1, Ordering::Relaxed);
                let _ = events
                    .send(CallEvent::Digit(Digit {
                        key: key_char,
                        source: DtmfSource::Info,
                    }))
                    .await;
            }
            // An empty INFO is a keep-alive; answer it.
            (None, None) => self.reply(&key, &req, inbound, 200, "OK").await,
            (Some(ct), None) => {
                let ct = ct.to_ascii_lowercase();
                if ct.starts_with("application/dtmf") {
                    self.reply(
                        &key,
                        &req,
                        inbound,
                        400,
                        "Bad Request (no DTMF signal in body)",
                    )
                    .await;
                } else {
                    let extra = [(
                        "Accept",
                        "application/dtmf-relay, application/dtmf".to_string(),
                    )];
                    self.answer(
                        &key,
                        &req,
                        inbound,
                        (415, "Unsupported Media Type"),
                        &extra,
                        None,
                    )
                    .await;
                }
            }
        }
    }

    /// Ends a call from our side: BYE, retransmitted over UDP per the
    /// non-INVITE client transaction (RFC 3261 §17.1.2: Timer E doubling to
    /// T2, Timer F at 64·T1). Returns the final status, if one came.
    pub async fn hangup(&self, key: &DialogKey) -> Option<u16> {
        let d = self.inner.dialogs.lock().ok()?.remove(key)?;
        d.acked.notify_one();
        let branch = build::new_branch();
        let flow = d.flow;
        let bye = build::request(&DialogRequest {
            method: rsip::Method::Bye,
            request_uri: &d.remote_target,
            via_host: d.local_host.clone(),
            transport: flow.token(),
            branch: &branch,
            route_set: &d.route_set,
            from: &d.local_party,
            to: &d.remote_party,
            call_id: &d.key.call_id,
            cseq: d.local_cseq + 1,
            contact: &d.contact,
        });
        let mut done = self.inner.client.register(&branch);
        stats::count_request_out("BYE");
        self.send(flow, bye.clone()).await;
        let timers = self.inner.settings.timers;
        let deadline = tokio::time::Instant::now() + timers.timeout();
        let mut interval = timers.t1;
        loop {
            let wake = if flow.is_udp() {
                (tokio::time::Instant::now() + interval).min(deadline)
            } else {
                deadline
            };
            tokio::select! {
                code = &mut done => return code.ok(),
                _ = tokio::time::sleep_until(wake) => {}
            }
            if tokio::time::Instant::now() >= deadline {
                self.inner.client.forget(&branch);
                return None;
            }
            self.send(flow, bye.clone()).await;
            interval = timers.backoff(interval);
        }
    }

    /// Forgets a dialog without signalling (the caller already hung up).
    pub fn forget(&self, key: &DialogKey) {
        if let Ok(mut d) = self.inner.dialogs.lock() {
            d.remove(key);
        }
    }
}

enum OfferError {
    Unsupported,
    Sdp(SdpError),
}

fn parse_offer(req: &Message) -> Result<Option<SessionDescription>, OfferError> {
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

/// The INVITE a CANCEL refers to, rebuilt from the CANCEL's headers
/// (RFC 3261 §9.1: same Request-URI, Call-ID, From, To, CSeq number and top Via).
fn invite_from(cancel: &Message) -> Result<Message, ()> {
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
    Ok(m)
}

/// Keeps a reason phrase to one printable line.
fn sanitize_reason(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(80).collect()
}

/// RFC 3261 §8.2: checks that make a request invalid (400, 416, 505, 483).
fn validate(req: &Message, method: &str) -> Result<(), (u16, String)> {
    let bad = |what: &str| Err((400, format!("Bad Request ({what})")));
    if let StartLine::Request { version, uri, .. } = &req.start {
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err((505, "Version Not Supported".into()));
        }
        let scheme = uri.split(':').next().unwrap_or("").to_ascii_lowercase();
        if !matches!(scheme.as_str(), "sip" | "sips" | "tel") {
            return Err((416, "Unsupported URI Scheme".into()));
        }
    }
    if req.call_id().is_none() {
        return bad("missing Call-ID");
    }
    if req.header("From").is_none() {
        return bad("missing From");
    }
    if req.header("To").is_none() {
        return bad("missing To");
    }
    match req.cseq() {
        None => return bad("missing or malformed CSeq"),
        Some((_, m)) if m != method => return bad("CSeq method does not match the request"),
        Some(_) => {}
    }
    if let Some(mf) = req.header("Max-Forwards") {
        if mf.parse::<u8>().is_err() {
            return bad("malformed Max-Forwards");
        }
    }
    if req
        .header_values("Via")
        .iter()
        .any(|v| Via::parse(v).is_none())
    {
        return bad("malformed Via");
    }
    if req.header_values("From").len() > 1 || req.header_values("To").len() > 1 {
        return bad("more than one From or To");
    }
    Ok(())
}
