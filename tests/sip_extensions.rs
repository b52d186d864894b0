//! SIP extensions real peers use, over sockets against the daemon:
//! reliable provisional responses and PRACK (RFC 3262).

mod common;

use std::time::Instant;

use common::call::build_invite;
use common::sip::*;
use common::*;

fn ringing(t1_ms: u64) -> Settings {
    Settings {
        answer_delay_ms: Some(300),
        t1_ms,
        ..Settings::default()
    }
}

/// An INVITE from `ua` with a baresip-like offer and these extra headers.
async fn invite(d: &Daemon, ua: &SipUa, who: &str, extra: &[(&str, &str)]) -> Request {
    invite_as(d, ua, UaStyle::Pbx, who, extra).await
}

/// The same as `style` would send it (the PBX style supports `timer`,
/// linphone's does not).
async fn invite_as(
    d: &Daemon,
    ua: &SipUa,
    style: UaStyle,
    who: &str,
    extra: &[(&str, &str)],
) -> Request {
    let mut opts = InviteOpts::new(style, who);
    opts.extra_headers = extra
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let rtp = RtpEndpoint::bind().await;
    let offer = Offer::baresip(rtp.local, 1).render();
    // The RTP endpoint is not needed: the call is ended before media matters.
    drop(rtp);
    build_invite(ua, d.sip, &opts, Some(&offer))
}

fn codes(ua: &SipUa, req: &Request, code: u16) -> Vec<SipMessage> {
    ua.responses_for(&req.branch(), &req.method)
        .into_iter()
        .filter(|r| r.code() == Some(code))
        .collect()
}

/// PRACK for a reliable provisional response (RFC 3262 §7.1).
fn prack(ua: &SipUa, dialog: &mut Dialog, rseq: &str, invite_cseq: u32) -> Request {
    let mut r = dialog.request(ua, "PRACK");
    r.push("RAck", format!("{rseq} {invite_cseq} INVITE"));
    r
}

