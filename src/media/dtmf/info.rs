//! Digits sent in SIP INFO bodies, for peers that do not use RFC 4733.

/// Extracts the key from an INFO request body.
///
/// Two de-facto formats exist: `application/dtmf-relay` with a `Signal=`
/// line, and `application/dtmf` with the bare key. Neither is standardised,
/// so parsing is lenient about case, spacing and line endings.
pub fn parse_info(content_type: &str, body: &str) -> Option<char> {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/dtmf-relay") {
        body.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            if key.trim().eq_ignore_ascii_case("signal") {
                signal_char(value)
            } else {
                None
            }
        })
    } else if mime.eq_ignore_ascii_case("application/dtmf") {
        signal_char(body)
    } else {
        None
    }
}

/// A key written as itself, or as its RFC 4733 event number (10 = '*', 11 = '#').
fn signal_char(value: &str) -> Option<char> {
    let value = value.trim();
    let mut chars = value.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return match c {
            '0'..='9' | '*' | '#' => Some(c),
            'A'..='D' | 'a'..='d' => Some(c.to_ascii_uppercase()),
            _ => None,
        };
    }
    match value.parse::<u8>().ok()? {
        n @ 10..=15 => super::event_char(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_relay() {
        let ct = "application/dtmf-relay";
        assert_eq!(parse_info(ct, "Signal=2\r\nDuration=250\r\n"), Some('2'));
        assert_eq!(parse_info(ct, "Signal= 5\nDuration= 160\n"), Some('5'));
        assert_eq!(parse_info(ct, "signal = 1"), Some('1'));
        assert_eq!(parse_info(ct, "Duration=250\r\nSIGNAL=#\r\n"), Some('#'));
        assert_eq!(parse_info(ct, "Signal=*"), Some('*'));
        assert_eq!(parse_info(ct, "Signal=10"), Some('*'));
        assert_eq!(parse_info(ct, "Signal=11\r\n"), Some('#'));
        assert_eq!(parse_info(ct, "Signal=d"), Some('D'));
        assert_eq!(
            parse_info("Application/DTMF-Relay; charset=utf-8", "Signal=9"),
            Some('9')
        );
        assert_eq!(parse_info(ct, "Signal=16"), None);
        assert_eq!(parse_info(ct, "Signal="), None);
        assert_eq!(parse_info(ct, "Signal=12345"), None);
        assert_eq!(parse_info(ct, "Duration=250"), None);
        assert_eq!(parse_info(ct, ""), None);
    }

    #[test]
    fn dtmf_bare() {
        let ct = "application/dtmf";
        assert_eq!(parse_info(ct, "1"), Some('1'));
        assert_eq!(parse_info(ct, " 2\r\n"), Some('2'));
        assert_eq!(parse_info(ct, "10"), Some('*'));
        assert_eq!(parse_info(ct, "11"), Some('#'));
        assert_eq!(parse_info("APPLICATION/DTMF ;x=y", "#"), Some('#'));
        assert_eq!(parse_info(ct, "x"), None);
        assert_eq!(parse_info(ct, ""), None);
    }

    #[test]
    fn other_types_ignored() {
        assert_eq!(parse_info("application/sdp", "Signal=1"), None);
        assert_eq!(parse_info("text/plain", "1"), None);
        assert_eq!(parse_info("", "1"), None);
        assert_eq!(parse_info("application/dtmf-relayx", "Signal=1"), None);
    }
}
