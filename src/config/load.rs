//! Defaults, the file and the overrides resolved into a `Config`, with the
//! checks that involve more than one value: a survey's settings once it has
//! inherited from [survey] (an error points at the line where the value is
//! written, in [survey] when inherited), keys shared by happy and sad,
//! `default_survey`, and the webhook list.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use toml::Spanned;

use super::cli::Overrides;
use super::file::{FileConfig, FileText, SurveyFile, WebhookDeliveryFile, WebhookFile};
use super::types::{Bounded, Keys, Language, ListenAddr, Network, PortRange, PublicIp};
use super::{Config, ConfigError, SurveyConfig, WebhookConfig, WebhookDelivery, DEFAULT_ALLOWED};
use crate::model::is_token;
use crate::sip::connection::ConnectionLimits;
use crate::sip::tls::{TlsContext, TlsSettings};
use crate::sources::{HeaderName, Source, SourceSpec};
use crate::survey::{CommentPolicy, Scale, ScaleKind, SurveySettings};

fn key_err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.to_string(),
        message: message.into(),
    }
}

/// Each element of the list `key`, checked by `check`; an error names the
/// element (`key[i]`) and its line.
fn each<R, T>(
    text: &FileText,
    key: &str,
    list: &[Spanned<R>],
    check: impl Fn(&R) -> Result<T, String>,
) -> Result<Vec<T>, ConfigError> {
    let check_one = |(i, v): (usize, &Spanned<R>)| {
        check(v.get_ref()).map_err(|e| text.error_at(v.span(), format!("{key}[{i}]"), e))
    };
    list.iter().enumerate().map(check_one).collect()
}

/// A top-level key's value: the flag or variable (checked here, its error
/// naming the flag or variable), else the file's (checked while reading),
/// else the default.
fn top<T: FromStr<Err = String>>(
    o: &Overrides,
    id: &str,
    flag: &Option<String>,
    file: Option<T>,
    default: T,
) -> Result<T, ConfigError> {
    match flag {
        Some(v) => v.parse().map_err(|e| key_err(&o.given_as(id), e)),
        None => Ok(file.unwrap_or(default)),
    }
}

impl Config {
    /// Resolves defaults, the file and the overrides.
    pub fn load(o: &Overrides) -> Result<Config, ConfigError> {
        // Without a file, an empty one: nothing in it to point at.
        let text = match &o.config {
            Some(path) => FileText::read(path)?,
            None => FileText::default(),
        };
        Config::resolve(o, text)
    }

    /// `load` of a file's text already in memory, shown in errors as `name`
    /// (the fuzz target's way in: see `crate::fuzzing`).
    pub(crate) fn load_text(o: &Overrides, name: &str, text: &str) -> Result<Config, ConfigError> {
        let text = FileText {
            name: name.to_string(),
            text: text.to_string(),
        };
        Config::resolve(o, text)
    }

