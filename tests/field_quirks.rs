//! What real PBXes and phones do that the RFCs allow but naive code trips
//! over (see shared/field-notes.md).

mod common;

use std::time::{Duration, Instant};

use common::call::{assert_rated, survey_with_key};
use common::*;

/// `Require: 100rel` (Metaswitch, some SBCs): a UAS that sends no reliable
/// provisional response can honour it; a 420 fails the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_100rel_is_not_refused() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let mut opts = InviteOpts::new(UaStyle::Pbx, &agent("100rel"));
    opts.extra_headers = vec![("Require".into(), "100rel".into())];
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    survey_with_key(&call, '2').await;
    assert_rated(&d, &opts, call.call_id(), "sad", "2", "rfc4733").await;
}

/// RFC 4028 session timers: the refresh (UPDATE without SDP, or a
/// re-INVITE with the unchanged SDP) must be answered in the dialog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_timer_refreshes_are_answered() {
    let d = Daemon::with_settings(Settings {
        digit_timeout_ms: 5000,
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let mut opts = InviteOpts::new(UaStyle::Pbx, &agent("timer"));
    opts.extra_headers = vec![
        ("Session-Expires".into(), "1800;refresher=uac".into()),
        ("Min-SE".into(), "90".into()),
    ];
    let mut call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    call.prompt_done(Prompt::Survey, secs(8)).await;
    let (_, up) = call.request("UPDATE", None).await;
    assert_eq!(up.code(), Some(200), "UPDATE refresh → {}", up.text());
    let same = call.offer.clone().unwrap().render();
    let (_, re) = call
        .request("INVITE", Some(("application/sdp", &same)))
        .await;
    assert_eq!(re.code(), Some(200), "re-INVITE refresh → {}", re.text());
    let ack = call.dialog.ack(&ua, None);
    ua.send_ack(&ack).await;
    call.press('1').await;
    call.heard(Prompt::Thanks, secs(8)).await;
    call.expect_daemon_bye(secs(8)).await;
    assert_rated(&d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

/// A long press with a gap before its end packets is one digit, not two.
/// With two attempts, counting it twice would end the survey.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_press_with_gap_is_one_digit() {
    let d = Daemon::with_settings(Settings {
        attempts: 2,
        digit_timeout_ms: 3000,
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("longpress"));
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    call.prompt_done(Prompt::Survey, secs(8)).await;
    let long = DtmfStyle {
        updates: 40,
        gap_before_end: Duration::from_millis(400),
        ..DtmfStyle::baresip()
    };
    call.rtp.press('7', long).await;
    call.prompt_done(Prompt::Invalid, secs(5)).await;
    tokio::time::sleep(ms(700)).await;
    call.press('1').await;
    call.heard(Prompt::Thanks, secs(8)).await;
    call.expect_daemon_bye(secs(8)).await;
    let heard = call.rtp.prompts_heard();
    assert_eq!(
        heard.iter().filter(|p| **p == Prompt::Invalid).count(),
        1,
        "{heard:?}"
    );
    assert_rated(&d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

/// Keep-alive: while waiting for a key the daemon keeps sending RTP
/// (silence), or PBXes that watch for media hang up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_keeps_flowing_while_waiting_for_a_key() {
    let d = Daemon::with_settings(Settings {
        digit_timeout_ms: 4000,
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("keepalive"));
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    let done = call
        .rtp
        .wait_prompt_done(Prompt::Survey, 1, secs(8))
        .await
        .unwrap();
    tokio::time::sleep(ms(2000)).await;
    let after = call
        .rtp
        .audio()
        .iter()
        .filter(|p| p.at > done.end + ms(200))
        .count();
    assert!(
        after >= 50,
        "only {after} RTP packets in ~1.8 s of waiting for a key (expected ~90)"
    );
    call.press('1').await;
    call.heard(Prompt::Thanks, secs(8)).await;
    call.expect_daemon_bye(secs(8)).await;
    call.assert_media_ok();
}

/// One wrong key sent with a field timestamp quirk, then '1'. With two
/// attempts, a press counted as several digits ends the survey.
async fn wrong_key_with_ts_quirk_counts_once(name: &str, quirk: TsQuirk) {
    let d = Daemon::with_settings(Settings {
        attempts: 2,
        digit_timeout_ms: 3000,
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent(name));
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    call.prompt_done(Prompt::Survey, secs(8)).await;
    let style = DtmfStyle {
        ts_quirk: quirk,
        ..DtmfStyle::baresip()
    };
    call.rtp.press('5', style).await;
    call.prompt_done(Prompt::Invalid, secs(5)).await;
    tokio::time::sleep(ms(700)).await;
    call.press('1').await;
    call.rtp
        .wait_heard(Prompt::Thanks, 1, secs(8))
        .await
        .unwrap_or_else(|e| {
            panic!("{e} (a single '5' sent with {quirk:?} counted more than once?)")
        });
    call.expect_daemon_bye(secs(8)).await;
    let heard = call.rtp.prompts_heard();
    assert_eq!(
        heard.iter().filter(|p| **p == Prompt::Invalid).count(),
        1,
        "{quirk:?}: {heard:?}"
    );
    assert_rated(&d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

/// Some senders advance the timestamp on every packet of one press.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp_advancing_every_packet_is_one_digit() {
    wrong_key_with_ts_quirk_counts_once("tsperpacket", TsQuirk::PerPacket).await;
}

/// An intermediary may rewrite the timestamp in the middle of a press.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp_rewritten_mid_press_is_one_digit() {
    wrong_key_with_ts_quirk_counts_once("tsrewrite", TsQuirk::RewriteAfter(4)).await;
}

/// A caller without X-Agent-Id is still surveyed; the agent is null.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_agent_header_is_still_surveyed() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let mut opts = InviteOpts::new(UaStyle::Baresip, "unused");
    opts.agent = None;
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    survey_with_key(&call, '1').await;
    // This daemon has seen this one call only, so the unfiltered list is it.
    let mut items = Vec::new();
    for _ in 0..50 {
        let (s, _, v) = d.api.get("/api/v1/measurements", &[]).await;
        assert_eq!(s, 200, "{v}");
        items = v["items"].as_array().cloned().unwrap_or_default();
        if !items.is_empty() {
            break;
        }
        tokio::time::sleep(ms(100)).await;
    }
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(
        items[0]["agent"].is_null(),
        "agent should be null: {}",
        items[0]
    );
    assert_eq!(items[0]["rating"], "happy");
    assert_eq!(items[0]["call_id"], call.call_id());
}

/// A daemon whose survey prompt lasts long enough to move the media in the
/// middle of it.
async fn daemon_with_long_prompt(symmetric_rtp: bool) -> Daemon {
    Daemon::start_with(Options {
        settings: Settings {
            symmetric_rtp,
            digit_timeout_ms: 6000,
            ..Settings::default()
        },
        prompts: Prompts::Generated(PromptLengths {
            survey: 3000,
            ..PromptLengths::default()
        }),
        ..Options::default()
    })
    .await
}

/// Audio packets `rtp` received after `t`.
fn audio_after(rtp: &RtpEndpoint, t: Instant) -> usize {
    rtp.audio().iter().filter(|p| p.at > t).count()
}

/// Asterisk with direct_media (FreeSWITCH with bypass media) takes itself
/// out of the audio path by a re-INVITE whose SDP names the phone's
/// address. With the caller silent there is no RTP to latch on: the rest
/// of the prompt must go to the new address at once, and nothing more to
/// the old one, with symmetric RTP on or off.
async fn reinvite_moves_the_media_mid_prompt(symmetric_rtp: bool) {
    let d = daemon_with_long_prompt(symmetric_rtp).await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Pbx, &agent("moved"));
    let mut call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    call.heard(Prompt::Survey, secs(8)).await;
    // The caller falls silent; its media moves to a new address.
    call.rtp.stop();
    let moved = RtpEndpoint::bind().await;
    let mut offer = call.offer.clone().unwrap();
    offer.version += 1;
    offer.addr = moved.local;
    let (_, ok) = call
        .request("INVITE", Some(("application/sdp", &offer.render())))
        .await;
    assert_eq!(ok.code(), Some(200), "moving re-INVITE: {}", ok.text());
    let ack = call.dialog.ack(&ua, None);
    ua.send_ack(&ack).await;
    let acked_at = Instant::now();
    moved
        .wait_prompt_done(Prompt::Survey, 1, secs(8))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the rest of the prompt never reached the new address: {e}; the old one heard {}",
                call.rtp.describe_heard()
            )
        });
    // Packets already paced out before the 200 may still land at the old
    // address; nothing sent after the ACK may.
    let stray = audio_after(&call.rtp, acked_at + ms(100));
    assert_eq!(
        stray,
        0,
        "{stray} packets went to the old address after the move; the new one got {}",
        moved.audio().len()
    );
    let p = moved.stream_problems();
    assert!(p.is_empty(), "stream at the new address: {p:?}");
    // The caller answers from the new address.
    moved.start(ok_media(&ok), call.audio_pt, call.event_pt);
    call.rtp = moved;
    call.press('1').await;
    call.heard(Prompt::Thanks, secs(8)).await;
    call.expect_daemon_bye(secs(8)).await;
    assert_rated(&d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

fn ok_media(ok: &SipMessage) -> std::net::SocketAddr {
    Sdp::parse(&ok.body_str())
        .ok()
        .and_then(|s| s.media_addr())
        .unwrap_or_else(|| panic!("no media address in {}", ok.text()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinvite_moves_the_media_mid_prompt_with_symmetric_rtp() {
    reinvite_moves_the_media_mid_prompt(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinvite_moves_the_media_mid_prompt_without_symmetric_rtp() {
    reinvite_moves_the_media_mid_prompt(false).await;
}

/// RFC 3264 §8.2: a new offer with the audio port 0 stops the stream (the
/// answer has port 0 too, and nothing is sent); a later offer with a port
/// starts it again, at that address. a=inactive stops it likewise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_zero_and_inactive_stop_the_media_until_a_new_offer() {
    let d = daemon_with_long_prompt(true).await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Pbx, &agent("port0"));
    let mut call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    call.heard(Prompt::Survey, secs(8)).await;
    call.rtp.stop();
    let mut offer = call.offer.clone().unwrap();
    offer.version += 1;
    let at = offer.addr;
    offer.addr = std::net::SocketAddr::new(at.ip(), 0);
    let port0 = ("port 0", offer.render());
    offer.version += 1;
    offer.addr = at;
    offer.direction = Direction::Inactive;
    let inactive = ("a=inactive", offer.render());
    for (what, sdp) in [port0, inactive] {
        let (_, ok) = call
            .request("INVITE", Some(("application/sdp", &sdp)))
            .await;
        assert_eq!(ok.code(), Some(200), "{what}: {}", ok.text());
        let answer = Sdp::parse(&ok.body_str()).unwrap();
        if what == "port 0" {
            assert_eq!(
                answer.port, 0,
                "{what}: answer must have port 0\n{}",
                answer.raw
            );
        } else {
            assert_eq!(answer.direction, Direction::Inactive, "{}", answer.raw);
        }
        ua.send_ack(&call.dialog.ack(&ua, None)).await;
        let stopped_at = Instant::now();
        tokio::time::sleep(ms(800)).await;
        let sent = audio_after(&call.rtp, stopped_at + ms(100));
        assert_eq!(sent, 0, "{what}: {sent} packets sent while stopped");
    }
    // Started again, at a new address.
    let moved = RtpEndpoint::bind().await;
    offer.version += 1;
    offer.addr = moved.local;
    offer.direction = Direction::SendRecv;
    let (_, ok) = call
        .request("INVITE", Some(("application/sdp", &offer.render())))
        .await;
    assert_eq!(ok.code(), Some(200), "{}", ok.text());
    ua.send_ack(&call.dialog.ack(&ua, None)).await;
    assert!(
        moved.wait_audio(10, secs(5)).await,
        "no audio at the new address after the stream was started again"
    );
    moved.start(ok_media(&ok), call.audio_pt, call.event_pt);
    call.rtp = moved;
    call.press('2').await;
    call.heard(Prompt::Thanks, secs(8)).await;
    call.expect_daemon_bye(secs(8)).await;
    assert_rated(&d, &opts, call.call_id(), "sad", "2", "rfc4733").await;
}
