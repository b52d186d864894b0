//! SIP over UDP and TCP on one port (RFC 3261 §18), and TLS on another
//! (§26.2, with [`super::tls`]); each TCP or TLS connection is run, framed
//! and bounded by [`super::connection`].
//!
//! Every received message is handed on as an [`Inbound`] together with the
//! flow it came on, so that responses and in-dialog requests go back the same
//! way (the flow is what gets through NAT).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::connection::{ConnectionLimits, Connections, Slot};
use super::tls::{TlsContext, TlsState};

/// Where a message came from, and so where its answer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    Udp(SocketAddr),
    Tcp(SocketAddr),
    Tls(SocketAddr),
}

impl Flow {
    pub fn peer(&self) -> SocketAddr {
        match self {
            Flow::Udp(a) | Flow::Tcp(a) | Flow::Tls(a) => *a,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Flow::Tls(_))
    }

    pub fn is_udp(&self) -> bool {
        matches!(self, Flow::Udp(_))
    }

    /// The transport token for Via and Contact.
    pub fn token(&self) -> &'static str {
        match self {
            Flow::Udp(_) => "UDP",
            Flow::Tcp(_) => "TCP",
            Flow::Tls(_) => "TLS",
        }
    }
}

/// One received message, not yet parsed.
pub struct Inbound {
    pub data: Bytes,
    pub flow: Flow,
    /// The local address it arrived on, where known without a syscall (TCP);
    /// for UDP see [`Transport::local_ip_towards`].
    pub local_ip: Option<IpAddr>,
}

#[derive(Clone)]
pub struct Transport {
    udp: Arc<UdpSocket>,
    conns: Connections,
    local: SocketAddr,
    /// The TLS listener's address and what it hands out, when TLS is on.
    tls: Option<(SocketAddr, TlsState)>,
    inbound: mpsc::Sender<Inbound>,
}

