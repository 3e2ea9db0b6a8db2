#!/usr/bin/env bash
# launch/packages.txt, install.sh and offline-bundle.sh agree, without downloading anything:
#   1. install.sh --list-packages is exactly packages.txt, and neither script keeps a list of its own;
#   2. the bundle offline-bundle.sh would download (--plan: apt's plan for installing the list
#      onto a minimal system) covers every package of the list, pinned to a version;
#   3. both scripts refuse what they must: a directory that is not a bundle, a damaged bundle, a
#      bundle that lacks a listed package;
#   4. with FATHOM_OFFLINE_BUNDLE=DIR (a bundle made by offline-bundle.sh), the full check of it
#      (a --minimal one is checked as such);
#   5. the --minimal set (bench/gpu_check.sh --list-debs, what a GPU machine without a package
#      manager unpacks): the list holds what the build needs (and is GPU_MACHINE.md's, when
#      ../shared/design has it), --minimal --plan pins exactly that list within 30 MB, and
#      --minimal refuses what it must: other options, a directory that is not a bundle, a
#      damaged, incomplete or oversized --minimal bundle.
# Steps 2, 4 and the plan of 5 need apt's package lists (apt-get update); without them they are
# skipped.
# Prints "N passed, N failed"; exits 1 on any failure.
set -uo pipefail

