//! DTMF: RFC 4733 telephone-events in RTP, and digits carried in SIP INFO.

mod detector;
mod event;
mod info;

pub use detector::{DtmfDetector, EVENT_TIMEOUT};
pub use event::{event_char, parse_event, TelephoneEvent};
pub use info::parse_info;
