//! SRTP (RFC 3711) for one call: the keys agreed in SDP (RFC 4568 SDES),
//! and the two crypto contexts built from them: ours, which protects every
//! packet we send, and the caller's, which checks and decrypts every packet
//! before anything else reads it.
//!
//! The transforms are webrtc-srtp's (pure Rust on the RustCrypto AES, HMAC
//! and SHA-1 crates): no C library, and the same code the webrtc-rs stack
//! uses. What is smileyd's own is what the crate leaves open: the MKI field
//! of RFC 3711 §3.1, the SRTCP checks it skips, and telling a forged packet
//! from a replayed one so that each is counted.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use bytes::Bytes;
use rand::RngCore;
use webrtc_srtp::context::Context;
use webrtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use webrtc_srtp::protection_profile::ProtectionProfile;

/// Master key (16 bytes) and master salt (14 bytes) of the AES_CM_128
/// suites, in the order SDES carries them (RFC 4568 §6.1: key||salt).
pub const MASTER_LEN: usize = 30;
const KEY_LEN: usize = 16;

/// RFC 3711 §3.3.2: the replay list; 64 packets is the minimum window the
/// RFC allows and what libsrtp uses.
const REPLAY_WINDOW: usize = 64;

/// RFC 3711 §3.4: the SRTCP index with its E bit, after the payload.
const SRTCP_INDEX_LEN: usize = 4;
/// RFC 3711 §4.2, RFC 4568 §6.2: SRTCP always carries an 80-bit tag, also
/// under the _32 suite.
const SRTCP_TAG_LEN: usize = 10;
/// The RTCP header and sender SSRC (RFC 3550 §6.4).
const RTCP_HEADER_LEN: usize = 8;
/// SSRCs that never authenticated, after which packets from yet another
/// new one are dropped unread (see `SsrcGate`).
const MAX_STRANGERS: usize = 64;

/// When SRTP is used (`media.srtp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SrtpMode {
    /// Plain RTP only: an offer with nothing but RTP/SAVP gets 488.
    Off,
    /// SRTP when the caller offers it (and its keys came over TLS), else
    /// plain RTP.
    #[default]
    Optional,
    /// SRTP only: a plain RTP/AVP offer gets 488.
    Required,
}

impl SrtpMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SrtpMode::Off => "off",
            SrtpMode::Optional => "optional",
            SrtpMode::Required => "required",
        }
    }
}

/// The crypto suites smileyd answers (RFC 4568 §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// AES-128 counter mode, HMAC-SHA1 with an 80-bit tag.
    AesCm128HmacSha1_80,
    /// The same with a 32-bit tag on SRTP (SRTCP keeps 80 bits).
    AesCm128HmacSha1_32,
}

impl Suite {
    /// The name in a=crypto.
    pub fn name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// A suite by its a=crypto name; None for any other (skipped).
    pub fn from_name(name: &str) -> Option<Suite> {
        [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32]
            .into_iter()
            .find(|s| s.name() == name)
    }

    /// Bytes of the SRTP authentication tag.
    pub fn tag_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 10,
            Suite::AesCm128HmacSha1_32 => 4,
        }
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            Suite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            Suite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        }
    }
}

/// A master key and salt. Its `Debug` does not show the bytes, so a key
/// never reaches a log line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct MasterKey(pub [u8; MASTER_LEN]);

impl MasterKey {
    /// A fresh key from the operating system's generator (RFC 4568 §6.1:
    /// the answerer's own key, never derived from the offer's).
    pub fn random() -> MasterKey {
        let mut k = [0u8; MASTER_LEN];
        rand::rngs::OsRng.fill_bytes(&mut k);
        MasterKey(k)
    }

    fn key(&self) -> &[u8] {
        &self.0[..KEY_LEN]
    }

