//! Stream connections (TCP, and TLS on top of TCP): what one connection may
//! cost. Anyone who can reach the port can open connections and send bytes
//! slowly, so every connection is admitted against a total and a per-source
//! cap, is closed when idle, and may hold only one partial message of bounded
//! size that must arrive within a bounded time (the slowloris attack).
//!
//! One reader task frames messages out of the byte stream by Content-Length
//! (RFC 3261 §18.3) and answers CRLF keep-alives (RFC 5626 §4.4.1); one
//! writer task sends what the endpoint queues for the connection.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::message::{header_end, MAX_MESSAGE};
use super::transport::{Flow, Inbound};

/// Queue depth per connection before a slow peer is dropped.
const QUEUE: usize = 256;

/// How long a connection whose framing broke stays open for the 400.
const FRAMING_ERROR_LINGER: Duration = Duration::from_secs(1);

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// At most one warning per this interval about refused or closed
/// connections, so a flood cannot flood the log as well.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The bounds on stream connections ([sip] in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Open connections, TCP and TLS together, accepted and our own.
    pub max_total: usize,
    /// Open connections from one IP address.
    pub max_per_source: usize,
    /// No byte in either direction for this long closes a connection; a
    /// peer keeps it open with CRLF keep-alives (RFC 5626 §4.4.1).
    pub idle: Duration,
    /// The largest message (headers and body) a peer may send.
    pub max_message: usize,
    /// How long a message may take from its first byte to its last.
    pub message_time: Duration,
    /// How long a TLS handshake may take.
    pub handshake_time: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_total: 2048,
            max_per_source: 512,
            idle: Duration::from_secs(900),
            max_message: MAX_MESSAGE,
            message_time: Duration::from_secs(10),
            handshake_time: Duration::from_secs(10),
        }
    }
}

/// Why a connection was refused or closed, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    TooMany,
    TooManyFromSource,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::TooMany => "connection limit (sip.max_connections) reached",
            Refusal::TooManyFromSource => {
                "per-source connection limit (sip.max_connections_per_source) reached"
            }
        })
    }
}

/// The open connections: where to send on a flow, and the counts the caps
/// are checked against.
#[derive(Clone)]
pub struct Connections {
    inner: Arc<Shared>,
}

struct Shared {
    limits: ConnectionLimits,
    state: Mutex<State>,
    /// When a refusal or close was last logged (ms since `epoch`).
    last_log: AtomicU64,
    epoch: Instant,
}

#[derive(Default)]
struct State {
    senders: HashMap<Flow, mpsc::Sender<Bytes>>,
    per_source: HashMap<IpAddr, usize>,
    total: usize,
}

/// One admitted connection's place in the counts, given back when dropped.
pub struct Slot {
    conns: Connections,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut s) = self.conns.inner.state.lock() {
            s.total = s.total.saturating_sub(1);
            if let Some(n) = s.per_source.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    s.per_source.remove(&self.ip);
                }
            }
        }
    }
}

impl Connections {
    pub fn new(limits: ConnectionLimits) -> Connections {
        Connections {
            inner: Arc::new(Shared {
                limits,
                state: Mutex::new(State::default()),
                last_log: AtomicU64::new(u64::MAX),
                epoch: Instant::now(),
            }),
        }
    }

    pub fn limits(&self) -> &ConnectionLimits {
        &self.inner.limits
    }

    /// A place for one more connection from `peer`, if the caps allow it.
    pub fn admit(&self, peer: SocketAddr) -> Result<Slot, Refusal> {
        let limits = &self.inner.limits;
        let mut s = self.inner.state.lock().map_err(|_| Refusal::TooMany)?;
        if s.total >= limits.max_total {
            return Err(Refusal::TooMany);
        }
        let ip = canonical(peer.ip());
        let n = s.per_source.entry(ip).or_insert(0);
        if *n >= limits.max_per_source {
            return Err(Refusal::TooManyFromSource);
        }
        *n += 1;
        s.total += 1;
        Ok(Slot {
            conns: self.clone(),
            ip,
        })
    }

    /// Open connections.
    pub fn count(&self) -> usize {
        self.inner.state.lock().map(|s| s.total).unwrap_or(0)
    }

