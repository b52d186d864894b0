//! Prompts per survey and language, heard over real calls: uploads through
//! the API reach the next call while a call in progress keeps its audio,
//! bad uploads change nothing, the caller's language picks the set (English
//! when there is none), and CSAT and NPS surveys ask their own question.
//!
//! What the daemon sends is compared byte for byte with the expected 8 kHz
//! audio (the shipped file, or the upload converted by
//! `Prompt::from_wav_bytes`), G.711-encoded by the test's own encoder.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::*;

/// Creates an admin token with the daemon's own CLI on its database.
fn admin_token(d: &Daemon) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_smileyd"));
    cmd.arg("--database-url")
        .arg(&d.database_url)
        .args(["token", "create", "--scope", "admin", "--name", "prompts"])
        .current_dir(d.dir.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("SMILEYD_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().expect("run smileyd token create");
    assert!(
        out.status.success(),
        "token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An HTTP client for the prompt endpoints, with or without a token.
struct Admin {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl Admin {
    fn new(d: &Daemon, token: Option<String>) -> Admin {
        Admin {
            base: d.api.base.clone(),
            token,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                // A refused oversized upload closes its connection; a fresh
                // one per request keeps that from failing the next request.
                .pool_max_idle_per_host(0)
                .no_proxy()
                .build()
                .expect("client"),
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// PUT a body: (status, JSON or Null).
    async fn put(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::PUT, path)
            .header("content-type", "audio/wav")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT {path}: {e}"));
        let status = r.status().as_u16();
        let v = r.json().await.unwrap_or(Value::Null);
        (status, v)
    }

    /// A PUT that only declares its length, the way a client sending
    /// `Expect: 100-continue` waits before the body: an oversized upload
    /// must be refused from its headers, before anything is read.
    async fn put_declared(&self, path: &str, len: usize) -> (u16, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut sock = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to the API");
        let auth = self
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: audio/wav\r\n\
             Content-Length: {len}\r\nConnection: close\r\n\r\n"
        );
        sock.write_all(head.as_bytes()).await.expect("send head");
        let mut resp = Vec::new();
        let read = sock.read_to_end(&mut resp);
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("an answer without the body being sent")
            .expect("read the answer");
        let text = String::from_utf8_lossy(&resp);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::DELETE, path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DELETE {path}: {e}"));
        let status = r.status().as_u16();
        let v = r.json().await.unwrap_or(Value::Null);
        (status, v)
    }

    /// GET: (status, headers, body bytes).
    async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let r = self
            .req(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        (status, headers, body)
    }

    async fn list(&self) -> Vec<Value> {
        let (status, _, body) = self.get("/api/v1/prompts").await;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!(status, 200, "GET /api/v1/prompts: {v}");
        v["items"].as_array().cloned().unwrap_or_default()
    }

    /// The listed entry for `lang/[survey/]name`.
    async fn entry(&self, lang: &str, survey: Option<&str>, name: &str) -> Option<Value> {
        self.list()
            .await
            .into_iter()
            .find(|i| i["language"] == lang && i["name"] == name && i["survey"].as_str() == survey)
    }
}

/// A WAV image of `secs` at 44.1 kHz stereo 16-bit: a 700 Hz tone on the
/// left, 1300 Hz on the right, rising in level; none of the test tones.
fn studio_wav(secs: f64) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cur = std::io::Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut cur, spec).expect("wav writer");
        let n = (44_100.0 * secs) as usize;
        for i in 0..n {
            let t = i as f64 / 44_100.0;
            let level = 0.2 + 0.3 * (i as f64 / n as f64);
            let l = level * (2.0 * std::f64::consts::PI * 700.0 * t).sin();
            let r = level * (2.0 * std::f64::consts::PI * 1_300.0 * t).sin();
            w.write_sample((l * 32767.0) as i16).expect("sample");
            w.write_sample((r * 32767.0) as i16).expect("sample");
        }
        w.finalize().expect("finalize");
    }
    cur.into_inner()
}

/// 8 kHz mono 8-bit silence of `secs`: small on the wire, long in time.
fn long_wav(secs: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8_000,
        bits_per_sample: 8,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cur = std::io::Cursor::new(Vec::new());
    {
        let mut w = hound::WavWriter::new(&mut cur, spec).expect("wav writer");
        for _ in 0..8_000 * secs {
            w.write_sample(0i8).expect("sample");
        }
        w.finalize().expect("finalize");
    }
    cur.into_inner()
}

/// The 8 kHz samples the daemon should play for an upload.
fn converted(upload: &[u8]) -> Vec<i16> {
    smileyd::media::Prompt::from_wav_bytes("expected", upload)
        .expect("the reference conversion reads the upload")
        .pcm
        .to_vec()
}

/// The 8 kHz samples of a shipped prompt file.
fn shipped(rel: &str) -> Vec<i16> {
    let path = common::daemon::shipped_prompts_dir().join(rel);
    smileyd::media::Prompt::from_wav_file("expected", &path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .pcm
        .to_vec()
}

/// How much of `pcm` the call has sent, in order: the share of its 20 ms
/// frames that arrived byte for byte in the call's codec. Exact per frame,
/// but a lost packet costs one frame instead of the whole comparison.
fn heard_share(call: &Call, pcm: &[i16]) -> f64 {
    let pt = call.audio_pt;
    let encoded = common::g711::encode(pt, pcm);
    // The daemon fills a short last frame with silence.
    let want: Vec<Vec<u8>> = encoded
        .chunks(160)
        .map(|c| {
            let mut f = c.to_vec();
            f.resize(160, common::g711::silence(pt));
            f
        })
        .collect();
    let got: Vec<Vec<u8>> = call.rtp.audio().into_iter().map(|p| p.payload).collect();
    // Anchor on the first frame that is not flat (lead-in silence matches
    // any silence).
    let Some(anchor) = want.iter().position(|f| f.iter().any(|&b| b != f[0])) else {
        return 0.0;
    };
    let n = want.len();
    let mut best = 0usize;
    for start in (0..got.len()).filter(|&i| got[i] == want[anchor]) {
        let (mut i, mut j, mut matched) = (start, anchor, 0usize);
        while i < got.len() && j < n {
            if got[i] == want[j] {
                matched += 1;
                i += 1;
                j += 1;
            } else if let Some(k) = (1..=3).find(|k| j + k < n && got[i] == want[j + k]) {
                j += k;
            } else {
                i += 1;
                j += 1;
            }
        }
        best = best.max(matched);
    }
    best as f64 / (n - anchor) as f64
}

/// Waits until the call has sent `pcm` (at least 95% of its frames, in
/// order, byte for byte).
async fn wait_for_audio(call: &Call, pcm: &[i16], what: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let share = heard_share(call, pcm);
        if share >= 0.95 {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "{what}: {:.0}% of {} frames heard within {timeout:?}; heard {}",
                share * 100.0,
                pcm.len() / 160,
                call.rtp.describe_heard()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn heard_audio(call: &Call, pcm: &[i16]) -> bool {
    heard_share(call, pcm) >= 0.5
}

fn wav_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(wav_files(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

async fn place(d: &Daemon, test: &str, headers: &[(&str, &str)]) -> Call {
    let ua = SipUa::udp(d.sip).await;
    let mut opts = InviteOpts::new(UaStyle::Pbx, &agent(test));
    for (k, v) in headers {
        opts.extra_headers.push((k.to_string(), v.to_string()));
    }
    Call::place(d, &ua, opts, OfferKind::Baresip).await
}

/// A 44.1 kHz stereo upload is converted, stored and played to the next
/// call, while the call that was already running keeps the old prompt even
/// when it asks again. DELETE brings the shipped prompt back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_reaches_the_next_call_and_the_call_in_progress_keeps_its_prompt() {
    let d = Daemon::with_settings(Settings {
        digit_timeout_ms: 4000,
        ..Settings::default()
    })
    .await;
    let admin = Admin::new(&d, Some(admin_token(&d)));
    let old = admin.entry("en", None, "survey").await.expect("listed");
    assert_eq!(old["source"], "shipped", "{old}");

    let mut before = place(&d, "prompt-before", &[]).await;
    before
        .rtp
        .wait_prompt_done(Prompt::Survey, 1, secs(8))
        .await
        .unwrap();

    let upload = studio_wav(1.0);
    let expected = converted(&upload);
    assert_eq!(expected.len(), 8_000);
    let (status, v) = admin.put("/api/v1/prompts/en/survey", upload).await;
    assert_eq!(status, 200, "replacing the shipped prompt: {v}");
    assert_eq!(v["source"], "custom", "{v}");
    assert_eq!(v["language"], "en", "{v}");
    assert!(v["survey"].is_null(), "{v}");
    assert_eq!(v["duration_ms"], 1000, "{v}");

    // Stored as 8 kHz mono 16-bit: the download is exactly the conversion.
    let (status, headers, body) = admin.get("/api/v1/prompts/en/survey").await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "audio/wav");
    assert_eq!(headers["x-prompt-source"], "custom");
    let r = hound::WavReader::new(std::io::Cursor::new(body)).expect("a WAV download");
    assert_eq!((r.spec().sample_rate, r.spec().channels), (8_000, 1));
    let got: Vec<i16> = r.into_samples().collect::<Result<_, _>>().expect("samples");
    assert_eq!(got, expected);
    let listed = admin.entry("en", None, "survey").await.expect("listed");
    assert_eq!(listed["source"], "custom", "{listed}");
    assert_eq!(listed["duration_ms"], 1000, "{listed}");
    let stored = wav_files(&d.dir.path().join("prompts-custom"));
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].ends_with("en/survey.wav"), "{stored:?}");

    // The next call hears the upload, sample for sample.
    let mut after = place(&d, "prompt-after", &[]).await;
    wait_for_audio(&after, &expected, "the uploaded prompt", secs(5)).await;

    // The earlier call asks again (a wrong key) with the prompt it started with.
    before.press('7').await;
    before
        .rtp
        .wait_prompt_done(Prompt::Invalid, 1, secs(5))
        .await
        .unwrap();
    before
        .rtp
        .wait_heard(Prompt::Survey, 2, secs(5))
        .await
        .unwrap();
    assert!(
        !heard_audio(&before, &expected[..1_600]),
        "the call in progress switched to the uploaded prompt; heard {}",
        before.rtp.describe_heard()
    );
    before.hang_up().await;
    after.hang_up().await;

    // Reverting: the shipped prompt plays again, and only once is there
    // anything to delete.
    let (status, v) = admin.delete("/api/v1/prompts/en/survey").await;
    assert_eq!(status, 204, "{v}");
    let (status, v) = admin.delete("/api/v1/prompts/en/survey").await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["code"], "not_found", "{v}");
    let (_, headers, _) = admin.get("/api/v1/prompts/en/survey").await;
    assert_eq!(headers["x-prompt-source"], "shipped");
    let mut reverted = place(&d, "prompt-reverted", &[]).await;
    reverted
        .rtp
        .wait_heard(Prompt::Survey, 1, secs(5))
        .await
        .unwrap();
    assert!(!heard_audio(&reverted, &expected[..1_600]));
    reverted.hang_up().await;
    assert!(wav_files(&d.dir.path().join("prompts-custom")).is_empty());
}

/// Uploads that are not usable prompts are refused with a JSON error that
/// says why, and nothing changes: the list, the file system, the calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_the_old_prompt_stays() {
    let d = Daemon::start().await;
    let token = admin_token(&d);
    let admin = Admin::new(&d, Some(token));
    let path = "/api/v1/prompts/en/survey";

    let (status, v) = admin.put(path, b"<html>oops</html>".to_vec()).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_audio", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not a WAV file")),
        "{v}"
    );

    // A real WAV header, then damage.
    let good = studio_wav(0.5);
    let mut damaged = good.clone();
    damaged[20..36].fill(0xAB);
    let (status, v) = admin.put(path, damaged).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_audio", "{v}");

    let (status, v) = admin.put(path, good[..good.len() / 2 + 1].to_vec()).await;
    assert_eq!(status, 400, "truncated: {v}");

    let (status, v) = admin.put(path, Vec::new()).await;
    assert_eq!(status, 400, "empty: {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("empty")),
        "{v}"
    );

    let (status, v) = admin.put(path, long_wav(121)).await;
    assert_eq!(status, 413, "121 s: {v}");
    assert_eq!(v["error"]["code"], "prompt_too_long", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("120 s")),
        "{v}"
    );

    let (status, v) = admin.put_declared(path, 10 * 1024 * 1024 + 1).await;
    assert_eq!(status, 413, "over 10 MiB: {v}");
    assert_eq!(v["error"]["code"], "payload_too_large", "{v}");

    let (status, v) = admin.put("/api/v1/prompts/en/thank", good.clone()).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_parameter", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("name:") && m.contains("survey, invalid, thanks")),
        "{v}"
    );
    let (status, v) = admin
        .put("/api/v1/prompts/e%20n/survey", good.clone())
        .await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = admin
        .put("/api/v1/prompts/en/after%2Fsales/survey", good.clone())
        .await;
    assert_eq!(status, 400, "{v}");

    // Writing needs an admin token.
    let anonymous = Admin::new(&d, None);
    let (status, v) = anonymous.put(path, good.clone()).await;
    assert_eq!(status, 401, "{v}");

    // Nothing changed.
    let items = admin.list().await;
    assert!(items.iter().all(|i| i["source"] == "shipped"), "{items:?}");
    assert!(wav_files(&d.dir.path().join("prompts-custom")).is_empty());
    let call = place(&d, "prompt-kept", &[]).await;
    call.prompt_done(Prompt::Survey, secs(5)).await;
    let heard = call.rtp.prompts_heard();
    assert_eq!(heard.first(), Some(&Prompt::Survey), "heard {heard:?}");
}

