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
# The check, run at the end of making one and by --check: SHA256SUMS holds, the manifest names
# every package of packages.txt, and apt, given only the bundle, can install them all onto the
# minimal system (install.sh --offline DIR --dry-run).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHECK_ONLY=0
PLAN_ONLY=0
WITH_BASE=0
ALL_ALTERNATIVES=0
UPDATE=1
DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --check) CHECK_ONLY=1 ;;
    --plan) PLAN_ONLY=1; UPDATE=0 ;;
    --with-base) WITH_BASE=1 ;;
    --all-alternatives) ALL_ALTERNATIVES=1 ;;
    --no-update) UPDATE=0 ;;
    -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
    -*) echo "offline-bundle.sh: unknown option '$1'" >&2; exit 2 ;;
    *) [ -z "$DIR" ] || { echo "offline-bundle.sh: one directory only" >&2; exit 2; }; DIR=$1 ;;
  esac
  shift
done
[ -n "$DIR" ] || [ "$PLAN_ONLY" -eq 1 ] ||
  { echo "usage: launch/offline-bundle.sh [--check | --plan] [--with-base] [--all-alternatives] [--no-update] DIR" >&2; exit 2; }

METADATA=(Packages manifest.txt packages.txt release.txt SHA256SUMS)
mapfile -t PACKAGES < <("$ROOT/launch/install.sh" --list-packages)
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
  plan_downloads
  cat "$WORK/download.txt"
  exit
fi
if [ "$CHECK_ONLY" -eq 1 ]; then
  [ -d "$DIR" ] || { echo "offline-bundle.sh: $DIR is not a directory" >&2; exit 1; }
  check_bundle
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

command -v dpkg-scanpackages >/dev/null ||
  { echo "offline-bundle.sh: needs dpkg-scanpackages (apt-get install dpkg-dev)" >&2; exit 1; }
if [ "$UPDATE" -eq 1 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
  else
    echo "offline-bundle.sh: not root: using the package lists as they are (no apt-get update)" >&2
  fi
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
  for deb in *.deb; do dpkg-deb --show --showformat='${Package}=${Version}\n' "$deb"; done |
    sort > manifest.txt
  dpkg-scanpackages --multiversion . /dev/null > Packages 2> "$WORK/scanpackages.log"
  cp "$ROOT/launch/packages.txt" packages.txt
  echo "$(. /etc/os-release && echo "$ID $VERSION_ID") $(dpkg --print-architecture)" > release.txt
  sha256sum -- *.deb Packages manifest.txt packages.txt release.txt > SHA256SUMS
)
echo "offline-bundle.sh: $(wc -l < "$DIR/manifest.txt") packages, $(du -sh "$DIR" | cut -f1), in $DIR"
check_bundle
echo "offline-bundle.sh: copy $DIR to the offline machine and run: launch/install.sh --offline DIR"
