//! Parsing SIP messages as real peers send them.
//!
//! Real traffic has compact header names, folded lines, bare-LF line ends,
//! odd spacing, IPv6 hosts and extension methods, which rsip's parser
//! refuses or mangles, so rsip parses nothing we receive. `parse` reads the
//! framing itself (RFC 3261 §7), joins folded lines, canonicalises header
//! names and keeps the start line and every header value as text; the
//! helpers below read parameters, URIs and Via out of those values.
//! (rsip is used to render what smileyd sends: see `build`.)

use std::fmt;

/// RFC 3261 §7.3.3: compact forms and the names they stand for.
const COMPACT: &[(&str, &str)] = &[
    ("a", "Accept-Contact"),
    ("b", "Referred-By"),
    ("c", "Content-Type"),
    ("e", "Content-Encoding"),
    ("f", "From"),
    ("i", "Call-ID"),
    ("k", "Supported"),
    ("l", "Content-Length"),
    ("m", "Contact"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("s", "Subject"),
    ("t", "To"),
    ("u", "Allow-Events"),
    ("v", "Via"),
    ("x", "Session-Expires"),
];

/// Canonical spelling of the headers we read or write, so that lookups and
/// the messages we send look the same whatever case the peer used.
const CANONICAL: &[&str] = &[
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Contact",
    "Max-Forwards",
    "Content-Type",
    "Content-Length",
    "Record-Route",
    "Route",
    "Allow",
    "Supported",
    "Require",
    "User-Agent",
    "Server",
    "Session-Expires",
    "Min-SE",
];

/// Upper bound on one message: anything larger is not a SIP message we serve.
pub const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request {
        method: String,
        uri: String,
        version: String,
    },
    Response {
        version: String,
        code: u16,
        reason: String,
    },
}

/// A parsed message: start line, headers in order (name canonicalised,
/// value trimmed, folded lines joined) and body.
#[derive(Debug, Clone)]
pub struct Message {
    pub start: StartLine,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

fn err(msg: impl Into<String>) -> ParseError {
    ParseError(msg.into())
}

/// Finds the end of the header section: the index just past the empty line,
/// accepting CRLFCRLF or bare LFLF.
pub fn header_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

fn canonical_name(name: &str) -> String {
    if name.len() == 1 {
        if let Some((_, full)) = COMPACT.iter().find(|(c, _)| c.eq_ignore_ascii_case(name)) {
            return (*full).to_string();
        }
    }
    if let Some(c) = CANONICAL.iter().find(|c| c.eq_ignore_ascii_case(name)) {
        return (*c).to_string();
    }
    name.to_string()
}

fn is_token(s: &str) -> bool {
    // RFC 3261 §25.1 token characters.
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// Parses one message. `datagram` says whether the bytes are a whole UDP
/// datagram (then Content-Length may be absent and trailing bytes beyond it
/// are ignored, RFC 3261 §18.3) or one framed stream message.
pub fn parse(raw: &[u8], datagram: bool) -> Result<Message, ParseError> {
    if raw.len() > MAX_MESSAGE {
        return Err(err("message too large"));
    }
    // RFC 3261 §7.5: leading empty lines before the start line are ignored.
    let mut start = 0;
    while start < raw.len() && (raw[start] == b'\r' || raw[start] == b'\n') {
        start += 1;
    }
    let raw = &raw[start..];
    let head_end = header_end(raw).ok_or_else(|| err("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| err("headers are not UTF-8"))?;
    let mut lines: Vec<String> = Vec::new();
    for line in head.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        // RFC 3261 §7.3.1: a line starting with whitespace continues the previous one.
        if line.starts_with(' ') || line.starts_with('\t') {
            if lines.len() < 2 {
                return Err(err("continuation line without a header"));
            }
            if let Some(prev) = lines.last_mut() {
                prev.push(' ');
                prev.push_str(line.trim());
            }
            continue;
        }
        lines.push(line.to_string());
    }
    let mut iter = lines.into_iter();
    let first = iter.next().ok_or_else(|| err("empty message"))?;
    let start = parse_start_line(&first)?;
    let mut headers = Vec::new();
    for line in iter {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| err(format!("header line without a colon: {line:.40}")))?;
        let name = name.trim_end();
        if !is_token(name) {
            return Err(err(format!("bad header name: {name:.40}")));
        }
        headers.push((canonical_name(name), value.trim().to_string()));
    }
    let rest = &raw[head_end..];
    let body = match content_length(&headers)? {
        Some(n) => {
            if n > rest.len() {
                // RFC 3261 §18.3: a datagram shorter than its Content-Length is discarded.
                return Err(err("body shorter than Content-Length"));
            }
            rest[..n].to_vec()
        }
        None if datagram => rest.to_vec(),
        None => Vec::new(),
    };
    Ok(Message {
        start,
        headers,
        body,
    })
}

/// The body length the headers declare (RFC 3261 §20.14). Two different
/// values leave the framing unknown (§18.3): an error, as is a value that
/// is not a number. The same value repeated is harmless.
pub fn content_length(headers: &[(String, String)]) -> Result<Option<usize>, ParseError> {
    let mut found: Option<usize> = None;
    for (_, v) in headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
    {
        let n: usize = v
            .parse()
            .map_err(|_| err(format!("bad Content-Length: {v:.20}")))?;
        if found.is_some_and(|f| f != n) {
            return Err(err("two different Content-Length values"));
        }
        found = Some(n);
    }
    Ok(found)
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        let mut parts = rest.splitn(3, ' ');
        let version = format!("SIP/{}", parts.next().unwrap_or_default());
        let code: u16 = parts
            .next()
            .and_then(|c| c.parse().ok())
            .filter(|c| (100..700).contains(c))
            .ok_or_else(|| err("bad status code"))?;
        let reason = parts.next().unwrap_or_default().to_string();
        return Ok(StartLine::Response {
            version,
            code,
            reason,
        });
    }
    // RFC 3261 §7.1: Method SP Request-URI SP SIP-Version, one SP each
    // (RFC 4475 §3.1.2.8-10: more, or trailing ones, make it invalid).
    let mut parts = line.split(' ');
    let (method, uri, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(u), Some(v), None) if !u.is_empty() => (m, u, v),
        _ => return Err(err("bad request line")),
    };
    if !is_token(method) {
        return Err(err("bad method"));
    }
    if !has_scheme(uri) {
        return Err(err("bad Request-URI"));
    }
    if !version.starts_with("SIP/") {
        return Err(err("bad SIP version"));
    }
    Ok(StartLine::Request {
        method: method.to_string(),
        uri: uri.to_string(),
        version: version.to_string(),
    })
}

