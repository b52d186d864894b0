//! Building the messages smileyd sends. rsip renders them: its message
//! types write the start line, its header types the canonical header names
//! (`Call-ID`, `CSeq`, …), and `Content-Length` is always written. Header
//! values are the text received or composed here, so what a peer sent (a
//! Via, a From with its display name) goes back byte for byte.
//!
//! rsip has no request-to-response helper, so `response` does what
//! RFC 3261 §8.2.6.2 asks: copy every Via in order, From, To (adding our tag),
//! Call-ID and CSeq, and mark the top Via with `received`/`rport` (§18.2.1,
//! RFC 3581 §4).

use bytes::Bytes;
use rand::Rng;
use rsip::headers::{self as h, UntypedHeader};
use rsip::{Header, Headers, StatusCode, Version};

use super::headers::TopVia;
use super::message::{has_param, Message, Via};
use super::transport::Flow;

pub const USER_AGENT: &str = concat!("smileyd/", env!("CARGO_PKG_VERSION"));
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, PRACK";
/// RFC 3262 (`100rel`, see `prack`) and RFC 4028 (`timer`).
pub const SUPPORTED: &str = "100rel, timer";

/// RFC 3261 §8.1.1.7: branches start with the magic cookie.
pub fn new_branch() -> String {
    format!("z9hG4bK{}", random_token(16))
}

pub fn new_tag() -> String {
    random_token(12)
}

pub fn random_token(len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// A header as one of rsip's types where rsip has one, so that rsip writes
/// its name; others keep the name given.
fn header(name: &str, value: impl Into<String>) -> Header {
    let v = value.into();
    match name {
        "Via" => Header::Via(h::Via::new(v)),
        "From" => Header::From(h::From::new(v)),
        "To" => Header::To(h::To::new(v)),
        "Call-ID" => Header::CallId(h::CallId::new(v)),
        "CSeq" => Header::CSeq(h::CSeq::new(v)),
        "Contact" => Header::Contact(h::Contact::new(v)),
        "Record-Route" => Header::RecordRoute(h::RecordRoute::new(v)),
        "Route" => Header::Route(h::Route::new(v)),
        "Max-Forwards" => Header::MaxForwards(h::MaxForwards::new(v)),
        "Timestamp" => Header::Timestamp(h::Timestamp::new(v)),
        "Allow" => Header::Allow(h::Allow::new(v)),
        "Accept" => Header::Accept(h::Accept::new(v)),
        "Supported" => Header::Supported(h::Supported::new(v)),
        "Require" => Header::Require(h::Require::new(v)),
        "Min-SE" => Header::Other("Min-SE".into(), v),
        "Unsupported" => Header::Unsupported(h::Unsupported::new(v)),
        "Retry-After" => Header::RetryAfter(h::RetryAfter::new(v)),
        "Warning" => Header::Warning(h::Warning::new(v)),
        "Server" => Header::Server(h::Server::new(v)),
        "User-Agent" => Header::UserAgent(h::UserAgent::new(v)),
        "Content-Type" => Header::ContentType(h::ContentType::new(v)),
        "Content-Length" => Header::ContentLength(h::ContentLength::new(v)),
        _ => Header::Other(name.to_string(), v),
    }
}

/// Writes the received parameters onto the top Via (RFC 3261 §18.2.1,
/// RFC 3581 §4): `received` when the source differs from sent-by, `rport`
/// filled with the source port when the client asked for it.
fn stamp_via(top: &str, flow: Flow) -> String {
    let src = flow.peer();
    let Some(via) = Via::parse(top) else {
        return top.to_string();
    };
    let mut out = String::with_capacity(top.len() + 40);
    let rport_asked = has_param(top, "rport");
    for (i, part) in top.split(';').enumerate() {
        if i > 0 {
            let key = part.split('=').next().unwrap_or("").trim();
            if key.eq_ignore_ascii_case("received") {
                continue;
            }
            if key.eq_ignore_ascii_case("rport") {
                out.push_str(&format!(";rport={}", src.port()));
                continue;
            }
            out.push(';');
        }
        out.push_str(part);
    }
    let sent_ip: Option<std::net::IpAddr> = via.host.parse().ok();
    if rport_asked || sent_ip != Some(src.ip()) {
        out.push_str(&format!(";received={}", src.ip()));
    }
    out
}

/// A response to `req` (RFC 3261 §8.2.6). `to_tag` is added to To when the
/// request had none and the response is not 100 (§8.2.6.2).
pub fn response(
    req: &Message,
    flow: Flow,
    (code, reason): (u16, &str),
    to_tag: Option<&str>,
    extra: &[(&str, String)],
    body: Option<(&str, &[u8])>,
) -> Bytes {
    let mut headers = Headers::default();
    for (i, via) in req.header_values("Via").into_iter().enumerate() {
        let v = if i == 0 {
            stamp_via(via, flow)
        } else {
            via.to_string()
        };
        headers.push(header("Via", v));
    }
    if let Some(from) = req.header("From") {
        headers.push(header("From", from));
    }
    if let Some(to) = req.header("To") {
        let to = match (req.to_tag(), to_tag) {
            (None, Some(tag)) if code > 100 => format!("{to};tag={tag}"),
            _ => to.to_string(),
        };
        headers.push(header("To", to));
    }
    if let Some(cid) = req.header("Call-ID") {
        headers.push(header("Call-ID", cid));
    }
    if let Some(cseq) = req.header("CSeq") {
        headers.push(header("CSeq", cseq));
    }
    // RFC 3261 §12.1.1: a response that makes a dialog carries the
    // request's Record-Route, in order, so the caller routes its ACK and
    // later requests through the same proxies (and we ours, see dialog).
    if (101..300).contains(&code) {
        for rr in req.header_values("Record-Route") {
            headers.push(header("Record-Route", rr));
        }
    }
    // RFC 3261 §8.2.6.1: a 100 echoes a Timestamp.
    if code == 100 {
        if let Some(ts) = req.header("Timestamp") {
            headers.push(header("Timestamp", ts));
        }
    }
    for (name, value) in extra {
        headers.push(header(name, value.clone()));
    }
    headers.push(header("Server", USER_AGENT));
    finish(&mut headers, body);
    let resp = rsip::Response {
        status_code: StatusCode::Other(code, reason.to_string()),
        version: Version::V2,
        headers,
        body: body.map(|(_, b)| b.to_vec()).unwrap_or_default(),
    };
    Bytes::from(resp.to_string())
}

fn finish(headers: &mut Headers, body: Option<(&str, &[u8])>) {
    if let Some((ct, _)) = body {
        headers.push(header("Content-Type", ct));
    }
    let len = body.map(|(_, b)| b.len()).unwrap_or(0);
    headers.push(header("Content-Length", len.to_string()));
}

/// An in-dialog request from us (RFC 3261 §12.2.1.1).
pub struct DialogRequest<'a> {
    pub method: rsip::Method,
    pub request_uri: &'a str,
    pub via_host: String,
    pub transport: &'a str,
    pub branch: &'a str,
    pub route_set: &'a [String],
    pub from: &'a str,
    pub to: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
    pub contact: &'a str,
    /// Further headers, before Contact.
    pub extra: &'a [(&'a str, String)],
}