    fn salt(&self) -> &[u8] {
        &self.0[KEY_LEN..]
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// RFC 3711 §3.1, RFC 4568 §6.1: the master key identifier the caller puts
/// into each of its packets, `len` bytes holding `value` big-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mki {
    pub value: u64,
    pub len: u8,
}

impl Mki {
    /// Whether `field` (the MKI bytes of a packet) names this key.
    fn matches(&self, field: &[u8]) -> bool {
        let len = usize::from(self.len);
        if field.len() != len {
            return false;
        }
        let be = self.value.to_be_bytes();
        // Bytes beyond the eight of the value are leading zeros.
        let (zeros, tail) = field.split_at(len.saturating_sub(8));
        zeros.iter().all(|&b| b == 0) && tail == &be[8 - tail.len()..]
    }
}

/// What one call's SRTP runs on: the suite, the caller's key (its MKI, if
/// it sends one) and ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SrtpKeys {
    pub suite: Suite,
    pub theirs: MasterKey,
    pub their_mki: Option<Mki>,
    pub ours: MasterKey,
}

/// Why a packet was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// Not authentic: a wrong tag, a wrong key (MKI), or too short to carry
    /// a tag at all.
    Auth,
    /// RFC 3711 §3.3.2: seen before, or older than the replay window.
    Replay,
}

impl Dropped {
    pub fn as_str(self) -> &'static str {
        match self {
            Dropped::Auth => "auth",
            Dropped::Replay => "replay",
        }
    }
}

fn context(key: &MasterKey, suite: Suite) -> Context {
    Context::new(
        key.key(),
        key.salt(),
        suite.profile(),
        Some(srtp_replay_protection(REPLAY_WINDOW)),
        Some(srtcp_replay_protection(REPLAY_WINDOW)),
    )
    // Lengths are fixed by MasterKey and the suites: this cannot fail.
    .expect("AES_CM_128 key and salt lengths")
}

/// Our outgoing stream's context: every packet we send goes through it.
pub struct Protector {
    ctx: Context,
}

impl Protector {
    pub fn new(keys: &SrtpKeys) -> Protector {
        Protector {
            ctx: context(&keys.ours, keys.suite),
        }
    }

    /// RFC 3711 §3.3: `packet` (a whole RTP packet) encrypted and
    /// authenticated; None when it cannot be (then it must not be sent).
    pub fn protect(&mut self, packet: &[u8]) -> Option<Bytes> {
        self.ctx.encrypt_rtp(packet).ok()
    }
}

impl fmt::Debug for Protector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Protector(..)")
    }
}

/// Bounds what forged packets can make the crate keep: it creates state
/// for a packet's SSRC before checking its tag, so a stream of packets
/// with ever new SSRCs would grow it without end. An SSRC that never
/// authenticated gets that state only while there are few such.
#[derive(Default)]
struct SsrcGate {
    /// SSRCs with at least one authentic packet.
    known: HashSet<u32>,
    /// SSRCs with packets, none of them authentic (at most MAX_STRANGERS).
    strangers: HashSet<u32>,
}

impl SsrcGate {
    fn admits(&self, ssrc: u32) -> bool {
        self.known.contains(&ssrc)
            || self.strangers.contains(&ssrc)
            || self.strangers.len() < MAX_STRANGERS
    }

    fn record(&mut self, ssrc: u32, authentic: bool) {
        if authentic {
            if self.known.insert(ssrc) {
                self.strangers.remove(&ssrc);
            }
        } else if !self.known.contains(&ssrc) {
            self.strangers.insert(ssrc);
        }
    }
}

/// The caller's stream's context: its packets are checked and decrypted
/// here before anything parses them.
pub struct Unprotector {
    ctx: Context,
    suite: Suite,
    mki: Option<Mki>,
    rtp_ssrcs: SsrcGate,
    rtcp_ssrcs: SsrcGate,
}

