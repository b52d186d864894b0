//! Settings that check themselves: each type refuses a value that is wrong
//! on its own while the file is read (`#[serde(try_from)]`), so toml and
//! serde report the file, line and key. The flags parse the same text with
//! `FromStr`. Checks that need several values are in `load`.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::model::is_token;

/// `TryFrom<String>` (what serde's `try_from` wants) through `FromStr`, so
/// the file and the flags accept the same text.
macro_rules! from_text {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }
    )*};
}
from_text!(
    ListenAddr,
    DatabaseUrl,
    PortRange,
    PublicIp,
    Network,
    WebhookUrl,
    MetricsAccess
);

/// An integer within MIN..=MAX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u64")]
pub struct Bounded<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> TryFrom<u64> for Bounded<MIN, MAX> {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        match (MIN..=MAX).contains(&v) {
            true => Ok(Bounded(v)),
            false if MIN == 1 && MAX == u64::MAX => Err("must be positive".into()),
            false => Err(format!("must be between {MIN} and {MAX}")),
        }
    }
}

impl<const MIN: u64, const MAX: u64> Bounded<MIN, MAX> {
    pub fn get(self) -> u64 {
        self.0
    }
    pub fn millis(self) -> Duration {
        Duration::from_millis(self.0)
    }
    pub fn secs(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

/// At least one: a timeout or a length.
pub type Positive = Bounded<1, { u64::MAX }>;

/// A speech threshold in dBFS.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(try_from = "f64")]
pub struct Dbfs(pub f64);

impl TryFrom<f64> for Dbfs {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        match (-90.0..=-10.0).contains(&v) {
            true => Ok(Dbfs(v)),
            false => Err("must be between -90 and -10 (dBFS)".into()),
        }
    }
}

/// An address to listen on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ListenAddr(pub SocketAddr);

impl FromStr for ListenAddr {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        v.parse()
            .map(ListenAddr)
            .map_err(|_| format!("'{v}' is not an address:port (e.g. 0.0.0.0:5060)"))
    }
}

/// sqlite:… or postgres://…
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DatabaseUrl(pub String);

impl FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        match ["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| v.starts_with(p))
        {
            true => Ok(DatabaseUrl(v.to_string())),
            false => Err(format!("'{v}' must start with sqlite: or postgres://")),
        }
    }
}

/// The RTP ports, FIRST-LAST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PortRange(pub u16, pub u16);

impl FromStr for PortRange {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        let err = || format!("'{v}' must be FIRST-LAST with 1024 ≤ FIRST < LAST ≤ 65535");
        let (a, b) = v.split_once('-').ok_or_else(err)?;
        let (a, b): (u16, u16) = (
            a.trim().parse().map_err(|_| err())?,
            b.trim().parse().map_err(|_| err())?,
        );
        match a >= 1024 && b > a {
            true => Ok(PortRange(a, b)),
            false => Err(err()),
        }
    }
}

/// The address for SDP and Contact; empty: the one the INVITE arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PublicIp(pub Option<IpAddr>);

impl FromStr for PublicIp {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        if v.is_empty() {
            return Ok(PublicIp(None));
        }
        v.parse()
            .map(|ip| PublicIp(Some(ip)))
            .map_err(|_| format!("'{v}' is not an IP address"))
    }
}

/// A CIDR network; a bare address is the network of that one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Network(pub IpNet);

impl FromStr for Network {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        v.parse()
            .or_else(|_| v.parse::<IpAddr>().map(IpNet::from))
            .map(Network)
            .map_err(|_| format!("'{v}' is not a CIDR network"))
    }
}

/// A webhook receiver's URL (the rule the API also applies).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct WebhookUrl(pub String);

impl FromStr for WebhookUrl {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        let url = v.trim();
        match crate::model::webhook_url::is_valid(url) {
            true => Ok(WebhookUrl(url.to_string())),
            false => Err(format!("'{url}' must be an http:// or https:// URL")),
        }
    }
}

/// Who may read /metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum MetricsAccess {
    /// Anyone who can reach the port (a scraper without a token).
    Open,
    /// Like the read endpoints: a read token, or loopback while no tokens exist.
    #[default]
    Read,
    /// Not served (404).
    Off,
}

impl FromStr for MetricsAccess {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        match v {
            "open" => Ok(MetricsAccess::Open),
            "read" => Ok(MetricsAccess::Read),
            "off" => Ok(MetricsAccess::Off),
            _ => Err(format!("'{v}' must be open, read or off")),
        }
    }
}

/// DTMF keys, written "1" or "1,4".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys(pub Vec<char>);

impl FromStr for Keys {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        let keys: Vec<char> = v
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ',')
            .collect();
        if keys.is_empty() || keys.iter().any(|c| !"0123456789*#ABCD".contains(*c)) {
            return Err(format!("'{v}' must be DTMF keys (0-9, *, #, A-D)"));
        }
        Ok(Keys(keys))
    }
}

/// A prompt language tag, e.g. sv or da-DK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Language(pub String);

impl FromStr for Language {
    type Err = String;
    fn from_str(v: &str) -> Result<Self, String> {
        match is_token(v) {
            true => Ok(Language(v.to_string())),
            false => Err(format!("'{v}' is not a language code")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_named_in_the_message() {
        assert_eq!(Bounded::<1, 10>::try_from(10).map(Bounded::get), Ok(10));
        assert_eq!(
            Bounded::<1, 10>::try_from(11),
            Err("must be between 1 and 10".to_string())
        );
        assert_eq!(Positive::try_from(0), Err("must be positive".to_string()));
        assert!(Dbfs::try_from(-9.5).is_err());
    }

    #[test]
    fn text_settings_parse_as_flags_and_in_the_file() {
        assert_eq!("10000-10100".parse(), Ok(PortRange(10000, 10100)));
        assert!("100-200".parse::<PortRange>().is_err());
        assert_eq!("".parse(), Ok(PublicIp(None)));
        assert_eq!(
            "10.1.2.3".parse::<Network>().map(|n| n.0.to_string()),
            Ok("10.1.2.3/32".to_string())
        );
        assert_eq!("1, 4".parse(), Ok(Keys(vec!['1', '4'])));
        assert!("".parse::<Keys>().is_err());
        assert!(
            toml::from_str::<std::collections::BTreeMap<String, PortRange>>("p = \"1-2\"").is_err()
        );
    }
}
