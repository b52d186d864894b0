//! Recording through a real media session over UDP on 127.0.0.1.

use super::*;
use crate::media::ports::PortAllocator;
use crate::media::recorder::{RecordSettings, RecordingOutcome, RecordingResult};
use std::net::{IpAddr, Ipv4Addr};
use tokio::sync::oneshot;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn pool() -> PortAllocator {
    // Apart from the other session tests' range.
    PortAllocator::new(36_000, 36_999)
}

/// A caller speaking: a warbling tone in syllables, G.711-encoded.
fn speech(frames: usize, codec: Codec) -> Vec<Vec<u8>> {
    (0..frames)
        .map(|k| {
            (0..160)
                .map(|i| {
                    let t = (k * 160 + i) as f64 / 8000.0;
                    let env = (std::f64::consts::PI * (t * 4.0).fract()).sin();
                    let f = 200.0 + 50.0 * (t * 3.0).sin();
                    codec.encode((6000.0 * env * (2.0 * std::f64::consts::PI * f * t).sin()) as i16)
                })
                .collect()
        })
        .collect()
}

struct Setup {
    h: MediaHandle,
    caller: UdpSocket,
    dir: tempfile::TempDir,
    result: oneshot::Receiver<RecordingResult>,
}

async fn recording(pool: &PortAllocator, codec: Codec) -> Setup {
    let caller = UdpSocket::bind((LOCAL, 0)).await.expect("bind");
    let (lease, socket) = pool.allocate(LOCAL).expect("port");
    let remote = (caller.local_addr().expect("addr"), codec, Some(101));
    let cfg = MediaConfig {
        symmetric_rtp: true,
        media_timeout: Duration::from_secs(60),
        ..MediaConfig::default()
    };
    let h = spawn(socket, lease, Some(remote), cfg, Default::default()).expect("spawn");
    let dir = tempfile::tempdir().expect("tempdir");
    let (done, result) = oneshot::channel();
    h.commands
        .send(MediaCommand::Record(RecordRequest {
            tmp: dir.path().join("c.wav.part"),
            path: dir.path().join("c.wav"),
            settings: RecordSettings::default(),
            done,
        }))
        .await
        .expect("record");
    Setup {
        h,
        caller,
        dir,
        result,
    }
}

async fn send(
    caller: &UdpSocket,
    to: SocketAddr,
    pt: u8,
    seq: u16,
    ts: u32,
    marker: bool,
    payload: &[u8],
) {
    let mut buf = [0u8; 512];
    let mut s = RtpSender::with_state(0x5EED, seq, ts);
    let n = s.write(&mut buf, pt, payload, marker);
    caller.send_to(&buf[..n], to).await.expect("send");
}

fn samples_of(path: &std::path::Path) -> Vec<i16> {
    let mut r = hound::WavReader::open(path).expect("valid WAV");
    assert_eq!(r.spec().sample_rate, 8000);
    assert_eq!(r.spec().channels, 1);
    assert_eq!(r.spec().bits_per_sample, 16);
    r.samples::<i16>().map(|s| s.expect("sample")).collect()
}

async fn wait(result: oneshot::Receiver<RecordingResult>) -> RecordingResult {
    tokio::time::timeout(Duration::from_secs(5), result)
        .await
        .expect("a result within 5 s")
        .expect("a result")
}

#[tokio::test]
async fn pound_ends_the_recording_at_the_key_and_is_still_a_digit() {
    let pool = pool();
    let mut s = recording(&pool, Codec::Pcma).await;
    let to = SocketAddr::new(LOCAL, s.h.local_port);
    let frames = speech(60, Codec::Pcma);
    let (seq0, ts0) = (65_500u16, u32::MAX - 3_000);
    for (k, f) in frames.iter().enumerate() {
        let k16 = k as u16;
        send(
            &s.caller,
            to,
            8,
            seq0.wrapping_add(k16),
            ts0.wrapping_add(160 * k as u32),
            k == 0,
            f,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // '#' goes down right after the last frame; audio (its in-band tone)
    // keeps coming as baresip sends it.
    let key_ts = ts0.wrapping_add(160 * 60);
    for i in 0..5u16 {
        let seq = seq0.wrapping_add(60 + 2 * i);
        send(
            &s.caller,
            to,
            101,
            seq,
            key_ts,
            i == 0,
            &[11, 10, 0, (160 * (i + 1)) as u8],
        )
        .await;
        let ts = key_ts.wrapping_add(160 * u32::from(i));
        send(
            &s.caller,
            to,
            8,
            seq.wrapping_add(1),
            ts,
            false,
            &[0x2A; 160],
        )
        .await;
    }
    for _ in 0..3 {
        send(
            &s.caller,
            to,
            101,
            seq0.wrapping_add(70),
            key_ts,
            false,
            &[11, 0x8A, 3, 0x20],
        )
        .await;
    }
    let r = wait(s.result).await;
    assert_eq!(r.status, CommentStatus::Dtmf);
    assert!(
        matches!(
            r.outcome,
            RecordingOutcome::Saved {
                duration_ms: 1200,
                ..
            }
        ),
        "{r:?}"
    );
    let want: Vec<i16> = frames
        .iter()
        .flatten()
        .map(|&b| Codec::Pcma.decode(b))
        .collect();
    assert_eq!(samples_of(&s.dir.path().join("c.wav")), want);
    assert!(!s.dir.path().join("c.wav.part").exists());
    // The key is still reported, for the survey.
    let ev = tokio::time::timeout(Duration::from_secs(2), s.h.events.recv()).await;
    assert!(
        matches!(ev, Ok(Some(MediaEvent::Digit(Digit { key: '#', .. })))),
        "{ev:?}"
    );
    // Silence kept flowing to the caller all along.
    assert!(s.h.stats.packets_out() >= 10, "{}", s.h.stats.packets_out());
    s.h.shutdown().await;
}

#[tokio::test]
async fn shutdown_while_recording_keeps_what_was_said() {
    let pool = pool();
    let s = recording(&pool, Codec::Pcmu).await;
    let to = SocketAddr::new(LOCAL, s.h.local_port);
    let frames = speech(40, Codec::Pcmu);
    for (k, f) in frames.iter().enumerate() {
        send(&s.caller, to, 0, k as u16, 160 * k as u32, false, f).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Let the session read them, then the caller hangs up.
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.h.shutdown().await;
    let r = wait(s.result).await;
    assert_eq!(r.status, CommentStatus::Hangup);
    let want: Vec<i16> = frames
        .iter()
        .flatten()
        .map(|&b| Codec::Pcmu.decode(b))
        .collect();
    assert_eq!(samples_of(&s.dir.path().join("c.wav")), want);
}

#[tokio::test]
async fn stop_command_without_speech_keeps_nothing() {
    let pool = pool();
    let s = recording(&pool, Codec::Pcmu).await;
    let to = SocketAddr::new(LOCAL, s.h.local_port);
    for k in 0..30u16 {
        send(&s.caller, to, 0, k, 160 * u32::from(k), false, &[0xFF; 160]).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.h.commands
        .send(MediaCommand::StopRecording(CommentStatus::Dtmf))
        .await
        .expect("stop");
    let r = wait(s.result).await;
    assert_eq!(r.outcome, RecordingOutcome::NoSpeech);
    assert!(std::fs::read_dir(s.dir.path())
        .expect("dir")
        .next()
        .is_none());
    s.h.shutdown().await;
}
