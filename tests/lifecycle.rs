//! Stopping and starting the daemon: SIGTERM drains calls in progress
//! and refuses new ones (503); ratings survive a restart.

mod common;

use common::call::build_invite;
use common::sip::*;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_refuses_new_calls_and_lets_the_current_one_finish() {
    let mut d = Daemon::with_settings(Settings {
        digit_timeout_ms: 6000,
        ..Settings::default()
    })
    .await;
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent("drain"));
    let call = Call::place(&d, &ua, opts.clone(), OfferKind::Baresip).await;
    call.prompt_done(Prompt::Survey, secs(8)).await;
    d.signal("TERM");
    tokio::time::sleep(ms(300)).await;
    assert!(
        d.alive(),
        "daemon exited on SIGTERM with a call in progress"
    );
    // A new call is refused while draining.
    let ua2 = SipUa::udp(d.sip).await;
    let rtp2 = RtpEndpoint::bind().await;
    let invite = build_invite(
        &ua2,
        d.sip,
        &InviteOpts::new(UaStyle::Pbx, &agent("late")),
        Some(&Offer::baresip(rtp2.local, 1).render()),
    );
    let rs = ua2.transaction(&invite, secs(5)).await;
    let r = rs.last().unwrap();
    assert_eq!(r.code(), Some(503), "INVITE while stopping: {}", r.text());
    ua2.send(&sip::ack_for_failure(&invite, r)).await;
    // The call in progress completes normally.
    call.press('1').await;
    call.heard(Prompt::Thanks, secs(8)).await;
    call.expect_daemon_bye(secs(8)).await;
    let st = d.wait_exit(secs(10)).await;
    assert!(
        st.map(|s| s.success()).unwrap_or(false),
        "daemon should exit cleanly once the last call ended: {st:?}"
    );
    // The rating was stored: start again on the same database.
    d.restart().await;
    common::call::assert_rated(&d, &opts, call.call_id(), "happy", "1", "rfc4733").await;
}
