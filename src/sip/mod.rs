//! SIP for a user agent server, in layers, each in its own file:
//!
//! - `transport`: UDP and TCP on one port (RFC 3261 §18); `connection`:
//!   stream framing, CRLF keep-alives and the bounds on each connection.
//! - `message`: the tolerant parser real peers need (compact and folded
//!   headers, bare LF, odd spacing); it keeps the start line and header
//!   values as text. `headers` then checks a request once and parses the
//!   headers every layer needs (top Via, Call-ID, tags, CSeq).
//! - `extensions`: what a request demands (Require, Accept) before its
//!   method is handled (RFC 3261 §8.2.2.3, §8.2.3).
//! - `build`: the responses and requests smileyd sends, rendered by rsip.
//! - `transaction`: server and client transactions with their timers
//!   (`timers`), sending again through the one `retransmit`ter (§17).
//! - `dialog`: dialog state and the 2xx sent until the ACK (§12, §13.3.1.4);
//!   `sdp`: offer/answer for one audio stream.
//! - `endpoint`: the router on top; `invite` takes or refuses new calls and
//!   CANCEL, `in_dialog` handles requests within a call and our BYE;
//!   `prack` sends the ringing reliably and takes PRACK (RFC 3262);
//!   `session_timer` agrees on and keeps RFC 4028 session timers.

pub mod build;
pub mod connection;
pub mod dialog;
pub mod endpoint;
pub mod extensions;
pub mod headers;
mod in_dialog;
mod invite;
pub mod message;
pub mod prack;
mod reconnect;
pub mod retransmit;
pub mod sdes;
pub mod sdp;
pub mod session_timer;
pub mod timers;
pub mod tls;
pub mod transaction;
pub mod transport;

pub use dialog::{CallEvent, DialogKey, IncomingCall};
pub use endpoint::{Endpoint, SipSettings};
pub use transport::Transport;
