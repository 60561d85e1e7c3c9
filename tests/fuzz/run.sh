#!/usr/bin/env bash
# Runs both fuzz targets for a fixed budget and fails on any crash, sanitizer report, uncaught
# exception, out-of-memory input or hang (libFuzzer exits non-zero and leaves the input as
# build/fuzz/crash-*, oom-* or timeout-*):
#   bash tests/fuzz/run.sh [seconds for fuzz_model, default 40] [inputs for the converter, default 600]
# Every regression input and every seed of both corpora runs first, under the sanitizers; then
# the mutation budget (CI: 60 s and 1,000 converter inputs; 0 0 replays only). Sessions have a
# memory limit (the target plans with 1 GiB) and skip ops with empty outputs, so an input that
# exhausts memory or runs past -timeout is a finding like a crash. Each finding goes to
# regressions/ (or converter-regressions/) with its fix.
# libFuzzer's runs are not reproducible across runs even with a seed (it reads the corpus in
# directory order), so what a CI run finds can differ from the last one.
# Builds the target (tests/fuzz/build.sh) and the seed corpora (tests/fuzz/make_corpus.py) first
# when they are missing. PYTHON picks the interpreter that has walle importable (and atheris).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/build/fuzz"
py="${PYTHON:-python3}"
model_s="${1:-40}" converter_runs="${2:-600}"
[ -x "$out/fuzz_model" ] || PYTHON="$py" bash "$root/tests/fuzz/build.sh" "$out"
[ -d "$out/corpus/model" ] || (cd "$root" && "$py" -m tests.fuzz.make_corpus "$out/corpus")
mkdir -p "$out/work/model" "$out/work/onnx"
export ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
cd "$out"
# Every input found before (a crash, sanitizer report or OOM, kept in tests/fuzz/regressions):
# replayed once each.
./fuzz_model -rss_limit_mb=4096 "$root"/tests/fuzz/regressions/*
# -timeout: one input planning for longer than this is a hang; -rss_limit_mb: a runaway allocation.
if [ "$model_s" -gt 0 ]; then
  ./fuzz_model work/model corpus/model -fork=1 -max_total_time="$model_s" \
    -timeout=60 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1
else
  ./fuzz_model corpus/model -runs=0 -timeout=60 -rss_limit_mb=4096
fi
"$py" "$root/tests/fuzz/fuzz_converter.py" work/onnx corpus/onnx -seed=1 -runs="$converter_runs" -max_total_time=180 -timeout=60 \
  -rss_limit_mb=4096 -print_final_stats=1
echo "fuzzing: no crash, no sanitizer report, no out-of-memory input, no hang"