    fn resolve(o: &Overrides, text: FileText) -> Result<Config, ConfigError> {
        let file = text.parse()?;
        let surveys = surveys(&file, &text)?;
        let default_survey = match &file.default_survey {
            None => surveys[0].name.clone(),
            Some(name) => {
                let name_str = name.get_ref();
                if !surveys.iter().any(|s| &s.name == name_str) {
                    let message = format!("'{name_str}' is not a configured survey");
                    return Err(text.error_at(name.span(), "default_survey", message));
                }
                name_str.clone()
            }
        };
        let listen = |id, flag, file, default: SocketAddr| {
            top(o, id, flag, file, ListenAddr(default)).map(|a| a.0)
        };
        let sip_listen = listen(
            "sip_listen",
            &o.sip_listen,
            file.sip_listen,
            ([0, 0, 0, 0], 5060).into(),
        )?;
        let sip_tls_listen = match (&o.sip_tls_listen, file.sip_tls_listen) {
            (Some(v), _) => Some(
                v.parse::<ListenAddr>()
                    .map_err(|e| key_err(&o.given_as("sip_tls_listen"), e))?
                    .0,
            ),
            (None, file) => file.map(|a| a.0),
        };
        let tls = tls_settings(&file, &text, sip_tls_listen.is_some())?;
        let http_listen = listen(
            "http_listen",
            &o.http_listen,
            file.http_listen,
            ([127, 0, 0, 1], 8080).into(),
        )?;
        let database_url = top(
            o,
            "database_url",
            &o.database_url,
            file.database_url,
            super::types::DatabaseUrl("sqlite://smileyd.db".into()),
        )?
        .0;
        let PortRange(first, last) = top(
            o,
            "rtp_ports",
            &o.rtp_ports,
            file.rtp_ports,
            PortRange(10000, 20000),
        )?;
        let public_ip = top(o, "public_ip", &o.public_ip, file.public_ip, PublicIp(None))?.0;
        let allowed_networks = match &file.sip.allowed_networks {
            Some(nets) => each(&text, "sip.allowed_networks", nets, |n| {
                n.parse::<Network>().map(|n| n.0)
            })?,
            None => DEFAULT_ALLOWED
                .iter()
                .filter_map(|n| n.parse::<Network>().ok())
                .map(|n| n.0)
                .collect(),
        };
        let (h, f_src) = (&file.headers, &file.sources);
        let header = |v: &Option<HeaderName>, default: &str| {
            v.as_ref()
                .map_or_else(|| default.to_string(), |h| h.0.clone())
        };
        let sources =
            |key: &str, list: &Option<Vec<Spanned<SourceSpec>>>, header: String| match list {
                None => Ok(vec![Source::header(&header)]),
                Some(list) => each(&text, &format!("sources.{key}"), list, |s| {
                    Source::try_from(s.clone())
                }),
            };
        let recording = {
            let r = &file.recordings;
            let d = crate::media::RecordSettings::default();
            crate::media::RecordSettings {
                silence: r.silence_ms.map_or(d.silence, Bounded::millis),
                max: r.max_secs.map_or(d.max, Bounded::secs),
                threshold_dbfs: r.silence_threshold_dbfs.map_or(d.threshold_dbfs, |t| t.0),
                no_speech: r.no_speech_ms.map_or(d.no_speech, Bounded::millis),
            }
        };
        Ok(Config {
            sip_listen,
            sip_tls_listen,
            tls,
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
            rtp_ports: (first, last),
            public_ip,
            journal_path: o
                .journal_path
                .clone()
                .or(file.journal_path)
                .unwrap_or_else(|| "smileyd.journal".into()),
            t1: file
                .sip
                .t1_ms
                .map_or(Duration::from_millis(500), Bounded::millis),
            allowed_networks,
            answer_delay: Duration::from_millis(file.sip.answer_delay_ms.unwrap_or(0)),
            connections: ConnectionLimits {
                handshake_time: file
                    .tls
                    .handshake_timeout_ms
                    .map_or(connection_limits(&file.sip).handshake_time, Bounded::millis),
                ..connection_limits(&file.sip)
            },
            // RFC 4028 §4: 90 s, the smallest Min-SE the RFC allows.
            min_se_secs: file.sip.min_se_secs.map_or(90, |b| b.get() as u32),
            // One call per even port of the range (the odd one is its RTCP).
            max_calls: file
                .sip
                .max_calls
                .map_or(usize::from(last - first).div_ceil(2), |n| n.get() as usize),
            max_transactions: file
                .sip
                .max_transactions
                .map_or(super::DEFAULT_MAX_TRANSACTIONS, |n| n.get() as usize),
            symmetric_rtp: file.media.symmetric_rtp.unwrap_or(true),
            srtp: file.media.srtp.unwrap_or_default(),
            srtp_keys_in_cleartext: file.media.srtp_allow_keys_in_cleartext.unwrap_or(false),
            media_timeout: file
                .media
                .media_timeout_secs
                .map_or(Duration::from_secs(30), Bounded::secs),
            max_call: file
                .media
                .max_call_secs
                .map_or(Duration::from_secs(600), Bounded::secs),
            dtmf_inband: file.dtmf.inband.unwrap_or_default(),
            surveys,
            default_survey,
            survey_header: header(&h.survey, "X-Survey"),
            agent_sources: sources("agent", &f_src.agent, header(&h.agent, "X-Agent-Id"))?,
            queue_sources: sources("queue", &f_src.queue, header(&h.queue, "X-Queue"))?,
            language_sources: sources(
                "language",
                &f_src.language,
                header(&h.language, "X-Language"),
            )?,
            original_call_id_sources: sources(
                "original_call_id",
                &f_src.original_call_id,
                header(&h.original_call_id, "X-Original-Call-Id"),
            )?,
            retention_days: file.recordings.retention_days.unwrap_or(90),
            webhook_delivery: webhook_delivery(&file.webhook_delivery, &text)?,
            webhooks: webhooks(
                &file.webhooks,
                &text,
                file.webhook_delivery
                    .allow_private_networks
                    .unwrap_or(false),
            )?,
            metrics: file.api.metrics.unwrap_or_default(),
            recording,
            database: crate::store::ConnectOptions {
                pool_size: file.database.pool_size.map(|n| n.get() as u32),
                statement_timeout: file.database.statement_timeout_ms.map(Bounded::millis),
            },
        })
    }
}

