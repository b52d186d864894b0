//! A small SIP user agent written for these tests from RFC 3261 (and RFC 3581
//! for rport). It deliberately shares no code with the daemon: messages are
//! built as text and parsed with a few lines of string handling.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------
// identifiers

pub fn random_hex(n: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    (0..n)
        .map(|_| HEX[rand::random::<usize>() % 16] as char)
        .collect()
}

/// RFC 3261 8.1.1.7: branch IDs start with the magic cookie.
pub fn new_branch() -> String {
    format!("z9hG4bK{}", random_hex(16))
}

pub fn new_tag() -> String {
    random_hex(10)
}

pub fn new_call_id() -> String {
    format!("{}@127.0.0.1", random_hex(24))
}

// ---------------------------------------------------------------------------
// header names

/// RFC 3261 7.3.3 compact forms (plus a few from later RFCs).
const COMPACT: &[(&str, &str)] = &[
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
    ("o", "Event"),
    ("u", "Allow-Events"),
    ("r", "Refer-To"),
    ("b", "Referred-By"),
    ("x", "Session-Expires"),
    ("a", "Accept-Contact"),
];

/// Long form of a header name (compact forms expanded), for comparisons.
pub fn long_name(name: &str) -> String {
    let n = name.trim();
    if n.len() == 1 {
        for (c, l) in COMPACT {
            if c.eq_ignore_ascii_case(n) {
                return l.to_string();
            }
        }
    }
    n.to_string()
}

fn compact_name(name: &str) -> Option<&'static str> {
    COMPACT
        .iter()
        .find(|(_, l)| l.eq_ignore_ascii_case(name))
        .map(|(c, _)| *c)
}

fn same_header(a: &str, b: &str) -> bool {
    long_name(a).eq_ignore_ascii_case(&long_name(b))
}

// ---------------------------------------------------------------------------
// messages

#[derive(Clone, Debug, PartialEq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

#[derive(Clone, Debug)]
pub struct SipMessage {
    pub start: StartLine,
    /// Header lines in wire order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub raw: Vec<u8>,
}

