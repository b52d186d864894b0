//! Configuration: built-in defaults, then an optional TOML file (--config),
//! then environment variables and flags. Every top-level key has a flag and a
//! SMILEYD_* variable; nested tables live in the file only.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;
use serde::Deserialize;

use crate::sources::{Source, SourceSpec};
use crate::survey::{CommentPolicy, ScaleKind};

#[derive(Parser, Debug)]
#[command(
    name = "smileyd",
    version,
    about = "Post-call satisfaction surveys over SIP"
)]
pub struct Cli {
    #[command(flatten)]
    pub overrides: Overrides,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check the configuration and exit.
    CheckConfig,
    /// Manage API tokens (in the configured database).
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `smileyd token …`
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// read (apps, wallboards) or admin (also deletes comments, manages webhooks).
        #[arg(long, value_parser = ["read", "admin"])]
        scope: String,
        /// A name to recognise it by, e.g. wallboard.
        #[arg(long)]
        name: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke the token(s) with this id or name.
    Revoke {
        /// Token id or name.
        id_or_name: String,
    },
}

/// Flags that override the file; each also reads SMILEYD_<NAME>.
#[derive(Args, Debug, Default)]
pub struct Overrides {
    /// TOML configuration file.
    #[arg(long, env = "SMILEYD_CONFIG")]
    pub config: Option<PathBuf>,
    /// SIP address, UDP and TCP (default 0.0.0.0:5060).
    #[arg(long, env = "SMILEYD_SIP_LISTEN")]
    pub sip_listen: Option<String>,
    /// HTTP API address (default 127.0.0.1:8080).
    #[arg(long, env = "SMILEYD_HTTP_LISTEN")]
    pub http_listen: Option<String>,
    /// sqlite://FILE (default sqlite://smileyd.db) or postgres://…
    #[arg(long, env = "SMILEYD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Directory with <language>/<prompt>.wav (default prompts).
    #[arg(long, env = "SMILEYD_PROMPTS_DIR")]
    pub prompts_dir: Option<PathBuf>,
    /// Writable directory for prompts uploaded through the API, layered over prompts_dir (default prompts-custom).
    #[arg(long, env = "SMILEYD_CUSTOM_PROMPTS_DIR")]
    pub custom_prompts_dir: Option<PathBuf>,
    /// Directory for recorded comments (default recordings).
    #[arg(long, env = "SMILEYD_RECORDINGS_DIR")]
    pub recordings_dir: Option<PathBuf>,
    /// RTP port range, FIRST-LAST (default 10000-20000).
    #[arg(long, env = "SMILEYD_RTP_PORTS")]
    pub rtp_ports: Option<String>,
    /// Address written into SDP and Contact (default: the local address the INVITE arrived on).
    #[arg(long, env = "SMILEYD_PUBLIC_IP")]
    pub public_ip: Option<String>,
    /// Local journal for ratings while the database is away (default smileyd.journal).
    #[arg(long, env = "SMILEYD_JOURNAL_PATH")]
    pub journal_path: Option<PathBuf>,
}

/// The file's shape. Unknown keys are errors, so a typo is not silently ignored.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    sip_listen: Option<String>,
    http_listen: Option<String>,
    database_url: Option<String>,
    prompts_dir: Option<PathBuf>,
    custom_prompts_dir: Option<PathBuf>,
    recordings_dir: Option<PathBuf>,
    rtp_ports: Option<String>,
    public_ip: Option<String>,
    journal_path: Option<PathBuf>,
    #[serde(default)]
    sip: SipFile,
    #[serde(default)]
    media: MediaFile,
    /// Defaults shared by every survey.
    #[serde(default)]
    survey: SurveyFile,
    /// Named surveys; without any, one survey "smiley" built from [survey].
    #[serde(default)]
    surveys: std::collections::BTreeMap<String, SurveyFile>,
    default_survey: Option<String>,
    #[serde(default)]
    headers: HeadersFile,
    #[serde(default)]
    recordings: RecordingsFile,
    #[serde(default)]
    webhooks: Vec<WebhookFile>,
    #[serde(default)]
    api: ApiFile,
    #[serde(default)]
    sources: SourcesFile,
    #[serde(default)]
    database: DatabaseFile,
}