    /// The queue of the open connection on `flow`, if there is one.
    pub fn sender(&self, flow: Flow) -> Option<mpsc::Sender<Bytes>> {
        self.inner.state.lock().ok()?.senders.get(&flow).cloned()
    }

    /// Logs a refused or closed connection with its peer, at most once per
    /// [`LOG_INTERVAL`] (a flood of them is one line, not thousands).
    pub fn log_refused(&self, peer: SocketAddr, why: &dyn std::fmt::Display) {
        let now = self.inner.epoch.elapsed().as_millis() as u64;
        let last = self.inner.last_log.load(Ordering::Relaxed);
        let due = last == u64::MAX || now.saturating_sub(last) >= LOG_INTERVAL.as_millis() as u64;
        if due
            && self
                .inner
                .last_log
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%peer, "SIP connection closed: {why}");
        } else {
            tracing::debug!(%peer, "SIP connection closed: {why}");
        }
    }

    /// Runs an admitted connection: a writer task for what is queued to
    /// `flow`, and a reader task that hands each framed message to
    /// `inbound`. Returns the queue.
    pub fn start<S>(
        &self,
        stream: S,
        flow: Flow,
        local_ip: IpAddr,
        slot: Slot,
        inbound: mpsc::Sender<Inbound>,
    ) -> mpsc::Sender<Bytes>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
        if let Ok(mut s) = self.inner.state.lock() {
            s.senders.insert(flow, tx.clone());
        }
        let epoch = Instant::now();
        // Milliseconds since `epoch` of the last byte written, so that a
        // connection we send on is not idle.
        let last_write = Arc::new(AtomicU64::new(0));
        let written = last_write.clone();
        tokio::spawn(async move {
            while let Some(data) = rx.recv().await {
                if wr.write_all(&data).await.is_err() || wr.flush().await.is_err() {
                    break;
                }
                written.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
            let _ = wr.shutdown().await;
        });
        let me = self.clone();
        let pong = tx.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let reader = Reader {
                limits: me.inner.limits,
                flow,
                local_ip,
                epoch,
                last_write,
            };
            let end = reader.run(&mut rd, &inbound, &pong).await;
            match end {
                End::Gone => tracing::debug!(peer = %flow.peer(), "SIP connection closed by peer"),
                End::Idle => tracing::debug!(peer = %flow.peer(), "idle SIP connection closed"),
                other => me.log_refused(flow.peer(), &other),
            }
            if let Ok(mut s) = me.inner.state.lock() {
                // Only our own entry: a newer connection may have the flow.
                if s.senders.get(&flow).is_some_and(|t| t.same_channel(&pong)) {
                    s.senders.remove(&flow);
                }
            }
        });
        tx
    }
}

/// An IPv4 peer reached over an IPv6 socket counts as its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// How a connection's reading ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The peer closed it, or the endpoint stopped.
    Gone,
    /// Nothing in either direction for `limits.idle`.
    Idle,
    /// A message started but not finished within `limits.message_time`.
    SlowMessage,
    /// A message larger than `limits.max_message`.
    TooLarge,
    /// Bytes that are not SIP framing (no usable Content-Length).
    Garbage,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            End::Gone => "closed by the peer",
            End::Idle => "idle",
            End::SlowMessage => "a message took longer than sip.message_timeout_ms to arrive",
            End::TooLarge => "a message larger than sip.max_message_bytes",
            End::Garbage => "the stream is not SIP (framing broken)",
        })
    }
}

struct Reader {
    limits: ConnectionLimits,
    flow: Flow,
    local_ip: IpAddr,
    epoch: Instant,
    last_write: Arc<AtomicU64>,
}

