#!/usr/bin/env bash
# Fails when a C++ source of the repository differs from what clang-format makes of it under
# .clang-format (Google style, 100 columns). CTest runs it as format_test; to fix a failure run
#   clang-format -i $(git ls-files '*.cc' '*.h' '*.cu' '*.cuh')
# Only files git tracks are checked, so build trees and virtual environments never count.
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
FORMAT=${CLANG_FORMAT:-clang-format}
command -v "$FORMAT" >/dev/null || { echo "check_format.sh: $FORMAT not found (Debian: clang-format-14, in launch/packages.txt)" >&2; exit 1; }
cd "$ROOT"
mapfile -t files < <(git ls-files '*.cc' '*.h' '*.cu' '*.cuh')
[ ${#files[@]} -gt 0 ] || { echo "check_format.sh: no tracked C++ files under $ROOT (not a git checkout?)" >&2; exit 1; }
if ! "$FORMAT" --dry-run -Werror "${files[@]}"; then
  echo "check_format.sh: the files above are not clang-formatted; run: clang-format -i FILE..." >&2
  exit 1
fi
echo "check_format.sh: ${#files[@]} files formatted as .clang-format says"