/// [database]: the connection pool.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct DatabaseFile {
    pool_size: Option<u32>,
    statement_timeout_ms: Option<u64>,
}

/// Ordered lists of where agent, queue, language and the original call id
/// come from; each defaults to the matching [headers] name.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct SourcesFile {
    agent: Option<Vec<SourceSpec>>,
    queue: Option<Vec<SourceSpec>>,
    language: Option<Vec<SourceSpec>>,
    original_call_id: Option<Vec<SourceSpec>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct RecordingsFile {
    retention_days: Option<u32>,
    silence_ms: Option<u64>,
    max_secs: Option<u64>,
    silence_threshold_dbfs: Option<f64>,
    no_speech_ms: Option<u64>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    url: String,
    secret: String,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct ApiFile {
    metrics: Option<String>,
}

/// A webhook receiver from the configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: String,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct SipFile {
    t1_ms: Option<u64>,
    allowed_networks: Option<Vec<String>>,
    answer_delay_ms: Option<u64>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct MediaFile {
    symmetric_rtp: Option<bool>,
    media_timeout_secs: Option<u64>,
    max_call_secs: Option<u64>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
struct SurveyFile {
    kind: Option<ScaleKind>,
    digit_timeout_ms: Option<u64>,
    inter_digit_timeout_ms: Option<u64>,
    attempts: Option<u32>,
    happy_key: Option<String>,
    sad_key: Option<String>,
    language: Option<String>,
    comment: Option<CommentPolicy>,
}

impl SurveyFile {
    /// Fills what this survey leaves out from the shared [survey] table.
    fn or(&self, base: &SurveyFile) -> SurveyFile {
        SurveyFile {
            kind: self.kind.or(base.kind),
            digit_timeout_ms: self.digit_timeout_ms.or(base.digit_timeout_ms),
            inter_digit_timeout_ms: self.inter_digit_timeout_ms.or(base.inter_digit_timeout_ms),
            attempts: self.attempts.or(base.attempts),
            happy_key: self.happy_key.clone().or(base.happy_key.clone()),
            sad_key: self.sad_key.clone().or(base.sad_key.clone()),
            language: self.language.clone().or(base.language.clone()),
            comment: self.comment.or(base.comment),
        }
    }
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct HeadersFile {
    agent: Option<String>,
    queue: Option<String>,
    original_call_id: Option<String>,
    survey: Option<String>,
    language: Option<String>,
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
    pub symmetric_rtp: bool,
    pub media_timeout: Duration,
    pub max_call: Duration,
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
    /// Who may read /metrics.
    pub metrics: crate::api::MetricsAccess,
    /// How comments are recorded ([recordings]).
    pub recording: crate::media::RecordSettings,
    /// Pool size and statement timeout ([database]).
    pub database: crate::store::ConnectOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{key}: {message}")]
    Key { key: String, message: String },
}

fn key_err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.to_string(),
        message: message.into(),
    }
}

pub const DEFAULT_ALLOWED: &[&str] = &[
    "127.0.0.0/8",
    "::1/128",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
];

fn parse_addr(key: &str, v: &str) -> Result<SocketAddr, ConfigError> {
    v.parse().map_err(|_| {
        key_err(
            key,
            format!("'{v}' is not an address:port (e.g. 0.0.0.0:5060)"),
        )
    })
}

fn parse_keys(key: &str, v: &str) -> Result<Vec<char>, ConfigError> {
    let keys: Vec<char> = v
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ',')
        .collect();
    if keys.is_empty() || keys.iter().any(|c| !"0123456789*#ABCD".contains(*c)) {
        return Err(key_err(
            key,
            format!("'{v}' must be DTMF keys (0-9, *, #, A-D)"),
        ));
    }
    Ok(keys)
}

