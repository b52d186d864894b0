//! The dialog a call lives in (RFC 3261 §12), seen from the UAS side, and
//! the events it passes to the call task.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, Notify};

use super::message::Message;
use super::sdp::Negotiated;
use super::transport::Flow;
use crate::media::ports::PortLease;
use crate::model::Digit;

/// RFC 3261 §12: a dialog is identified by Call-ID and both tags; as the
/// UAS our local tag is unique, so Call-ID plus our tag is enough.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogKey {
    pub call_id: String,
    pub local_tag: String,
}

/// What the SIP side tells the call task.
#[derive(Debug, Clone)]
pub enum CallEvent {
    /// The 200 was acknowledged; with the answer when the INVITE had no offer.
    Confirmed(Option<Negotiated>),
    /// No ACK within 64·T1 (RFC 3261 §13.3.1.4): the call must end.
    AckTimeout,
    /// A key sent as SIP INFO.
    Digit(Digit),
    /// A re-INVITE or UPDATE changed the media (address, codec, hold).
    MediaChanged(Negotiated),
    /// The caller sent BYE.
    RemoteHangup,
    /// The caller sent CANCEL before we answered.
    Cancelled,
}

/// Dialog state kept by the endpoint.
pub struct Dialog {
    pub key: DialogKey,
    pub flow: Flow,
    /// Our address as written in Via/Contact/SDP.
    pub local_host: String,
    /// The To header as sent in our responses (with our tag): our From in requests.
    pub local_party: String,
    /// The caller's From header: our To in requests.
    pub remote_party: String,
    /// Remote target: the caller's Contact URI (§12.1.1).
    pub remote_target: String,
    /// Record-Route values in order (§12.1.1 for the UAS).
    pub route_set: Vec<String>,
    pub contact: String,
    pub remote_cseq: u32,
    pub local_cseq: u32,
    /// Our current SDP and its o= version (RFC 3264 §8: bumped only on change).
    pub local_sdp: String,
    pub sdp_version: u64,
    pub session_id: u64,
    pub local_port: u16,
    pub local_ip: std::net::IpAddr,
    pub negotiated: Option<Negotiated>,
    /// Our offer went in the 200; the answer is due in the ACK.
    pub awaiting_answer: bool,
    /// The 2xx being retransmitted, until ACK (§13.3.1.4).
    pub pending_2xx: Option<(u32, Bytes)>,
    pub acked: Arc<Notify>,
    pub answered: bool,
    pub events: mpsc::Sender<CallEvent>,
}

/// What a new call brings to the call task.
pub struct IncomingCall {
    pub key: DialogKey,
    pub invite: Message,
    pub source: std::net::SocketAddr,
    pub negotiated: Option<Negotiated>,
    pub socket: std::net::UdpSocket,
    pub lease: PortLease,
    pub local_port: u16,
    pub events: mpsc::Receiver<CallEvent>,
}
