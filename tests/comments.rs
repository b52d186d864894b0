//! Recorded comments end to end: a caller rates, hears the comment prompt
//! and the beep, speaks (synthesised speech sent as real G.711 RTP), ends
//! with '#', by hanging up or by falling silent, and the WAV served by the
//! API is exactly what was said.

mod common;

use std::net::SocketAddr;
use std::time::Instant;

use common::rtp::{event_payload, rtp_header};
use common::*;

/// The daemon with comments offered after every rating.
async fn daemon(recordings: &str) -> Daemon {
    Daemon::with_settings(Settings {
        extra_toml: format!(
            "\n[surveys.smiley]\ncomment = \"always\"\n\n[recordings]\n{recordings}\n"
        ),
        ..Settings::default()
    })
    .await
}

/// Speech-like audio: a voiced sound with a moving pitch and two formant
/// bands, four syllables a second, a pause after every word; RMS about
/// `dbfs` while voiced.
fn speech(ms: u32, dbfs: f64) -> Vec<i16> {
    let n = (ms * 8) as usize;
    let rms = 32768.0 * 10f64.powf(dbfs / 20.0);
    (0..n)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let word = (t / 0.9).fract();
            if word > 0.75 {
                return 0; // pause between words
            }
            let env = (std::f64::consts::PI * (t * 4.0).fract()).sin().powi(2);
            let f0 = 120.0 + 30.0 * (t * 2.1).sin();
            let mut v = 0.0;
            for h in 1..12 {
                let f = f0 * h as f64;
                let formant = (-((f - 700.0) / 300.0).powi(2)).exp()
                    + 0.6 * (-((f - 1200.0) / 400.0).powi(2)).exp();
                v += formant * (2.0 * std::f64::consts::PI * f * t).sin();
            }
            (rms * 1.07 * env * v).clamp(-32000.0, 32000.0) as i16
        })
        .collect()
}

fn dbfs(samples: &[i16]) -> f64 {
    let ms = samples.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / samples.len() as f64;
    20.0 * (ms.sqrt() / 32768.0).log10()
}

/// One G.711 frame as sent: where it belongs on the caller's timeline.
#[derive(Clone)]
struct Frame {
    seq: u16,
    ts: u32,
    payload: Vec<u8>,
}

/// The caller's own RTP stream, sent from the call's RTP socket once the
/// test agent's automatic stream is stopped.
struct Talker {
    dest: SocketAddr,
    pt: u8,
    event_pt: u8,
    ssrc: u32,
    seq: u16,
    ts: u32,
}

impl Talker {
    fn new(call: &Call) -> Talker {
        call.rtp.stop();
        Talker {
            dest: call.answer.media_addr().expect("media address"),
            pt: call.audio_pt,
            event_pt: call.event_pt,
            ssrc: rand::random(),
            seq: rand::random(),
            ts: rand::random(),
        }
    }

    /// Cuts `pcm` into 20 ms frames on this stream's timeline.
    fn frames(&mut self, pcm: &[i16]) -> Vec<Frame> {
        pcm.chunks(160)
            .map(|c| {
                let f = Frame {
                    seq: self.seq,
                    ts: self.ts,
                    payload: g711::encode(self.pt, c),
                };
                self.seq = self.seq.wrapping_add(1);
                self.ts = self.ts.wrapping_add(c.len() as u32);
                f
            })
            .collect()
    }

    /// Sends frames in the given order, one every 20 ms.
    async fn send(&self, call: &Call, frames: &[Frame]) {
        let mut tick = tokio::time::interval(ms(20));
        for f in frames {
            tick.tick().await;
            let mut p = rtp_header(false, self.pt, f.seq, f.ts, self.ssrc);
            p.extend_from_slice(&f.payload);
            call.rtp.send_raw(self.dest, &p).await;
        }
    }

    /// Presses '#' the baresip way, with the phone's in-band tone in the
    /// audio meanwhile (which must not end up in the recording).
    async fn pound(&mut self, call: &Call) {
        let start = self.ts;
        let tone: Vec<i16> = (0..160 * 8)
            .map(|i| {
                let t = i as f64 / 8000.0;
                (8000.0
                    * ((2.0 * std::f64::consts::PI * 941.0 * t).sin()
                        + (2.0 * std::f64::consts::PI * 1477.0 * t).sin())) as i16
            })
            .collect();
        let audio = self.frames(&tone);
        let mut tick = tokio::time::interval(ms(20));
        for (i, a) in audio.iter().enumerate() {
            tick.tick().await;
            let end = i >= 5;
            let dur = (160 * (i + 1)).min(800) as u16;
            let mut e = rtp_header(i == 0, self.event_pt, self.seq, start, self.ssrc);
            e.extend_from_slice(&event_payload(11, end, 10, dur));
            self.seq = self.seq.wrapping_add(1);
            call.rtp.send_raw(self.dest, &e).await;
            let mut p = rtp_header(false, self.pt, self.seq, a.ts, self.ssrc);
            p.extend_from_slice(&a.payload);
            self.seq = self.seq.wrapping_add(1);
            call.rtp.send_raw(self.dest, &p).await;
        }
    }

