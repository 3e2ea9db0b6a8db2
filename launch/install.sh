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
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${FATHOM_BUILD_DIR:-$ROOT/build}
BUILD=1
OFFLINE_DIR=""
DRY_RUN=0
LIST_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) BUILD=0 ;;
    --offline) OFFLINE_DIR=${2:?--offline needs a directory}; shift ;;
    --dry-run) DRY_RUN=1; BUILD=0 ;;
    --list-packages) LIST_ONLY=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
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