ROOT=${FATHOM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
INSTALL="$ROOT/launch/install.sh"
BUNDLE="$ROOT/launch/offline-bundle.sh"
TMP=$(mktemp -d /tmp/fathom-offline-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
pass() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }

# 1. One list.
sed -e 's/#.*//' "$ROOT/launch/packages.txt" | tr -s ' \t' '\n\n' | sed '/^$/d' > "$TMP/expected"
if bash "$INSTALL" --list-packages > "$TMP/listed" && diff -u "$TMP/expected" "$TMP/listed"; then
  pass "install.sh --list-packages is packages.txt ($(wc -l < "$TMP/listed") packages)"
else
  fail "install.sh --list-packages differs from packages.txt"
fi
for p in libtorch-dev libopenmpi-dev libabsl-dev libprotobuf-dev libgtest-dev libsentencepiece-dev; do
  grep -qx "$p" "$TMP/listed" || fail "packages.txt lacks $p, which the build needs"
done
if grep -n 'libtorch-dev\|PACKAGES=(' "$INSTALL" "$BUNDLE"; then
  fail "a script names packages itself instead of reading launch/packages.txt (lines above)"
else
  pass "install.sh and offline-bundle.sh keep no package list of their own"
fi

# 2. The plan covers the list.
if compgen -G "/var/lib/apt/lists/*_Packages*" > /dev/null; then
  if bash "$BUNDLE" --plan > "$TMP/plan" 2> "$TMP/plan.err"; then
    missing=()
    while read -r p; do
      grep -q "^$p=" "$TMP/plan" || grep -qx "$p" "$TMP/plan" || missing+=("$p")
    done < "$TMP/expected"
    if [ ${#missing[@]} -eq 0 ]; then
      pass "the bundle plan covers packages.txt ($(wc -l < "$TMP/plan") packages)"
    else
      fail "the bundle plan lacks ${missing[*]}"
    fi
    # Everything not on the minimal system is pinned to the version apt planned.
    unpinned=$(grep -v '=' "$TMP/plan" | grep -v -x -F -f "$TMP/expected" || true)
    if [ -z "$unpinned" ]; then
      pass "every planned dependency is pinned to a version"
    else
      fail "unpinned planned packages: $unpinned"
    fi
  else
    cat "$TMP/plan.err"
    fail "offline-bundle.sh --plan failed"
  fi
else
  echo "skipped: apt has no package lists (run apt-get update) for the plan"
fi

# 3. Refusals. A directory with someone else's file:
mkdir -p "$TMP/unrelated" && echo notes > "$TMP/unrelated/notes.txt"
if bash "$BUNDLE" --no-update "$TMP/unrelated" > "$TMP/out" 2>&1; then
  fail "offline-bundle.sh wrote into a directory that is not a bundle"
elif grep -q "refusing" "$TMP/out" && [ -f "$TMP/unrelated/notes.txt" ]; then
  pass "offline-bundle.sh refuses a directory that is not a bundle, and leaves it alone"
else
  cat "$TMP/out"; fail "offline-bundle.sh failed on an unrelated directory without saying why"
fi
# A bundle whose checksums do not hold (install.sh checks before apt sees anything; --dry-run so
# that nothing could be installed even if it did not):
mkdir -p "$TMP/damaged" "$TMP/empty-dpkg" && : > "$TMP/empty-dpkg/status"
(cd "$TMP/damaged" && sed 's/$/=1/' "$TMP/expected" > manifest.txt && : > Packages &&
  sha256sum manifest.txt Packages > SHA256SUMS && echo tampered >> manifest.txt)
if FATHOM_DPKG_ADMINDIR="$TMP/empty-dpkg" bash "$INSTALL" --offline "$TMP/damaged" --dry-run > "$TMP/out" 2>&1; then
  fail "install.sh accepted a bundle whose SHA256SUMS does not hold"
elif grep -q "damaged or incomplete" "$TMP/out"; then
  pass "install.sh --offline refuses a damaged bundle"
else
  cat "$TMP/out"; fail "install.sh refused a damaged bundle without saying why"
fi
# A consistent bundle that lacks a listed package:
mkdir -p "$TMP/partial"
(cd "$TMP/partial" && grep -v '^bc$' "$TMP/expected" | sed 's/$/=1/' > manifest.txt && : > Packages &&
  sha256sum manifest.txt Packages > SHA256SUMS)
if FATHOM_DPKG_ADMINDIR="$TMP/empty-dpkg" bash "$INSTALL" --offline "$TMP/partial" --dry-run > "$TMP/out" 2>&1; then
  fail "install.sh accepted a bundle that lacks bc"
elif grep -q "lacks bc" "$TMP/out"; then
  pass "install.sh --offline refuses a bundle that lacks a listed package"
else
  cat "$TMP/out"; fail "install.sh refused an incomplete bundle without saying why"
fi

# 4. A real bundle, when one is given.
if [ -n "${FATHOM_OFFLINE_BUNDLE:-}" ]; then
  if bash "$BUNDLE" --check "$FATHOM_OFFLINE_BUNDLE"; then
    pass "the bundle in $FATHOM_OFFLINE_BUNDLE is complete"
  else
    fail "the bundle in $FATHOM_OFFLINE_BUNDLE failed its check"
  fi
fi

# 5. The --minimal set.
GPU_CHECK="$ROOT/bench/gpu_check.sh"
if bash "$GPU_CHECK" --list-debs > "$TMP/minimal" && [ -s "$TMP/minimal" ]; then
  pass "bench/gpu_check.sh --list-debs lists $(wc -l < "$TMP/minimal") packages"
else
  fail "bench/gpu_check.sh --list-debs printed nothing"
fi
dups=$(sort "$TMP/minimal" | uniq -d | xargs)
[ -z "$dups" ] || fail "the --minimal list names $dups twice"
lacking=()
for p in libabsl-dev libprotobuf-dev protobuf-compiler libgtest-dev libopenmpi-dev openmpi-bin \
         libsentencepiece-dev nlohmann-json3-dev zlib1g-dev libsqlite3-dev; do
  grep -qx "$p" "$TMP/minimal" || lacking+=("$p")
done
if [ ${#lacking[@]} -eq 0 ]; then
  pass "the --minimal list holds the headers, protoc and Open MPI the build needs"
else
  fail "the --minimal list lacks ${lacking[*]}, which the build needs"
fi
# The recipe that worked on the GPU machine names the same packages.
DESIGN="$ROOT/../shared/design/GPU_MACHINE.md"
if [ -f "$DESIGN" ]; then
  sed -n '/^## The Debian 12 packages/,/^## /{/^## /d;p}' "$DESIGN" | tr -s ' \t' '\n' | sed '/^$/d' |
    sort > "$TMP/design-list"
  if diff -u "$TMP/design-list" <(sort "$TMP/minimal"); then
    pass "the --minimal list is GPU_MACHINE.md's"
  else
    fail "the --minimal list differs from $DESIGN (above)"
  fi
else
  echo "skipped: no $DESIGN to compare the --minimal list with"
fi
if compgen -G "/var/lib/apt/lists/*_Packages*" > /dev/null; then
  if bash "$BUNDLE" --minimal --plan > "$TMP/minimal-plan" 2> "$TMP/minimal-plan.err"; then
    if diff -u <(sort "$TMP/minimal") <(sed 's/=.*//' "$TMP/minimal-plan" | sort) &&
       ! grep -qv '^[^=]\+=[^=]\+$' "$TMP/minimal-plan"; then
      pass "--minimal --plan is exactly the list, each pinned to a version"
    else
      fail "--minimal --plan is not the list pinned name=version (above)"
    fi
    # Its size from apt's index, without downloading.
    bytes=0
    while read -r spec; do
      size=$(apt-cache show "$spec" | awk '$1 == "Size:" {print $2; exit}')
      bytes=$((bytes + ${size:-0}))
    done < "$TMP/minimal-plan"
    if [ "$bytes" -gt 0 ] && [ "$bytes" -le 30000000 ]; then
      pass "the --minimal set is $((bytes / 1000000)) MB (at most 30)"
    else
      fail "the --minimal set is $bytes bytes (0, or over 30 MB)"
    fi
  else
    cat "$TMP/minimal-plan.err"
    fail "offline-bundle.sh --minimal --plan failed"
  fi
else
  echo "skipped: apt has no package lists (run apt-get update) for the --minimal plan"
fi
for other in --with-base --all-alternatives; do
  status=0
  bash "$BUNDLE" --minimal "$other" --no-update "$TMP/never" > "$TMP/out" 2>&1 || status=$?
  if [ "$status" -eq 2 ] && grep -q "does not go with" "$TMP/out" && [ ! -e "$TMP/never" ]; then
    pass "offline-bundle.sh refuses --minimal with $other"
  else
    cat "$TMP/out"; fail "offline-bundle.sh --minimal $other: exit $status"
  fi
done
if bash "$BUNDLE" --minimal --no-update "$TMP/unrelated" > "$TMP/out" 2>&1; then
  fail "offline-bundle.sh --minimal wrote into a directory that is not a bundle"
elif grep -q "refusing" "$TMP/out" && [ -f "$TMP/unrelated/notes.txt" ]; then
  pass "offline-bundle.sh --minimal refuses a directory that is not a bundle, and leaves it alone"
else
  cat "$TMP/out"; fail "offline-bundle.sh --minimal failed on an unrelated directory without saying why"
fi
# make_minimal_bundle DIR [SKIP_PACKAGE]: a consistent --minimal bundle of empty stand-ins.
make_minimal_bundle() {
  mkdir -p "$1"
  (cd "$1" && grep -vx "${2:-}" "$TMP/minimal" | sed 's/$/=1/' > manifest.txt &&
    cp "$TMP/minimal" minimal.txt && sha256sum manifest.txt minimal.txt > SHA256SUMS)
}
make_minimal_bundle "$TMP/minimal-damaged"
echo tampered >> "$TMP/minimal-damaged/manifest.txt"
if bash "$BUNDLE" --check "$TMP/minimal-damaged" > "$TMP/out" 2>&1; then
  fail "offline-bundle.sh --check accepted a --minimal bundle whose SHA256SUMS does not hold"
elif grep -q "SHA256SUMS does not hold" "$TMP/out" && grep -q "(--minimal)" "$TMP/out"; then
  pass "offline-bundle.sh --check knows a --minimal bundle and refuses a damaged one"
else
  cat "$TMP/out"; fail "offline-bundle.sh --check refused a damaged --minimal bundle without saying why"
fi
make_minimal_bundle "$TMP/minimal-partial" libprotoc32
if bash "$BUNDLE" --check "$TMP/minimal-partial" > "$TMP/out" 2>&1; then
  fail "offline-bundle.sh --check accepted a --minimal bundle that lacks libprotoc32"
elif grep -q "lacks libprotoc32" "$TMP/out"; then
  pass "offline-bundle.sh --check refuses a --minimal bundle that lacks a listed package"
else
  cat "$TMP/out"; fail "offline-bundle.sh --check refused an incomplete --minimal bundle without saying why"
fi
# Over 30 MB: a sparse stand-in .deb, covered by SHA256SUMS so that only its size is wrong.
make_minimal_bundle "$TMP/minimal-large"
truncate -s 31M "$TMP/minimal-large/large_1_amd64.deb"
(cd "$TMP/minimal-large" && sha256sum manifest.txt minimal.txt large_1_amd64.deb > SHA256SUMS)
if bash "$BUNDLE" --check "$TMP/minimal-large" > "$TMP/out" 2>&1; then
  fail "offline-bundle.sh --check accepted a --minimal bundle of 31 MB"
elif grep -q "over the 30 MB" "$TMP/out"; then
  pass "offline-bundle.sh --check refuses a --minimal bundle over 30 MB"
else
  cat "$TMP/out"; fail "offline-bundle.sh --check refused a 31 MB --minimal bundle without saying why"
fi
if bash "$BUNDLE" --minimal --check "$TMP/partial" > "$TMP/out" 2>&1; then
  fail "offline-bundle.sh --minimal --check accepted a bundle without minimal.txt"
elif grep -q "not a --minimal bundle" "$TMP/out"; then
  pass "offline-bundle.sh --minimal --check refuses a bundle that is not a --minimal one"
else
  cat "$TMP/out"; fail "offline-bundle.sh --minimal --check refused a full bundle without saying why"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
