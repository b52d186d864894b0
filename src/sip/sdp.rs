//! SDP (RFC 4566) for one audio stream, and the offer/answer rules of
//! RFC 3264 that smileyd needs: pick PCMU or PCMA in the caller's order and
//! telephone-event/8000 with the caller's payload type; RTP/SAVP with SDES
//! keys (RFC 4568) where the SRTP policy and the transport allow it.

use std::net::{IpAddr, SocketAddr};

use super::sdes::Crypto;
use crate::media::g711::Codec;
use crate::media::srtp::{MasterKey, SrtpKeys, SrtpMode, Suite};

/// Our payload type for telephone-event when we make the offer.
pub const OUR_EVENT_PT: u8 = 101;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// RFC 3264 §6.1: the answer mirrors the offered direction.
    fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

/// One m= line of a received description.
#[derive(Debug, Clone)]
pub struct MediaLine {
    pub kind: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<String>,
    pub connection: Option<IpAddr>,
    /// payload type → (encoding name, clock rate)
    pub rtpmap: Vec<(u8, String, u32)>,
    pub direction: Direction,
    /// The values of its a=crypto attributes (RFC 4568), in offer order.
    pub crypto: Vec<String>,
}

/// A received session description.
#[derive(Debug, Clone)]
pub struct SessionDescription {
    pub media: Vec<MediaLine>,
}

/// What was agreed for the audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub remote: Option<SocketAddr>,
    pub codec: Codec,
    pub event_pt: Option<u8>,
    pub direction: Direction,
    /// SRTP, when the stream taken is RTP/SAVP.
    pub srtp: Option<Sdes>,
}

/// The SDES agreement (RFC 4568): the offer's a=crypto tag, which the
/// answer repeats, and the keys of both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sdes {
    pub tag: u32,
    pub keys: SrtpKeys,
}

/// What an offer is held against besides codecs: the SRTP policy, whether
/// SDES keys may be taken from the transport the offer came on, and our
/// own key for the answer (RFC 4568 §6.1: the answerer's key is its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SrtpTerms {
    pub mode: SrtpMode,
    /// Over TLS, or `media.srtp_allow_keys_in_cleartext`.
    pub keys_allowed: bool,
    pub our_key: MasterKey,
}

impl SrtpTerms {
    /// Plain RTP only.
    pub fn off() -> SrtpTerms {
        SrtpTerms {
            mode: SrtpMode::Off,
            keys_allowed: false,
            our_key: MasterKey([0; crate::media::srtp::MASTER_LEN]),
        }
    }

    /// Whether our own offer (the INVITE had none) is RTP/SAVP: only where
    /// SRTP is required, since a caller that cannot do it would have no
    /// way to answer plain RTP.
    pub fn offer_srtp(&self) -> bool {
        self.mode == SrtpMode::Required && self.keys_allowed
    }
}

/// Why no stream of an offer could be taken: the Warning of the 488.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unacceptable {
    /// No audio stream with PCMU or PCMA.
    Codec,
    /// `media.srtp = "required"` and only plain RTP offered.
    SrtpRequired,
    /// `media.srtp = "off"` and only RTP/SAVP offered.
    SrtpOff,
    /// RTP/SAVP offered over UDP or TCP: its keys were readable on the way.
    KeysInCleartext,
    /// RTP/SAVP without an a=crypto we can use.
    NoCryptoSuite,
}

