//! The prompt decoder (src/media/prompt/): a WAV image as uploaded through
//! the API, decoded to 8 kHz mono and encoded to G.711.
//!
//! Invariants: a decoded prompt has as many samples as its frames take at
//! 8 kHz (frames × 8000 / rate, rounded), both G.711 encodings have one byte
//! per sample, and the WAV image written back decodes to the same samples.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use smileyd::media::{Codec, Prompt};

/// Matches MAX_UPLOAD_SECONDS in spirit but keeps each run short.
const MAX_SECONDS: u64 = 30;

fuzz_target!(|data: &[u8]| {
    let Ok(prompt) = Prompt::from_wav_bytes_max("fuzz", data, MAX_SECONDS) else {
        return;
    };
    let reader = hound::WavReader::new(Cursor::new(data)).expect("decoded, so its header reads");
    let spec = reader.spec();
    let frames = u64::from(reader.duration());
    let rate = u64::from(spec.sample_rate);
    let expected = if rate == 8000 {
        frames
    } else {
        (frames * 8000 + rate / 2) / rate
    };
    assert_eq!(
        prompt.pcm.len() as u64,
        expected,
        "{spec:?}, {frames} frames"
    );
    assert_eq!(prompt.encoded(Codec::Pcmu).len(), prompt.pcm.len());
    assert_eq!(prompt.encoded(Codec::Pcma).len(), prompt.pcm.len());
    let again = Prompt::from_wav_bytes("again", &prompt.to_wav()).expect("our WAV decodes");
    assert_eq!(again.pcm, prompt.pcm);
});
