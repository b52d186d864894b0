//! The file's shape. Unknown keys are errors, so a typo is not silently
//! ignored; a value wrong on its own is refused while reading, by its type.
//! Values that a later check needs to point at are `Spanned`: the survey
//! settings, which are checked once a survey has inherited from [survey],
//! survey names, `default_survey`, the webhooks and list elements.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::types::{
    Bounded, DatabaseUrl, Dbfs, ListenAddr, MetricsAccess, PortRange, Positive, PublicIp,
    WebhookUrl,
};
use super::ConfigError;
use crate::sources::{HeaderName, SourceSpec};
use crate::survey::{CommentPolicy, ScaleKind};

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub sip_listen: Option<ListenAddr>,
    pub sip_tls_listen: Option<ListenAddr>,
    pub http_listen: Option<ListenAddr>,
    pub database_url: Option<DatabaseUrl>,
    pub prompts_dir: Option<PathBuf>,
    pub custom_prompts_dir: Option<PathBuf>,
    pub recordings_dir: Option<PathBuf>,
    pub rtp_ports: Option<PortRange>,
    pub public_ip: Option<PublicIp>,
    pub journal_path: Option<PathBuf>,
    #[serde(default)]
    pub sip: SipFile,
    #[serde(default)]
    pub media: MediaFile,
    #[serde(default)]
    pub dtmf: DtmfFile,
    /// Defaults shared by every survey.
    #[serde(default)]
    pub survey: SurveyFile,
    /// Named surveys; without any, one survey "smiley" built from [survey].
    /// The names are checked in `load` (see `FileText::survey_name_span`).
    #[serde(default)]
    pub surveys: BTreeMap<String, SurveyFile>,
    pub default_survey: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: HeadersFile,
    #[serde(default)]
    pub recordings: RecordingsFile,
    #[serde(default)]
    pub webhooks: Vec<WebhookFile>,
    #[serde(default)]
    pub webhook_delivery: WebhookDeliveryFile,
    #[serde(default)]
    pub api: ApiFile,
    #[serde(default)]
    pub sources: SourcesFile,
    #[serde(default)]
    pub database: DatabaseFile,
    #[serde(default)]
    pub tls: TlsFile,
}

/// [tls]: the certificate for sip_tls_listen and what peers must show.
/// The files are read (and checked) in `load`.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct TlsFile {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub verify_client: Option<bool>,
    pub client_names: Option<Vec<String>>,
    pub handshake_timeout_ms: Option<Bounded<100, 60_000>>,
}

/// [database]: bounds keep a typo from starving the daemon or the server.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct DatabaseFile {
    pub pool_size: Option<Bounded<1, 1000>>,
    pub statement_timeout_ms: Option<Bounded<100, 3_600_000>>,
}

/// Ordered lists of where agent, queue, language and the original call id
/// come from; each defaults to the matching [headers] name. Each source is
/// checked in `load`: toml gives no line for an element's own error.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SourcesFile {
    pub agent: Option<Vec<Spanned<SourceSpec>>>,
    pub queue: Option<Vec<Spanned<SourceSpec>>>,
    pub language: Option<Vec<Spanned<SourceSpec>>>,
    pub original_call_id: Option<Vec<Spanned<SourceSpec>>>,
}

/// [recordings]: when a comment ends, with limits that keep a typo from
/// cutting callers off or recording for an hour.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RecordingsFile {
    pub retention_days: Option<u32>,
    pub silence_ms: Option<Bounded<500, 60_000>>,
    pub max_secs: Option<Bounded<1, 600>>,
    pub silence_threshold_dbfs: Option<Dbfs>,
    pub no_speech_ms: Option<Bounded<1000, 60_000>>,
}

/// A [[webhooks]] receiver; the secret's length and duplicate URLs are
/// checked in `load`, with these spans.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub(super) struct WebhookFile {
    pub url: Spanned<WebhookUrl>,
    pub secret: Spanned<String>,
}

