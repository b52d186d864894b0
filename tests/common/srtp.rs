//! SRTP (RFC 3711) for the caller's side, written from the RFC on the bare
//! AES, HMAC and SHA-1 primitives: AES_CM_128 with an HMAC-SHA1 tag of 80
//! or 32 bits, the key derivation of §4.3 (key derivation rate 0) and the
//! rollover counter guess of Appendix A. It shares no code with the
//! daemon's SRTP library, and `tests/srtp.rs` checks it against the
//! RFC's Appendix B test vectors, so a packet it accepts is SRTP as the RFC
//! defines it, not only as that library does.

use std::collections::HashMap;

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// RFC 3711 §4.3.2: the SRTP labels.
const LABEL_ENCRYPTION: u8 = 0x00;
const LABEL_AUTH: u8 = 0x01;
const LABEL_SALT: u8 = 0x02;

/// AES-CM keystream (RFC 3711 §4.1.1): AES of the 128-bit IV plus a block
/// counter in its low 16 bits.
pub fn keystream(key: &[u8; 16], iv: &[u8; 16], len: usize) -> Vec<u8> {
    let aes = Aes128::new(key.into());
    let mut out = Vec::with_capacity(len + 16);
    let mut j: u16 = 0;
    while out.len() < len {
        let mut block = *iv;
        let low = u16::from_be_bytes([iv[14], iv[15]]).wrapping_add(j);
        block[14..].copy_from_slice(&low.to_be_bytes());
        let mut b = aes::Block::from(block);
        aes.encrypt_block(&mut b);
        out.extend_from_slice(&b);
        j = j.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// RFC 3711 §4.3.1 with r = 0: the session key, salt or auth key for
/// `label`, `len` bytes.
pub fn derive(master_key: &[u8; 16], master_salt: &[u8; 14], label: u8, len: usize) -> Vec<u8> {
    // x = key_id XOR master_salt, key_id = label || r (7 bytes, aligned
    // to the right of the 14-byte salt); IV = x · 2^16.
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(master_salt);
    iv[7] ^= label;
    keystream(master_key, &iv, len)
}

/// One direction of an SRTP session (one master key), for any SSRC.
pub struct Srtp {
    key: [u8; 16],
    salt: [u8; 14],
    auth: Vec<u8>,
    tag_len: usize,
    /// Per SSRC: (rollover counter, highest sequence number seen or sent).
    state: HashMap<u32, (u32, u16)>,
}

/// The tag length of a suite name.
pub fn tag_len(suite: &str) -> usize {
    match suite {
        "AES_CM_128_HMAC_SHA1_80" => 10,
        "AES_CM_128_HMAC_SHA1_32" => 4,
        other => panic!("suite {other} not implemented here"),
    }
}

/// `a=crypto:` value → (tag, suite, key||salt), for the inline keys the
/// daemon writes.
pub fn parse_crypto(value: &str) -> (u32, String, [u8; 30]) {
    let mut f = value.split_whitespace();
    let tag = f.next().and_then(|t| t.parse().ok()).expect("crypto tag");
    let suite = f.next().expect("crypto suite").to_string();
    let key = f
        .next()
        .and_then(|k| k.strip_prefix("inline:"))
        .expect("inline key");
    let key = key.split('|').next().unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key)
        .expect("base64 key");
    (tag, suite, bytes.try_into().expect("30-byte key||salt"))
}

pub fn crypto_line(tag: u32, suite: &str, master: &[u8; 30]) -> String {
    format!(
        "{tag} {suite} inline:{}",
        base64::engine::general_purpose::STANDARD.encode(master)
    )
}

fn header_len(p: &[u8]) -> Option<usize> {
    if p.len() < 12 || p[0] >> 6 != 2 {
        return None;
    }
    let mut n = 12 + 4 * usize::from(p[0] & 0x0F);
    if p[0] & 0x10 != 0 {
        let ext = p.get(n..n + 4)?;
        n += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
    }
    (n <= p.len()).then_some(n)
}

impl Srtp {
    pub fn new(master: &[u8; 30], tag_len: usize) -> Srtp {
        let mk: [u8; 16] = master[..16].try_into().unwrap();
        let ms: [u8; 14] = master[16..].try_into().unwrap();
        Srtp {
            key: derive(&mk, &ms, LABEL_ENCRYPTION, 16).try_into().unwrap(),
            salt: derive(&mk, &ms, LABEL_SALT, 14).try_into().unwrap(),
            auth: derive(&mk, &ms, LABEL_AUTH, 20),
            tag_len,
            state: HashMap::new(),
        }
    }

    /// §4.1.1: IV = (k_s · 2^16) XOR (SSRC · 2^64) XOR (i · 2^16).
    fn iv(&self, ssrc: u32, index: u64) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&self.salt);
        for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *b ^= s;
        }
        for (b, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
            *b ^= s;
        }
        iv
    }

    /// §4.2: HMAC-SHA1 over the packet and the ROC, truncated.
    fn tag(&self, authenticated: &[u8], roc: u32) -> Vec<u8> {
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&self.auth).unwrap();
        mac.update(authenticated);
        mac.update(&roc.to_be_bytes());
        mac.finalize().into_bytes()[..self.tag_len].to_vec()
    }

    fn crypt(&self, packet: &mut [u8], hl: usize, ssrc: u32, index: u64) {
        let ks = keystream(&self.key, &self.iv(ssrc, index), packet.len() - hl);
        for (b, k) in packet[hl..].iter_mut().zip(ks) {
            *b ^= k;
        }
    }

    /// Protects one RTP packet we send.
    pub fn protect(&mut self, packet: &[u8]) -> Vec<u8> {
        let hl = header_len(packet).expect("an RTP packet");
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ssrc = u32::from_be_bytes(packet[8..12].try_into().unwrap());
        let (roc, last) = self.state.entry(ssrc).or_insert((0, seq));
        // The sender's ROC counts wraps of its own sequence numbers.
        if seq < *last && *last - seq > 0x8000 {
            *roc += 1;
        }
        if seq > *last || *last - seq > 0x8000 {
            *last = seq;
        }
        let roc = *roc;
        let index = (u64::from(roc) << 16) | u64::from(seq);
        let mut out = packet.to_vec();
        self.crypt(&mut out, hl, ssrc, index);
        let tag = self.tag(&out, roc);
        out.extend_from_slice(&tag);
        out
    }

    /// Checks and decrypts one SRTP packet; None when it does not
    /// authenticate.
    pub fn unprotect(&mut self, datagram: &[u8]) -> Option<Vec<u8>> {
        let hl = header_len(datagram)?;
        if datagram.len() < hl + self.tag_len {
            return None;
        }
        let seq = u16::from_be_bytes([datagram[2], datagram[3]]);
        let ssrc = u32::from_be_bytes(datagram[8..12].try_into().unwrap());
        let (roc, s_l) = *self.state.get(&ssrc).unwrap_or(&(0, seq));
        // Appendix A: the ROC this packet was most likely sent with.
        let v = if s_l < 0x8000 {
            if seq > s_l && seq - s_l > 0x8000 {
                roc.wrapping_sub(1)
            } else {
                roc
            }
        } else if s_l - 0x8000 > seq {
            roc + 1
        } else {
            roc
        };
        let (body, tag) = datagram.split_at(datagram.len() - self.tag_len);
        if self.tag(body, v) != tag {
            return None;
        }
        let index = (u64::from(v) << 16) | u64::from(seq);
        let mut out = body.to_vec();
        self.crypt(&mut out, hl, ssrc, index);
        let next = if v == roc.wrapping_add(1) || (v == roc && seq > s_l) {
            (v, seq)
        } else {
            (roc, s_l)
        };
        self.state.insert(ssrc, next);
        Some(out)
    }
}
