#!/usr/bin/env bash
# Collects what `launch/install.sh --offline DIR` needs on a machine without network: the
# packages of launch/packages.txt and every package they need, recursively, that a minimal
# system lacks. Run it where apt can download, on the Debian/Ubuntu release and architecture of
# the offline machine; copy DIR there; run launch/install.sh --offline DIR.
#
#   launch/offline-bundle.sh DIR                  make the bundle (DIR new, empty, or a bundle)
#   launch/offline-bundle.sh --check DIR          check a bundle (below) without downloading
#   launch/offline-bundle.sh --plan               print what it would download (name=version)
#   launch/offline-bundle.sh --with-base DIR      also the minimal system's own packages, for an
#                                                 offline machine with an older base than this one
#   launch/offline-bundle.sh --all-alternatives DIR
#                                                 every alternative and provider of every
#                                                 dependency (apt-cache depends --recurse), not
#                                                 only those apt picks: larger (~750 MB on
#                                                 Debian 12), for a machine that may choose others
#   launch/offline-bundle.sh --no-update DIR      skip apt-get update
#   launch/offline-bundle.sh --minimal DIR        only the Debian packages bench/gpu_check.sh
#                                                 unpacks on a GPU machine without a package
#                                                 manager (bench/gpu_check.sh --list-debs; at
#                                                 most 30 MB), their dependencies not resolved:
#                                                 for `dpkg -x`, not for install.sh --offline
#   launch/offline-bundle.sh --minimal --plan     print that set (name=version)
#   launch/offline-bundle.sh --check DIR          also checks a --minimal bundle (it knows one by
#                                                 its minimal.txt): SHA256SUMS, the list, the size
#
# What "a minimal system lacks": apt plans installing packages.txt onto a dpkg database that
# holds only this machine's Priority: required and Essential packages and what they depend on
# (apt-get -s with Dir::State::status), and every package it would install goes in the bundle.
#
# DIR then holds:
#   *.deb          the packages
#   Packages       apt's index of them (install.sh uses DIR as a local repository)
#   manifest.txt   package=version of every .deb, sorted
#   packages.txt   the launch/packages.txt it was made from
#   release.txt    "ID VERSION_ID ARCH" of the machine it was made on
#   SHA256SUMS     of every file above
# A --minimal bundle has no Packages or packages.txt, and minimal.txt instead: the list it was
# made from.
# The check, run at the end of making one and by --check: SHA256SUMS holds, the manifest names
# every package of packages.txt, and apt, given only the bundle, can install them all onto the
# minimal system (install.sh --offline DIR --dry-run).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHECK_ONLY=0
PLAN_ONLY=0
WITH_BASE=0
ALL_ALTERNATIVES=0
MINIMAL=0
# A --minimal bundle travels to the GPU machine beside the checkout; past this it is not minimal.
MINIMAL_LIMIT_MB=30
UPDATE=1
DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --check) CHECK_ONLY=1 ;;
    --plan) PLAN_ONLY=1; UPDATE=0 ;;
    --with-base) WITH_BASE=1 ;;
    --all-alternatives) ALL_ALTERNATIVES=1 ;;
    --no-update) UPDATE=0 ;;
    --minimal) MINIMAL=1 ;;
    -h|--help) sed -n '2,/^set -euo pipefail/{/^#/p}' "$0"; exit 0 ;;
    -*) echo "offline-bundle.sh: unknown option '$1'" >&2; exit 2 ;;
    *) [ -z "$DIR" ] || { echo "offline-bundle.sh: one directory only" >&2; exit 2; }; DIR=$1 ;;
  esac
  shift
done
[ -n "$DIR" ] || [ "$PLAN_ONLY" -eq 1 ] ||
  { echo "usage: launch/offline-bundle.sh [--check | --plan] [--minimal | --with-base | --all-alternatives] [--no-update] DIR" >&2; exit 2; }
if [ "$MINIMAL" -eq 1 ] && { [ "$WITH_BASE" -eq 1 ] || [ "$ALL_ALTERNATIVES" -eq 1 ]; }; then
  echo "offline-bundle.sh: --minimal is a fixed list without dependencies: it does not go with --with-base or --all-alternatives" >&2
  exit 2
fi

