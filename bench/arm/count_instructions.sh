#!/usr/bin/env bash
# Instructions retired per inference under qemu-aarch64, NEON path ("cpu") vs the portable
# path ("cpu-reference"), one thread: the stand-in for speed until ARM hardware is available.
#   bench/arm/count_instructions.sh BUILD_DIR MODEL.walle...
# BUILD_DIR is an aarch64 cross build (backends/cpu/arm/toolchain-aarch64.cmake) with
# WALLE_BUILD_TESTS=ON (it holds walle_run_model); models come from
# tests/cpp/models/make_test_models.py (--size 224 for the benchmark input). Each count is
# count(2 runs) - count(1 run): loading, planning and first-run packing cancel out.
# onnxruntime's aarch64 wheel is counted too when WALLE_ARM64_ROOT (an arm64 root with Python
# 3.11 and numpy, as backends/cpu/arm/wheel-aarch64.sh makes) and WALLE_ORT_SITE (a directory
# with onnxruntime's aarch64 wheel unpacked) are set and NAME.onnx lies next to NAME.walle
# (make_test_models.py --onnx).
set -euo pipefail
build="$1"
shift
here="$(cd "$(dirname "$0")" && pwd)"
plugin="$(mktemp -d)/qemu_insn_count.so"
cc -shared -fPIC -O2 -o "$plugin" "$here/qemu_insn_count.c"
sysroot="${WALLE_AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}"

count() {  # model backend runs -> "insns fp_simd"
  if [ "$2" = onnxruntime ]; then
    qemu-aarch64 -plugin "$plugin" -L "$WALLE_ARM64_ROOT" -E PYTHONPATH="$WALLE_ORT_SITE" \
      "$WALLE_ARM64_ROOT/usr/bin/python3.11" "$here/run_onnxruntime.py" "$1" "$3" 2>&1 >/dev/null
  else
    qemu-aarch64 -plugin "$plugin" -L "$sysroot" "$build/walle_run_model" "$1" "$2" "$3" 2>&1 >/dev/null
  fi | awk '/^insns/ {print $2, $4}'
}

printf '| model | path | instructions / inference | FP+SIMD instructions | ratio to NEON |\n|---|---|---:|---:|---:|\n'
for model in "$@"; do
  name="$(basename "$model" .walle)"
  neon=0
  backends=(cpu cpu-reference)
  onnx="${model%.walle}.onnx"
  [ -n "${WALLE_ARM64_ROOT:-}" ] && [ -n "${WALLE_ORT_SITE:-}" ] && [ -f "$onnx" ] && backends+=(onnxruntime)
  for backend in "${backends[@]}"; do
    input="$model"
    [ "$backend" = onnxruntime ] && input="$onnx"
    read -r i1 s1 < <(count "$input" "$backend" 1)
    read -r i2 s2 < <(count "$input" "$backend" 2)
    per=$((i2 - i1)) simd=$((s2 - s1))
    [ "$backend" = cpu ] && neon=$per
    case "$backend" in
      cpu) label="Walle NEON (cpu)" ;;
      cpu-reference) label="Walle portable (cpu-reference)" ;;
      *) label="onnxruntime (aarch64 wheel, 1 thread)" ;;
    esac
    printf '| %s | %s | %s | %s | %s |\n' "$name" "$label" "$per" "$simd" "$(awk -v a="$per" -v b="$neon" 'BEGIN {printf "%.2f", a / b}')"
  done
done
