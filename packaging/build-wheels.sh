#!/usr/bin/env bash
# Release wheels of Walle for CPython 3.11, 3.12 and 3.13 on x86_64, repaired by auditwheel to a
# manylinux tag, and an sdist, into wheelhouse/:
#
#   bash packaging/build-wheels.sh                    # all three Pythons
#   WALLE_PYTHONS="3.11" bash packaging/build-wheels.sh   # fewer (CI builds the one it tests)
#
# Every wheel holds every backend: the CPU kernels for every instruction set (chosen at run time)
# and the OpenCL, Vulkan and CUDA backends, compiled against headers only (drivers are loaded at
# run time). What the build compiles against is pinned: Debian packages in
# debian-build-packages.txt, PyPI packages (the CUDA compiler, auditwheel) in
# build-requirements.txt. Each backend is required (WALLE_<BACKEND>=ON), so a missing SDK fails the
# build instead of leaving a backend out. Interpreters are found as pythonX.Y on PATH or in pyenv.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
read -r -a pythons <<<"${WALLE_PYTHONS:-3.11 3.12 3.13}"
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
step() { printf '\n=== build-wheels: %s (%ss)\n' "$*" "$SECONDS"; }
die() { echo "build-wheels: error: $*" >&2; exit 1; }

source packaging/find-python.sh

step "pinned Debian packages"
if [ "${WALLE_SKIP_APT:-0}" != 1 ]; then
  $sudo apt-get update -qq
  # shellcheck disable=SC2046
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    $(grep -v '^\s*#' packaging/debian-build-packages.txt) >/dev/null
fi

step "pinned build tools and CUDA toolkit (PyPI)"
tools=$root/build/wheel-tools
[ -x "$tools/bin/python" ] || "$(find_python 3.11 || command -v python3)" -m venv "$tools"
"$tools/bin/pip" install -q --disable-pip-version-check -r packaging/build-requirements.txt
cuda=$("$tools/bin/python" -c "import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], 'cu13'))")
[ -x "$cuda/bin/nvcc" ] || die "the pinned nvcc is missing from $cuda"
# The PyPI layout lacks a toolkit's development links: nvcc links from lib64, and CMake's
# FindCUDAToolkit looks for libcudart.so (the static runtime is what gets linked).
[ -e "$cuda/lib64" ] || ln -s lib "$cuda/lib64"
[ -e "$cuda/lib/libcudart.so" ] || ln -s libcudart.so.13 "$cuda/lib/libcudart.so"
export PATH="$tools/bin:$PATH"

export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/walle-ccache}" CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-4G}"
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
mkdir -p wheelhouse build/wheels-raw
for v in "${pythons[@]}"; do
  py=$(find_python "$v") || die "CPython $v not found (as python$v on PATH or in pyenv)"
  step "wheel for CPython $v ($py)"
  rm -f build/wheels-raw/walle-*-cp${v/./}-*.whl
  "$py" -m pip wheel --no-deps --disable-pip-version-check -w build/wheels-raw \
    -C cmake.define.WALLE_OPENCL=ON -C cmake.define.WALLE_VULKAN=ON -C cmake.define.WALLE_CUDA=ON \
    -C cmake.define.CMAKE_CUDA_COMPILER="$cuda/bin/nvcc" -C cmake.define.CUDAToolkit_ROOT="$cuda" \
    -C cmake.define.WALLE_STATIC_LIBSTDCXX=ON -C "build-dir=build/wheel-cp${v/./}" .
  raw=$(ls build/wheels-raw/walle-*-cp${v/./}-*linux_x86_64.whl)
  step "auditwheel repair $(basename "$raw")"
  rm -f wheelhouse/walle-*-cp${v/./}-*.whl
  auditwheel repair -w wheelhouse "$raw"
done

step "sdist"
rm -f wheelhouse/walle-*.tar.gz
"$tools/bin/python" -m build --sdist --outdir wheelhouse . >/dev/null

step "done"
ls -l wheelhouse