/// [tls], required and checked (its files read) when TLS is on; ignored
/// without sip_tls_listen.
fn tls_settings(
    file: &FileConfig,
    text: &FileText,
    on: bool,
) -> Result<Option<TlsSettings>, ConfigError> {
    if !on {
        return Ok(None);
    }
    let t = &file.tls;
    let in_file = |message: String| ConfigError::File {
        file: if text.name.is_empty() {
            "configuration".into()
        } else {
            text.name.clone()
        },
        message,
    };
    let (Some(cert_file), Some(key_file)) = (&t.cert_file, &t.key_file) else {
        return Err(in_file(
            "sip_tls_listen needs tls.cert_file and tls.key_file (PEM)".into(),
        ));
    };
    let settings = TlsSettings {
        cert_file: cert_file.clone(),
        key_file: key_file.clone(),
        ca_file: t.ca_file.clone(),
        verify_client: t.verify_client.unwrap_or(false),
        client_names: t.client_names.clone().unwrap_or_default(),
    };
    // Read now, so that a bad file is a configuration error at start-up
    // and a refused reload, not a failure at the first connection.
    TlsContext::load(&settings).map_err(in_file)?;
    Ok(Some(settings))
}

/// The bounds on stream connections: [sip] over the defaults.
fn connection_limits(sip: &super::file::SipFile) -> ConnectionLimits {
    let d = ConnectionLimits::default();
    ConnectionLimits {
        max_total: sip
            .max_connections
            .map_or(d.max_total, |n| n.get() as usize),
        max_per_source: sip
            .max_connections_per_source
            .map_or(d.max_per_source, |n| n.get() as usize),
        idle: sip.connection_idle_secs.map_or(d.idle, Bounded::secs),
        max_message: sip
            .max_message_bytes
            .map_or(d.max_message, |n| n.get() as usize),
        message_time: sip
            .message_timeout_ms
            .map_or(d.message_time, Bounded::millis),
        handshake_time: d.handshake_time,
    }
}