pub fn request(r: &DialogRequest<'_>) -> Bytes {
    let uri = rsip::Uri::try_from(r.request_uri).ok();
    let mut headers = Headers::default();
    headers.push(header(
        "Via",
        format!(
            "SIP/2.0/{} {};branch={};rport",
            r.transport, r.via_host, r.branch
        ),
    ));
    headers.push(header("Max-Forwards", "70"));
    for route in r.route_set {
        headers.push(header("Route", route.clone()));
    }
    headers.push(header("From", r.from));
    headers.push(header("To", r.to));
    headers.push(header("Call-ID", r.call_id));
    headers.push(header("CSeq", format!("{} {}", r.cseq, r.method)));
    for (name, value) in r.extra {
        headers.push(header(name, value.clone()));
    }
    headers.push(header("Contact", r.contact));
    headers.push(header("User-Agent", USER_AGENT));
    finish(&mut headers, None);
    match uri {
        // rsip renders the URI it parsed; where it cannot (IPv6 hosts,
        // tel: with a leading '+'), the start line is written verbatim.
        Some(uri) if uri.to_string() == r.request_uri => {
            let req = rsip::Request {
                method: r.method,
                uri,
                version: Version::V2,
                headers,
                body: Vec::new(),
            };
            Bytes::from(req.to_string())
        }
        _ => Bytes::from(format!(
            "{} {} SIP/2.0\r\n{}\r\n",
            r.method, r.request_uri, headers
        )),
    }
}

/// `host:port` for Via and Contact, with IPv6 in brackets.
pub fn host_with_port(ip: std::net::IpAddr, port: u16) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
        std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// Our Contact URI for a dialog made by a request that arrived on `flow`
