//! SIP over UDP and TCP on one port (RFC 3261 §18); each TCP connection is
//! run, framed and bounded by [`super::connection`].
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

/// Where a message came from, and so where its answer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    Udp(SocketAddr),
    Tcp(SocketAddr),
}

impl Flow {
    pub fn peer(&self) -> SocketAddr {
        match self {
            Flow::Udp(a) | Flow::Tcp(a) => *a,
        }
    }

    pub fn is_udp(&self) -> bool {
        matches!(self, Flow::Udp(_))
    }

    /// The transport token for Via and Contact.
    pub fn token(&self) -> &'static str {
        match self {
            Flow::Udp(_) => "UDP",
            Flow::Tcp(_) => "TCP",
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
        let udp = UdpSocket::bind(addr).await?;
        let local = udp.local_addr()?;
        let listener = TcpListener::bind(local).await?;
        let (tx, rx) = mpsc::channel(4096);
        let transport = Transport {
            udp: Arc::new(udp),
            conns: Connections::new(limits),
            local,
            inbound: tx,
        };
        tokio::spawn(transport.clone().udp_loop());
        tokio::spawn(transport.clone().accept_loop(listener));
        Ok((transport, rx))
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
            match listener.accept().await {
                Ok((stream, peer)) => {
                    // Over a cap, the connection is closed at once (dropped).
                    let slot = match self.conns.admit(peer) {
                        Ok(slot) => slot,
                        Err(why) => {
                            self.conns.log_refused(peer, &why);
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    self.start_tcp(stream, peer, slot);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "tcp accept");
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

    /// Sends one message on a flow. For TCP the existing connection is used,
    /// or a new one opened when the peer closed it.
    pub async fn send(&self, flow: Flow, data: Bytes) -> io::Result<()> {
        match flow {
            Flow::Udp(addr) => self.udp.send_to(&data, addr).await.map(|_| ()),
            Flow::Tcp(addr) => {
                let tx = match self.conns.sender(flow) {
                    Some(tx) => tx,
                    None => {
                        let slot = self
                            .conns
                            .admit(addr)
                            .map_err(|why| io::Error::other(why.to_string()))?;
                        let stream =
                            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
                                .await
                                .map_err(|_| {
                                    io::Error::new(io::ErrorKind::TimedOut, "tcp connect")
                                })??;
                        let _ = stream.set_nodelay(true);
                        self.start_tcp(stream, addr, slot)
                    }
                };
                tx.try_send(data)
                    .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "tcp connection gone"))
            }
        }
    }
}
