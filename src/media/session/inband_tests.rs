//! Key tones in the caller's audio, through a real media session over UDP
//! on 127.0.0.1: when they are listened for, and one count per press.

use super::*;
use crate::media::ports::PortAllocator;
use crate::media::recorder::{RecordSettings, RecordingOutcome, RecordingResult};
use std::net::{IpAddr, Ipv4Addr};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const EVENT_PT: u8 = 101;

fn pool() -> PortAllocator {
    // Apart from the other session tests' ranges.
    PortAllocator::new(37_000, 37_499)
}

/// `ms` of a key's two tones at −10 dBm0 (22 400 is 0 dBm0 in decoded
/// G.711), as 8 kHz samples.
fn tone(key: char, ms: usize) -> Vec<i16> {
    let (lo, hi) = match key {
        '1' => (697.0, 1209.0),
        '2' => (697.0, 1336.0),
        '#' => (941.0, 1477.0),
        other => panic!("no tone for {other}"),
    };
    let a = 22_400.0 * 10f64.powf(-10.0 / 20.0);
    (0..ms * 8)
        .map(|i| {
            let t = i as f64 / 8000.0;
            (a * ((std::f64::consts::TAU * lo * t).sin() + (std::f64::consts::TAU * hi * t).sin()))
                as i16
        })
        .collect()
}

/// A caller sending 20 ms packets on one SSRC.
struct Caller {
    sock: UdpSocket,
    to: SocketAddr,
    codec: Codec,
    seq: u16,
    ts: u32,
}

impl Caller {
    fn new(sock: UdpSocket, to: SocketAddr, codec: Codec) -> Caller {
        Caller {
            sock,
            to,
            codec,
            seq: 40_000,
            ts: 7_000,
        }
    }

    async fn packet(&mut self, pt: u8, ts: u32, payload: &[u8]) {
        let mut buf = [0u8; 512];
        let n = RtpSender::with_state(0x70E5, self.seq, ts).write(&mut buf, pt, payload, false);
        self.seq = self.seq.wrapping_add(1);
        self.sock.send_to(&buf[..n], self.to).await.expect("send");
    }

    /// Audio, 160 samples a packet, paced a little so the socket keeps up.
    async fn audio(&mut self, pcm: &[i16]) {
        for frame in pcm.chunks(160) {
            let payload: Vec<u8> = frame.iter().map(|&s| self.codec.encode(s)).collect();
            self.packet(self.codec.payload_type(), self.ts, &payload)
                .await;
            self.ts = self.ts.wrapping_add(160);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn silence(&mut self, ms: usize) {
        self.audio(&vec![0; ms * 8]).await;
    }

    /// A key as a sender that does both: events every 20 ms with the tone
    /// in the audio between them, then three end packets.
    async fn key_both_ways(&mut self, key: char, event: u8, ms: usize) {
        let start = self.ts;
        let pcm = tone(key, ms);
        for (i, frame) in pcm.chunks(160).enumerate() {
            let duration = (160 * (i + 1)) as u16;
            self.packet(
                EVENT_PT,
                start,
                &[event, 10, (duration >> 8) as u8, duration as u8],
            )
            .await;
            self.audio(frame).await;
        }
        let duration = (ms * 8) as u16;
        for _ in 0..3 {
            self.packet(
                EVENT_PT,
                start,
                &[event, 0x8A, (duration >> 8) as u8, duration as u8],
            )
            .await;
        }
    }
}

fn start(
    pool: &PortAllocator,
    caller_addr: SocketAddr,
    codec: Codec,
    dtmf_pt: Option<u8>,
    inband: InbandMode,
) -> MediaHandle {
    let (lease, socket) = pool.allocate(LOCAL).expect("port");
    let cfg = MediaConfig {
        inband,
        ..MediaConfig::default()
    };
    spawn(
        socket,
        lease,
        Some((caller_addr, codec, dtmf_pt)),
        cfg,
        Default::default(),
    )
    .expect("spawn")
}

/// Digits reported until `quiet` passes without one.
async fn digits(h: &mut MediaHandle, quiet: Duration) -> Vec<Digit> {
    let mut out = Vec::new();
    while let Ok(Some(ev)) = tokio::time::timeout(quiet, h.events.recv()).await {
        if let MediaEvent::Digit(d) = ev {
            out.push(d);
        }
    }
    out
}

async fn call(codec: Codec, dtmf_pt: Option<u8>, inband: InbandMode) -> (MediaHandle, Caller) {
    let sock = UdpSocket::bind((LOCAL, 0)).await.expect("bind");
    let caller_addr = sock.local_addr().expect("addr");
    let h = start(&pool(), caller_addr, codec, dtmf_pt, inband);
    let c = Caller::new(sock, SocketAddr::new(LOCAL, h.local_port), codec);
    (h, c)
}

#[tokio::test]
async fn tones_are_keys_when_the_caller_has_no_telephone_event() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let (mut h, mut c) = call(codec, None, InbandMode::Auto).await;
        c.silence(100).await;
        c.audio(&tone('2', 80)).await;
        c.silence(100).await;
        c.audio(&tone('1', 80)).await;
        c.silence(200).await;
        let got = digits(&mut h, Duration::from_millis(500)).await;
        let want = ['2', '1'].map(|key| Digit {
            key,
            source: DtmfSource::Inband,
        });
        assert_eq!(got, want, "{codec:?}");
        h.shutdown().await;
    }
}

