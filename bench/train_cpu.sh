#!/usr/bin/env bash
# bench/train_cpu: training tokens/s (source + target real tokens) of a small Admin model in
# Fathom against the same model, batch budget and thread count in PyTorch (Python, eager;
# Debian python3-torch), measured in one run on Multi30k. Both time the same number of updates
# after the same number of warm-up updates.
#
# The machine is noisy, so the pair is run ROUNDS times, alternating, and every round is printed
# with the median ratio.
#
#   bench/train_cpu.sh [--layers 3] [--max_tokens 4096] [--threads 2] [--steps 20] [--rounds 3]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${FATHOM_SHARED_DATA:-$ROOT/../shared/data}
FATHOM=${FATHOM_BINARY:-$ROOT/build/launch/fathom}
WORK=${TMPDIR:-/tmp}/fathom-bench-train
PYTHON=${PYTHON:-/usr/bin/python3}  # Debian's python3-torch lives in the system Python
LAYERS=3 MAX_TOKENS=4096 THREADS=2 STEPS=20 ROUNDS=3 D=256 HEADS=4 FFN=1024 VOCAB=8000
while [ $# -gt 0 ]; do
  case "$1" in
    --layers) LAYERS=$2; shift ;;
    --max_tokens) MAX_TOKENS=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --steps) STEPS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    *) echo "usage: $0 [--layers N] [--max_tokens N] [--threads N] [--steps N]" >&2; exit 2 ;;
  esac
  shift
done
"$PYTHON" -c 'import torch' 2>/dev/null || { echo "bench/train_cpu: python3-torch missing (apt-get install python3-torch)" >&2; exit 1; }
mkdir -p "$WORK"
M30K=$DATA/translation/multi30k
cat > "$WORK/run.pbtxt" <<CFG
run_dir: "$WORK/run"
data {
  split { name: "train" source: "$M30K/train.de.gz" target: "$M30K/train.en.gz" }
  prepared_dir: "$WORK/prepared"
  sentencepiece { vocab_size: $VOCAB }
  batch { max_tokens: $MAX_TOKENS }
}
model { encoder_layers: $LAYERS decoder_layers: $LAYERS d_model: $D heads: $HEADS ffn_dim: $FFN dropout: 0.1 embedding_sharing: TIE_ALL }
init { method: ADMIN }
optim { lr: 7e-4 warmup_steps: 100 max_steps: $((2 * STEPS)) label_smoothing: 0.1 }
eval { log_every_steps: $STEPS valid_every_steps: 100000 }
checkpoint { save_every_steps: 100000 keep_last: 1 }
distributed { threads: $THREADS }
CFG
[ -f "$WORK/prepared/train.header" ] || "$FATHOM" prepare --config "$WORK/run.pbtxt" 2> "$WORK/prepare.log"
echo "bench/train_cpu: Admin ${LAYERS}L-${LAYERS}L d $D, FFN $FFN, tied vocab $VOCAB, $MAX_TOKENS tokens/batch, $THREADS threads, $(nproc) cores"
ratios=()
for round in $(seq 1 "$ROUNDS"); do
  rm -rf "$WORK/run"
  "$FATHOM" train --config "$WORK/run.pbtxt" 2> "$WORK/fathom.log"
  fathom_tps=$(grep -E "\] step $((2 * STEPS)) \|" "$WORK/fathom.log" | sed -E 's/.*tok\/s ([0-9.]+).*/\1/')
  "$PYTHON" "$ROOT/bench/train_cpu.py" --prepared "$WORK/prepared" --vocab "$VOCAB" --layers "$LAYERS" \
    --d_model "$D" --heads "$HEADS" --ffn "$FFN" --max_tokens "$MAX_TOKENS" --steps $((2 * STEPS)) \
    --skip "$STEPS" --threads "$THREADS" > "$WORK/pytorch.log"
  pytorch_tps=$(sed -E 's/.*tok\/s ([0-9.]+).*/\1/' "$WORK/pytorch.log")
  ratio=$(echo "$fathom_tps / $pytorch_tps" | bc -l)
  ratios+=("$ratio")
  printf 'round %d: fathom %s tok/s, pytorch %s tok/s (updates %d-%d), ratio %.2fx\n' "$round" \
    "$fathom_tps" "$pytorch_tps" $((STEPS + 1)) $((2 * STEPS)) "$ratio"
done
printf 'median ratio %.2fx\n' "$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
