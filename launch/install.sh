#!/usr/bin/env bash
# Installs every build and run dependency of Fathom from Debian/Ubuntu packages, then configures
# and builds into build/. Idempotent: packages already present are not fetched again.
#
#   launch/install.sh                 install packages (as root) and build
#   launch/install.sh --no-build      install packages only
#   launch/install.sh --offline DIR   install from .debs collected by launch/offline-bundle.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${FATHOM_BUILD_DIR:-$ROOT/build}
BUILD=1
OFFLINE_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --offline) OFFLINE_DIR=${2:?--offline needs a directory}; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

# Build tools, libraries, and the tools tests and benchmarks call (mpirun, spm_encode, python3-torch
# for the PyTorch baseline). libopenblas0-openmp matters: without it Debian's LibTorch falls back to
# the reference BLAS through the libblas.so.3 alternative and a training step is ~20x slower.
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-openmp
  libopenmpi-dev openmpi-bin
  libabsl-dev libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev
  libsentencepiece-dev sentencepiece
  zlib1g-dev nlohmann-json3-dev libsqlite3-dev sqlite3
  time gzip bc
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ -n "$OFFLINE_DIR" ]; then
    [ -d "$OFFLINE_DIR" ] || { echo "install.sh: offline bundle '$OFFLINE_DIR' is not a directory" >&2; exit 1; }
    echo "install.sh: installing ${#missing[@]} packages from $OFFLINE_DIR"
    $SUDO apt-get install -y --no-install-recommends "$OFFLINE_DIR"/*.deb
  else
    echo "install.sh: installing ${missing[*]}"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

if [ "$BUILD" -eq 1 ]; then
  GEN=()
  command -v ninja >/dev/null && GEN=(-G Ninja)
  LAUNCHER=()
  command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" "${GEN[@]}" "${LAUNCHER[@]}" -DCMAKE_BUILD_TYPE=Release
  fi
  cmake --build "$BUILD_DIR" -j"$(nproc)"
fi
