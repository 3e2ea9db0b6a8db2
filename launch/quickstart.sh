#!/usr/bin/env bash
# README command 1: install, build, and run the main job on the bundled default config:
# prepare the Multi30k sample bundled in launch/sample/multi30k (SentencePiece + shards), train a
# small Admin model with 2 MPI ranks on CPU for
# five minutes, translate the held-out test_2016_flickr split from the saved checkpoint (beam 4,
# both ranks) and print its sacreBLEU-exact BLEU.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
launch/install.sh
CONFIG=${1:-configs/multi30k_admin.pbtxt}
RANKS=${RANKS:-2}
build/launch/fathom prepare --config "$CONFIG" --overwrite
MPI_FLAGS=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && MPI_FLAGS+=(--allow-run-as-root)
mpirun -np "$RANKS" "${MPI_FLAGS[@]}" build/launch/fathom train --config "$CONFIG"
RUN=$(awk -F'"' '/^run_dir:/ {print $2; exit}' "$CONFIG")
TEST=launch/sample/multi30k/test_2016_flickr
mpirun -np "$RANKS" "${MPI_FLAGS[@]}" build/launch/fathom translate --checkpoint "$RUN" \
  --input "$TEST.de.gz" --output "$RUN/test_2016_flickr.hyp" --beam 4
zcat "$TEST.en.gz" > "$RUN/test_2016_flickr.ref"
echo
build/launch/fathom score --hyp "$RUN/test_2016_flickr.hyp" --ref "$RUN/test_2016_flickr.ref"
echo
echo "Checkpoints:      $RUN/checkpoints/ (newest: $(cat "$RUN/checkpoints/LATEST"))"
echo "TensorBoard logs: $RUN/tb/   (tensorboard --logdir $RUN/tb)"
echo "Progress log:     $RUN/train.log"
grep -E "valid \|" "$RUN/train.log" | tail -1 || true  # none when training stopped before validating
