#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test, twice: against Debian's LibTorch 1.13 (CPU,
# build/) and against the pinned LibTorch 2.x wheel with CUDA and the NCCL backend compiled
# (build-torch2/, launch/install.sh --torch2; its tests run on the CPU, CUDA cases skip without a
# GPU). Then a third phase under AddressSanitizer and UBSan (clang, build-fuzz/): every fuzz
# target of tests/fuzz for 10 s from its seeds, and the readers' unit tests
# (tests/fuzz/run_fuzzers.sh). This is README's test command and exactly what CI runs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Two jobs: the MPI tests take two ranks each, and CI machines have two cores.
failed=()
"$ROOT/launch/install.sh"
echo "test.sh: LibTorch 1.13 (Debian, CPU) in ${FATHOM_BUILD_DIR:-$ROOT/build}"
ctest --test-dir "${FATHOM_BUILD_DIR:-$ROOT/build}" --output-on-failure -j2 || failed+=("LibTorch 1.13")
"$ROOT/launch/install.sh" --torch2
echo "test.sh: LibTorch 2.x (CUDA wheel, NCCL) in ${FATHOM_TORCH2_BUILD_DIR:-$ROOT/build-torch2}"
ctest --test-dir "${FATHOM_TORCH2_BUILD_DIR:-$ROOT/build-torch2}" --output-on-failure -j2 || failed+=("LibTorch 2.x")
echo "test.sh: fuzz targets and readers' tests under ASan+UBSan in ${FATHOM_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
"$ROOT/tests/fuzz/run_fuzzers.sh" 10 "${FATHOM_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}" || failed+=("ASan+UBSan (fuzzing)")
if [ ${#failed[@]} -gt 0 ]; then
  echo "test.sh: tests failed in: ${failed[*]}" >&2
  exit 1
fi