impl SipMessage {
    /// Parse one whole message (a UDP datagram, or a frame cut from a TCP
    /// stream). Tolerant: bare LF line ends and header folding are accepted.
    pub fn parse(data: &[u8]) -> Result<SipMessage, String> {
        let (head_end, body_start) = match find(data, b"\r\n\r\n") {
            Some(i) => (i, i + 4),
            None => match find(data, b"\n\n") {
                Some(i) => (i, i + 2),
                None => return Err("no end of headers".into()),
            },
        };
        let head = std::str::from_utf8(&data[..head_end]).map_err(|_| "headers not UTF-8")?;
        let mut lines: Vec<String> = Vec::new();
        for line in head.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if (line.starts_with(' ') || line.starts_with('\t')) && !lines.is_empty() {
                let last = lines.last_mut().unwrap();
                last.push(' ');
                last.push_str(line.trim());
            } else {
                lines.push(line.to_string());
            }
        }
        // RFC 3261 7.5: leading CRLFs before the start line are ignored.
        while lines.first().map(|l| l.is_empty()).unwrap_or(false) {
            lines.remove(0);
        }
        let first = lines.first().ok_or("empty message")?.clone();
        let start = if let Some(rest) = first.strip_prefix("SIP/2.0 ") {
            let mut it = rest.splitn(2, ' ');
            let code: u16 = it
                .next()
                .unwrap_or("")
                .parse()
                .map_err(|_| format!("bad status line {first:?}"))?;
            StartLine::Response {
                code,
                reason: it.next().unwrap_or("").to_string(),
            }
        } else {
            let parts: Vec<&str> = first.split(' ').collect();
            if parts.len() != 3 || parts[2] != "SIP/2.0" || parts[0].is_empty() {
                return Err(format!("bad request line {first:?}"));
            }
            StartLine::Request {
                method: parts[0].to_string(),
                uri: parts[1].to_string(),
            }
        };
        let mut headers = Vec::new();
        for l in &lines[1..] {
            if l.is_empty() {
                continue;
            }
            let (n, v) = l
                .split_once(':')
                .ok_or_else(|| format!("bad header line {l:?}"))?;
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
        let mut body = data[body_start..].to_vec();
        let msg = SipMessage {
            start,
            headers,
            body: Vec::new(),
            raw: data.to_vec(),
        };
        if let Some(cl) = msg.header("Content-Length") {
            let cl: usize = cl.trim().parse().map_err(|_| "bad Content-Length")?;
            if cl > body.len() {
                return Err(format!(
                    "Content-Length {cl} but only {} body bytes",
                    body.len()
                ));
            }
            body.truncate(cl);
        }
        Ok(SipMessage { body, ..msg })
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            _ => None,
        }
    }

    pub fn uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// First occurrence of a header (compact or long name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| same_header(n, name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header line with that name, in order.
    pub fn header_lines(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| same_header(n, name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every value of a header that may be comma-separated (Via, Route,
    /// Record-Route, Allow, Supported), in order.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.header_lines(name)
            .iter()
            .flat_map(|l| split_commas(l))
            .collect()
    }

    pub fn vias(&self) -> Vec<String> {
        self.header_values("Via")
    }

    pub fn top_via(&self) -> Option<Via> {
        self.vias().first().and_then(|v| Via::parse(v))
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    pub fn cseq(&self) -> Option<(u32, String)> {
        let v = self.header("CSeq")?;
        let mut it = v.split_whitespace();
        let n = it.next()?.parse().ok()?;
        let m = it.next()?.to_string();
        Some((n, m))
    }

    pub fn tag_in_from(&self) -> Option<String> {
        self.header("From").and_then(tag_of)
    }

    pub fn tag_in_to(&self) -> Option<String> {
        self.header("To").and_then(tag_of)
    }

    pub fn content_type(&self) -> Option<String> {
        self.header("Content-Type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The branch of the top Via.
    pub fn branch(&self) -> Option<String> {
        self.top_via().and_then(|v| v.param("branch").flatten())
    }

    /// URI inside the Contact header, without angle brackets and header params.
    pub fn contact_uri(&self) -> Option<String> {
        self.header("Contact").map(name_addr_uri)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    pub fn summary(&self) -> String {
        match &self.start {
            StartLine::Request { method, uri } => format!("{method} {uri}"),
            StartLine::Response { code, reason } => {
                format!("{code} {reason} ({})", self.header("CSeq").unwrap_or("?"))
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Split on commas that are outside quotes and angle brackets.
pub fn split_commas(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quote, mut angle) = (false, false);
    for ch in s.chars() {
        match ch {
            '"' => quote = !quote,
            '<' if !quote => angle = true,
            '>' if !quote => angle = false,
            ',' if !quote && !angle => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Header parameters of a name-addr / addr-spec header value (From, To,
/// Contact). Without angle brackets every `;param` belongs to the header
/// (RFC 3261 20.10).
pub fn header_params(v: &str) -> Vec<(String, Option<String>)> {
    let rest = match angle_span(v) {
        Some((_, close)) => &v[close + 1..],
        None => match v.find(';') {
            Some(i) => &v[i..],
            None => "",
        },
    };
    parse_params(rest)
}

/// Byte positions of the `<` and `>` around the URI of a name-addr,
/// ignoring angle brackets inside quoted strings (a display name, or a
/// header parameter such as `+sip.instance="<urn:uuid:…>"`).
pub fn angle_span(v: &str) -> Option<(usize, usize)> {
    let mut quote = false;
    let mut open = None;
    let mut prev_backslash = false;
    for (i, ch) in v.char_indices() {
        match ch {
            '"' if !prev_backslash && open.is_none() => quote = !quote,
            '<' if !quote && open.is_none() => open = Some(i),
            '>' if open.is_some() => return Some((open.unwrap(), i)),
            _ => {}
        }
        prev_backslash = ch == '\\' && !prev_backslash;
    }
    None
}

fn parse_params(rest: &str) -> Vec<(String, Option<String>)> {
    rest.split(';')
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (
                k.trim().to_ascii_lowercase(),
                Some(v.trim().trim_matches('"').to_string()),
            ),
            None => (p.to_ascii_lowercase(), None),
        })
        .collect()
}

pub fn tag_of(v: &str) -> Option<String> {
    header_params(v)
        .into_iter()
        .find(|(k, _)| k == "tag")
        .and_then(|(_, v)| v)
}

/// `"x" <sip:a@b;p>;tag=1` → `sip:a@b;p`; `sip:a@b;tag=1` → `sip:a@b`.
pub fn name_addr_uri(v: &str) -> String {
    match angle_span(v) {
        Some((a, b)) => v[a + 1..b].trim().to_string(),
        None => v.split(';').next().unwrap_or("").trim().to_string(),
    }
}

/// A header value with its tag parameter removed (for dialog remote URIs).
pub fn without_tag(v: &str) -> String {
    match angle_span(v) {
        Some((_, close)) => {
            let mut out = v[..=close].to_string();
            for p in v[close + 1..]
                .split(';')
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                if !p.to_ascii_lowercase().starts_with("tag=") {
                    out.push(';');
                    out.push_str(p);
                }
            }
            out
        }
        None => v.split(';').next().unwrap_or("").trim().to_string(),
    }
}

/// Host and port of a SIP URI (`sip:user@host:port;params`).
pub fn uri_host_port(uri: &str) -> Option<(String, Option<u16>)> {
    let u = uri.trim().trim_start_matches('<').trim_end_matches('>');
    let u = u
        .strip_prefix("sip:")
        .or_else(|| u.strip_prefix("sips:"))
        .or_else(|| u.strip_prefix("SIP:"))?;
    let u = u.split(['?', ';']).next().unwrap_or("");
    let hp = match u.rfind('@') {
        Some(i) => &u[i + 1..],
        None => u,
    };
    split_host_port(hp)
}

pub fn uri_params(uri: &str) -> Vec<(String, Option<String>)> {
    let u = uri.split('?').next().unwrap_or("");
    match u.find(';') {
        Some(i) => parse_params(&u[i..]),
        None => Vec::new(),
    }
}

fn split_host_port(hp: &str) -> Option<(String, Option<u16>)> {
    if hp.is_empty() {
        return None;
    }
    if let Some(rest) = hp.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = rest[..end].to_string();
        let port = rest[end + 1..]
            .strip_prefix(':')
            .and_then(|p| p.parse().ok());
        return Some((host, port));
    }
    match hp.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(p.trim().parse().ok()?))),
        None => Some((hp.to_string(), None)),
    }
}

/// One Via value.
#[derive(Clone, Debug)]
pub struct Via {
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    pub fn parse(v: &str) -> Option<Via> {
        let (proto, rest) = v.trim().split_once(char::is_whitespace)?;
        let transport = proto.rsplit('/').next()?.to_ascii_uppercase();
        let rest = rest.trim();
        let (sent_by, params) = match rest.find(';') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(sent_by.trim())?;
        Some(Via {
            transport,
            host,
            port,
            params: parse_params(params),
        })
    }

    /// None: absent; Some(None): present without value; Some(Some(v)).
    pub fn param(&self, name: &str) -> Option<Option<String>> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// Where a response to this Via goes over UDP (RFC 3261 18.2.2 and
    /// RFC 3581 4): received/rport when present, else the sent-by.
    pub fn response_target(&self, source: SocketAddr) -> Option<SocketAddr> {
        let host = match self.param("received").flatten() {
            Some(r) => r,
            None => self.host.clone(),
        };
        let port = match self.param("rport") {
            Some(Some(p)) => p.parse().ok()?,
            Some(None) => source.port(),
            None => self.port.unwrap_or(5060),
        };
        let ip: IpAddr = host.parse().ok()?;
        Some(SocketAddr::new(ip, port))
    }
}

// ---------------------------------------------------------------------------
// building requests

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Render header names in compact form where one exists.
    pub compact: bool,
    /// Leave Content-Length out (only for malformed-request tests).
    pub omit_content_length: bool,
}

impl Request {
    pub fn new(method: &str, uri: &str) -> Request {
        Request {
            method: method.to_string(),
            uri: uri.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            compact: false,
            omit_content_length: false,
        }
    }

    pub fn h(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_string(), value.into()));
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| same_header(n, name))
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.headers.iter_mut().find(|(n, _)| same_header(n, name)) {
            Some(slot) => slot.1 = value,
            None => self.headers.push((name.to_string(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !same_header(n, name));
    }

    pub fn with_body(mut self, content_type: &str, body: &str) -> Request {
        self.set("Content-Type", content_type);
        self.body = body.as_bytes().to_vec();
        self
    }

    pub fn branch(&self) -> String {
        self.get("Via")
            .and_then(Via::parse)
            .and_then(|v| v.param("branch").flatten())
            .unwrap_or_default()
    }

    pub fn call_id(&self) -> String {
        self.get("Call-ID").unwrap_or_default().to_string()
    }

    pub fn cseq(&self) -> (u32, String) {
        let v = self.get("CSeq").unwrap_or("0 X");
        let mut it = v.split_whitespace();
        (
            it.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            it.next().unwrap_or("").to_string(),
        )
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("{} {} SIP/2.0\r\n", self.method, self.uri);
        for (n, v) in &self.headers {
            if same_header(n, "Content-Length") {
                continue;
            }
            let name = if self.compact {
                compact_name(&long_name(n)).unwrap_or(n)
            } else {
                n.as_str()
            };
            if v.is_empty() {
                s.push_str(&format!("{name}:\r\n"));
            } else {
                s.push_str(&format!("{name}: {v}\r\n"));
            }
        }
        if !self.omit_content_length {
            let name = if self.compact { "l" } else { "Content-Length" };
            s.push_str(&format!("{name}: {}\r\n", self.body.len()));
        }
        s.push_str("\r\n");
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// A response to `req` (as UAS): Via, From, To, Call-ID and CSeq copied
/// (RFC 3261 8.2.6.2), a To tag added when the request had none.
pub fn response_to(
    req: &SipMessage,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> Vec<u8> {
    let mut s = format!("SIP/2.0 {code} {reason}\r\n");
    for v in req.header_lines("Via") {
        s.push_str(&format!("Via: {v}\r\n"));
    }
    if let Some(f) = req.header("From") {
        s.push_str(&format!("From: {f}\r\n"));
    }
    if let Some(t) = req.header("To") {
        if tag_of(t).is_none() && code != 100 {
            let tag = to_tag.map(str::to_string).unwrap_or_else(new_tag);
            s.push_str(&format!("To: {t};tag={tag}\r\n"));
        } else {
            s.push_str(&format!("To: {t}\r\n"));
        }
    }
    if let Some(c) = req.call_id() {
        s.push_str(&format!("Call-ID: {c}\r\n"));
    }
    if let Some(c) = req.header("CSeq") {
        s.push_str(&format!("CSeq: {c}\r\n"));
    }
    for (n, v) in extra {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    match body {
        Some((ct, b)) => {
            s.push_str(&format!(
                "Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            ));
        }
        None => s.push_str("Content-Length: 0\r\n\r\n"),
    }
    s.into_bytes()
}

// ---------------------------------------------------------------------------
// transport and the user agent

/// One message the UA received.
#[derive(Clone, Debug)]
pub struct Incoming {
    pub msg: SipMessage,
    pub src: SocketAddr,
    /// 0 for UDP and for the UA's own TCP connection; other TCP connections
    /// (opened by the daemon towards our listener) get their own ids.
    pub conn: u64,
    pub at: Instant,
}

#[derive(Default)]
struct Inbox {
    items: Vec<Incoming>,
    taken: Vec<bool>,
    /// Datagrams / frames we could not parse.
    unparsable: Vec<(SocketAddr, String)>,
    /// Things the daemon did that a real phone would trip over.
    violations: Vec<String>,
}

#[derive(Clone)]
enum Wire {
    Udp(Arc<UdpSocket>),
    Tcp(Arc<TcpWires>),
}

/// The write half of a TCP or TLS connection.
type StreamWriter = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

struct TcpWires {
    writers: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<StreamWriter>>>>,
    next_id: AtomicU64,
}

struct Shared {
    wire: Wire,
    inbox: Mutex<Inbox>,
    /// Answer requests from the daemon (BYE, INFO, OPTIONS, …) automatically.
    auto_answer_bye: AtomicBool,
    /// ACKs already sent, keyed by (Call-ID, CSeq number): a retransmitted
    /// 2xx gets the same ACK again (RFC 3261 13.2.2.4).
    acks: Mutex<HashMap<(String, u32), Vec<u8>>>,
    /// SDP for answering a re-INVITE from the daemon.
    local_sdp: Mutex<Option<String>>,
    /// Our tags, so a to-tag for responses we generate stays stable.
    uas_tag: String,
}

/// A SIP UA bound to 127.0.0.1, talking to one daemon address.
#[derive(Clone)]
pub struct SipUa {
    shared: Arc<Shared>,
    tasks: Arc<TaskSet>,
    /// "UDP" or "TCP".
    pub transport: &'static str,
    /// The address we put in Via and Contact.
    pub local: SocketAddr,
    pub daemon: SocketAddr,
    cseq: Arc<AtomicU32>,
}

struct TaskSet(Mutex<Vec<JoinHandle<()>>>);
impl Drop for TaskSet {
    fn drop(&mut self) {
        for t in self.0.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl SipUa {
    pub async fn udp(daemon: SocketAddr) -> SipUa {
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP"));
        let local = sock.local_addr().unwrap();
        let shared = Arc::new(Shared::new(Wire::Udp(sock.clone())));
        let sh = shared.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                let (n, src) = match sock.recv_from(&mut buf).await {
                    Ok(x) => x,
                    // ICMP errors surface as recv errors on some systems.
                    Err(_) => continue,
                };
                sh.deliver(&buf[..n], src, 0).await;
            }
        });
        SipUa {
            shared,
            tasks: Arc::new(TaskSet(Mutex::new(vec![task]))),
            transport: "UDP",
            local,
            daemon,
            cseq: Arc::new(AtomicU32::new(rand::random::<u16>() as u32 % 5000 + 1)),
        }
    }

    /// A TCP UA: one connection to the daemon for our requests, plus a
    /// listener (the address in our Via/Contact) that accepts connections
    /// the daemon may open for its own requests.
    pub async fn tcp(daemon: SocketAddr) -> SipUa {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind TCP");
        let local = listener.local_addr().unwrap();
        let wires = Arc::new(TcpWires {
            writers: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        });
        let shared = Arc::new(Shared::new(Wire::Tcp(wires.clone())));
        let stream = TcpStream::connect(daemon)
            .await
            .expect("connect to daemon over TCP");
        stream.set_nodelay(true).ok();
        let mut tasks = Vec::new();
        let peer = stream.peer_addr().unwrap();
        tasks.push(spawn_tcp_conn(
            shared.clone(),
            wires.clone(),
            stream,
            peer,
            0,
        ));
        let (sh, w) = (shared.clone(), wires.clone());
        tasks.push(tokio::spawn(async move {
            while let Ok((s, src)) = listener.accept().await {
                let id = w.next_id.fetch_add(1, Ordering::SeqCst);
                let t = spawn_tcp_conn(sh.clone(), w.clone(), s, src, id);
                drop(t); // detached: lives as long as the connection
            }
        }));
        SipUa {
            shared,
            tasks: Arc::new(TaskSet(Mutex::new(tasks))),
            transport: "TCP",
            local,
            daemon,
            cseq: Arc::new(AtomicU32::new(rand::random::<u16>() as u32 % 5000 + 1)),
        }
    }

    /// A TLS UA: one connection to the daemon's TLS port made with
    /// `client`, plus a TLS listener (the address in our Via/Contact) made
    /// with `server` for connections the daemon opens itself.
    pub async fn tls(
        daemon: SocketAddr,
        client: Arc<rustls::ClientConfig>,
        server: Arc<rustls::ServerConfig>,
    ) -> SipUa {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind TCP");
        let local = listener.local_addr().unwrap();
        let wires = Arc::new(TcpWires {
            writers: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        });
        let shared = Arc::new(Shared::new(Wire::Tcp(wires.clone())));
        let stream = TcpStream::connect(daemon)
            .await
            .expect("connect to daemon over TCP");
        stream.set_nodelay(true).ok();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(client)
            .connect(name, stream)
            .await
            .expect("TLS handshake with the daemon");
        let mut tasks = Vec::new();
        tasks.push(spawn_tcp_conn(
            shared.clone(),
            wires.clone(),
            tls,
            daemon,
            0,
        ));
        let (sh, w) = (shared.clone(), wires.clone());
        let acceptor = tokio_rustls::TlsAcceptor::from(server);
        tasks.push(tokio::spawn(async move {
            while let Ok((s, src)) = listener.accept().await {
                let Ok(tls) = acceptor.accept(s).await else {
                    continue;
                };
                let id = w.next_id.fetch_add(1, Ordering::SeqCst);
                let t = spawn_tcp_conn(sh.clone(), w.clone(), tls, src, id);
                drop(t); // detached: lives as long as the connection
            }
        }));
        SipUa {
            shared,
            tasks: Arc::new(TaskSet(Mutex::new(tasks))),
            transport: "TLS",
            local,
            daemon,
            cseq: Arc::new(AtomicU32::new(rand::random::<u16>() as u32 % 5000 + 1)),
        }
    }

    /// Closes connection `id` (0: the one we opened) from our side.
    pub async fn close_connection(&self, id: u64) {
        if let Wire::Tcp(w) = &self.shared.wire {
            let writer = w.writers.lock().unwrap().remove(&id);
            if let Some(wr) = writer {
                let _ = wr.lock().await.shutdown().await;
            }
        }
    }

    /// Connections open now, by id (0: the one we opened).
    pub fn connection_ids(&self) -> Vec<u64> {
        match &self.shared.wire {
            Wire::Tcp(w) => w.writers.lock().unwrap().keys().copied().collect(),
            Wire::Udp(_) => Vec::new(),
        }
    }

    pub fn next_cseq(&self) -> u32 {
        self.cseq.fetch_add(1, Ordering::SeqCst)
    }

    /// Via value for a new client transaction.
    pub fn via(&self, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {};branch={};rport",
            self.transport, self.local, branch
        )
    }

    /// Contact URI for user `user` (or none).
    pub fn contact_uri(&self, user: Option<&str>) -> String {
        let t = match self.transport {
            "TCP" => ";transport=tcp",
            "TLS" => ";transport=tls",
            _ => "",
        };
        match user {
            Some(u) => format!("sip:{u}@{}{t}", self.local),
            None => format!("sip:{}{t}", self.local),
        }
    }

    pub fn set_auto_answer_bye(&self, on: bool) {
        self.shared.auto_answer_bye.store(on, Ordering::SeqCst);
    }

    pub fn set_local_sdp(&self, sdp: &str) {
        *self.shared.local_sdp.lock().unwrap() = Some(sdp.to_string());
    }

    pub async fn send_raw(&self, bytes: &[u8]) {
        self.shared.send(0, self.daemon, bytes).await;
    }

    pub async fn send(&self, req: &Request) {
        self.send_raw(&req.to_bytes()).await;
    }

    /// Reply to a request that came from the daemon.
    pub async fn reply(&self, inc: &Incoming, bytes: &[u8]) {
        self.shared.reply(inc, bytes).await;
    }

    /// Wait for the first not yet consumed message that satisfies `pred`.
    pub async fn wait_for<F>(&self, timeout: Duration, pred: F) -> Option<Incoming>
    where
        F: Fn(&Incoming) -> bool,
    {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut ib = self.shared.inbox.lock().unwrap();
                let hit = (0..ib.items.len()).find(|&i| !ib.taken[i] && pred(&ib.items[i]));
                if let Some(i) = hit {
                    ib.taken[i] = true;
                    return Some(ib.items[i].clone());
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// All messages received so far (consumed or not).
    pub fn received(&self) -> Vec<Incoming> {
        self.shared.inbox.lock().unwrap().items.clone()
    }

    pub fn responses_for(&self, branch: &str, method: &str) -> Vec<SipMessage> {
        self.received()
            .into_iter()
            .filter(|i| is_response_for(&i.msg, branch, method))
            .map(|i| i.msg)
            .collect()
    }

    pub fn unparsable(&self) -> Vec<(SocketAddr, String)> {
        self.shared.inbox.lock().unwrap().unparsable.clone()
    }

    pub fn note_violation(&self, v: String) {
        self.shared.inbox.lock().unwrap().violations.push(v);
    }

    pub fn violations(&self) -> Vec<String> {
        self.shared.inbox.lock().unwrap().violations.clone()
    }

    /// Next response (any status) for the client transaction.
    pub async fn next_response(
        &self,
        branch: &str,
        method: &str,
        timeout: Duration,
    ) -> Option<SipMessage> {
        let (b, m) = (branch.to_string(), method.to_string());
        self.wait_for(timeout, move |i| is_response_for(&i.msg, &b, &m))
            .await
            .map(|i| i.msg)
    }

    /// Run a client transaction: send, retransmit over UDP (timers A/E with
    /// T1 = 500 ms; INVITE retransmissions stop on a provisional response),
    /// and return every response up to and including the first final one.
    /// Panics when no final response arrives within `timeout`.
    pub async fn transaction(&self, req: &Request, timeout: Duration) -> Vec<SipMessage> {
        match self.try_transaction(req, timeout).await {
            Ok(r) => r,
            Err(got) => panic!(
                "no final response to {} (branch {}) within {:?}; got: {:?}",
                req.method,
                req.branch(),
                timeout,
                got.iter().map(|m| m.summary()).collect::<Vec<_>>()
            ),
        }
    }

    pub async fn try_transaction(
        &self,
        req: &Request,
        timeout: Duration,
    ) -> Result<Vec<SipMessage>, Vec<SipMessage>> {
        let bytes = req.to_bytes();
        let branch = req.branch();
        let method = if req.method == "ACK" {
            "INVITE".to_string()
        } else {
            req.method.clone()
        };
        self.send_raw(&bytes).await;
        let deadline = Instant::now() + timeout;
        let t1 = Duration::from_millis(500);
        let mut interval = t1;
        let mut next_retx = Instant::now() + interval;
        let mut got = Vec::new();
        let mut provisional = false;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(got);
            }
            let wait = next_retx.min(deadline).saturating_duration_since(now);
            match self.next_response(&branch, &method, wait).await {
                Some(r) => {
                    let code = r.code().unwrap_or(0);
                    got.push(r);
                    if code >= 200 {
                        return Ok(got);
                    }
                    provisional = true;
                }
                None => {
                    if self.transport == "UDP" && Instant::now() >= next_retx {
                        let invite = req.method == "INVITE";
                        if !(invite && provisional) {
                            self.send_raw(&bytes).await;
                        }
                        interval = if invite {
                            interval * 2
                        } else {
                            (interval * 2).min(Duration::from_secs(4))
                        };
                        next_retx = Instant::now() + interval;
                    } else if self.transport != "UDP" {
                        next_retx = deadline;
                    }
                }
            }
        }
    }

    /// Wait for a request from the daemon.
    pub async fn wait_request(
        &self,
        method: &str,
        call_id: Option<&str>,
        timeout: Duration,
    ) -> Option<Incoming> {
        let (m, c) = (method.to_string(), call_id.map(str::to_string));
        self.wait_for(timeout, move |i| {
            i.msg.method() == Some(m.as_str())
                && c.as_deref()
                    .map(|c| i.msg.call_id() == Some(c))
                    .unwrap_or(true)
        })
        .await
    }

    /// Remember the ACK for a 2xx so retransmitted 2xx get it again, then send it.
    pub async fn send_ack(&self, ack: &Request) {
        let bytes = ack.to_bytes();
        let key = (ack.call_id(), ack.cseq().0);
        self.shared.acks.lock().unwrap().insert(key, bytes.clone());
        self.send_raw(&bytes).await;
    }
}

fn is_response_for(m: &SipMessage, branch: &str, method: &str) -> bool {
    !m.is_request()
        && m.branch().as_deref() == Some(branch)
        && m.cseq()
            .map(|(_, cm)| cm.eq_ignore_ascii_case(method))
            .unwrap_or(false)
}

fn spawn_tcp_conn<S>(
    shared: Arc<Shared>,
    wires: Arc<TcpWires>,
    stream: S,
    src: SocketAddr,
    id: u64,
) -> JoinHandle<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut rd, wr) = tokio::io::split(stream);
    let wr: StreamWriter = Box::new(wr);
    wires
        .writers
        .lock()
        .unwrap()
        .insert(id, Arc::new(tokio::sync::Mutex::new(wr)));
    tokio::spawn(async move {
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 16384];
        loop {
            // Cut as many whole messages as the buffer holds (RFC 3261 18.3:
            // framing by Content-Length; CRLF keep-alives skipped).
            loop {
                while buf.starts_with(b"\r\n") {
                    buf.drain(..2);
                }
                let Some(he) = find(&buf, b"\r\n\r\n") else {
                    break;
                };
                let head = String::from_utf8_lossy(&buf[..he]).to_string();
                let mut cl = 0usize;
                for line in head.split("\r\n").skip(1) {
                    if let Some((n, v)) = line.split_once(':') {
                        if same_header(n, "Content-Length") {
                            cl = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                if buf.len() < he + 4 + cl {
                    break;
                }
                let frame: Vec<u8> = buf.drain(..he + 4 + cl).collect();
                shared.deliver(&frame, src, id).await;
            }
            match rd.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        wires.writers.lock().unwrap().remove(&id);
    })
}

impl Shared {
    fn new(wire: Wire) -> Shared {
        Shared {
            wire,
            inbox: Mutex::new(Inbox::default()),
            auto_answer_bye: AtomicBool::new(true),
            acks: Mutex::new(HashMap::new()),
            local_sdp: Mutex::new(None),
            uas_tag: new_tag(),
        }
    }

    async fn send(&self, conn: u64, dest: SocketAddr, bytes: &[u8]) {
        match &self.wire {
            Wire::Udp(s) => {
                let _ = s.send_to(bytes, dest).await;
            }
            Wire::Tcp(w) => {
                let writer = {
                    let map = w.writers.lock().unwrap();
                    map.get(&conn).or_else(|| map.get(&0)).cloned()
                };
                if let Some(wr) = writer {
                    let mut wr = wr.lock().await;
                    let _ = wr.write_all(bytes).await;
                    let _ = wr.flush().await;
                }
            }
        }
    }

    async fn reply(&self, inc: &Incoming, bytes: &[u8]) {
        let dest = match &self.wire {
            Wire::Udp(_) => match inc.msg.top_via().and_then(|v| v.response_target(inc.src)) {
                Some(d) => d,
                None => inc.src,
            },
            Wire::Tcp(_) => inc.src,
        };
        self.send(inc.conn, dest, bytes).await;
    }

    async fn deliver(&self, data: &[u8], src: SocketAddr, conn: u64) {
        let msg = match SipMessage::parse(data) {
            Ok(m) => m,
            Err(e) => {
                let mut ib = self.inbox.lock().unwrap();
                ib.unparsable
                    .push((src, format!("{e}: {:?}", String::from_utf8_lossy(data))));
                return;
            }
        };
        let inc = Incoming {
            msg: msg.clone(),
            src,
            conn,
            at: Instant::now(),
        };
        if msg.is_request() {
            self.check_request_from_daemon(&inc);
        }
        {
            let mut ib = self.inbox.lock().unwrap();
            ib.items.push(inc.clone());
            ib.taken.push(false);
        }
        if msg.is_request() {
            self.auto_answer(&inc).await;
        } else if let (Some(code), Some((n, m))) = (msg.code(), msg.cseq()) {
            // RFC 3261 13.2.2.4: every retransmission of the 2xx gets the ACK again.
            if (200..300).contains(&code) && m == "INVITE" {
                let ack = {
                    let acks = self.acks.lock().unwrap();
                    acks.get(&(msg.call_id().unwrap_or("").to_string(), n))
                        .cloned()
                };
                if let Some(ack) = ack {
                    self.send(0, src, &ack).await;
                }
            }
        }
    }

    /// Checks a real phone would depend on when the daemon sends a request.
    fn check_request_from_daemon(&self, inc: &Incoming) {
        let m = &inc.msg;
        let mut v = Vec::new();
        let what = m.summary();
        match m.top_via() {
            None => v.push(format!("{what}: no Via")),
            Some(via) => {
                if !via
                    .param("branch")
                    .flatten()
                    .map(|b| b.starts_with("z9hG4bK"))
                    .unwrap_or(false)
                {
                    v.push(format!("{what}: Via branch without z9hG4bK cookie"));
                }
                if let Wire::Udp(_) = self.wire {
                    match via.response_target(inc.src) {
                        Some(t) if t == inc.src => {}
                        Some(t) => v.push(format!(
                            "{what}: Via sent-by/received/rport points at {t} but the request came from {}; \
                             our response goes to the Via (RFC 3261 18.2.2) and would be lost",
                            inc.src
                        )),
                        None => v.push(format!("{what}: Via sent-by {}:{:?} is not an address", via.host, via.port)),
                    }
                }
            }
        }
        for h in ["From", "To", "Call-ID", "CSeq", "Max-Forwards"] {
            if m.header(h).is_none() {
                v.push(format!("{what}: missing {h}"));
            }
        }
        if m.tag_in_from().is_none() {
            v.push(format!("{what}: From without tag"));
        }
        if let (Some((_, cm)), Some(meth)) = (m.cseq(), m.method()) {
            if cm != meth {
                v.push(format!("{what}: CSeq method {cm} differs from {meth}"));
            }
        }
        if !v.is_empty() {
            self.inbox.lock().unwrap().violations.extend(v);
        }
    }

    async fn auto_answer(&self, inc: &Incoming) {
        let m = &inc.msg;
        let method = m.method().unwrap_or("").to_string();
        let reply = match method.as_str() {
            "ACK" => None,
            "BYE" => {
                if self.auto_answer_bye.load(Ordering::SeqCst) {
                    Some(response_to(m, 200, "OK", Some(&self.uas_tag), &[], None))
                } else {
                    None
                }
            }
            "OPTIONS" | "INFO" | "UPDATE" | "NOTIFY" | "CANCEL" => {
                Some(response_to(m, 200, "OK", Some(&self.uas_tag), &[], None))
            }
            "INVITE" => {
                let sdp = self.local_sdp.lock().unwrap().clone();
                match sdp {
                    Some(sdp) => Some(response_to(
                        m,
                        200,
                        "OK",
                        Some(&self.uas_tag),
                        &[],
                        Some(("application/sdp", &sdp)),
                    )),
                    None => Some(response_to(
                        m,
                        488,
                        "Not Acceptable Here",
                        Some(&self.uas_tag),
                        &[],
                        None,
                    )),
                }
            }
            _ => Some(response_to(
                m,
                501,
                "Not Implemented",
                Some(&self.uas_tag),
                &[],
                None,
            )),
        };
        if let Some(r) = reply {
            self.reply(inc, &r).await;
        }
    }
}

// ---------------------------------------------------------------------------
// dialogs

/// Caller-side dialog state (RFC 3261 12.1.2).
#[derive(Clone, Debug)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// From value without tag.
    pub local_uri: String,
    /// To value without tag.
    pub remote_uri: String,
    /// Contact URI of the 2xx.
    pub remote_target: String,
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    /// CSeq number of the INVITE that made (or last refreshed) the dialog.
    pub invite_cseq: u32,
    /// Our Contact header value.
    pub contact: String,
    pub compact: bool,
}

impl Dialog {
    /// Build the dialog from our INVITE and the 2xx.
    pub fn from_2xx(invite: &Request, ok: &SipMessage) -> Dialog {
        let from = invite.get("From").unwrap_or_default();
        let to = invite.get("To").unwrap_or_default();
        let mut route_set: Vec<String> = ok.header_values("Record-Route");
        route_set.reverse();
        Dialog {
            call_id: invite.call_id(),
            local_tag: tag_of(from).unwrap_or_default(),
            remote_tag: ok.tag_in_to().unwrap_or_default(),
            local_uri: without_tag(from),
            remote_uri: without_tag(to),
            remote_target: ok.contact_uri().unwrap_or_else(|| invite.uri.clone()),
            route_set,
            local_cseq: invite.cseq().0,
            invite_cseq: invite.cseq().0,
            contact: invite.get("Contact").unwrap_or_default().to_string(),
            compact: invite.compact,
        }
    }

    /// A new in-dialog request (RFC 3261 12.2.1.1).
    pub fn request(&mut self, ua: &SipUa, method: &str) -> Request {
        self.local_cseq += 1;
        let mut r = Request::new(method, &self.remote_target)
            .h("Via", ua.via(&new_branch()))
            .h("Max-Forwards", "70")
            .h("From", format!("{};tag={}", self.local_uri, self.local_tag))
            .h("To", format!("{};tag={}", self.remote_uri, self.remote_tag))
            .h("Call-ID", self.call_id.clone())
            .h("CSeq", format!("{} {}", self.local_cseq, method));
        for rt in &self.route_set {
            r.push("Route", rt.clone());
        }
        if method == "INVITE" || method == "UPDATE" {
            r.push("Contact", self.contact.clone());
            self.invite_cseq = self.local_cseq;
        }
        r.compact = self.compact;
        r
    }

    /// ACK for a 2xx: its own transaction, new branch, CSeq number of the INVITE.
    pub fn ack(&self, ua: &SipUa, body: Option<&str>) -> Request {
        let mut r = Request::new("ACK", &self.remote_target)
            .h("Via", ua.via(&new_branch()))
            .h("Max-Forwards", "70")
            .h("From", format!("{};tag={}", self.local_uri, self.local_tag))
            .h("To", format!("{};tag={}", self.remote_uri, self.remote_tag))
            .h("Call-ID", self.call_id.clone())
            .h("CSeq", format!("{} ACK", self.invite_cseq));
        for rt in &self.route_set {
            r.push("Route", rt.clone());
        }
        r.push("Contact", self.contact.clone());
        if let Some(b) = body {
            r = r.with_body("application/sdp", b);
        }
        r.compact = self.compact;
        r
    }
}

/// ACK for a non-2xx final response (RFC 3261 17.1.1.3): same branch and
/// Request-URI as the INVITE, To from the response.
pub fn ack_for_failure(invite: &Request, resp: &SipMessage) -> Request {
    let via = invite
        .headers
        .iter()
        .find(|(n, _)| same_header(n, "Via"))
        .map(|(_, v)| split_commas(v)[0].clone())
        .unwrap_or_default();
    let mut r = Request::new("ACK", &invite.uri)
        .h("Via", via)
        .h("Max-Forwards", "70")
        .h("From", invite.get("From").unwrap_or_default())
        .h("To", resp.header("To").unwrap_or_default())
        .h("Call-ID", invite.call_id())
        .h("CSeq", format!("{} ACK", invite.cseq().0));
    for (n, v) in &invite.headers {
        if same_header(n, "Route") {
            r.push("Route", v.clone());
        }
    }
    r
}

/// CANCEL for a pending INVITE (RFC 3261 9.1).
pub fn cancel_for(invite: &Request) -> Request {
    let via = invite
        .headers
        .iter()
        .find(|(n, _)| same_header(n, "Via"))
        .map(|(_, v)| split_commas(v)[0].clone())
        .unwrap_or_default();
    Request::new("CANCEL", &invite.uri)
        .h("Via", via)
        .h("Max-Forwards", "70")
        .h("From", invite.get("From").unwrap_or_default())
        .h("To", invite.get("To").unwrap_or_default())
        .h("Call-ID", invite.call_id())
        .h("CSeq", format!("{} CANCEL", invite.cseq().0))
}

/// Normalise a header value for echo comparisons (whitespace around ;=,).
pub fn norm(v: &str) -> String {
    let mut s: String = v.split_whitespace().collect::<Vec<_>>().join(" ");
    for p in [";", "=", ","] {
        s = s.replace(&format!(" {p}"), p).replace(&format!("{p} "), p);
    }
    s.to_ascii_lowercase()
}