/// The surveys: each [surveys.NAME] over [survey], or one "smiley" from
/// [survey] alone.
fn surveys(file: &FileConfig, text: &FileText) -> Result<Vec<SurveyConfig>, ConfigError> {
    if file.surveys.is_empty() {
        let table = SurveyTable {
            key: "survey".into(),
            own: &file.survey,
            base: None,
            text,
        };
        return Ok(vec![table.resolve("smiley")?]);
    }
    let mut out = Vec::new();
    for (name, own) in &file.surveys {
        let key = format!("surveys.{name}");
        if !is_token(name) {
            let message = "survey names are letters, digits, - and _";
            return Err(match text.survey_name_span(name) {
                Some(span) => text.error_at(span, key, message),
                None => key_err(&key, message),
            });
        }
        let table = SurveyTable {
            key,
            own,
            base: Some(&file.survey),
            text,
        };
        out.push(table.resolve(name)?);
    }
    Ok(out)
}

/// Where a survey got a setting; the order is how specific the place is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Written {
    /// Nowhere: the built-in default.
    Default,
    /// In [survey], inherited by a [surveys.NAME].
    Inherited,
    /// In the survey's own table.
    Own,
}

/// One survey's table (`key`: "survey" or "surveys.NAME") over [survey].
struct SurveyTable<'f> {
    key: String,
    own: &'f SurveyFile,
    base: Option<&'f SurveyFile>,
    text: &'f FileText,
}

/// A survey setting as the survey gets it.
struct Setting<'f, T> {
    name: &'static str,
    value: Option<&'f Spanned<T>>,
    written: Written,
}

impl<'f> SurveyTable<'f> {
    /// Setting `name`, read from a table by `field`.
    fn setting<T>(
        &self,
        name: &'static str,
        field: impl Fn(&'f SurveyFile) -> &'f Option<Spanned<T>>,
    ) -> Setting<'f, T> {
        let (value, written) = match (field(self.own), self.base.map(&field)) {
            (Some(v), _) => (Some(v), Written::Own),
            (None, Some(Some(v))) => (Some(v), Written::Inherited),
            _ => (None, Written::Default),
        };
        Setting {
            name,
            value,
            written,
        }
    }

    /// An error in a setting: at the line where it is written, which is in
    /// [survey] when inherited; just the key for a default.
    fn error<T>(&self, s: &Setting<T>, message: impl Into<String>) -> ConfigError {
        let message = message.into();
        let (key, message) = match s.written {
            Written::Inherited => (
                format!("survey.{}", s.name),
                format!("{message} (inherited by {})", self.key),
            ),
            Written::Own | Written::Default => (format!("{}.{}", self.key, s.name), message),
        };
        match s.value {
            Some(v) => self.text.error_at(v.span(), key, message),
            None => key_err(&key, message),
        }
    }

    /// A setting's value checked by `check`, or the default.
    fn check<T, U>(
        &self,
        s: &Setting<T>,
        default: U,
        check: impl Fn(&T) -> Result<U, String>,
    ) -> Result<U, ConfigError> {
        match s.value {
            None => Ok(default),
            Some(v) => check(v.get_ref()).map_err(|e| self.error(s, e)),
        }
    }

    fn resolve(&self, name: &str) -> Result<SurveyConfig, ConfigError> {
        let attempts = self.check(&self.setting("attempts", |f| &f.attempts), 3, |v| {
            Bounded::<1, 10>::try_from(*v).map(|n| n.get() as u32)
        })?;
        let digit_timeout = self.check(
            &self.setting("digit_timeout_ms", |f| &f.digit_timeout_ms),
            Duration::from_millis(5000),
            |v| Bounded::<100, 120_000>::try_from(*v).map(Bounded::millis),
        )?;
        let inter_digit_timeout = self.check(
            &self.setting("inter_digit_timeout_ms", |f| &f.inter_digit_timeout_ms),
            Duration::from_millis(1500),
            |v| Bounded::<100, 10_000>::try_from(*v).map(Bounded::millis),
        )?;
        let kind = self.own.kind.or(self.base.and_then(|b| b.kind));
        let scale = match kind.unwrap_or(ScaleKind::Smiley) {
            ScaleKind::Smiley => self.smiley()?,
            ScaleKind::Csat => Scale::csat(),
            ScaleKind::Nps => Scale::nps(),
        };
        let language = self.check(
            &self.setting("language", |f| &f.language),
            Language("en".into()),
            |v| v.parse(),
        )?;
        let comment = self.own.comment.or(self.base.and_then(|b| b.comment));
        Ok(SurveyConfig {
            name: name.to_string(),
            settings: SurveySettings {
                scale,
                digit_timeout,
                inter_digit_timeout,
                attempts,
                // The default: every caller is offered a comment.
                comment: comment.unwrap_or(CommentPolicy::Always),
            },
            language: language.0,
        })
    }

