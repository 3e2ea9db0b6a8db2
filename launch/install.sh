#!/usr/bin/env bash
# Installs every build and run dependency of Fathom (launch/packages.txt) from Debian/Ubuntu
# packages, then configures and builds into build/. Idempotent: packages already present are not
# fetched again.
#
#   launch/install.sh                      install packages (as root) and build
#   launch/install.sh --no-build           install packages only
#   launch/install.sh --offline DIR        install from a bundle made by launch/offline-bundle.sh,
#                                          without network: checks DIR's SHA256SUMS, then lets apt
#                                          resolve among DIR's packages only
#   launch/install.sh --offline DIR --dry-run
#                                          check the bundle and show what apt would do (apt-get -s)
#   launch/install.sh --list-packages      print the package list and exit
#   launch/install.sh --torch2             the second build: also makes a virtual environment
#                                          with the torch wheel pinned in
#                                          launch/torch2-requirements.txt (LibTorch 2.x with
#                                          CUDA, and NCCL) and builds into build-torch2/
#                                          against it, with the NCCL backend; needs the CUDA
#                                          toolkit (nvcc, /usr/local/cuda), not a GPU
#
# Environment: FATHOM_BUILD_DIR (build/), FATHOM_TORCH2_BUILD_DIR (build-torch2/),
# FATHOM_TORCH2_VENV (.venv-torch2/), FATHOM_TORCH2_TARGETS (targets of the second build; all
# when empty), CUDA_HOME (/usr/local/cuda).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${FATHOM_BUILD_DIR:-$ROOT/build}
BUILD=1
OFFLINE_DIR=""
DRY_RUN=0
LIST_ONLY=0
TORCH2=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --offline) OFFLINE_DIR=${2:?--offline needs a directory}; shift ;;
    --dry-run) DRY_RUN=1; BUILD=0 ;;
    --list-packages) LIST_ONLY=1 ;;
    --torch2) TORCH2=1 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
if [ "$DRY_RUN" -eq 1 ] && [ -z "$OFFLINE_DIR" ]; then
  echo "install.sh: --dry-run goes with --offline DIR" >&2
  exit 2
fi

