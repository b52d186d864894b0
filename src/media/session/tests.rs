//! End-to-end checks over real UDP sockets on 127.0.0.1.

use super::*;
use crate::media::ports::PortAllocator;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tokio::time::timeout;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn pool() -> PortAllocator {
    // Ports other tests or programs hold are skipped by the allocator. Below
    // the usual ephemeral range, so sockets bound to port 0 do not land here.
    PortAllocator::new(20_000, 29_999)
}

fn start(
    pool: &PortAllocator,
    remote: Option<(SocketAddr, Codec, Option<u8>)>,
    cfg: MediaConfig,
) -> MediaHandle {
    let (lease, socket) = pool.allocate(LOCAL).expect("port");
    spawn(socket, lease, remote, cfg, Default::default()).expect("spawn")
}

fn cfg() -> MediaConfig {
    MediaConfig {
        symmetric_rtp: true,
        media_timeout: Duration::from_secs(60),
        ..MediaConfig::default()
    }
}

async fn peer() -> UdpSocket {
    UdpSocket::bind((LOCAL, 0)).await.expect("bind peer")
}

fn addr(s: &UdpSocket) -> SocketAddr {
    s.local_addr().expect("local addr")
}

fn media_addr(h: &MediaHandle) -> SocketAddr {
    SocketAddr::new(LOCAL, h.local_port)
}

/// Receives one RTP packet (owned) within a second.
async fn recv_rtp(sock: &UdpSocket) -> (bool, u8, u16, u32, u32, Vec<u8>) {
    let mut buf = [0u8; 2048];
    let (n, _) = timeout(Duration::from_secs(1), sock.recv_from(&mut buf))
        .await
        .expect("RTP within 1 s")
        .expect("recv");
    let p = rtp::parse(&buf[..n]).expect("valid RTP");
    (
        p.marker,
        p.payload_type,
        p.sequence,
        p.timestamp,
        p.ssrc,
        p.payload.to_vec(),
    )
}

async fn next_event(h: &mut MediaHandle, within: Duration) -> Option<MediaEvent> {
    timeout(within, h.events.recv()).await.ok().flatten()
}

/// A 1 kHz-ish test signal that differs from frame to frame.
fn test_prompt(samples: usize) -> Arc<Prompt> {
    let pcm = (0..samples)
        .map(|i| ((i as f64 * 0.785).sin() * 8_000.0) as i16 + (i / 160) as i16)
        .collect();
    Arc::new(Prompt::from_pcm("test", pcm))
}

/// Writes caller-side RTP: one SSRC, sequence and timestamp under control.
struct Caller {
    sock: UdpSocket,
    sender: RtpSender,
}

impl Caller {
    async fn new() -> Caller {
        Caller {
            sock: peer().await,
            sender: RtpSender::with_state(0xCA11, 0, 1_000),
        }
    }

    async fn audio(&mut self, to: SocketAddr) {
        let mut buf = [0u8; 200];
        let n = self.sender.write(&mut buf, 0, &[0xFF; 160], false);
        self.sock.send_to(&buf[..n], to).await.expect("send");
    }

    /// One telephone-event packet at the given event timestamp; keeps the
    /// audio clock where it is, as senders do.
    async fn event(
        &mut self,
        to: SocketAddr,
        ts: u32,
        key: u8,
        end: bool,
        duration: u16,
        marker: bool,
    ) {
        let mut s = RtpSender::with_state(self.sender.ssrc(), self.sender.sequence(), ts);
        let payload = [
            key,
            if end { 0x8A } else { 0x0A },
            (duration >> 8) as u8,
            duration as u8,
        ];
        let mut buf = [0u8; 64];
        let n = s.write(&mut buf, 101, &payload, marker);
        self.sender = RtpSender::with_state(s.ssrc(), s.sequence(), self.sender.timestamp());
        self.sock.send_to(&buf[..n], to).await.expect("send");
    }