impl Reader {
    async fn run<R: AsyncRead + Unpin>(
        &self,
        rd: &mut R,
        inbound: &mpsc::Sender<Inbound>,
        pong: &mpsc::Sender<Bytes>,
    ) -> End {
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; READ_CHUNK];
        let mut last_read = Instant::now();
        // When the partial message in `buf` began to arrive.
        let mut started: Option<Instant> = None;
        loop {
            let deadline = match started {
                Some(t) => t + self.limits.message_time,
                None => self.last_activity(last_read) + self.limits.idle,
            };
            let n = match tokio::time::timeout_at(deadline.into(), rd.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return End::Gone,
                Ok(Ok(n)) => n,
                Err(_) if started.is_some() => return End::SlowMessage,
                // Our own sending may have kept it alive meanwhile.
                Err(_) if self.last_activity(last_read) + self.limits.idle > Instant::now() => {
                    continue
                }
                Err(_) => return End::Idle,
            };
            last_read = Instant::now();
            buf.extend_from_slice(&chunk[..n]);
            let mut completed = false;
            loop {
                match next_frame(&mut buf, self.limits.max_message) {
                    Frame::Message(data) => {
                        completed = true;
                        let msg = Inbound {
                            data,
                            flow: self.flow,
                            local_ip: Some(self.local_ip),
                        };
                        if inbound.send(msg).await.is_err() {
                            return End::Gone;
                        }
                    }
                    // RFC 5626 §4.4.1: a double CRLF is answered with one.
                    Frame::Ping => {
                        let _ = pong.try_send(Bytes::from_static(b"\r\n"));
                    }
                    Frame::Incomplete => break,
                    Frame::TooLarge => return End::TooLarge,
                    Frame::Invalid(head) => {
                        // RFC 3261 §18.3: the stream cannot be read past
                        // this message. Its headers go up for a 400 (the
                        // endpoint's parser finds the same fault); the
                        // connection stays open a moment for it.
                        let msg = Inbound {
                            data: head,
                            flow: self.flow,
                            local_ip: Some(self.local_ip),
                        };
                        if inbound.send(msg).await.is_ok() {
                            tokio::time::sleep(FRAMING_ERROR_LINGER).await;
                        }
                        return End::Garbage;
                    }
                }
            }
            let partial = buf.iter().any(|b| *b != b'\r' && *b != b'\n');
            started = match (partial, started, completed) {
                (false, _, _) => None,
                // A message that began in this read (after a complete one,
                // or in an empty buffer) began now.
                (true, Some(t), false) => Some(t),
                (true, _, _) => Some(last_read),
            };
        }
    }

    /// The later of the last read and the last write.
    fn last_activity(&self, last_read: Instant) -> Instant {
        let written = self.epoch + Duration::from_millis(self.last_write.load(Ordering::Relaxed));
        last_read.max(written)
    }
}

#[derive(Debug)]
pub(crate) enum Frame {
    Message(Bytes),
    /// A CRLF keep-alive to answer.
    Ping,
    Incomplete,
    TooLarge,
    /// No usable Content-Length: the header section of the message at
    /// fault, after which the stream cannot be framed.
    Invalid(Bytes),
}

