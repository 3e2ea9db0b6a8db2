#!/usr/bin/env bash
# bench/checkpointing_cpu: what model.activation_checkpointing costs and saves on the CPU, with the
# CPU build: `fathom train` of the same Admin model on the same batches, without and with it;
# prints each run's tok/s (the last progress line) and peak RSS (the process's ru_maxrss, which
# on the CPU holds the activations between forward and backward). The GPU figures come from
# bench/train_gpu.sh --activation_checkpointing (bench/README.md).
#
#   bench/checkpointing_cpu.sh [--layers 6] [--d_model 256] [--max_tokens 4096] [--steps 6]
#       [--pairs 4000] [--threads 2] [--work DIR]
#
# Data: the first --pairs pairs of the bundled Multi30k sample (launch/sample/multi30k), a joint
# 2,000-piece vocabulary. ADMIN_CONSTANT: no profiling pass, so both runs time training alone.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FATHOM=${FATHOM_BINARY:-$ROOT/build/launch/fathom}
WORK=${TMPDIR:-/tmp}/fathom-bench-checkpointing
LAYERS=6 D=256 MAX_TOKENS=4096 STEPS=6 PAIRS=4000 THREADS=2
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || { sed -n '/^#   bench/,/--work DIR\]$/p' "${BASH_SOURCE[0]}" >&2; exit 2; }
  case "$1" in
    --layers) LAYERS=$2 ;;
    --d_model) D=$2 ;;
    --max_tokens) MAX_TOKENS=$2 ;;
    --steps) STEPS=$2 ;;
    --pairs) PAIRS=$2 ;;
    --threads) THREADS=$2 ;;
    --work) WORK=$2 ;;
    *) sed -n '/^#   bench/,/--work DIR\]$/p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
  esac
  shift 2
done
[ -x "$FATHOM" ] || { echo "bench/checkpointing_cpu: $FATHOM is not executable (launch/install.sh)" >&2; exit 1; }
mkdir -p "$WORK"
SAMPLE=$ROOT/launch/sample/multi30k
[ -s "$WORK/train.de" ] || zcat "$SAMPLE/train.de.gz" | awk -v n="$PAIRS" "NR <= n" > "$WORK/train.de"
[ -s "$WORK/train.en" ] || zcat "$SAMPLE/train.en.gz" | awk -v n="$PAIRS" "NR <= n" > "$WORK/train.en"

config() {  # config RUN_DIR CHECKPOINTING
  cat <<CFG
run_dir: "$1"
seed: 1
data {
  split { name: "train" source: "$WORK/train.de" target: "$WORK/train.en" }
  prepared_dir: "$WORK/prepared"
  sentencepiece { joint: true vocab_size: 2000 }
  batch { max_tokens: $MAX_TOKENS }
}
model { encoder_layers: $LAYERS decoder_layers: $LAYERS d_model: $D heads: 4 ffn_dim: $((4 * D)) dropout: 0.1 attention_dropout: 0.1 embedding_sharing: TIE_ALL activation_checkpointing: $2 }
init { method: ADMIN_CONSTANT }
optim { lr: 7e-4 warmup_steps: 100 max_steps: $STEPS label_smoothing: 0.1 }
eval { log_every_steps: $STEPS valid_every_steps: 1000000 }
checkpoint { save_every_steps: 1000000 keep_last: 1 }
distributed { threads: $THREADS }
CFG
}

config "$WORK/run" false > "$WORK/prepare.pbtxt"
[ -f "$WORK/prepared/train.header" ] || "$FATHOM" prepare --config "$WORK/prepare.pbtxt" 2> "$WORK/prepare.log"
echo "bench/checkpointing_cpu: Admin ${LAYERS}L-${LAYERS}L d $D, FFN $((4 * D)), $MAX_TOKENS tokens/batch, $STEPS updates, $THREADS threads, $(nproc) cores"
for on in false true; do
  config "$WORK/run-$on" "$on" > "$WORK/$on.pbtxt"
  rm -rf "$WORK/run-$on"
  # ru_maxrss of the finished child, in KiB on Linux.
  rss=$(python3 -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:], stderr=open(sys.argv[-1] + ".log", "w"))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if rc == 0 else "failed")' \
    "$FATHOM" train --config "$WORK/$on.pbtxt")
  [ "$rss" != failed ] || { tail -5 "$WORK/$on.pbtxt.log" >&2; exit 1; }
  line=$(grep -E "\] step $STEPS \|" "$WORK/$on.pbtxt.log" | tail -1)
  tps=$(echo "$line" | sed -nE 's/.*\| tok\/s ([0-9.]+) .*/\1/p')
  loss=$(echo "$line" | sed -nE 's/.*\| loss ([0-9.]+) .*/\1/p')
  printf 'activation_checkpointing %-5s  tok/s %8s  loss %s  peak RSS %d MiB\n' "$on" "$tps" "$loss" $((rss / 1024))
  rm -rf "$WORK/run-$on/checkpoints"
done
