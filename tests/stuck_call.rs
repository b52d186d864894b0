//! A call whose task is stuck holds up no other call. One call's commit is
//! held by the daemon's fault seam (`SMILEYD_FAULT_HOLD_COMMIT`, see
//! src/fault.rs) while its caller keeps sending: INFO keys until its queue
//! is full, a retransmission, a re-INVITE, its BYE. Meanwhile a hundred other calls,
//! over loopback UDP at the same time, each get their 200, press a key,
//! hear the thanks, get the BYE and have their rating stored. Then the
//! held call is let go and its rating is stored once.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;

/// Calls that run while one is stuck.
const OTHERS: usize = 100;

const DTMF_RELAY: &str = "application/dtmf-relay";

/// Waits until `prompt` has been heard. Polls four times a second, not
/// every 20 ms as `RtpEndpoint::wait_heard` does: a hundred calls decoding
/// their audio that often would take the CPU the daemon needs.
async fn hear(call: &Call, prompt: Prompt, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    while !call.rtp.prompts_heard().contains(&prompt) {
        assert!(
            std::time::Instant::now() < deadline,
            "call {} did not hear {prompt:?} within {timeout:?}; heard {}",
            call.call_id(),
            call.rtp.describe_heard()
        );
        tokio::time::sleep(ms(250)).await;
    }
}

/// One whole survey on a UA of its own: 200 OK, the question, a key over
/// RFC 4733, the thanks and the daemon's BYE. The agent and the key.
async fn survey(d: Arc<Daemon>, n: usize) -> (String, char) {
    let ua = SipUa::udp(d.sip).await;
    let agent = agent(&format!("other-{n}"));
    let key = if n.is_multiple_of(2) { '1' } else { '2' };
    let opts = InviteOpts::new(UaStyle::Pbx, &agent);
    let call = Call::place(&d, &ua, opts, OfferKind::Baresip).await;
    hear(&call, Prompt::Survey, secs(60)).await;
    call.press(key).await;
    hear(&call, Prompt::Thanks, secs(60)).await;
    call.expect_daemon_bye(secs(60)).await;
    (agent, key)
}

