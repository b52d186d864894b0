//! Bounded SIP state: nothing a peer sends makes smileyd keep state without
//! limit. Requests from outside sip.allowed_networks are answered without a
//! transaction;
//! server transactions and calls are capped, with 503 and Retry-After
//! (RFC 3261 §21.5.4) beyond.

mod common;

use std::net::SocketAddr;

use common::call::build_invite;
use common::sip::*;
use common::*;

/// An out-of-dialog request with every mandatory header (RFC 3261 §8.1.1).
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

/// Requests from a source that may not call are answered afresh every time:
/// the same INVITE sent twice gets 403 with two different To tags, the same
/// OPTIONS twice 200 with two, where a transaction would have replayed its
/// first answer (§17.2.1, §17.2.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_from_networks_not_allowed_keep_no_transaction() {
    let d = Daemon::with_settings(Settings {
        allowed_networks: vec!["10.0.0.0/8".into()],
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Pbx, &agent("bounds-forbidden"));
    let invite = build_invite(&ua, d.sip, &opts, None);
    let first = ua.transaction(&invite, secs(5)).await;
    let first = first.last().expect("a response");
    assert_eq!(first.code(), Some(403), "{}", first.text());
    let again = ua.transaction(&invite, secs(5)).await;
    let again = again.last().expect("a response");
    assert_eq!(again.code(), Some(403), "{}", again.text());
    assert_ne!(
        first.tag_in_to(),
        again.tag_in_to(),
        "the retransmission was answered from a kept transaction"
    );
    let options = request(&ua, d.sip, "OPTIONS");
    let first = ua.transaction(&options, secs(5)).await;
    let first = first.last().expect("a response");
    let again = ua.transaction(&options, secs(5)).await;
    let again = again.last().expect("a response");
    assert_eq!((first.code(), again.code()), (Some(200), Some(200)));
    assert_ne!(
        first.tag_in_to(),
        again.tag_in_to(),
        "answered from a kept transaction"
    );
}

/// With sip.max_transactions = 16, sixteen OPTIONS (each a transaction
/// kept for Timer J, 32 s over UDP) fill the table: the seventeenth gets
/// 503 with Retry-After, and an earlier one's retransmission still gets its
/// own answer replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_transactions_are_capped_with_503() {
    let d = Daemon::with_settings(Settings {
        sip_toml: "max_transactions = 16".into(),
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let mut sent = Vec::new();
    for _ in 0..16 {
        let req = request(&ua, d.sip, "OPTIONS");
        let r = ua.transaction(&req, secs(5)).await;
        let last = r.last().expect("a response").clone();
        assert_eq!(last.code(), Some(200), "{}", last.text());
        sent.push((req, last));
    }
    let over = request(&ua, d.sip, "OPTIONS");
    let r = ua.transaction(&over, secs(5)).await;
    let last = r.last().expect("a response");
    assert_eq!(last.code(), Some(503), "{}", last.text());
    assert_eq!(last.header("Retry-After"), Some("5"), "{}", last.text());
    // The first one is still held: its retransmission gets the same 200.
    let (req, resp) = &sent[0];
    let r = ua.transaction(req, secs(5)).await;
    let replay = r.last().expect("a response");
    assert_eq!(replay.code(), Some(200));
    assert_eq!(
        replay.tag_in_to(),
        resp.tag_in_to(),
        "replayed, not answered anew"
    );
}

/// With sip.max_calls = 2, a third INVITE gets 503 with Retry-After while
/// two calls are up, and a call is taken again once one has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_calls_refuses_with_503_then_takes_calls_again() {
    let d = Daemon::with_settings(Settings {
        sip_toml: "max_calls = 2".into(),
        digit_timeout_ms: 30_000,
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let mut a = Call::place(
        &d,
        &ua,
        InviteOpts::new(UaStyle::Pbx, &agent("cap-a")),
        OfferKind::Baresip,
    )
    .await;
    let _b = Call::place(
        &d,
        &ua,
        InviteOpts::new(UaStyle::Pbx, &agent("cap-b")),
        OfferKind::Baresip,
    )
    .await;
    let rtp = RtpEndpoint::bind().await;
    let opts = InviteOpts::new(UaStyle::Pbx, &agent("cap-c"));
    let invite = build_invite(
        &ua,
        d.sip,
        &opts,
        Some(&Offer::baresip(rtp.local, 7).render()),
    );
    let r = ua.transaction(&invite, secs(5)).await;
    let refused = r.last().expect("a response");
    assert_eq!(refused.code(), Some(503), "{}", refused.text());
    assert_eq!(refused.header("Retry-After"), Some("5"));
    ua.send(&ack_for_failure(&invite, refused)).await;
    tokio::time::sleep(ms(300)).await;
    assert!(rtp.packets().is_empty(), "a refused call got media");
    a.hang_up().await;
    let _c = Call::place(
        &d,
        &ua,
        InviteOpts::new(UaStyle::Pbx, &agent("cap-d")),
        OfferKind::Baresip,
    )
    .await;
}
