#!/usr/bin/env bash
# Instructions retired per inference under qemu-aarch64, NEON path ("cpu") vs the portable
# path ("cpu-reference"), one thread: the stand-in for speed until ARM hardware is available.
#   bench/arm/count_instructions.sh BUILD_DIR MODEL.walle...
# BUILD_DIR is an aarch64 cross build (backends/cpu/arm/toolchain-aarch64.cmake) with
# WALLE_BUILD_TESTS=ON (it holds walle_run_model); models come from
# tests/cpp/models/make_test_models.py (--size 224 for the benchmark input). Each count is
# count(2 runs) - count(1 run): loading, planning and first-run packing cancel out.
set -euo pipefail
build="$1"
shift
here="$(cd "$(dirname "$0")" && pwd)"
plugin="$(mktemp -d)/qemu_insn_count.so"
cc -shared -fPIC -O2 -o "$plugin" "$here/qemu_insn_count.c"
sysroot="${WALLE_AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}"

count() {  # model backend runs -> "insns fp_simd"
  qemu-aarch64 -plugin "$plugin" -L "$sysroot" "$build/walle_run_model" "$1" "$2" "$3" 2>&1 >/dev/null |
    awk '/^insns/ {print $2, $4}'
}

printf '| model | path | instructions / inference | FP+SIMD instructions | ratio to NEON |\n|---|---|---:|---:|---:|\n'
for model in "$@"; do
  name="$(basename "$model" .walle)"
  neon=0
  for backend in cpu cpu-reference; do
    read -r i1 s1 < <(count "$model" "$backend" 1)
    read -r i2 s2 < <(count "$model" "$backend" 2)
    per=$((i2 - i1)) simd=$((s2 - s1))
    [ "$backend" = cpu ] && neon=$per
    label=$([ "$backend" = cpu ] && echo "NEON (cpu)" || echo "portable (cpu-reference)")
    printf '| %s | %s | %s | %s | %s |\n' "$name" "$label" "$per" "$simd" "$(awk -v a="$per" -v b="$neon" 'BEGIN {printf "%.2f", a / b}')"
  done
done