fn parse_range(v: &str) -> Result<(u16, u16), ConfigError> {
    let err = || {
        key_err(
            "rtp_ports",
            format!("'{v}' must be FIRST-LAST with 1024 ≤ FIRST < LAST ≤ 65535"),
        )
    };
    let (a, b) = v.split_once('-').ok_or_else(err)?;
    let (a, b): (u16, u16) = (
        a.trim().parse().map_err(|_| err())?,
        b.trim().parse().map_err(|_| err())?,
    );
    if a < 1024 || b <= a {
        return Err(err());
    }
    Ok((a, b))
}

impl Config {
    /// Resolves defaults, the file and the overrides.
    pub fn load(o: &Overrides) -> Result<Config, ConfigError> {
        let file = match &o.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let pick = |flag: &Option<String>, file: &Option<String>, default: &str| {
            flag.clone()
                .or_else(|| file.clone())
                .unwrap_or_else(|| default.to_string())
        };
        let sip_listen = parse_addr(
            "sip_listen",
            &pick(&o.sip_listen, &file.sip_listen, "0.0.0.0:5060"),
        )?;
        let http_listen = parse_addr(
            "http_listen",
            &pick(&o.http_listen, &file.http_listen, "127.0.0.1:8080"),
        )?;
        let database_url = pick(&o.database_url, &file.database_url, "sqlite://smileyd.db");
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(key_err(
                "database_url",
                format!("'{database_url}' must start with sqlite: or postgres://"),
            ));
        }
        let rtp_ports = parse_range(&pick(&o.rtp_ports, &file.rtp_ports, "10000-20000"))?;
        let public_ip = match o.public_ip.clone().or(file.public_ip.clone()) {
            Some(v) if !v.is_empty() => Some(
                v.parse()
                    .map_err(|_| key_err("public_ip", format!("'{v}' is not an IP address")))?,
            ),
            _ => None,
        };
        let nets = file
            .sip
            .allowed_networks
            .clone()
            .unwrap_or_else(|| DEFAULT_ALLOWED.iter().map(|s| s.to_string()).collect());
        let mut allowed_networks = Vec::new();
        for n in nets {
            let net: IpNet = n
                .parse()
                .or_else(|_| n.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    key_err(
                        "sip.allowed_networks",
                        format!("'{n}' is not a CIDR network"),
                    )
                })?;
            allowed_networks.push(net);
        }
        let t1_ms = file.sip.t1_ms.unwrap_or(500);
        if !(50..=10_000).contains(&t1_ms) {
            return Err(key_err("sip.t1_ms", "must be between 50 and 10000"));
        }
        let mut surveys = Vec::new();
        if file.surveys.is_empty() {
            surveys.push(survey_config("smiley", "survey", &file.survey)?);
        }
        for (name, sf) in &file.surveys {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(key_err(
                    &format!("surveys.{name}"),
                    "survey names are letters, digits, - and _",
                ));
            }
            surveys.push(survey_config(
                name,
                &format!("surveys.{name}"),
                &sf.or(&file.survey),
            )?);
        }
        let default_survey = file
            .default_survey
            .clone()
            .unwrap_or_else(|| surveys[0].name.clone());
        if !surveys.iter().any(|s| s.name == default_survey) {
            return Err(key_err(
                "default_survey",
                format!("'{default_survey}' is not a configured survey"),
            ));
        }
        let media_timeout = file.media.media_timeout_secs.unwrap_or(30);
        let max_call = file.media.max_call_secs.unwrap_or(600);
        if media_timeout == 0 || max_call == 0 {
            return Err(key_err(
                "media",
                "media_timeout_secs and max_call_secs must be positive",
            ));
        }
        let header = |key: &str, v: &Option<String>, d: &str| -> Result<String, ConfigError> {
            let v = v.clone().unwrap_or_else(|| d.to_string());
            if v.is_empty()
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(key_err(key, format!("'{v}' is not a header name")));
            }
            Ok(v)
        };
        let agent_header = header("headers.agent", &file.headers.agent, "X-Agent-Id")?;
        let queue_header = header("headers.queue", &file.headers.queue, "X-Queue")?;
        let original_call_id_header = header(
            "headers.original_call_id",
            &file.headers.original_call_id,
            "X-Original-Call-Id",
        )?;
        let language_header = header("headers.language", &file.headers.language, "X-Language")?;
        let sources = |key: &str,
                       list: &Option<Vec<SourceSpec>>,
                       fallback: &str|
         -> Result<Vec<Source>, ConfigError> {
            match list {
                None => Ok(vec![Source::header(fallback)]),
                Some(specs) => specs
                    .iter()
                    .enumerate()
                    .map(|(i, s)| Source::parse(s).map_err(|e| key_err(&format!("{key}[{i}]"), e)))
                    .collect(),
            }
        };
        let agent_sources = sources("sources.agent", &file.sources.agent, &agent_header)?;
        let queue_sources = sources("sources.queue", &file.sources.queue, &queue_header)?;
        let language_sources =
            sources("sources.language", &file.sources.language, &language_header)?;
        let original_call_id_sources = sources(
            "sources.original_call_id",
            &file.sources.original_call_id,
            &original_call_id_header,
        )?;
        Ok(Config {
            sip_listen,
            http_listen,
            database_url,
            prompts_dir: o
                .prompts_dir
                .clone()
                .or(file.prompts_dir)
                .unwrap_or_else(|| "prompts".into()),
            custom_prompts_dir: o
                .custom_prompts_dir
                .clone()
                .or(file.custom_prompts_dir)
                .unwrap_or_else(|| "prompts-custom".into()),
            recordings_dir: o
                .recordings_dir
                .clone()
                .or(file.recordings_dir)
                .unwrap_or_else(|| "recordings".into()),
            rtp_ports,
            public_ip,
            journal_path: o
                .journal_path
                .clone()
                .or(file.journal_path)
                .unwrap_or_else(|| "smileyd.journal".into()),
            t1: Duration::from_millis(t1_ms),
            allowed_networks,
            answer_delay: Duration::from_millis(file.sip.answer_delay_ms.unwrap_or(0)),
            symmetric_rtp: file.media.symmetric_rtp.unwrap_or(true),
            media_timeout: Duration::from_secs(media_timeout),
            max_call: Duration::from_secs(max_call),
            surveys,
            default_survey,
            survey_header: header("headers.survey", &file.headers.survey, "X-Survey")?,
            agent_sources,
            queue_sources,
            language_sources,
            original_call_id_sources,
            retention_days: file.recordings.retention_days.unwrap_or(90),
            webhooks: webhooks(&file.webhooks)?,
            metrics: match file.api.metrics.as_deref() {
                None => crate::api::MetricsAccess::default(),
                Some(v) => crate::api::MetricsAccess::parse(v).ok_or_else(|| {
                    key_err("api.metrics", format!("'{v}' must be open, read or off"))
                })?,
            },
            recording: record_settings(&file.recordings)?,
            database: database_options(&file.database)?,
        })
    }
}

