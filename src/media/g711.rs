//! ITU-T G.711 μ-law and A-law companding.
//!
//! These are the only codecs every SIP peer is required to speak, so prompts
//! are pre-encoded in both laws and no transcoding happens per call.
//! The encoders follow the segment search of the classic reference code; the
//! decoders are 256-entry tables built at compile time.

/// A G.711 variant, as negotiated in SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// μ-law, static payload type 0.
    Pcmu,
    /// A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// Static RTP payload type (RFC 3551 §6, table 4).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// Encoding name as written in `a=rtpmap`.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// Encoding names in SDP are case-insensitive (RFC 4855 §3).
    pub fn from_name(name: &str) -> Option<Codec> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }

    pub fn encode(self, s: i16) -> u8 {
        match self {
            Codec::Pcmu => ulaw_encode(s),
            Codec::Pcma => alaw_encode(s),
        }
    }

    pub fn decode(self, b: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_decode(b),
            Codec::Pcma => alaw_decode(b),
        }
    }

    /// The code for a zero sample, used to fill frames when nothing plays.
    pub fn silence(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }
}

/// μ-law bias added before the segment search (G.711 §3.2: 33 in 14-bit units).
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude μ-law can represent before the bias is added.
const ULAW_CLIP: i32 = 32635;

/// Encodes one 16-bit linear sample as μ-law.
pub fn ulaw_encode(s: i16) -> u8 {
    let s = s as i32;
    let (mag, mask) = if s < 0 {
        // One's-complement style: -1 maps to the smallest negative code.
        ((-s).min(ULAW_CLIP), 0x7F)
    } else {
        (s.min(ULAW_CLIP), 0xFF)
    };
    let biased = mag + ULAW_BIAS;
    // Segment = how far the highest set bit sits above bit 7.
    let mut seg = 0;
    while seg < 7 && biased >= (0x100 << seg) {
        seg += 1;
    }
    let mantissa = (biased >> (seg + 3)) & 0x0F;
    (((seg << 4) | mantissa) ^ mask) as u8
}

const fn ulaw_decode_const(b: u8) -> i16 {
    let u = !b;
    let exponent = ((u & 0x70) >> 4) as i32;
    let mantissa = (u & 0x0F) as i32;
    let t = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -t as i16
    } else {
        t as i16
    }
}

const fn alaw_decode_const(b: u8) -> i16 {
    // G.711 §3.1: even bits are inverted on the wire.
    let a = b ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    t = match seg {
        0 => t + 8,
        1 => t + 0x108,
        _ => (t + 0x108) << (seg - 1),
    };
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_decode_const(i as u8)
        } else {
            ulaw_decode_const(i as u8)
        };
        i += 1;
    }
    table
}

static ULAW_TABLE: [i16; 256] = build_table(false);
static ALAW_TABLE: [i16; 256] = build_table(true);

/// Decodes one μ-law byte to 16-bit linear.
pub fn ulaw_decode(b: u8) -> i16 {
    ULAW_TABLE[b as usize]
}

/// Segment end points for A-law in 13-bit magnitude units.
const ALAW_SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// Encodes one 16-bit linear sample as A-law.
pub fn alaw_encode(s: i16) -> u8 {
    // A-law works on 13 bits; the arithmetic shift keeps negatives rounding
    // towards minus infinity, matching the reference encoder.
    let v = (s as i32) >> 3;
    let (mag, mask) = if v >= 0 { (v, 0xD5) } else { (-v - 1, 0x55) };
    let seg = ALAW_SEG_END.iter().position(|&end| mag <= end).unwrap_or(8);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mut aval = (seg as i32) << 4;
    if seg < 2 {
        aval |= (mag >> 1) & 0x0F;
    } else {
        aval |= (mag >> seg) & 0x0F;
    }
    (aval ^ mask) as u8
}

/// Decodes one A-law byte to 16-bit linear.
pub fn alaw_decode(b: u8) -> i16 {
    ALAW_TABLE[b as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0xFE), 8);
        assert_eq!(ulaw_decode(0x7E), -8);
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn ulaw_round_trip_all_codes() {
        for b in 0..=255u8 {
            // 0x7F is μ-law's negative zero; it decodes to 0, which encodes
            // to positive zero 0xFF. Every other code must survive.
            let expected = if b == 0x7F { 0xFF } else { b };
            assert_eq!(ulaw_encode(ulaw_decode(b)), expected, "code {b:#04x}");
        }
    }

    #[test]
    fn alaw_round_trip_all_codes() {
        for b in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(b)), b, "code {b:#04x}");
        }
    }

    #[test]
    fn quantisation_error_is_bounded() {
        // Quantisation error stays within half a step of the segment.
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            for codec in [Codec::Pcmu, Codec::Pcma] {
                let back = codec.decode(codec.encode(s)) as i32;
                let err = (back - s as i32).abs();
                let limit = (s as i32).abs() / 16 + 16;
                assert!(err <= limit, "{codec:?} {s} -> {back}");
            }
        }
    }

    #[test]
    fn codec_metadata() {
        assert_eq!(Codec::Pcmu.payload_type(), 0);
        assert_eq!(Codec::Pcma.payload_type(), 8);
        assert_eq!(Codec::from_payload_type(8), Some(Codec::Pcma));
        assert_eq!(Codec::from_payload_type(18), None);
        assert_eq!(Codec::from_name("pcmu"), Some(Codec::Pcmu));
        assert_eq!(Codec::from_name("PcMa"), Some(Codec::Pcma));
        assert_eq!(Codec::from_name("G729"), None);
        assert_eq!(Codec::Pcmu.encoding_name(), "PCMU");
        for codec in [Codec::Pcmu, Codec::Pcma] {
            assert_eq!(codec.encode(0), codec.silence());
            assert!(codec.decode(codec.silence()).abs() <= 8);
        }
    }
}
