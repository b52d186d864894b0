//! Query-string parsing. Our own extractor instead of axum's `Query<T>` so
//! that no plain-text rejection ever reaches a client, unknown or repeated
//! parameters are refused (a typo like `agnet=` would otherwise silently
//! widen the figures), and every error names its parameter.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};

use super::error::ApiError;
use crate::store::{Cursor, Filter};

/// The raw query parameters of a request, in order.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::invalid("query string", e.body_text()))?;
        Ok(Params(pairs))
    }
}

/// 415 unless the body is declared `application/json`.
pub fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if json {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type: must be application/json",
        ))
    }
}

/// Limits for `limit`.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 1000;

impl Params {
    #[cfg(test)]
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Params(pairs)
    }

    /// Refuses names outside `allowed` and names given twice.
    pub fn only(&self, allowed: &[&str]) -> Result<&Self, ApiError> {
        for (i, (name, _)) in self.0.iter().enumerate() {
            if !allowed.contains(&name.as_str()) {
                let expected = if allowed.is_empty() {
                    "this endpoint takes none".to_owned()
                } else {
                    format!("expected one of: {}", allowed.join(", "))
                };
                return Err(ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "unknown_parameter",
                    format!("{name}: unknown parameter ({expected})"),
                ));
            }
            if self.0[..i].iter().any(|(n, _)| n == name) {
                return Err(ApiError::invalid(name, "given more than once"));
            }
        }
        Ok(self)
    }

    /// The value of `name` as sent. An empty value is a value: typed
    /// parameters (times, numbers, enums) refuse it, as the OpenAPI
    /// document says.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A free-text filter (agent, queue); empty counts as not given.
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// An RFC 3339 timestamp, normalised to UTC.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.get(name).map(|v| parse_time(name, v)).transpose()
    }

    /// A non-negative integer.
    pub fn count(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| i64::try_from(*n).is_ok())
                    .ok_or_else(|| ApiError::invalid(name, "not a non-negative 64-bit integer"))
            })
            .transpose()
    }

    /// Page size: `DEFAULT_LIMIT` unless given, 1..=`MAX_LIMIT`.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid("limit", format!("must be an integer from 1 to {MAX_LIMIT}"))
                }),
        }
    }

    pub fn cursor(&self) -> Result<Option<Cursor>, ApiError> {
        self.get("cursor")
            .map(|v| {
                v.parse::<Cursor>()
                    .map_err(|_| ApiError::invalid("cursor", "not a cursor returned by this API"))
            })
            .transpose()
    }

    /// `true` or `false`.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|v| match v {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::invalid(name, "must be 'true' or 'false'")),
            })
            .transpose()
    }

    /// An answer's label: happy or sad (smiley), or a score 0–10.
    pub fn rating(&self) -> Result<Option<String>, ApiError> {
        self.get("rating")
            .map(|v| match v {
                "happy" | "sad" | "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9"
                | "10" => Ok(v.to_owned()),
                _ => Err(ApiError::invalid(
                    "rating",
                    "must be 'happy', 'sad' or a score from 0 to 10",
                )),
            })
            .transpose()
    }

    /// `score_max`: a score from 0 to 10.
    pub fn score_max(&self) -> Result<Option<u8>, ApiError> {
        self.get("score_max")
            .map(|v| {
                v.parse::<u8>().ok().filter(|n| *n <= 10).ok_or_else(|| {
                    ApiError::invalid("score_max", "must be an integer from 0 to 10")
                })
            })
            .transpose()
    }

    /// The common filter: survey, agent, queue and the [from, to) window,
    /// plus rating; parameters the endpoint did not allow are simply absent.
    /// A window with `to` before `from` is empty, like any half-open range.
    pub fn filter(&self) -> Result<Filter, ApiError> {
        let from = self.time("from")?;
        let to = self.time("to")?;
        Ok(Filter {
            survey: self.string("survey"),
            kind: None,
            agent: self.string("agent"),
            queue: self.string("queue"),
            from,
            to,
            rating: self.rating()?,
            has_comment: self.boolean("has_comment")?,
            followed_up: self.boolean("followed_up")?,
            score_max: self.score_max()?,
        })
    }
}

/// Parses RFC 3339. A '+' in an offset arrives as a space when the client did
/// not percent-encode it, so that spelling is accepted too.
fn parse_time(name: &str, v: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(v)
        .or_else(|e| match v.rfind(' ') {
            Some(i) if i > 10 => {
                DateTime::parse_from_rfc3339(&format!("{}+{}", &v[..i], &v[i + 1..]))
            }
            _ => Err(e),
        })
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid(
                name,
                "not an RFC 3339 timestamp (e.g. 2024-11-23T12:00:00Z)",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        Params::new(
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        )
    }

    #[test]
    fn times() {
        let t = |v: &str| p(&[("from", v)]).time("from");
        let want = DateTime::parse_from_rfc3339("2024-11-23T11:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        assert_eq!(t("2024-11-23T11:00:00Z").ok().flatten(), want);
        assert_eq!(t("2024-11-23T12:00:00+01:00").ok().flatten(), want);
        assert_eq!(t("2024-11-23T12:00:00 01:00").ok().flatten(), want);
        assert!(t("").is_err(), "an empty time is not a time");
        let err = t("yesterday").expect_err("rejected");
        assert!(err.message.starts_with("from: not an RFC 3339 timestamp"));
        assert!(t("2024-11-23").is_err());
    }

    #[test]
    fn unknown_and_repeated() {
        let e = p(&[("agnet", "x")]).only(&["agent"]).expect_err("unknown");
        assert_eq!(e.code, "unknown_parameter");
        assert!(e.message.starts_with("agnet: "));
        let e = p(&[("agent", "x"), ("agent", "y")])
            .only(&["agent"])
            .expect_err("repeated");
        assert!(e.message.starts_with("agent: "));
        assert!(p(&[("agent", "x")]).only(&["agent"]).is_ok());
    }

    #[test]
    fn limits() {
        assert_eq!(p(&[]).limit().ok(), Some(DEFAULT_LIMIT));
        assert_eq!(p(&[("limit", "1000")]).limit().ok(), Some(1000));
        for bad in ["0", "1001", "-1", "ten", "1.5"] {
            let e = p(&[("limit", bad)]).limit().expect_err(bad);
            assert!(e.message.starts_with("limit: "), "{}", e.message);
        }
    }

    #[test]
    fn window_order() {
        let f = p(&[
            ("from", "2024-11-24T00:00:00Z"),
            ("to", "2024-11-23T00:00:00Z"),
        ])
        .filter()
        .expect("a backwards window is an empty one");
        assert!(f.to < f.from);
        assert_eq!(
            p(&[("agent", "")]).filter().ok().and_then(|f| f.agent),
            None
        );
    }
}
