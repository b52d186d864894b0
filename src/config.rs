//! Configuration: built-in defaults, then an optional TOML file (--config),
//! then environment variables and flags. Every top-level key has a flag and a
//! SMILEYD_* variable; nested tables live in the file only.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
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

impl Cli {
    /// Parses the command line as `Cli::parse` does, and notes which
    /// overrides were taken from their SMILEYD_* variable, so that an error
    /// in one names the variable rather than the flag.
    pub fn parse_noting_sources() -> Cli {
        let mut command = Cli::command();
        Cli::from_matches(&command.get_matches_mut())
            .unwrap_or_else(|e| e.format(&mut command).exit())
    }

    fn from_matches(matches: &clap::ArgMatches) -> Result<Cli, clap::Error> {
        let mut cli = Cli::from_arg_matches(matches)?;
        cli.overrides.from_env = matches
            .ids()
            .map(|id| id.as_str())
            .filter(|id| matches.value_source(id) == Some(clap::parser::ValueSource::EnvVariable))
            .map(str::to_string)
            .collect();
        Ok(cli)
    }
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
    /// The ids (field names) of the overrides above that were taken from
    /// their SMILEYD_* variable rather than given as a flag.
    #[arg(skip)]
    from_env: Vec<String>,
}

impl Overrides {
    /// How the override with this id was given: its variable
    /// (SMILEYD_RTP_PORTS) or its flag (--rtp-ports).
    fn given_as(&self, id: &str) -> String {
        let cli = Cli::command();
        let arg = cli.get_arguments().find(|a| a.get_id() == id);
        if self.from_env.iter().any(|e| e == id) {
            match arg.and_then(|a| a.get_env()) {
                Some(env) => env.to_string_lossy().into_owned(),
                None => format!("SMILEYD_{}", id.to_ascii_uppercase()),
            }
        } else {
            match arg.and_then(|a| a.get_long()) {
                Some(long) => format!("--{long}"),
                None => format!("--{}", id.replace('_', "-")),
            }
        }
    }
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
    /// A value written in the file that is valid TOML but not allowed.
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

fn key_err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.to_string(),
        message: message.into(),
    }
}

/// One step of the path to a value in the file: a key or an array index.
#[derive(Clone, Copy, Debug)]
enum Seg<'k> {
    Key(&'k str),
    Index(usize),
}

fn keys<'k>(keys: &[&'k str]) -> Vec<Seg<'k>> {
    keys.iter().map(|k| Seg::Key(k)).collect()
}

/// "surveys.quick.attempts", "sources.agent[1]".
fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Where each key and array element of a TOML text is written (byte ranges),
/// from the same parser that reads the configuration, so that a value that
/// is valid TOML but not allowed can be reported at its line.
#[derive(Debug, Default)]
struct Spans {
    keys: BTreeMap<String, (Range<usize>, Spans)>,
    items: Vec<(Range<usize>, Spans)>,
}