#[tokio::test]
async fn auto_ignores_tones_when_telephone_event_was_negotiated() {
    let (mut h, mut c) = call(Codec::Pcmu, Some(EVENT_PT), InbandMode::Auto).await;
    c.silence(100).await;
    c.audio(&tone('1', 100)).await;
    c.silence(200).await;
    assert_eq!(digits(&mut h, Duration::from_millis(500)).await, []);
    h.shutdown().await;
}

#[tokio::test]
async fn off_never_listens() {
    let (mut h, mut c) = call(Codec::Pcma, None, InbandMode::Off).await;
    c.silence(100).await;
    c.audio(&tone('1', 100)).await;
    c.silence(200).await;
    assert_eq!(digits(&mut h, Duration::from_millis(500)).await, []);
    h.shutdown().await;
}

#[tokio::test]
async fn on_counts_a_key_sent_both_ways_once() {
    let (mut h, mut c) = call(Codec::Pcmu, Some(EVENT_PT), InbandMode::On).await;
    c.silence(100).await;
    c.key_both_ways('1', 1, 160).await;
    c.silence(100).await;
    c.key_both_ways('2', 2, 160).await;
    c.silence(100).await;
    // A press of the same key again, after a pause.
    c.key_both_ways('2', 2, 160).await;
    c.silence(100).await;
    let got: String = digits(&mut h, Duration::from_millis(600))
        .await
        .iter()
        .map(|d| d.key)
        .collect();
    assert_eq!(got, "122");
    // And tones alone still count in this mode.
    c.audio(&tone('#', 100)).await;
    c.silence(200).await;
    assert_eq!(
        digits(&mut h, Duration::from_millis(500)).await,
        [Digit {
            key: '#',
            source: DtmfSource::Inband
        }]
    );
    h.shutdown().await;
}

#[tokio::test]
async fn our_own_prompt_is_not_listened_to() {
    // A prompt that is nothing but key tones, played to a silent caller.
    let (mut h, mut c) = call(Codec::Pcmu, None, InbandMode::On).await;
    let mut pcm = tone('1', 200);
    pcm.extend(vec![0; 800]);
    pcm.extend(tone('#', 200));
    h.commands
        .send(MediaCommand::Play(Arc::new(Prompt::from_pcm("keys", pcm))))
        .await
        .expect("play");
    for _ in 0..30 {
        c.silence(20).await;
        tokio::time::sleep(Duration::from_millis(18)).await;
    }
    let got = digits(&mut h, Duration::from_millis(300)).await;
    assert!(got.is_empty(), "{got:?}");
    h.shutdown().await;
}

#[tokio::test]
async fn pound_tone_ends_a_comment_where_it_began() {
    let (mut h, mut c) = call(Codec::Pcma, None, InbandMode::Auto).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (done, result) = oneshot::channel::<RecordingResult>();
    h.commands
        .send(MediaCommand::Record(RecordRequest {
            tmp: dir.path().join("c.wav.part"),
            path: dir.path().join("c.wav"),
            settings: RecordSettings::default(),
            done,
        }))
        .await
        .expect("record");
    // 1.2 s of "speech" (a warbling low tone), then '#' with no pause.
    let speech: Vec<i16> = (0..9_600)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let f = 200.0 + 50.0 * (t * 3.0).sin();
            (6000.0 * (std::f64::consts::TAU * f * t).sin()) as i16
        })
        .collect();
    c.audio(&speech).await;
    c.audio(&tone('#', 200)).await;
    c.silence(100).await;
    let r = tokio::time::timeout(Duration::from_secs(5), result)
        .await
        .expect("a result within 5 s")
        .expect("a result");
    assert_eq!(r.status, CommentStatus::Dtmf);
    // Cut where the tone began, give or take 5 ms: the speech is kept, the
    // tone is not.
    let RecordingOutcome::Saved { duration_ms, .. } = r.outcome else {
        panic!("{r:?}");
    };
    assert!(
        (1_195..=1_205).contains(&duration_ms),
        "{duration_ms} ms kept"
    );
    assert_eq!(
        digits(&mut h, Duration::from_millis(300)).await,
        [Digit {
            key: '#',
            source: DtmfSource::Inband
        }]
    );
    h.shutdown().await;
}