    /// The baresip shape: marker on the first event packet, an update every
    /// 20 ms with audio in between, three end packets with one timestamp.
    async fn press(&mut self, to: SocketAddr, key: u8) {
        let ts = self.sender.timestamp();
        for i in 0..9u16 {
            self.event(to, ts, key, false, 160 * i, i == 0).await;
            self.audio(to).await;
            tokio::time::sleep(PTIME).await;
        }
        for _ in 0..3 {
            self.event(to, ts, key, true, 1_440, false).await;
            self.audio(to).await;
            tokio::time::sleep(PTIME).await;
        }
    }
}

#[tokio::test]
async fn plays_prompt_as_paced_rtp() {
    let pool = pool();
    let rx = peer().await;
    let mut h = start(&pool, None, cfg());
    let prompt = test_prompt(8_000);
    // Play before the remote is known, so the prompt starts on packet one.
    h.commands
        .send(MediaCommand::Play(Arc::clone(&prompt)))
        .await
        .expect("play");
    h.commands
        .send(MediaCommand::SetRemote {
            addr: addr(&rx),
            codec: Codec::Pcma,
            dtmf_pt: Some(101),
            srtp: None,
        })
        .await
        .expect("remote");

    let started = std::time::Instant::now();
    let mut packets = Vec::new();
    for _ in 0..50 {
        packets.push(recv_rtp(&rx).await);
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900),
        "50 packets in {elapsed:?}"
    );
    assert_eq!(
        next_event(&mut h, Duration::from_secs(1)).await,
        Some(MediaEvent::PlaybackFinished)
    );

    let (_, _, seq0, ts0, ssrc, _) = packets[0];
    let mut audio = Vec::new();
    for (i, (marker, pt, seq, ts, s, payload)) in packets.iter().enumerate() {
        assert_eq!(*marker, i == 0, "marker on packet {i}");
        assert_eq!(*pt, 8);
        assert_eq!(*seq, seq0.wrapping_add(i as u16));
        assert_eq!(*ts, ts0.wrapping_add(160 * i as u32));
        assert_eq!(*s, ssrc);
        assert_eq!(payload.len(), 160);
        audio.extend_from_slice(payload);
    }
    assert_eq!(&audio[..], prompt.encoded(Codec::Pcma));

    // Then silence keeps flowing on the same stream.
    let (marker, _, seq, ts, s, payload) = recv_rtp(&rx).await;
    assert!(!marker);
    assert_eq!(seq, seq0.wrapping_add(50));
    assert_eq!(ts, ts0.wrapping_add(8_000));
    assert_eq!(s, ssrc);
    assert!(payload.iter().all(|&b| b == Codec::Pcma.silence()));
    assert!(h.stats.packets_out() >= 51);
    h.shutdown().await;
    assert_eq!(pool.in_use(), 0);
}

#[tokio::test]
async fn silence_before_and_padding_after_a_short_prompt() {
    let pool = pool();
    let rx = peer().await;
    let mut h = start(&pool, Some((addr(&rx), Codec::Pcmu, None)), cfg());
    // Silence flows before anything plays.
    let (marker, pt, ..) = recv_rtp(&rx).await;
    assert!(marker);
    assert_eq!(pt, 0);
    let (_, _, _, _, _, payload) = recv_rtp(&rx).await;
    assert!(payload.iter().all(|&b| b == 0xFF));

    // 1000 samples = 6 full frames and 40 samples.
    let prompt = test_prompt(1_000);
    h.commands
        .send(MediaCommand::Play(Arc::clone(&prompt)))
        .await
        .expect("play");
    let expected = prompt.encoded(Codec::Pcmu);
    // Find the first frame of the prompt.
    let mut frame;
    loop {
        frame = recv_rtp(&rx).await.5;
        if frame[..] == expected[..160] {
            break;
        }
    }
    for i in 1..6 {
        frame = recv_rtp(&rx).await.5;
        assert_eq!(frame[..], expected[160 * i..160 * (i + 1)]);
    }
    frame = recv_rtp(&rx).await.5;
    assert_eq!(frame[..40], expected[960..]);
    assert!(frame[40..].iter().all(|&b| b == 0xFF), "last frame padded");
    assert_eq!(
        next_event(&mut h, Duration::from_secs(1)).await,
        Some(MediaEvent::PlaybackFinished)
    );
    h.shutdown().await;
}