impl Unprotector {
    pub fn new(keys: &SrtpKeys) -> Unprotector {
        Unprotector {
            ctx: context(&keys.theirs, keys.suite),
            suite: keys.suite,
            mki: keys.their_mki,
            rtp_ssrcs: SsrcGate::default(),
            rtcp_ssrcs: SsrcGate::default(),
        }
    }

    /// The packet as the crate reads it: without the MKI, which RFC 3711
    /// §3.1 puts between the encrypted portion and the `tag`-byte tag, not
    /// itself authenticated; it must name the key. The caller has checked
    /// that the datagram is long enough for both.
    fn without_mki<'a>(&self, datagram: &'a [u8], tag: usize) -> Result<Cow<'a, [u8]>, Dropped> {
        let Some(m) = self.mki else {
            return Ok(Cow::Borrowed(datagram));
        };
        let len = usize::from(m.len);
        let at = datagram.len() - tag - len;
        if !m.matches(&datagram[at..at + len]) {
            return Err(Dropped::Auth);
        }
        let mut v = Vec::with_capacity(datagram.len() - len);
        v.extend_from_slice(&datagram[..at]);
        v.extend_from_slice(&datagram[at + len..]);
        Ok(Cow::Owned(v))
    }

    /// RFC 3711 §3.3: the plain RTP packet, or why it was dropped.
    pub fn unprotect_rtp(&mut self, datagram: &[u8]) -> Result<Bytes, Dropped> {
        let tag = self.suite.tag_len();
        let mki = self.mki.map_or(0, |m| usize::from(m.len));
        // Fixed header (RFC 3550 §5.1) and trailer; the crate checks the
        // rest of the header's length itself.
        if datagram.len() < super::rtp::HEADER_LEN + mki + tag {
            return Err(Dropped::Auth);
        }
        let packet = self.without_mki(datagram, tag)?;
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        if !self.rtp_ssrcs.admits(ssrc) {
            return Err(Dropped::Auth);
        }
        let opened = self.ctx.decrypt_rtp(&packet).map_err(classify);
        self.rtp_ssrcs.record(ssrc, opened.is_ok());
        opened
    }

    /// RFC 3711 §3.4: whether `datagram` is authentic SRTCP from the caller
    /// (only used as a sign of life, so the report itself is not returned).
    pub fn check_rtcp(&mut self, datagram: &[u8]) -> Result<(), Dropped> {
        let mki = self.mki.map_or(0, |m| usize::from(m.len));
        if datagram.len() < RTCP_HEADER_LEN + SRTCP_INDEX_LEN + mki + SRTCP_TAG_LEN {
            return Err(Dropped::Auth);
        }
        let index_at = datagram.len() - SRTCP_TAG_LEN - mki - SRTCP_INDEX_LEN;
        // The E bit: we never agree to unencrypted SRTCP (RFC 4568 §6.3.3),
        // and the crate would pass such a packet without checking its tag.
        if datagram[index_at] & 0x80 == 0 {
            return Err(Dropped::Auth);
        }
        let packet = self.without_mki(datagram, SRTCP_TAG_LEN)?;
        let ssrc = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        if !self.rtcp_ssrcs.admits(ssrc) {
            return Err(Dropped::Auth);
        }
        let checked = self.ctx.decrypt_rtcp(&packet).map(|_| ()).map_err(classify);
        self.rtcp_ssrcs.record(ssrc, checked.is_ok());
        checked
    }
}

impl fmt::Debug for Unprotector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Unprotector(..)")
    }
}