    /// The smiley scale from happy_key and sad_key, which share no key.
    fn smiley(&self) -> Result<Scale, ConfigError> {
        let happy = self.setting("happy_key", |f| &f.happy_key);
        let sad = self.setting("sad_key", |f| &f.sad_key);
        let Keys(happy_keys) = self.check(&happy, Keys(vec!['1']), |v| v.parse())?;
        let Keys(sad_keys) = self.check(&sad, Keys(vec!['2']), |v| v.parse())?;
        if happy_keys.iter().any(|k| sad_keys.contains(k)) {
            // Blame the one written in the more specific place, sad_key
            // when both are.
            return Err(if happy.written > sad.written {
                self.error(&happy, "shares a key with sad_key")
            } else {
                self.error(&sad, "shares a key with happy_key")
            });
        }
        Ok(Scale::smiley(happy_keys, sad_keys))
    }
}

/// [webhook_delivery]: the CA file must hold at least one PEM certificate
/// (read now, so a typo stops the daemon instead of every delivery).
fn webhook_delivery(
    file: &WebhookDeliveryFile,
    text: &FileText,
) -> Result<WebhookDelivery, ConfigError> {
    let ca_file = match &file.ca_file {
        None => None,
        Some(path) => {
            let p = path.get_ref();
            let error = |m: String| text.error_at(path.span(), "webhook_delivery.ca_file", m);
            let pem = std::fs::read(p).map_err(|e| error(format!("{}: {e}", p.display())))?;
            match reqwest::Certificate::from_pem_bundle(&pem) {
                Ok(certs) if !certs.is_empty() => {}
                Ok(_) => return Err(error(format!("{}: no PEM certificate in it", p.display()))),
                Err(e) => return Err(error(format!("{}: {e}", p.display()))),
            }
            Some(p.clone())
        }
    };
    Ok(WebhookDelivery {
        ca_file,
        allow_private_networks: file.allow_private_networks.unwrap_or(false),
    })
}

/// The [[webhooks]] receivers: a secret of at least 16 characters, each URL
/// once, no address literal that deliveries would refuse.
fn webhooks(
    list: &[WebhookFile],
    text: &FileText,
    allow_private_networks: bool,
) -> Result<Vec<WebhookConfig>, ConfigError> {
    let mut out: Vec<WebhookConfig> = Vec::new();
    for (i, w) in list.iter().enumerate() {
        let url = &w.url.get_ref().0;
        if let Err(refused) =
            crate::model::webhook_destination::check_url_literal(url, allow_private_networks)
        {
            return Err(text.error_at(w.url.span(), format!("webhooks[{i}].url"), refused));
        }
        if w.secret.get_ref().chars().count() < 16 {
            return Err(text.error_at(
                w.secret.span(),
                format!("webhooks[{i}].secret"),
                format!("the secret for {url} must be at least 16 characters"),
            ));
        }
        if out.iter().any(|o| &o.url == url) {
            return Err(text.error_at(
                w.url.span(),
                format!("webhooks[{i}].url"),
                format!("'{url}' is listed twice"),
            ));
        }
        out.push(WebhookConfig {
            url: url.clone(),
            secret: w.secret.get_ref().clone(),
        });
    }
    Ok(out)
}