/// [database]: bounds keep a typo from starving the daemon or the server.
fn database_options(f: &DatabaseFile) -> Result<crate::store::ConnectOptions, ConfigError> {
    if let Some(n) = f.pool_size {
        if !(1..=1000).contains(&n) {
            return Err(key_err("database.pool_size", "must be between 1 and 1000"));
        }
    }
    if let Some(ms) = f.statement_timeout_ms {
        if !(100..=3_600_000).contains(&ms) {
            return Err(key_err(
                "database.statement_timeout_ms",
                "must be between 100 and 3600000",
            ));
        }
    }
    Ok(crate::store::ConnectOptions {
        pool_size: f.pool_size,
        statement_timeout: f.statement_timeout_ms.map(Duration::from_millis),
    })
}

/// [recordings]: when a comment ends, with limits that keep a typo from
/// cutting callers off or recording for an hour.
fn record_settings(f: &RecordingsFile) -> Result<crate::media::RecordSettings, ConfigError> {
    let silence_ms = f.silence_ms.unwrap_or(3000);
    if !(500..=60_000).contains(&silence_ms) {
        return Err(key_err(
            "recordings.silence_ms",
            "must be between 500 and 60000",
        ));
    }
    let max_secs = f.max_secs.unwrap_or(60);
    if !(1..=600).contains(&max_secs) {
        return Err(key_err("recordings.max_secs", "must be between 1 and 600"));
    }
    let threshold = f.silence_threshold_dbfs.unwrap_or(-45.0);
    if !(-90.0..=-10.0).contains(&threshold) {
        return Err(key_err(
            "recordings.silence_threshold_dbfs",
            "must be between -90 and -10 (dBFS)",
        ));
    }
    let no_speech_ms = f.no_speech_ms.unwrap_or(5000);
    if !(1000..=60_000).contains(&no_speech_ms) {
        return Err(key_err(
            "recordings.no_speech_ms",
            "must be between 1000 and 60000",
        ));
    }
    Ok(crate::media::RecordSettings {
        silence: Duration::from_millis(silence_ms),
        max: Duration::from_secs(max_secs),
        threshold_dbfs: threshold,
        no_speech: Duration::from_millis(no_speech_ms),
    })
}