/// RFC 3986 §3.1 (as RFC 3261 §25.1 uses it): a URI starts with
/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"`. A Request-URI in `<>`
/// (RFC 4475 §3.1.2.7) does not.
fn has_scheme(uri: &str) -> bool {
    let Some((scheme, _)) = uri.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// First value of a header, by canonical or any-case name.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Every value of a header, with comma-separated values split apart
/// (RFC 3261 §7.3.1), respecting quotes and angle brackets.
pub fn header_values<'a>(headers: &'a [(String, String)], name: &'a str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| split_commas(v))
        .collect()
}

/// Splits a header value on commas outside quotes and `<…>`.
pub fn split_commas(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut escaped) = (false, false, false);
    let mut from = 0;
    for (i, c) in v.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                let part = v[from..i].trim();
                if !part.is_empty() {
                    out.push(part);
                }
                from = i + 1;
            }
            _ => {}
        }
    }
    let part = v[from..].trim();
    if !part.is_empty() {
        out.push(part);
    }
    out
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub fn header_values<'a>(&'a self, name: &'a str) -> Vec<&'a str> {
        header_values(&self.headers, name)
    }

    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID").filter(|v| !v.is_empty())
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let v = self.header("CSeq")?;
        let mut it = v.split_whitespace();
        let n = it.next()?.parse().ok()?;
        let m = it.next()?;
        if it.next().is_some() {
            return None;
        }
        Some((n, m))
    }

    pub fn from_tag(&self) -> Option<&str> {
        self.header("From").and_then(|v| param(v, "tag"))
    }

    pub fn to_tag(&self) -> Option<&str> {
        self.header("To").and_then(|v| param(v, "tag"))
    }

    pub fn top_via(&self) -> Option<&str> {
        self.header_values("Via").into_iter().next()
    }

    pub fn content_type(&self) -> Option<&str> {
        self.header("Content-Type")
    }
}

/// Splits a name-addr or addr-spec header value into the URI and the header
/// parameters after it. Quoted strings (display names, `+sip.instance="<…>"`)
/// are skipped, so a `<` or `>` inside quotes is never taken for the URI's.
fn split_name_addr(value: &str) -> (&str, &str) {
    let bytes = value.as_bytes();
    let (mut quoted, mut escaped) = (false, false);
    let mut open = None;
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'<' if !quoted && open.is_none() => open = Some(i),
            b'>' if !quoted => {
                if let Some(a) = open {
                    return (value[a + 1..i].trim(), &value[i + 1..]);
                }
            }
            _ => {}
        }
    }
    // RFC 3261 §20: in an addr-spec, parameters after the URI are header params.
    let v = value.trim();
    match v.find(';') {
        Some(i) => (v[..i].trim(), &v[i..]),
        None => (v, ""),
    }
}

