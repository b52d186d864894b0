//! RFC 4475, the SIP torture test messages: all 49 of them, byte for byte
//! as the RFC's archive has them (tests/rfc4475/, see its README), sent to
//! a real daemon over UDP and over TCP, each with the answer the RFC
//! implies: valid requests answered as any request of their kind, invalid
//! ones refused with 400 (or the more precise 505, 416, 420, 415, 406 the
//! RFC names), responses and unparsable messages dropped, never a panic.
//!
//! The daemons here take no calls from loopback (`sip.allowed_networks`
//! is 10.0.0.0/8): a valid INVITE outside a dialog is answered 403, after
//! every check of its syntax and body, so that no media is ever sent to
//! the documentation addresses in the RFC's SDP. An INVITE inside a dialog
//! that does not exist is 481.
//!
//! Over TCP each message gets a connection of its own and the status lines
//! that come back on it are the answer. Over UDP the answers go to the
//! port in each message's Via (5060 mostly), where no test can listen, so
//! the daemon's own count of the responses it sent (/metrics) is read
//! after each message instead, with an OPTIONS of ours (answered on our
//! socket) behind it to know the message has been handled.
//!
//! Three pairs of messages share a transaction key (same branch, sent-by
//! and method: cparam01/02, escnull/regescrt, unkscm/novelsc). For a
//! daemon the second of a pair is a retransmission of the first, so the
//! second goes to a daemon of its own.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use common::sip::{new_branch, new_call_id, new_tag};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

struct Case {
    file: &'static str,
    section: &'static str,
    bytes: &'static [u8],
    /// The status codes the daemon sends, in order, over UDP and TCP.
    udp: &'static [u16],
    tcp: &'static [u16],
    /// Shares a transaction key with an earlier message: own daemon.
    twin: bool,
}

macro_rules! case {
    ($file:literal, $section:literal, $udp:expr, $tcp:expr) => {
        case!($file, $section, $udp, $tcp, false)
    };
    ($file:literal, $section:literal, $udp:expr, $tcp:expr, $twin:expr) => {
        Case {
            file: $file,
            section: $section,
            bytes: include_bytes!(concat!("rfc4475/", $file, ".dat")),
            udp: $udp,
            tcp: $tcp,
            twin: $twin,
        }
    };
}

const NOTHING: &[u16] = &[];

/// The RFC's verdict on each message, as smileyd (a UAS that takes no
/// REGISTER or MESSAGE, and here no calls from loopback) carries it out.
const CASES: &[Case] = &[
    // §3.1.1 valid messages.
    // Folding, LWS around every separator, a To tag: an INVITE in a dialog
    // that does not exist.
    case!("wsinv", "3.1.1.1", &[481], &[481]),
    // An unknown method made of every token character: 501 (RFC 3261 §8.2.1).
    case!("intmeth", "3.1.1.2", &[501], &[501]),
    case!("esc01", "3.1.1.3", &[403], &[403]),
    case!("escnull", "3.1.1.4", &[501], &[501]),
    // RE%47IST%45R is not REGISTER: an unknown method.
    case!("esc02", "3.1.1.5", &[501], &[501]),
    case!("lwsdisp", "3.1.1.6", &[200], &[200]),
    case!("longreq", "3.1.1.7", &[403], &[403]),
    // Over UDP the bytes after Content-Length are ignored (RFC 3261 §18.3);
    // over a stream they are the next message, an INVITE.
    case!("dblreq", "3.1.1.8", &[501], &[501, 403]),
    case!("semiuri", "3.1.1.9", &[200], &[200]),
    case!("transports", "3.1.1.10", &[200], &[200]),
    case!("mpart01", "3.1.1.11", &[501], &[501]),
    // Responses to nothing of ours: dropped.
    case!("unreason", "3.1.1.12", NOTHING, NOTHING),
    case!("noreason", "3.1.1.13", NOTHING, NOTHING),
    // §3.1.2 invalid messages.
    case!("badinv01", "3.1.2.1", &[400], &[400]),
    // Over a stream, a Content-Length past the end means more is to come.
    case!("clerr", "3.1.2.2", &[400], NOTHING),
    case!("ncl", "3.1.2.3", &[400], &[400]),
    case!("scalar02", "3.1.2.4", &[400], &[400]),
    case!("scalarlg", "3.1.2.5", NOTHING, NOTHING),
    case!("quotbal", "3.1.2.6", &[400], &[400]),
    case!("ltgtruri", "3.1.2.7", &[400], &[400]),
    case!("lwsruri", "3.1.2.8", &[400], &[400]),
    case!("lwsstart", "3.1.2.9", &[400], &[400]),
    case!("trws", "3.1.2.10", &[400], &[400]),
    case!("escruri", "3.1.2.11", &[400], &[400]),
    // A UAS that does not use Date may ignore it (§3.1.2.12).
    case!("baddate", "3.1.2.12", &[403], &[403]),
    // REGISTER is refused for its method before its Contact is read.
    case!("regbadct", "3.1.2.13", &[501], &[501]),
    // §3.1.2.14 lets an element be liberal about the spaces in To.
    case!("badaspec", "3.1.2.14", &[200], &[200]),
    // This copy ends after `l: 0` with no empty line: a datagram is read
    // as far as it goes (and refused), a stream waits for the rest.
    case!("baddn", "3.1.2.15", &[400], NOTHING),
    case!("badvers", "3.1.2.16", &[505], &[505]),
    case!("mismatch01", "3.1.2.17", &[400], &[400]),
    case!("mismatch02", "3.1.2.18", &[400], &[400]),
    case!("bigcode", "3.1.2.19", NOTHING, NOTHING),
    // §3.2 transaction layer: a branch of the bare magic cookie.
    case!("badbranch", "3.2.1", &[200], &[200]),
    // §3.3 application layer.
    case!("insuf", "3.3.1", &[400], &[400]),
    case!("unkscm", "3.3.2", &[416], &[416]),
    case!("novelsc", "3.3.3", &[416], &[416], true),
    case!("unksm2", "3.3.4", &[501], &[501]),
    case!("bext01", "3.3.5", &[420], &[420]),
    case!("invut", "3.3.6", &[415], &[415]),
    case!("regaut01", "3.3.7", &[501], &[501]),
    case!("multi01", "3.3.8", &[400], &[400]),
    case!("mcl01", "3.3.9", &[400], &[400]),
    case!("bcast", "3.3.10", NOTHING, NOTHING),
    // Max-Forwards 0 matters to proxies; the UAS answers.
    case!("zeromf", "3.3.11", &[200], &[200]),
    case!("cparam01", "3.3.12", &[501], &[501]),
    case!("cparam02", "3.3.13", &[501], &[501], true),
    case!("regescrt", "3.3.14", &[501], &[501], true),
    case!("sdp01", "3.3.15", &[406], &[406]),
    // §3.4 backward compatibility: RFC 2543 syntax is still answered.
    case!("inv2543", "3.4.1", &[403], &[403]),
];