fn survey_config(name: &str, at: &str, f: &SurveyFile) -> Result<SurveyConfig, ConfigError> {
    use crate::survey::{Scale, SurveySettings};
    let key = |k: &str| format!("{at}.{k}");
    let attempts = f.attempts.unwrap_or(3);
    if !(1..=10).contains(&attempts) {
        return Err(key_err(&key("attempts"), "must be between 1 and 10"));
    }
    let digit_timeout_ms = f.digit_timeout_ms.unwrap_or(5000);
    if !(100..=120_000).contains(&digit_timeout_ms) {
        return Err(key_err(
            &key("digit_timeout_ms"),
            "must be between 100 and 120000",
        ));
    }
    let inter_digit_ms = f.inter_digit_timeout_ms.unwrap_or(1500);
    if !(100..=10_000).contains(&inter_digit_ms) {
        return Err(key_err(
            &key("inter_digit_timeout_ms"),
            "must be between 100 and 10000",
        ));
    }
    let kind = f.kind.unwrap_or(ScaleKind::Smiley);
    let scale = match kind {
        ScaleKind::Smiley => {
            let happy = parse_keys(&key("happy_key"), f.happy_key.as_deref().unwrap_or("1"))?;
            let sad = parse_keys(&key("sad_key"), f.sad_key.as_deref().unwrap_or("2"))?;
            if happy.iter().any(|k| sad.contains(k)) {
                return Err(key_err(&key("sad_key"), "shares a key with happy_key"));
            }
            Scale::smiley(happy, sad)
        }
        ScaleKind::Csat => Scale::csat(),
        ScaleKind::Nps => Scale::nps(),
    };
    let language = f.language.clone().unwrap_or_else(|| "en".into());
    if language.is_empty()
        || !language
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(key_err(
            &key("language"),
            format!("'{language}' is not a language code"),
        ));
    }
    Ok(SurveyConfig {
        name: name.to_string(),
        settings: SurveySettings {
            scale,
            digit_timeout: Duration::from_millis(digit_timeout_ms),
            inter_digit_timeout: Duration::from_millis(inter_digit_ms),
            attempts,
            // The default: every caller is offered a comment.
            comment: f.comment.unwrap_or(CommentPolicy::Always),
        },
        language,
    })
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

