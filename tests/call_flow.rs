//! Whole survey calls: answer, prompt, key, rating stored, thanks, the
//! daemon's BYE; and the ways a call can go otherwise.

mod common;

use std::time::Instant;

use common::call::{assert_rated, survey_with_key};
use common::sip::*;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_rfc4733_from_baresip() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("happy"));
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    let codes: Vec<u16> = call.responses.iter().filter_map(|r| r.code()).collect();
    assert_eq!(
        codes.first(),
        Some(&100),
        "INVITE should get 100 Trying first, got {codes:?}"
    );
    assert!(call.ok.tag_in_to().is_some());
    survey_with_key(&call, '1').await;
    let heard = call.rtp.prompts_heard();
    assert_eq!(heard.first(), Some(&Prompt::Survey), "heard {heard:?}");
    assert!(
        !heard.contains(&Prompt::Invalid),
        "a valid key must not play 'invalid': {heard:?}"
    );
    call.assert_media_ok();
    call.assert_clean();
    assert_rated(&d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sad_with_compact_headers_and_several_vias() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let mut opts = InviteOpts::new(UaStyle::Pbx, &agent("sad"));
    opts.compact = true;
    opts.lower_vias = vec![
        "SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKpbx1a2b3c;received=127.0.0.1;rport=5099".into(),
        "SIP/2.0/UDP 127.0.0.1:5098;branch=z9hG4bKphone9z8y".into(),
    ];
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    assert_eq!(
        call.ok.vias().len(),
        3,
        "all three Vias echoed: {:?}",
        call.ok.vias()
    );
    survey_with_key(&call, '2').await;
    call.assert_media_ok();
    call.assert_clean();
    assert_rated(&d, &opts, call.call_id(), "sad", "2", "rfc4733").await;
}