/// X-Language picks the set; a regional tag falls back to its language and
/// an unknown language to English.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_header_picks_the_prompt_set_with_english_fallback() {
    let d = Daemon::start_with(Options {
        prompts: Prompts::Shipped,
        ..Options::default()
    })
    .await;
    // The first two seconds of the question are plenty to tell them apart.
    let opening = |rel: &str| shipped(rel)[..16_000].to_vec();
    let cases = [
        (Some("sv"), "sv/survey.wav"),
        (Some("da-DK"), "da/survey.wav"),
        (Some("NL"), "nl/survey.wav"),
        (Some("pl"), "pl/survey.wav"),
        (Some("fr"), "en/survey.wav"),
        (None, "en/survey.wav"),
    ];
    let mut calls = Vec::new();
    for (lang, _) in &cases {
        let headers: Vec<(&str, &str)> = lang.iter().map(|l| ("X-Language", *l)).collect();
        calls.push(place(&d, "prompt-lang", &headers).await);
    }
    for (call, (lang, file)) in calls.iter_mut().zip(cases) {
        wait_for_audio(call, &opening(file), &format!("{lang:?} → {file}"), secs(8)).await;
        for other in ["en", "sv", "da", "nl", "pl"] {
            let rel = format!("{other}/survey.wav");
            if rel != file {
                assert!(
                    !heard_audio(call, &opening(&rel)),
                    "{lang:?} also heard {rel}"
                );
            }
        }
        call.hang_up().await;
    }
}

