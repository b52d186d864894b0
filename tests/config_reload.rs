//! The configuration file at start-up and on SIGHUP: a reload applies to
//! new calls only, an invalid file is refused (the last good configuration
//! stays and the error is logged), and an invalid file at start-up stops the
//! daemon with a message naming the file, the line and the key.

mod common;

use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::call::survey_with_key;
use common::daemon::{free_port, rtp_range, shipped_prompts_dir};
use common::*;

const RELOADED: &str = "configuration reloaded";
const REFUSED: &str = "configuration reload refused";

/// Send SIGHUP and wait for the next log line containing `needle`; the line.
async fn hup_and_wait_log(d: &Daemon, needle: &str) -> String {
    let n = d.log_lines(needle).len() + 1;
    d.signal("HUP");
    d.wait_log(needle, n, secs(15)).await.unwrap_or_else(|| {
        panic!(
            "no log line {n} with {needle:?} after SIGHUP\n--- log ---\n{}",
            d.log_tail(40)
        )
    })
}

/// GET /api/v1/surveys: (default, [(name, kind)] sorted by name).
async fn survey_catalog(d: &Daemon) -> (String, Vec<(String, String)>) {
    let (status, _, v) = d.api.get("/api/v1/surveys", &[]).await;
    assert_eq!(status, 200, "GET /api/v1/surveys: {v}");
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut items: Vec<(String, String)> = v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {v}"))
        .iter()
        .map(|i| (s(&i["name"]), s(&i["kind"])))
        .collect();
    items.sort();
    (s(&v["default_survey"]), items)
}

/// A whole call: wait for the question, press `key`, hear the thanks and
/// get the daemon's BYE; no "invalid" prompt on the way. The options used.
async fn call_pressing(
    d: &Daemon,
    who: &str,
    survey: Option<&str>,
    key: char,
) -> (InviteOpts, String) {
    let ua = SipUa::udp(d.sip).await;
    let mut opts = InviteOpts::new(UaStyle::Pbx, &agent(who));
    if let Some(s) = survey {
        opts.extra_headers.push(("X-Survey".into(), s.into()));
    }
    let call = Call::place(d, &ua, opts.clone(), OfferKind::Baresip).await;
    survey_with_key(&call, key).await;
    let heard = call.rtp.prompts_heard();
    assert!(
        !heard.contains(&Prompt::Invalid),
        "{who}: key {key} was refused: heard {heard:?}"
    );
    call.assert_clean();
    (opts, call.call_id().to_string())
}

/// The one stored answer of an agent.
async fn only_answer(d: &Daemon, opts: &InviteOpts) -> Value {
    let agent = opts.agent.as_deref().unwrap();
    let items = d.api.wait_items(agent, 1, secs(5)).await;
    assert_eq!(items.len(), 1, "answers of {agent}: {items:#?}");
    items[0].clone()
}

/// The smiley survey with these keys as happy and sad, and otherwise the
/// harness defaults.
fn keys(happy: &str, sad: &str) -> Settings {
    Settings {
        happy_key: happy.into(),
        sad_key: sad.into(),
        // Long enough that the call waiting through a reload never times out.
        digit_timeout_ms: 60_000,
        ..Settings::default()
    }
}

