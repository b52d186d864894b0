//! SIP over UDP and TCP on one port (RFC 3261 §18).
//!
//! Every received message is handed on as an [`Inbound`] together with the
//! flow it came on, so that responses and in-dialog requests go back the same
//! way (the flow is what gets through NAT).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::message::{header_end, MAX_MESSAGE};

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
    tcp: Arc<Mutex<HashMap<SocketAddr, mpsc::Sender<Bytes>>>>,
    local: SocketAddr,
    inbound: mpsc::Sender<Inbound>,
}

/// Queue depth per TCP connection before a slow peer is dropped.
const TCP_QUEUE: usize = 256;

impl Transport {
    /// Binds UDP and TCP on `addr` and starts receiving.
    pub async fn bind(addr: SocketAddr) -> io::Result<(Transport, mpsc::Receiver<Inbound>)> {
        let udp = UdpSocket::bind(addr).await?;
        let local = udp.local_addr()?;
        let listener = TcpListener::bind(local).await?;
        let (tx, rx) = mpsc::channel(4096);
        let transport = Transport {
            udp: Arc::new(udp),
            tcp: Arc::new(Mutex::new(HashMap::new())),
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
                    let _ = stream.set_nodelay(true);
                    self.clone().start_connection(stream, peer);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "tcp accept");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn start_connection(self, stream: TcpStream, peer: SocketAddr) -> mpsc::Sender<Bytes> {
        let local_ip = stream
            .local_addr()
            .map(|a| a.ip())
            .unwrap_or(self.local.ip());
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Bytes>(TCP_QUEUE);
        if let Ok(mut map) = self.tcp.lock() {
            map.insert(peer, tx.clone());
        }
        tokio::spawn(async move {
            while let Some(data) = rx.recv().await {
                if wr.write_all(&data).await.is_err() {
                    break;
                }
            }
        });
        let me = self.clone();
        tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::with_capacity(4096);
            let mut chunk = vec![0u8; 16384];
            'conn: loop {
                match rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                loop {
                    match next_frame(&mut buf) {
                        Frame::Message(data) => {
                            let inbound = Inbound {
                                data,
                                flow: Flow::Tcp(peer),
                                local_ip: Some(local_ip),
                            };
                            if me.inbound.send(inbound).await.is_err() {
                                break 'conn;
                            }
                        }
                        Frame::Incomplete => break,
                        Frame::Invalid => {
                            tracing::debug!(%peer, "tcp stream framing broken; closing");
                            break 'conn;
                        }
                    }
                }
            }
            if let Ok(mut map) = me.tcp.lock() {
                map.remove(&peer);
            }
        });
        tx
    }

    /// Sends one message on a flow. For TCP the existing connection is used,
    /// or a new one opened when the peer closed it.
    pub async fn send(&self, flow: Flow, data: Bytes) -> io::Result<()> {
        match flow {
            Flow::Udp(addr) => self.udp.send_to(&data, addr).await.map(|_| ()),
            Flow::Tcp(addr) => {
                let existing = self.tcp.lock().ok().and_then(|m| m.get(&addr).cloned());
                let tx = match existing {
                    Some(tx) => tx,
                    None => {
                        let stream = tokio::time::timeout(
                            std::time::Duration::from_secs(5),
                            TcpStream::connect(addr),
                        )
                        .await
                        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "tcp connect"))??;
                        self.clone().start_connection(stream, addr)
                    }
                };
                tx.try_send(data)
                    .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "tcp connection gone"))
            }
        }
    }
}

enum Frame {
    Message(Bytes),
    Incomplete,
    Invalid,
}

/// RFC 3261 §18.3: on a stream, Content-Length delimits the body.
fn next_frame(buf: &mut Vec<u8>) -> Frame {
    // Keep-alive CRLFs between messages are skipped.
    let lead = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    if lead > 0 {
        buf.drain(..lead);
    }
    if buf.is_empty() {
        return Frame::Incomplete;
    }
    let Some(end) = header_end(buf) else {
        return if buf.len() > MAX_MESSAGE {
            Frame::Invalid
        } else {
            Frame::Incomplete
        };
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut len = 0usize;
    for line in head.lines() {
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
                match value.trim().parse() {
                    Ok(n) => len = n,
                    Err(_) => return Frame::Invalid,
                }
            }
        }
    }
    if end + len > MAX_MESSAGE {
        return Frame::Invalid;
    }
    if buf.len() < end + len {
        return Frame::Incomplete;
    }
    let msg: Vec<u8> = buf.drain(..end + len).collect();
    Frame::Message(Bytes::from(msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_joined_messages() {
        let one = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";
        let mut buf = Vec::new();
        buf.extend_from_slice(b"\r\n\r\n");
        buf.extend_from_slice(one);
        buf.extend_from_slice(&one[..10]);
        match next_frame(&mut buf) {
            Frame::Message(m) => assert_eq!(&m[..], &one[..]),
            _ => panic!("expected a message"),
        }
        assert!(matches!(next_frame(&mut buf), Frame::Incomplete));
        buf.extend_from_slice(&one[10..]);
        assert!(matches!(next_frame(&mut buf), Frame::Message(_)));
        let mut bad = b"X sip:a SIP/2.0\r\nl: x\r\n\r\n".to_vec();
        assert!(matches!(next_frame(&mut bad), Frame::Invalid));
    }
}
