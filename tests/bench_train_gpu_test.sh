#!/usr/bin/env bash
# bench/train_gpu.py and bench/train_gpu.sh on a machine without a GPU:
#   1. `fathom prepare` writes a tiny dataset (the first 2,000 pairs of the Multi30k sample in
#      launch/sample/multi30k, a joint 1,000-piece vocabulary);
#   2. train_gpu.py --device cpu trains a tiny Admin model eagerly for 6 updates on it: exits 0
#      and prints its `result` line with tok/s > 0, a finite loss, 6 steps, fp32 on the CPU;
#   3. `fathom train` on the same config: the parameters, examples and batches per epoch agree
#      with the PyTorch side (bench/train_gpu.sh checks the same on the GPU), and so does the
#      loss of updates 3-6 (the learning rate is still tiny: both stay near their initial loss);
#   4. train_gpu.py --probe (one try of --max_batch) trains 2 updates and says it fits;
#   5. bench/train_gpu.sh --print_linkage, under its `set -o pipefail`, on a wrapper script
#      (where ldd exits 1) and on the fathom binary (each CUDA library ldd shows is listed).
#
#   tests/bench_train_gpu_test.sh FATHOM PYTHON      (PYTHON: with torch >= 2.0 and numpy)
# Prints "N passed, N failed"; exits 1 on any failure.
set -uo pipefail

