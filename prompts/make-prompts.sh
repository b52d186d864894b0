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
# Layout: <lang>/<name>.wav are shared by every survey; <lang>/<survey>/
# <name>.wav belong to one survey (or scale: csat, nps) and win over the
# shared ones. The smiley question is the shared survey.wav.
#
# To add a language, add a make_language call at the bottom with its
# espeak-ng voice (espeak-ng --voices=LANG) and the same prompt names, then
# a make_beep call. Keep the texts short and polite; spell out numbers where
# the language inflects them after a preposition.

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

# speak LANG VOICE SPEED NAME TEXT; NAME may be SURVEY/NAME.
speak() {
    mkdir -p "$(dirname "$1/$4.wav")"
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
# Per scale: csat/survey (1-5), nps/survey (0-10; ten is 1 then 0).
make_language en en-gb 150 <<'EOF'
survey|Thank you for calling. If you were happy with the help you got, press 1. If you were not, press 2.
invalid|Sorry, that was not a valid choice.
thanks|Thank you for your answer.
goodbye|We did not get an answer. Goodbye.
comment|If you would like to leave a comment, please speak after the tone, and press hash when you are done.
csat/survey|Thank you for calling. How satisfied were you with the help you got? Please press a key from 1 to 5, where 1 is very dissatisfied and 5 is very satisfied.
nps/survey|Thank you for calling. How likely are you to recommend us to a friend or colleague? Please answer from 0 to 10, where 10 is very likely. Press 0 to 9, or 1 and then 0 for ten.
EOF
make_beep en

make_language sv sv 150 <<'EOF'
survey|Tack för att du ringde. Om du var nöjd med hjälpen du fick, tryck 1. Om du inte var nöjd, tryck 2.
invalid|Tyvärr, det var inget giltigt val.
thanks|Tack för ditt svar.
goodbye|Vi fick inget svar. Hej då.
comment|Om du vill lämna en kommentar, tala efter tonen och tryck fyrkant när du är klar.
csat/survey|Tack för att du ringde. Hur nöjd är du med hjälpen du fick? Tryck en siffra från 1 till 5, där 1 betyder mycket missnöjd och 5 betyder mycket nöjd.
nps/survey|Tack för att du ringde. Hur troligt är det att du skulle rekommendera oss till en vän eller kollega? Svara från 0 till 10, där 10 betyder mycket troligt. Tryck 0 till 9, eller 1 och sedan 0 för tio.
EOF
make_beep sv

make_language da da 150 <<'EOF'
survey|Tak for dit opkald. Hvis du var tilfreds med hjælpen, så tryk 1. Hvis ikke, så tryk 2.
invalid|Beklager, det var ikke et gyldigt valg.
thanks|Tak for dit svar.
goodbye|Vi fik ikke noget svar. Farvel.
comment|Hvis du vil give en kommentar, så tal efter tonen, og tryk firkant, når du er færdig.
csat/survey|Tak for dit opkald. Hvor tilfreds var du med hjælpen? Tryk et tal fra 1 til 5, hvor 1 er meget utilfreds og 5 er meget tilfreds.
nps/survey|Tak for dit opkald. Hvor sandsynligt er det, at du vil anbefale os til en ven eller kollega? Svar fra 0 til 10, hvor 10 er meget sandsynligt. Tryk 0 til 9, eller 1 og derefter 0 for ti.
EOF
make_beep da

make_language nl nl 160 <<'EOF'
survey|Bedankt voor uw telefoontje. Was u tevreden over de hulp die u kreeg, toets dan 1. Was u niet tevreden, toets dan 2.
invalid|Sorry, dat is geen geldige keuze.
thanks|Bedankt voor uw antwoord.
goodbye|We hebben geen antwoord ontvangen. Tot ziens.
comment|Wilt u een opmerking achterlaten, spreek die dan in na de toon en toets hekje als u klaar bent.
csat/survey|Bedankt voor uw telefoontje. Hoe tevreden bent u over de hulp die u kreeg? Toets een cijfer van 1 tot en met 5, waarbij 1 zeer ontevreden is en 5 zeer tevreden.
nps/survey|Bedankt voor uw telefoontje. Hoe waarschijnlijk is het dat u ons aanbeveelt aan een vriend of collega? Geef een cijfer van 0 tot en met 10, waarbij 10 zeer waarschijnlijk is. Toets 0 tot en met 9, of 1 en daarna 0 voor tien.
EOF
make_beep nl

make_language pl pl 165 <<'EOF'
survey|Dziękujemy za telefon. Jeśli uzyskana pomoc spełniła Twoje oczekiwania, naciśnij 1. Jeśli nie, naciśnij 2.
invalid|Przepraszamy, to nie jest prawidłowy wybór.
thanks|Dziękujemy za odpowiedź.
goodbye|Nie otrzymaliśmy odpowiedzi. Do widzenia.
comment|Jeśli chcesz zostawić komentarz, nagraj go po sygnale, a na koniec naciśnij krzyżyk.
csat/survey|Dziękujemy za telefon. Jak oceniasz uzyskaną pomoc? Naciśnij klawisz od jednego do pięciu, gdzie 1 oznacza ocenę bardzo złą, a 5 bardzo dobrą.
nps/survey|Dziękujemy za telefon. Jak bardzo prawdopodobne jest, że polecisz nas znajomym? Odpowiedz w skali od zera do dziesięciu, gdzie 10 oznacza bardzo prawdopodobne. Naciśnij od zera do dziewięciu, albo 1, a potem 0, aby wybrać dziesięć.
EOF
make_beep pl
