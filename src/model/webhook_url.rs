//! Which webhook URLs are accepted: http(s), a host name or IPv4 address,
//! an optional port, a plain path. The same pattern is published in the
//! OpenAPI document, so clients (and fuzzers) know the rule exactly.

use std::sync::OnceLock;

use regex::Regex;

/// Also written literally on `NewWebhookJson::url` (a test keeps them equal).
pub const URL_PATTERN: &str = "^https?://(([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?\\.)*[a-zA-Z]([a-zA-Z0-9-]*[a-zA-Z0-9])?|(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3})(:([1-9][0-9]{0,3}|[1-5][0-9]{4}))?(/[A-Za-z0-9._~-]*)*$";

/// Whether `url` matches the pattern and parses as a URL.
pub fn is_valid(url: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(URL_PATTERN).ok());
    re.as_ref().is_some_and(|re| re.is_match(url)) && reqwest::Url::parse(url).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_and_refused() {
        for ok in [
            "http://127.0.0.1:9/hook",
            "https://crm-hooks.example.net/hooks/smileyd",
            "http://receiver:8080",
            "https://a.b.c:59999/x/y.z",
        ] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            "ftp://x/",
            "http://",
            "http://ep.anb.8:4/x",
            "http://999.1.1.1/",
            "http://x:70000/",
            "http://x/a*b",
            "http://x/?q=1",
            "http://-x/",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
