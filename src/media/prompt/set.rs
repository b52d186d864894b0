//! All prompts by language, loaded from `<root>/<lang>/<name>.wav`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::{Prompt, PromptError};

/// The language every other falls back to; it must be complete.
pub const DEFAULT_LANGUAGE: &str = "en";

/// Prompts the survey cannot run without.
pub const REQUIRED: &[&str] = &["survey", "invalid", "thanks", "goodbye"];

/// Prompts used only by optional features (voice comments).
pub const OPTIONAL: &[&str] = &["comment", "beep"];

/// Prompts by language, then by name.
#[derive(Debug, Clone, Default)]
pub struct PromptSet {
    languages: HashMap<String, HashMap<String, Arc<Prompt>>>,
}

impl PromptSet {
    pub fn new() -> PromptSet {
        PromptSet::default()
    }

    /// Loads every `<root>/<lang>/<name>.wav`, and fails if the default
    /// language lacks a required prompt, so a bad deployment is caught at
    /// start-up rather than in the middle of a call.
    pub fn load_dir(root: &Path) -> Result<PromptSet, PromptError> {
        let mut set = PromptSet::new();
        for lang_dir in sorted_entries(root)? {
            let Some(lang) = visible_name(&lang_dir) else {
                continue;
            };
            if !lang_dir.is_dir() {
                continue;
            }
            for file in sorted_entries(&lang_dir)? {
                let is_wav = file
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
                if !is_wav || !file.is_file() || visible_name(&file).is_none() {
                    continue;
                }
                let Some(name) = file.file_stem().and_then(|s| s.to_str()) else {
                    continue;
                };
                let prompt = Prompt::from_wav_file(name, &file)?;
                set.insert(&lang, Arc::new(prompt));
            }
        }
        for name in REQUIRED {
            if set.get_exact(DEFAULT_LANGUAGE, name).is_none() {
                let file = root.join(DEFAULT_LANGUAGE).join(format!("{name}.wav"));
                return Err(PromptError::Missing {
                    file: file.display().to_string(),
                });
            }
        }
        Ok(set)
    }

    /// A prompt in `lang`, else in its primary language (`de` for `de-CH`),
    /// else in the default language.
    pub fn get(&self, lang: &str, name: &str) -> Option<Arc<Prompt>> {
        let lang = normalise(lang);
        let primary = lang.split('-').next().unwrap_or("");
        self.get_exact(&lang, name)
            .or_else(|| self.get_exact(primary, name))
            .or_else(|| self.get_exact(DEFAULT_LANGUAGE, name))
    }

    /// Languages with at least one prompt, sorted.
    pub fn languages(&self) -> Vec<String> {
        let mut langs: Vec<String> = self.languages.keys().cloned().collect();
        langs.sort();
        langs
    }

    /// Adds or replaces a prompt, keyed by its name.
    pub fn insert(&mut self, lang: &str, prompt: Arc<Prompt>) {
        self.languages
            .entry(normalise(lang))
            .or_default()
            .insert(prompt.name.clone(), prompt);
    }

    fn get_exact(&self, lang: &str, name: &str) -> Option<Arc<Prompt>> {
        self.languages.get(lang)?.get(name).cloned()
    }
}

/// Language tags compare case-insensitively (RFC 5646 §2.1.1); `_` is a
/// common misspelling of `-`.
fn normalise(lang: &str) -> String {
    lang.trim().to_ascii_lowercase().replace('_', "-")
}

fn sorted_entries(dir: &Path) -> Result<Vec<std::path::PathBuf>, PromptError> {
    let dir_err = |source| PromptError::Dir {
        dir: dir.display().to_string(),
        source,
    };
    let mut paths = std::fs::read_dir(dir)
        .map_err(dir_err)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(dir_err)?;
    paths.sort();
    Ok(paths)
}

/// The entry's name unless it is hidden or not UTF-8.
fn visible_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    (!name.starts_with('.')).then(|| name.to_string())
}
