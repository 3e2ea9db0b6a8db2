#!/usr/bin/env bash
# The text-to-SQL job end to end, on the shared data: prepare, train the relation-aware DT-Fixup
# model with R MPI ranks for a wall-time budget, predict SQL from the last checkpoint and score it.
#
#   launch/text2sql.sh [spider|geoquery] [--minutes M] [--ranks R] [--beam B] [--device cpu|cuda]
#                      [--config F]
#
#   spider    configs/spider_dt_fixup.pbtxt (24L-4L) on a GPU, configs/spider_dt_fixup_2cpu.pbtxt
#             (8L-2L, sized for 30 minutes on 2 cores) without one; predicts
#             ../shared/data/spider/dev.json and prints exact match by hardness (sql-eval --tables)
#   geoquery  configs/geoquery_dt_fixup.pbtxt; predicts GeoQuery's test questions (question
#             split) and prints execution accuracy on the geography database
#
#   --config F  another config of the same task instead
#
# Defaults: spider, 30 minutes, 2 ranks, beam 4, device auto. The budget becomes
# optim.max_seconds of a copy of the config in the run directory (max_steps stays, so the
# DT-Fixup schedule decays as configured). Needs a built tree (launch/install.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DATASET=spider MINUTES=30 RANKS=2 BEAM=4 DEVICE=auto CONFIG=
while [ $# -gt 0 ]; do
  case "$1" in
    spider|geoquery) DATASET=$1 ;;
    --minutes) MINUTES=$2; shift ;;
    --ranks) RANKS=$2; shift ;;
    --beam) BEAM=$2; shift ;;
    --device) DEVICE=$2; shift ;;
    --config) CONFIG=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "text2sql.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
FATHOM=build/launch/fathom
[ -x "$FATHOM" ] || { echo "text2sql.sh: $FATHOM missing: run launch/install.sh first" >&2; exit 1; }
SHARED=../shared/data
if [ -z "$CONFIG" ]; then
  CONFIG=configs/${DATASET}_dt_fixup.pbtxt
  # The 24-layer Spider model makes under one epoch in 30 minutes on 2 CPU cores.
  gpu=0
  [ "$DEVICE" = cuda ] && gpu=1
  [ "$DEVICE" = auto ] && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 && gpu=1
  [ "$DATASET" = spider ] && [ "$gpu" = 0 ] && CONFIG=configs/spider_dt_fixup_2cpu.pbtxt
fi
[ -f "$CONFIG" ] || { echo "text2sql.sh: no config $CONFIG" >&2; exit 2; }
echo "text2sql.sh: $DATASET with $CONFIG"
RUN=$(awk -F'"' '/^run_dir:/ {print $2; exit}' "$CONFIG")
mkdir -p "$RUN"
# The budget and device on a copy of the shipped config (text format: the one optim line gets
# max_seconds; the distributed section is added).
JOB_CONFIG=$RUN.job.pbtxt
sed "s/^optim {/optim { max_seconds: $((MINUTES * 60))/" "$CONFIG" > "$JOB_CONFIG"
echo "distributed { device: \"$DEVICE\" }" >> "$JOB_CONFIG"
MPI_FLAGS=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && MPI_FLAGS+=(--allow-run-as-root)
start=$(date +%s)
"$FATHOM" prepare --config "$JOB_CONFIG" --overwrite
mpirun -np "$RANKS" "${MPI_FLAGS[@]}" "$FATHOM" train --config "$JOB_CONFIG"
trained=$(date +%s)
if [ "$DATASET" = spider ]; then
  mpirun -np "$RANKS" "${MPI_FLAGS[@]}" "$FATHOM" translate --checkpoint "$RUN" \
    --spider_json "$SHARED/spider/dev.json" --output "$RUN/dev.pred.sql" --beam "$BEAM" \
    --device "$DEVICE"
  echo
  "$FATHOM" sql-eval --gold "$SHARED/spider/dev_gold.sql" --pred "$RUN/dev.pred.sql" \
    --tables "$SHARED/spider/tables.json"
else
  mpirun -np "$RANKS" "${MPI_FLAGS[@]}" "$FATHOM" translate --checkpoint "$RUN" \
    --text2sql_json "$SHARED/text2sql/geography.json" --text2sql_split test \
    --output "$RUN/test.pred.sql" --gold_output "$RUN/test.gold.sql" --beam "$BEAM" \
    --device "$DEVICE"
  echo
  "$FATHOM" sql-eval --gold "$RUN/test.gold.sql" --pred "$RUN/test.pred.sql" \
    --db_sql "$SHARED/text2sql/geography-db.sql"
fi
done_at=$(date +%s)
echo
echo "text2sql.sh $DATASET: trained $((trained - start)) s (budget $MINUTES min, $RANKS ranks), predicted and scored in $((done_at - trained)) s"
echo "Run: $RUN (train.log, checkpoints/, tb/); config used: $JOB_CONFIG"
