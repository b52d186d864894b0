//! The media plane: RTP in and out, G.711, prompts and DTMF.

pub mod dtmf;
pub mod g711;
pub mod jitter;
#[cfg(test)]
mod jitter_props;
pub mod latch;
mod pacer;
pub mod ports;
pub mod prompt;
pub mod recorder;
pub mod rtp;
pub mod session;
pub mod srtp;
pub mod stats;
pub mod vad;

pub use dtmf::{
    event_char, parse_event, parse_info, DtmfDetector, InbandMode, TelephoneEvent, EVENT_TIMEOUT,
};
pub use g711::{alaw_decode, alaw_encode, ulaw_decode, ulaw_encode, Codec};
pub use ports::{PortAllocator, PortLease};
pub use prompt::{Prompt, PromptError, PromptSet, REQUIRED};
pub use recorder::{
    recover_partial, RecordRequest, RecordSettings, RecordingOutcome, RecordingResult, Recovered,
};
pub use rtp::{RtpPacket, RtpSender};
pub use session::{spawn, MediaCommand, MediaConfig, MediaEvent, MediaHandle};
pub use stats::MediaStats;