/// A call in progress keeps the configuration it started with (key 1 is
/// happy) while calls placed after SIGHUP get the new file: key 7 is happy,
/// key 1 sad, and a new named survey "csat" is selectable by X-Survey.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_for_new_calls_and_the_call_in_progress_keeps_its_config() {
    let mut d = Daemon::with_settings(keys("1", "2")).await;
    assert_eq!(
        survey_catalog(&d).await,
        ("smiley".into(), vec![("smiley".into(), "smiley".into())]),
        "surveys before the reload"
    );

    let ua = SipUa::udp(d.sip).await;
    let old_opts = InviteOpts::new(UaStyle::Baresip, &agent("reload-old"));
    let old = Call::place(&d, &ua, old_opts.clone(), OfferKind::Baresip).await;
    old.prompt_done(Prompt::Survey, secs(8)).await;

    // Key 1 changes meaning (happy → sad), 7 becomes happy, and a second
    // survey appears; the default stays "smiley".
    let mut new = keys("7", "1");
    new.extra_toml = "[surveys.smiley]\n\n[surveys.csat]\nkind = \"csat\"\n".into();
    d.write_config(&format!("default_survey = \"smiley\"\n{}", new.toml()));
    hup_and_wait_log(&d, RELOADED).await;
    assert!(d.alive(), "daemon exited on SIGHUP");
    assert_eq!(
        survey_catalog(&d).await,
        (
            "smiley".into(),
            vec![
                ("csat".into(), "csat".into()),
                ("smiley".into(), "smiley".into())
            ]
        ),
        "surveys after the reload"
    );

    // New calls, while the old one is still waiting for its key.
    let (opts, call_id) = call_pressing(&d, "reload-new", None, '7').await;
    let it = common::call::assert_rated(&d, &opts, &call_id, "happy", "7", "rfc4733").await;
    assert_eq!(it["survey"], "smiley", "{it:#}");
    let (opts, call_id) = call_pressing(&d, "reload-sad", None, '1').await;
    let it = only_answer(&d, &opts).await;
    assert_eq!(
        (&it["survey"], &it["rating"], &it["digit"], &it["call_id"]),
        (
            &Value::from("smiley"),
            &Value::from("sad"),
            &Value::from("1"),
            &Value::from(call_id.as_str())
        ),
        "key 1 after the reload: {it:#}"
    );
    let (opts, call_id) = call_pressing(&d, "reload-csat", Some("csat"), '4').await;
    let it = only_answer(&d, &opts).await;
    assert_eq!(
        (&it["survey"], &it["kind"], &it["score"], &it["call_id"]),
        (
            &Value::from("csat"),
            &Value::from("csat"),
            &Value::from(4),
            &Value::from(call_id.as_str())
        ),
        "X-Survey: csat after the reload: {it:#}"
    );

    // The call from before the reload: key 1 is still happy for it.
    assert!(d.alive());
    old.press('1').await;
    old.rtp
        .wait_heard(Prompt::Thanks, 1, secs(8))
        .await
        .unwrap_or_else(|e| panic!("call from before the reload: {e}"));
    old.expect_daemon_bye(secs(8)).await;
    let heard = old.rtp.prompts_heard();
    assert!(
        !heard.contains(&Prompt::Invalid),
        "call from before the reload refused key 1: heard {heard:?}"
    );
    old.assert_clean();
    let it =
        common::call::assert_rated(&d, &old_opts, old.call_id(), "happy", "1", "rfc4733").await;
    assert_eq!(it["survey"], "smiley", "{it:#}");
    assert!(d.alive(), "daemon exited after the reload");
}

/// After a good reload (7 happy, 1 sad), each invalid file is refused on
/// SIGHUP with an error in the log that names the file, the line and the
/// key; every one of them would make 1 happy and 7 sad if it were taken,
/// yet new calls keep the last good configuration. A valid file afterwards
/// is taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_an_invalid_file_keeps_the_last_good_config_and_logs_why() {
    let mut d = Daemon::with_settings(keys("1", "2")).await;
    d.write_config(&keys("7", "1").toml());
    hup_and_wait_log(&d, RELOADED).await;
    let reloads = d.log_lines(RELOADED).len();

    let file = d.config_path().display().to_string();
    let head = "[survey]\nhappy_key = \"1\"\nsad_key = \"7\"\n";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "value of the wrong type",
            format!("{head}digit_timeout_ms = \"soon\"\n"),
            vec![&file, "line 4", "survey.digit_timeout_ms"],
        ),
        (
            "unknown key",
            format!("{head}\n[media]\nsymetric_rtp = true\n"),
            vec![&file, "line 6", "symetric_rtp"],
        ),
        (
            "TOML syntax error",
            format!("{head}attempts = 3\nlanguage = \"en\n"),
            vec![&file, "line 5", "language"],
        ),
        (
            "happy and sad share a key",
            "[survey]\nhappy_key = \"1\"\nsad_key = \"1\"\n".into(),
            vec![&file, "line 3: survey.sad_key: shares a key with happy_key"],
        ),
        (
            "value out of range",
            format!("{head}attempts = 0\n"),
            vec![&file, "line 4: survey.attempts: must be between 1 and 10"],
        ),
    ];
    for (what, text, needles) in &cases {
        d.write_config(text);
        let line = hup_and_wait_log(&d, REFUSED).await;
        assert!(d.alive(), "{what}: daemon exited on SIGHUP");
        assert!(
            line.contains("ERROR"),
            "{what}: not logged as an error: {line}"
        );
        for n in needles {
            assert!(
                line.contains(n),
                "{what}: the log does not name {n:?}: {line}"
            );
        }
        assert_eq!(
            d.log_lines(RELOADED).len(),
            reloads,
            "{what}: reported as reloaded\n{}",
            d.log_tail(20)
        );
    }
    // A file that is gone.
    std::fs::remove_file(d.config_path()).unwrap();
    let line = hup_and_wait_log(&d, REFUSED).await;
    assert!(line.contains(&file), "missing file: {line}");
    assert!(d.alive(), "daemon exited on SIGHUP without its file");

    // The last good configuration still holds: 7 is happy, 1 is sad.
    let (opts, call_id) = call_pressing(&d, "refused-happy", None, '7').await;
    common::call::assert_rated(&d, &opts, &call_id, "happy", "7", "rfc4733").await;
    let (opts, _) = call_pressing(&d, "refused-sad", None, '1').await;
    let it = only_answer(&d, &opts).await;
    assert_eq!(
        (&it["rating"], &it["digit"]),
        (&Value::from("sad"), &Value::from("1")),
        "key 1 after refused reloads: {it:#}"
    );

    // Refusals leave reloading working.
    d.write_config(&keys("4", "5").toml());
    hup_and_wait_log(&d, RELOADED).await;
    let (opts, call_id) = call_pressing(&d, "fixed", None, '4').await;
    common::call::assert_rated(&d, &opts, &call_id, "happy", "4", "rfc4733").await;
    assert!(d.alive());
}