/// RFC 3262 §3: with `Supported: 100rel` the 180 of the ring time carries
/// `Require: 100rel` and an RSeq, is sent again (same RSeq) until the
/// PRACK, the PRACK is answered 200, and the 200 to the INVITE waits for
/// the PRACK even once the ring time is over. A PRACK naming another RSeq
/// gets 481. Over TCP too: unlike a final response, the reliable
/// provisional is sent again on every transport.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliable_ringing_holds_the_200_until_prack() {
    let d = Daemon::with_settings(ringing(50)).await;
    reliable_ringing(&d, SipUa::udp(d.sip).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliable_ringing_is_sent_again_over_tcp() {
    let d = Daemon::with_settings(ringing(50)).await;
    reliable_ringing(&d, SipUa::tcp(d.sip).await).await;
}

async fn reliable_ringing(d: &Daemon, ua: SipUa) {
    let inv = invite(d, &ua, &agent("prack"), &[("Supported", "100rel, timer")]).await;
    ua.send(&inv).await;
    let branch = inv.branch();
    let ringing = loop {
        let r = ua
            .next_response(&branch, "INVITE", secs(5))
            .await
            .expect("no 180 during the ring time");
        if r.code() == Some(180) {
            break r;
        }
        assert_eq!(r.code(), Some(100), "{}", r.text());
    };
    let require = ringing.header_values("Require");
    assert!(
        require.iter().any(|t| t.eq_ignore_ascii_case("100rel")),
        "reliable 180 without Require: 100rel\n{}",
        ringing.text()
    );
    let rseq = ringing
        .header("RSeq")
        .expect("reliable 180 without RSeq")
        .trim()
        .to_string();
    let n: u32 = rseq.parse().expect("RSeq a number");
    assert!((1..=(1u32 << 31) - 1).contains(&n), "RSeq {n}");
    assert!(ringing.tag_in_to().is_some(), "180 without a To tag");
    assert!(ringing.header("Contact").is_some(), "180 without Contact");
    let mut dialog = Dialog::from_2xx(&inv, &ringing);

    // No PRACK for 700 ms: well past the 300 ms ring time, and T1 = 50 ms
    // gives retransmissions at 50, 150, 350 and 750 ms.
    tokio::time::sleep(ms(700)).await;
    let sent = codes(&ua, &inv, 180);
    assert!(
        sent.len() >= 3,
        "the reliable 180 was sent {} times in 700 ms without a PRACK",
        sent.len()
    );
    for r in &sent {
        assert_eq!(r.header("RSeq").map(str::trim), Some(rseq.as_str()));
    }
    assert!(
        codes(&ua, &inv, 200).is_empty(),
        "200 sent before the PRACK of the reliable 180"
    );

    // A PRACK naming another RSeq matches nothing.
    let wrong = prack(
        &ua,
        &mut dialog,
        &(n.wrapping_add(1)).to_string(),
        inv.cseq().0,
    );
    let rs = ua.transaction(&wrong, secs(5)).await;
    assert_eq!(
        rs.last().unwrap().code(),
        Some(481),
        "{}",
        rs.last().unwrap().text()
    );

    let right = prack(&ua, &mut dialog, &rseq, inv.cseq().0);
    let rs = ua.transaction(&right, secs(5)).await;
    let pr = rs.last().unwrap();
    assert_eq!(pr.code(), Some(200), "PRACK → {}", pr.text());
    assert!(response_problems(&right, pr).is_empty());

    let ok = loop {
        let r = ua
            .next_response(&branch, "INVITE", secs(5))
            .await
            .expect("no 200 after the PRACK");
        if r.code() == Some(200) {
            break r;
        }
    };
    let ok_dialog = Dialog::from_2xx(&inv, &ok);
    assert_eq!(
        ok_dialog.remote_tag, dialog.remote_tag,
        "the 200 left the early dialog of the 180"
    );
    let mut dialog = Dialog {
        local_cseq: dialog.local_cseq,
        ..ok_dialog
    };
    ua.send_ack(&dialog.ack(&ua, None)).await;
    let after = codes(&ua, &inv, 180).len();
    tokio::time::sleep(ms(500)).await;
    assert_eq!(
        codes(&ua, &inv, 180).len(),
        after,
        "the 180 was sent again after its PRACK"
    );
    let bye = dialog.request(&ua, "BYE");
    let rs = ua.transaction(&bye, secs(5)).await;
    assert_eq!(rs.last().unwrap().code(), Some(200));
}

/// RFC 3262 §3: a reliable provisional response never acknowledged within
/// 64·T1 ends the INVITE with a 5xx, and the call is not answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_prack_ends_the_invite_with_5xx() {
    let d = Daemon::with_settings(ringing(50)).await;
    let ua = SipUa::udp(d.sip).await;
    let who = agent("noprack");
    let inv = invite(&d, &ua, &who, &[("Require", "100rel")]).await;
    ua.send(&inv).await;
    let started = Instant::now();
    let fin = loop {
        let r = ua
            .next_response(&inv.branch(), "INVITE", secs(10))
            .await
            .expect("no final response without a PRACK");
        if r.code().unwrap_or(0) >= 200 {
            break r;
        }
    };
    let code = fin.code().unwrap();
    assert!((500..600).contains(&code), "{}", fin.text());
    // 64·T1 = 3.2 s with T1 = 50 ms.
    assert!(
        started.elapsed() >= ms(3000),
        "given up after {:?}, before 64*T1",
        started.elapsed()
    );
    ua.send(&ack_for_failure(&inv, &fin)).await;
    assert!(codes(&ua, &inv, 200).is_empty());
    // The caller never acknowledged the ringing: a failed call, not one
    // the caller hung up.
    let deadline = Instant::now() + secs(5);
    let r = loop {
        let r = d.api.responses(&who).await;
        if num(&r["failed"]) > 0.0 || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(ms(100)).await;
    };
    assert_eq!(num(&r["rated"]), 0.0, "{r}");
    assert_eq!(num(&r["failed"]), 1.0, "{r}");
    assert_eq!(num(&r["hung_up"]), 0.0, "{r}");
}

