//! What a request may demand of us before its method is looked at:
//! extensions it requires (RFC 3261 §8.2.2.3) and the body types it
//! accepts in the response (§8.2.3). Both checks apply to every method we
//! implement, not to ACK or CANCEL (they cannot be refused, §8.2.2.3).

use super::message::Message;

/// Option tags we implement (RFC 3261 §19.2): `100rel` (RFC 3262, see
/// `prack`) and `timer` (RFC 4028, see `session_timer`). Anything else in
/// Require is refused with 420.
pub const KNOWN_EXTENSIONS: &[&str] = &["100rel", "timer"];

/// The body type our responses carry (an SDP offer or answer).
const SDP: (&str, &str) = ("application", "sdp");

/// Why a request is refused before its method handler runs.
#[derive(Debug, PartialEq, Eq)]
pub enum Demand {
    /// §8.2.2.3: 420 Bad Extension, with these tags in Unsupported.
    Unsupported(Vec<String>),
    /// §8.2.3, §21.4.7: the response needs SDP and Accept excludes it: 406.
    NotAcceptable,
}

/// The option tags in Require we do not implement.
pub fn unsupported(msg: &Message) -> Vec<String> {
    msg.header_values("Require")
        .into_iter()
        .filter(|opt| !KNOWN_EXTENSIONS.iter().any(|k| k.eq_ignore_ascii_case(opt)))
        .map(str::to_string)
        .collect()
}

/// Whether the request's Accept lets our response carry SDP. No Accept
/// means application/sdp (RFC 3261 §20.1); an empty one accepts nothing;
/// a media range with q=0 is excluded (RFC 2616 §14.1, as §20.1 says).
pub fn accepts_sdp(msg: &Message) -> bool {
    if msg.header("Accept").is_none() {
        return true;
    }
    msg.header_values("Accept").into_iter().any(|range| {
        let mut parts = range.split(';');
        let mime = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            k.trim().eq_ignore_ascii_case("q") && v.trim().parse::<f32>().ok() == Some(0.0)
        });
        let (ty, sub) = mime.split_once('/').unwrap_or((mime, ""));
        let ty = ty.trim();
        let sub = sub.trim();
        let matches = (ty == "*" && sub == "*")
            || (ty.eq_ignore_ascii_case(SDP.0) && (sub == "*" || sub.eq_ignore_ascii_case(SDP.1)));
        matches && !refused
    })
}

/// The checks of §8.2.2.3 and §8.2.3 for a request of a method we
/// implement. `answer_has_sdp`: our 2xx to it would carry SDP (INVITE, and
/// UPDATE with an offer).
pub fn check(msg: &Message, answer_has_sdp: bool) -> Result<(), Demand> {
    let unknown = unsupported(msg);
    if !unknown.is_empty() {
        return Err(Demand::Unsupported(unknown));
    }
    if answer_has_sdp && !accepts_sdp(msg) {
        return Err(Demand::NotAcceptable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::parse;

    fn msg(extra: &str) -> Message {
        let raw = format!("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{extra}Content-Length: 0\r\n\r\n");
        parse(raw.as_bytes(), true).unwrap()
    }

    #[test]
    fn require_names_only_the_unknown_tags() {
        assert_eq!(check(&msg("Require: 100rel, timer\r\n"), true), Ok(()));
        assert_eq!(
            check(&msg("Require: 100rel, foo\r\nRequire: Bar\r\n"), true),
            Err(Demand::Unsupported(vec!["foo".into(), "Bar".into()]))
        );
    }

    #[test]
    fn accept_ranges_and_q_zero() {
        for ok in [
            "",
            "Accept: application/sdp\r\n",
            "Accept: text/plain, application/*\r\n",
            "Accept: */*;q=0.1\r\n",
            "Accept: Application/SDP;level=1\r\n",
        ] {
            assert!(accepts_sdp(&msg(ok)), "{ok}");
        }
        for bad in [
            "Accept: text/plain\r\n",
            "Accept:\r\n",
            "Accept: application/sdp;q=0\r\n",
            "Accept: application/sdpx\r\n",
        ] {
            assert!(!accepts_sdp(&msg(bad)), "{bad}");
        }
        assert_eq!(
            check(&msg("Accept: text/plain\r\n"), true),
            Err(Demand::NotAcceptable)
        );
        assert_eq!(check(&msg("Accept: text/plain\r\n"), false), Ok(()));
    }
}
