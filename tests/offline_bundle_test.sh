#!/usr/bin/env bash
# launch/packages.txt, install.sh and offline-bundle.sh agree, without downloading anything:
#   1. install.sh --list-packages is exactly packages.txt, and neither script keeps a list of its own;
#   2. the bundle offline-bundle.sh would download (--plan: apt's plan for installing the list
#      onto a minimal system) covers every package of the list, pinned to a version;
#   3. both scripts refuse what they must: a directory that is not a bundle, a damaged bundle, a
#      bundle that lacks a listed package;
#   4. with FATHOM_OFFLINE_BUNDLE=DIR (a bundle made by offline-bundle.sh), the full check of it.
# Steps 2 and 4 need apt's package lists (apt-get update); without them they are skipped.
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

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