impl Unacceptable {
    /// RFC 3261 §20.43: a Warning header value saying why.
    pub fn warning(self) -> &'static str {
        match self {
            Unacceptable::Codec => "304 smileyd \"no common audio codec: PCMU or PCMA required\"",
            Unacceptable::SrtpRequired => {
                "399 smileyd \"SRTP required: offer RTP/SAVP with a=crypto over TLS\""
            }
            Unacceptable::SrtpOff => "399 smileyd \"SRTP is turned off here: offer RTP/AVP\"",
            Unacceptable::KeysInCleartext => {
                "399 smileyd \"SRTP keys (a=crypto) are only taken over SIP over TLS\""
            }
            Unacceptable::NoCryptoSuite => {
                "306 smileyd \"no usable a=crypto: AES_CM_128_HMAC_SHA1_80 or AES_CM_128_HMAC_SHA1_32 with an inline key\""
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("malformed SDP: {0}")]
    Malformed(String),
    #[error("no acceptable audio stream ({0:?})")]
    NotAcceptable(Unacceptable),
}

fn parse_conn(v: &str) -> Option<IpAddr> {
    // c=IN IP4 192.0.2.1 (a multicast TTL suffix is cut off)
    let mut it = v.split_whitespace();
    let (_net, _ty, addr) = (it.next()?, it.next()?, it.next()?);
    addr.split('/').next()?.parse().ok()
}

impl SessionDescription {
    pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
        let text =
            std::str::from_utf8(body).map_err(|_| SdpError::Malformed("not UTF-8".into()))?;
        let mut session_conn = None;
        let mut session_dir = Direction::SendRecv;
        let mut media: Vec<MediaLine> = Vec::new();
        let mut saw_version = false;
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| SdpError::Malformed(format!("line without '=': {line:.40}")))?;
            match (k, media.last_mut()) {
                ("v", _) => saw_version = true,
                ("c", None) => session_conn = parse_conn(v),
                ("c", Some(m)) => m.connection = parse_conn(v),
                ("m", _) => {
                    let mut it = v.split_whitespace();
                    let kind = it.next().unwrap_or_default().to_string();
                    let port = it
                        .next()
                        .and_then(|p| p.split('/').next())
                        .and_then(|p| p.parse().ok())
                        .ok_or_else(|| SdpError::Malformed("bad m= port".into()))?;
                    let proto = it
                        .next()
                        .ok_or_else(|| SdpError::Malformed("m= without proto".into()))?
                        .to_string();
                    let formats = it.map(str::to_string).collect();
                    media.push(MediaLine {
                        kind,
                        port,
                        proto,
                        formats,
                        connection: None,
                        rtpmap: Vec::new(),
                        direction: session_dir,
                        crypto: Vec::new(),
                    });
                }
                ("a", m) => {
                    let (name, value) = v.split_once(':').unwrap_or((v, ""));
                    let dir = match name {
                        "sendrecv" => Some(Direction::SendRecv),
                        "sendonly" => Some(Direction::SendOnly),
                        "recvonly" => Some(Direction::RecvOnly),
                        "inactive" => Some(Direction::Inactive),
                        _ => None,
                    };
                    match (dir, m) {
                        (Some(d), Some(m)) => m.direction = d,
                        (Some(d), None) => session_dir = d,
                        (None, Some(m)) if name == "rtpmap" => {
                            if let Some(entry) = parse_rtpmap(value) {
                                m.rtpmap.push(entry);
                            }
                        }
                        (None, Some(m)) if name == "crypto" => m.crypto.push(value.to_string()),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        if !saw_version {
            return Err(SdpError::Malformed("no v= line".into()));
        }
        for m in &mut media {
            if m.connection.is_none() {
                m.connection = session_conn;
            }
        }
        Ok(SessionDescription { media })
    }

    /// RFC 3264 §6: choose what we can do, in the offerer's order, held
    /// against the SRTP terms: an RTP/SAVP stream is taken before an
    /// RTP/AVP one (an offer of both is best-effort SRTP), each only where
    /// the terms allow it. Returns the index of the audio m-line used and
    /// the agreement.
    pub fn negotiate(&self, terms: &SrtpTerms) -> Result<(usize, Negotiated), SdpError> {
        let mut plain = None;
        let mut why = None;
        for (idx, m) in self.media.iter().enumerate() {
            if !m.kind.eq_ignore_ascii_case("audio") || m.port == 0 {
                continue;
            }
            let secure = is_proto(m, &["RTP/SAVP", "RTP/SAVPF"]);
            if !secure && !is_proto(m, &["RTP/AVP", "RTP/AVPF"]) {
                continue;
            }
            let refused = match audio(m) {
                None => Unacceptable::Codec,
                Some(_) if !secure && terms.mode == SrtpMode::Required => {
                    Unacceptable::SrtpRequired
                }
                Some(n) if !secure => {
                    plain.get_or_insert((idx, n));
                    continue;
                }
                Some(_) if terms.mode == SrtpMode::Off => Unacceptable::SrtpOff,
                Some(_) if !terms.keys_allowed => Unacceptable::KeysInCleartext,
                Some(n) => match usable_crypto(m) {
                    // RFC 4568 §7.1.2: the first we support, in offer order.
                    Some(c) => {
                        let keys = SrtpKeys {
                            suite: c.suite,
                            theirs: c.key,
                            their_mki: c.mki,
                            ours: terms.our_key,
                        };
                        let srtp = Some(Sdes { tag: c.tag, keys });
                        return Ok((idx, Negotiated { srtp, ..n }));
                    }
                    None => Unacceptable::NoCryptoSuite,
                },
            };
            why.get_or_insert(refused);
        }
        plain.ok_or(SdpError::NotAcceptable(why.unwrap_or(Unacceptable::Codec)))
    }
}

fn is_proto(m: &MediaLine, protos: &[&str]) -> bool {
    protos.iter().any(|p| m.proto.eq_ignore_ascii_case(p))
}

/// The first a=crypto of `m` that we can use, if any.
fn usable_crypto(m: &MediaLine) -> Option<Crypto> {
    m.crypto.iter().find_map(|v| Crypto::parse(v).ok())
}

/// The codec, events, address and direction of one audio m-line (plain
/// RTP so far), or None without PCMU or PCMA.
fn audio(m: &MediaLine) -> Option<Negotiated> {
    let codec = m.formats.iter().find_map(|f| {
        let pt: u8 = f.parse().ok()?;
        match m.rtpmap.iter().find(|(p, _, _)| *p == pt) {
            // G.711 under a dynamic payload type is passed over: the answer
            // and our RTP use the static types 0 and 8, which that offer did
            // not name (RFC 3264 §6.1).
            Some((_, name, rate)) if *rate == 8000 => {
                Codec::from_name(name).filter(|c| c.payload_type() == pt)
            }
            Some(_) => None,
            // RFC 3551 static payload types may come without rtpmap.
            None => Codec::from_payload_type(pt),
        }
    })?;
    // A payload type means what its first rtpmap says, for events as for
    // the codec above (a second rtpmap of the same type is not another
    // chance to be telephone-event).
    let event_pt = m.formats.iter().find_map(|f| {
        let pt: u8 = f.parse().ok()?;
        let (_, name, rate) = m.rtpmap.iter().find(|(p, _, _)| *p == pt)?;
        (name.eq_ignore_ascii_case("telephone-event") && *rate == 8000).then_some(pt)
    });
    let remote = m
        .connection
        .filter(|ip| !ip.is_unspecified())
        .map(|ip| SocketAddr::new(ip, m.port));
    Some(Negotiated {
        remote,
        codec,
        event_pt,
        direction: m.direction,
        srtp: None,
    })
}

impl SessionDescription {
    /// A new offer within a session (RFC 3264 §8): like [`negotiate`], and
    /// an audio stream offered with port 0 is a stream stopped (§8.2): no
    /// remote, nothing sent, the codec kept from `current`.
    ///
    /// [`negotiate`]: SessionDescription::negotiate
    pub fn renegotiate(
        &self,
        current: Option<&Negotiated>,
        terms: &SrtpTerms,
    ) -> Result<(usize, Negotiated), SdpError> {
        let err = match self.negotiate(terms) {
            Ok(found) => return Ok(found),
            Err(e) => e,
        };
        let stopped = self
            .media
            .iter()
            .position(|m| m.kind.eq_ignore_ascii_case("audio") && m.port == 0);
        match (stopped, current) {
            (Some(idx), Some(cur)) => Ok((
                idx,
                Negotiated {
                    remote: None,
                    direction: Direction::Inactive,
                    ..*cur
                },
            )),
            _ => Err(err),
        }
    }
}

fn parse_rtpmap(v: &str) -> Option<(u8, String, u32)> {
    // a=rtpmap:101 telephone-event/8000
    let (pt, enc) = v.trim().split_once(char::is_whitespace)?;
    let mut parts = enc.trim().split('/');
    // The name as the codec choice reads it: a stray CR or space inside the
    // line (a bare CR is no line end, RFC 4566 §5) is not part of it.
    let name = parts.next()?.trim().to_string();
    let rate = parts.next()?.parse().ok()?;
    Some((pt.parse().ok()?, name, rate))
}

/// Our side of the session: what we write into SDP.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    pub ip: IpAddr,
    pub port: u16,
    pub session_id: u64,
    pub version: u64,
}

fn header_lines(local: &LocalMedia, out: &mut String) {
    let fam = if local.ip.is_ipv4() { "IP4" } else { "IP6" };
    out.push_str("v=0\r\n");
    out.push_str(&format!(
        "o=smileyd {} {} IN {} {}\r\n",
        local.session_id, local.version, fam, local.ip
    ));
    out.push_str("s=smileyd\r\n");
    out.push_str(&format!("c=IN {} {}\r\n", fam, local.ip));
    out.push_str("t=0 0\r\n");
}

fn audio_lines(
    codecs: &[Codec],
    event_pt: Option<u8>,
    dir: Direction,
    crypto: Option<String>,
    out: &mut String,
) {
    for c in codecs {
        out.push_str(&format!(
            "a=rtpmap:{} {}/8000\r\n",
            c.payload_type(),
            c.encoding_name()
        ));
    }
    if let Some(pt) = event_pt {
        out.push_str(&format!(
            "a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-15\r\n"
        ));
    }
    out.push_str("a=ptime:20\r\n");
    out.push_str(&format!("a={}\r\n", dir.attr()));
    if let Some(line) = crypto {
        out.push_str(&line);
        out.push_str("\r\n");
    }
}

fn fmt_list(codecs: &[Codec], event_pt: Option<u8>) -> String {
    let mut s: Vec<String> = codecs
        .iter()
        .map(|c| c.payload_type().to_string())
        .collect();
    if let Some(pt) = event_pt {
        s.push(pt.to_string());
    }
    s.join(" ")
}

/// RFC 3264 §6: the answer has as many m-lines as the offer; the ones we
/// do not take are answered with port 0.
pub fn answer(
    offer: &SessionDescription,
    used: usize,
    n: &Negotiated,
    local: &LocalMedia,
) -> String {
    let mut out = String::with_capacity(320);
    header_lines(local, &mut out);
    for (idx, m) in offer.media.iter().enumerate() {
        // A stream offered with port 0 is answered with port 0 (§8.2).
        if idx == used && m.port != 0 {
            let proto = m.proto.clone();
            out.push_str(&format!(
                "m=audio {} {} {}\r\n",
                local.port,
                proto,
                fmt_list(&[n.codec], n.event_pt)
            ));
            // RFC 4568 §7.1.2: the offer's tag and suite, our own key.
            let crypto = n
                .srtp
                .map(|s| Crypto::line(s.tag, s.keys.suite, &s.keys.ours));
            audio_lines(
                &[n.codec],
                n.event_pt,
                n.direction.answer(),
                crypto,
                &mut out,
            );
        } else {
            let fmt = m.formats.first().cloned().unwrap_or_else(|| "0".into());
            out.push_str(&format!("m={} 0 {} {}\r\n", m.kind, m.proto, fmt));
        }
    }
    out
}

/// The a=crypto tag of our own offer.
pub const OUR_CRYPTO_TAG: u32 = 1;

/// Our offer, for an INVITE (or re-INVITE) that came without one: RTP/SAVP
/// with our key when `srtp` is given (RFC 4568 §7.1.1), else RTP/AVP.
pub fn offer(local: &LocalMedia, srtp: Option<&MasterKey>) -> String {
    let codecs = [Codec::Pcmu, Codec::Pcma];
    let mut out = String::with_capacity(400);
    header_lines(local, &mut out);
    out.push_str(&format!(
        "m=audio {} {} {}\r\n",
        local.port,
        if srtp.is_some() {
            "RTP/SAVP"
        } else {
            "RTP/AVP"
        },
        fmt_list(&codecs, Some(OUR_EVENT_PT))
    ));
    let crypto = srtp.map(|k| Crypto::line(OUR_CRYPTO_TAG, Suite::AesCm128HmacSha1_80, k));
    audio_lines(
        &codecs,
        Some(OUR_EVENT_PT),
        Direction::SendRecv,
        crypto,
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINPHONE: &str = "v=0\r\no=x 1 1 IN IP4 192.168.1.5\r\ns=Talk\r\nc=IN IP4 192.168.1.5\r\nt=0 0\r\nm=audio 7078 RTP/AVP 96 97 98 0 8 18 99 100 101\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:97 speex/16000\r\na=rtpmap:98 speex/8000\r\na=rtpmap:99 telephone-event/48000\r\na=rtpmap:100 telephone-event/16000\r\na=rtpmap:101 telephone-event/8000\r\nm=video 9078 RTP/AVP 96\r\n";

    fn local() -> LocalMedia {
        LocalMedia {
            ip: "127.0.0.1".parse().unwrap(),
            port: 10000,
            session_id: 1,
            version: 1,
        }
    }

    #[test]
    fn linphone_offer_gets_pcmu_and_te_8000() {
        let sd = SessionDescription::parse(LINPHONE.as_bytes()).unwrap();
        let (idx, n) = sd.negotiate(&SrtpTerms::off()).unwrap();
        assert_eq!(idx, 0);
        assert_eq!(n.codec, Codec::Pcmu);
        assert_eq!(n.event_pt, Some(101));
        assert_eq!(n.remote, Some("192.168.1.5:7078".parse().unwrap()));
        let a = answer(&sd, idx, &n, &local());
        assert!(a.contains("m=audio 10000 RTP/AVP 0 101\r\n"), "{a}");
        assert!(a.contains("m=video 0 RTP/AVP 96\r\n"), "{a}");
        assert!(!a.contains("48000"));
    }

    #[test]
    fn pcma_only_and_hold() {
        let sdp = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\na=sendonly\r\n";
        let sd = SessionDescription::parse(sdp.as_bytes()).unwrap();
        let (idx, n) = sd.negotiate(&SrtpTerms::off()).unwrap();
        assert_eq!(n.codec, Codec::Pcma);
        assert_eq!(n.event_pt, Some(96));
        assert_eq!(n.direction, Direction::SendOnly);
        assert!(answer(&sd, idx, &n, &local()).contains("a=recvonly"));
    }

    #[test]
    fn no_common_codec() {
        let sdp = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 18 9\r\n";
        let sd = SessionDescription::parse(sdp.as_bytes()).unwrap();
        assert_eq!(
            sd.negotiate(&SrtpTerms::off()).unwrap_err(),
            SdpError::NotAcceptable(Unacceptable::Codec)
        );
        let srtp = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/SAVP 0\r\n";
        let sd = SessionDescription::parse(srtp.as_bytes()).unwrap();
        assert!(sd.negotiate(&SrtpTerms::off()).is_err());
        assert!(SessionDescription::parse(b"garbage").is_err());
    }

    #[test]
    fn an_rtpmap_name_is_read_without_stray_whitespace() {
        // Found by the sdp_offer_answer fuzz target: "PCMA\r" was taken as
        // PCMA for the codec but kept as "PCMA\r" in the parsed rtpmap.
        let sdp =
            "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 8\r\na=rtpmap:8 PCMA\r/8000\r\n";
        let offer = SessionDescription::parse(sdp.as_bytes()).unwrap();
        assert_eq!(offer.media[0].rtpmap, vec![(8, "PCMA".to_string(), 8000)]);
    }

    #[test]
    fn an_event_type_means_its_first_rtpmap() {
        // Found by the sdp_offer_answer fuzz target: 101 mapped twice was
        // answered as telephone-event although its first rtpmap said otherwise.
        let offer = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0 101\r\n\
                     a=rtpmap:101 telephone/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
        let sd = SessionDescription::parse(offer.as_bytes()).unwrap();
        let (_, n) = sd.negotiate(&SrtpTerms::off()).unwrap();
        assert_eq!(n.event_pt, None);
        let text = answer(&sd, 0, &n, &local());
        assert!(!text.contains("telephone-event"), "{text}");
    }

    #[test]
    fn g711_under_a_dynamic_payload_type_is_not_answered_as_static() {
        // The answer used to say 0 (PCMU), a type this offer never named.
        let dynamic = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 96\r\n\
                       a=rtpmap:96 PCMU/8000\r\n";
        let sd = SessionDescription::parse(dynamic.as_bytes()).unwrap();
        assert_eq!(
            sd.negotiate(&SrtpTerms::off()).unwrap_err(),
            SdpError::NotAcceptable(Unacceptable::Codec)
        );
        // With the static type offered too, that one is taken.
        let both = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 96 8\r\n\
                    a=rtpmap:96 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n";
        let sd = SessionDescription::parse(both.as_bytes()).unwrap();
        let (_, n) = sd.negotiate(&SrtpTerms::off()).unwrap();
        assert_eq!(n.codec, Codec::Pcma);
        assert!(answer(&sd, 0, &n, &local()).contains("m=audio 10000 RTP/AVP 8\r\n"));
    }

    #[test]
    fn port_zero_in_a_new_offer_stops_the_stream() {
        let first = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\n";
        let (_, current) = SessionDescription::parse(first.as_bytes())
            .unwrap()
            .negotiate(&SrtpTerms::off())
            .unwrap();
        let stop = first.replace("m=audio 4000", "m=audio 0");
        let sd = SessionDescription::parse(stop.as_bytes()).unwrap();
        assert_eq!(
            sd.negotiate(&SrtpTerms::off()).unwrap_err(),
            SdpError::NotAcceptable(Unacceptable::Codec)
        );
        let (idx, n) = sd.renegotiate(Some(&current), &SrtpTerms::off()).unwrap();
        assert_eq!(n.remote, None);
        assert_eq!(n.direction, Direction::Inactive);
        assert_eq!(n.codec, Codec::Pcma);
        assert!(answer(&sd, idx, &n, &local()).contains("m=audio 0 RTP/AVP 8\r\n"));
        // Without a stream to keep (an initial offer), port 0 is refused.
        assert!(sd.renegotiate(None, &SrtpTerms::off()).is_err());
        let moved = first.replace("10.0.0.1", "10.0.0.2");
        let sd = SessionDescription::parse(moved.as_bytes()).unwrap();
        let (_, n) = sd.renegotiate(Some(&current), &SrtpTerms::off()).unwrap();
        assert_eq!(n.remote, Some("10.0.0.2:4000".parse().unwrap()));
    }

    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    fn terms(mode: SrtpMode, keys_allowed: bool) -> SrtpTerms {
        SrtpTerms {
            mode,
            keys_allowed,
            our_key: MasterKey([7; 30]),
        }
    }

    fn savp(cryptos: &[&str]) -> String {
        let mut sdp = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/SAVP 0 101\r\n\
                       a=rtpmap:101 telephone-event/8000\r\n"
            .to_string();
        for c in cryptos {
            sdp.push_str(&format!("a=crypto:{c}\r\n"));
        }
        sdp
    }

    fn refused(sdp: &str, t: &SrtpTerms) -> Unacceptable {
        match SessionDescription::parse(sdp.as_bytes())
            .unwrap()
            .negotiate(t)
        {
            Err(SdpError::NotAcceptable(why)) => why,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn savp_offer_is_answered_with_the_first_usable_crypto_and_our_key() {
        let offer = savp(&[
            &format!("1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}"),
            &format!("2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}|2^31|1:1"),
            &format!("3 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
        ]);
        let sd = SessionDescription::parse(offer.as_bytes()).unwrap();
        let t = terms(SrtpMode::Optional, true);
        let (idx, n) = sd.negotiate(&t).unwrap();
        let srtp = n.srtp.expect("SRTP agreed");
        assert_eq!(srtp.tag, 2);
        assert_eq!(srtp.keys.suite, Suite::AesCm128HmacSha1_32);
        assert_eq!(
            srtp.keys.their_mki,
            Some(crate::media::srtp::Mki { value: 1, len: 1 })
        );
        assert_eq!(srtp.keys.ours, t.our_key);
        assert_ne!(srtp.keys.theirs, srtp.keys.ours);
        let a = answer(&sd, idx, &n, &local());
        assert!(a.contains("m=audio 10000 RTP/SAVP 0 101\r\n"), "{a}");
        let ours = Crypto::line(2, Suite::AesCm128HmacSha1_32, &t.our_key);
        assert!(a.contains(&format!("{ours}\r\n")), "{a}");
        assert_eq!(a.matches("a=crypto:").count(), 1, "{a}");
        // The answer, read back as an offer, carries our key.
        let back = SessionDescription::parse(a.as_bytes()).unwrap();
        let (_, m) = back.negotiate(&t).unwrap();
        assert_eq!(m.srtp.unwrap().keys.theirs, t.our_key);
    }

    #[test]
    fn policy_and_transport_decide() {
        let secure = savp(&[&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}")]);
        let plain = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n";
        use SrtpMode::*;
        // required: plain refused whatever the transport.
        assert_eq!(
            refused(plain, &terms(Required, true)),
            Unacceptable::SrtpRequired
        );
        // off: SAVP refused.
        assert_eq!(refused(&secure, &terms(Off, true)), Unacceptable::SrtpOff);
        // Keys over a cleartext transport: refused under any mode but off.
        for mode in [Optional, Required] {
            assert_eq!(
                refused(&secure, &terms(mode, false)),
                Unacceptable::KeysInCleartext
            );
        }
        // optional: either.
        let sd = SessionDescription::parse(plain.as_bytes()).unwrap();
        assert_eq!(sd.negotiate(&terms(Optional, true)).unwrap().1.srtp, None);
        let sd = SessionDescription::parse(secure.as_bytes()).unwrap();
        assert!(sd
            .negotiate(&terms(Optional, true))
            .unwrap()
            .1
            .srtp
            .is_some());
        // SAVP with nothing usable.
        let none = savp(&[
            &format!("1 F8_128_HMAC_SHA1_80 inline:{KEY}"),
            "2 AES_CM_128_HMAC_SHA1_80 inline:short",
            &format!("3 AES_CM_128_HMAC_SHA1_80 inline:{KEY} KDR=1"),
        ]);
        assert_eq!(
            refused(&none, &terms(Required, true)),
            Unacceptable::NoCryptoSuite
        );
        assert_eq!(
            refused(&savp(&[]), &terms(Required, true)),
            Unacceptable::NoCryptoSuite
        );
        // Every reason has a Warning with a code and our agent (RFC 3261 §20.43).
        for why in [
            Unacceptable::Codec,
            Unacceptable::SrtpRequired,
            Unacceptable::SrtpOff,
            Unacceptable::KeysInCleartext,
            Unacceptable::NoCryptoSuite,
        ] {
            let w = why.warning();
            assert!(
                w.len() > 16 && w[4..].starts_with("smileyd \"") && w.ends_with('"'),
                "{w}"
            );
        }
    }

    #[test]
    fn best_effort_offer_of_avp_and_savp() {
        // RFC 3264 §6: two streams offered, one taken, the other port 0.
        let offer = format!(
            "v=0\r\nc=IN IP4 10.0.0.1\r\n\
             m=audio 4000 RTP/AVP 8\r\n\
             m=audio 4002 RTP/SAVP 8\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n"
        );
        let sd = SessionDescription::parse(offer.as_bytes()).unwrap();
        // SRTP preferred where it may be used...
        let (idx, n) = sd.negotiate(&terms(SrtpMode::Optional, true)).unwrap();
        assert_eq!((idx, n.remote.unwrap().port()), (1, 4002));
        assert!(n.srtp.is_some());
        let a = answer(&sd, idx, &n, &local());
        assert!(
            a.contains("m=audio 0 RTP/AVP 8\r\n") && a.contains("m=audio 10000 RTP/SAVP 8\r\n"),
            "{a}"
        );
        // ...plain RTP where it may not (keys over UDP, or SRTP off).
        for t in [terms(SrtpMode::Optional, false), terms(SrtpMode::Off, true)] {
            let (idx, n) = sd.negotiate(&t).unwrap();
            assert_eq!((idx, n.srtp), (0, None));
            let a = answer(&sd, idx, &n, &local());
            assert!(
                a.contains("m=audio 0 RTP/SAVP 8\r\n") && !a.contains("a=crypto"),
                "{a}"
            );
        }
        // A DTLS-SRTP stream is not SDES: passed over.
        let dtls = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 UDP/TLS/RTP/SAVP 0\r\n";
        assert_eq!(
            refused(dtls, &terms(SrtpMode::Optional, true)),
            Unacceptable::Codec
        );
    }

    #[test]
    fn our_offer_is_savp_only_when_required() {
        let key = MasterKey([9; 30]);
        assert!(terms(SrtpMode::Required, true).offer_srtp());
        assert!(!terms(SrtpMode::Required, false).offer_srtp());
        assert!(!terms(SrtpMode::Optional, true).offer_srtp());
        let o = offer(&local(), Some(&key));
        assert!(o.contains("m=audio 10000 RTP/SAVP 0 8 101\r\n"), "{o}");
        let line = Crypto::line(OUR_CRYPTO_TAG, Suite::AesCm128HmacSha1_80, &key);
        assert!(o.contains(&line), "{o}");
        assert!(!offer(&local(), None).contains("crypto"));
    }
}