fn settings() -> Settings {
    Settings {
        allowed_networks: vec!["10.0.0.0/8".into()],
        ..Settings::default()
    }
}

#[test]
fn all_49_messages_are_here_byte_for_byte() {
    assert_eq!(CASES.len(), 49);
    // Spot checks against the RFC's own text: CRLF line ends, the
    // non-UTF-8-safe bytes of §3.1.1.2 and §3.1.1.11 kept.
    for c in CASES {
        assert!(
            c.bytes.windows(2).any(|w| w == b"\r\n"),
            "{} lost its CRLFs",
            c.file
        );
    }
    let intmeth = CASES.iter().find(|c| c.file == "intmeth").unwrap();
    assert!(intmeth.bytes.windows(3).any(|w| w == b"\x07 N"));
    assert!(intmeth.bytes.contains(&0));
    let mpart = CASES.iter().find(|c| c.file == "mpart01").unwrap();
    assert!(std::str::from_utf8(mpart.bytes).is_err());
}

/// The codes of the responses the daemon has sent, from /metrics.
async fn responses_sent(d: &Daemon) -> BTreeMap<u16, u64> {
    let text = reqwest::get(format!("{}/metrics", d.api.base))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("smileyd_sip_responses_total{") else {
            continue;
        };
        if !rest.contains("direction=\"out\"") {
            continue;
        }
        let code = rest
            .split("code=\"")
            .nth(1)
            .and_then(|c| c.split('"').next())
            .and_then(|c| c.parse::<u16>().ok());
        let value = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let (Some(code), Some(v)) = (code, value) {
            out.insert(code, v as u64);
        }
    }
    out
}

/// An OPTIONS from `sock` with rport, answered on `sock`: once its 200 is
/// here, everything sent before it has been handled.
async fn probe(sock: &UdpSocket, daemon: SocketAddr) {
    let local = sock.local_addr().unwrap();
    let branch = new_branch();
    let req = Request::new("OPTIONS", &format!("sip:probe@{daemon}"))
        .h("Via", format!("SIP/2.0/UDP {local};branch={branch};rport"))
        .h("Max-Forwards", "70")
        .h("From", format!("<sip:probe@{local}>;tag={}", new_tag()))
        .h("To", format!("<sip:probe@{daemon}>"))
        .h("Call-ID", new_call_id())
        .h("CSeq", "1 OPTIONS");
    sock.send_to(&req.to_bytes(), daemon).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, sock.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                if text.starts_with("SIP/2.0 200") && text.contains(&branch) {
                    return;
                }
            }
            _ => panic!("the daemon stopped answering OPTIONS"),
        }
    }
}

