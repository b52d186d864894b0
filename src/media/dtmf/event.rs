//! The RFC 4733 telephone-event payload.

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code; 0-15 are the DTMF keys (RFC 4733 §3.2).
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0, 0-63.
    pub volume: u8,
    /// Length of the event so far, in RTP timestamp units.
    pub duration: u16,
}

/// Parses the first event of a payload; `None` if it is too short.
///
/// RFC 4733 §2.3: event (8) | E (1) R (1) volume (6) | duration (16).
/// Further 4-byte blocks (RFC 4733 §2.5.1.5 packing) are ignored; the first
/// block is the current event.
pub fn parse_event(payload: &[u8]) -> Option<TelephoneEvent> {
    let b = payload.get(..4)?;
    Some(TelephoneEvent {
        event: b[0],
        end: b[1] & 0x80 != 0,
        volume: b[1] & 0x3F,
        duration: u16::from_be_bytes([b[2], b[3]]),
    })
}

/// The key for a DTMF event code (RFC 4733 §3.2, table 3).
pub fn event_char(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_payload() {
        let ev = parse_event(&[5, 0x8A, 0x03, 0x20]).expect("valid");
        assert_eq!(
            ev,
            TelephoneEvent {
                event: 5,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        let ev = parse_event(&[11, 0x4A, 0, 160, 9, 9]).expect("valid");
        assert!(!ev.end, "R bit is not the E bit");
        assert_eq!(ev.volume, 10);
        assert!(parse_event(&[1, 2, 3]).is_none());
        assert!(parse_event(&[]).is_none());
    }

    #[test]
    fn maps_keys() {
        let all: String = (0..16).filter_map(event_char).collect();
        assert_eq!(all, "0123456789*#ABCD");
        assert_eq!(event_char(16), None);
        assert_eq!(event_char(255), None);
    }
}