    /// Line silence, as phones keep sending while the caller says nothing.
    async fn silence(&mut self, call: &Call, ms_: u32) {
        let frames = self.frames(&vec![0; (ms_ * 8) as usize]);
        self.send(call, &frames).await;
    }
}

fn decode(pt: u8, frames: &[Frame]) -> Vec<i16> {
    frames
        .iter()
        .flat_map(|f| g711::decode(pt, &f.payload))
        .collect()
}

/// Places a call, rates it with `key` and waits until the beep has played.
async fn rate_and_reach_the_beep(
    d: &Daemon,
    test: &str,
    key: char,
    kind: OfferKind,
) -> (Call, InviteOpts) {
    let ua = SipUa::udp(d.sip).await;
    let opts = InviteOpts::new(UaStyle::Baresip, &agent(test));
    let call = Call::place(d, &ua, opts.clone(), kind).await;
    call.prompt_done(Prompt::Survey, secs(8)).await;
    call.press(key).await;
    call.heard(Prompt::Comment, secs(8)).await;
    // From here the test speaks for the caller (see Talker): the agent's own
    // stream stops before the recording starts, so the recording holds
    // exactly what the test sends.
    call.rtp.stop();
    call.prompt_done(Prompt::Beep, secs(8)).await;
    (call, opts)
}

async fn measurement(d: &Daemon, opts: &InviteOpts) -> serde_json::Value {
    let agent = opts.agent.as_deref().unwrap();
    let items = d.api.wait_items(agent, 1, secs(5)).await;
    assert_eq!(items.len(), 1, "{items:?}");
    items[0].clone()
}

