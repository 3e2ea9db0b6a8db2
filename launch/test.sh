#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (unit tests and the 2-rank MPI tests).
# This is README's test command and exactly what CI runs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/launch/install.sh"
# Two jobs: the MPI tests take two ranks each, and CI machines have two cores.
ctest --test-dir "${FATHOM_BUILD_DIR:-$ROOT/build}" --output-on-failure -j2
