//! SDP offer/answer (src/sip/sdp.rs, RFC 4566 and RFC 3264) on any body an
//! INVITE, re-INVITE or UPDATE may carry.
//!
//! Invariants, for every offer smileyd accepts: the answer parses; it has
//! one m-line per offered m-line (RFC 3264 §6); the stream taken is an
//! offered audio stream with a port, answered with payload types that were
//! offered, each meaning the same codec as in the offer (§6.1); every other
//! stream is refused with port 0; and the answer, taken as an offer, agrees
//! on the same codec and telephone-event payload type, and on SRTP with the
//! offer's a=crypto tag and suite (RFC 4568).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smileyd::media::Codec;
use smileyd::media::srtp::{MasterKey, SrtpMode};
use smileyd::sip::sdp::{answer, LocalMedia, MediaLine, SessionDescription, SrtpTerms};

/// What a payload type means in an m-line: its rtpmap, else the static
/// assignment of RFC 3551 (only G.711 matters here).
fn meaning(m: &MediaLine, pt: u8) -> Option<(String, u32)> {
    match m.rtpmap.iter().find(|(p, _, _)| *p == pt) {
        Some((_, name, rate)) => Some((name.to_ascii_uppercase(), *rate)),
        None => Codec::from_payload_type(pt).map(|c| (c.encoding_name().to_string(), 8000)),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = SessionDescription::parse(data) else {
        return;
    };
    // SRTP allowed, so that a=crypto is read too.
    let terms = SrtpTerms {
        mode: SrtpMode::Optional,
        keys_allowed: true,
        our_key: MasterKey([0x5A; 30]),
    };
    let current = offer.negotiate(&terms).ok();
    let _ = offer.renegotiate(current.as_ref().map(|(_, n)| n), &terms);
    let Some((used, n)) = current else {
        return;
    };
    let local = LocalMedia {
        ip: [127, 0, 0, 1].into(),
        port: 40000,
        session_id: 1,
        version: 1,
    };
    let text = answer(&offer, used, &n, &local);
    let ans = SessionDescription::parse(text.as_bytes()).expect("our answer parses");
    assert_eq!(
        ans.media.len(),
        offer.media.len(),
        "one m-line per offered m-line"
    );
    for (i, (o, a)) in offer.media.iter().zip(&ans.media).enumerate() {
        if i != used {
            assert_eq!(a.port, 0, "a stream not taken is refused with port 0");
            continue;
        }
        assert!(o.kind.eq_ignore_ascii_case("audio") && o.port != 0);
        assert_eq!(a.port, local.port);
        for f in &a.formats {
            // Compared as numbers: "08" in an offer is payload type 8.
            let pt: u8 = f.parse().expect("our payload types are numbers");
            assert!(
                o.formats.iter().any(|g| g.parse() == Ok(pt)),
                "answer has payload type {f}, not offered"
            );
            let ours = meaning(a, pt).expect("our payload types have a meaning");
            let theirs = meaning(o, pt).expect("an offered payload type we answer has a meaning");
            assert!(
                ours.0.eq_ignore_ascii_case(&theirs.0) && ours.1 == theirs.1,
                "payload type {pt} is {ours:?} in the answer but {theirs:?} in the offer"
            );
        }
    }
    let (again_used, again) = ans.negotiate(&terms).expect("our answer is acceptable");
    assert_eq!(again_used, used);
    assert_eq!(again.codec, n.codec);
    assert_eq!(again.event_pt, n.event_pt);
    // RFC 4568 §7.1.2: SRTP answered with the offer's tag and suite and our key.
    match (n.srtp, again.srtp) {
        (None, None) => {}
        (Some(o), Some(a)) => {
            assert_eq!((a.tag, a.keys.suite), (o.tag, o.keys.suite));
            assert_eq!(a.keys.theirs, terms.our_key);
        }
        (o, a) => panic!("SRTP in the offer {:?}, in the answer {:?}", o.is_some(), a.is_some()),
    }
});
