#!/usr/bin/env bash
# README command 1: install, build, and run the main job on the bundled default config.
# Today the pipeline ends at prepared data (SentencePiece + binary shards of Multi30k);
# training, translation and BLEU join this script as the trainer and evaluation land.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
launch/install.sh
CONFIG=${1:-configs/multi30k_admin.pbtxt}
build/launch/fathom prepare --config "$CONFIG" --overwrite
PREPARED=$(awk -F'"' '/^ *prepared_dir:/ {print $2; exit}' "$CONFIG")
echo
echo "Prepared data for $CONFIG is in $PREPARED/:"
ls -l "$PREPARED"