fn webhooks(list: &[WebhookFile]) -> Result<Vec<WebhookConfig>, ConfigError> {
    let mut out: Vec<WebhookConfig> = Vec::new();
    for w in list {
        let url = w.url.trim();
        let ok = crate::api::webhook_url::is_valid(url);
        if !ok {
            return Err(key_err(
                "webhooks.url",
                format!("'{url}' must be an http:// or https:// URL"),
            ));
        }
        if w.secret.chars().count() < 16 {
            return Err(key_err(
                "webhooks.secret",
                format!("the secret for {url} must be at least 16 characters"),
            ));
        }
        if out.iter().any(|o| o.url == url) {
            return Err(key_err("webhooks.url", format!("'{url}' is listed twice")));
        }
        out.push(WebhookConfig {
            url: url.to_owned(),
            secret: w.secret.clone(),
        });
    }
    Ok(out)
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        file: file.clone(),
        message: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| {
        // Add the line and the key so the admin finds it: toml's message
        // names an unknown key but not the key of a value of the wrong type.
        let at = e.span().map(|s| s.start.min(text.len()));
        let line = at
            .map(|at| text[..at].matches('\n').count() + 1)
            .map(|l| format!("line {l}: "))
            .unwrap_or_default();
        let key = at
            .and_then(|at| key_at(&text, at))
            .map(|k| format!("{k}: "))
            .unwrap_or_default();
        ConfigError::File {
            file,
            message: format!("{line}{key}{}", e.message()),
        }
    })
}

/// The dotted key (with its [table]) of the `key = value` line holding
/// byte `at` of a TOML text; None when that line is not one.
fn key_at(text: &str, at: usize) -> Option<String> {
    let keyish = |k: &str| {
        !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.\"' ".contains(&b))
    };
    let start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    let end = text.get(at..)?.find('\n').map_or(text.len(), |i| at + i);
    let key = text[start..end].split_once('=')?.0.trim();
    if !keyish(key) {
        return None;
    }
    let header = |l: &str| {
        let inner = l.strip_prefix("[[").or_else(|| l.strip_prefix('['))?;
        let (name, rest) = inner.split_once(']')?;
        let rest = rest.strip_prefix(']').unwrap_or(rest).trim();
        (keyish(name.trim()) && (rest.is_empty() || rest.starts_with('#')))
            .then(|| name.trim().to_string())
    };
    Some(
        match text[..start].lines().rev().find_map(|l| header(l.trim())) {
            Some(table) => format!("{table}.{key}"),
            None => key.to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smileyd.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&Overrides {
            config: Some(path),
            ..Default::default()
        })
    }

    #[test]
    fn defaults() {
        let c = Config::load(&Overrides::default()).unwrap();
        assert_eq!(c.sip_listen, "0.0.0.0:5060".parse().unwrap());
        assert_eq!(c.rtp_ports, (10000, 20000));
        assert_eq!(c.allowed_networks.len(), 6);
        assert_eq!(c.surveys.len(), 1);
        assert_eq!(c.default_survey, "smiley");
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let e = load_str("[survey]\nattempts = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("survey.attempts"), "{e}");
        let e = load_str("sip_listen = \"127.0.0.1:5060\"\n\n[media]\nsymetric_rtp = true\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 4") && e.contains("symetric_rtp"), "{e}");
        let e = load_str("[survey]\nattempts = 3\ndigit_timeout_ms = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("survey.digit_timeout_ms"),
            "{e}"
        );
        let e = load_str("rtp_ports = \"20000-100\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rtp_ports"), "{e}");
        let e = load_str("[sip]\nallowed_networks = [\"nonsense\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sip.allowed_networks"), "{e}");
    }

    #[test]
    fn example_config_is_valid_and_complete() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("smileyd.example.toml");
        let c = Config::load(&Overrides {
            config: Some(path),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.sip_listen, "0.0.0.0:5060".parse().unwrap());
    }

    #[test]
    fn database_pool_and_timeout() {
        let c = load_str("").unwrap();
        assert_eq!(c.database, crate::store::ConnectOptions::default());
        let c = load_str("[database]\npool_size = 20\nstatement_timeout_ms = 3000\n").unwrap();
        assert_eq!(c.database.pool_size, Some(20));
        assert_eq!(
            c.database.statement_timeout,
            Some(Duration::from_millis(3000))
        );
        for bad in [
            "pool_size = 0",
            "statement_timeout_ms = 5",
            "pool_size = 5000",
        ] {
            let e = load_str(&format!("[database]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("database."), "{bad}: {e}");
        }
    }
}
