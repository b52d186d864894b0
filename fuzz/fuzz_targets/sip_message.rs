//! The SIP message parser (src/sip/message.rs) on anything a UDP datagram
//! or a framed TCP message may hold, and what the daemon does next with a
//! request: the core-header check, the 400 salvage, a response built from it.
//!
//! Invariants: what parses as a stream message parses as a datagram; a
//! parsed message rendered back to text parses to the same
//! start line, headers and body; a response built for a request that passed
//! the core-header check parses and echoes its Call-ID and CSeq
//! (RFC 3261 §8.2.6.2).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smileyd::sip::build;
use smileyd::sip::headers::{salvage_for_400, CoreHeaders};
use smileyd::sip::message::{self, parse, Message, StartLine, Via};
use smileyd::sip::transport::Flow;

fn render(m: &Message) -> Vec<u8> {
    let mut out = match &m.start {
        StartLine::Request {
            method,
            uri,
            version,
        } => format!("{method} {uri} {version}\r\n"),
        StartLine::Response {
            version,
            code,
            reason,
        } => format!("{version} {code} {reason}\r\n"),
    }
    .into_bytes();
    for (name, value) in &m.headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&m.body);
    out
}

fuzz_target!(|raw: &[u8]| {
    let _ = salvage_for_400(raw);
    // As a stream message (framed by Content-Length) and as a datagram.
    let stream = parse(raw, false);
    let Ok(msg) = parse(raw, true) else {
        assert!(stream.is_err(), "a stream message that is no datagram");
        return;
    };
    for (m, datagram) in [(Some(&msg), true), (stream.as_ref().ok(), false)] {
        let Some(m) = m else { continue };
        let again = parse(&render(m), datagram).expect("a rendered message parses");
        assert_eq!(m.start, again.start);
        assert_eq!(m.headers, again.headers);
        assert_eq!(m.body, again.body);
    }

    // The readers every layer uses, on every value.
    for (_, value) in &msg.headers {
        let _ = message::split_commas(value);
        let _ = message::param(value, "tag");
        let uri = message::uri_of(value);
        let _ = message::uri_user(uri);
        let _ = message::uri_host_port(uri);
        if let Some(via) = Via::parse(value) {
            let _ = via.branch();
        }
    }
    let _ = (msg.cseq(), msg.from_tag(), msg.to_tag(), msg.top_via());

    if msg.method().is_none() {
        return;
    }
    let Ok(core) = CoreHeaders::of_request(&msg) else {
        return;
    };
    assert_eq!(Some(core.call_id.as_str()), msg.call_id());
    let _ = build::response_flow(&core.via, Flow::Udp(([127, 0, 0, 1], 5060).into()));
    let flow = Flow::Udp(([127, 0, 0, 1], 5060).into());
    let reply = build::response(&msg, flow, (400, "Bad Request"), Some("fz1"), &[], None);
    let reply = parse(&reply, true).expect("our response parses");
    assert_eq!(reply.status(), Some(400));
    assert_eq!(reply.call_id(), msg.call_id());
    assert_eq!(
        reply.cseq().map(|(n, m)| (n, m.to_string())),
        msg.cseq().map(|(n, m)| (n, m.to_string()))
    );
});
