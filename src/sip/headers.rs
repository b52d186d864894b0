//! The headers every layer needs (top Via, Call-ID, From/To tags, CSeq),
//! parsed once when a request arrives, together with the checks that make
//! a request invalid (RFC 3261 §8.2).

use super::message::{has_param, Message, StartLine, Via};

/// The top Via, as the transaction layer and response routing use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopVia {
    pub host: String,
    pub port: Option<u16>,
    pub branch: Option<String>,
    /// RFC 3581: the client asked for responses to its source port.
    pub rport: bool,
}

impl TopVia {
    pub fn of(msg: &Message) -> Option<TopVia> {
        let via = Via::parse(msg.top_via()?)?;
        Some(TopVia {
            host: via.host.clone(),
            port: via.port,
            branch: via.branch().map(str::to_string),
            rport: has_param(via.raw, "rport"),
        })
    }

    /// RFC 3261 §8.1.1.7: a branch with the magic cookie is unique per
    /// transaction; older peers' branches are not.
    pub fn rfc3261_branch(&self) -> Option<&str> {
        self.branch.as_deref().filter(|b| b.starts_with("z9hG4bK"))
    }
}

/// A request's core headers, checked and parsed once.
#[derive(Clone, Debug)]
pub struct CoreHeaders {
    /// From the request line, the same as the CSeq method (checked).
    pub method: String,
    /// The CSeq number.
    pub cseq: u32,
    pub request_uri: String,
    pub via: TopVia,
    pub call_id: String,
    /// The caller's tag.
    pub from_tag: Option<String>,
    /// Our tag: present in a request within a dialog (§12.2).
    pub to_tag: Option<String>,
}

/// Why a request is not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Invalid {
    /// No usable Via: there is nowhere to send a response.
    Unanswerable,
    /// Answer with this status (400, 416, 505).
    Respond(u16, String),
}

impl CoreHeaders {
    /// RFC 3261 §8.2: the checks that make a request invalid (400, 416,
    /// 505), and the core headers of one that passes.
    pub fn of_request(req: &Message) -> Result<CoreHeaders, Invalid> {
        let StartLine::Request {
            method,
            uri,
            version,
        } = &req.start
        else {
            return Err(Invalid::Unanswerable);
        };
        let via = TopVia::of(req).ok_or(Invalid::Unanswerable)?;
        let bad = |what: &str| Invalid::Respond(400, format!("Bad Request ({what})"));
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err(Invalid::Respond(505, "Version Not Supported".into()));
        }
        let scheme = uri.split(':').next().unwrap_or("").to_ascii_lowercase();
        if !matches!(scheme.as_str(), "sip" | "sips" | "tel") {
            return Err(Invalid::Respond(416, "Unsupported URI Scheme".into()));
        }
        // RFC 3261 §19.1.1 (table 1): headers are not allowed in a
        // Request-URI (RFC 4475 §3.1.2.11 lets a UAS refuse them with 400).
        let hostport = uri.rsplit_once('@').map_or(uri.as_str(), |(_, h)| h);
        if matches!(scheme.as_str(), "sip" | "sips") && hostport.contains('?') {
            return Err(bad("headers in the Request-URI"));
        }
        let call_id = req.call_id().ok_or_else(|| bad("missing Call-ID"))?;
        if req.header("From").is_none() {
            return Err(bad("missing From"));
        }
        if req.header("To").is_none() {
            return Err(bad("missing To"));
        }
        let cseq = match req.cseq() {
            None => return Err(bad("missing or malformed CSeq")),
            Some((_, m)) if m != method => {
                return Err(bad("CSeq method does not match the request"))
            }
            Some((n, _)) => n,
        };
        if let Some(mf) = req.header("Max-Forwards") {
            if mf.parse::<u8>().is_err() {
                return Err(bad("malformed Max-Forwards"));
            }
        }
        if req
            .header_values("Via")
            .iter()
            .any(|v| Via::parse(v).is_none())
        {
            return Err(bad("malformed Via"));
        }
        if req.header_values("From").len() > 1 || req.header_values("To").len() > 1 {
            return Err(bad("more than one From or To"));
        }
        // RFC 4475 §3.1.2.6: a display name whose quoted string never ends.
        for name in ["From", "To", "Contact"] {
            if req.header_values(name).iter().any(|v| !quotes_close(v)) {
                return Err(bad(&format!("unterminated quoted string in {name}")));
            }
        }
        Ok(CoreHeaders {
            method: method.clone(),
            request_uri: uri.clone(),
            via,
            call_id: call_id.to_string(),
            from_tag: req.from_tag().map(str::to_string),
            to_tag: req.to_tag().map(str::to_string),
            cseq,
        })
    }
}

