//! A pacing thread of its own per test, over real UDP sockets on 127.0.0.1.

use super::*;
use crate::media::rtp;

/// The test threads' catch-up window (see `check_first_frames`).
const PATIENT: Duration = Duration::from_secs(60);

/// A stream on its own socket, sending silence to a new receiving socket.
fn stream() -> (Arc<Stream>, UdpSocket) {
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind receiver");
    rx.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let tx = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    tx.set_nonblocking(true).expect("nonblocking");
    // SAFETY: the AsyncFd owns the socket for as long as it is registered.
    let socket = Arc::new(
        unsafe { AsyncFd::register_with_interest(tx, tokio::io::Interest::READABLE) }
            .expect("register"),
    );
    let (events, _) = mpsc::channel(4);
    let s = Stream::new(socket, events, Arc::new(MediaStats::default()));
    s.lock().target = Some(rx.local_addr().expect("receiver address"));
    (s, rx)
}

/// Sequence numbers and timestamps of the next `n` packets.
fn receive(rx: &UdpSocket, n: usize) -> Vec<(u16, u32)> {
    let mut buf = [0u8; 512];
    (0..n)
        .map(|_| {
            let len = rx.recv(&mut buf).expect("RTP within 10 s");
            let p = rtp::parse(&buf[..len]).expect("valid RTP");
            (p.sequence, p.timestamp)
        })
        .collect()
}

/// Ten packets of a stream that starts sending at sequence 0, timestamp 0:
/// they must be exactly those of the first ten frames, and the tenth may not
/// leave before its time (frames sent early, as a catch-up after a wrongly
/// supposed stall, would be a burst). The test threads catch up on stalls of
/// up to a minute instead of skipping: on a loaded machine a thread may
/// really be held up for a while, which only delays frames, and a skip here
/// can then only come from a wrong first tick.
fn check_first_frames(pacer: &Arc<Pacer>) {
    let (s, rx) = stream();
    s.lock().sender = RtpSender::with_state(0x5EED, 0, 0);
    let started = Instant::now();
    s.start_on(pacer);
    let packets = receive(&rx, 10);
    let elapsed = started.elapsed();
    s.stop();
    let expected: Vec<(u16, u32)> = (0..10).map(|i| (i as u16, 160 * i as u32)).collect();
    // A skip after a (supposed) stall shows as a timestamp jump here.
    assert_eq!(packets, expected);
    assert!(
        elapsed >= PTIME * 9,
        "ten frames in {elapsed:?}: sent ahead of time"
    );
}

/// A thread that has waited for work starts a new stream on time, whether
/// it waited shorter or far longer than `MAX_CATCH_UP`: its own tick count
/// stopped when it went to sleep and must not count as lateness.
#[tokio::test]
async fn a_stream_after_idle_time_starts_on_time() {
    let pacer = Pacer::spawn("rtp-pacer-test".into(), Instant::now(), PATIENT);
    // Idle far longer, and shorter, than the daemon's catch-up window.
    for idle in [MAX_CATCH_UP * 3, MAX_CATCH_UP / 2, MAX_CATCH_UP * 2] {
        std::thread::sleep(idle);
        assert_eq!(pacer.streams.load(Ordering::Acquire), 0);
        check_first_frames(&pacer);
    }
}

/// New streams fill the first thread before the next gets any.
#[tokio::test]
async fn streams_fill_the_first_thread_first() {
    let epoch = Instant::now();
    let pacers = [
        Pacer::spawn("rtp-pacer-test-0".into(), epoch, PATIENT),
        Pacer::spawn("rtp-pacer-test-1".into(), epoch, PATIENT),
    ];
    assert!(Arc::ptr_eq(choose(&pacers), &pacers[0]));
    pacers[0].streams.store(FILL, Ordering::Release);
    assert!(Arc::ptr_eq(choose(&pacers), &pacers[1]));
    pacers[1].streams.store(FILL + 1, Ordering::Release);
    assert!(Arc::ptr_eq(choose(&pacers), &pacers[0]));
    // Counts only: no stream is in their slots, so back to zero.
    for p in &pacers {
        p.streams.store(0, Ordering::Release);
    }
}
