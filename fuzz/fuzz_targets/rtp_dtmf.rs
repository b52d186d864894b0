//! RTP (src/media/rtp.rs, RFC 3550) and RFC 4733 telephone-events
//! (src/media/dtmf/) as the media task handles them: each datagram is
//! tested for RTCP, parsed as RTP, and a telephone-event payload goes to the
//! key detector, with the clock moving between packets.
//!
//! Input: records of [clock step in ms][length][datagram].
//!
//! Invariants: a parsed packet's fields are the bytes of its header and its
//! payload lies within the datagram after the header; written back by
//! `RtpSender` and parsed again it is the same packet; the detector only
//! reports the 16 DTMF keys, never more keys than event packets it was fed,
//! and its deadline, once reached, leaves nothing pending.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use smileyd::media::rtp::{is_rtcp, parse, HEADER_LEN};
use smileyd::media::{parse_event, DtmfDetector, RtpSender};

const EVENT_PT: u8 = 101;

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut detector = DtmfDetector::new();
    let (mut events, mut keys) = (0usize, Vec::new());
    let mut rest = data;
    while let [step, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (dgram, tail) = tail.split_at(len);
        rest = tail;
        now += Duration::from_millis(u64::from(*step));
        let _ = is_rtcp(dgram);
        let Some(p) = parse(dgram) else {
            continue;
        };
        assert_eq!(dgram[0] >> 6, 2);
        assert_eq!(p.payload_type, dgram[1] & 0x7f);
        assert_eq!(p.marker, dgram[1] & 0x80 != 0);
        assert_eq!(p.sequence, u16::from_be_bytes([dgram[2], dgram[3]]));
        assert_eq!(
            p.ssrc,
            u32::from_be_bytes([dgram[8], dgram[9], dgram[10], dgram[11]])
        );
        let offset = p.payload.as_ptr() as usize - dgram.as_ptr() as usize;
        assert!(offset >= HEADER_LEN && offset + p.payload.len() <= dgram.len());

        let mut sender = RtpSender::with_state(p.ssrc, p.sequence, p.timestamp);
        let mut out = vec![0u8; HEADER_LEN + p.payload.len()];
        let n = sender.write(&mut out, p.payload_type, p.payload, p.marker);
        assert_eq!(n, out.len());
        assert_eq!(parse(&out), Some(p), "written back, the packet differs");

        if p.payload_type != EVENT_PT {
            continue;
        }
        let Some(ev) = parse_event(p.payload) else {
            continue;
        };
        events += 1;
        if let Some(k) = detector.on_packet(p.ssrc, p.timestamp, &ev, now) {
            keys.push(k);
        }
        while let Some(k) = detector.poll(now) {
            keys.push(k);
        }
    }
    // The caller goes quiet: whatever is pending comes out by its deadline.
    for _ in 0..=events {
        let Some(at) = detector.deadline() else { break };
        now = now.max(at);
        while let Some(k) = detector.poll(now) {
            keys.push(k);
        }
    }
    assert_eq!(detector.deadline(), None, "a deadline that never clears");
    assert!(
        keys.len() <= events,
        "{} keys from {events} event packets",
        keys.len()
    );
    assert!(keys.iter().all(|k| "0123456789*#ABCD".contains(*k)));
});
