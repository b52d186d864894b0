//! The router on top of the SIP layers: parses what the transport hands
//! over, passes responses to the client transactions, checks requests once
//! (their core headers), lets the server transactions absorb
//! retransmissions, and hands each new request to its handler: INVITE
//! outside a dialog, CANCEL ([`super::invite`]), requests in a dialog
//! ([`super::in_dialog`]), OPTIONS and the rest (here).

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use tokio::sync::mpsc;

use super::build::{self, ALLOW, SUPPORTED};
use super::dialog::{Dialogs, IncomingCall};
use super::extensions::{self, Demand};
use super::headers::{salvage_for_400, CoreHeaders, Invalid, TopVia};
use super::message::{self, Message, StartLine};
use super::timers::Timers;
use super::transaction::{Arrival, ClientTransactions, ServerTransactions, TxKey};
use super::transport::{Flow, Inbound, Transport};
use crate::media::ports::PortAllocator;
use crate::metrics::SipMetrics;

/// The methods the router hands to a handler (the rest get 501).
const IMPLEMENTED: &[&str] = &[
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE", "PRACK",
];

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
    /// Our Min-SE (RFC 4028): a shorter Session-Expires gets 422.
    pub min_se_secs: u32,
    /// Calls at once; an INVITE beyond gets 503 before a port or a task is
    /// taken (sip.max_calls).
    pub max_calls: usize,
    /// Server transactions at once; a new request beyond gets 503 without
    /// one (sip.max_transactions).
    pub max_transactions: usize,
    /// When calls use SRTP (media.srtp).
    pub srtp: crate::media::srtp::SrtpMode,
    /// SDES keys are taken from SIP over UDP and TCP too
    /// (media.srtp_allow_keys_in_cleartext), not only over TLS.
    pub srtp_keys_in_cleartext: bool,
}

impl SipSettings {
    /// The SRTP terms for an offer that arrived on `flow`, answered with
    /// `our_key`: SDES keys only from TLS (RFC 4568 §8.3), unless allowed.
    pub fn srtp_terms(
        &self,
        flow: &Flow,
        our_key: crate::media::srtp::MasterKey,
    ) -> super::sdp::SrtpTerms {
        super::sdp::SrtpTerms {
            mode: self.srtp,
            keys_allowed: flow.is_tls() || self.srtp_keys_in_cleartext,
            our_key,
        }
    }
}

/// How long a peer refused for want of room waits before trying again
/// (RFC 3261 §21.5.4: 503 with Retry-After).
pub const BUSY_RETRY_AFTER_SECS: u32 = 5;

/// A response's status code and reason phrase.
pub type Status<'a> = (u16, &'a str);

/// A request that passed the checks of RFC 3261 §8.2, with what every
/// handler needs.
pub struct Request {
    pub msg: Message,
    pub core: CoreHeaders,
    /// The flow it arrived on.
    pub flow: Flow,
    /// Where its responses go (§18.2.2).
    pub reply_to: Flow,
    /// The local address it arrived on, when the transport knows it.
    pub local_ip: Option<IpAddr>,
    /// Its server transaction (an ACK's: the INVITE it acknowledges).
    pub tx: TxKey,
}

#[derive(Clone)]
pub struct Endpoint {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub transport: Transport,
    pub settings: SipSettings,
    pub ports: PortAllocator,
    pub server: ServerTransactions,
    pub client: ClientTransactions,
    pub dialogs: Dialogs,
    pub new_calls: mpsc::Sender<IncomingCall>,
    pub draining: AtomicBool,
    pub session_ids: AtomicU64,
    /// Replaced on configuration reload.
    pub allowed: std::sync::RwLock<Vec<IpNet>>,
    pub stats: SipMetrics,
}