impl<'de> Deserialize<'de> for Spans {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Spans, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Spans;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a TOML value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Spans, A::Error> {
                let mut s = Spans::default();
                while let Some(key) = map.next_key::<toml::Spanned<String>>()? {
                    let span = key.span();
                    s.keys.insert(key.into_inner(), (span, map.next_value()?));
                }
                Ok(s)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Spans, A::Error> {
                let mut s = Spans::default();
                while let Some(item) = seq.next_element::<toml::Spanned<Spans>>()? {
                    s.items.push((item.span(), item.into_inner()));
                }
                Ok(s)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Spans, E> {
                Ok(Spans::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Spans, E> {
                Ok(Spans::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Spans, E> {
                Ok(Spans::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Spans, E> {
                Ok(Spans::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<Spans, E> {
                Ok(Spans::default())
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Spans {
    /// Where the key (or array element) at `path` starts, if it is written.
    fn find(&self, path: &[Seg]) -> Option<usize> {
        let mut node = self;
        let mut at = None;
        for seg in path {
            let (span, next) = match seg {
                Seg::Key(k) => node.keys.get(*k)?,
                Seg::Index(i) => node.items.get(*i)?,
            };
            at = Some(span.start);
            node = next;
        }
        at
    }
}

/// The 1-based line holding byte `at` of `text`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// The configuration file as read: its name as shown, its text and where
/// its keys are.
struct FileText {
    name: String,
    text: String,
    spans: Spans,
}

/// How a survey got a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Written {
    /// Nowhere: the built-in default.
    Default,
    /// In [survey], inherited by a [surveys.NAME].
    Inherited,
    /// In the survey's own table.
    Own,
}

/// Where the values being checked came from, so that an error points there:
/// the file and line where the key is written, the flag or variable that
/// gave it, or just the key for a built-in default.
struct Origins<'a> {
    overrides: &'a Overrides,
    file: Option<FileText>,
}

impl Origins<'_> {
    /// An error in the value at `path` of the file, or in its default when
    /// the file does not set it.
    fn at(&self, path: &[Seg], message: impl Into<String>) -> ConfigError {
        let key = dotted(path);
        match &self.file {
            Some(f) => match f.spans.find(path) {
                Some(at) => ConfigError::Line {
                    file: f.name.clone(),
                    line: line_of(&f.text, at),
                    key,
                    message: message.into(),
                },
                None => key_err(&key, message),
            },
            None => key_err(&key, message),
        }
    }

    /// `at` for a path of keys only.
    fn key(&self, path: &[&str], message: impl Into<String>) -> ConfigError {
        self.at(&keys(path), message)
    }

    /// An error in a top-level key that a flag or variable can override:
    /// named as the user gave it.
    fn top(&self, id: &str, overridden: bool, message: impl Into<String>) -> ConfigError {
        if overridden {
            key_err(&self.overrides.given_as(id), message)
        } else {
            self.key(&[id], message)
        }
    }

    fn written(&self, path: &[&str]) -> bool {
        self.file
            .as_ref()
            .is_some_and(|f| f.spans.find(&keys(path)).is_some())
    }

    /// Where the survey whose table is `at` (["survey"] or ["surveys", NAME])
    /// got its setting `k`.
    fn survey_origin(&self, at: &[&str], k: &str) -> Written {
        let own: Vec<&str> = at.iter().copied().chain([k]).collect();
        if self.written(&own) {
            Written::Own
        } else if at != ["survey"] && self.written(&["survey", k]) {
            Written::Inherited
        } else {
            Written::Default
        }
    }

    /// An error in setting `k` of the survey whose table is `at`: at the
    /// line where it is written, which is in [survey] when inherited.
    fn survey_key(&self, at: &[&str], k: &str, message: impl Into<String>) -> ConfigError {
        match self.survey_origin(at, k) {
            Written::Inherited => self.key(
                &["survey", k],
                format!("{} (inherited by {})", message.into(), at.join(".")),
            ),
            Written::Own | Written::Default => {
                let own: Vec<&str> = at.iter().copied().chain([k]).collect();
                self.key(&own, message)
            }
        }
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

fn parse_addr(v: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| format!("'{v}' is not an address:port (e.g. 0.0.0.0:5060)"))
}

fn parse_keys(v: &str) -> Result<Vec<char>, String> {
    let keys: Vec<char> = v
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ',')
        .collect();
    if keys.is_empty() || keys.iter().any(|c| !"0123456789*#ABCD".contains(*c)) {
        return Err(format!("'{v}' must be DTMF keys (0-9, *, #, A-D)"));
    }
    Ok(keys)
}

fn parse_range(v: &str) -> Result<(u16, u16), String> {
    let err = || format!("'{v}' must be FIRST-LAST with 1024 ≤ FIRST < LAST ≤ 65535");
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

/// A top-level key's value: the flag or variable, else the file, else the
/// default; and whether the flag or variable gave it.
fn pick<'v>(
    flag: &'v Option<String>,
    file: &'v Option<String>,
    default: &'v str,
) -> (&'v str, bool) {
    match (flag, file) {
        (Some(v), _) => (v, true),
        (None, Some(v)) => (v, false),
        (None, None) => (default, false),
    }
}

impl Config {
    /// Resolves defaults, the file and the overrides.
    pub fn load(o: &Overrides) -> Result<Config, ConfigError> {
        let (file, text) = match &o.config {
            Some(path) => {
                let (file, text) = read_file(path)?;
                (
                    file,
                    Some(FileText {
                        name: path.display().to_string(),
                        // The file has just been read with the same parser, so
                        // this does not fail; if it did, errors would name the
                        // key only.
                        spans: toml::from_str(&text).unwrap_or_default(),
                        text,
                    }),
                )
            }
            None => (FileConfig::default(), None),
        };
        let at = Origins {
            overrides: o,
            file: text,
        };
        let addr = |id: &str, flag: &Option<String>, file: &Option<String>, default: &str| {
            let (v, overridden) = pick(flag, file, default);
            parse_addr(v).map_err(|e| at.top(id, overridden, e))
        };
        let sip_listen = addr(
            "sip_listen",
            &o.sip_listen,
            &file.sip_listen,
            "0.0.0.0:5060",
        )?;
        let http_listen = addr(
            "http_listen",
            &o.http_listen,
            &file.http_listen,
            "127.0.0.1:8080",
        )?;
        let (database_url, overridden) =
            pick(&o.database_url, &file.database_url, "sqlite://smileyd.db");
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(at.top(
                "database_url",
                overridden,
                format!("'{database_url}' must start with sqlite: or postgres://"),
            ));
        }
        let database_url = database_url.to_string();
        let (ports, overridden) = pick(&o.rtp_ports, &file.rtp_ports, "10000-20000");
        let rtp_ports = parse_range(ports).map_err(|e| at.top("rtp_ports", overridden, e))?;
        let public_ip = match pick(&o.public_ip, &file.public_ip, "") {
            ("", _) => None,
            (v, overridden) => Some(v.parse().map_err(|_| {
                at.top(
                    "public_ip",
                    overridden,
                    format!("'{v}' is not an IP address"),
                )
            })?),
        };
        let nets = file
            .sip
            .allowed_networks
            .clone()
            .unwrap_or_else(|| DEFAULT_ALLOWED.iter().map(|s| s.to_string()).collect());
        let mut allowed_networks = Vec::new();
        for (i, n) in nets.iter().enumerate() {
            let net: IpNet = n
                .parse()
                .or_else(|_| n.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    at.at(
                        &[Seg::Key("sip"), Seg::Key("allowed_networks"), Seg::Index(i)],
                        format!("'{n}' is not a CIDR network"),
                    )
                })?;
            allowed_networks.push(net);
        }
        let t1_ms = file.sip.t1_ms.unwrap_or(500);
        if !(50..=10_000).contains(&t1_ms) {
            return Err(at.key(&["sip", "t1_ms"], "must be between 50 and 10000"));
        }
        let mut surveys = Vec::new();
        if file.surveys.is_empty() {
            surveys.push(survey_config("smiley", &["survey"], &file.survey, &at)?);
        }
        for (name, sf) in &file.surveys {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(at.key(
                    &["surveys", name],
                    "survey names are letters, digits, - and _",
                ));
            }
            surveys.push(survey_config(
                name,
                &["surveys", name],
                &sf.or(&file.survey),
                &at,
            )?);
        }
        let default_survey = file
            .default_survey
            .clone()
            .unwrap_or_else(|| surveys[0].name.clone());
        if !surveys.iter().any(|s| s.name == default_survey) {
            return Err(at.key(
                &["default_survey"],
                format!("'{default_survey}' is not a configured survey"),
            ));
        }
        let media_timeout = file.media.media_timeout_secs.unwrap_or(30);
        if media_timeout == 0 {
            return Err(at.key(&["media", "media_timeout_secs"], "must be positive"));
        }
        let max_call = file.media.max_call_secs.unwrap_or(600);
        if max_call == 0 {
            return Err(at.key(&["media", "max_call_secs"], "must be positive"));
        }
        let header = |key: &str, v: &Option<String>, d: &str| -> Result<String, ConfigError> {
            let v = v.clone().unwrap_or_else(|| d.to_string());
            if v.is_empty()
                || !v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(at.key(&["headers", key], format!("'{v}' is not a header name")));
            }
            Ok(v)
        };
        let agent_header = header("agent", &file.headers.agent, "X-Agent-Id")?;
        let queue_header = header("queue", &file.headers.queue, "X-Queue")?;
        let original_call_id_header = header(
            "original_call_id",
            &file.headers.original_call_id,
            "X-Original-Call-Id",
        )?;
        let language_header = header("language", &file.headers.language, "X-Language")?;
        let survey_header = header("survey", &file.headers.survey, "X-Survey")?;
        let sources = |key: &str,
                       list: &Option<Vec<SourceSpec>>,
                       fallback: &str|
         -> Result<Vec<Source>, ConfigError> {
            match list {
                None => Ok(vec![Source::header(fallback)]),
                Some(specs) => specs
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        Source::parse(s).map_err(|e| {
                            at.at(&[Seg::Key("sources"), Seg::Key(key), Seg::Index(i)], e)
                        })
                    })
                    .collect(),
            }
        };
        let agent_sources = sources("agent", &file.sources.agent, &agent_header)?;
        let queue_sources = sources("queue", &file.sources.queue, &queue_header)?;
        let language_sources = sources("language", &file.sources.language, &language_header)?;
        let original_call_id_sources = sources(
            "original_call_id",
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
            survey_header,
            agent_sources,
            queue_sources,
            language_sources,
            original_call_id_sources,
            retention_days: file.recordings.retention_days.unwrap_or(90),
            webhooks: webhooks(&file.webhooks, &at)?,
            metrics: match file.api.metrics.as_deref() {
                None => crate::api::MetricsAccess::default(),
                Some(v) => crate::api::MetricsAccess::parse(v).ok_or_else(|| {
                    at.key(
                        &["api", "metrics"],
                        format!("'{v}' must be open, read or off"),
                    )
                })?,
            },
            recording: record_settings(&file.recordings, &at)?,
            database: database_options(&file.database, &at)?,
        })
    }
}

/// [database]: bounds keep a typo from starving the daemon or the server.
fn database_options(
    f: &DatabaseFile,
    at: &Origins,
) -> Result<crate::store::ConnectOptions, ConfigError> {
    if let Some(n) = f.pool_size {
        if !(1..=1000).contains(&n) {
            return Err(at.key(&["database", "pool_size"], "must be between 1 and 1000"));
        }
    }
    if let Some(ms) = f.statement_timeout_ms {
        if !(100..=3_600_000).contains(&ms) {
            return Err(at.key(
                &["database", "statement_timeout_ms"],
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
fn record_settings(
    f: &RecordingsFile,
    at: &Origins,
) -> Result<crate::media::RecordSettings, ConfigError> {
    let silence_ms = f.silence_ms.unwrap_or(3000);
    if !(500..=60_000).contains(&silence_ms) {
        return Err(at.key(
            &["recordings", "silence_ms"],
            "must be between 500 and 60000",
        ));
    }
    let max_secs = f.max_secs.unwrap_or(60);
    if !(1..=600).contains(&max_secs) {
        return Err(at.key(&["recordings", "max_secs"], "must be between 1 and 600"));
    }
    let threshold = f.silence_threshold_dbfs.unwrap_or(-45.0);
    if !(-90.0..=-10.0).contains(&threshold) {
        return Err(at.key(
            &["recordings", "silence_threshold_dbfs"],
            "must be between -90 and -10 (dBFS)",
        ));
    }
    let no_speech_ms = f.no_speech_ms.unwrap_or(5000);
    if !(1000..=60_000).contains(&no_speech_ms) {
        return Err(at.key(
            &["recordings", "no_speech_ms"],
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

/// The survey `name` from its settings `f` (its own table over [survey]);
/// `table` is where it is written: ["survey"] or ["surveys", NAME].
fn survey_config(
    name: &str,
    table: &[&str],
    f: &SurveyFile,
    at: &Origins,
) -> Result<SurveyConfig, ConfigError> {
    use crate::survey::{Scale, SurveySettings};
    let err = |k: &str, message: String| at.survey_key(table, k, message);
    let attempts = f.attempts.unwrap_or(3);
    if !(1..=10).contains(&attempts) {
        return Err(err("attempts", "must be between 1 and 10".into()));
    }
    let digit_timeout_ms = f.digit_timeout_ms.unwrap_or(5000);
    if !(100..=120_000).contains(&digit_timeout_ms) {
        return Err(err(
            "digit_timeout_ms",
            "must be between 100 and 120000".into(),
        ));
    }
    let inter_digit_ms = f.inter_digit_timeout_ms.unwrap_or(1500);
    if !(100..=10_000).contains(&inter_digit_ms) {
        return Err(err(
            "inter_digit_timeout_ms",
            "must be between 100 and 10000".into(),
        ));
    }
    let kind = f.kind.unwrap_or(ScaleKind::Smiley);
    let scale = match kind {
        ScaleKind::Smiley => {
            let happy = parse_keys(f.happy_key.as_deref().unwrap_or("1"))
                .map_err(|e| err("happy_key", e))?;
            let sad =
                parse_keys(f.sad_key.as_deref().unwrap_or("2")).map_err(|e| err("sad_key", e))?;
            if happy.iter().any(|k| sad.contains(k)) {
                // Blame the one written in the more specific place, sad_key
                // when both are.
                return Err(
                    if at.survey_origin(table, "happy_key") > at.survey_origin(table, "sad_key") {
                        err("happy_key", "shares a key with sad_key".into())
                    } else {
                        err("sad_key", "shares a key with happy_key".into())
                    },
                );
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
        return Err(err(
            "language",
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

fn webhooks(list: &[WebhookFile], at: &Origins) -> Result<Vec<WebhookConfig>, ConfigError> {
    let mut out: Vec<WebhookConfig> = Vec::new();
    for (i, w) in list.iter().enumerate() {
        let key = |k| [Seg::Key("webhooks"), Seg::Index(i), Seg::Key(k)];
        let url = w.url.trim();
        let ok = crate::api::webhook_url::is_valid(url);
        if !ok {
            return Err(at.at(
                &key("url"),
                format!("'{url}' must be an http:// or https:// URL"),
            ));
        }
        if w.secret.chars().count() < 16 {
            return Err(at.at(
                &key("secret"),
                format!("the secret for {url} must be at least 16 characters"),
            ));
        }
        if out.iter().any(|o| o.url == url) {
            return Err(at.at(&key("url"), format!("'{url}' is listed twice")));
        }
        out.push(WebhookConfig {
            url: url.to_owned(),
            secret: w.secret.clone(),
        });
    }
    Ok(out)
}

/// The file, parsed, and its text.
fn read_file(path: &Path) -> Result<(FileConfig, String), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
        file: file.clone(),
        message: e.to_string(),
    })?;
    let parsed = toml::from_str(&text).map_err(|e| {
        // Add the line and the key so the admin finds it: toml's message
        // names an unknown key but not the key of a value of the wrong type.
        let at = e.span().map(|s| s.start.min(text.len()));
        let line = at
            .map(|at| format!("line {}: ", line_of(&text, at)))
            .unwrap_or_default();
        let key = at
            .and_then(|at| key_at(&text, at))
            .map(|k| format!("{k}: "))
            .unwrap_or_default();
        ConfigError::File {
            file,
            message: format!("{line}{key}{}", e.message()),
        }
    })?;
    Ok((parsed, text))
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
        load_with(text, Overrides::default()).map_err(|(e, _)| e)
    }

    /// Loads `text` as the file with these overrides; on error, the error
    /// and the file's path as it should be shown.
    fn load_with(text: &str, o: Overrides) -> Result<Config, (ConfigError, String)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smileyd.toml");
        std::fs::write(&path, text).unwrap();
        let file = path.display().to_string();
        Config::load(&Overrides {
            config: Some(path),
            ..o
        })
        .map_err(|e| (e, file))
    }

    /// The whole message of the error `text` gives, with the file's path
    /// replaced by FILE.
    fn error_of(text: &str) -> String {
        error_with(text, Overrides::default())
    }

    fn error_with(text: &str, o: Overrides) -> String {
        match load_with(text, o) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err((e, file)) => e.to_string().replace(&file, "FILE"),
        }
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
        assert_eq!(
            error_of("[survey]\nattempts = 0\n"),
            "FILE: line 2: survey.attempts: must be between 1 and 10"
        );
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
    fn a_value_not_allowed_in_survey_names_the_file_line_and_key() {
        let head = "# comment\ndefault_survey = \"smiley\"\n\n[survey]\nkind = \"smiley\"\n";
        assert_eq!(
            error_of(&format!("{head}attempts = 0\n")),
            "FILE: line 6: survey.attempts: must be between 1 and 10"
        );
        assert_eq!(
            error_of(&format!("{head}digit_timeout_ms = 50\n")),
            "FILE: line 6: survey.digit_timeout_ms: must be between 100 and 120000"
        );
        assert_eq!(
            error_of(&format!("{head}happy_key = \"1\"\nsad_key = \"2,1\"\n")),
            "FILE: line 7: survey.sad_key: shares a key with happy_key"
        );
        // sad_key is the default "2": the one written is to blame.
        assert_eq!(
            error_of(&format!("{head}happy_key = \"2\"\nlanguage = \"en\"\n")),
            "FILE: line 6: survey.happy_key: shares a key with sad_key"
        );
        assert_eq!(
            error_of(&format!("{head}happy_key = \"X\"\n")),
            "FILE: line 6: survey.happy_key: 'X' must be DTMF keys (0-9, *, #, A-D)"
        );
        assert_eq!(
            error_of(&format!("{head}language = \"e n\"\n")),
            "FILE: line 6: survey.language: 'e n' is not a language code"
        );
        // Not one of the kinds: refused while reading, also at its line.
        assert_eq!(
            error_of("[survey]\nattempts = 2\nkind = \"stars\"\n").lines().next(),
            Some("FILE: line 3: survey.kind: unknown variant `stars`, expected one of `smiley`, `csat`, `nps`")
        );
    }

    #[test]
    fn a_value_not_allowed_in_a_named_survey_names_its_line() {
        let text = "default_survey = \"quick\"\n\n[survey]\nattempts = 3\n\n\
                    [surveys.quick]\nkind = \"csat\"\nattempts = 11\n";
        assert_eq!(
            error_of(text),
            "FILE: line 8: surveys.quick.attempts: must be between 1 and 10"
        );
        let text = "[surveys.a]\n\n[surveys.b]\nhappy_key = \"4\"\nsad_key = \"4\"\n";
        assert_eq!(
            error_of(text),
            "FILE: line 5: surveys.b.sad_key: shares a key with happy_key"
        );
        assert_eq!(
            error_of("[surveys.a]\n\n[surveys.\"b c\"]\nkind = \"nps\"\n"),
            "FILE: line 3: surveys.b c: survey names are letters, digits, - and _"
        );
        assert_eq!(
            error_of("default_survey = \"nope\"\n\n[surveys.a]\n"),
            "FILE: line 1: default_survey: 'nope' is not a configured survey"
        );
        // Dotted keys and inline tables are found as well.
        assert_eq!(
            error_of("surveys.a.kind = \"csat\"\nsurveys.b = { attempts = 0 }\n"),
            "FILE: line 2: surveys.b.attempts: must be between 1 and 10"
        );
    }

    #[test]
    fn an_inherited_value_not_allowed_names_the_line_in_survey() {
        let text =
            "[survey]\nkind = \"smiley\"\nattempts = 0\n\n[surveys.quick]\nkind = \"csat\"\n";
        assert_eq!(
            error_of(text),
            "FILE: line 3: survey.attempts: must be between 1 and 10 (inherited by surveys.quick)"
        );
        // A survey's own value is the one it uses.
        let text = "[survey]\nattempts = 0\n\n[surveys.quick]\nattempts = 11\n";
        assert_eq!(
            error_of(text),
            "FILE: line 5: surveys.quick.attempts: must be between 1 and 10"
        );
        // happy_key from [survey], the clashing sad_key in the survey's own table.
        let text = "[survey]\nhappy_key = \"5\"\n\n[surveys.quick]\nsad_key = \"5\"\n";
        assert_eq!(
            error_of(text),
            "FILE: line 5: surveys.quick.sad_key: shares a key with happy_key"
        );
        let text = "[survey]\nsad_key = \"5\"\n\n[surveys.quick]\nhappy_key = \"5\"\n";
        assert_eq!(
            error_of(text),
            "FILE: line 5: surveys.quick.happy_key: shares a key with sad_key"
        );
        // Both inherited.
        let text =
            "[survey]\nhappy_key = \"5\"\nsad_key = \"5\"\n\n[surveys.q]\nkind = \"smiley\"\n";
        assert_eq!(
            error_of(text),
            "FILE: line 3: survey.sad_key: shares a key with happy_key (inherited by surveys.q)"
        );
    }

    #[test]
    fn a_value_not_allowed_from_a_flag_or_variable_names_it() {
        let flag = || Overrides {
            rtp_ports: Some("20000-100".into()),
            ..Default::default()
        };
        let msg = "'20000-100' must be FIRST-LAST with 1024 ≤ FIRST < LAST ≤ 65535";
        // The file's value is fine and the flag's wins.
        let text = "rtp_ports = \"10000-11000\"\n";
        assert_eq!(error_with(text, flag()), format!("--rtp-ports: {msg}"));
        let env = Overrides {
            from_env: vec!["rtp_ports".into()],
            ..flag()
        };
        assert_eq!(error_with(text, env), format!("SMILEYD_RTP_PORTS: {msg}"));
        // From the file: its line.
        assert_eq!(
            error_of("# ports\nrtp_ports = \"20000-100\"\n"),
            format!("FILE: line 2: rtp_ports: {msg}")
        );
        // Without a file.
        let e = Config::load(&Overrides {
            public_ip: Some("nowhere".into()),
            from_env: vec!["public_ip".into()],
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "SMILEYD_PUBLIC_IP: 'nowhere' is not an IP address"
        );
        let o = Overrides {
            sip_listen: Some("5060".into()),
            ..Default::default()
        };
        assert_eq!(
            error_with("sip_listen = \"0.0.0.0:5060\"\n", o),
            "--sip-listen: '5060' is not an address:port (e.g. 0.0.0.0:5060)"
        );
        let o = Overrides {
            database_url: Some("mysql://x".into()),
            from_env: vec!["database_url".into()],
            ..Default::default()
        };
        assert_eq!(
            error_with("", o),
            "SMILEYD_DATABASE_URL: 'mysql://x' must start with sqlite: or postgres://"
        );
    }

    #[test]
    fn flags_are_told_from_variables() {
        let cli = Cli::from_matches(
            &Cli::command()
                .try_get_matches_from(["smileyd", "--rtp-ports", "20000-100"])
                .unwrap(),
        )
        .unwrap();
        assert_eq!(cli.overrides.rtp_ports.as_deref(), Some("20000-100"));
        assert!(!cli.overrides.from_env.iter().any(|id| id == "rtp_ports"));
        // Every override has the flag and the variable its error would name.
        for arg in Cli::command().get_arguments() {
            let id = arg.get_id().as_str();
            if ["help", "version"].contains(&id) {
                continue;
            }
            let o = Overrides {
                from_env: vec![id.to_string()],
                ..Default::default()
            };
            assert_eq!(
                Overrides::default().given_as(id),
                format!("--{}", id.replace('_', "-"))
            );
            assert_eq!(o.given_as(id), format!("SMILEYD_{}", id.to_uppercase()));
        }
    }

    #[test]
    fn other_tables_name_the_line_of_the_value() {
        assert_eq!(
            error_of("[sip]\nallowed_networks = [\n  \"10.0.0.0/8\",\n  \"nonsense\",\n]\n"),
            "FILE: line 4: sip.allowed_networks[1]: 'nonsense' is not a CIDR network"
        );
        assert_eq!(
            error_of("[sip]\nt1_ms = 1\n"),
            "FILE: line 2: sip.t1_ms: must be between 50 and 10000"
        );
        assert_eq!(
            error_of("[media]\nmedia_timeout_secs = 30\nmax_call_secs = 0\n"),
            "FILE: line 3: media.max_call_secs: must be positive"
        );
        assert_eq!(
            error_of("[headers]\nagent = \"X Agent\"\n"),
            "FILE: line 2: headers.agent: 'X Agent' is not a header name"
        );
        let e = error_of(
            "[sources]\nagent = [\n  \"header:X-Agent-Id\",\n  { source = \"uri-user\", regex = \"(\" },\n]\n",
        );
        assert!(e.starts_with("FILE: line 4: sources.agent[1]: "), "{e}");
        assert_eq!(
            error_of("[sources]\nqueue = [\"nowhere\"]\n")
                .split(" (")
                .next(),
            Some("FILE: line 2: sources.queue[0]: unknown source 'nowhere'")
        );
        let hook =
            |url: &str| format!("[[webhooks]]\nurl = \"{url}\"\nsecret = \"0123456789abcdef\"\n\n");
        assert_eq!(
            error_of(&format!(
                "{}{}",
                hook("https://a.example/"),
                hook("https://a.example/")
            )),
            "FILE: line 6: webhooks[1].url: 'https://a.example/' is listed twice"
        );
        assert_eq!(
            error_of("[[webhooks]]\nurl = \"https://a.example/\"\nsecret = \"short\"\n"),
            "FILE: line 3: webhooks[0].secret: the secret for https://a.example/ must be at least 16 characters"
        );
        assert_eq!(
            error_of("[api]\nmetrics = \"maybe\"\n"),
            "FILE: line 2: api.metrics: 'maybe' must be open, read or off"
        );
        assert_eq!(
            error_of("[database]\n\npool_size = 0\n"),
            "FILE: line 3: database.pool_size: must be between 1 and 1000"
        );
        assert_eq!(
            error_of("[recordings]\nmax_secs = 0\n"),
            "FILE: line 2: recordings.max_secs: must be between 1 and 600"
        );
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
        // Where its keys are can be told (else errors would have no line).
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("smileyd.example.toml"),
        )
        .unwrap();
        let spans: Spans = toml::from_str(&text).unwrap();
        assert!(spans
            .find(&keys(&["surveys", "csat", "kind"]))
            .is_some_and(|at| text[at..].starts_with("kind")));
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
