//! DTMF: RFC 4733 telephone-events in RTP, digits carried in SIP INFO, and
//! key tones in the caller's audio.

mod detector;
mod event;
mod inband;
mod info;
mod listener;
mod merge;

pub use detector::{DtmfDetector, EVENT_TIMEOUT};
pub use event::{event_char, parse_event, TelephoneEvent};
pub use inband::{InbandDetector, InbandMode, ToneKey};
pub use info::parse_info;
pub use listener::{HeardKey, ToneListener};
pub use merge::{KeyMerge, KeyPath};
