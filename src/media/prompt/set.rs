//! All prompts by language, survey and name, in two layers: the files
//! shipped in `prompts_dir` and the ones uploaded since into the custom
//! directory. A custom prompt hides the shipped one with the same key;
//! removing it brings the shipped one back.
//!
//! A call looks a prompt up from the most to the least specific place, so a
//! survey can have its own question while sharing "thank you", and a caller
//! whose language is missing a prompt still hears it in English:
//!
//! ```text
//! <lang>/<survey>/<name> → <lang>/<name> → (the same for each shorter
//! form of the tag: de-ch → de) → en/<survey>/<name> → en/<name>
//! ```
//!
//! Within each step the custom layer wins over the shipped one.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::key::{normalise_language, normalise_survey, PromptKey};
use super::{Prompt, PromptError};

/// The language every other falls back to; it must be complete.
pub const DEFAULT_LANGUAGE: &str = "en";

/// Prompts the survey cannot run without.
pub const REQUIRED: &[&str] = &["survey", "invalid", "thanks", "goodbye"];

/// Prompts used only by optional features (voice comments).
pub const OPTIONAL: &[&str] = &["comment", "beep"];

/// Which layer a prompt comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Installed with smileyd, under `prompts_dir`.
    Shipped,
    /// Uploaded through the API, under `custom_prompts_dir`.
    Custom,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Shipped => "shipped",
            Source::Custom => "custom",
        }
    }
}

/// One prompt as listed: where it is, which layer, how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptInfo {
    pub key: PromptKey,
    pub source: Source,
    pub duration: Duration,
}

/// Prompts by key, in two layers.
#[derive(Debug, Clone, Default)]
pub struct PromptSet {
    shipped: HashMap<PromptKey, Arc<Prompt>>,
    custom: HashMap<PromptKey, Arc<Prompt>>,
}

impl PromptSet {
    pub fn new() -> PromptSet {
        PromptSet::default()
    }

    /// Loads the shipped layer from `<root>/<lang>/<name>.wav` and
    /// `<root>/<lang>/<survey>/<name>.wav`, and fails if the default
    /// language lacks a required prompt or any file is unreadable, so a bad
    /// deployment is caught at start-up rather than in the middle of a call.
    pub fn load_dir(root: &Path) -> Result<PromptSet, PromptError> {
        let mut set = PromptSet::new();
        for file in wav_files(root)? {
            let prompt = Prompt::from_wav_file(file.key.name.clone(), &file.path)?;
            set.shipped.insert(file.key, Arc::new(prompt));
        }
        for name in REQUIRED {
            if set.get_exact(DEFAULT_LANGUAGE, None, name).is_none() {
                let file = root.join(DEFAULT_LANGUAGE).join(format!("{name}.wav"));
                return Err(PromptError::Missing {
                    file: file.display().to_string(),
                });
            }
        }
        Ok(set)
    }

    /// Adds the custom layer from `root`, laid out like `prompts_dir`. A
    /// missing directory is an empty layer (nothing uploaded yet). A file
    /// that cannot be read is skipped and returned, so the shipped prompt
    /// plays instead of the daemon refusing to start over one upload.
    pub fn load_custom(&mut self, root: &Path) -> Result<Vec<PromptError>, PromptError> {
        if !root.exists() {
            return Ok(Vec::new());
        }
        let mut skipped = Vec::new();
        for file in wav_files(root)? {
            match Prompt::from_wav_file(file.key.name.clone(), &file.path) {
                Ok(p) => {
                    self.custom.insert(file.key, Arc::new(p));
                }
                Err(e) => skipped.push(e),
            }
        }
        Ok(skipped)
    }

    /// A shared prompt, with the language fallback (no survey).
    pub fn get(&self, lang: &str, name: &str) -> Option<Arc<Prompt>> {
        self.lookup(&[], lang, name)
    }

    /// The prompt a call of `survey` in `lang` plays for `name`.
    pub fn get_for(&self, survey: &str, lang: &str, name: &str) -> Option<Arc<Prompt>> {
        self.lookup(&[survey], lang, name)
    }

    /// Like `get_for`, trying the folder of the survey's scale (`csat`,
    /// `nps`) after the survey's own: a survey named `after-sales` of kind
    /// csat then asks the shipped CSAT question, not the smiley one.
    pub fn get_for_scale(
        &self,
        survey: &str,
        scale: &str,
        lang: &str,
        name: &str,
    ) -> Option<Arc<Prompt>> {
        self.lookup(&[survey, scale], lang, name)
    }

