//! Configuration: built-in defaults, then an optional TOML file (--config),
//! then environment variables and flags. Every top-level key has a flag and a
//! SMILEYD_* variable; nested tables live in the file only.
//!
//! - `cli`: the command line and the overrides it carries.
//! - `types`: settings that check themselves while the file is read, so
//!   that toml and serde name the file, line and key of a bad value.
//! - `file`: the file's shape.
//! - `load`: everything resolved into `Config`, with the checks that need
//!   more than one value.

mod cli;
mod file;
mod load;
mod types;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

use crate::sources::Source;

pub use cli::{Cli, Command, Overrides, TokenCommand};
pub use types::MetricsAccess;

/// sip.max_transactions by default: an INVITE's transaction lives 64·T1
/// (32 s) after its 2xx (RFC 6026 Timer L), so this holds 1,500 new calls a
/// second with their BYEs and INFOs, in a few tens of MiB at most.
pub const DEFAULT_MAX_TRANSACTIONS: usize = 200_000;

pub const DEFAULT_ALLOWED: &[&str] = &[
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
];

/// A webhook receiver from the configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: String,
}

/// [webhook_delivery]: how webhook receivers are reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// PEM certificates trusted for https:// receivers besides the
    /// built-in (Mozilla) roots: a private CA.
    pub ca_file: Option<PathBuf>,
    /// Receivers on loopback or private networks (RFC 1918, RFC 6598,
    /// unique local IPv6) are allowed; link-local never is.
    pub allow_private_networks: bool,
}

/// One named survey, resolved.
#[derive(Clone, Debug)]
pub struct SurveyConfig {
    pub name: String,
    pub settings: crate::survey::SurveySettings,
    pub language: String,
}

/// The resolved configuration the daemon runs with.
#[derive(Clone, Debug)]
pub struct Config {
    pub sip_listen: SocketAddr,
    /// SIP over TLS; None: off.
    pub sip_tls_listen: Option<SocketAddr>,
    /// The certificate and peer checks for `sip_tls_listen` ([tls]).
    pub tls: Option<crate::sip::tls::TlsSettings>,
    pub http_listen: SocketAddr,
    pub database_url: String,
    pub prompts_dir: PathBuf,
    /// Uploaded prompts, same layout as `prompts_dir`, which they override.
    pub custom_prompts_dir: PathBuf,
    pub recordings_dir: PathBuf,
    pub rtp_ports: (u16, u16),
    pub public_ip: Option<IpAddr>,
    pub journal_path: PathBuf,
    pub t1: Duration,
    pub allowed_networks: Vec<IpNet>,
    pub answer_delay: Duration,
    /// Bounds on TCP and TLS connections ([sip]).
    pub connections: crate::sip::connection::ConnectionLimits,
    /// Our Min-SE (RFC 4028 §5), in seconds.
    pub min_se_secs: u32,
    /// Calls at once (sip.max_calls; default: one per even RTP port).
    pub max_calls: usize,
    /// SIP server transactions at once (sip.max_transactions).
    pub max_transactions: usize,
    pub symmetric_rtp: bool,
    /// When calls use SRTP (media.srtp).
    pub srtp: crate::media::srtp::SrtpMode,
    /// SDES keys taken over UDP and TCP as well as TLS
    /// (media.srtp_allow_keys_in_cleartext): anyone on the path can read
    /// them. For tests and benchmarks on loopback.
    pub srtp_keys_in_cleartext: bool,
    pub media_timeout: Duration,
    pub max_call: Duration,
    /// When the caller's audio is searched for key tones ([dtmf] inband).
    pub dtmf_inband: crate::media::InbandMode,
    /// The surveys by name; a call picks one by Request-URI user, the
    /// X-Survey header or `default_survey`.
    pub surveys: Vec<SurveyConfig>,
    pub default_survey: String,
    pub survey_header: String,
    pub agent_sources: Vec<Source>,
    pub queue_sources: Vec<Source>,
    pub language_sources: Vec<Source>,
    pub original_call_id_sources: Vec<Source>,
    /// Comment audio older than this many days is deleted (0: kept forever).
    pub retention_days: u32,
    /// Receivers of signed webhook POSTs.
    pub webhooks: Vec<WebhookConfig>,
    /// How receivers are reached ([webhook_delivery]).
    pub webhook_delivery: WebhookDelivery,
    /// Who may read /metrics.
    pub metrics: MetricsAccess,
    /// How comments are recorded ([recordings]).
    pub recording: crate::media::RecordSettings,
    /// Pool size and statement timeout ([database]).
    pub database: crate::store::ConnectOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    /// A value written in the file that is not allowed.
    #[error("{file}: line {line}: {key}: {message}")]
    Line {
        file: String,
        line: usize,
        key: String,
        message: String,
    },
    /// A value from a flag or variable (`key` names it), or a built-in one.
    #[error("{key}: {message}")]
    Key { key: String, message: String },
}

impl Config {
    /// The survey for a call: the Request-URI user part when it names one,
    /// else the X-Survey header, else the default.
    pub fn survey_for(&self, uri_user: Option<&str>, header: Option<&str>) -> &SurveyConfig {
        let find = |n: &str| {
            self.surveys
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(n.trim()))
        };
        uri_user
            .and_then(find)
            .or_else(|| header.and_then(find))
            .or_else(|| find(&self.default_survey))
            .unwrap_or(&self.surveys[0])
    }
}

#[cfg(test)]
mod tests;