/// `Require: 100rel` and no ring time: nothing provisional but 100 to
/// send reliably, so the call is answered at once. A caller without
/// 100rel gets a plain 180 (no RSeq) during the ring time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_100rel_with_nothing_to_send_and_plain_ringing() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let inv = invite(&d, &ua, &agent("norel"), &[("Require", "100rel")]).await;
    let rs = ua.transaction(&inv, secs(5)).await;
    let ok = rs.last().unwrap();
    assert_eq!(ok.code(), Some(200), "{}", ok.text());
    assert!(rs.iter().all(|r| r.code() != Some(180)));
    let mut dialog = Dialog::from_2xx(&inv, ok);
    ua.send_ack(&dialog.ack(&ua, None)).await;
    let bye = dialog.request(&ua, "BYE");
    assert_eq!(
        ua.transaction(&bye, secs(5)).await.last().unwrap().code(),
        Some(200)
    );

    let d = Daemon::with_settings(ringing(500)).await;
    let ua = SipUa::udp(d.sip).await;
    let inv = invite(&d, &ua, &agent("plain"), &[]).await;
    let rs = ua.transaction(&inv, secs(5)).await;
    let ok = rs.last().unwrap();
    assert_eq!(ok.code(), Some(200), "{}", ok.text());
    let ring = rs
        .iter()
        .find(|r| r.code() == Some(180))
        .expect("no 180 during the ring time");
    assert!(ring.header("RSeq").is_none(), "{}", ring.text());
    let mut dialog = Dialog::from_2xx(&inv, ok);
    ua.send_ack(&dialog.ack(&ua, None)).await;
    let bye = dialog.request(&ua, "BYE");
    assert_eq!(
        ua.transaction(&bye, secs(5)).await.last().unwrap().code(),
        Some(200)
    );
    // A PRACK outside any dialog matches nothing (RFC 3262 §3).
    let mut stray = Dialog {
        remote_tag: new_tag(),
        call_id: new_call_id(),
        ..dialog
    };
    let p = prack(&ua, &mut stray, "1", 1);
    assert_eq!(
        ua.transaction(&p, secs(5)).await.last().unwrap().code(),
        Some(481)
    );
}

// RFC 4028 session timers.

fn timers(min_se: u64) -> Settings {
    Settings {
        sip_toml: format!("min_se_secs = {min_se}"),
        // Long enough that no call here ends by its survey first.
        digit_timeout_ms: 20_000,
        ..Settings::default()
    }
}

/// §8.1: below our Min-SE (default 90) is 422 naming it; at it, the 200
/// carries Session-Expires with the refresher §9 picks: the one asked,
/// else the caller when it supports `timer` (with `Require: timer`), else
/// us (no Require).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expires_422_and_refresher_choice() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let small = invite(
        &d,
        &ua,
        "se422",
        &[("Supported", "timer"), ("Session-Expires", "60")],
    )
    .await;
    let rs = ua.transaction(&small, secs(5)).await;
    let r = rs.last().unwrap();
    assert_eq!(r.code(), Some(422), "{}", r.text());
    assert_eq!(r.header("Min-SE").map(str::trim), Some("90"));
    ua.send(&ack_for_failure(&small, r)).await;

    type Case<'a> = (UaStyle, &'a [(&'a str, &'a str)], &'a str, bool);
    let cases: [Case; 3] = [
        (
            UaStyle::Pbx,
            &[("Session-Expires", "90")],
            "90;refresher=uac",
            true,
        ),
        (
            UaStyle::Pbx,
            &[("Session-Expires", "1800;refresher=uas")],
            "1800;refresher=uas",
            false,
        ),
        // A proxy asked for the timer; the caller knows nothing of it.
        (
            UaStyle::Linphone,
            &[("Session-Expires", "1800")],
            "1800;refresher=uas",
            false,
        ),
    ];
    for (style, headers, want, require) in cases {
        let inv = invite_as(&d, &ua, style, &agent("se"), headers).await;
        let rs = ua.transaction(&inv, secs(5)).await;
        let ok = rs.last().unwrap();
        assert_eq!(ok.code(), Some(200), "{}", ok.text());
        let se = ok.header("Session-Expires").map(norm);
        assert_eq!(se.as_deref(), Some(want), "{headers:?}\n{}", ok.text());
        let requires_timer = ok
            .header_values("Require")
            .iter()
            .any(|t| t.eq_ignore_ascii_case("timer"));
        assert_eq!(requires_timer, require, "{headers:?}\n{}", ok.text());
        let mut dialog = Dialog::from_2xx(&inv, ok);
        ua.send_ack(&dialog.ack(&ua, None)).await;
        let bye = dialog.request(&ua, "BYE");
        assert_eq!(
            ua.transaction(&bye, secs(5)).await.last().unwrap().code(),
            Some(200)
        );
    }
}