#[tokio::test]
async fn stop_playback_is_silent_and_quiet() {
    let pool = pool();
    let rx = peer().await;
    let mut h = start(&pool, Some((addr(&rx), Codec::Pcmu, None)), cfg());
    h.commands
        .send(MediaCommand::Play(test_prompt(80_000)))
        .await
        .expect("play");
    for _ in 0..5 {
        recv_rtp(&rx).await;
    }
    h.commands
        .send(MediaCommand::StopPlayback)
        .await
        .expect("stop");
    // Skip what was sent before the stop took effect; then only silence.
    let mut skipped = 0;
    while !recv_rtp(&rx).await.5.iter().all(|&b| b == 0xFF) {
        skipped += 1;
        assert!(skipped < 50, "playback did not stop");
    }
    for _ in 0..5 {
        let payload = recv_rtp(&rx).await.5;
        assert!(payload.iter().all(|&b| b == 0xFF));
    }
    assert_eq!(next_event(&mut h, Duration::from_millis(200)).await, None);

    // Play while playing replaces the prompt without a finished event for
    // the first one.
    h.commands
        .send(MediaCommand::Play(test_prompt(80_000)))
        .await
        .expect("play");
    h.commands
        .send(MediaCommand::Play(test_prompt(320)))
        .await
        .expect("play");
    assert_eq!(
        next_event(&mut h, Duration::from_secs(1)).await,
        Some(MediaEvent::PlaybackFinished)
    );
    assert_eq!(next_event(&mut h, Duration::from_millis(200)).await, None);
    h.shutdown().await;
}

#[tokio::test]
async fn one_digit_per_press() {
    let pool = pool();
    let mut caller = Caller::new().await;
    let mut h = start(
        &pool,
        Some((addr(&caller.sock), Codec::Pcmu, Some(101))),
        cfg(),
    );
    let to = media_addr(&h);
    // Noise that must not disturb anything.
    caller.sock.send_to(b"not rtp", to).await.expect("send");
    caller
        .sock
        .send_to(&[0x80, 18, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2], to)
        .await
        .expect("send");
    for _ in 0..3 {
        caller.audio(to).await;
    }
    caller.press(to, 1).await;
    let digit = Digit {
        key: '1',
        source: DtmfSource::Rfc4733,
    };
    assert_eq!(
        next_event(&mut h, Duration::from_secs(1)).await,
        Some(MediaEvent::Digit(digit))
    );
    // Retransmitted end packets and the timeout path stay quiet.
    assert_eq!(next_event(&mut h, Duration::from_millis(500)).await, None);

    // The same key again is a new press.
    caller.press(to, 1).await;
    assert_eq!(
        next_event(&mut h, Duration::from_secs(1)).await,
        Some(MediaEvent::Digit(digit))
    );
    assert_eq!(next_event(&mut h, Duration::from_millis(400)).await, None);
    assert!(h.stats.packets_ignored() >= 2);
    h.shutdown().await;
}

#[tokio::test]
async fn events_on_other_payload_types_are_ignored() {
    let pool = pool();
    let mut caller = Caller::new().await;
    // No telephone-event negotiated: PT 101 is just an unknown payload type.
    let mut h = start(&pool, Some((addr(&caller.sock), Codec::Pcmu, None)), cfg());
    caller.press(media_addr(&h), 2).await;
    assert_eq!(next_event(&mut h, Duration::from_millis(500)).await, None);
    h.shutdown().await;
}