/// [webhook_delivery]: how receivers are reached. The CA file is read and
/// checked in `load`, with its span.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct WebhookDeliveryFile {
    pub ca_file: Option<Spanned<PathBuf>>,
    pub allow_private_networks: Option<bool>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ApiFile {
    pub metrics: Option<MetricsAccess>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SipFile {
    pub t1_ms: Option<Bounded<50, 10_000>>,
    /// Checked in `load`: toml gives no line for an element's own error.
    pub allowed_networks: Option<Vec<Spanned<String>>>,
    pub answer_delay_ms: Option<u64>,
    pub max_connections: Option<Bounded<1, 1_000_000>>,
    pub max_connections_per_source: Option<Bounded<1, 1_000_000>>,
    pub connection_idle_secs: Option<Bounded<1, 86_400>>,
    pub max_message_bytes: Option<Bounded<1024, 65_536>>,
    pub message_timeout_ms: Option<Bounded<100, 600_000>>,
    /// RFC 4028 asks for 90 at least; lower values are for tests.
    pub min_se_secs: Option<Bounded<1, 86_400>>,
    pub max_calls: Option<Bounded<1, 1_000_000>>,
    pub max_transactions: Option<Bounded<16, 10_000_000>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct MediaFile {
    pub symmetric_rtp: Option<bool>,
    pub media_timeout_secs: Option<Positive>,
    pub max_call_secs: Option<Positive>,
    pub srtp: Option<crate::media::srtp::SrtpMode>,
    pub srtp_allow_keys_in_cleartext: Option<bool>,
}

/// [dtmf]
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct DtmfFile {
    pub inband: Option<crate::media::InbandMode>,
}

/// [survey] or [surveys.NAME]. The kind and the comment policy are checked
/// while reading; the rest once the survey has inherited from [survey], so
/// that a value in [survey] that every survey overrides is not an error.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SurveyFile {
    pub kind: Option<ScaleKind>,
    pub digit_timeout_ms: Option<Spanned<u64>>,
    pub inter_digit_timeout_ms: Option<Spanned<u64>>,
    pub attempts: Option<Spanned<u64>>,
    pub happy_key: Option<Spanned<String>>,
    pub sad_key: Option<Spanned<String>>,
    pub language: Option<Spanned<String>>,
    pub comment: Option<CommentPolicy>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct HeadersFile {
    pub agent: Option<HeaderName>,
    pub queue: Option<HeaderName>,
    pub original_call_id: Option<HeaderName>,
    pub survey: Option<HeaderName>,
    pub language: Option<HeaderName>,
}

/// The file as read: its name as shown and its text, to turn a span into
/// a line. Without --config, an empty one.
#[derive(Default)]
pub(super) struct FileText {
    pub name: String,
    pub text: String,
}

impl FileText {
    pub fn read(path: &std::path::Path) -> Result<FileText, ConfigError> {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(FileText { name, text }),
            Err(e) => Err(ConfigError::File {
                file: name,
                message: e.to_string(),
            }),
        }
    }

    /// The 1-based line holding byte `at`.
    pub fn line_of(&self, at: usize) -> usize {
        let at = at.min(self.text.len());
        self.text.as_bytes()[..at]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// An error in the value written at `span`, named `key`.
    pub fn error_at(
        &self,
        span: std::ops::Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Line {
            file: self.name.clone(),
            line: self.line_of(span.start),
            key: key.into(),
            message: message.into(),
        }
    }

    /// Where the name of [surveys.NAME] is written. Read apart from the
    /// settings because serde's path to an error does not go through a
    /// `Spanned` key.
    pub fn survey_name_span(&self, name: &str) -> Option<std::ops::Range<usize>> {
        #[derive(Deserialize)]
        struct Names {
            #[serde(default)]
            surveys: BTreeMap<Spanned<String>, serde::de::IgnoredAny>,
        }
        let names: Names = toml::from_str(&self.text).ok()?;
        let span = names.surveys.keys().find(|k| k.get_ref() == name)?.span();
        Some(span)
    }

    /// The file's settings. toml gives the line of an error and serde (with
    /// serde_path_to_error) the key, e.g. `surveys.quick.attempts` or
    /// `sip.allowed_networks[1]`.
    pub fn parse(&self) -> Result<FileConfig, ConfigError> {
        let de = toml::Deserializer::new(&self.text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = dotted(e.path());
            let e = e.into_inner();
            // One line, so that a log line holds all of it.
            let message = e.message().trim().replace('\n', "; ");
            match (e.span(), key) {
                (Some(span), Some(key)) => self.error_at(span, key, message),
                // A syntax error comes before any key is read: show the line.
                (Some(span), None) => {
                    let line = self.line_of(span.start);
                    let written = self.text.lines().nth(line - 1).unwrap_or("").trim();
                    ConfigError::File {
                        file: self.name.clone(),
                        message: format!("line {line}: {message}: {written}"),
                    }
                }
                (None, Some(key)) => ConfigError::File {
                    file: self.name.clone(),
                    message: format!("{key}: {message}"),
                },
                (None, None) => ConfigError::File {
                    file: self.name.clone(),
                    message,
                },
            }
        })
    }
}

/// "surveys.quick.attempts", "sources.agent[1]": serde's path without the
/// fields toml uses inside a `Spanned`.
fn dotted(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } if key.starts_with("$__") => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    (!out.is_empty()).then_some(out)
}
