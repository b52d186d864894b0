//! What identifies one prompt file: its language, the survey it belongs to
//! (none for the prompts every survey shares) and its name.
//!
//! The same names become directories on disk and segments in API paths, so
//! they are checked here once: letters, digits, `-` and `_` only, which also
//! rules out `..` and path separators.

use std::path::PathBuf;

use super::set::{OPTIONAL, REQUIRED};

/// Longest language tag taken (RFC 5646 tags in practice stay far below).
const MAX_LANGUAGE_LEN: usize = 16;
/// Longest survey name taken as a prompt folder.
const MAX_SURVEY_LEN: usize = 64;

/// `<language>/[<survey>/]<name>.wav`, normalised.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PromptKey {
    /// Lower case, `-` between subtags.
    pub language: String,
    /// Lower case; `None` for a prompt shared by every survey.
    pub survey: Option<String>,
    pub name: String,
}

/// Why a language, survey or prompt name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("'{0}' is not a language tag (letters, digits and '-', e.g. sv or pt-br)")]
    Language(String),
    #[error("'{0}' is not a survey name (letters, digits, '-' and '_')")]
    Survey(String),
    #[error("'{0}' is not a prompt name; prompts are {names}", names = known_names().join(", "))]
    Name(String),
}

impl PromptKey {
    /// A key from names as a client or a directory listing gives them.
    /// `name` must be one of the prompts the survey plays.
    pub fn parse(language: &str, survey: Option<&str>, name: &str) -> Result<PromptKey, KeyError> {
        let key = PromptKey::loose(language, survey, name)?;
        if !is_known_name(&key.name) {
            return Err(KeyError::Name(name.to_string()));
        }
        Ok(key)
    }

    /// Like `parse`, but any well-formed name: files found on disk may be
    /// prompts of a newer version or of an optional feature.
    pub fn loose(language: &str, survey: Option<&str>, name: &str) -> Result<PromptKey, KeyError> {
        let language =
            normalise_language(language).ok_or_else(|| KeyError::Language(language.to_string()))?;
        let survey = match survey {
            Some(s) => Some(normalise_survey(s).ok_or_else(|| KeyError::Survey(s.to_string()))?),
            None => None,
        };
        if !is_word(name, MAX_SURVEY_LEN) {
            return Err(KeyError::Name(name.to_string()));
        }
        Ok(PromptKey {
            language,
            survey,
            name: name.to_string(),
        })
    }

    /// Where the file lives below a prompts directory.
    pub fn relative_path(&self) -> PathBuf {
        let mut p = PathBuf::from(&self.language);
        if let Some(s) = &self.survey {
            p.push(s);
        }
        p.push(format!("{}.wav", self.name));
        p
    }
}

impl std::fmt::Display for PromptKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.survey {
            Some(s) => write!(f, "{}/{}/{}", self.language, s, self.name),
            None => write!(f, "{}/{}", self.language, self.name),
        }
    }
}

/// The prompts the survey can play, required first.
pub fn known_names() -> Vec<&'static str> {
    REQUIRED.iter().chain(OPTIONAL).copied().collect()
}

pub fn is_known_name(name: &str) -> bool {
    REQUIRED.contains(&name) || OPTIONAL.contains(&name)
}

/// Language tags compare case-insensitively (RFC 5646 §2.1.1); `_` is a
/// common misspelling of `-`. `None` unless it looks like a tag.
pub fn normalise_language(lang: &str) -> Option<String> {
    let lang = lang.trim().to_ascii_lowercase().replace('_', "-");
    let ok = lang.len() <= MAX_LANGUAGE_LEN
        && lang.starts_with(|c: char| c.is_ascii_alphabetic())
        && lang
            .split('-')
            .all(|sub| !sub.is_empty() && sub.bytes().all(|b| b.is_ascii_alphanumeric()));
    ok.then_some(lang)
}

/// Survey names are matched case-insensitively, as the configuration does.
pub fn normalise_survey(survey: &str) -> Option<String> {
    let s = survey.trim().to_ascii_lowercase();
    is_word(&s, MAX_SURVEY_LEN).then_some(s)
}

fn is_word(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
