//! RTP packets (RFC 3550): parsing what callers send, writing what we send.

use rand::Rng;

/// Fixed header length without CSRCs (RFC 3550 §5.1).
pub const HEADER_LEN: usize = 12;

/// A parsed RTP packet borrowing its payload from the receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses one datagram; `None` for anything that is not well-formed RTP.
    pub fn parse(buf: &'a [u8]) -> Option<RtpPacket<'a>> {
        parse(buf)
    }
}

/// Parses one datagram; `None` for anything that is not well-formed RTP.
pub fn parse(buf: &[u8]) -> Option<RtpPacket<'_>> {
    if buf.len() < HEADER_LEN {
        return None;
    }
    let b0 = buf[0];
    // RFC 3550 §5.1: V=2 is the only version in use.
    if b0 >> 6 != 2 {
        return None;
    }
    let padding = b0 & 0x20 != 0;
    let extension = b0 & 0x10 != 0;
    let csrc_count = (b0 & 0x0F) as usize;
    let b1 = buf[1];
    let marker = b1 & 0x80 != 0;
    let payload_type = b1 & 0x7F;
    // RFC 5761 §4: payload types 72-76 collide with RTCP packet types; such a
    // datagram is RTCP sent to the RTP port, not media.
    if (72..=76).contains(&payload_type) {
        return None;
    }
    let sequence = u16::from_be_bytes([buf[2], buf[3]]);
    let timestamp = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);

    // RFC 3550 §5.1: CSRC list follows the fixed header.
    let mut offset = HEADER_LEN + 4 * csrc_count;
    if offset > buf.len() {
        return None;
    }
    // RFC 3550 §5.3.1: a 4-byte extension header, then `length` 32-bit words.
    if extension {
        let ext = buf.get(offset..offset + 4)?;
        let words = u16::from_be_bytes([ext[2], ext[3]]) as usize;
        offset += 4 + 4 * words;
        if offset > buf.len() {
            return None;
        }
    }
    let mut end = buf.len();
    // RFC 3550 §5.1: the last padding octet counts the padding, itself included.
    if padding {
        let pad = *buf.last()? as usize;
        if pad == 0 || pad > end - offset {
            return None;
        }
        end -= pad;
    }
    Some(RtpPacket {
        marker,
        payload_type,
        sequence,
        timestamp,
        ssrc,
        payload: &buf[offset..end],
    })
}

/// Whether a datagram looks like RTCP: version 2, a known packet type
/// (RFC 3550 §6.4-6.7: SR 200 … APP 204; RFC 4585 §6.1: RTPFB 205, PSFB 206;
/// RFC 3611: XR 207) and a first packet that fits the datagram (RFC 3550
/// §6.4.1: length in 32-bit words minus one). Only used as a sign that the
/// caller is still there, so the check is the header's, not the report's.
pub fn is_rtcp(buf: &[u8]) -> bool {
    if buf.len() < 8 || buf[0] >> 6 != 2 || !(200..=207).contains(&buf[1]) {
        return false;
    }
    let words = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    (words + 1) * 4 <= buf.len()
}

/// Writes our outgoing stream: one SSRC, consecutive sequence numbers and a
/// timestamp advancing with the samples sent.
#[derive(Debug, Clone)]
pub struct RtpSender {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    packets: u64,
}

impl Default for RtpSender {
    fn default() -> Self {
        Self::new()
    }
}

impl RtpSender {
    /// RFC 3550 §5.1: SSRC, initial sequence number and initial timestamp are
    /// random, so streams are not predictable and do not collide.
    pub fn new() -> RtpSender {
        let mut rng = rand::thread_rng();
        RtpSender::with_state(rng.gen(), rng.gen(), rng.gen())
    }