/// RFC 3261 §18.3: on a stream, Content-Length delimits the body. Between
/// messages, a double CRLF is a keep-alive ping and a single one a pong or
/// an old-style keep-alive (RFC 5626 §3.5.1), skipped.
pub(crate) fn next_frame(buf: &mut Vec<u8>, max_message: usize) -> Frame {
    let lead = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    if lead > 0 {
        let ping = buf[..lead].windows(4).any(|w| w == b"\r\n\r\n");
        if ping {
            buf.drain(..lead);
            return Frame::Ping;
        }
        if lead == buf.len() {
            // A lone CRLF may be the first half of a ping still arriving.
            if lead >= 4 {
                buf.clear();
            }
            return Frame::Incomplete;
        }
        buf.drain(..lead);
    }
    if buf.is_empty() {
        return Frame::Incomplete;
    }
    let Some(end) = header_end(buf) else {
        return if buf.len() > max_message {
            Frame::TooLarge
        } else {
            Frame::Incomplete
        };
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let invalid = || Frame::Invalid(Bytes::copy_from_slice(&buf[..end]));
    // A value that is not a number, or two different values (RFC 3261
    // §20.14), leave the body's end unknown.
    let mut len: Option<usize> = None;
    // Not the start line, and not a folded continuation (RFC 3261 §7.3.1:
    // a line starting with SP or HT belongs to the header above it), which
    // the parser reads as part of that header's value.
    for line in head.lines().skip(1) {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
                match value.trim().parse() {
                    Ok(n) if len.is_none_or(|l| l == n) => len = Some(n),
                    _ => return invalid(),
                }
            }
        }
    }
    let len = len.unwrap_or(0);
    if end.saturating_add(len) > max_message {
        return Frame::TooLarge;
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

    /// Found by the tcp_framing fuzz target: a folded line that reads
    /// like a Content-Length is part of the header above it for the
    /// parser, so the framer must not take it as the body's length.
    #[test]
    fn a_folded_line_is_not_a_content_length() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: hi\r\n Content-Length: 3\r\n\r\n";
        let mut buf = msg.to_vec();
        buf.extend_from_slice(b"abc");
        match next_frame(&mut buf, MAX_MESSAGE) {
            Frame::Message(m) => {
                assert_eq!(&m[..], &msg[..]);
                let parsed = crate::sip::message::parse(&m, false).expect("parses");
                assert!(parsed.body.is_empty());
            }
            f => panic!("expected a message, got {f:?}"),
        }
        assert_eq!(&buf[..], b"abc");
    }

    #[test]
    fn frames_split_and_joined_messages() {
        let one = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";
        let mut buf = Vec::new();
        buf.extend_from_slice(b"\r\n");
        buf.extend_from_slice(one);
        buf.extend_from_slice(&one[..10]);
        match next_frame(&mut buf, MAX_MESSAGE) {
            Frame::Message(m) => assert_eq!(&m[..], &one[..]),
            f => panic!("expected a message, got {f:?}"),
        }
        assert!(matches!(
            next_frame(&mut buf, MAX_MESSAGE),
            Frame::Incomplete
        ));
        buf.extend_from_slice(&one[10..]);
        assert!(matches!(
            next_frame(&mut buf, MAX_MESSAGE),
            Frame::Message(_)
        ));
        let mut bad = b"X sip:a SIP/2.0\r\nl: x\r\n\r\n".to_vec();
        assert!(matches!(
            next_frame(&mut bad, MAX_MESSAGE),
            Frame::Invalid(_)
        ));
        let mut two = b"X sip:a SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nab".to_vec();
        match next_frame(&mut two, MAX_MESSAGE) {
            Frame::Invalid(head) => assert!(head.ends_with(b"\r\n\r\n")),
            other => panic!("two Content-Length values framed: {other:?}"),
        }
    }

    #[test]
    fn double_crlf_is_a_ping_single_crlf_is_not() {
        let mut buf = b"\r\n".to_vec();
        assert!(matches!(
            next_frame(&mut buf, MAX_MESSAGE),
            Frame::Incomplete
        ));
        buf.extend_from_slice(b"\r\n");
        assert!(matches!(next_frame(&mut buf, MAX_MESSAGE), Frame::Ping));
        assert!(buf.is_empty());
        let mut buf = b"\r\nOPTIONS sip:a SIP/2.0\r\nl: 0\r\n\r\n".to_vec();
        assert!(matches!(
            next_frame(&mut buf, MAX_MESSAGE),
            Frame::Message(_)
        ));
    }

    #[test]
    fn a_message_over_the_limit_is_refused_before_it_is_read() {
        let mut buf = b"INVITE sip:a SIP/2.0\r\nContent-Length: 5000\r\n\r\n".to_vec();
        assert!(matches!(next_frame(&mut buf, 4096), Frame::TooLarge));
        let mut endless = b"INVITE sip:a SIP/2.0\r\nX: ".to_vec();
        endless.resize(5000, b'a');
        assert!(matches!(next_frame(&mut endless, 4096), Frame::TooLarge));
    }

    #[test]
    fn caps_count_per_source_and_in_total() {
        let conns = Connections::new(ConnectionLimits {
            max_total: 3,
            max_per_source: 2,
            ..Default::default()
        });
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let a2: SocketAddr = "[::ffff:127.0.0.1]:1001".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:1000".parse().unwrap();
        let s1 = conns.admit(a).unwrap();
        let _s2 = conns.admit(a2).unwrap();
        assert_eq!(conns.admit(a).err(), Some(Refusal::TooManyFromSource));
        let _s3 = conns.admit(b).unwrap();
        assert_eq!(conns.admit(b).err(), Some(Refusal::TooMany));
        drop(s1);
        assert_eq!(conns.count(), 2);
        assert!(conns.admit(a).is_ok());
    }
}