/// GET with optional Range: (status, headers, body).
async fn get_audio(
    d: &Daemon,
    url: &str,
    range: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut req = client.get(format!("{}{url}", d.api.base));
    if let Some(r) = range {
        req = req.header("Range", r);
    }
    let resp = req.send().await.expect("GET comment");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

fn wav_samples(bytes: &[u8]) -> (hound::WavSpec, Vec<i16>) {
    let r = hound::WavReader::new(std::io::Cursor::new(bytes)).expect("a WAV file");
    let spec = r.spec();
    let s = r
        .into_samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect();
    (spec, s)
}

/// The comment's audio through the API, checked as a WAV a browser plays.
async fn fetch_comment(d: &Daemon, m: &serde_json::Value) -> Vec<i16> {
    let url = m["comment_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no comment_url in {m:#}"));
    assert_eq!(
        url,
        format!("/api/v1/measurements/{}/comment", m["id"].as_str().unwrap())
    );
    let (status, h, body) = get_audio(d, url, None).await;
    assert_eq!(status, 200);
    assert_eq!(h["content-type"], "audio/wav");
    assert_eq!(
        h["content-length"].to_str().unwrap(),
        body.len().to_string()
    );
    assert_eq!(
        m["comment"]["size_bytes"].as_u64(),
        Some(body.len() as u64),
        "{m:#}"
    );
    let (spec, samples) = wav_samples(&body);
    assert_eq!(spec.sample_rate, 8000);
    assert_eq!(spec.channels, 1);
    assert_eq!(spec.bits_per_sample, 16);
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    samples
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn spoken_comment_ended_by_pound_is_served_intact() {
    let d = daemon("").await;
    let (call, opts) = rate_and_reach_the_beep(&d, "comment-pound", '2', OfferKind::Baresip).await;
    let mut talker = Talker::new(&call);
    let pcm = speech(2600, -20.0);
    let frames = talker.frames(&pcm);
    talker.send(&call, &frames).await;
    talker.pound(&call).await;
    call.heard(Prompt::Thanks, secs(8)).await;
    call.expect_daemon_bye(secs(8)).await;

    let m = measurement(&d, &opts).await;
    assert_eq!(m["rating"], "sad");
    assert_eq!(m["comment"]["status"], "dtmf", "{m:#}");
    let samples = fetch_comment(&d, &m).await;
    let sent = decode(call.audio_pt, &frames);
    // Within 60 ms of what was sent, and in fact sample for sample the
    // G.711 decoding of it: no key tone, nothing lost, nothing added.
    let diff_ms = (samples.len() as i64 - sent.len() as i64).abs() / 8;
    assert!(
        diff_ms <= 60,
        "recorded {} samples, sent {}",
        samples.len(),
        sent.len()
    );
    assert_eq!(samples.len(), sent.len());
    assert!(samples == sent, "the recording differs from what was sent");
    assert_eq!(m["comment"]["duration_ms"].as_i64(), Some(2600));
    call.assert_clean();

    // A browser seeking: a Range request gets exactly those bytes.
    let url = m["comment_url"].as_str().unwrap();
    let (_, _, full) = get_audio(&d, url, None).await;
    let (status, h, part) = get_audio(&d, url, Some("bytes=1000-1999")).await;
    assert_eq!(status, 206);
    assert_eq!(
        h["content-range"].to_str().unwrap(),
        format!("bytes 1000-1999/{}", full.len())
    );
    assert_eq!(part, &full[1000..2000]);
}

#[tokio::test]
async fn hangup_during_the_comment_keeps_what_was_said() {
    let d = daemon("").await;
    let pcma = OfferKind::Plain(vec![
        fmt(8, "PCMA/8000"),
        fmt_fmtp(101, "telephone-event/8000", "0-15"),
    ]);
    let (mut call, opts) = rate_and_reach_the_beep(&d, "comment-hangup", '1', pcma).await;
    assert_eq!(call.audio_pt, 8);
    let mut talker = Talker::new(&call);
    let frames = talker.frames(&speech(1800, -24.0));
    talker.send(&call, &frames).await;
    // Let the last packets arrive, then hang up mid-sentence.
    tokio::time::sleep(ms(60)).await;
    call.hang_up().await;

    let m = measurement(&d, &opts).await;
    assert_eq!(m["rating"], "happy");
    let deadline = Instant::now() + secs(5);
    let mut m = m;
    while m["comment"].is_null() && Instant::now() < deadline {
        tokio::time::sleep(ms(100)).await;
        m = measurement(&d, &opts).await;
    }
    assert_eq!(m["comment"]["status"], "hangup", "{m:#}");
    let samples = fetch_comment(&d, &m).await;
    assert!(
        samples == decode(8, &frames),
        "{} samples, sent {}",
        samples.len(),
        frames.len() * 160
    );
    let r = d
        .api
        .wait_responses(opts.agent.as_deref().unwrap(), "rated", 1, secs(3))
        .await;
    assert_eq!(num(&r["rated"]), 1.0, "{r}");
}

#[tokio::test]
async fn silence_only_stores_no_comment_and_thanks_as_usual() {
    let d = daemon("no_speech_ms = 1500").await;
    let (call, opts) =
        rate_and_reach_the_beep(&d, "comment-silence", '1', OfferKind::Baresip).await;
    let mut talker = Talker::new(&call);
    let thanks = call.rtp.wait_heard(Prompt::Thanks, 1, secs(6));
    let quiet = talker.silence(&call, 3000);
    let (heard, _) = tokio::join!(thanks, quiet);
    heard.unwrap();
    call.expect_daemon_bye(secs(8)).await;
    let m = measurement(&d, &opts).await;
    assert_eq!(m["rating"], "happy");
    assert!(m["comment"].is_null(), "{m:#}");
    assert!(m["comment_url"].is_null(), "{m:#}");
    assert!(files_in(&d.dir.path().join("recordings")).is_empty());
}

#[tokio::test]
async fn loss_duplicates_and_reordering_keep_the_duration_true() {
    let d = daemon("").await;
    let (call, opts) = rate_and_reach_the_beep(&d, "comment-lossy", '1', OfferKind::Baresip).await;
    let mut talker = Talker::new(&call);
    let frames = talker.frames(&speech(3000, -22.0));
    // What the network does: 5 packets lost in a row and one alone,
    // every 7th duplicated, neighbours swapped every 11th.
    let lost = |k: usize| (40..45).contains(&k) || k == 90;
    let mut wire: Vec<Frame> = Vec::new();
    for (k, f) in frames.iter().enumerate() {
        if lost(k) {
            continue;
        }
        wire.push(f.clone());
        if k % 7 == 3 {
            wire.push(f.clone());
        }
    }
    for i in (5..wire.len() - 1).step_by(11) {
        wire.swap(i, i + 1);
    }
    talker.send(&call, &wire).await;
    talker.pound(&call).await;
    call.heard(Prompt::Thanks, secs(8)).await;

    let m = measurement(&d, &opts).await;
    assert_eq!(m["comment"]["status"], "dtmf", "{m:#}");
    assert_eq!(m["comment"]["duration_ms"].as_i64(), Some(3000), "{m:#}");
    let samples = fetch_comment(&d, &m).await;
    // Lost packets are silence of their own length; everything else is
    // in its place.
    let expected: Vec<i16> = frames
        .iter()
        .enumerate()
        .flat_map(|(k, f)| {
            if lost(k) {
                vec![0; 160]
            } else {
                g711::decode(call.audio_pt, &f.payload)
            }
        })
        .collect();
    assert_eq!(samples.len(), expected.len());
    assert!(samples == expected, "samples out of place");
}

#[tokio::test]
async fn quiet_speaker_is_not_cut_off_and_silence_ends_the_comment() {
    let d = daemon("silence_ms = 2000").await;
    let (call, opts) = rate_and_reach_the_beep(&d, "comment-quiet", '2', OfferKind::Baresip).await;
    let mut talker = Talker::new(&call);
    // A quiet caller (about -30 dBFS while speaking) who pauses 1.5 s to
    // think, then says no more.
    let mut pcm = speech(1500, -30.0);
    let level = dbfs(&pcm);
    assert!(
        (-34.0..=-28.0).contains(&level),
        "test speech at {level:.1} dBFS"
    );
    pcm.extend(vec![0; 1500 * 8]);
    pcm.extend(speech(1500, -30.0));
    let spoken = pcm.len();
    let frames = talker.frames(&pcm);
    talker.send(&call, &frames).await;
    let thanks = call.rtp.wait_heard(Prompt::Thanks, 1, secs(8));
    let quiet = talker.silence(&call, 3000);
    let (heard, _) = tokio::join!(thanks, quiet);
    heard.unwrap();

    let m = measurement(&d, &opts).await;
    assert_eq!(m["comment"]["status"], "silence", "{m:#}");
    let samples = fetch_comment(&d, &m).await;
    assert!(
        samples.len() > spoken,
        "cut off: {} of {spoken} samples",
        samples.len()
    );
    assert!(samples[..spoken] == decode(call.audio_pt, &frames)[..spoken]);
    // The comment ends 2 s after the last loud frame (which is at most the
    // final pause of the speech before the end).
    let tail_ms = (samples.len() - spoken) / 8;
    assert!(
        (1500..=2060).contains(&tail_ms),
        "{tail_ms} ms after the speech"
    );
}

#[tokio::test]
async fn max_length_ends_the_comment() {
    let d = daemon("max_secs = 2").await;
    let (call, opts) = rate_and_reach_the_beep(&d, "comment-max", '1', OfferKind::Baresip).await;
    let mut talker = Talker::new(&call);
    let frames = talker.frames(&speech(3000, -20.0));
    let thanks = call.rtp.wait_heard(Prompt::Thanks, 1, secs(8));
    let talk = talker.send(&call, &frames);
    let (heard, _) = tokio::join!(thanks, talk);
    heard.unwrap();
    let m = measurement(&d, &opts).await;
    assert_eq!(m["comment"]["status"], "max_length", "{m:#}");
    assert_eq!(m["comment"]["duration_ms"].as_i64(), Some(2000), "{m:#}");
    let samples = fetch_comment(&d, &m).await;
    assert!(samples[..] == decode(call.audio_pt, &frames)[..16_000]);
}

#[tokio::test]
async fn unusable_recordings_directory_still_stores_the_rating() {
    let d = daemon("").await;
    // The directory goes away and a file takes its place: nobody, root
    // included, can create a recording there.
    let dir = d.dir.path().join("recordings");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    let (call, opts) = rate_and_reach_the_beep(&d, "comment-nodir", '2', OfferKind::Baresip).await;
    let mut talker = Talker::new(&call);
    let frames = talker.frames(&speech(1000, -20.0));
    let thanks = call.rtp.wait_heard(Prompt::Thanks, 1, secs(8));
    let talk = async {
        talker.send(&call, &frames).await;
        talker.pound(&call).await;
    };
    let (heard, _) = tokio::join!(thanks, talk);
    heard.unwrap();
    call.expect_daemon_bye(secs(8)).await;
    let m = measurement(&d, &opts).await;
    assert_eq!(m["rating"], "sad");
    assert!(m["comment"].is_null(), "{m:#}");
    let r = d
        .api
        .wait_responses(opts.agent.as_deref().unwrap(), "rated", 1, secs(3))
        .await;
    assert_eq!(num(&r["rated"]), 1.0, "{r}");
    let log = std::fs::read_to_string(&d.log).unwrap_or_default();
    assert!(
        log.contains("comment dropped"),
        "no log line for the dropped comment"
    );
}

#[tokio::test]
async fn pound_by_sip_info_ends_the_comment() {
    let d = daemon("").await;
    let (mut call, opts) =
        rate_and_reach_the_beep(&d, "comment-info", '1', OfferKind::Baresip).await;
    let mut talker = Talker::new(&call);
    let frames = talker.frames(&speech(1200, -20.0));
    talker.send(&call, &frames).await;
    tokio::time::sleep(ms(100)).await;
    call.info("application/dtmf-relay", "Signal=#\r\nDuration=160\r\n")
        .await;
    call.heard(Prompt::Thanks, secs(8)).await;
    let m = measurement(&d, &opts).await;
    assert_eq!(m["comment"]["status"], "dtmf", "{m:#}");
    let samples = fetch_comment(&d, &m).await;
    assert!(samples == decode(call.audio_pt, &frames));
}

/// A second daemon on the first one's database, config and recordings.
struct Restarted {
    child: std::process::Child,
    api: Api,
}

impl Drop for Restarted {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_again(d: &Daemon) -> Restarted {
    let dir = d.dir.path();
    let http: SocketAddr = format!("127.0.0.1:{}", common::daemon::free_port())
        .parse()
        .unwrap();
    let log = std::fs::File::create(dir.join("smileyd-restarted.log")).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_smileyd"))
        .arg("--config")
        .arg(dir.join("smileyd.toml"))
        .arg("--sip-listen")
        .arg(format!("127.0.0.1:{}", common::daemon::free_port()))
        .arg("--http-listen")
        .arg(http.to_string())
        .arg("--database-url")
        .arg(&d.database_url)
        .arg("--prompts-dir")
        .arg(&d.prompts_dir)
        .arg("--recordings-dir")
        .arg(dir.join("recordings"))
        .arg("--rtp-ports")
        .arg(format!("{}-{}", d.rtp_ports.0, d.rtp_ports.1))
        .arg("--public-ip")
        .arg("127.0.0.1")
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start smileyd again");
    let r = Restarted {
        child,
        api: Api::new(http),
    };
    let deadline = Instant::now() + secs(15);
    while r.api.status("/healthz").await != Some(200) {
        assert!(Instant::now() < deadline, "restarted smileyd not ready");
        tokio::time::sleep(ms(100)).await;
    }
    r
}

#[tokio::test]
async fn crash_during_the_comment_is_recovered_at_start_up() {
    let d = daemon("").await;
    let (call, opts) = rate_and_reach_the_beep(&d, "comment-crash", '2', OfferKind::Baresip).await;
    let mut talker = Talker::new(&call);
    let frames = talker.frames(&speech(2000, -20.0));
    talker.send(&call, &frames).await;
    tokio::time::sleep(ms(300)).await;
    // The daemon dies mid-comment, leaving its temporary file.
    let pid = d.pid().expect("pid");
    let killed = std::process::Command::new("kill")
        .arg("-9")
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(killed.success());
    tokio::time::sleep(ms(200)).await;
    let rec_dir = d.dir.path().join("recordings");
    let parts: Vec<String> = files_in(&rec_dir)
        .into_iter()
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert_eq!(parts.len(), 1, "{:?}", files_in(&rec_dir));

    let again = start_again(&d).await;
    assert!(
        files_in(&rec_dir).iter().all(|n| !n.ends_with(".part")),
        "{:?}",
        files_in(&rec_dir)
    );
    let agent = opts.agent.as_deref().unwrap();
    let items = again.api.wait_items(agent, 1, secs(5)).await;
    let m = &items[0];
    assert_eq!(m["rating"], "sad");
    assert_eq!(m["comment"]["status"], "error", "{m:#}");
    let url = m["comment_url"].as_str().expect("comment_url");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = client
        .get(format!("{}{url}", again.api.base))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let (spec, samples) = wav_samples(&body);
    assert_eq!(spec.sample_rate, 8000);
    // What reached the disk before the crash: nearly all of it, exactly as
    // said (the reorder window and the write buffer may hold the last
    // moments).
    let sent = decode(call.audio_pt, &frames);
    assert!(
        samples.len() >= sent.len() - 8 * 500,
        "{} of {}",
        samples.len(),
        sent.len()
    );
    assert!(samples[..] == sent[..samples.len()]);
}