/// Whether every quoted string in a header value ends (RFC 3261 §25.1:
/// `quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE`).
fn quotes_close(value: &str) -> bool {
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ => {}
        }
    }
    !quoted
}

/// A message that failed to parse, reduced to the headers a 400 needs
/// (RFC 3261 §21.4.1), when it is a request that has them. Responses and
/// ACKs are never answered.
pub fn salvage_for_400(raw: &[u8]) -> Option<Message> {
    let text = String::from_utf8_lossy(raw);
    if text.starts_with("SIP/") || text.contains("\r\nACK ") || text.starts_with("ACK ") {
        return None;
    }
    let mut headers = Vec::new();
    for line in text.lines().skip(1) {
        if line.is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            let canon = match n.trim().to_ascii_lowercase().as_str() {
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
    // A request line, even one with extra spaces (RFC 4475 §3.1.2.8-10).
    let first: Vec<&str> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let looks_like_request = first.len() >= 3 && first.last() == Some(&"SIP/2.0");
    let shell = Message {
        start: StartLine::Request {
            method: String::new(),
            uri: String::new(),
            version: "SIP/2.0".into(),
        },
        headers,
        body: Vec::new(),
    };
    (looks_like_request && TopVia::of(&shell).is_some() && shell.call_id().is_some())
        .then_some(shell)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::parse;

    fn core(raw: &str) -> Result<CoreHeaders, Invalid> {
        CoreHeaders::of_request(&parse(raw.as_bytes(), true).unwrap())
    }

    const GOOD: &str = "BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h:5062;branch=z9hG4bKx\r\nFrom: <sip:c@d>;tag=f\r\nTo: <sip:a@b>;tag=t\r\nCall-ID: c1\r\nCSeq: 4 BYE\r\n\r\n";

    #[test]
    fn parses_the_core_once() {
        let c = core(GOOD).unwrap();
        assert_eq!(c.method, "BYE");
        assert_eq!(c.call_id, "c1");
        assert_eq!(c.cseq, 4);
        assert_eq!(c.from_tag.as_deref(), Some("f"));
        assert_eq!(c.to_tag.as_deref(), Some("t"));
        assert_eq!(c.via.port, Some(5062));
        assert_eq!(c.via.rfc3261_branch(), Some("z9hG4bKx"));
    }

    #[test]
    fn quoted_strings_with_escapes() {
        assert!(quotes_close(r#""J Rosenberg \\\"" <sip:a@b>"#));
        assert!(quotes_close("sip:a@b"));
        assert!(!quotes_close(r#""Mr. J. User <sip:a@b>"#));
        assert!(!quotes_close(r#""a\" <sip:a@b>"#));
    }

    #[test]
    fn names_what_is_wrong() {
        let cases = [
            ("CSeq: 4 BYE", "CSeq: 4 INVITE", 400),
            ("Call-ID: c1\r\n", "", 400),
            ("SIP/2.0\r\nVia", "SIP/3.0\r\nVia", 505),
            ("BYE sip:a@b", "BYE http:a@b", 416),
            ("BYE sip:a@b", "BYE sip:a@b?Route=%3Csip:x%3E", 400),
            ("To: <sip:a@b>", "To: \"A <sip:a@b>", 400),
        ];
        for (from, to, code) in cases {
            match core(&GOOD.replace(from, to)) {
                Err(Invalid::Respond(c, _)) => assert_eq!(c, code, "{to}"),
                other => panic!("{to}: {other:?}"),
            }
        }
        // A '?' in the user part is allowed (RFC 3261 §25.1 user-unreserved).
        assert!(core(&GOOD.replace("BYE sip:a@b", "BYE sip:a?b@b")).is_ok());
        assert_eq!(
            core(&GOOD.replace("Via: SIP/2.0/UDP h:5062;branch=z9hG4bKx\r\n", "")).err(),
            Some(Invalid::Unanswerable)
        );
    }
}
