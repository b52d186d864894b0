//! SIP in layers: transport (UDP/TCP framing), message (parsing real-world
//! shapes), build (responses and requests), transaction (retransmissions),
//! dialog (per-call state) and endpoint (the UAS that ties them together).

pub mod build;
pub mod dialog;
pub mod endpoint;
pub mod message;
pub mod sdp;
pub mod stats;
pub mod timers;
pub mod transaction;
pub mod transport;

pub use dialog::{CallEvent, DialogKey, IncomingCall};
pub use endpoint::{Endpoint, SipSettings};
pub use transport::Transport;
