//! The configuration loader (src/config/): any text as the TOML file, with
//! the checks made while reading and those across values.
//!
//! Invariants: a loaded configuration has at least one survey, its default
//! survey is one of them, and its RTP port range is in order; an error
//! names the file and says something.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smileyd::fuzzing::config_from_text;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match config_from_text(text) {
        Ok(config) => {
            assert!(!config.surveys.is_empty());
            assert!(config
                .surveys
                .iter()
                .any(|s| s.name == config.default_survey));
            assert!(config.rtp_ports.0 <= config.rtp_ports.1);
            let _ = config.survey_for(Some("x"), Some("y"));
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(
                shown.contains("fuzz.toml") && shown.len() > "fuzz.toml: ".len(),
                "{shown}"
            );
        }
    }
});