/// `/api/v1/responses` over every agent once `rated` reaches `want`.
async fn all_responses(d: &Daemon, want: f64) -> serde_json::Value {
    let deadline = std::time::Instant::now() + secs(30);
    loop {
        let (status, _, v) = d.api.get("/api/v1/responses", &[]).await;
        assert_eq!(status, 200, "{v}");
        if num(&v["rated"]) >= want || std::time::Instant::now() >= deadline {
            return v;
        }
        tokio::time::sleep(ms(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_commit_holds_up_no_other_call() {
    let hold = tempfile::tempdir().unwrap();
    let hold_file = hold.path().join("hold");
    let stuck_agent = agent("stuck");
    std::fs::write(&hold_file, &stuck_agent).unwrap();
    let d = Arc::new(
        Daemon::start_with(Options {
            // The stuck call and the others, one port pair each.
            rtp_blocks: 2,
            env: vec![(
                "SMILEYD_FAULT_HOLD_COMMIT".into(),
                hold_file.display().to_string(),
            )],
            ..Options::default()
        })
        .await,
    );

    // The stuck call: its caller presses 1 and its commit does not return.
    let ua = SipUa::udp(d.sip).await;
    let stuck_opts = InviteOpts::new(UaStyle::Pbx, &stuck_agent);
    let mut stuck = Call::place(&d, &ua, stuck_opts, OfferKind::Baresip).await;
    hear(&stuck, Prompt::Survey, secs(20)).await;
    stuck.press('1').await;
    d.wait_log("commit held", 1, secs(20))
        .await
        .expect("the stuck call's commit was never held");

    // Its caller presses on over INFO. The call task reads nothing, so its
    // queue fills; then a key is refused with 503, not waited for.
    let mut taken = 0;
    let mut refused = None;
    for _ in 0..64 {
        let (req, resp) = stuck
            .request("INFO", Some((DTMF_RELAY, "Signal=5\r\nDuration=160\r\n")))
            .await;
        match resp.code() {
            Some(200) => taken += 1,
            Some(503) => {
                refused = Some((req, resp));
                break;
            }
            _ => panic!("INFO to the stuck call → {}", resp.text()),
        }
    }
    let (info, busy) =
        refused.unwrap_or_else(|| panic!("{taken} INFO keys taken by a call that reads none"));
    assert_eq!(busy.header("Retry-After"), Some("1"), "{}", busy.text());
    // The refused INFO again, as a lost response makes the caller send it:
    // answered from its transaction, the same 503.
    let again = stuck.ua.transaction(&info, secs(5)).await;
    let again = again.last().expect("a response to the retransmission");
    assert_eq!(again.code(), Some(503), "{}", again.text());
    assert_eq!(again.tag_in_to(), busy.tag_in_to(), "{}", again.text());
    // A re-INVITE (a session refresh, the same media) is answered by the
    // dialog, not by the call task.
    let mut offer = stuck.offer.clone().expect("our offer");
    offer.version += 1;
    let (_, ok) = stuck
        .request("INVITE", Some(("application/sdp", &offer.render())))
        .await;
    assert_eq!(ok.code(), Some(200), "re-INVITE: {}", ok.text());
    let ack = stuck.dialog.ack(&stuck.ua, None);
    stuck.ua.send_ack(&ack).await;

    // A hundred calls at once; the stuck caller hangs up while they run.
    let others: Vec<_> = (0..OTHERS)
        .map(|n| tokio::spawn(survey(d.clone(), n)))
        .collect();
    stuck.hang_up().await;
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for (n, task) in others.into_iter().enumerate() {
        match task.await {
            Ok(r) => done.push(r),
            Err(e) => failed.push(format!("call {n}: {e}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {OTHERS} calls failed while one was stuck:\n{}",
        failed.len(),
        failed.join("\n")
    );

    // Every other rating is stored, each as pressed...
    for (agent, key) in &done {
        let items = d.api.wait_items(agent, 1, secs(30)).await;
        assert_eq!(items.len(), 1, "ratings for {agent}: {items:?}");
        let rating = if *key == '1' { "happy" } else { "sad" };
        assert_eq!(items[0]["rating"], rating, "{}", items[0]);
        assert_eq!(items[0]["digit"], key.to_string(), "{}", items[0]);
    }
    // ... with its call record, while the stuck call has neither: it was
    // still stuck all along, and none of the others waited for it.
    let all = all_responses(&d, OTHERS as f64).await;
    assert_eq!(num(&all["rated"]), OTHERS as f64, "{all}");
    assert_eq!(num(&all["offered"]), OTHERS as f64, "{all}");
    assert!(
        d.api.measurements(&stuck_agent).await["items"]
            .as_array()
            .is_some_and(|items| items.is_empty()),
        "the stuck call's rating was stored while it was held"
    );
    assert!(
        !stuck.rtp.prompts_heard().contains(&Prompt::Thanks),
        "the stuck caller was thanked before the commit"
    );

    // Let it go: its rating is stored once, and the call counts as rated
    // (the key came before the hang-up), with no BYE to a caller gone.
    std::fs::remove_file(&hold_file).unwrap();
    d.wait_log("commit released", 1, secs(10))
        .await
        .expect("the held commit did not go on");
    let r = d
        .api
        .wait_responses(&stuck_agent, "offered", 1, secs(30))
        .await;
    assert_eq!(num(&r["offered"]), 1.0, "{r}");
    assert_eq!(num(&r["rated"]), 1.0, "{r}");
    let items = d.api.measurements(&stuck_agent).await;
    let items = items["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "ratings for the stuck call: {items:?}");
    assert_eq!(items[0]["rating"], "happy", "{}", items[0]);
    assert_eq!(items[0]["call_id"], stuck.call_id(), "{}", items[0]);
    let byes: Vec<_> = stuck
        .ua
        .received()
        .into_iter()
        .filter(|i| i.msg.method() == Some("BYE"))
        .collect();
    assert!(byes.is_empty(), "BYE sent to a caller who had hung up");
    let all = all_responses(&d, OTHERS as f64 + 1.0).await;
    assert_eq!(num(&all["rated"]), OTHERS as f64 + 1.0, "{all}");
}
