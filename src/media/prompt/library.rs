//! The prompt set that calls and the API share, and the one place that
//! changes it while the daemon runs.
//!
//! Calls take a snapshot (an `Arc<PromptSet>`) when they start and keep it
//! to the end, so a caller never hears half of an old prompt set and half
//! of a new one. An upload builds the next set beside the current one and
//! swaps the pointer: the next call hears it, calls in progress do not.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::set::{PromptInfo, PromptSet, Source};
use super::{atomic, Prompt, PromptError, PromptKey};
use crate::current::Current;

/// Largest WAV body accepted for upload: two minutes of CD-quality stereo
/// fit, while a mistaken upload of a whole recording does not.
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

/// Longest prompt accepted for upload. A survey question that long has
/// already lost the caller.
pub const MAX_UPLOAD_SECONDS: u64 = 120;

/// Why an upload was not installed; the old prompt stays in every case.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Not a WAV file, corrupt, empty, or a layout the decoder cannot read.
    #[error("{0}")]
    Invalid(PromptError),
    #[error("the upload is {size} bytes; a prompt may be at most {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("{0}")]
    TooLong(PromptError),
    /// The custom directory could not be written.
    #[error("cannot store {file}: {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
}

/// A handle on the live prompt set; clones share it.
#[derive(Clone)]
pub struct PromptLibrary {
    inner: Arc<Inner>,
}

struct Inner {
    current: Current<PromptSet>,
    custom_dir: PathBuf,
    /// One writer at a time: each builds the next set from the current one,
    /// so two uploads at once cannot drop each other's prompt.
    writer: Mutex<()>,
}

impl PromptLibrary {
    /// A library over an already loaded set; uploads go to `custom_dir`.
    pub fn new(set: PromptSet, custom_dir: impl Into<PathBuf>) -> PromptLibrary {
        PromptLibrary {
            inner: Arc::new(Inner {
                current: Current::new(set),
                custom_dir: custom_dir.into(),
                writer: Mutex::new(()),
            }),
        }
    }

    /// Loads the shipped prompts (errors stop start-up) and the custom
    /// layer over them; custom files that cannot be read are returned so the
    /// daemon can log them and play the shipped prompt instead.
    pub fn open(
        shipped_dir: &Path,
        custom_dir: &Path,
    ) -> Result<(PromptLibrary, Vec<PromptError>), PromptError> {
        let mut set = PromptSet::load_dir(shipped_dir)?;
        let skipped = set.load_custom(custom_dir)?;
        Ok((PromptLibrary::new(set, custom_dir), skipped))
    }

    /// The current set, for one call from its start to its end.
    pub fn snapshot(&self) -> Arc<PromptSet> {
        self.inner.current.get()
    }

    pub fn custom_dir(&self) -> &Path {
        &self.inner.custom_dir
    }

    /// Validates a WAV image (any rate, channels or depth), converts it to
    /// 8 kHz mono, stores it atomically in the custom directory and makes it
    /// the prompt for `key` for every call that starts from now on.
    ///
    /// Decoding and resampling take a while for long uploads: call this from
    /// a blocking context.
    pub fn install(&self, key: &PromptKey, wav: &[u8]) -> Result<PromptInfo, InstallError> {
        if wav.len() > MAX_UPLOAD_BYTES {
            return Err(InstallError::TooLarge {
                size: wav.len(),
                max: MAX_UPLOAD_BYTES,
            });
        }
        let label = format!("{key}.wav");
        let mut prompt = Prompt::from_wav_bytes_max(label.clone(), wav, MAX_UPLOAD_SECONDS)
            .map_err(|e| match e {
                PromptError::TooLong { .. } => InstallError::TooLong(e),
                other => InstallError::Invalid(other),
            })?;
        let seconds = prompt.pcm.len() as u64 / u64::from(super::SAMPLE_RATE);
        if prompt.pcm.len() as u64 > MAX_UPLOAD_SECONDS * u64::from(super::SAMPLE_RATE) {
            return Err(InstallError::TooLong(PromptError::TooLong {
                file: label,
                seconds,
                max_seconds: MAX_UPLOAD_SECONDS,
            }));
        }
        prompt.name = key.name.clone();
        let prompt = Arc::new(prompt);

        let _writing = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let path = self.inner.custom_dir.join(key.relative_path());
        atomic::write(&path, &prompt.to_wav()).map_err(|source| InstallError::Io {
            file: path.display().to_string(),
            source,
        })?;
        self.swap(|set| set.set_custom(key.clone(), Some(prompt.clone())));
        Ok(PromptInfo {
            key: key.clone(),
            source: Source::Custom,
            duration: prompt.duration(),
        })
    }

    /// Removes the uploaded prompt for `key`, so calls from now on hear the
    /// shipped one again (or fall back further if none was shipped).
    /// `Ok(false)` when there was no upload under that key.
    pub fn remove(&self, key: &PromptKey) -> Result<bool, InstallError> {
        let _writing = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let path = self.inner.custom_dir.join(key.relative_path());
        let had_file = atomic::remove(&path).map_err(|source| InstallError::Io {
            file: path.display().to_string(),
            source,
        })?;
        let had_prompt = matches!(self.snapshot().exact(key), Some((_, Source::Custom)));
        if had_prompt {
            self.swap(|set| set.set_custom(key.clone(), None));
        }
        Ok(had_file || had_prompt)
    }

    /// Builds the next set from the current one and publishes it. Only
    /// called with the writer lock held.
    fn swap(&self, change: impl FnOnce(&mut PromptSet)) {
        let mut next = (*self.snapshot()).clone();
        change(&mut next);
        self.inner.current.set(next);
    }
}

impl std::fmt::Debug for PromptLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptLibrary")
            .field("custom_dir", &self.inner.custom_dir)
            .finish()
    }
}
