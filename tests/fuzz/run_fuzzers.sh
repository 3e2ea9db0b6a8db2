#!/usr/bin/env bash
# Builds the sanitizer tree (clang, -DFATHOM_FUZZ=ON: AddressSanitizer + UBSan + libFuzzer
# coverage), runs every fuzz target of tests/fuzz for DURATION seconds from a copy of its seed
# corpus, prints one table, then runs the readers' unit tests (CTest label `readers`) under the
# same sanitizers. Exits non-zero on any crash, sanitizer report, hang or failed test. The third
# phase of launch/test.sh (what CI runs), with 10 s a target.
#
#   tests/fuzz/run_fuzzers.sh [DURATION] [BUILD_DIR]      defaults: 10, build-fuzz/
#
# Environment:
#   FUZZ_TARGETS       the targets to run, e.g. "shard checkpoint" (default: all)
#   FUZZ_ARGS          more libFuzzer flags for every target, e.g. "-runs=1000000" (stops at
#                      whichever comes first, the runs or DURATION)
#   FUZZ_SKIP_TESTS=1  skip the unit tests
#   FATHOM_BUILD_LOCK  a file to flock around the cmake calls (a machine whose builds share a
#                      lock: FATHOM_BUILD_LOCK=/tmp/fathom-build.lock); unset: no lock
#   CXX                the compiler (default clang++-14)
# Crash inputs and each target's log are kept in BUILD_DIR/fuzz-artifacts/; the corpus in the
# repository is never written (new inputs go to a temporary copy).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DURATION=${1:-10}
# Absolute: the fuzzers run from a scratch directory.
BUILD_DIR=$(realpath -m "${2:-$ROOT/build-fuzz}")
FUZZ_DIR=$ROOT/tests/fuzz
ALL_TARGETS="checkpoint shard relations spider text2sql glove config line_reader utf8 score sql"
TARGETS=${FUZZ_TARGETS:-$ALL_TARGETS}
START=$(date +%s)

locked() {
  if [ -n "${FATHOM_BUILD_LOCK:-}" ]; then flock "$FATHOM_BUILD_LOCK" "$@"; else "$@"; fi
}

# Sanitizer options, the ones the fuzz targets also carry (sanitizer_options.cc), for the unit
# tests too. detect_container_overflow=0: LibTorch, protobuf and Abseil are not instrumented, so
# containers their inline code grows are not annotated and the check reports false overflows.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_container_overflow=0:detect_stack_use_after_return=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

CXX=${CXX:-clang++-14}
command -v "$CXX" >/dev/null || {
  echo "run_fuzzers.sh: $CXX not found (Debian: clang-14 and libclang-rt-14-dev, in launch/packages.txt)" >&2
  exit 1
}
LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
GENERATOR=()
command -v ninja >/dev/null && GENERATOR=(-G Ninja)
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  locked cmake -S "$ROOT" -B "$BUILD_DIR" "${GENERATOR[@]}" "${LAUNCHER[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX" -DFATHOM_FUZZ=ON
fi
# Only what this phase runs: the harnesses and the readers' tests, not the trainer or the binary.
build_targets=()
for t in $TARGETS; do build_targets+=("${t}_fuzzer"); done
[ "${FUZZ_SKIP_TESTS:-0}" = 1 ] || build_targets+=(fathom_fuzz_tests)
locked cmake --build "$BUILD_DIR" -j2 --target "${build_targets[@]}"
BUILT=$(date +%s)

ARTIFACTS=$BUILD_DIR/fuzz-artifacts
mkdir -p "$ARTIFACTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fathom-fuzz-run.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

failed=()
rows=()
declare -A artifacts=()
for t in $TARGETS; do
  bin=$BUILD_DIR/tests/fuzz/${t}_fuzzer
  corpus=$WORK/corpus-$t
  mkdir -p "$corpus"
  [ -d "$FUZZ_DIR/corpus/$t" ] && cp "$FUZZ_DIR/corpus/$t"/* "$corpus"/ 2>/dev/null || true
  dict=()
  [ -f "$FUZZ_DIR/$t.dict" ] && dict=(-dict="$FUZZ_DIR/$t.dict")
  log=$ARTIFACTS/$t.log
  # -timeout: an input that takes 10 s is a hang; the outer timeout catches a stuck process.
  # shellcheck disable=SC2086
  set +e
  (cd "$WORK" && nice -n 10 timeout $((DURATION + 120)) "$bin" -max_total_time="$DURATION" \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$t-" "${dict[@]}" \
    ${FUZZ_ARGS:-} "$corpus") >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  seeds=$(find "$FUZZ_DIR/corpus/$t" -type f 2>/dev/null | wc -l)
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    artifact=$(sed -n "s/.*Test unit written to //p" "$log" | tail -1)
    result="FAILED (exit $rc) ${artifact:-see $log}"
    artifacts[$t]=${artifact:-}
    failed+=("$t")
    echo "---- ${t}_fuzzer: last lines of $log" >&2
    grep -E "ERROR|SUMMARY|runtime error|==[0-9]+==" "$log" | head -20 >&2 || tail -20 "$log" >&2
  fi
  rows+=("$(printf '%-12s %10s %8s %6s  %s' "$t" "${execs:-?}" "${rate:-?}" "$seeds" "$result")")
done

echo
echo "run_fuzzers.sh: ${DURATION} s a target, ASan+UBSan, $(basename "$BUILD_DIR")"
printf '%-12s %10s %8s %6s  %s\n' target execs exec/s seeds result
printf '%s\n' "${rows[@]}"
FUZZED=$(date +%s)

tests_result=skipped
if [ "${FUZZ_SKIP_TESTS:-0}" != 1 ]; then
  if ctest --test-dir "$BUILD_DIR" -L readers --output-on-failure -j2; then
    tests_result=passed
  else
    tests_result=FAILED
    failed+=("readers' unit tests")
  fi
fi
END=$(date +%s)
echo "run_fuzzers.sh: build $((BUILT - START)) s, fuzzing $((FUZZED - BUILT)) s, unit tests" \
  "$((END - FUZZED)) s ($tests_result)"
for t in "${failed[@]}"; do
  [ "$t" = "readers' unit tests" ] && continue
  echo "run_fuzzers.sh: reproduce $t: $BUILD_DIR/tests/fuzz/${t}_fuzzer" \
    "${artifacts[$t]:-"(no input saved; see $ARTIFACTS/$t.log)"} (tests/fuzz/README.md)" >&2
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "run_fuzzers.sh: failed: ${failed[*]}" >&2
  exit 1
fi