/// A header parameter (`;name=value` after the URI part), case-insensitive
/// name. Parameters inside `<…>` belong to the URI and are skipped.
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let (_, tail) = split_name_addr(value);
    for p in tail.split(';') {
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (p.trim(), ""),
        };
        if !k.is_empty() && k.eq_ignore_ascii_case(name) {
            return Some(v.trim_matches('"'));
        }
    }
    None
}

/// Whether a bare parameter (like `rport`) is present.
pub fn has_param(value: &str, name: &str) -> bool {
    param(value, name).is_some()
}

/// The URI inside a name-addr (`"x" <sip:…>;tag=1`) or an addr-spec
/// (`sip:…;tag=1`, where the parameters belong to the header, RFC 3261 §20).
pub fn uri_of(value: &str) -> &str {
    split_name_addr(value).0
}

/// The user part of a SIP URI (`sip:user@host`), without parameters.
pub fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri.split_once(':')?.1;
    let (user, _) = rest.split_once('@')?;
    let user = user.split(';').next().unwrap_or(user);
    let user = user.split(':').next().unwrap_or(user); // user:password
    (!user.is_empty()).then_some(user)
}

/// Host and port of a SIP URI, IPv6 references unbracketed.
pub fn uri_host_port(uri: &str) -> Option<(String, Option<u16>)> {
    let rest = uri.split_once(':')?.1;
    let rest = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    let hostport = rest.split([';', '?']).next()?;
    host_port(hostport)
}

/// Splits `host[:port]`, `[v6][:port]`.
pub fn host_port(s: &str) -> Option<(String, Option<u16>)> {
    let s = s.trim();
    if let Some(r) = s.strip_prefix('[') {
        let (h, after) = r.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((h.to_string(), port));
    }
    match s.split_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(p.parse().ok()?))),
        None if !s.is_empty() => Some((s.to_string(), None)),
        None => None,
    }
}

/// A Via value split into transport, sent-by and the parameters.
#[derive(Debug, Clone)]
pub struct Via<'a> {
    pub transport: &'a str,
    /// The protocol version, `2.0` in every Via smileyd takes.
    pub version: &'a str,
    pub host: String,
    pub port: Option<u16>,
    pub raw: &'a str,
}