fn classify(e: webrtc_srtp::Error) -> Dropped {
    match e {
        webrtc_srtp::Error::SrtpSsrcDuplicated(..)
        | webrtc_srtp::Error::SrtcpSsrcDuplicated(..)
        | webrtc_srtp::Error::ErrDuplicated => Dropped::Replay,
        _ => Dropped::Auth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp::{self, RtpSender};
    use rand::{Rng, SeedableRng};

    fn keys(suite: Suite) -> SrtpKeys {
        let k = MasterKey::random();
        SrtpKeys {
            suite,
            theirs: k,
            their_mki: None,
            ours: k,
        }
    }

    fn packet(s: &mut RtpSender, fill: u8) -> Vec<u8> {
        let mut buf = [0u8; 200];
        let n = s.write(&mut buf, 0, &[fill; 160], false);
        buf[..n].to_vec()
    }

    #[test]
    fn round_trip_for_both_suites() {
        for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32] {
            let k = keys(suite);
            let (mut tx, mut rx) = (Protector::new(&k), Unprotector::new(&k));
            let mut s = RtpSender::with_state(7, 65_530, 0);
            // Across a sequence wrap (RFC 3711 §3.3.1: the rollover counter).
            for i in 0..20u8 {
                let plain = packet(&mut s, i);
                let sealed = tx.protect(&plain).unwrap();
                assert_eq!(sealed.len(), plain.len() + suite.tag_len());
                assert_ne!(&sealed[12..172], &plain[12..], "payload encrypted");
                assert_eq!(&sealed[..12], &plain[..12], "header in the clear");
                let opened = rx.unprotect_rtp(&sealed).unwrap();
                assert_eq!(&opened[..], &plain[..]);
            }
        }
    }

    #[test]
    fn tampering_and_replay_are_told_apart() {
        let k = keys(Suite::AesCm128HmacSha1_80);
        let (mut tx, mut rx) = (Protector::new(&k), Unprotector::new(&k));
        let mut s = RtpSender::with_state(9, 100, 0);
        let first = tx.protect(&packet(&mut s, 1)).unwrap();
        let mut flipped = tx.protect(&packet(&mut s, 2)).unwrap().to_vec();
        flipped[40] ^= 0x01;
        assert_eq!(rx.unprotect_rtp(&flipped), Err(Dropped::Auth));
        assert!(rx.unprotect_rtp(&first).is_ok());
        assert_eq!(rx.unprotect_rtp(&first), Err(Dropped::Replay));
        // A wrong key is an authentication failure too.
        let other = keys(Suite::AesCm128HmacSha1_80);
        let mut stranger = Protector::new(&other);
        let forged = stranger.protect(&packet(&mut s, 3)).unwrap();
        assert_eq!(rx.unprotect_rtp(&forged), Err(Dropped::Auth));
        // Plain RTP is not SRTP.
        assert_eq!(rx.unprotect_rtp(&packet(&mut s, 4)), Err(Dropped::Auth));
    }

    #[test]
    fn mki_is_checked_and_stripped() {
        let mut k = keys(Suite::AesCm128HmacSha1_32);
        let mki = Mki { value: 1, len: 2 };
        k.their_mki = Some(mki);
        let (mut tx, mut rx) = (Protector::new(&k), Unprotector::new(&k));
        let mut s = RtpSender::with_state(3, 1, 0);
        let with_mki = |sealed: &[u8], field: &[u8]| {
            let at = sealed.len() - 4;
            [&sealed[..at], field, &sealed[at..]].concat()
        };
        let sealed = tx.protect(&packet(&mut s, 5)).unwrap();
        assert_eq!(
            rx.unprotect_rtp(&with_mki(&sealed, &[0, 2])),
            Err(Dropped::Auth),
            "another key's MKI"
        );
        let opened = rx.unprotect_rtp(&with_mki(&sealed, &[0, 1])).unwrap();
        assert_eq!(rtp::parse(&opened).unwrap().payload, &[5u8; 160][..]);
        assert!(Mki {
            value: 258,
            len: 10
        }
        .matches(&[0, 0, 0, 0, 0, 0, 0, 0, 1, 2]));
        assert!(!Mki {
            value: 258,
            len: 10
        }
        .matches(&[1, 0, 0, 0, 0, 0, 0, 0, 1, 2]));
    }

    #[test]
    fn srtcp_needs_the_e_bit_and_a_valid_tag() {
        let k = keys(Suite::AesCm128HmacSha1_80);
        let mut sender = context(&k.theirs, k.suite);
        let mut rx = Unprotector::new(&k);
        // An empty receiver report (RFC 3550 §6.4.2).
        let rr = [0x80, 201, 0, 1, 0x12, 0x34, 0x56, 0x78];
        let sealed = sender.encrypt_rtcp(&rr).unwrap().to_vec();
        assert_eq!(rx.check_rtcp(&sealed), Ok(()));
        assert_eq!(rx.check_rtcp(&sealed), Err(Dropped::Replay));
        // E cleared: the crate would take it unchecked; we do not.
        let mut clear = sender.encrypt_rtcp(&rr).unwrap().to_vec();
        let at = clear.len() - SRTCP_TAG_LEN - SRTCP_INDEX_LEN;
        clear[at] &= 0x7F;
        assert_eq!(rx.check_rtcp(&clear), Err(Dropped::Auth));
        assert_eq!(rx.check_rtcp(&rr), Err(Dropped::Auth));
    }

    #[test]
    fn forged_ssrcs_are_bounded_and_the_real_stream_goes_on() {
        let k = keys(Suite::AesCm128HmacSha1_80);
        let (mut tx, mut rx) = (Protector::new(&k), Unprotector::new(&k));
        let mut s = RtpSender::with_state(1, 10, 0);
        assert!(rx
            .unprotect_rtp(&tx.protect(&packet(&mut s, 1)).unwrap())
            .is_ok());
        // Forgeries from 1,000 other SSRCs: only MAX_STRANGERS get state.
        let mut forged = packet(&mut RtpSender::with_state(2, 0, 0), 0);
        forged.extend_from_slice(&[0; 10]);
        for ssrc in 2..1002u32 {
            forged[8..12].copy_from_slice(&ssrc.to_be_bytes());
            assert_eq!(rx.unprotect_rtp(&forged), Err(Dropped::Auth));
        }
        assert_eq!(rx.rtp_ssrcs.strangers.len(), MAX_STRANGERS);
        assert!(rx
            .unprotect_rtp(&tx.protect(&packet(&mut s, 2)).unwrap())
            .is_ok());
        // A new authentic SSRC while the strangers are full: not admitted;
        // one of the strangers that turns out authentic: admitted.
        let mut t = RtpSender::with_state(5000, 0, 0);
        assert_eq!(
            rx.unprotect_rtp(&tx.protect(&packet(&mut t, 3)).unwrap()),
            Err(Dropped::Auth)
        );
        let mut u = RtpSender::with_state(7, 0, 0);
        assert!(rx
            .unprotect_rtp(&tx.protect(&packet(&mut u, 4)).unwrap())
            .is_ok());
        assert_eq!(rx.rtp_ssrcs.strangers.len(), MAX_STRANGERS - 1);
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut k = keys(Suite::AesCm128HmacSha1_32);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3711);
        let mut buf = [0u8; 96];
        for mki in [None, Some(Mki { value: 7, len: 3 })] {
            k.their_mki = mki;
            let mut rx = Unprotector::new(&k);
            for _ in 0..50_000 {
                let len = rng.gen_range(0..=buf.len());
                rng.fill(&mut buf[..len]);
                if len > 0 && rng.gen_bool(0.8) {
                    buf[0] = (buf[0] & 0x3F) | 0x80;
                }
                assert!(rx.unprotect_rtp(&buf[..len]).is_err());
                assert!(rx.check_rtcp(&buf[..len]).is_err());
            }
        }
    }

    #[test]
    fn keys_stay_out_of_logs() {
        let k = keys(Suite::AesCm128HmacSha1_80);
        let shown = format!("{k:?}");
        assert!(shown.contains("ours: MasterKey(..)"), "{shown}");
        assert!(!shown.contains('['), "{shown}");
    }
}
