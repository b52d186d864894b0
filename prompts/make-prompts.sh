#!/bin/sh
# Regenerates the voice prompts in prompts/<lang>/ with espeak-ng and sox.
#
# The WAVs are committed, so the daemon runs without these tools; rerun this
# only after changing a text or adding a language. Output: 8 kHz mono 16-bit
# PCM, band-limited to the telephone band and normalised, so no conversion
# or level surprises happen at start-up or on the line.
#
# Safe to rerun: files are written atomically and come out byte-identical
# for the same texts and tool versions.
#
# To add a language, add a make_language call at the bottom with its
# espeak-ng voice (espeak-ng --voices) and the same prompt names.

set -eu

cd "$(dirname "$0")"

need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "make-prompts.sh: $1 not found; install it (Debian: apt-get install espeak-ng sox)" >&2
        exit 1
    fi
}
need espeak-ng
need sox

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# to_phone IN OUT: telephone band (300-3400 Hz), 8 kHz, peak at -3 dBFS,
# a short lead-in and tail so the first syllable is not clipped by a jitter
# buffer. -D disables dithering, which is random and would make every run
# differ.
to_phone() {
    sox -D "$1" -r 8000 -c 1 -b 16 -e signed-integer "$work/out.wav" \
        highpass 300 lowpass 3400 rate -v 8000 norm -3 pad 0.15 0.25
    mv "$work/out.wav" "$2"
}

# speak LANG VOICE SPEED NAME TEXT
speak() {
    espeak-ng -v "$2" -s "$3" -w "$work/tts.wav" "$5"
    to_phone "$work/tts.wav" "$1/$4.wav"
    echo "$1/$4.wav"
}

# make_language LANG VOICE SPEED, reading "name|text" lines from stdin.
make_language() {
    mkdir -p "$1"
    while IFS='|' read -r name text; do
        case $name in
            '' | '#'*) continue ;;
        esac
        speak "$1" "$2" "$3" "$name" "$text"
    done
}

# make_beep LANG: the tone before a voice comment, 400 ms at 1 kHz with soft
# edges so it does not click.
make_beep() {
    mkdir -p "$1"
    sox -D -n -r 8000 -c 1 -b 16 -e signed-integer "$work/beep.wav" \
        synth 0.4 sine 1000 fade h 0.01 0.4 0.01 norm -3
    mv "$work/beep.wav" "$1/beep.wav"
    echo "$1/beep.wav"
}

# Required: survey, invalid, thanks, goodbye. Optional: comment, beep.
make_language en en-gb 150 <<'EOF'
survey|Thank you for calling. If you were happy with the help you got, press 1. If you were not, press 2.
invalid|Sorry, that was not a valid choice.
thanks|Thank you for your answer.
goodbye|We did not get an answer. Goodbye.
comment|If you would like to leave a comment, please speak after the tone, and press hash when you are done.
EOF
make_beep en
