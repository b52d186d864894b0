//! Voice prompts, decoded and encoded once (at start-up, or when one is
//! uploaded) and shared by all calls, so a call never touches the disk or
//! the encoder.

mod atomic;
mod error;
mod key;
mod library;
mod resample;
mod set;
mod wav;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::g711::Codec;

pub use error::PromptError;
pub use key::{is_known_name, known_names, KeyError, PromptKey};
pub use library::{InstallError, PromptLibrary, MAX_UPLOAD_BYTES, MAX_UPLOAD_SECONDS};
pub use resample::resample;
pub use set::{PromptInfo, PromptSet, Source, DEFAULT_LANGUAGE, OPTIONAL, REQUIRED};

/// Rate of all prompt audio: G.711's 8 kHz.
pub const SAMPLE_RATE: u32 = 8_000;

/// Largest file read as a prompt; guards against pointing at the wrong file.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// One prompt as 8 kHz mono PCM, with both G.711 encodings ready to send.
#[derive(Clone)]
pub struct Prompt {
    pub name: String,
    /// 8 kHz mono samples.
    pub pcm: Arc<[i16]>,
    ulaw: Arc<[u8]>,
    alaw: Arc<[u8]>,
}

impl Prompt {
    /// Builds a prompt from 8 kHz mono samples.
    pub fn from_pcm(name: impl Into<String>, pcm: Vec<i16>) -> Prompt {
        let ulaw = pcm.iter().map(|&s| Codec::Pcmu.encode(s)).collect();
        let alaw = pcm.iter().map(|&s| Codec::Pcma.encode(s)).collect();
        Prompt {
            name: name.into(),
            pcm: pcm.into(),
            ulaw,
            alaw,
        }
    }

    /// The prompt in a codec's encoding, one byte per sample.
    pub fn encoded(&self, codec: Codec) -> &[u8] {
        match codec {
            Codec::Pcmu => &self.ulaw,
            Codec::Pcma => &self.alaw,
        }
    }

    pub fn duration(&self) -> Duration {
        // One sample at 8 kHz is exactly 125 µs.
        Duration::from_micros(self.pcm.len() as u64 * 1_000_000 / SAMPLE_RATE as u64)
    }

    /// Decodes a WAV image of any common layout (8/16/24/32-bit integer or
    /// 32-bit float, any rate, any channel count).
    pub fn from_wav_bytes(name: impl Into<String>, bytes: &[u8]) -> Result<Prompt, PromptError> {
        Prompt::from_wav_bytes_max(name, bytes, wav::MAX_SECONDS)
    }

    /// Like `from_wav_bytes`, refusing audio longer than `max_seconds`
    /// (`PromptError::TooLong`) before decoding any of it.
    pub fn from_wav_bytes_max(
        name: impl Into<String>,
        bytes: &[u8],
        max_seconds: u64,
    ) -> Result<Prompt, PromptError> {
        let name = name.into();
        let pcm = wav::decode(&name, bytes, max_seconds)?;
        Ok(Prompt::from_pcm(name, pcm))
    }

    /// The prompt as an 8 kHz mono 16-bit WAV image: exactly what callers
    /// hear, before G.711 encoding.
    pub fn to_wav(&self) -> Vec<u8> {
        wav::encode(&self.pcm)
    }

    /// Reads and decodes a WAV file; errors name the path.
    pub fn from_wav_file(
        name: impl Into<String>,
        path: impl AsRef<Path>,
    ) -> Result<Prompt, PromptError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let io_err = |source| PromptError::Io {
            file: file.clone(),
            source,
        };
        let size = std::fs::metadata(path).map_err(io_err)?.len();
        if size > MAX_FILE_BYTES {
            return Err(PromptError::Unsupported {
                file,
                detail: format!("{size} bytes is too large for a prompt"),
            });
        }
        let bytes = std::fs::read(path).map_err(io_err)?;
        let pcm = wav::decode(&file, &bytes, wav::MAX_SECONDS)?;
        Ok(Prompt::from_pcm(name, pcm))
    }
}

impl std::fmt::Debug for Prompt {
    // The samples would drown every log line the prompt appears in.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt")
            .field("name", &self.name)
            .field("samples", &self.pcm.len())
            .finish()
    }
}

#[cfg(test)]
mod tests;
