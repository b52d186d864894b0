//! G.711 (ITU-T G.711) encoders and decoders, written out for the tests.

pub fn ulaw_decode(u: u8) -> i16 {
    let u = !u;
    let sign = u & 0x80;
    let exponent = (u >> 4) & 0x07;
    let mantissa = u & 0x0f;
    let mut sample = (((mantissa as i32) << 3) + 0x84) << exponent;
    sample -= 0x84;
    (if sign != 0 { -sample } else { sample }) as i16
}

pub fn ulaw_encode(s: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut x = s as i32;
    let sign = if x < 0 {
        x = -x;
        0x80
    } else {
        0
    };
    if x > CLIP {
        x = CLIP;
    }
    x += BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && x & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (x >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) | mantissa) as u8
}

pub fn alaw_decode(a: u8) -> i16 {
    let a = a ^ 0x55;
    let sign = a & 0x80;
    let exponent = (a >> 4) & 0x07;
    let mantissa = (a & 0x0f) as i32;
    let mut sample = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if sign == 0 {
        sample = -sample;
    }
    sample as i16
}

pub fn alaw_encode(s: i16) -> u8 {
    let mut x = s as i32;
    let sign = if x >= 0 {
        0x80
    } else {
        x = -x - 1;
        0
    };
    if x > 32767 {
        x = 32767;
    }
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && x & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = if exponent == 0 {
        (x >> 4) & 0x0f
    } else {
        (x >> (exponent + 3)) & 0x0f
    };
    ((sign | (exponent << 4) | mantissa) ^ 0x55) as u8
}

/// Decode a payload of PT 0 (µ-law) or 8 (A-law).
pub fn decode(pt: u8, payload: &[u8]) -> Vec<i16> {
    match pt {
        0 => payload.iter().map(|b| ulaw_decode(*b)).collect(),
        8 => payload.iter().map(|b| alaw_decode(*b)).collect(),
        _ => Vec::new(),
    }
}

pub fn encode(pt: u8, samples: &[i16]) -> Vec<u8> {
    match pt {
        8 => samples.iter().map(|s| alaw_encode(*s)).collect(),
        _ => samples.iter().map(|s| ulaw_encode(*s)).collect(),
    }
}

/// Silence byte for the codec.
pub fn silence(pt: u8) -> u8 {
    if pt == 8 {
        0xd5
    } else {
        0xff
    }
}