/// §10: the caller refreshes (UPDATE, then re-INVITE), each answered with
/// Session-Expires, each pushing the end of the session back; then it
/// stops refreshing, and the daemon sends BYE at the interval minus
/// min(32 s, interval/3) after the last refresh. The call counts as
/// failed, not as a rating or a hang-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_refreshed_then_expired() {
    let d = Daemon::with_settings(timers(2)).await;
    let ua = SipUa::udp(d.sip).await;
    let mut opts = InviteOpts::new(UaStyle::Pbx, &agent("expire"));
    opts.extra_headers = vec![
        ("Supported".into(), "timer".into()),
        ("Session-Expires".into(), "4;refresher=uac".into()),
        ("Min-SE".into(), "2".into()),
    ];
    let mut call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    assert_eq!(
        call.ok.header("Session-Expires").map(norm).as_deref(),
        Some("4;refresher=uac")
    );
    // The BYE would come 4 - 4/3 = 2.67 s after the last 2xx.
    for refresh in ["UPDATE", "INVITE"] {
        tokio::time::sleep(ms(1500)).await;
        let body = (refresh == "INVITE").then(|| call.offer.clone().unwrap().render());
        let mut r = call.dialog.request(&ua, refresh);
        r.push("Session-Expires", "4;refresher=uac");
        r.push("Supported", "timer");
        if let Some(b) = &body {
            r = r.with_body("application/sdp", b);
        }
        let rs = ua.transaction(&r, secs(5)).await;
        let ok = rs.last().unwrap();
        assert_eq!(ok.code(), Some(200), "{refresh} refresh → {}", ok.text());
        assert_eq!(
            ok.header("Session-Expires").map(norm).as_deref(),
            Some("4;refresher=uac"),
            "{refresh} refresh answered without the session timer:\n{}",
            ok.text()
        );
        if refresh == "INVITE" {
            ua.send_ack(&call.dialog.ack(&ua, None)).await;
        }
    }
    let last_refresh = Instant::now();
    // 3 s after the first 2xx: without the refreshes it would be over.
    assert!(
        ua.received().iter().all(|i| i.msg.method() != Some("BYE")),
        "BYE although the session was refreshed"
    );
    let bye = call.expect_daemon_bye(secs(10)).await;
    let after = bye.at.saturating_duration_since(last_refresh);
    assert!(
        after >= ms(2000),
        "BYE {after:?} after the last refresh, before interval - interval/3"
    );
    let who = opts.agent.clone().unwrap();
    let r = d.api.wait_responses(&who, "failed", 1, secs(5)).await;
    assert_eq!(num(&r["failed"]), 1.0, "{r}");
    assert_eq!(num(&r["rated"]), 0.0, "{r}");
    assert_eq!(num(&r["hung_up"]), 0.0, "{r}");
}

/// §10: when we are the refresher, an UPDATE with Session-Expires comes at
/// half the interval, and the session goes on past the interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_refreshes_when_it_is_the_refresher() {
    let d = Daemon::with_settings(timers(2)).await;
    let ua = SipUa::udp(d.sip).await;
    let mut opts = InviteOpts::new(UaStyle::Pbx, &agent("uas"));
    opts.extra_headers = vec![
        ("Supported".into(), "timer".into()),
        ("Session-Expires".into(), "3;refresher=uas".into()),
    ];
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    let update = ua
        .wait_request("UPDATE", Some(call.call_id()), secs(5))
        .await
        .expect("no UPDATE refresh from the daemon");
    let se = update.msg.header("Session-Expires").map(norm);
    assert_eq!(
        se.as_deref(),
        Some("3;refresher=uas"),
        "{}",
        update.msg.text()
    );
    assert_eq!(
        update.msg.tag_in_from(),
        Some(call.dialog.remote_tag.clone())
    );
    // Answered 200 by the UA: a second refresh follows, and no BYE.
    let second = ua
        .wait_request("UPDATE", Some(call.call_id()), secs(5))
        .await
        .expect("no second refresh");
    assert!(second.msg.cseq().unwrap().0 > update.msg.cseq().unwrap().0);
    assert!(ua.received().iter().all(|i| i.msg.method() != Some("BYE")));
}
