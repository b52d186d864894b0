#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/, FUZZING.md) with the nightly toolchain and
# libFuzzer's instrumentation, then runs each target over its committed
# corpus and on for a short while, so a regression in a parser is caught.
# Two targets at a time (the machine's two cores). A crash, a hang past
# -timeout or memory past -rss_limit_mb fails the step; the input that did
# it is kept under $WORK/artifacts (the log names it).
#
# The build is what `cargo +nightly fuzz build -s none --debug-assertions`
# does (same RUSTFLAGS), without needing cargo-fuzz installed. Its target
# dir is $CARGO_TARGET_DIR/fuzz (default target/fuzz): a second run rebuilds
# only what changed.
#
#   .ci/fuzz.sh                       build, then every target for FUZZ_SECONDS (30)
#   FUZZ_SECONDS=600 .ci/fuzz.sh sdp_offer_answer   one target, longer
#   FUZZ_BUILD_ONLY=1 .ci/fuzz.sh     build only
#
# Corpora are only read: the inputs found in a run go to $WORK, never into
# fuzz/corpus (minimise and commit new seeds by hand, see FUZZING.md).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CI_NAME=fuzz
CI_VERDICT="fuzz: "
# shellcheck source=.ci/lib.sh
. "$ROOT/.ci/lib.sh"

# Under CI 15 s each (the whole .ci/run must stay under 30 minutes on two
# cores); by hand, 30 s.
if [[ "${CI:-}" == true ]]; then
  SECONDS_EACH="${FUZZ_SECONDS:-15}"
else
  SECONDS_EACH="${FUZZ_SECONDS:-30}"
fi
JOBS="${FUZZ_JOBS:-2}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
FUZZ_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/fuzz"
ALL_TARGETS=(sip_message tcp_framing sdp_offer_answer rtp_dtmf info_dtmf wav_decode resample config)
if (($#)); then
  TARGETS=("$@")
else
  TARGETS=("${ALL_TARGETS[@]}")
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  log "installing the nightly toolchain (rustup)"
  rustup toolchain install nightly --profile minimal </dev/null
fi
# libFuzzer itself is C++, built by libfuzzer-sys.
ensure_packages c++:g++

export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions"
# Under CI the targets are built at opt-level 0 without debug info: the
# build of the whole dependency tree is most of the step, and a short run
# does not need the last bit of speed. Long runs (FUZZING.md) use the
# profile's own opt-level 3 and debug info.
if [[ "${CI:-}" == true ]]; then
  export CARGO_PROFILE_RELEASE_OPT_LEVEL="${FUZZ_OPT_LEVEL:-0}" CARGO_PROFILE_RELEASE_DEBUG=0
fi
t0=$SECONDS
log "cargo +nightly build (fuzz targets, $FUZZ_TARGET_DIR)"
cargo +nightly build --manifest-path "$ROOT/fuzz/Cargo.toml" --target "$TRIPLE" --release \
  --locked --target-dir "$FUZZ_TARGET_DIR" --bins
log "build took $((SECONDS - t0)) s"
[[ -z "${FUZZ_BUILD_ONLY:-}" ]] || exit 0

BIN="$FUZZ_TARGET_DIR/$TRIPLE/release"
WORK="$(mktemp -d /tmp/smileyd-fuzz.XXXXXX)"
trap 'remove_work $?' EXIT

run_target() {
  local t="$1" dir="$WORK/$1"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  # The committed seeds come first; what is found goes to $dir/corpus only.
  "$BIN/$t" "$dir/corpus" "$ROOT/fuzz/corpus/$t" \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$dir/artifacts/" -print_final_stats=1 >"$dir/log" 2>&1
}

failed=()
pids=()
names=()
wait_one() {
  local pid="${pids[0]}" name="${names[0]}"
  pids=("${pids[@]:1}")
  names=("${names[@]:1}")
  if wait "$pid"; then
    local runs
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$name/log")"
    pass "$name: ${runs:-?} inputs in ${SECONDS_EACH} s, corpus $(find "$ROOT/fuzz/corpus/$name" -type f | wc -l) seeds"
  else
    fail "$name (log below; input in $WORK/$name/artifacts)"
    tail -n 40 "$WORK/$name/log"
    failed+=("$name")
  fi
}
t0=$SECONDS
for t in "${TARGETS[@]}"; do
  [[ -x "$BIN/$t" ]] || { fail "$t: no such target"; failed+=("$t"); continue; }
  run_target "$t" &
  pids+=("$!")
  names+=("$t")
  if ((${#pids[@]} >= JOBS)); then wait_one; fi
done
while ((${#pids[@]})); do wait_one; done
log "fuzzing took $((SECONDS - t0)) s"
((${#failed[@]} == 0))