    /// The lookup order in the module documentation; `surveys` are tried in
    /// order before the shared prompt of each language.
    pub fn lookup(&self, surveys: &[&str], lang: &str, name: &str) -> Option<Arc<Prompt>> {
        let surveys: Vec<String> = surveys.iter().filter_map(|s| normalise_survey(s)).collect();
        for lang in fallback_languages(lang) {
            for survey in &surveys {
                if let Some(p) = self.get_exact(&lang, Some(survey), name) {
                    return Some(p);
                }
            }
            if let Some(p) = self.get_exact(&lang, None, name) {
                return Some(p);
            }
        }
        None
    }

    /// The prompt stored under exactly this key (custom over shipped), with
    /// its layer; no fallback.
    pub fn exact(&self, key: &PromptKey) -> Option<(Arc<Prompt>, Source)> {
        if let Some(p) = self.custom.get(key) {
            return Some((p.clone(), Source::Custom));
        }
        self.shipped.get(key).map(|p| (p.clone(), Source::Shipped))
    }

    /// Every key with a prompt, custom over shipped, sorted by language,
    /// then survey (shared first), then name.
    pub fn list(&self) -> Vec<PromptInfo> {
        let keys: HashSet<&PromptKey> = self.shipped.keys().chain(self.custom.keys()).collect();
        let mut out: Vec<PromptInfo> = keys
            .into_iter()
            .filter_map(|k| {
                self.exact(k).map(|(p, source)| PromptInfo {
                    key: k.clone(),
                    source,
                    duration: p.duration(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Languages with at least one prompt, sorted.
    pub fn languages(&self) -> Vec<String> {
        let langs: HashSet<&String> = self
            .shipped
            .keys()
            .chain(self.custom.keys())
            .map(|k| &k.language)
            .collect();
        let mut langs: Vec<String> = langs.into_iter().cloned().collect();
        langs.sort();
        langs
    }

    /// Adds or replaces a shipped, shared prompt, keyed by its name.
    pub fn insert(&mut self, lang: &str, prompt: Arc<Prompt>) {
        let key = PromptKey {
            language: normalise_language(lang).unwrap_or_else(|| lang.to_ascii_lowercase()),
            survey: None,
            name: prompt.name.clone(),
        };
        self.shipped.insert(key, prompt);
    }

    /// Puts a prompt into the custom layer (or takes it out with `None`).
    pub fn set_custom(&mut self, key: PromptKey, prompt: Option<Arc<Prompt>>) {
        match prompt {
            Some(p) => self.custom.insert(key, p),
            None => self.custom.remove(&key),
        };
    }

    fn get_exact(&self, lang: &str, survey: Option<&str>, name: &str) -> Option<Arc<Prompt>> {
        let key = PromptKey {
            language: lang.to_string(),
            survey: survey.map(str::to_string),
            name: name.to_string(),
        };
        self.custom
            .get(&key)
            .or_else(|| self.shipped.get(&key))
            .cloned()
    }
}

/// `lang`, then each shorter form of it (RFC 4647 §3.4 lookup: `zh-hant-tw`
/// → `zh-hant` → `zh`), then the default language.
fn fallback_languages(lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(mut tag) = normalise_language(lang) {
        loop {
            out.push(tag.clone());
            match tag.rfind('-') {
                Some(i) => tag.truncate(i),
                None => break,
            }
        }
    }
    if !out.iter().any(|l| l == DEFAULT_LANGUAGE) {
        out.push(DEFAULT_LANGUAGE.to_string());
    }
    out
}

/// A WAV file found under a prompts directory, with the key its place gives.
struct WavFile {
    key: PromptKey,
    path: PathBuf,
}

/// `<root>/<lang>/*.wav` and `<root>/<lang>/<survey>/*.wav`, sorted. Entries
/// whose names cannot be keys (hidden files, temporary files of an upload,
/// the generator script, notes) are passed over.
fn wav_files(root: &Path) -> Result<Vec<WavFile>, PromptError> {
    let mut out = Vec::new();
    for lang_dir in sorted_entries(root)? {
        let Some(lang) = visible_name(&lang_dir) else {
            continue;
        };
        if !lang_dir.is_dir() {
            continue;
        }
        for entry in sorted_entries(&lang_dir)? {
            let Some(entry_name) = visible_name(&entry) else {
                continue;
            };
            if entry.is_dir() {
                for file in sorted_entries(&entry)? {
                    if let Some(key) = wav_key(&file, &lang, Some(&entry_name)) {
                        out.push(WavFile { key, path: file });
                    }
                }
            } else if let Some(key) = wav_key(&entry, &lang, None) {
                out.push(WavFile { key, path: entry });
            }
        }
    }
    Ok(out)
}

fn wav_key(file: &Path, lang: &str, survey: Option<&str>) -> Option<PromptKey> {
    let is_wav = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
    if !is_wav || !file.is_file() || visible_name(file).is_none() {
        return None;
    }
    let name = file.file_stem()?.to_str()?;
    PromptKey::loose(lang, survey, name).ok()
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, PromptError> {
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