/// How long connecting to a peer may take before a send fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Transport {
    /// Binds UDP and TCP on `addr` and starts receiving; TCP connections
    /// are bounded by `limits`.
    pub async fn bind(
        addr: SocketAddr,
        limits: ConnectionLimits,
    ) -> io::Result<(Transport, mpsc::Receiver<Inbound>)> {
        Transport::bind_with_tls(addr, limits, None).await
    }

    /// Binds UDP and TCP on `addr` and, with `tls`, a TLS listener on its
    /// address (RFC 3261 §26.2.1: 5061 is the usual port).
    pub async fn bind_with_tls(
        addr: SocketAddr,
        limits: ConnectionLimits,
        tls: Option<(SocketAddr, TlsContext)>,
    ) -> io::Result<(Transport, mpsc::Receiver<Inbound>)> {
        let udp = UdpSocket::bind(addr).await?;
        let local = udp.local_addr()?;
        let listener = TcpListener::bind(local).await?;
        let tls_listener = match tls {
            Some((addr, ctx)) => {
                let l = TcpListener::bind(addr).await?;
                Some((l.local_addr()?, l, TlsState::new(ctx)))
            }
            None => None,
        };
        let (tx, rx) = mpsc::channel(4096);
        let transport = Transport {
            udp: Arc::new(udp),
            conns: Connections::new(limits),
            local,
            tls: tls_listener
                .as_ref()
                .map(|(addr, _, state)| (*addr, state.clone())),
            inbound: tx,
        };
        tokio::spawn(transport.clone().udp_loop());
        tokio::spawn(transport.clone().accept_loop(listener));
        if let Some((_, l, state)) = tls_listener {
            tokio::spawn(transport.clone().tls_accept_loop(l, state));
        }
        Ok((transport, rx))
    }

    /// The TLS listener's address, when TLS is on.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().map(|(a, _)| *a)
    }

    /// The port we listen on for `flow`'s transport (for Via and Contact).
    pub fn local_port(&self, flow: Flow) -> u16 {
        match (flow, self.tls_addr()) {
            (Flow::Tls(_), Some(a)) => a.port(),
            _ => self.local.port(),
        }
    }

    /// New TLS connections use `ctx` from now on (a certificate reload);
    /// open ones keep what they were made with.
    pub fn reload_tls(&self, ctx: TlsContext) -> bool {
        match &self.tls {
            Some((_, state)) => {
                state.replace(ctx);
                true
            }
            None => false,
        }
    }

    /// Whether a stream flow still has its connection (UDP: always).
    pub fn is_open(&self, flow: Flow) -> bool {
        flow.is_udp() || self.conns.sender(flow).is_some()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Open TCP (and TLS) connections.
    pub fn connections(&self) -> usize {
        self.conns.count()
    }

    /// The address this host uses towards `peer`: the listen address when it
    /// is specific, else what the routing table picks (no packet is sent).
    pub fn local_ip_towards(&self, peer: SocketAddr) -> IpAddr {
        if !self.local.ip().is_unspecified() {
            return self.local.ip();
        }
        let any: SocketAddr = if peer.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        std::net::UdpSocket::bind(any)
            .and_then(|s| {
                s.connect(peer)?;
                s.local_addr()
            })
            .map(|a| a.ip())
            .unwrap_or(self.local.ip())
    }

    async fn udp_loop(self) {
        let mut buf = vec![0u8; 65536];
        loop {
            match self.udp.recv_from(&mut buf).await {
                Ok((n, src)) => {
                    // RFC 5626 §3.5.1: CRLF keep-alives carry no message.
                    if buf[..n].iter().all(|b| b.is_ascii_whitespace()) {
                        continue;
                    }
                    let inbound = Inbound {
                        data: Bytes::copy_from_slice(&buf[..n]),
                        flow: Flow::Udp(src),
                        local_ip: None,
                    };
                    if self.inbound.send(inbound).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // ICMP port unreachable shows up here on some systems; keep going.
                    tracing::debug!(error = %e, "udp receive");
                }
            }
        }
    }

    async fn accept_loop(self, listener: TcpListener) {
        loop {
            let (stream, peer, slot) = self.accept_admitted(&listener, "tcp").await;
            self.start_tcp(stream, peer, slot);
        }
    }

    /// The next connection within the caps (TCP and TLS alike). One over a
    /// cap is closed at once (dropped) and logged; an accept error (out of
    /// descriptors, say) waits a little instead of spinning.
    async fn accept_admitted(
        &self,
        listener: &TcpListener,
        what: &'static str,
    ) -> (TcpStream, SocketAddr, Slot) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => match self.conns.admit(peer) {
                    Ok(slot) => {
                        let _ = stream.set_nodelay(true);
                        return (stream, peer, slot);
                    }
                    Err(why) => self.conns.log_refused(peer, &why),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "{what} accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn start_tcp(&self, stream: TcpStream, peer: SocketAddr, slot: Slot) -> mpsc::Sender<Bytes> {
        let local_ip = stream
            .local_addr()
            .map(|a| a.ip())
            .unwrap_or(self.local.ip());
        self.conns.start(
            stream,
            Flow::Tcp(peer),
            local_ip,
            slot,
            self.inbound.clone(),
        )
    }

    async fn tls_accept_loop(self, listener: TcpListener, state: TlsState) {
        loop {
            let (stream, peer, slot) = self.accept_admitted(&listener, "tls").await;
            // The handshake runs in its own task: a slow one holds up no
            // other connection.
            tokio::spawn(
                self.clone()
                    .tls_handshake(stream, peer, slot, state.current()),
            );
        }
    }

    /// The server side of a handshake, bounded in time; a failure closes the
    /// connection and is logged with the peer's address.
    async fn tls_handshake(
        self,
        stream: TcpStream,
        peer: SocketAddr,
        slot: Slot,
        ctx: Arc<TlsContext>,
    ) {
        let local_ip = stream
            .local_addr()
            .map(|a| a.ip())
            .unwrap_or(self.local.ip());
        let limit = self.conns.limits().handshake_time;
        let handshake = async {
            // A TLS connection opens with a handshake record (RFC 8446
            // §5.1: content type 22); a letter is a SIP request in clear.
            let mut first = [0u8; 1];
            match stream.peek(&mut first).await {
                Ok(0) | Err(_) => return Err("closed before the handshake".to_string()),
                Ok(_) if first[0] != 0x16 => {
                    return Err("not TLS (plaintext on the TLS port?)".to_string())
                }
                Ok(_) => {}
            }
            ctx.acceptor
                .accept(stream)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))
        };
        let tls = match tokio::time::timeout(limit, handshake).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(why)) => return self.conns.log_refused(peer, &why),
            Err(_) => {
                return self.conns.log_refused(
                    peer,
                    &"TLS handshake not finished within tls.handshake_timeout_ms",
                )
            }
        };
        if !ctx.client_name_ok(tls.get_ref().1.peer_certificates()) {
            return self
                .conns
                .log_refused(peer, &"client certificate carries none of tls.client_names");
        }
        self.conns
            .start(tls, Flow::Tls(peer), local_ip, slot, self.inbound.clone());
    }

    /// Opens a new connection of `flow`'s kind to `addr`, verifying a TLS
    /// server against `name` (RFC 5922 §7.2: the host of the URI we are
    /// reaching). Returns the flow of the new connection.
    pub async fn connect(&self, flow: Flow, addr: SocketAddr, name: &str) -> io::Result<Flow> {
        if flow.is_udp() {
            return Ok(Flow::Udp(addr));
        }
        let slot = self
            .conns
            .admit(addr)
            .map_err(|why| io::Error::other(why.to_string()))?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect"))??;
        let _ = stream.set_nodelay(true);
        let local_ip = stream
            .local_addr()
            .map(|a| a.ip())
            .unwrap_or(self.local.ip());
        if !flow.is_tls() {
            self.start_tcp(stream, addr, slot);
            return Ok(Flow::Tcp(addr));
        }
        let Some((_, state)) = &self.tls else {
            return Err(io::Error::other("TLS is off (no sip_tls_listen)"));
        };
        let server = rustls::pki_types::ServerName::try_from(name.to_string())
            .map_err(|_| io::Error::other(format!("'{name}' is not a server name")))?;
        let handshake = state.current().connector.connect(server, stream);
        let tls = tokio::time::timeout(self.conns.limits().handshake_time, handshake)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake"))??;
        self.conns
            .start(tls, Flow::Tls(addr), local_ip, slot, self.inbound.clone());
        Ok(Flow::Tls(addr))
    }

    /// Sends one message on a flow. For TCP and TLS the existing connection
    /// is used, or a new one opened to the flow's address when it is gone.
    pub async fn send(&self, flow: Flow, data: Bytes) -> io::Result<()> {
        match flow {
            Flow::Udp(addr) => self.udp.send_to(&data, addr).await.map(|_| ()),
            Flow::Tcp(addr) | Flow::Tls(addr) => {
                let tx = match self.conns.sender(flow) {
                    Some(tx) => tx,
                    None => {
                        self.connect(flow, addr, &addr.ip().to_string()).await?;
                        self.conns.sender(flow).ok_or_else(|| {
                            io::Error::new(io::ErrorKind::BrokenPipe, "connection gone")
                        })?
                    }
                };
                tx.try_send(data)
                    .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "connection gone"))
            }
        }
    }
}