/// Run the daemon as the harness does, with `config` as its file; its exit
/// status and standard error, or a panic if it keeps running.
fn start_with_file(dir: &Path, config: &str) -> (ExitStatus, String) {
    let path = dir.join("smileyd.toml");
    std::fs::write(&path, config).unwrap();
    let recordings = dir.join("recordings");
    std::fs::create_dir_all(&recordings).unwrap();
    let stderr_path = dir.join("stderr");
    let stdout_path = dir.join("stdout");
    let rtp = rtp_range();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smileyd"));
    cmd.arg("--config")
        .arg(&path)
        .args(["--sip-listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--http-listen", &format!("127.0.0.1:{}", free_port())])
        .args([
            "--database-url",
            &format!("sqlite://{}", dir.join("t.db").display()),
        ])
        .arg("--prompts-dir")
        .arg(shipped_prompts_dir())
        .arg("--recordings-dir")
        .arg(&recordings)
        .args(["--rtp-ports", &format!("{}-{}", rtp.0, rtp.1)])
        .args(["--public-ip", "127.0.0.1"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    for (k, _) in std::env::vars() {
        if k.starts_with("SMILEYD_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().expect("spawn smileyd");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "smileyd kept running with an invalid config file:\n{config}\n--- stderr ---\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    (status, stderr)
}

/// An invalid file at start-up: the daemon exits with an error status and a
/// message naming the file, the line and the key, and does not get as far
/// as serving.
#[test]
fn invalid_file_at_start_up_stops_with_the_file_line_and_key() {
    let cases: [(&str, &str, &str, &str); 5] = [
        (
            "value of the wrong type",
            "[survey]\nattempts = 3\ndigit_timeout_ms = \"soon\"\n",
            "line 3",
            "digit_timeout_ms",
        ),
        (
            "unknown key",
            "[survey]\nattempts = 3\n\n[media]\nsymetric_rtp = true\n",
            "line 5",
            "symetric_rtp",
        ),
        (
            "value of the wrong type in a named survey",
            "default_survey = \"quick\"\n\n[surveys.quick]\nkind = \"csat\"\nattempts = \"two\"\n",
            "line 5",
            "surveys.quick.attempts",
        ),
        (
            "value out of range in a named survey",
            "default_survey = \"quick\"\n\n[surveys.quick]\nkind = \"csat\"\nattempts = 0\n",
            "line 5",
            "surveys.quick.attempts: must be between 1 and 10",
        ),
        (
            "value out of range inherited by a named survey",
            "[survey]\nattempts = 0\n\n[surveys.quick]\nkind = \"csat\"\n",
            "line 2",
            "survey.attempts: must be between 1 and 10 (inherited by surveys.quick)",
        ),
    ];
    for (what, config, line, key) in cases {
        let dir = tempfile::Builder::new()
            .prefix("smileyd-test-")
            .tempdir()
            .unwrap();
        let (status, stderr) = start_with_file(dir.path(), config);
        let file = dir.path().join("smileyd.toml").display().to_string();
        assert!(
            !status.success(),
            "{what}: exit status {status}\n--- stderr ---\n{stderr}"
        );
        for n in [file.as_str(), line, key] {
            assert!(
                stderr.contains(n),
                "{what}: stderr does not name {n:?}:\n{stderr}"
            );
        }
        assert!(
            !stderr.contains("smileyd ready"),
            "{what}: started serving:\n{stderr}"
        );
    }
}
