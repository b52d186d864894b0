//! SIP behaviour outside the happy path (RFC 3261, RFC 3581).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::call::build_invite;
use common::sip::*;
use common::*;
use tokio::net::UdpSocket;

/// An out-of-dialog request with every mandatory header (RFC 3261 8.1.1).
fn request(ua: &SipUa, d: SocketAddr, method: &str) -> Request {
    Request::new(method, &format!("sip:survey@{d}"))
        .h("Via", ua.via(&new_branch()))
        .h("Max-Forwards", "70")
        .h("From", format!("<sip:tester@127.0.0.1>;tag={}", new_tag()))
        .h("To", format!("<sip:survey@{d}>"))
        .h("Call-ID", new_call_id())
        .h("CSeq", format!("{} {method}", ua.next_cseq()))
        .h("Contact", format!("<{}>", ua.contact_uri(Some("tester"))))
}

/// Wait for any response whose top Via carries `branch`.
async fn response_by_branch(ua: &SipUa, branch: &str, timeout: Duration) -> Option<SipMessage> {
    let b = branch.to_string();
    ua.wait_for(timeout, move |i| {
        !i.msg.is_request()
            && i.msg.branch().as_deref() == Some(b.as_str())
            && i.msg.code().unwrap_or(0) >= 200
    })
    .await
    .map(|i| i.msg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_gets_200_with_allow() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let req = request(&ua, d.sip, "OPTIONS").h("Accept", "application/sdp");
    let rs = ua.transaction(&req, secs(5)).await;
    let r = rs.last().unwrap();
    assert_eq!(r.code(), Some(200), "{}", r.text());
    let p = response_problems(&req, r);
    assert!(p.is_empty(), "{p:?}\n{}", r.text());
    let allow: Vec<String> = r
        .header_values("Allow")
        .iter()
        .map(|a| a.trim().to_ascii_uppercase())
        .collect();
    for m in ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO"] {
        assert!(
            allow.iter().any(|a| a == m),
            "Allow lacks {m}: {allow:?}\n{}",
            r.text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_over_tcp_with_pipelined_and_split_frames() {
    let d = Daemon::start().await;
    let ua = SipUa::tcp(d.sip).await;
    let a = request(&ua, d.sip, "OPTIONS");
    let mut b = request(&ua, d.sip, "OPTIONS");
    b.compact = true;
    // Two requests in one segment.
    let mut both = a.to_bytes();
    both.extend_from_slice(&b.to_bytes());
    ua.send_raw(&both).await;
    for r in [&a, &b] {
        let resp = ua
            .next_response(&r.branch(), "OPTIONS", secs(5))
            .await
            .unwrap_or_else(|| panic!("no response to a pipelined OPTIONS over TCP"));
        assert_eq!(resp.code(), Some(200), "{}", resp.text());
    }
    // One request split across three segments, the body-less tail last.
    let c = request(&ua, d.sip, "OPTIONS");
    let bytes = c.to_bytes();
    let (x, rest) = bytes.split_at(20);
    let (y, z) = rest.split_at(rest.len() - 3);
    for part in [x, y, z] {
        ua.send_raw(part).await;
        tokio::time::sleep(ms(150)).await;
    }
    let resp = ua
        .next_response(&c.branch(), "OPTIONS", secs(5))
        .await
        .expect("no response to an OPTIONS split over three TCP segments");
    assert_eq!(resp.code(), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_common_codec_gets_488() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Linphone, &agent("488"));
    let offer = Offer::plain(
        "127.0.0.1:40000".parse().unwrap(),
        vec![
            fmt_fmtp(96, "opus/48000/2", "useinbandfec=1"),
            fmt_fmtp(18, "G729/8000", "annexb=no"),
            fmt(101, "telephone-event/8000"),
        ],
    );
    let invite = build_invite(&ua, d.sip, &opts, Some(&offer.render()));
    let rs = ua.transaction(&invite, secs(5)).await;
    let r = rs.last().unwrap();
    assert_eq!(r.code(), Some(488), "{}", r.text());
    let p = response_problems(&invite, r);
    assert!(p.is_empty(), "{p:?}");
    ua.send(&sip::ack_for_failure(&invite, r)).await;
    // The final response is retransmitted until the ACK (timer G); after
    // the ACK it stops.
    tokio::time::sleep(ms(200)).await;
    let n = ua
        .responses_for(&invite.branch(), "INVITE")
        .iter()
        .filter(|r| r.code() == Some(488))
        .count();
    tokio::time::sleep(ms(1500)).await;
    let m = ua
        .responses_for(&invite.branch(), "INVITE")
        .iter()
        .filter(|r| r.code() == Some(488))
        .count();
    assert_eq!(n, m, "488 retransmitted after the ACK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bye_for_unknown_dialog_gets_481() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let mut req = request(&ua, d.sip, "BYE");
    req.set("To", format!("<sip:survey@{}>;tag={}", d.sip, new_tag()));
    let rs = ua.transaction(&req, secs(5)).await;
    let r = rs.last().unwrap();
    assert_eq!(r.code(), Some(481), "{}", r.text());
    assert!(
        response_problems(&req, r).is_empty(),
        "{:?}",
        response_problems(&req, r)
    );
    // INFO in an unknown dialog too.
    let mut info = request(&ua, d.sip, "INFO")
        .with_body("application/dtmf-relay", "Signal=1\r\nDuration=250\r\n");
    info.set("To", format!("<sip:survey@{}>;tag={}", d.sip, new_tag()));
    let rs = ua.transaction(&info, secs(5)).await;
    assert_eq!(
        rs.last().unwrap().code(),
        Some(481),
        "{}",
        rs.last().unwrap().text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_method_gets_501() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let req = request(&ua, d.sip, "FOO");
    let rs = ua.transaction(&req, secs(5)).await;
    let r = rs.last().unwrap();
    assert_eq!(r.code(), Some(501), "{}", r.text());
    assert!(
        response_problems(&req, r).is_empty(),
        "{:?}",
        response_problems(&req, r)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let mut cases: Vec<(&str, Request)> = Vec::new();
    let mut r = request(&ua, d.sip, "OPTIONS");
    r.remove("Call-ID");
    cases.push(("missing Call-ID", r));
    let mut r = request(&ua, d.sip, "OPTIONS");
    r.remove("CSeq");
    cases.push(("missing CSeq", r));
    let mut r = request(&ua, d.sip, "INVITE");
    r.set("CSeq", "1 OPTIONS");
    cases.push(("CSeq method differs from the request line", r));
    let mut r = request(&ua, d.sip, "OPTIONS");
    r.set("CSeq", "one OPTIONS");
    cases.push(("non-numeric CSeq", r));
    let mut r = request(&ua, d.sip, "OPTIONS");
    r.remove("From");
    cases.push(("missing From", r));
    let mut failures = Vec::new();
    for (what, req) in &cases {
        ua.send(req).await;
        match response_by_branch(&ua, &req.branch(), secs(3)).await {
            Some(resp) if resp.code() == Some(400) => {}
            Some(resp) => failures.push(format!("{what}: got {}", resp.summary())),
            None => failures.push(format!("{what}: no response")),
        }
    }
    assert!(
        failures.is_empty(),
        "expected 400 Bad Request:\n  {}",
        failures.join("\n  ")
    );
    // Still alive.
    let rs = ua
        .transaction(&request(&ua, d.sip, "OPTIONS"), secs(5))
        .await;
    assert_eq!(rs.last().unwrap().code(), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_dropped_and_the_daemon_keeps_answering() {
    let mut d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        b"\r\n\r\n".to_vec(),
        (0..512).map(|i| (i * 7 % 256) as u8).collect(),
        b"hello world".to_vec(),
        b"INVITE sip:survey@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\n"
            .to_vec(),
        b"SIP/2.0 200 OK\r\n\r\n".to_vec(),
        b"INVITE  SIP/2.0\r\n\r\n".to_vec(),
        b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 99999\r\n\r\nx".to_vec(),
        "OPTIONS sip:\u{1F600}@127.0.0.1 SIP/2.0\r\nVia: \u{0}\u{ff}\r\n\r\n"
            .as_bytes()
            .to_vec(),
        vec![0xff; 1400],
    ];
    for g in &garbage {
        ua.send_raw(g).await;
    }
    tokio::time::sleep(ms(300)).await;
    assert!(d.alive(), "daemon died on garbage");
    let req = request(&ua, d.sip, "OPTIONS");
    let rs = ua.transaction(&req, secs(5)).await;
    assert_eq!(rs.last().unwrap().code(), Some(200));
    assert!(
        ua.unparsable().is_empty(),
        "daemon sent unparsable data: {:?}",
        ua.unparsable()
    );
}

async fn recv(s: &UdpSocket, t: Duration) -> Option<SipMessage> {
    let mut buf = vec![0u8; 65536];
    match tokio::time::timeout(t, s.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => SipMessage::parse(&buf[..n]).ok(),
        _ => None,
    }
}

/// RFC 3581: with `rport` the response goes to the source port (and the
/// Via gets rport=<port>;received=<ip>); without it, to the sent-by port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_follow_via_and_rport() {
    let d = Daemon::start().await;
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (pa, pb) = (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    );
    let mk = |rport: bool| {
        let branch = new_branch();
        let via = format!(
            "SIP/2.0/UDP 127.0.0.1:{pb};branch={branch}{}",
            if rport { ";rport" } else { "" }
        );
        (
            Request::new("OPTIONS", &format!("sip:survey@{}", d.sip))
                .h("Via", via)
                .h("Max-Forwards", "70")
                .h("From", format!("<sip:nat@127.0.0.1>;tag={}", new_tag()))
                .h("To", format!("<sip:survey@{}>", d.sip))
                .h("Call-ID", new_call_id())
                .h("CSeq", "1 OPTIONS"),
            branch,
        )
    };
    // With rport: sent from A, Via names B.
    let (req, branch) = mk(true);
    a.send_to(&req.to_bytes(), d.sip).await.unwrap();
    let at_a = recv(&a, secs(3)).await;
    let resp = at_a.unwrap_or_else(|| {
        panic!("with ;rport the response must go to the source port {pa}, not the Via port {pb}")
    });
    assert_eq!(resp.branch().as_deref(), Some(branch.as_str()));
    let via = resp.top_via().unwrap();
    assert_eq!(
        via.param("rport"),
        Some(Some(pa.to_string())),
        "RFC 3581 4: rport filled with the source port: {:?}",
        resp.vias()
    );
    assert_eq!(
        via.param("received"),
        Some(Some("127.0.0.1".into())),
        "RFC 3581 4: received added even when it equals sent-by: {:?}",
        resp.vias()
    );
    // Without rport: sent from A, the response goes to B (sent-by).
    let (req, branch) = mk(false);
    a.send_to(&req.to_bytes(), d.sip).await.unwrap();
    let at_b = recv(&b, secs(3)).await;
    let resp = at_b.unwrap_or_else(|| {
        panic!("without rport the response must go to the Via sent-by port {pb}")
    });
    assert_eq!(resp.branch().as_deref(), Some(branch.as_str()));
    assert!(
        recv(&a, ms(300)).await.is_none(),
        "response also sent to the source"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_from_a_network_not_allowed_gets_403() {
    let d = Daemon::with_settings(Settings {
        allowed_networks: vec!["10.0.0.0/8".into()],
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Pbx, &agent("forbidden"));
    let rtp = RtpEndpoint::bind().await;
    let invite = build_invite(
        &ua,
        d.sip,
        &opts,
        Some(&Offer::baresip(rtp.local, 1).render()),
    );
    let rs = ua.transaction(&invite, secs(5)).await;
    let r = rs.last().unwrap();
    assert_eq!(r.code(), Some(403), "{}", r.text());
    ua.send(&sip::ack_for_failure(&invite, r)).await;
    tokio::time::sleep(ms(500)).await;
    assert!(
        rtp.packets().is_empty(),
        "media sent to a caller that was refused"
    );
    let resp = d.api.responses(opts.agent.as_deref().unwrap()).await;
    assert_eq!(
        num(&resp["offered"]),
        0.0,
        "a refused call is no survey: {resp}"
    );
}

/// CANCEL before the answer: 200 to the CANCEL, 487 to the INVITE
/// (RFC 3261 9.2). sip.answer_delay_ms holds the 200 back so the CANCEL
/// deterministically arrives first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_answer() {
    let d = Daemon::with_settings(Settings {
        answer_delay_ms: Some(3000),
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("cancel"));
    let rtp = RtpEndpoint::bind().await;
    let invite = build_invite(
        &ua,
        d.sip,
        &opts,
        Some(&Offer::baresip(rtp.local, 1).render()),
    );
    ua.send(&invite).await;
    let sent_at = std::time::Instant::now();
    let branch = invite.branch();
    let first = ua
        .next_response(&branch, "INVITE", secs(2))
        .await
        .expect("no provisional response to INVITE within 2 s");
    assert!(
        first.code().unwrap_or(0) < 200,
        "with answer_delay_ms = 3000 the first response should be provisional, got {}",
        first.summary()
    );
    let cancel = sip::cancel_for(&invite);
    let c = ua.transaction(&cancel, secs(5)).await;
    let c = c.last().unwrap();
    assert_eq!(c.code(), Some(200), "CANCEL → {}", c.text());
    assert!(
        response_problems(&cancel, c).is_empty(),
        "{:?}",
        response_problems(&cancel, c)
    );
    let fin = loop {
        let r = ua
            .next_response(&branch, "INVITE", secs(5))
            .await
            .expect("no final response to the cancelled INVITE");
        if r.code().unwrap_or(0) >= 200 {
            break r;
        }
    };
    let terminated_at = std::time::Instant::now();
    assert_eq!(fin.code(), Some(487), "cancelled INVITE → {}", fin.text());
    let p = response_problems(&invite, &fin);
    assert!(p.is_empty(), "{p:?}");
    ua.send(&sip::ack_for_failure(&invite, &fin)).await;
    tokio::time::sleep(ms(3500)).await;
    let oks = ua
        .responses_for(&branch, "INVITE")
        .iter()
        .filter(|r| r.code() == Some(200))
        .count();
    assert_eq!(oks, 0, "the cancelled INVITE was answered 200 anyway");
    // No answer was ever sent, so no media either (RFC 3264 6: media
    // follows the answer; this daemon sends no early-media 183).
    let audio = rtp.audio();
    let late: Vec<_> = audio
        .iter()
        .filter(|p| p.at > terminated_at + ms(100))
        .collect();
    assert!(
        audio.is_empty(),
        "{} RTP packets on a call that was never answered, {} of them after the 487 \
         (first {:?} after the INVITE)",
        audio.len(),
        late.len(),
        audio.first().map(|p| p.at.duration_since(sent_at)),
    );
    let r = d.api.responses(opts.agent.as_deref().unwrap()).await;
    assert_eq!(num(&r["rated"]), 0.0, "{r}");
}

/// RFC 3261 §8.2.2.3: an option tag we do not implement in Require gets
/// 420 naming it in Unsupported, whatever the method; ACK and CANCEL are
/// never refused so, and an unknown method is 501 first (§8.2.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_require_gets_420_on_every_method() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let mut failures = Vec::new();
    for method in ["OPTIONS", "INVITE", "BYE", "INFO", "UPDATE"] {
        let req = request(&ua, d.sip, method).h("Require", "100rel, x-frobnicate");
        ua.send(&req).await;
        match response_by_branch(&ua, &req.branch(), secs(3)).await {
            Some(r) if r.code() == Some(420) => {
                let unsupported = r.header_values("Unsupported");
                if unsupported != ["x-frobnicate"] {
                    failures.push(format!("{method}: Unsupported {unsupported:?}"));
                }
                let p = response_problems(&req, &r);
                if !p.is_empty() {
                    failures.push(format!("{method}: {p:?}"));
                }
                if method == "INVITE" {
                    ua.send(&sip::ack_for_failure(&req, &r)).await;
                }
            }
            Some(r) => failures.push(format!("{method}: got {}", r.summary())),
            None => failures.push(format!("{method}: no response")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let foo = request(&ua, d.sip, "FOO").h("Require", "x-frobnicate");
    let rs = ua.transaction(&foo, secs(3)).await;
    assert_eq!(rs.last().unwrap().code(), Some(501));
    let cancel = request(&ua, d.sip, "CANCEL").h("Require", "x-frobnicate");
    let rs = ua.transaction(&cancel, secs(3)).await;
    assert_eq!(
        rs.last().unwrap().code(),
        Some(481),
        "a CANCEL is matched, not refused for its Require"
    );
}

/// RFC 3261 §8.2.3: an INVITE whose Accept excludes application/sdp
/// cannot take our answer: 406 with Accept naming what we send. OPTIONS,
/// whose 200 has no body, is answered as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_without_sdp_gets_406() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let who = agent("406");
    for accept in ["text/plain", "application/sdp;q=0", ""] {
        let opts = InviteOpts::new(UaStyle::Pbx, &who);
        let rtp = RtpEndpoint::bind().await;
        let mut invite = build_invite(
            &ua,
            d.sip,
            &opts,
            Some(&Offer::baresip(rtp.local, 1).render()),
        );
        invite.set("Accept", accept);
        let rs = ua.transaction(&invite, secs(5)).await;
        let r = rs.last().unwrap();
        assert_eq!(r.code(), Some(406), "Accept: {accept} → {}", r.text());
        assert_eq!(r.header("Accept"), Some("application/sdp"));
        ua.send(&sip::ack_for_failure(&invite, r)).await;
    }
    let opts = request(&ua, d.sip, "OPTIONS").h("Accept", "text/plain");
    let rs = ua.transaction(&opts, secs(3)).await;
    assert_eq!(rs.last().unwrap().code(), Some(200));
    let r = d.api.responses(&who).await;
    assert_eq!(num(&r["offered"]), 0.0, "{r}");
}

/// RFC 3261 §18.3, §20.14: two different Content-Length values. Over UDP
/// the request gets 400. Over TCP the stream cannot be framed past it: the
/// 400 comes, then the connection closes, and nothing after the bad
/// message is read as a request (here a pipelined OPTIONS that must not be
/// answered from the middle of a body). A new connection works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_content_lengths_get_400_and_tcp_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let body = "v=0\r\n";
    // Written by hand: the test UA's renderer writes one Content-Length.
    let bad = |ua: &SipUa| {
        let mut r = request(ua, d.sip, "OPTIONS").with_body("application/sdp", body);
        r.omit_content_length = true;
        let wire = String::from_utf8(r.to_bytes()).unwrap().replacen(
            "\r\n\r\n",
            &format!("\r\nContent-Length: {}\r\nl: 0\r\n\r\n", body.len()),
            1,
        );
        (r, wire.into_bytes())
    };
    let (req, wire) = bad(&ua);
    ua.send_raw(&wire).await;
    let r = response_by_branch(&ua, &req.branch(), secs(3))
        .await
        .expect("no answer to two Content-Length values over UDP");
    assert_eq!(r.code(), Some(400), "{}", r.text());

    let tcp_ua = SipUa::tcp(d.sip).await;
    let (_, mut wire) = bad(&tcp_ua);
    let next = request(&tcp_ua, d.sip, "OPTIONS");
    let mut s = tokio::net::TcpStream::connect(d.sip).await.unwrap();
    wire.extend_from_slice(&next.to_bytes());
    s.write_all(&wire).await.unwrap();
    let mut got = Vec::new();
    let read = tokio::time::timeout(secs(5), s.read_to_end(&mut got)).await;
    assert!(
        read.is_ok(),
        "the connection stayed open after a framing error"
    );
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("SIP/2.0 400 "),
        "expected a 400 before the close, got: {text}"
    );
    assert_eq!(
        text.matches("SIP/2.0 ").count(),
        1,
        "more than one response on a stream that lost its framing: {text}"
    );
    let fresh = request(&tcp_ua, d.sip, "OPTIONS");
    let rs = tcp_ua.transaction(&fresh, secs(3)).await;
    assert_eq!(rs.last().unwrap().code(), Some(200));
}