impl Endpoint {
    pub fn new(
        transport: Transport,
        settings: SipSettings,
        ports: PortAllocator,
        new_calls: mpsc::Sender<IncomingCall>,
        stats: SipMetrics,
    ) -> Endpoint {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1);
        let timers = settings.timers;
        Endpoint {
            inner: Arc::new(Inner {
                server: ServerTransactions::new(transport.clone(), timers, stats.clone()),
                client: ClientTransactions::new(transport.clone(), timers, stats.clone()),
                transport,
                allowed: std::sync::RwLock::new(settings.allowed_networks.clone()),
                settings,
                ports,
                dialogs: Dialogs::default(),
                new_calls,
                draining: AtomicBool::new(false),
                session_ids: AtomicU64::new(seed),
                stats,
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

    /// New TLS connections use `ctx` (a certificate reload); false when
    /// TLS is off.
    pub fn reload_tls(&self, ctx: super::tls::TlsContext) -> bool {
        self.inner.transport.reload_tls(ctx)
    }

    pub fn active_dialogs(&self) -> usize {
        self.inner.dialogs.count()
    }

    /// Receives and handles messages until the transport closes.
    pub async fn run(self, mut inbound: mpsc::Receiver<Inbound>) {
        let server = self.inner.server.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                server.sweep(Instant::now());
            }
        });
        while let Some(msg) = inbound.recv().await {
            self.handle(msg).await;
        }
    }

    async fn handle(&self, inbound: Inbound) {
        let stats = &self.inner.stats;
        let msg = match message::parse(&inbound.data, inbound.flow.is_udp()) {
            Ok(m) => m,
            Err(e) => {
                stats.dropped();
                tracing::debug!(peer = %inbound.flow.peer(), error = %e, "unparsable SIP message dropped");
                // A request whose framing we can read but whose headers are
                // broken still deserves a 400 if we can address one (§21.4.1).
                if let Some(shell) = salvage_for_400(&inbound.data) {
                    let reason = format!("Bad Request ({})", sanitize_reason(&e.0));
                    self.respond_without_tx(&shell, inbound.flow, (400, &reason))
                        .await;
                }
                return;
            }
        };
        if let StartLine::Response { code, .. } = &msg.start {
            stats.response_in(*code);
            if let Some(branch) = TopVia::of(&msg).and_then(|v| v.branch) {
                self.inner.client.response(&branch, *code);
            }
            return;
        }
        if let Some(method) = msg.method() {
            stats.request_in(method);
        }
        let core = match CoreHeaders::of_request(&msg) {
            Ok(core) => core,
            Err(Invalid::Unanswerable) => {
                stats.dropped();
                return;
            }
            Err(Invalid::Respond(code, reason)) => {
                if msg.method() != Some("ACK") {
                    self.respond_without_tx(&msg, inbound.flow, (code, &reason))
                        .await;
                }
                return;
            }
        };
        let tx = TxKey::of(&core);
        let is_ack = core.method == "ACK";
        // Nothing is kept for a source that may not call: its requests are
        // answered statelessly (an INVITE with 403, in `accept`), without a
        // server transaction, so a flood of branches from it holds no
        // memory.
        let stateful = self.allowed(inbound.flow.peer().ip());
        // RFC 3261 §17.2.3: retransmissions are absorbed by their transaction.
        if !is_ack && stateful {
            match self.inner.server.arrival(&tx) {
                Arrival::New => {
                    if !self
                        .inner
                        .server
                        .begin(tx.clone(), self.inner.settings.max_transactions)
                    {
                        tracing::warn!(peer = %inbound.flow.peer(), limit = self.inner.settings.max_transactions, "server transactions full: 503");
                        let extra = [("Retry-After", BUSY_RETRY_AFTER_SECS.to_string())];
                        self.respond_without_tx_extra(
                            &msg,
                            inbound.flow,
                            (503, "Service Unavailable"),
                            &extra,
                        )
                        .await;
                        return;
                    }
                }
                Arrival::Pending => return,
                Arrival::Replay(flow, resp) => {
                    super::retransmit::send(&self.inner.transport, flow, resp).await;
                    return;
                }
            }
        }
        let req = Request {
            reply_to: build::response_flow(&core.via, inbound.flow),
            msg,
            core,
            flow: inbound.flow,
            local_ip: inbound.local_ip,
            tx,
        };
        if !self.demands_met(&req).await {
            return;
        }
        let in_dialog = req.core.to_tag.is_some();
        match req.core.method.as_str() {
            "INVITE" if !in_dialog => self.on_invite(req).await,
            "INVITE" | "UPDATE" => self.on_reoffer(req).await,
            "ACK" => self.on_ack(req).await,
            "BYE" => self.on_bye(req).await,
            "CANCEL" => self.on_cancel(req).await,
            "INFO" => self.on_info(req).await,
            "PRACK" => self.on_prack(req).await,
            "OPTIONS" => {
                let extra = [
                    ("Allow", ALLOW.to_string()),
                    (
                        "Accept",
                        "application/sdp, application/dtmf-relay, application/dtmf".to_string(),
                    ),
                    ("Supported", SUPPORTED.to_string()),
                ];
                self.answer(&req, (200, "OK"), &extra, None).await;
            }
            _ => {
                // RFC 3261 §8.2.1: a method we do not implement.
                let extra = [("Allow", ALLOW.to_string())];
                self.answer(&req, (501, "Not Implemented"), &extra, None)
                    .await;
            }
        }
    }