/// for `request_uri`. RFC 3261 §8.1.1.8 / §12.1.1: a request to a sips: URI
/// gets a sips: Contact (over TLS, and without transport=tls, which RFC
/// 5630 §3.2.2 deprecates for sips:); sip: over TLS gets transport=tls.
pub fn contact_uri(local_host: &str, flow: Flow, request_uri: &str) -> String {
    let sips = request_uri
        .get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("sips:"));
    match flow {
        Flow::Tls(_) if sips => format!("sips:smileyd@{local_host}"),
        Flow::Tls(_) => format!("sip:smileyd@{local_host};transport=tls"),
        Flow::Tcp(_) => format!("sip:smileyd@{local_host};transport=tcp"),
        Flow::Udp(_) => format!("sip:smileyd@{local_host}"),
    }
}

/// Where a response goes (RFC 3261 §18.2.2, RFC 3581 §4): over a stream,
/// back on the connection; over UDP, to the source when `rport` was asked or
/// sent-by is not an address we can use, else to sent-by (with `received`).
pub fn response_flow(via: &TopVia, flow: Flow) -> Flow {
    let Flow::Udp(src) = flow else { return flow };
    if via.rport {
        return flow;
    }
    let port = via.port.unwrap_or(5060);
    match via.host.parse::<std::net::IpAddr>() {
        Ok(ip) if ip == src.ip() => Flow::Udp((ip, port).into()),
        // received= is the source address; the port is sent-by's.
        _ => Flow::Udp((src.ip(), port).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::parse;

    const REQ: &[u8] = b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bKa;rport\r\nVia: SIP/2.0/UDP proxy;branch=z9hG4bKb\r\nFrom: <sip:a@b>;tag=1\r\nTo: sip:x@127.0.0.1\r\nCall-ID: c1\r\nCSeq: 7 OPTIONS\r\n\r\n";

    #[test]
    fn response_copies_headers_and_stamps_via() {
        let req = parse(REQ, true).unwrap();
        let flow = Flow::Udp("192.0.2.9:4000".parse().unwrap());
        let out = response(&req, flow, (200, "OK"), Some("tt"), &[], None);
        let resp = parse(&out, true).unwrap();
        assert_eq!(resp.status(), Some(200));
        let vias = resp.header_values("Via");
        assert_eq!(vias.len(), 2);
        assert!(vias[0].contains("rport=4000"), "{}", vias[0]);
        assert!(vias[0].contains("received=192.0.2.9"));
        assert_eq!(resp.to_tag(), Some("tt"));
        assert_eq!(resp.cseq(), Some((7, "OPTIONS")));
        assert_eq!(resp.call_id(), Some("c1"));
        assert_eq!(response_flow(&TopVia::of(&req).unwrap(), flow), flow);
    }

    #[test]
    fn dialog_responses_copy_record_route_in_order() {
        let raw = String::from_utf8_lossy(REQ).replace(
            "Call-ID: c1\r\n",
            "Record-Route: <sip:10.0.0.1;lr;ftag=1>, <sip:10.0.0.2;lr>\r\nCall-ID: c1\r\nRecord-Route: <sip:10.0.0.3;lr>\r\n",
        );
        let req = parse(raw.as_bytes(), true).unwrap();
        let flow = Flow::Udp("192.0.2.9:4000".parse().unwrap());
        let ok = parse(
            &response(&req, flow, (200, "OK"), Some("tt"), &[], None),
            true,
        )
        .unwrap();
        assert_eq!(
            ok.header_values("Record-Route"),
            [
                "<sip:10.0.0.1;lr;ftag=1>",
                "<sip:10.0.0.2;lr>",
                "<sip:10.0.0.3;lr>"
            ]
        );
        for code in [100, 486] {
            let r = parse(
                &response(&req, flow, (code, "x"), Some("tt"), &[], None),
                true,
            )
            .unwrap();
            assert!(r.header_values("Record-Route").is_empty(), "{code}");
        }
    }

    #[test]
    fn response_flow_without_rport_uses_sent_by_port() {
        let raw = String::from_utf8_lossy(REQ).replace(";rport", "");
        let req = parse(raw.as_bytes(), true).unwrap();
        let flow = Flow::Udp("192.0.2.9:4000".parse().unwrap());
        assert_eq!(
            response_flow(&TopVia::of(&req).unwrap(), flow),
            Flow::Udp("192.0.2.9:5070".parse().unwrap())
        );
    }
}