fn delta(before: &BTreeMap<u16, u64>, after: &BTreeMap<u16, u64>) -> BTreeMap<u16, u64> {
    after
        .iter()
        .map(|(code, n)| (*code, n - before.get(code).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn counted(codes: &[u16]) -> BTreeMap<u16, u64> {
    let mut m = BTreeMap::new();
    for c in codes {
        *m.entry(*c).or_insert(0) += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_over_udp() {
    let (mut main, mut twin) = tokio::join!(
        Daemon::with_settings(settings()),
        Daemon::with_settings(settings())
    );
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut failures = Vec::new();
    for c in CASES {
        let d = if c.twin { &twin } else { &main };
        let before = responses_sent(d).await;
        sock.send_to(c.bytes, d.sip).await.unwrap();
        probe(&sock, d.sip).await;
        let mut sent = delta(&before, &responses_sent(d).await);
        // The probe's own 200.
        if let Some(n) = sent.get_mut(&200) {
            *n -= 1;
        }
        sent.retain(|_, n| *n > 0);
        if sent != counted(c.udp) {
            failures.push(format!(
                "§{} {}.dat: sent {sent:?}, expected {:?}",
                c.section, c.file, c.udp
            ));
        }
    }
    assert!(main.alive() && twin.alive(), "a daemon died");
    assert!(failures.is_empty(), "over UDP:\n{}", failures.join("\n"));
}

/// Sends one message on a connection of its own and reads what comes
/// back: the status codes, and whether the daemon closed the connection.
async fn over_tcp(daemon: SocketAddr, c: &Case) -> (Vec<u16>, bool) {
    let mut s = TcpStream::connect(daemon).await.expect("connect");
    s.write_all(c.bytes).await.unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut closed = false;
    // Until every expected answer is in, then a little longer for any
    // that should not come; a message that gets none is given 1.5 s, one
    // whose framing is lost the time the daemon takes to close.
    let quiet = if framing_lost(c) {
        secs(5)
    } else if c.tcp.is_empty() {
        ms(1500)
    } else {
        ms(300)
    };
    loop {
        let codes = status_codes(&got);
        let wait = if codes.len() >= c.tcp.len() {
            quiet
        } else {
            secs(10)
        };
        match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    (status_codes(&got), closed)
}

/// RFC 3261 §18.3: a Content-Length that is negative, or given twice
/// with two values, leaves the stream without framing.
fn framing_lost(c: &Case) -> bool {
    matches!(c.file, "ncl" | "mcl01")
}

fn status_codes(stream: &[u8]) -> Vec<u16> {
    String::from_utf8_lossy(stream)
        .split("\r\n")
        .filter_map(|l| l.strip_prefix("SIP/2.0 "))
        .filter_map(|l| l.get(..3)?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_over_tcp() {
    let (mut main, mut twin) = tokio::join!(
        Daemon::with_settings(settings()),
        Daemon::with_settings(settings())
    );
    let runs = CASES.iter().map(|c| {
        let d = if c.twin { twin.sip } else { main.sip };
        async move { (c, over_tcp(d, c).await) }
    });
    let results = futures_util::future::join_all(runs).await;
    let mut failures = Vec::new();
    for (c, (codes, closed)) in results {
        if codes != c.tcp {
            failures.push(format!(
                "§{} {}.dat: got {codes:?}, expected {:?}",
                c.section, c.file, c.tcp
            ));
        }
        // RFC 3261 §18.3: a stream whose framing is lost is closed after
        // the 400; one that framed well stays open.
        if closed != framing_lost(c) {
            failures.push(format!(
                "§{} {}.dat: connection {}",
                c.section,
                c.file,
                if closed { "closed" } else { "left open" }
            ));
        }
    }
    assert!(main.alive() && twin.alive(), "a daemon died");
    // And a daemon that has seen all of it still answers.
    let ua = SipUa::tcp(main.sip).await;
    let opts = Request::new("OPTIONS", &format!("sip:survey@{}", main.sip))
        .h("Via", ua.via(&new_branch()))
        .h("Max-Forwards", "70")
        .h("From", format!("<sip:t@127.0.0.1>;tag={}", new_tag()))
        .h("To", format!("<sip:survey@{}>", main.sip))
        .h("Call-ID", new_call_id())
        .h("CSeq", "1 OPTIONS");
    let rs = ua.transaction(&opts, secs(5)).await;
    assert_eq!(rs.last().map(|r| r.code()), Some(Some(200)));
    assert!(failures.is_empty(), "over TCP:\n{}", failures.join("\n"));
}