# The one package list (comments and blank lines dropped).
PACKAGES_FILE="$ROOT/launch/packages.txt"
mapfile -t PACKAGES < <(sed -e 's/#.*//' "$PACKAGES_FILE" | tr -s ' \t' '\n\n' | sed '/^$/d')
if [ ${#PACKAGES[@]} -eq 0 ]; then
  echo "install.sh: no packages in $PACKAGES_FILE" >&2
  exit 1
fi
if [ "$LIST_ONLY" -eq 1 ]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

# FATHOM_DPKG_ADMINDIR: with --dry-run, the dpkg database to plan against instead of the
# system's (offline-bundle.sh --check uses one that holds only a minimal system).
ADMINDIR=${FATHOM_DPKG_ADMINDIR:-}
if [ -n "$ADMINDIR" ] && [ "$DRY_RUN" -eq 0 ]; then
  echo "install.sh: FATHOM_DPKG_ADMINDIR is for --dry-run only" >&2
  exit 2
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query ${ADMINDIR:+--admindir="$ADMINDIR"} -W -f='${Status}' "$p" 2>/dev/null |
    grep -q 'install ok installed' || missing+=("$p")
done

# Installs `missing` from the bundle in $OFFLINE_DIR: apt sees the bundle as its only repository
# (its own source list and package lists in a temporary directory; the system's are untouched)
# and resolves dependencies among the bundle's packages and those already installed.
install_offline() {
  local dir
  dir=$(cd "$OFFLINE_DIR" && pwd)
  for f in SHA256SUMS Packages manifest.txt; do
    [ -f "$dir/$f" ] || { echo "install.sh: $dir/$f is missing: not a bundle made by launch/offline-bundle.sh" >&2; exit 1; }
  done
  echo "install.sh: checking $dir/SHA256SUMS"
  if ! (cd "$dir" && sha256sum --check --quiet --strict SHA256SUMS); then
    echo "install.sh: the bundle in $dir is damaged or incomplete (SHA256SUMS above); make it again" >&2
    exit 1
  fi
  local absent=()
  for p in "${PACKAGES[@]}"; do
    grep -q "^$p=" "$dir/manifest.txt" || absent+=("$p")
  done
  if [ ${#absent[@]} -gt 0 ]; then
    echo "install.sh: the bundle in $dir lacks ${absent[*]} (made from an older launch/packages.txt?); make it again" >&2
    exit 1
  fi
  if [ -f "$dir/release.txt" ]; then
    local here
    here="$(. /etc/os-release && echo "$ID $VERSION_ID") $(dpkg --print-architecture)"
    if [ "$(cat "$dir/release.txt")" != "$here" ]; then
      echo "install.sh: warning: the bundle was made on $(cat "$dir/release.txt"), this is $here" >&2
    fi
  fi
  local apt_dir status=0
  apt_dir=$(mktemp -d /tmp/fathom-offline-apt.XXXXXX)
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/sources.list.d"
  echo "deb [trusted=yes] file:$dir ./" > "$apt_dir/sources.list"
  # [trusted=yes]: the bundle has no signed Release file; SHA256SUMS was checked above, and apt
  # checks each .deb against the SHA256 in the bundle's Packages index.
  local apt_options=(
    -o "Dir::Etc::SourceList=$apt_dir/sources.list"
    -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
    -o "Acquire::Languages=none" -o "APT::Get::List-Cleanup=false"
    -o "APT::Sandbox::User=root"
  )
  if [ -n "$ADMINDIR" ]; then apt_options+=(-o "Dir::State::status=$ADMINDIR/status"); fi
  $SUDO apt-get "${apt_options[@]}" update -qq || status=$?
  if [ "$status" -eq 0 ]; then
    if [ "$DRY_RUN" -eq 1 ]; then
      apt-get "${apt_options[@]}" install -s --no-install-recommends "${missing[@]}" || status=$?
    else
      $SUDO apt-get "${apt_options[@]}" install -y -q --no-install-recommends "${missing[@]}" || status=$?
    fi
  fi
  rm -rf "$apt_dir"
  if [ "$status" -ne 0 ]; then
    echo "install.sh: apt could not install from the bundle in $dir (messages above)" >&2
    exit 1
  fi
}

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ] && [ "$DRY_RUN" -eq 0 ]; then
    command -v sudo >/dev/null || { echo "install.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ -n "$OFFLINE_DIR" ]; then
    [ -d "$OFFLINE_DIR" ] || { echo "install.sh: offline bundle '$OFFLINE_DIR' is not a directory" >&2; exit 1; }
    echo "install.sh: installing ${missing[*]} from $OFFLINE_DIR"
    install_offline
  else
    echo "install.sh: installing ${missing[*]}"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
elif [ -n "$OFFLINE_DIR" ]; then
  echo "install.sh: every package is installed already; the bundle in $OFFLINE_DIR is not needed"
fi

GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)

if [ "$TORCH2" -eq 1 ]; then
  # The second build: LibTorch 2.x with CUDA from the pinned wheel, in a virtual environment of
  # its own so that the system's Python and Debian's LibTorch stay as they are.
  VENV=${FATHOM_TORCH2_VENV:-$ROOT/.venv-torch2}
  TORCH2_BUILD_DIR=${FATHOM_TORCH2_BUILD_DIR:-$ROOT/build-torch2}
  CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
  REQUIREMENTS="$ROOT/launch/torch2-requirements.txt"
  [ -x "$CUDA_HOME/bin/nvcc" ] || { echo "install.sh: --torch2 needs the CUDA toolkit: no $CUDA_HOME/bin/nvcc (set CUDA_HOME)" >&2; exit 1; }
  if [ ! -x "$VENV/bin/python" ]; then
    echo "install.sh: making the virtual environment $VENV"
    python3 -m venv "$VENV" || { echo "install.sh: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  fi
  # pip compares the pins with what is installed, so a second run downloads nothing.
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
  TORCH_DIR=$("$VENV/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)
  echo "install.sh: LibTorch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null) in $TORCH_DIR"
  if [ "$BUILD" -eq 1 ]; then
    if [ ! -f "$TORCH2_BUILD_DIR/CMakeCache.txt" ]; then
      # The wheel's lib/ first, so that Debian's libtorch.so is not found for the wheel's
      # headers; its share/cmake (not the torch directory, whose protoc would be found).
      cmake -S "$ROOT" -B "$TORCH2_BUILD_DIR" "${GEN[@]}" "${LAUNCHER[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$TORCH_DIR/share/cmake" -DCMAKE_LIBRARY_PATH="$TORCH_DIR/lib" \
        -DCMAKE_CUDA_COMPILER="$CUDA_HOME/bin/nvcc" -DCUDAToolkit_ROOT="$CUDA_HOME" \
        -DFATHOM_NCCL=ON -DFATHOM_PYTHON="$VENV/bin/python"
    fi
    TARGETS=()
    for t in ${FATHOM_TORCH2_TARGETS:-}; do TARGETS+=(--target "$t"); done
    cmake --build "$TORCH2_BUILD_DIR" -j"$(nproc)" "${TARGETS[@]}"
  fi
  exit 0
fi

if [ "$BUILD" -eq 1 ]; then
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" "${GEN[@]}" "${LAUNCHER[@]}" -DCMAKE_BUILD_TYPE=Release
  fi
  cmake --build "$BUILD_DIR" -j"$(nproc)"
fi