FATHOM=${1:?usage: bench_train_gpu_test.sh FATHOM PYTHON}
PYTHON=${2:?usage: bench_train_gpu_test.sh FATHOM PYTHON}
ROOT=${FATHOM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
SAMPLE=$ROOT/launch/sample/multi30k
TMP=$(mktemp -d /tmp/fathom-bench-train-gpu-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
pass() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit; }
# field FILE KEY: KEY's value on FILE's last `result` line (as bench/train_gpu.sh reads it).
field() { grep '^result ' "$1" | tail -1 | grep -o " $2=[^ ]*" | cut -d= -f2; }

[ -x "$FATHOM" ] || { fail "$FATHOM is not an executable fathom"; finish; }
"$PYTHON" -c 'import torch, numpy' 2> "$TMP/import.err" ||
  { cat "$TMP/import.err"; fail "$PYTHON cannot import torch and numpy"; finish; }

# 1. A tiny prepared dataset.
zcat "$SAMPLE/train.de.gz" | head -2000 > "$TMP/train.de"
zcat "$SAMPLE/train.en.gz" | head -2000 > "$TMP/train.en"
VOCAB=1000
# The model of train_gpu.sh's write_config (admin60's kind, scaled down).
cat > "$TMP/config.pbtxt" <<CFG
run_dir: "$TMP/run"
seed: 1
data {
  split { name: "train" source: "$TMP/train.de" target: "$TMP/train.en" }
  prepared_dir: "$TMP/prepared"
  sentencepiece { joint: true vocab_size: $VOCAB }
  batch { max_tokens: 1024 }
}
model { encoder_layers: 2 decoder_layers: 2 d_model: 64 heads: 4 ffn_dim: 128 dropout: 0.1 embedding_sharing: TIE_ALL }
init { method: ADMIN_CONSTANT }
optim { optimizer: ADAM lr: 7e-4 beta1: 0.9 beta2: 0.98 warmup_steps: 4000 label_smoothing: 0.1 max_steps: 6 }
eval { log_every_steps: 1 valid_every_steps: 1000000000 }
checkpoint { save_every_steps: 1000000000 keep_last: 1 keep_best: 0 }
CFG
if "$FATHOM" prepare --config "$TMP/config.pbtxt" > "$TMP/prepare.log" 2>&1 && [ -s "$TMP/prepared/train.tokens" ]; then
  pass "fathom prepare wrote $TMP/prepared"
else
  tail -5 "$TMP/prepare.log"; fail "fathom prepare failed (above)"; finish
fi
MODEL=(--encoder_layers 2 --decoder_layers 2 --d_model 64 --heads 4 --ffn 128 --dropout 0.1 --norm admin)

# 2. The PyTorch side, eager, on the CPU: 2 warm-up updates, then 2 windows of 2.
if "$PYTHON" "$ROOT/bench/train_gpu.py" --device cpu --prepared "$TMP/prepared" --vocab "$VOCAB" \
    --name tiny "${MODEL[@]}" --max_tokens 1024 --warmup_steps 2 --window_steps 2 --windows 2 \
    > "$TMP/eager.out" 2> "$TMP/eager.log"; then
  pass "train_gpu.py --device cpu exits 0"
else
  tail -15 "$TMP/eager.log"; fail "train_gpu.py --device cpu failed (its stderr above)"
fi
cat "$TMP/eager.out"
tok_s=$(field "$TMP/eager.out" tok_s) loss=$(field "$TMP/eager.out" loss)
if awk -v t="$tok_s" 'BEGIN {exit !(t != "" && t + 0 > 0)}'; then
  pass "it prints tok/s ($tok_s)"
else
  fail "no tok_s > 0 on its result line"
fi
# Near the initial loss: well under 2 ln V, and a number (nan fails every comparison).
if awk -v l="$loss" -v v="$VOCAB" 'BEGIN {exit !(l != "" && l + 0 > 1 && l + 0 < 2 * log(v))}'; then
  pass "its loss is finite and plausible ($loss, ln V = $(awk -v v="$VOCAB" 'BEGIN {printf "%.2f", log(v)}'))"
else
  fail "loss '$loss' is not between 1 and 2 ln V"
fi
summary="$(field "$TMP/eager.out" steps)/$(field "$TMP/eager.out" device)/$(field "$TMP/eager.out" precision)/$(field "$TMP/eager.out" windows | tr ',' '\n' | grep -c .)"
if [ "$summary" = "6/cpu/fp32/2" ]; then
  pass "6 updates in 2 timed windows, fp32 on the CPU"
else
  fail "steps/device/precision/windows are $summary, not 6/cpu/fp32/2"
fi

# 3. Fathom on the same config and batches.
if "$FATHOM" train --config "$TMP/config.pbtxt" > "$TMP/train.log" 2>&1; then
  pass "fathom train exits 0"
else
  tail -5 "$TMP/train.log"; fail "fathom train failed (above)"
fi
read -r f_params f_examples f_batches < <(sed -nE \
  's/.* ([0-9]+) parameters; ([0-9]+) training examples, ([0-9]+) batches per epoch.*/\1 \2 \3/p' "$TMP/train.log" | head -1)
fathom_counts="${f_params:-?}/${f_examples:-?}/${f_batches:-?}"
python_counts="$(field "$TMP/eager.out" params)/$(field "$TMP/eager.out" examples)/$(field "$TMP/eager.out" batches_per_epoch)"
if [ "$fathom_counts" = "$python_counts" ]; then
  pass "parameters/examples/batches per epoch agree: $fathom_counts"
else
  fail "parameters/examples/batches per epoch: Fathom $fathom_counts, train_gpu.py $python_counts"
fi
f_loss=$(grep -E '\] step [3-6] \|' "$TMP/train.log" | sed -nE 's/.*\| loss ([0-9.]+) .*/\1/p' |
  awk '{s += $1} END {if (NR == 4) printf "%.4f", s / NR}')
# Different initial draws and dropout masks; a loss summed or normalised differently would be
# off by far more than this.
if awk -v a="$f_loss" -v b="$loss" 'BEGIN {d = a - b; exit !(a != "" && b != "" && d < 0.5 && d > -0.5)}'; then
  pass "the loss of updates 3-6 agrees to 0.5 (Fathom $f_loss, PyTorch $loss)"
else
  fail "the loss of updates 3-6: Fathom '$f_loss', PyTorch '$loss' (more than 0.5 apart)"
fi

# 4. One --max_batch try.
if "$PYTHON" "$ROOT/bench/train_gpu.py" --device cpu --prepared "$TMP/prepared" --vocab "$VOCAB" \
    "${MODEL[@]}" --max_tokens 1024 --probe --probe_steps 2 > "$TMP/probe.out" 2> "$TMP/probe.log" &&
    grep -q '^probe max_tokens=1024 fits steps=2 ' "$TMP/probe.out"; then
  pass "train_gpu.py --probe: $(cat "$TMP/probe.out")"
else
  cat "$TMP/probe.out"; tail -15 "$TMP/probe.log"; fail "train_gpu.py --probe did not say it fits"
fi

# 5. train_gpu.sh's library listing. A wrapper as bench/gpu_check.sh writes one: ldd exits 1 on it.
printf '#!/bin/sh\nexec "%s" "$@"\n' "$FATHOM" > "$TMP/fathom-wrapper"
chmod +x "$TMP/fathom-wrapper"
if ldd "$TMP/fathom-wrapper" > /dev/null 2>&1; then
  echo "note: ldd accepts a script here, so the wrapper case below shows less"
fi
if bash "$ROOT/bench/train_gpu.sh" "$TMP/fathom-wrapper" --print_linkage > "$TMP/linkage-wrapper.out" 2>&1 &&
    grep -q 'not listed: .* is not an ELF binary' "$TMP/linkage-wrapper.out"; then
  pass "train_gpu.sh --print_linkage on a wrapper script exits 0 and says why nothing is listed"
else
  cat "$TMP/linkage-wrapper.out"; fail "train_gpu.sh --print_linkage on a wrapper script (output above)"
fi
if bash "$ROOT/bench/train_gpu.sh" "$FATHOM" --print_linkage > "$TMP/linkage.out" 2>&1; then
  mapfile -t expected < <(ldd "$FATHOM" | awk '/libtorch_cuda|libc10_cuda|libcudart|libnccl/ {print $1}')
  absent=()
  for lib in "${expected[@]}"; do grep -q "^  $lib -> " "$TMP/linkage.out" || absent+=("$lib"); done
  if [ ${#expected[@]} -eq 0 ] && ! grep -q 'none of libtorch_cuda' "$TMP/linkage.out"; then
    cat "$TMP/linkage.out"; fail "train_gpu.sh --print_linkage: ldd shows no CUDA library, and it did not say so"
  elif [ ${#absent[@]} -gt 0 ]; then
    cat "$TMP/linkage.out"; fail "train_gpu.sh --print_linkage does not list ${absent[*]}"
  else
    pass "train_gpu.sh --print_linkage on the binary lists ${expected[*]:-no CUDA library (a CPU LibTorch)}"
  fi
else
  cat "$TMP/linkage.out"; fail "train_gpu.sh --print_linkage on $FATHOM failed"
fi

finish
