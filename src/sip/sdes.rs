//! SDES (RFC 4568): the a=crypto attribute that carries SRTP keys in SDP,
//! read from an offer and written into our answer or offer. Only ever
//! trusted over TLS: the key is in the clear inside the SIP message.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::media::srtp::{MasterKey, Mki, Suite, MASTER_LEN};

/// RFC 4568 §6.1: AES_CM_128_HMAC_SHA1_* keys may be used for at most
/// 2^48 SRTP packets.
const MAX_LIFETIME: u64 = 1 << 48;
/// RFC 4568 §6.1: the MKI length is 1 to 128 bytes.
const MAX_MKI_LEN: u8 = 128;

/// One a=crypto line we can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crypto {
    /// RFC 4568 §9.1: 1 to 9 digits; the answer repeats it (§7.1.2).
    pub tag: u32,
    pub suite: Suite,
    pub key: MasterKey,
    pub mki: Option<Mki>,
}

/// Why an a=crypto line is passed over (§7.1.2: the answerer picks one it
/// supports and ignores the rest).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("malformed a=crypto: {0}")]
    Malformed(&'static str),
    #[error("crypto suite not supported")]
    UnknownSuite,
    #[error("a=crypto feature not supported: {0}")]
    Unsupported(&'static str),
}

impl Crypto {
    /// Parses the value of an a=crypto attribute (after "crypto:").
    pub fn parse(value: &str) -> Result<Crypto, CryptoError> {
        let mut fields = value.split_ascii_whitespace();
        let tag = fields
            .next()
            .filter(|t| (1..=9).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .ok_or(CryptoError::Malformed("tag"))?;
        let suite = fields.next().ok_or(CryptoError::Malformed("no suite"))?;
        let suite = Suite::from_name(suite).ok_or(CryptoError::UnknownSuite)?;
        let key_params = fields.next().ok_or(CryptoError::Malformed("no key"))?;
        // §6.3: session parameters change how SRTP runs (key derivation
        // rate, unencrypted or unauthenticated SRTP, FEC); only the window
        // size hint leaves it as the transforms here implement it.
        for param in fields {
            if !param.starts_with("WSH=") {
                return Err(CryptoError::Unsupported("session parameter"));
            }
        }
        // §6.1: several keys (each with its MKI) would need rekeying by MKI.
        if key_params.contains(';') {
            return Err(CryptoError::Unsupported("more than one key"));
        }
        let info = key_params
            .strip_prefix("inline:")
            .ok_or(CryptoError::Malformed("key method is not inline"))?;
        let mut parts = info.split('|');
        let key = parts.next().unwrap_or_default();
        let bytes = STANDARD
            .decode(key)
            .map_err(|_| CryptoError::Malformed("key is not base64"))?;
        let key: [u8; MASTER_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::Malformed("key||salt is not 30 bytes"))?;
        let (mut lifetime, mut mki) = (None, None);
        for part in parts {
            match part.split_once(':') {
                // §6.1: MKI value ":" MKI length, both decimal.
                Some((value, len)) if mki.is_none() => {
                    let len: u8 = len
                        .parse()
                        .ok()
                        .filter(|l| (1..=MAX_MKI_LEN).contains(l))
                        .ok_or(CryptoError::Malformed("MKI length"))?;
                    let value: u64 = value
                        .parse()
                        .map_err(|_| CryptoError::Unsupported("MKI value above 2^64"))?;
                    if len < 8 && value >> (8 * u32::from(len)) != 0 {
                        return Err(CryptoError::Malformed("MKI value longer than its length"));
                    }
                    mki = Some(Mki { value, len });
                }
                // The lifetime comes before the MKI (§9.2 grammar).
                None if lifetime.is_none() && mki.is_none() => {
                    lifetime = Some(parse_lifetime(part)?);
                }
                _ => return Err(CryptoError::Malformed("key info")),
            }
        }
        // A lifetime within the suite's limit is only the offerer's own
        // rekeying schedule (by re-INVITE, which starts new contexts).
        if lifetime.is_some_and(|l| l > MAX_LIFETIME) {
            return Err(CryptoError::Malformed("lifetime above 2^48"));
        }
        Ok(Crypto {
            tag,
            suite,
            key: MasterKey(key),
            mki,
        })
    }

    /// The attribute line (without CRLF): `a=crypto:TAG SUITE inline:KEY`.
    pub fn line(tag: u32, suite: Suite, key: &MasterKey) -> String {
        format!(
            "a=crypto:{tag} {} inline:{}",
            suite.name(),
            STANDARD.encode(key.0)
        )
    }
}

/// §6.1: a decimal number of packets, or "2^" and a power.
fn parse_lifetime(v: &str) -> Result<u64, CryptoError> {
    let err = CryptoError::Malformed("lifetime");
    match v.strip_prefix("2^") {
        Some(p) => match p.parse::<u32>() {
            Ok(p) if p < 64 => Ok(1u64 << p),
            Ok(_) => Ok(u64::MAX),
            Err(_) => Err(err),
        },
        None => v.parse().map_err(|_| err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4568 §6.1's example key.
    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    fn parse(v: &str) -> Result<Crypto, CryptoError> {
        Crypto::parse(v)
    }

    #[test]
    fn reads_the_rfc_examples() {
        let c = parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4")).unwrap();
        assert_eq!(c.tag, 1);
        assert_eq!(c.suite, Suite::AesCm128HmacSha1_80);
        assert_eq!(c.mki, Some(Mki { value: 1, len: 4 }));
        assert_eq!(&c.key.0[..4], b"YS__");
        let c = parse(&format!("2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}")).unwrap();
        assert_eq!(
            (c.tag, c.suite, c.mki),
            (2, Suite::AesCm128HmacSha1_32, None)
        );
        // A lifetime alone, decimal; and the window size hint.
        assert!(parse(&format!(
            "3 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|1048576 WSH=128"
        ))
        .is_ok());
        // MKI without a lifetime.
        let c = parse(&format!("4 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|300:2")).unwrap();
        assert_eq!(c.mki, Some(Mki { value: 300, len: 2 }));
    }

    #[test]
    fn passes_over_what_it_cannot_use() {
        use CryptoError::*;
        let e = |v: &str| parse(v).unwrap_err();
        assert_eq!(
            e(&format!("1 F8_128_HMAC_SHA1_80 inline:{KEY}")),
            UnknownSuite
        );
        assert_eq!(e(&format!("1 AEAD_AES_128_GCM inline:{KEY}")), UnknownSuite);
        assert!(matches!(
            e(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} KDR=10")),
            Unsupported(_)
        ));
        assert!(matches!(
            e(&format!(
                "1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} UNENCRYPTED_SRTP"
            )),
            Unsupported(_)
        ));
        assert!(matches!(
            e(&format!(
                "1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4;inline:{KEY}|2^20|2:4"
            )),
            Unsupported(_)
        ));
        for bad in [
            String::new(),
            "1".into(),
            "x AES_CM_128_HMAC_SHA1_80 inline:AAAA".into(),
            "1234567890 AES_CM_128_HMAC_SHA1_80 inline:AAAA".into(),
            "1 AES_CM_128_HMAC_SHA1_80".into(),
            "1 AES_CM_128_HMAC_SHA1_80 uri:https://example.com/k".into(),
            "1 AES_CM_128_HMAC_SHA1_80 inline:***".into(),
            // 29 bytes.
            "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVu".into(),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^49"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|1:0"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|1:129"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|256:1"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|1:4|2^20"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|2^20"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|"),
        ] {
            assert!(
                matches!(parse(&bad), Err(Malformed(_))),
                "{bad:?}: {:?}",
                parse(&bad)
            );
        }
    }

    #[test]
    fn our_line_reads_back() {
        let key = MasterKey::random();
        let line = Crypto::line(7, Suite::AesCm128HmacSha1_32, &key);
        let value = line.strip_prefix("a=crypto:").unwrap();
        let c = parse(value).unwrap();
        assert_eq!(
            (c.tag, c.suite, c.key, c.mki),
            (7, Suite::AesCm128HmacSha1_32, key, None)
        );
    }
}
