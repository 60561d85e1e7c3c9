#!/usr/bin/env bash
# Runs both fuzz targets for a fixed budget and fails on any crash, sanitizer report, uncaught
# exception or hang (libFuzzer exits non-zero and leaves the input as build/fuzz/crash-*):
#   bash tests/fuzz/run.sh [inputs for fuzz_model, default 3000] [inputs for the converter, default 600]
# The budget is a count of inputs from a fixed seed, so CI explores the same inputs every run
# (a time budget would explore more on a faster machine); 180 s per target caps it on a slow one.
# Builds the target (tests/fuzz/build.sh) and the seed corpora (tests/fuzz/make_corpus.py) first
# when they are missing. PYTHON picks the interpreter that has walle importable (and atheris).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/build/fuzz"
py="${PYTHON:-python3}"
model_runs="${1:-3000}" converter_runs="${2:-600}"
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
./fuzz_model work/model corpus/model -seed=1 -runs="$model_runs" -max_total_time=180 -timeout=60 -rss_limit_mb=4096 \
  -max_len=65536 -print_final_stats=1
"$py" "$root/tests/fuzz/fuzz_converter.py" work/onnx corpus/onnx -seed=1 -runs="$converter_runs" -max_total_time=180 -timeout=60 \
  -rss_limit_mb=4096 -print_final_stats=1
echo "fuzzing: no crash, no sanitizer report, no hang"