/// A wrong key plays "invalid" once and the caller gets another try. The
/// key is sent linphone-style (three end packets with one sequence
/// number): counting those as three presses would use up both attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_then_right_key() {
    let d = Daemon::with_settings(Settings {
        attempts: 2,
        digit_timeout_ms: 3000,
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Pbx, &agent("wrongkey"));
    let mut call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    call.dtmf = DtmfStyle::linphone();
    call.prompt_done(Prompt::Survey, secs(8)).await;
    call.press('5').await;
    call.prompt_done(Prompt::Invalid, secs(5)).await;
    // Some senders never set the marker bit.
    call.dtmf.marker = false;
    // If the survey prompt is replayed after "invalid", let it finish.
    tokio::time::sleep(ms(700)).await;
    call.press('2').await;
    call.heard(Prompt::Thanks, secs(8)).await;
    call.expect_daemon_bye(secs(8)).await;
    let heard = call.rtp.prompts_heard();
    assert_eq!(
        heard.iter().filter(|p| **p == Prompt::Invalid).count(),
        1,
        "one wrong key, one 'invalid': {heard:?}"
    );
    assert!(!heard.contains(&Prompt::Goodbye), "{heard:?}");
    call.assert_clean();
    assert_rated(&d, &opts, call.call_id(), "sad", "2", "rfc4733").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_input_plays_goodbye_and_hangs_up() {
    let d = Daemon::with_settings(Settings {
        attempts: 2,
        digit_timeout_ms: 1500,
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("noinput"));
    let agent = opts.agent.clone().unwrap();
    let call = Call::place(&d, &ua, opts, OfferKind::Baresip).await;
    call.heard(Prompt::Goodbye, secs(15)).await;
    let bye = call.expect_daemon_bye(secs(8)).await;
    let took = bye.at.duration_since(call.answered_at);
    assert!(
        took >= ms(2 * 1500),
        "BYE after {took:?}: two attempts with a 1.5 s digit timeout each take at least 3 s"
    );
    let heard = call.rtp.prompts_heard();
    assert!(heard.contains(&Prompt::Survey), "{heard:?}");
    assert!(
        !heard.contains(&Prompt::Thanks),
        "no key, no thanks: {heard:?}"
    );
    call.assert_clean();
    let r = d.api.wait_responses(&agent, "no_input", 1, secs(5)).await;
    assert_eq!(num(&r["offered"]), 1.0, "{r}");
    assert_eq!(num(&r["no_input"]), 1.0, "{r}");
    assert_eq!(num(&r["rated"]), 0.0, "{r}");
    assert_eq!(num(&r["hung_up"]), 0.0, "{r}");
    let items = d.api.measurements(&agent).await;
    assert_eq!(
        items["items"].as_array().map(|a| a.len()),
        Some(0),
        "no rating stored: {items}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangup_during_prompt_counts_as_hung_up() {
    let d = Daemon::start_with(Options {
        prompts: Prompts::Generated(PromptLengths {
            survey: 4000,
            ..PromptLengths::default()
        }),
        ..Options::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("hangup"));
    let agent = opts.agent.clone().unwrap();
    let mut call = Call::place(&d, &ua, opts, OfferKind::Baresip).await;
    call.heard(Prompt::Survey, secs(5)).await;
    call.hang_up().await;
    let after_bye = Instant::now();
    tokio::time::sleep(ms(800)).await;
    let late = call
        .rtp
        .audio()
        .iter()
        .filter(|p| p.at > after_bye + ms(300))
        .count();
    assert_eq!(late, 0, "daemon kept sending RTP after the call ended");
    call.assert_clean();
    let r = d.api.wait_responses(&agent, "hung_up", 1, secs(5)).await;
    assert_eq!(num(&r["offered"]), 1.0, "{r}");
    assert_eq!(num(&r["hung_up"]), 1.0, "{r}");
    assert_eq!(num(&r["rated"]), 0.0, "{r}");
    let items = d.api.measurements(&agent).await;
    assert_eq!(
        items["items"].as_array().map(|a| a.len()),
        Some(0),
        "{items}"
    );
    // Nobody should get a BYE for a call that is already over.
    assert!(ua
        .wait_request("BYE", Some(call.call_id()), ms(500))
        .await
        .is_none());
}

/// A key pressed while the (long) survey prompt plays cuts it short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_stops_the_prompt() {
    let d = Daemon::start_with(Options {
        prompts: Prompts::Generated(PromptLengths {
            survey: 5000,
            ..PromptLengths::default()
        }),
        ..Options::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("bargein"));
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    call.heard(Prompt::Survey, secs(5)).await;
    tokio::time::sleep(ms(500)).await;
    call.press('1').await;
    call.heard(Prompt::Thanks, secs(5)).await;
    call.expect_daemon_bye(secs(8)).await;
    let segs = call.rtp.segments();
    let survey = segs
        .iter()
        .find(|s| s.sound == common::tones::Sound::Prompt(Prompt::Survey))
        .unwrap();
    assert!(
        survey.duration_ms() < 2500,
        "survey prompt played {} ms of 5000 after a key at ~700 ms: no barge-in ({})",
        survey.duration_ms(),
        call.rtp.describe_heard()
    );
    call.assert_media_ok();
    assert_rated(&d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

/// Barge-in with the prompts that ship with the daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_with_shipped_prompts() {
    let dir = common::daemon::shipped_prompts_dir().join("en");
    let survey_ms = common::tones::wav_duration_ms(&dir.join("survey.wav")).unwrap_or_else(|| {
        panic!(
            "shipped prompt {} missing or unreadable",
            dir.join("survey.wav").display()
        )
    });
    let thanks_ms = common::tones::wav_duration_ms(&dir.join("thanks.wav")).unwrap_or_else(|| {
        panic!(
            "shipped prompt {} missing or unreadable",
            dir.join("thanks.wav").display()
        )
    });
    let d = Daemon::start_with(Options {
        prompts: Prompts::Shipped,
        settings: Settings {
            digit_timeout_ms: 5000,
            ..Settings::default()
        },
        ..Options::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("shipped"));
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    // Wait until the prompt is audibly playing.
    let deadline = Instant::now() + secs(5);
    let started = loop {
        let audio = call.rtp.audio();
        let loud = audio
            .iter()
            .position(|p| common::tones::rms(&common::g711::decode(p.pt, &p.payload)) > 300.0);
        if let Some(i) = loud {
            break audio[i].at;
        }
        assert!(
            Instant::now() < deadline,
            "no audible prompt within 5 s of answering"
        );
        tokio::time::sleep(ms(20)).await;
    };
    tokio::time::sleep(ms(400)).await;
    let pressed = Instant::now();
    call.press('1').await;
    let bye = call
        .expect_daemon_bye(ms(thanks_ms + survey_ms + 8000))
        .await;
    let after_key = bye.at.duration_since(pressed);
    let remaining = (survey_ms as i64) - pressed.duration_since(started).as_millis() as i64;
    eprintln!(
        "shipped survey {survey_ms} ms, thanks {thanks_ms} ms; BYE {after_key:?} after the key"
    );
    if remaining > 1500 {
        assert!(
            after_key < ms(thanks_ms + 1500),
            "BYE came {after_key:?} after the key; with barge-in it should follow the {thanks_ms} ms thanks prompt, \
             not the rest ({remaining} ms) of the survey prompt"
        );
    }
    call.assert_media_ok();
    assert_rated(&d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_dtmf_relay() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Pbx, &agent("inforelay"));
    let mut call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    call.prompt_done(Prompt::Survey, secs(8)).await;
    call.info("application/dtmf-relay", "Signal=1\r\nDuration=250\r\n")
        .await;
    call.heard(Prompt::Thanks, secs(8)).await;
    call.expect_daemon_bye(secs(8)).await;
    call.assert_clean();
    assert_rated(&d, &opts, call.call_id(), "happy", "1", "info").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_dtmf_bare_digit() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Pbx, &agent("infodtmf"));
    let mut call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    call.prompt_done(Prompt::Survey, secs(8)).await;
    call.info("application/dtmf", "2").await;
    call.heard(Prompt::Thanks, secs(8)).await;
    call.expect_daemon_bye(secs(8)).await;
    call.assert_clean();
    assert_rated(&d, &opts, call.call_id(), "sad", "2", "info").await;
}

/// linphone's INFO shape, with the space some senders put after `=`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_dtmf_relay_with_space_after_equals() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Linphone, &agent("infospace"));
    let mut call = Call::place(&d, &ua, opts.clone(), OfferKind::Linphone).await;
    call.prompt_done(Prompt::Survey, secs(8)).await;
    call.info("application/dtmf-relay", "Signal= 2\r\nDuration= 250\r\n")
        .await;
    call.heard(Prompt::Thanks, secs(8)).await;
    call.expect_daemon_bye(secs(8)).await;
    assert_rated(&d, &opts, call.call_id(), "sad", "2", "info").await;
}

/// Only PCMA offered, events on PT 96: the daemon must send PT 8 and hear
/// events on 96.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcma_only_offer_with_event_pt_96() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("pcma"));
    let call = Call::place(
        &d,
        &ua,
        opts.clone(),
        OfferKind::Plain(vec![
            fmt(8, "PCMA/8000"),
            fmt_fmtp(96, "telephone-event/8000", "0-16"),
        ]),
    )
    .await;
    assert_eq!(
        call.answer.audio_pts(),
        vec![8],
        "answer: {}",
        call.answer.raw
    );
    assert_eq!(
        call.answer.event_pt_8k(),
        Some(96),
        "answer: {}",
        call.answer.raw
    );
    survey_with_key(&call, '1').await;
    let pts: std::collections::BTreeSet<u8> = call.rtp.audio().iter().map(|p| p.pt).collect();
    assert_eq!(
        pts.into_iter().collect::<Vec<_>>(),
        vec![8],
        "daemon must send PCMA"
    );
    call.assert_media_ok();
    assert_rated(&d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

/// linphone: opus/speex first, telephone-event at 48k/16k/8k, To without
/// angle brackets, Contact without user part, sequence numbers from 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_offer_and_headers() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Linphone, &agent("linphone"));
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Linphone).await;
    assert_eq!(
        call.answer.audio_pts(),
        vec![0],
        "PCMU is the caller's first G.711: {}",
        call.answer.raw
    );
    assert_eq!(
        call.answer.event_pts(),
        vec![(101, 8000)],
        "answer: {}",
        call.answer.raw
    );
    call.rtp.set_seq(0);
    survey_with_key(&call, '2').await;
    call.assert_media_ok();
    call.assert_clean();
    assert_rated(&d, &opts, call.call_id(), "sad", "2", "rfc4733").await;
}

/// INVITE without SDP: the daemon offers in the 200, we answer in the ACK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_offer() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Pbx, &agent("delayed"));
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Delayed).await;
    survey_with_key(&call, '1').await;
    call.assert_media_ok();
    call.assert_clean();
    assert_rated(&d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

/// The whole call over TCP (framing by Content-Length, compact `l:`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_call() {
    let d = Daemon::start().await;
    let ua = SipUa::tcp(d.sip).await;
    let mut opts = InviteOpts::new(UaStyle::Baresip, &agent("tcp"));
    opts.compact = true;
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    survey_with_key(&call, '1').await;
    call.assert_media_ok();
    call.assert_clean();
    assert_rated(&d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

/// The same INVITE sent again (before and after the 200) is one call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retransmitted_invite_is_absorbed() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("retrans"));
    let rtp = RtpEndpoint::bind().await;
    let offer = Offer::baresip(rtp.local, rtp.ssrc());
    let invite = build_invite(&ua, d.sip, &opts, Some(&offer.render()));
    let bytes = invite.to_bytes();
    ua.send_raw(&bytes).await;
    tokio::time::sleep(ms(30)).await;
    ua.send_raw(&bytes).await;
    let branch = invite.branch();
    let ok = loop {
        let r = ua
            .next_response(&branch, "INVITE", secs(5))
            .await
            .expect("no response to INVITE");
        if r.code().unwrap_or(0) >= 200 {
            break r;
        }
    };
    assert_eq!(ok.code(), Some(200), "{}", ok.text());
    ua.send_raw(&bytes).await;
    tokio::time::sleep(ms(300)).await;
    let dialog = Dialog::from_2xx(&invite, &ok);
    ua.send_ack(&dialog.ack(&ua, None)).await;
    let answer = Sdp::parse(&ok.body_str()).unwrap();
    rtp.start(
        answer.media_addr().unwrap(),
        answer.first_g711().unwrap(),
        answer.event_pt_8k().unwrap(),
    );
    tokio::time::sleep(ms(300)).await;
    let finals = ua.responses_for(&branch, "INVITE");
    let tags: std::collections::BTreeSet<String> = finals
        .iter()
        .filter(|r| r.code().unwrap_or(0) >= 200)
        .filter_map(|r| r.tag_in_to())
        .collect();
    assert_eq!(
        tags.len(),
        1,
        "the retransmitted INVITE made another dialog: To tags {tags:?}"
    );
    let codes: Vec<u16> = finals.iter().filter_map(|r| r.code()).collect();
    assert!(
        codes.iter().all(|c| *c == 100 || *c == 200),
        "responses {codes:?}"
    );
    rtp.wait_prompt_done(Prompt::Survey, 1, secs(8))
        .await
        .unwrap();
    rtp.press('1', DtmfStyle::baresip()).await;
    rtp.wait_heard(Prompt::Thanks, 1, secs(8)).await.unwrap();
    ua.wait_request("BYE", Some(&invite.call_id()), secs(8))
        .await
        .expect("daemon BYE");
    // A second call made from the retransmission would show up as a second
    // BYE (with another tag) or another offered survey.
    let second = ua
        .wait_request("BYE", Some(&invite.call_id()), secs(2))
        .await;
    if let Some(b) = &second {
        assert_eq!(
            b.msg.tag_in_from(),
            ok.tag_in_to(),
            "a second BYE from another dialog: the retransmission became a call"
        );
    }
    let agent = opts.agent.clone().unwrap();
    let items = d.api.wait_items(&agent, 1, secs(5)).await;
    tokio::time::sleep(ms(500)).await;
    let items2 = d.api.measurements(&agent).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items2["items"].as_array().unwrap().len(), 1, "{items2}");
    let r = d.api.responses(&agent).await;
    assert_eq!(num(&r["offered"]), 1.0, "one call, offered once: {r}");
}

/// RFC 3261 13.3.1.4: the 2xx is retransmitted (T1, 2·T1, …) until the ACK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ok_is_retransmitted_until_ack() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("okretx"));
    let rtp = RtpEndpoint::bind().await;
    let offer = Offer::baresip(rtp.local, rtp.ssrc());
    let invite = build_invite(&ua, d.sip, &opts, Some(&offer.render()));
    let rs = ua.transaction(&invite, secs(5)).await;
    let ok = rs.last().unwrap().clone();
    assert_eq!(ok.code(), Some(200), "{}", ok.text());
    let branch = invite.branch();
    // Timer G with T1 = 500 ms: retransmissions at ~0.5 s and ~1.5 s.
    tokio::time::sleep(ms(2000)).await;
    let n_before = ua
        .responses_for(&branch, "INVITE")
        .iter()
        .filter(|r| r.code() == Some(200))
        .count();
    assert!(
        n_before >= 3,
        "200 OK sent {n_before} times in 2 s without an ACK; expected retransmissions at T1, 2·T1"
    );
    let tags: std::collections::BTreeSet<String> = ua
        .responses_for(&branch, "INVITE")
        .iter()
        .filter_map(|r| r.tag_in_to())
        .collect();
    assert_eq!(
        tags.len(),
        1,
        "retransmitted 200s must be identical: tags {tags:?}"
    );
    let mut dialog = Dialog::from_2xx(&invite, &ok);
    ua.send_ack(&dialog.ack(&ua, None)).await;
    tokio::time::sleep(ms(100)).await;
    let n_acked = ua
        .responses_for(&branch, "INVITE")
        .iter()
        .filter(|r| r.code() == Some(200))
        .count();
    tokio::time::sleep(ms(2500)).await;
    let n_after = ua
        .responses_for(&branch, "INVITE")
        .iter()
        .filter(|r| r.code() == Some(200))
        .count();
    assert_eq!(n_after, n_acked, "200 OK still retransmitted after the ACK");
    let bye = dialog.request(&ua, "BYE");
    let r = ua.transaction(&bye, secs(5)).await;
    assert_eq!(r.last().unwrap().code(), Some(200));
}

/// Hold (a=sendonly) and unhold by re-INVITE keep the call and its media;
/// on hold the daemon must not send (RFC 3264 6.1: answer recvonly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinvite_hold_and_unhold_keep_the_call() {
    let d = Daemon::with_settings(Settings {
        digit_timeout_ms: 6000,
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("hold"));
    let mut call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    call.prompt_done(Prompt::Survey, secs(8)).await;
    let mut offer = call.offer.clone().unwrap();
    let first = call.answer.clone();
    // Hold.
    offer.version += 1;
    offer.direction = Direction::SendOnly;
    let (_, ok) = call
        .request("INVITE", Some(("application/sdp", &offer.render())))
        .await;
    assert_eq!(ok.code(), Some(200), "hold re-INVITE: {}", ok.text());
    assert_eq!(
        ok.tag_in_to().as_deref(),
        Some(call.dialog.remote_tag.as_str())
    );
    let ack = call.dialog.ack(&ua, None);
    ua.send_ack(&ack).await;
    let held = Sdp::parse(&ok.body_str()).unwrap_or_else(|e| panic!("hold answer: {e}"));
    let p = common::sdp::check_answer(&offer, &held, Some(d.rtp_ports));
    assert!(p.is_empty(), "hold answer problems: {p:?}\n{}", held.raw);
    assert_eq!(held.port, first.port, "media port changed on hold");
    assert_eq!(held.audio_pts(), first.audio_pts(), "codec changed on hold");
    let held_at = Instant::now();
    tokio::time::sleep(ms(1000)).await;
    let sent_on_hold = call
        .rtp
        .audio()
        .iter()
        .filter(|p| p.at > held_at + ms(200))
        .count();
    // Unhold.
    offer.version += 1;
    offer.direction = Direction::SendRecv;
    let (_, ok2) = call
        .request("INVITE", Some(("application/sdp", &offer.render())))
        .await;
    assert_eq!(ok2.code(), Some(200), "unhold re-INVITE: {}", ok2.text());
    let ack = call.dialog.ack(&ua, None);
    ua.send_ack(&ack).await;
    let resumed = Sdp::parse(&ok2.body_str()).unwrap();
    assert_eq!(resumed.direction, Direction::SendRecv, "{}", resumed.raw);
    assert_eq!(resumed.port, first.port);
    if let (Some(a), Some(b)) = (first.session_version(), resumed.session_version()) {
        assert!(b >= a, "o= version went backwards: {a} -> {b}");
    }
    assert_eq!(
        first.session_id(),
        resumed.session_id(),
        "o= session id changed"
    );
    call.press('1').await;
    call.heard(Prompt::Thanks, secs(8)).await;
    call.expect_daemon_bye(secs(8)).await;
    call.assert_clean();
    assert_eq!(
        sent_on_hold, 0,
        "daemon sent {sent_on_hold} RTP packets in the ~800 ms on hold; its answer to a=sendonly was:\n{}",
        held.raw
    );
    assert_rated(&d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

/// The daemon's BYE is retransmitted over UDP until it is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_bye_is_retransmitted_until_answered() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    ua.set_auto_answer_bye(false);
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("byeretx"));
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    call.prompt_done(Prompt::Survey, secs(8)).await;
    call.press('1').await;
    let bye = ua
        .wait_request("BYE", Some(call.call_id()), secs(10))
        .await
        .expect("daemon BYE");
    let branch = bye.msg.branch().unwrap_or_default();
    let b2 = branch.clone();
    let again = ua
        .wait_for(secs(3), move |i| {
            i.msg.method() == Some("BYE") && i.msg.branch().as_deref() == Some(&b2)
        })
        .await;
    assert!(
        again.is_some(),
        "unanswered BYE was not retransmitted within 3 s (T1 = 500 ms)"
    );
    let ok = response_to(&bye.msg, 200, "OK", None, &[], None);
    ua.reply(&bye, &ok).await;
    let answered = Instant::now();
    tokio::time::sleep(ms(2500)).await;
    let late = ua
        .received()
        .iter()
        .filter(|i| i.msg.method() == Some("BYE") && i.at > answered + ms(100))
        .count();
    assert_eq!(late, 0, "BYE still retransmitted after the 200");
    assert_rated(&d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}

/// The SDP names a port nobody reads; the daemon should send to where our
/// RTP comes from (symmetric RTP, latched early).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symmetric_rtp_follows_the_source() {
    let d = Daemon::start().await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("symrtp"));
    let decoy = RtpEndpoint::bind().await;
    let real = RtpEndpoint::bind().await;
    let offer = Offer::baresip(decoy.local, real.ssrc());
    let invite = build_invite(&ua, d.sip, &opts, Some(&offer.render()));
    let rs = ua.transaction(&invite, secs(5)).await;
    let ok = rs.last().unwrap().clone();
    assert_eq!(ok.code(), Some(200), "{}", ok.text());
    let dialog = Dialog::from_2xx(&invite, &ok);
    ua.send_ack(&dialog.ack(&ua, None)).await;
    let answer = Sdp::parse(&ok.body_str()).unwrap();
    real.start(
        answer.media_addr().unwrap(),
        answer.first_g711().unwrap(),
        answer.event_pt_8k().unwrap(),
    );
    tokio::time::sleep(ms(300)).await;
    let latched_from = Instant::now();
    let ok_latch = real.wait_audio(10, secs(3)).await;
    assert!(
        ok_latch,
        "no RTP reached the address our RTP comes from within 3 s (decoy got {} packets)",
        decoy.audio().len()
    );
    real.wait_prompt_done(Prompt::Survey, 1, secs(8)).await.ok();
    real.press('1', DtmfStyle::baresip()).await;
    ua.wait_request("BYE", Some(&invite.call_id()), secs(10))
        .await
        .expect("daemon BYE");
    let _ = latched_from;
    let items = d
        .api
        .wait_items(opts.agent.as_deref().unwrap(), 1, secs(5))
        .await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["rating"], "happy");
}