/// Each survey asks its own question: CSAT and NPS from their folders, a
/// survey of another name by its scale, in the caller's language; an upload
/// for one survey leaves the others alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csat_and_nps_surveys_play_their_own_question() {
    let d = Daemon::start_with(Options {
        prompts: Prompts::Shipped,
        settings: Settings {
            extra_toml: r#"
[surveys.smiley]
kind = "smiley"

[surveys.csat]
kind = "csat"

[surveys.nps]
kind = "nps"

[surveys.after-sales]
kind = "csat"
"#
            .into(),
            ..Settings::default()
        },
        ..Options::default()
    })
    .await;
    let opening = |rel: &str| shipped(rel)[..16_000].to_vec();
    let cases = [
        ("csat", None, "en/csat/survey.wav"),
        ("nps", Some("pl"), "pl/nps/survey.wav"),
        ("after-sales", Some("sv"), "sv/csat/survey.wav"),
        ("smiley", Some("nl"), "nl/survey.wav"),
    ];
    let mut calls = Vec::new();
    for (survey, lang, _) in &cases {
        let mut headers = vec![("X-Survey", *survey)];
        if let Some(l) = lang {
            headers.push(("X-Language", *l));
        }
        calls.push(place(&d, "prompt-scale", &headers).await);
    }
    for (call, (survey, lang, file)) in calls.iter_mut().zip(cases) {
        wait_for_audio(
            call,
            &opening(file),
            &format!("{survey} in {lang:?} → {file}"),
            secs(8),
        )
        .await;
        call.hang_up().await;
    }

    // A new Danish NPS question reaches NPS calls only.
    let admin = Admin::new(&d, Some(admin_token(&d)));
    let upload = studio_wav(0.6);
    let expected = converted(&upload);
    let (status, v) = admin.put("/api/v1/prompts/da/nps/survey", upload).await;
    assert_eq!(status, 200, "replacing the shipped question: {v}");
    assert_eq!(v["survey"], "nps", "{v}");
    let entry = admin
        .entry("da", Some("nps"), "survey")
        .await
        .expect("listed");
    assert_eq!(entry["source"], "custom", "{entry}");
    let mut nps = place(
        &d,
        "prompt-nps",
        &[("X-Survey", "nps"), ("X-Language", "da")],
    )
    .await;
    let mut csat = place(
        &d,
        "prompt-csat",
        &[("X-Survey", "csat"), ("X-Language", "da")],
    )
    .await;
    wait_for_audio(&nps, &expected, "the uploaded NPS question", secs(5)).await;
    wait_for_audio(
        &csat,
        &opening("da/csat/survey.wav"),
        "the CSAT question",
        secs(8),
    )
    .await;
    assert!(!heard_audio(&csat, &expected[..1_600]));
    nps.hang_up().await;
    csat.hang_up().await;

    // A survey's own folder comes before its scale's.
    let upload = studio_wav(0.4);
    let expected = converted(&upload);
    let (status, v) = admin
        .put("/api/v1/prompts/sv/after-sales/survey", upload)
        .await;
    assert_eq!(status, 201, "a new place: {v}");
    let mut call = place(
        &d,
        "prompt-own",
        &[("X-Survey", "after-sales"), ("X-Language", "sv-FI")],
    )
    .await;
    wait_for_audio(&call, &expected, "the survey's own question", secs(5)).await;
    call.hang_up().await;
}
