//! Test harness for smileyd: an independent SIP UA (UDP and TCP), an RTP
//! endpoint with RFC 4733 events, a daemon launcher and an API client.
//!
//! Nothing here uses the daemon's own code: the point is a peer that does
//! not share its assumptions.
#![allow(dead_code, unused_imports)]

pub mod api;
pub mod call;
pub mod daemon;
pub mod g711;
pub mod pki;
pub mod rtp;
pub mod sdp;
pub mod sip;
pub mod srtp;
pub mod tones;

pub use api::{num, Api};
pub use call::{agent, build_invite, response_problems, Call, InviteOpts, OfferKind, UaStyle};
pub use daemon::{Daemon, Options, Prompts, Settings};
pub use rtp::{DtmfStyle, RtpEndpoint, SilentAs, TsQuirk};
pub use sdp::{fmt, fmt_fmtp, Direction, Offer, Sdp};
pub use sip::{Dialog, Incoming, Request, SipMessage, SipUa};
pub use tones::{Prompt, PromptLengths};

use std::time::Duration;

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}
