//! Where a call's context comes from: agent, queue, language and the
//! original call id are each read from an ordered list of sources, the first
//! that yields a value winning. PBXes differ, and custom X- headers get lost
//! on transfers, so admins list fallbacks (Diversion, the Request-URI user…).

use std::str::FromStr;

use regex::Regex;
use serde::Deserialize;

use crate::model::is_token;
use crate::sip::message::{self, Message};

/// One place to look.
#[derive(Clone, Debug)]
pub enum Origin {
    Header(String),
    /// The user part of the Request-URI (sip:agent-42@…).
    UriUser,
    FromUser,
    ToUser,
    /// RFC 5806 Diversion: the user part of the first entry.
    Diversion,
    /// RFC 7044 History-Info: the user part of the first entry.
    HistoryInfo,
    ReferredBy,
    /// RFC 3325 P-Asserted-Identity.
    AssertedIdentity,
}

#[derive(Clone, Debug)]
pub struct Source {
    pub origin: Origin,
    /// When set, the first capture group (or the whole match) is taken.
    pub regex: Option<Regex>,
}

/// A SIP header name.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HeaderName(pub String);

impl FromStr for HeaderName {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        match is_token(v) {
            true => Ok(HeaderName(v.to_string())),
            false => Err(format!("'{v}' is not a header name")),
        }
    }
}

impl TryFrom<String> for HeaderName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

/// The file form: "header:X-Agent-Id" or { source = "uri-user", regex = "agent-(\\d+)" }.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum SourceSpec {
    Plain(String),
    WithRegex {
        source: String,
        regex: Option<String>,
    },
}

impl TryFrom<SourceSpec> for Source {
    type Error = String;
    fn try_from(spec: SourceSpec) -> Result<Source, String> {
        let (name, regex) = match &spec {
            SourceSpec::Plain(s) => (s.as_str(), None),
            SourceSpec::WithRegex { source, regex } => (source.as_str(), regex.as_deref()),
        };
        let origin = match name.split_once(':') {
            Some((kind, header)) if kind.eq_ignore_ascii_case("header") => {
                let header: HeaderName = header.trim().parse()?;
                Origin::Header(header.0)
            }
            _ => match name.to_ascii_lowercase().as_str() {
                "uri-user" => Origin::UriUser,
                "from-user" => Origin::FromUser,
                "to-user" => Origin::ToUser,
                "diversion" => Origin::Diversion,
                "history-info" => Origin::HistoryInfo,
                "referred-by" => Origin::ReferredBy,
                "p-asserted-identity" => Origin::AssertedIdentity,
                other => {
                    return Err(format!(
                        "unknown source '{other}' (header:NAME, uri-user, from-user, to-user, diversion, history-info, referred-by, p-asserted-identity)"
                    ))
                }
            },
        };
        let regex = match regex {
            Some(r) => Some(Regex::new(r).map_err(|e| format!("bad regex '{r}': {e}"))?),
            None => None,
        };
        Ok(Source { origin, regex })
    }
}

impl Source {
    pub fn header(name: &str) -> Source {
        Source {
            origin: Origin::Header(name.to_string()),
            regex: None,
        }
    }

    fn raw<'a>(&self, invite: &'a Message) -> Option<&'a str> {
        let user_of = |v: &'a str| message::uri_user(message::uri_of(v));
        let first = |name: &'static str| invite.header_values(name).into_iter().next();
        match &self.origin {
            Origin::Header(h) => invite.header(h),
            Origin::UriUser => invite.request_uri().and_then(message::uri_user),
            Origin::FromUser => invite.header("From").and_then(user_of),
            Origin::ToUser => invite.header("To").and_then(user_of),
            Origin::Diversion => first("Diversion").and_then(user_of),
            Origin::HistoryInfo => first("History-Info").and_then(user_of),
            Origin::ReferredBy => invite.header("Referred-By").and_then(user_of),
            Origin::AssertedIdentity => first("P-Asserted-Identity").and_then(user_of),
        }
    }

    /// The value this source yields for a call, if any.
    pub fn value(&self, invite: &Message) -> Option<String> {
        let raw = self.raw(invite)?.trim();
        let taken = match &self.regex {
            Some(re) => {
                let caps = re.captures(raw)?;
                caps.get(1).or_else(|| caps.get(0))?.as_str()
            }
            None => raw,
        };
        let taken = taken.trim();
        (!taken.is_empty()).then(|| taken.chars().take(256).collect())
    }
}

/// The first value any of the sources yields.
pub fn first_value(sources: &[Source], invite: &Message) -> Option<String> {
    sources.iter().find_map(|s| s.value(invite))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(extra: &str) -> Message {
        let raw = format!(
            "INVITE sip:agent-42@pbx SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: \"C\" <sip:+4512345678@pbx>;tag=1\r\nTo: <sip:survey@pbx>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n{extra}\r\n"
        );
        message::parse(raw.as_bytes(), true).unwrap()
    }

    fn spec(s: &str, re: Option<&str>) -> Source {
        Source::try_from(SourceSpec::WithRegex {
            source: s.into(),
            regex: re.map(str::to_string),
        })
        .unwrap()
    }

    #[test]
    fn ordered_fallbacks_and_regex() {
        let m = invite("Diversion: <sip:1001@pbx>;reason=unconditional\r\n");
        let sources = vec![spec("header:X-Agent-Id", None), spec("diversion", None)];
        assert_eq!(first_value(&sources, &m).as_deref(), Some("1001"));
        let m = invite("X-Agent-Id: 77\r\nDiversion: <sip:1001@pbx>\r\n");
        assert_eq!(first_value(&sources, &m).as_deref(), Some("77"));
        let uri = vec![spec("uri-user", Some(r"agent-(\d+)"))];
        assert_eq!(first_value(&uri, &invite("")).as_deref(), Some("42"));
        let no_match = vec![
            spec("to-user", Some(r"agent-(\d+)")),
            spec("from-user", None),
        ];
        assert_eq!(
            first_value(&no_match, &invite("")).as_deref(),
            Some("+4512345678")
        );
        let empty = vec![spec("header:X-Agent-Id", None)];
        assert_eq!(first_value(&empty, &invite("X-Agent-Id:   \r\n")), None);
    }

    #[test]
    fn bad_specs_are_refused() {
        assert!(Source::try_from(SourceSpec::Plain("nowhere".into())).is_err());
        assert!(Source::try_from(SourceSpec::Plain("header:".into())).is_err());
        assert!(Source::try_from(SourceSpec::Plain("header:X Agent".into())).is_err());
        assert!(Source::try_from(SourceSpec::WithRegex {
            source: "uri-user".into(),
            regex: Some("(".into())
        })
        .is_err());
    }
}
