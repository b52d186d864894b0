//! Domain types shared by configuration, the call path, the store and the API.

use serde::{Deserialize, Serialize};

pub mod webhook_destination;
pub mod webhook_url;

/// Letters, digits, `-` and `_`: the names of headers, surveys and
/// languages.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The scale a survey answers on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleKind {
    /// Happy (score 1) or sad (score 0).
    Smiley,
    /// 1-5.
    Csat,
    /// 0-10.
    Nps,
}

impl ScaleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScaleKind::Smiley => "smiley",
            ScaleKind::Csat => "csat",
            ScaleKind::Nps => "nps",
        }
    }

    /// The word stored and shown for a score: happy/sad, or the score.
    pub fn label(self, score: u8) -> String {
        match (self, score) {
            (ScaleKind::Smiley, 1) => "happy".into(),
            (ScaleKind::Smiley, _) => "sad".into(),
            (_, n) => n.to_string(),
        }
    }
}

/// How a digit reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DtmfSource {
    /// RFC 4733 telephone-event in the RTP stream.
    Rfc4733,
    /// SIP INFO (application/dtmf-relay or application/dtmf).
    Info,
    /// A key tone in the caller's audio.
    Inband,
}

impl DtmfSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DtmfSource::Rfc4733 => "rfc4733",
            DtmfSource::Info => "info",
            DtmfSource::Inband => "inband",
        }
    }
}

/// One key press, whatever way it came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digit {
    /// '0'-'9', '*', '#', 'A'-'D'.
    pub key: char,
    pub source: DtmfSource,
}

/// A smiley rating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    Happy,
    Sad,
}

impl Rating {
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::Happy => "happy",
            Rating::Sad => "sad",
        }
    }
}

/// How a call that entered the survey ended; every call leaves one, so that
/// response rates can be computed honestly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Rated,
    NoInput,
    HungUp,
    Failed,
    /// Neither RTP nor RTCP came from the caller for longer than the media
    /// timeout and the survey's own longest path: the caller's side is gone
    /// without a BYE.
    MediaTimeout,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Rated => "rated",
            CallOutcome::NoInput => "no_input",
            CallOutcome::HungUp => "hung_up",
            CallOutcome::Failed => "failed",
            CallOutcome::MediaTimeout => "media_timeout",
        }
    }
}

/// How a recorded comment ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentStatus {
    /// The caller pressed '#'.
    Dtmf,
    /// Quiet for the configured time after speech.
    Silence,
    /// The maximum length was reached.
    MaxLength,
    /// The caller hung up (what was said is kept).
    Hangup,
    /// Recording failed (disk, directory); the rating is kept regardless.
    Error,
}

impl CommentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CommentStatus::Dtmf => "dtmf",
            CommentStatus::Silence => "silence",
            CommentStatus::MaxLength => "max_length",
            CommentStatus::Hangup => "hangup",
            CommentStatus::Error => "error",
        }
    }
}