impl<'a> Via<'a> {
    /// RFC 3261 §20.42, §25.1: `sent-protocol LWS sent-by *( SEMI via-params )`
    /// with `sent-protocol = name SLASH version SLASH transport`, where SLASH,
    /// SEMI and the COLON in sent-by may have whitespace around them
    /// (RFC 4475 §3.1.1.1). Any version is read, so that a request of
    /// another SIP version can still be answered (505).
    pub fn parse(v: &'a str) -> Option<Via<'a>> {
        let mut rest = v.trim_start();
        let mut proto = [""; 3];
        for (i, slot) in proto.iter_mut().enumerate() {
            let end = rest
                .find(|c: char| c == '/' || c.is_whitespace())
                .unwrap_or(rest.len());
            *slot = &rest[..end];
            rest = rest[end..].trim_start();
            if i < 2 {
                rest = rest.strip_prefix('/')?.trim_start();
            }
        }
        let [name, version, transport] = proto;
        let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let version_ok = version
            .split_once('.')
            .is_some_and(|(a, b)| numeric(a) && numeric(b));
        if !name.eq_ignore_ascii_case("SIP") || !version_ok || !is_token(transport) {
            return None;
        }
        let sent_by: String = rest
            .split(';')
            .next()?
            .split_whitespace()
            .collect::<Vec<_>>()
            .concat();
        let (host, port) = host_port(&sent_by)?;
        Some(Via {
            transport,
            version,
            host,
            port,
            raw: v,
        })
    }

    pub fn branch(&self) -> Option<&'a str> {
        param(self.raw, "branch")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_folded_lf_and_any_case() {
        let raw = b"INVITE sip:smiley@127.0.0.1 SIP/2.0\nv: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport\nVIA: SIP/2.0/TCP p.example, SIP/2.0/UDP q\nf: \"A, B\" <sip:a@b>;tag=9\nt: sip:survey@host\ni: abc@host\ncseq: 1\n  INVITE\nX-Agent-Id: 42\nl: 4\n\nabcdEXTRA";
        let m = parse(raw, true).unwrap();
        assert_eq!(m.method(), Some("INVITE"));
        assert_eq!(m.call_id(), Some("abc@host"));
        assert_eq!(m.cseq(), Some((1, "INVITE")));
        assert_eq!(m.from_tag(), Some("9"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.header_values("Via").len(), 3);
        assert_eq!(m.header("x-agent-id"), Some("42"));
        assert_eq!(m.body, b"abcd");
        let via = Via::parse(m.top_via().unwrap()).unwrap();
        assert_eq!(via.host, "10.0.0.1");
        assert_eq!(via.port, Some(5060));
        assert_eq!(via.branch(), Some("z9hG4bK1"));
        assert!(has_param(via.raw, "rport"));
        let folded = Via::parse("SIP  /   2.0 /UDP 192.0.2.2 : 5070 ;branch=390skdjuw").unwrap();
        assert_eq!((folded.transport, folded.version), ("UDP", "2.0"));
        assert_eq!(
            (folded.host.as_str(), folded.port),
            ("192.0.2.2", Some(5070))
        );
        assert_eq!(folded.branch(), Some("390skdjuw"));
        assert_eq!(
            Via::parse("SIP/7.0/UDP c.example.com").unwrap().version,
            "7.0"
        );
        assert!(Via::parse("SIP/2.0/UDP").is_none());
        assert!(Via::parse("SIP/x/UDP h").is_none());
    }

    #[test]
    fn to_without_brackets_keeps_tag_as_header_param() {
        assert_eq!(uri_of("sip:survey@host;tag=x"), "sip:survey@host");
        assert_eq!(param("sip:survey@host;tag=x", "tag"), Some("x"));
        assert_eq!(param("<sip:a@b;transport=tcp>;tag=y", "tag"), Some("y"));
        assert_eq!(param("<sip:a@b;tag=no>", "tag"), None);
        assert_eq!(uri_user("sip:nps@example.com;user=phone"), Some("nps"));
        let linphone =
            "<sip:127.0.0.1:5062;transport=udp>;+sip.instance=\"<urn:uuid:1d84>\";expires=60";
        assert_eq!(uri_of(linphone), "sip:127.0.0.1:5062;transport=udp");
        assert_eq!(param(linphone, "expires"), Some("60"));
        assert_eq!(uri_of("\"A <b>\" <sip:a@b>;tag=1"), "sip:a@b");
        assert_eq!(param("\"A <b>\" <sip:a@b>;tag=1", "tag"), Some("1"));
        assert_eq!(
            uri_host_port("sip:x@[::1]:5062;transport=tcp"),
            Some(("::1".into(), Some(5062)))
        );
    }

    #[test]
    fn rejects_malformed() {
        assert!(parse(b"garbage", true).is_err());
        assert!(parse(b"INVITE sip:x SIP/2.0\r\nVia x\r\n\r\n", true).is_err());
        assert!(parse(b"INVITE sip:x SIP/2.0\r\nContent-Length: 9\r\n\r\nab", true).is_err());
        assert!(parse(b"INVITE sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n", true).is_err());
        assert!(parse(b"\xff\xfe\r\n\r\n", true).is_err());
        assert!(parse(b"SIP/2.0 99 x\r\n\r\n", true).is_err());
        for line in [
            "INVITE  sip:a@b SIP/2.0",
            "OPTIONS sip:a@b SIP/2.0  ",
            "INVITE <sip:a@b> SIP/2.0",
            "INVITE sip:a@b; lr SIP/2.0",
        ] {
            let raw = format!("{line}\r\nVia: SIP/2.0/UDP h\r\n\r\n");
            assert!(parse(raw.as_bytes(), true).is_err(), "{line}");
        }
        let two = b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 2\r\nl: 3\r\n\r\nabc";
        assert_eq!(
            parse(two, true).unwrap_err().0,
            "two different Content-Length values"
        );
        let same = b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 3\r\nl: 03\r\n\r\nabc";
        assert_eq!(parse(same, true).unwrap().body, b"abc");
    }

    #[test]
    fn never_panics_on_prefixes() {
        let raw = b"INVITE sip:[::1]:5060 SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:5\r\nf: <sip:a@b>;tag=1\r\nt: x\r\nl: 2\r\n\r\nab";
        for n in 0..raw.len() {
            let _ = parse(&raw[..n], true);
            let _ = parse(&raw[n..], true);
        }
    }
}
