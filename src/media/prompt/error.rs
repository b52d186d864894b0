//! Why a prompt could not be loaded, naming the file so operators can fix it.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cannot read prompt file {file}: {source}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot list prompt directory {dir}: {source}")]
    Dir {
        dir: String,
        #[source]
        source: io::Error,
    },
    #[error("prompt file {file} is not a WAV file")]
    NotWav { file: String },
    #[error("prompt file {file} is corrupt: {detail}")]
    Corrupt { file: String, detail: String },
    #[error("prompt file {file} contains no audio")]
    Empty { file: String },
    #[error("prompt file {file} has an unsupported format: {detail}")]
    Unsupported { file: String, detail: String },
    #[error("prompt file {file} is {seconds} s long; prompts may be at most {max_seconds} s")]
    TooLong {
        file: String,
        seconds: u64,
        max_seconds: u64,
    },
    #[error("required prompt file {file} is missing")]
    Missing { file: String },
}
