//! What real PBXes and phones do that the RFCs allow but naive code trips
//! over (see shared/field-notes.md).

mod common;

use std::time::Duration;

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
    call.rtp
        .wait_prompt_done(Prompt::Survey, 1, secs(8))
        .await
        .unwrap();
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
    call.rtp
        .wait_heard(Prompt::Thanks, 1, secs(8))
        .await
        .unwrap();
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
    call.rtp
        .wait_prompt_done(Prompt::Survey, 1, secs(8))
        .await
        .unwrap();
    let long = DtmfStyle {
        updates: 40,
        gap_before_end: Duration::from_millis(400),
        ..DtmfStyle::baresip()
    };
    call.rtp.press('7', long).await;
    call.rtp
        .wait_prompt_done(Prompt::Invalid, 1, secs(5))
        .await
        .unwrap();
    tokio::time::sleep(ms(700)).await;
    call.press('1').await;
    call.rtp
        .wait_heard(Prompt::Thanks, 1, secs(8))
        .await
        .unwrap();
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
    call.rtp
        .wait_heard(Prompt::Thanks, 1, secs(8))
        .await
        .unwrap();
    call.expect_daemon_bye(secs(8)).await;
    call.assert_media_ok();
}