#[tokio::test]
async fn latches_early_and_ignores_later_sources() {
    let pool = pool();
    let sdp_peer = peer().await;
    let mut caller = Caller::new().await;
    let intruder = peer().await;
    let mut h = start(
        &pool,
        Some((addr(&sdp_peer), Codec::Pcmu, Some(101))),
        cfg(),
    );
    let to = media_addr(&h);

    // Before the caller's RTP arrives we send to the SDP address.
    recv_rtp(&sdp_peer).await;
    // The caller's RTP comes from elsewhere: we follow it.
    for _ in 0..10 {
        caller.audio(to).await;
        tokio::time::sleep(PTIME).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut buf = [0u8; 2048];
    while caller.sock.try_recv_from(&mut buf).is_ok() {}
    recv_rtp(&caller.sock).await;

    // Keep the caller's stream going past the learning window.
    let deadline = std::time::Instant::now() + Duration::from_millis(2_300);
    while std::time::Instant::now() < deadline {
        caller.audio(to).await;
        tokio::time::sleep(PTIME).await;
    }
    // Now a third address sends media and a key press: ignored.
    let ignored_before = h.stats.packets_ignored();
    let mut fake = Caller {
        sock: intruder,
        sender: RtpSender::with_state(0xBAD, 0, 0),
    };
    fake.press(to, 1).await;
    assert_eq!(next_event(&mut h, Duration::from_millis(400)).await, None);
    assert!(h.stats.packets_ignored() >= ignored_before + 24);
    // Our stream still goes to the caller, not to the intruder.
    while fake.sock.try_recv_from(&mut buf).is_ok() {}
    while caller.sock.try_recv_from(&mut buf).is_ok() {}
    recv_rtp(&caller.sock).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        fake.sock.try_recv_from(&mut buf).is_err(),
        "intruder got media"
    );
    // The caller's own keys still work.
    caller.press(to, 2).await;
    let digit = Digit {
        key: '2',
        source: DtmfSource::Rfc4733,
    };
    assert_eq!(
        next_event(&mut h, Duration::from_secs(1)).await,
        Some(MediaEvent::Digit(digit))
    );
    h.shutdown().await;
}

