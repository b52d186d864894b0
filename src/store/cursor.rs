//! Keyset pagination cursor. It carries the sort key of the last item shown
//! (created_at, id) rather than an offset, so pages stay stable while new
//! ratings keep arriving at the head of the list.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// Position after which the next page starts. Opaque to clients: 48 hex
/// digits encoding 8 bytes of milliseconds (big-endian) and the 16-byte id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at_ms: i64,
    pub id: Uuid,
}

/// A cursor string that we did not produce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid cursor")]
pub struct InvalidCursor;

const LEN: usize = 48;

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}{}", self.created_at_ms, self.id.simple())
    }
}

impl FromStr for Cursor {
    type Err = InvalidCursor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != LEN || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(InvalidCursor);
        }
        let (ms, id) = s.split_at(16);
        let ms = u64::from_str_radix(ms, 16).map_err(|_| InvalidCursor)?;
        let created_at_ms = i64::try_from(ms).map_err(|_| InvalidCursor)?;
        let id = Uuid::try_parse(id).map_err(|_| InvalidCursor)?;
        Ok(Cursor { created_at_ms, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let c = Cursor {
            created_at_ms: 1_732_364_400_123,
            id: Uuid::now_v7(),
        };
        let s = c.to_string();
        assert_eq!(s.len(), LEN);
        assert_eq!(s.parse::<Cursor>(), Ok(c));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "xyz",
            &"0".repeat(47),
            &"0".repeat(49),
            &"g".repeat(48),
            &"A".repeat(48),
            // Negative milliseconds do not come from us.
            &format!("ffffffffffffffff{}", Uuid::nil().simple()),
        ] {
            assert_eq!(bad.parse::<Cursor>(), Err(InvalidCursor), "{bad:?}");
        }
    }
}