    /// RFC 3261 §8.2.2.3 and §8.2.3, for every method we implement but ACK
    /// and CANCEL (an unknown method gets 501 first, §8.2.1): 420 for an
    /// extension we lack, 406 when Accept excludes the SDP our 2xx carries.
    /// False when the request was refused.
    async fn demands_met(&self, req: &Request) -> bool {
        let method = req.core.method.as_str();
        if matches!(method, "ACK" | "CANCEL") || !IMPLEMENTED.contains(&method) {
            return true;
        }
        let answer_has_sdp = method == "INVITE" || (method == "UPDATE" && !req.msg.body.is_empty());
        match extensions::check(&req.msg, answer_has_sdp) {
            Ok(()) => true,
            Err(Demand::Unsupported(tags)) => {
                let extra = [("Unsupported", tags.join(", "))];
                self.answer(req, (420, "Bad Extension"), &extra, None).await;
                false
            }
            Err(Demand::NotAcceptable) => {
                let extra = [("Accept", "application/sdp".to_string())];
                self.answer(req, (406, "Not Acceptable"), &extra, None)
                    .await;
                false
            }
        }
    }

    /// A response to a request that has no transaction (it failed the
    /// checks), with a fresh To tag.
    async fn respond_without_tx(&self, req: &Message, flow: Flow, status: Status<'_>) {
        self.respond_without_tx_extra(req, flow, status, &[]).await;
    }

    async fn respond_without_tx_extra(
        &self,
        req: &Message,
        flow: Flow,
        status: Status<'_>,
        extra: &[(&str, String)],
    ) {
        let Some(via) = TopVia::of(req) else { return };
        let tag = build::new_tag();
        let resp = build::response(req, flow, status, Some(&tag), extra, None);
        let reply_to = build::response_flow(&via, flow);
        self.inner
            .server
            .respond(None, reply_to, status.0, resp)
            .await;
    }

    /// Sends a response through the request's transaction, so that
    /// retransmissions get the same answer (RFC 3261 §17.2.2). `to_tag` is
    /// added to a To without one (not to a 100, §8.2.6.2).
    pub(super) async fn respond(
        &self,
        req: &Request,
        status: Status<'_>,
        to_tag: Option<&str>,
        extra: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) {
        let resp = build::response(&req.msg, req.flow, status, to_tag, extra, body);
        // RFC 3261 §18.2.2: when the connection is gone, a new one.
        let reply_to = match super::reconnect::for_response(
            &self.inner.transport,
            req.reply_to,
            &req.core.via,
        )
        .await
        {
            Ok(flow) => flow,
            Err(e) => {
                tracing::debug!(peer = %req.reply_to.peer(), error = %e, "cannot reach the client for a response");
                req.reply_to
            }
        };
        self.inner
            .server
            .respond(Some(&req.tx), reply_to, status.0, resp)
            .await;
    }

    /// A response outside any dialog of ours: with a fresh To tag.
    pub(super) async fn answer(
        &self,
        req: &Request,
        status: Status<'_>,
        extra: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) {
        let tag = build::new_tag();
        self.respond(req, status, Some(&tag), extra, body).await;
    }

    /// A response with no extra headers and no body.
    pub(super) async fn reply(&self, req: &Request, status: Status<'_>) {
        self.answer(req, status, &[], None).await;
    }
}

/// Keeps a reason phrase to one printable line.
pub(super) fn sanitize_reason(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(80).collect()
}