    /// A sender with chosen starting values (tests, or resuming a stream).
    pub fn with_state(ssrc: u32, sequence: u16, timestamp: u32) -> RtpSender {
        RtpSender {
            ssrc,
            sequence,
            timestamp,
            packets: 0,
        }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Sequence number the next packet will carry.
    pub fn sequence(&self) -> u16 {
        self.sequence
    }

    /// Timestamp the next packet will carry.
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Advances the timestamp for samples that were not sent, so the clock
    /// keeps matching real time after a gap.
    pub fn skip_samples(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
    }

    /// Writes header and payload into `out` and returns the datagram length,
    /// or 0 (and changes nothing) if `out` is too small.
    ///
    /// The timestamp advances by `payload.len()`: one G.711 byte is one sample
    /// at 8 kHz.
    pub fn write(
        &mut self,
        out: &mut [u8],
        payload_type: u8,
        payload: &[u8],
        marker: bool,
    ) -> usize {
        let len = HEADER_LEN + payload.len();
        if out.len() < len {
            return 0;
        }
        // V=2, no padding, no extension, no CSRCs.
        out[0] = 0x80;
        out[1] = (payload_type & 0x7F) | if marker { 0x80 } else { 0 };
        out[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        out[HEADER_LEN..len].copy_from_slice(payload);
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(payload.len() as u32);
        self.packets += 1;
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn write_then_parse() {
        let mut s = RtpSender::with_state(0x1234_5678, 0xFFFF, 0xFFFF_FF00);
        let mut buf = [0u8; 200];
        let payload = [0x55u8; 160];
        let n = s.write(&mut buf, 8, &payload, true);
        assert_eq!(n, 172);
        let p = parse(&buf[..n]).expect("valid");
        assert!(p.marker);
        assert_eq!(p.payload_type, 8);
        assert_eq!(p.sequence, 0xFFFF);
        assert_eq!(p.timestamp, 0xFFFF_FF00);
        assert_eq!(p.ssrc, 0x1234_5678);
        assert_eq!(p.payload, &payload[..]);
        // Both counters wrap.
        let n = s.write(&mut buf, 8, &payload, false);
        let p = parse(&buf[..n]).expect("valid");
        assert!(!p.marker);
        assert_eq!(p.sequence, 0);
        assert_eq!(p.timestamp, 0xFFFF_FF00u32.wrapping_add(160));
        assert_eq!(s.packets(), 2);
    }

    #[test]
    fn write_refuses_small_buffer() {
        let mut s = RtpSender::with_state(1, 2, 3);
        let mut buf = [0u8; 20];
        assert_eq!(s.write(&mut buf, 0, &[0u8; 160], false), 0);
        assert_eq!(s.sequence(), 2);
        assert_eq!(s.timestamp(), 3);
    }

    #[test]
    fn random_initial_state() {
        let a = RtpSender::new();
        let b = RtpSender::new();
        // 80 random bits colliding would mean the RNG is broken.
        assert!((a.ssrc(), a.sequence(), a.timestamp()) != (b.ssrc(), b.sequence(), b.timestamp()));
    }

    #[test]
    fn parses_csrc_extension_and_padding() {
        let mut buf = vec![0xB2u8, 0x65]; // V=2 P=1 X=1 CC=2, M=0 PT=101
        buf.extend_from_slice(&7u16.to_be_bytes());
        buf.extend_from_slice(&1000u32.to_be_bytes());
        buf.extend_from_slice(&42u32.to_be_bytes());
        buf.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]); // CSRCs
        buf.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // one-word extension
        buf.extend_from_slice(&[1, 0x8A, 0x03, 0x20]); // payload
        buf.extend_from_slice(&[0, 0, 3]); // padding, count 3
        let p = parse(&buf).expect("valid");
        assert_eq!(p.payload_type, 101);
        assert_eq!(p.sequence, 7);
        assert_eq!(p.timestamp, 1000);
        assert_eq!(p.ssrc, 42);
        assert_eq!(p.payload, &[1, 0x8A, 0x03, 0x20]);
    }

    #[test]
    fn rejects_malformed() {
        assert!(parse(&[]).is_none());
        assert!(parse(&[0x80; 11]).is_none());
        // Version 1.
        assert!(parse(&[0x40; 12]).is_none());
        // CSRC count beyond the buffer.
        let mut b = [0u8; 12];
        b[0] = 0x8F;
        assert!(parse(&b).is_none());
        // Extension header missing.
        b[0] = 0x90;
        assert!(parse(&b).is_none());
        // Padding count zero or larger than the payload.
        let mut b = [0u8; 14];
        b[0] = 0xA0;
        assert!(parse(&b).is_none());
        b[13] = 3;
        assert!(parse(&b).is_none());
        b[13] = 2;
        assert_eq!(parse(&b).map(|p| p.payload.len()), Some(0));
        // RTCP sender report on the RTP port.
        let mut b = [0u8; 28];
        b[0] = 0x80;
        b[1] = 200;
        assert!(parse(&b).is_none());
        // Empty payload is still RTP.
        let mut b = [0u8; 12];
        b[0] = 0x80;
        assert_eq!(parse(&b).map(|p| p.payload.len()), Some(0));
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4733);
        let mut buf = [0u8; 64];
        for _ in 0..200_000 {
            let len = rng.gen_range(0..=buf.len());
            rng.fill(&mut buf[..len]);
            // Bias towards version 2 so the deeper paths run.
            if len > 0 && rng.gen_bool(0.8) {
                buf[0] = (buf[0] & 0x3F) | 0x80;
            }
            if let Some(p) = parse(&buf[..len]) {
                assert!(p.payload.len() + HEADER_LEN <= len);
            }
        }
        // Every truncation of a valid packet.
        let mut s = RtpSender::with_state(1, 1, 1);
        let mut out = [0u8; 64];
        let n = s.write(&mut out, 0, &[1, 2, 3, 4], false);
        for cut in 0..n {
            let _ = parse(&out[..cut]);
        }
    }

    #[test]
    fn recognises_rtcp() {
        // An empty receiver report (RFC 3550 §6.4.2): V=2, RC=0, PT=201, length 1.
        let rr = [0x80, 201, 0, 1, 0x12, 0x34, 0x56, 0x78];
        assert!(is_rtcp(&rr));
        // An SR followed by an SDES in one compound packet.
        let mut compound = vec![0x80, 200, 0, 6];
        compound.extend([0u8; 24]);
        compound.extend([0x81, 202, 0, 1, 0, 0, 0, 1]);
        assert!(is_rtcp(&compound));
        assert!(!is_rtcp(&rr[..7]), "too short");
        assert!(
            !is_rtcp(&[0x80, 201, 0, 2, 0, 0, 0, 1]),
            "length past the end"
        );
        assert!(!is_rtcp(&[0x40, 201, 0, 1, 0, 0, 0, 1]), "version 1");
        // RTP (PCMU, PT 0) and comfort noise (PT 13) are not RTCP.
        let mut s = RtpSender::with_state(1, 1, 1);
        let mut out = [0u8; 64];
        for pt in [0, 13] {
            let n = s.write(&mut out, pt, &[1, 2, 3, 4], false);
            assert!(!is_rtcp(&out[..n]));
        }
    }
}