#[tokio::test]
async fn without_symmetric_rtp_sends_to_sdp_address() {
    let pool = pool();
    let sdp_peer = peer().await;
    let mut caller = Caller::new().await;
    let h = start(
        &pool,
        Some((addr(&sdp_peer), Codec::Pcmu, Some(101))),
        MediaConfig {
            symmetric_rtp: false,
            ..cfg()
        },
    );
    for _ in 0..5 {
        caller.audio(media_addr(&h)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut buf = [0u8; 2048];
    while sdp_peer.try_recv_from(&mut buf).is_ok() {}
    recv_rtp(&sdp_peer).await;
    assert!(caller.sock.try_recv_from(&mut buf).is_err());
    h.shutdown().await;
}

#[tokio::test]
async fn media_timeout_reported_once() {
    let pool = pool();
    let rx = peer().await;
    let mut h = start(
        &pool,
        Some((addr(&rx), Codec::Pcmu, None)),
        MediaConfig {
            symmetric_rtp: true,
            media_timeout: Duration::from_millis(300),
            ..MediaConfig::default()
        },
    );
    assert_eq!(
        next_event(&mut h, Duration::from_secs(2)).await,
        Some(MediaEvent::MediaTimeout)
    );
    assert_eq!(next_event(&mut h, Duration::from_millis(800)).await, None);
    h.shutdown().await;
}

#[tokio::test]
async fn no_media_timeout_while_rtp_flows() {
    let pool = pool();
    let mut caller = Caller::new().await;
    let mut h = start(
        &pool,
        Some((addr(&caller.sock), Codec::Pcmu, None)),
        MediaConfig {
            symmetric_rtp: true,
            media_timeout: Duration::from_millis(300),
            ..MediaConfig::default()
        },
    );
    let to = media_addr(&h);
    let until = std::time::Instant::now() + Duration::from_millis(800);
    while std::time::Instant::now() < until {
        caller.audio(to).await;
        tokio::time::sleep(PTIME).await;
    }
    assert!(h.events.try_recv().is_err());
    assert!(h.stats.packets_in() >= 20);
    h.shutdown().await;
}

/// Sends `datagram` to `to` every 100 ms for 2.5 s (well over the 1 s media
/// timeout), then stops; the session must stay quiet while it comes and
/// report the timeout once it stops.
async fn keeps_alive_then_times_out(
    mut h: MediaHandle,
    from: &UdpSocket,
    to: SocketAddr,
    datagram: &[u8],
) {
    let until = std::time::Instant::now() + Duration::from_millis(2_500);
    while std::time::Instant::now() < until {
        from.send_to(datagram, to).await.expect("send");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        h.events.try_recv().ok(),
        None,
        "timed out while the caller was there"
    );
    assert_eq!(
        next_event(&mut h, Duration::from_secs(5)).await,
        Some(MediaEvent::MediaTimeout)
    );
    h.shutdown().await;
}

fn alive_cfg() -> MediaConfig {
    MediaConfig {
        symmetric_rtp: true,
        media_timeout: Duration::from_secs(1),
        ..MediaConfig::default()
    }
}

/// RFC 3550 §6.4.2: an empty receiver report.
const RTCP_RR: [u8; 8] = [0x80, 201, 0, 1, 0, 0, 0xCA, 0x11];

#[tokio::test]
async fn comfort_noise_alone_keeps_the_call_alive() {
    let pool = pool();
    let caller = peer().await;
    let h = start(
        &pool,
        Some((addr(&caller), Codec::Pcmu, Some(101))),
        alive_cfg(),
    );
    // RFC 3389: payload type 13, one noise-level byte.
    let mut cn = [0u8; 16];
    let n = RtpSender::with_state(0xC0FE, 7, 160).write(&mut cn, 13, &[60], true);
    let to = media_addr(&h);
    keeps_alive_then_times_out(h, &caller, to, &cn[..n]).await;
}

#[tokio::test]
async fn rtcp_on_the_odd_port_keeps_the_call_alive() {
    let pool = pool();
    let caller = peer().await;
    let h = start(
        &pool,
        Some((addr(&caller), Codec::Pcmu, Some(101))),
        alive_cfg(),
    );
    let rtcp = SocketAddr::new(LOCAL, h.local_port + 1);
    keeps_alive_then_times_out(h, &caller, rtcp, &RTCP_RR).await;
}

#[tokio::test]
async fn rtcp_on_the_rtp_port_keeps_the_call_alive() {
    let pool = pool();
    let caller = peer().await;
    let h = start(
        &pool,
        Some((addr(&caller), Codec::Pcmu, Some(101))),
        alive_cfg(),
    );
    let to = media_addr(&h);
    keeps_alive_then_times_out(h, &caller, to, &RTCP_RR).await;
}

#[tokio::test]
async fn garbage_on_the_rtcp_port_is_no_sign_of_life() {
    let pool = pool();
    let caller = peer().await;
    let mut h = start(
        &pool,
        Some((addr(&caller), Codec::Pcmu, Some(101))),
        alive_cfg(),
    );
    let rtcp = SocketAddr::new(LOCAL, h.local_port + 1);
    let sending = async {
        loop {
            caller.send_to(b"not rtcp", rtcp).await.expect("send");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        _ = sending => unreachable!(),
        ev = next_event(&mut h, Duration::from_secs(5)) => assert_eq!(ev, Some(MediaEvent::MediaTimeout)),
    }
    h.shutdown().await;
}

#[tokio::test]
async fn dropping_the_handle_frees_the_ports() {
    // A range of its own: the other tests' pools would grab the freed port.
    let pool = PortAllocator::new(19_000, 19_999);
    let rx = peer().await;
    let h = start(&pool, Some((addr(&rx), Codec::Pcmu, None)), cfg());
    let port = h.local_port;
    assert_eq!(pool.in_use(), 1);
    drop(h);
    let freed = async {
        while pool.in_use() != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    timeout(Duration::from_secs(2), freed)
        .await
        .expect("ports returned");
    // The socket is closed too.
    std::net::UdpSocket::bind((LOCAL, port)).expect("port reusable");
}

#[test]
fn spawn_outside_runtime_is_an_error() {
    let pool = pool();
    let (lease, socket) = pool.allocate(LOCAL).expect("port");
    let err = spawn(socket, lease, None, cfg(), Default::default()).expect_err("no runtime");
    assert_eq!(err.kind(), io::ErrorKind::Other);
    assert_eq!(pool.in_use(), 0);
}
