//! Ways in for the fuzz targets (fuzz/, FUZZING.md) to code that is not
//! otherwise public: the TCP framer and the configuration loader without a
//! file on disk. Nothing here is for use by the daemon or other crates; the
//! functions only forward, so the targets exercise the code calls run.

use bytes::Bytes;

use crate::config::{Config, ConfigError, Overrides};
use crate::sip::connection::{next_frame, Frame};
use crate::sip::message::MAX_MESSAGE;

/// What the TCP framer made of the bytes buffered so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpFrame {
    /// One whole message, taken off the front of the buffer.
    Message(Bytes),
    /// A CRLF keep-alive (RFC 5626 §3.5.1) to answer.
    Ping,
    /// More bytes are needed.
    Incomplete,
    /// A message over the size limit; the daemon closes the connection.
    TooLarge,
    /// No usable Content-Length: the header section at fault; the daemon
    /// answers 400 if it can and closes the connection.
    Invalid(Bytes),
}

/// One step of the TCP framer over a connection's buffer (RFC 3261 §18.3),
/// with the default message size limit.
pub fn tcp_next_frame(buf: &mut Vec<u8>) -> TcpFrame {
    match next_frame(buf, MAX_MESSAGE) {
        Frame::Message(m) => TcpFrame::Message(m),
        Frame::Ping => TcpFrame::Ping,
        Frame::Incomplete => TcpFrame::Incomplete,
        Frame::TooLarge => TcpFrame::TooLarge,
        Frame::Invalid(head) => TcpFrame::Invalid(head),
    }
}

/// The configuration a file with this text gives, with no flags or
/// environment variables set.
pub fn config_from_text(text: &str) -> Result<Config, ConfigError> {
    Config::load_text(&Overrides::default(), "fuzz.toml", text)
}