/// Phones with voice activity detection send nothing, only comfort noise or
/// only RTCP while their user is silent. With a 1 s media timeout, far
/// shorter than the survey's own path (two attempts with a 1.5 s key wait),
/// such callers still hear every attempt and the goodbye and are counted as
/// no_input, not cut off as hung up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_callers_end_as_no_input_not_cut_by_the_media_timeout() {
    let d = Daemon::with_settings(Settings {
        attempts: 2,
        digit_timeout_ms: 1500,
        media_timeout_secs: 1,
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let mut agents = Vec::new();
    let mut calls = Vec::new();
    for how in [
        SilentAs::Nothing,
        SilentAs::ComfortNoise,
        SilentAs::RtcpOnly,
    ] {
        let opts = InviteOpts::new(UaStyle::Baresip, &agent(&format!("{how:?}")));
        agents.push((how, opts.agent.clone().unwrap()));
        let call = Call::place(&d, &ua, opts, OfferKind::Baresip).await;
        call.rtp.silent_as(how);
        calls.push(call);
    }
    for (call, (how, agent)) in calls.iter().zip(&agents) {
        call.heard(Prompt::Goodbye, secs(20)).await;
        call.expect_daemon_bye(secs(8)).await;
        let surveys = call
            .rtp
            .prompts_heard()
            .iter()
            .filter(|p| **p == Prompt::Survey)
            .count();
        assert_eq!(
            surveys,
            2,
            "{how:?}: both attempts asked: {}",
            call.rtp.describe_heard()
        );
        let r = d.api.wait_responses(agent, "no_input", 1, secs(5)).await;
        assert_eq!(num(&r["no_input"]), 1.0, "{how:?}: {r}");
        assert_eq!(num(&r["hung_up"]), 0.0, "{how:?}: {r}");
        assert_eq!(num(&r["media_timeout"]), 0.0, "{how:?}: {r}");
    }
}

/// A caller whose side is gone (here: no ACK and no media at all, so the
/// survey never starts) is ended by the media timeout once the survey's own
/// longest path has passed, and counted as media_timeout in /responses and
/// /metrics, not as hung_up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_gone_without_a_bye_is_counted_as_media_timeout() {
    let d = Daemon::with_settings(Settings {
        attempts: 1,
        digit_timeout_ms: 500,
        media_timeout_secs: 1,
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("gone"));
    let agent = opts.agent.clone().unwrap();
    let rtp = RtpEndpoint::bind().await;
    let offer = Offer::baresip(rtp.local, rtp.ssrc()).render();
    let invite = build_invite(&ua, d.sip, &opts, Some(&offer));
    let responses = ua.transaction(&invite, secs(10)).await;
    assert_eq!(responses.last().and_then(|r| r.code()), Some(200));
    // No ACK and no RTP: the 64·T1 ACK timeout (32 s) is far off.
    let r = d
        .api
        .wait_responses(&agent, "media_timeout", 1, secs(25))
        .await;
    assert_eq!(num(&r["offered"]), 1.0, "{r}");
    assert_eq!(num(&r["media_timeout"]), 1.0, "{r}");
    assert_eq!(num(&r["hung_up"]), 0.0, "{r}");
    let text = reqwest::get(format!("{}/metrics", d.api.base))
        .await
        .expect("metrics")
        .text()
        .await
        .unwrap_or_default();
    let line = r#"smileyd_calls_total{outcome="media_timeout"} 1"#;
    assert!(text.contains(line), "{line} missing from /metrics:\n{text}");
}