METADATA=(Packages manifest.txt packages.txt minimal.txt release.txt SHA256SUMS)
# --check finds a --minimal bundle by its minimal.txt.
if [ "$CHECK_ONLY" -eq 1 ] && [ -f "$DIR/minimal.txt" ]; then MINIMAL=1; fi
if [ "$MINIMAL" -eq 1 ]; then
  # The one list of the GPU machine's packages is kept by the script that unpacks them.
  mapfile -t PACKAGES < <(bash "$ROOT/bench/gpu_check.sh" --list-debs)
  [ ${#PACKAGES[@]} -gt 0 ] || { echo "offline-bundle.sh: bench/gpu_check.sh --list-debs printed no package" >&2; exit 1; }
else
  mapfile -t PACKAGES < <("$ROOT/launch/install.sh" --list-packages)
fi
WORK=$(mktemp -d /tmp/fathom-bundle.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# A dpkg database ($WORK/minimal/status) holding only the minimal system: the installed
# Priority: required and Essential packages, and the installed packages they depend on.
make_minimal_system() {
  local required
  mapfile -t required < <(dpkg-query -W -f='${Package} ${Priority} ${Essential} ${db:Status-Abbrev}\n' |
    awk '($2 == "required" || $3 == "yes") && $NF ~ /^ii/ { print $1 }')
  apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts \
      --no-breaks --no-replaces --no-enhances "${required[@]}" |
    grep -v '^[ <]' | sed 's/:.*//' | sort -u > "$WORK/base.txt"
  mkdir -p "$WORK/minimal/updates"
  awk -v list="$WORK/base.txt" '
    BEGIN { while ((getline name < list) > 0) keep[name] = 1; RS = ""; ORS = "\n\n" }
    match($0, /(^|\n)Package: [^\n]+/) {
      name = substr($0, RSTART, RLENGTH); sub(/.*Package: /, "", name)
      if (keep[name]) print
    }' /var/lib/dpkg/status > "$WORK/minimal/status"
}

check_bundle() {
  echo "offline-bundle.sh: checking $DIR"
  (cd "$DIR" && sha256sum --check --quiet --strict SHA256SUMS) ||
    { echo "offline-bundle.sh: $DIR: SHA256SUMS does not hold" >&2; return 1; }
  local absent=()
  for p in "${PACKAGES[@]}"; do
    grep -q "^$p=" "$DIR/manifest.txt" || absent+=("$p")
  done
  if [ ${#absent[@]} -gt 0 ]; then
    echo "offline-bundle.sh: $DIR/manifest.txt lacks ${absent[*]}" >&2
    return 1
  fi
  [ -f "$WORK/minimal/status" ] || make_minimal_system
  echo "offline-bundle.sh: simulating launch/install.sh --offline onto a minimal system" \
       "($(grep -c '^Package:' "$WORK/minimal/status") packages)"
  FATHOM_DPKG_ADMINDIR="$WORK/minimal" "$ROOT/launch/install.sh" --offline "$DIR" --dry-run \
    > "$WORK/simulation.txt" 2>&1 ||
    { cat "$WORK/simulation.txt" >&2; echo "offline-bundle.sh: apt cannot install packages.txt from $DIR alone" >&2; return 1; }
  echo "offline-bundle.sh: $DIR is complete: $(grep -c '^Inst ' "$WORK/simulation.txt") packages" \
       "would be installed, all from the bundle"
}

# name=version of every .deb in the current directory, sorted (a bundle's manifest.txt).
debs_manifest() {
  local deb
  # shellcheck disable=SC2016  # dpkg-deb's own ${Field} syntax
  for deb in *.deb; do dpkg-deb --show --showformat='${Package}=${Version}\n' "$deb"; done | sort
}
# "ID VERSION_ID ARCH" of this machine (a bundle's release.txt).
this_release() {
  # shellcheck disable=SC1091
  echo "$(. /etc/os-release && echo "$ID $VERSION_ID") $(dpkg --print-architecture)"
}

# A --minimal bundle: SHA256SUMS holds, the manifest names every listed package, the .debs are
# what the manifest says, and all of it is within MINIMAL_LIMIT_MB.
check_minimal_bundle() {
  echo "offline-bundle.sh: checking $DIR (--minimal)"
  (cd "$DIR" && sha256sum --check --quiet --strict SHA256SUMS) ||
    { echo "offline-bundle.sh: $DIR: SHA256SUMS does not hold" >&2; return 1; }
  local absent=() bytes
  for p in "${PACKAGES[@]}"; do
    grep -q "^$p=" "$DIR/manifest.txt" || absent+=("$p")
  done
  if [ ${#absent[@]} -gt 0 ]; then
    echo "offline-bundle.sh: $DIR/manifest.txt lacks ${absent[*]} (bench/gpu_check.sh --list-debs)" >&2
    return 1
  fi
  bytes=$(find "$DIR" -maxdepth 1 -name '*.deb' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  if [ "$bytes" -gt $((MINIMAL_LIMIT_MB * 1000000)) ]; then
    echo "offline-bundle.sh: $DIR: the .debs are $((bytes / 1000000)) MB, over the $MINIMAL_LIMIT_MB MB of a --minimal bundle" >&2
    return 1
  fi
  if ! diff -u "$DIR/manifest.txt" <(cd "$DIR" && debs_manifest) >&2; then
    echo "offline-bundle.sh: $DIR: the .debs are not those of manifest.txt (above)" >&2
    return 1
  fi
  echo "offline-bundle.sh: $DIR is complete: $(wc -l < "$DIR/manifest.txt") packages, $((bytes / 1000000)) MB;" \
       "on the GPU machine: bench/gpu_check.sh --debs DIR"
}

# $WORK/download.txt for --minimal: every listed package at the version apt would install, and
# nothing else (dpkg -x needs no dependency resolution; the list already holds what Fathom's
# build and Open MPI load). Refuses a list apt cannot find, or one over MINIMAL_LIMIT_MB.
plan_minimal() {
  local p version size bytes=0 unknown=()
  : > "$WORK/download.txt"
  for p in "${PACKAGES[@]}"; do
    version=$(apt-cache policy "$p" 2>/dev/null | awk '$1 == "Candidate:" {print $2}')
    if [ -z "$version" ] || [ "$version" = "(none)" ]; then unknown+=("$p"); continue; fi
    size=$(apt-cache show "$p=$version" 2>/dev/null | awk '$1 == "Size:" {print $2; exit}')
    bytes=$((bytes + ${size:-0}))
    echo "$p=$version" >> "$WORK/download.txt"
  done
  if [ ${#unknown[@]} -gt 0 ]; then
    echo "offline-bundle.sh: apt knows no version of ${unknown[*]} (bench/gpu_check.sh --list-debs; apt-get update?)" >&2
    exit 1
  fi
  if [ "$bytes" -gt $((MINIMAL_LIMIT_MB * 1000000)) ]; then
    echo "offline-bundle.sh: the --minimal set would be $((bytes / 1000000)) MB, over its $MINIMAL_LIMIT_MB MB" >&2
    exit 1
  fi
  sort -o "$WORK/download.txt" "$WORK/download.txt"
  echo "offline-bundle.sh: --minimal: $(wc -l < "$WORK/download.txt") packages, $((bytes / 1000000)) MB" >&2
}

# $WORK/download.txt: what the bundle needs, name=version (or a bare name), one a line.
plan_downloads() {
  make_minimal_system
  # name=version of what apt would install onto the minimal system.
  apt-get -s -o "Dir::State::status=$WORK/minimal/status" install --no-install-recommends \
      "${PACKAGES[@]}" > "$WORK/plan.txt" ||
    { cat "$WORK/plan.txt" >&2; echo "offline-bundle.sh: apt cannot plan installing launch/packages.txt" >&2; exit 1; }
  # "Inst name (version release [arch])", or "Inst name [old] (version ...)" for an upgrade.
  awk '$1 == "Inst" { v = $3 == "" ? "" : ($3 ~ /^\[/ ? $4 : $3); sub(/^\(/, "", v); print $2 "=" v }' \
    "$WORK/plan.txt" > "$WORK/wanted.txt"
  # The requested packages the minimal system has already (gzip) go in too, so the manifest
  # covers packages.txt and --with-base machines get them.
  for p in "${PACKAGES[@]}"; do
    grep -q "^$p=" "$WORK/wanted.txt" || echo "$p" >> "$WORK/wanted.txt"
  done
  if [ "$WITH_BASE" -eq 1 ]; then cat "$WORK/base.txt" >> "$WORK/wanted.txt"; fi
  if [ "$ALL_ALTERNATIVES" -eq 1 ]; then
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances "${PACKAGES[@]}" | grep -v '^[ <]' | sort -u |
      grep -v -x -F -f "$WORK/base.txt" >> "$WORK/wanted.txt" || true
  fi
  # One entry per package; a pinned name=version wins over a bare name.
  awk -F= '{ if (!($1 in v) || $2 != "") v[$1] = $0 } END { for (p in v) print v[p] }' \
    "$WORK/wanted.txt" | sort > "$WORK/download.txt"
}

if [ "$PLAN_ONLY" -eq 1 ]; then
  if [ "$MINIMAL" -eq 1 ]; then plan_minimal; else plan_downloads; fi
  cat "$WORK/download.txt"
  exit
fi
if [ "$CHECK_ONLY" -eq 1 ]; then
  [ -d "$DIR" ] || { echo "offline-bundle.sh: $DIR is not a directory" >&2; exit 1; }
  if [ "$MINIMAL" -eq 1 ]; then
    [ -f "$DIR/minimal.txt" ] || { echo "offline-bundle.sh: $DIR has no minimal.txt: not a --minimal bundle" >&2; exit 1; }
    check_minimal_bundle
  else
    check_bundle
  fi
  exit
fi

# DIR: new, empty, or an earlier bundle (its .debs and metadata are replaced). Anything else in
# it is someone else's, and is not deleted.
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
shopt -s nullglob
for f in "$DIR"/* "$DIR"/.[!.]*; do
  name=$(basename "$f")
  case "$name" in
    *.deb) ;;
    *) [[ " ${METADATA[*]} " == *" $name "* ]] ||
         { echo "offline-bundle.sh: $DIR holds '$name', which no bundle has: refusing to write into it" >&2; exit 1; } ;;
  esac
done
if [ -n "$(ls -A "$DIR")" ] && [ ! -f "$DIR/SHA256SUMS" ]; then
  echo "offline-bundle.sh: $DIR holds .debs but no SHA256SUMS: not a bundle; refusing to write into it" >&2
  exit 1
fi
rm -f "$DIR"/*.deb
for f in "${METADATA[@]}"; do rm -f "$DIR/$f"; done

[ "$MINIMAL" -eq 1 ] || command -v dpkg-scanpackages >/dev/null ||
  { echo "offline-bundle.sh: needs dpkg-scanpackages (apt-get install dpkg-dev)" >&2; exit 1; }
if [ "$UPDATE" -eq 1 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
  else
    echo "offline-bundle.sh: not root: using the package lists as they are (no apt-get update)" >&2
  fi
fi
if [ "$MINIMAL" -eq 1 ]; then
  plan_minimal
  echo "offline-bundle.sh: downloading $(wc -l < "$WORK/download.txt") packages into $DIR"
  mapfile -t DOWNLOAD < "$WORK/download.txt"
  # Every one is needed: no partial --minimal bundle.
  if ! (cd "$DIR" && apt-get download -q "${DOWNLOAD[@]}" > "$WORK/download.log" 2>&1); then
    tail -20 "$WORK/download.log" >&2
    echo "offline-bundle.sh: apt-get download failed (above)" >&2
    exit 1
  fi
  (
    cd "$DIR"
    debs_manifest > manifest.txt
    printf '%s\n' "${PACKAGES[@]}" > minimal.txt
    this_release > release.txt
    sha256sum -- *.deb manifest.txt minimal.txt release.txt > SHA256SUMS
  )
  check_minimal_bundle
  exit
fi
plan_downloads

echo "offline-bundle.sh: downloading $(wc -l < "$WORK/download.txt") packages into $DIR"
mapfile -t DOWNLOAD < "$WORK/download.txt"
if ! (cd "$DIR" && apt-get download -q "${DOWNLOAD[@]}" > "$WORK/download.log" 2>&1); then
  # Download what resolves: one at a time, naming what did not.
  failed=()
  for spec in "${DOWNLOAD[@]}"; do
    compgen -G "$DIR/${spec%%=*}_*.deb" > /dev/null && continue
    (cd "$DIR" && apt-get download -q "$spec" >> "$WORK/download.log" 2>&1) || failed+=("$spec")
  done
  for spec in "${failed[@]}"; do
    if [[ " ${PACKAGES[*]} " == *" ${spec%%=*} "* ]]; then
      tail -20 "$WORK/download.log" >&2
      echo "offline-bundle.sh: could not download $spec, which launch/packages.txt asks for" >&2
      exit 1
    fi
  done
  [ ${#failed[@]} -eq 0 ] || echo "offline-bundle.sh: warning: not downloaded: ${failed[*]}" >&2
fi

(
  cd "$DIR"
  debs_manifest > manifest.txt
  dpkg-scanpackages --multiversion . /dev/null > Packages 2> "$WORK/scanpackages.log"
  cp "$ROOT/launch/packages.txt" packages.txt
  this_release > release.txt
  sha256sum -- *.deb Packages manifest.txt packages.txt release.txt > SHA256SUMS
)
echo "offline-bundle.sh: $(wc -l < "$DIR/manifest.txt") packages, $(du -sh "$DIR" | cut -f1), in $DIR"
check_bundle
echo "offline-bundle.sh: copy $DIR to the offline machine and run: launch/install.sh --offline DIR"
