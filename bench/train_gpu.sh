#!/usr/bin/env bash
# bench/train_gpu: training tokens/s and MFU on one CUDA GPU, bf16, of Fathom (`fathom train`)
# against the same model, batches and update in PyTorch (bench/train_gpu.py), eager and under
# torch.compile, in one run on one GPU: Transformer-base, Transformer-big and Admin 60L-12L
# (d 512) at data.batch.max_tokens 16384 (padding included, per side, as fairseq's
# --max-tokens), on the WMT news test sets 2008-2020 de-en of ../shared/data (newstest2014 left
# out) with a joint 32k SentencePiece vocabulary. Builds nothing: FATHOM is a fathom binary built
# against a CUDA LibTorch (default build-cuda/launch/fathom).
#
# All three implementations train from the same first batch in the same order (Fathom's
# batcher, seed 1): WARMUP_WINDOWS windows of WINDOW updates untimed (compilation included), then
# WINDOWS timed windows; tok/s counts real source + target tokens (EOS, BOS included) and is the
# median window. MFU = tok/s x model FLOPs per token / bf16 dense peak (train_gpu.py
# train_flops() has the formula).
#
#   bench/train_gpu.sh [FATHOM] [--models "base big admin60"] [--impls "fathom eager compile"]
#       [--max_tokens 16384] [--window 20] [--windows 3] [--warmup_windows 1] [--vocab 32000]
#       [--compile_scope model|layers] [--admin_init ADMIN_CONSTANT|ADMIN] [--peak_tflops X]
#       [--max_batch] [--max_batch_impls "fathom eager"] [--resolution 2048] [--work DIR]
#       [--activation_checkpointing]
#   bench/train_gpu.sh [FATHOM] --print_linkage
#
# --max_batch also searches the largest max_tokens with which 60L-12L trains one epoch without
# running out of memory (doubling from --max_tokens, then bisecting to --resolution), for each
# of --max_batch_impls. --models "" runs only that search.
#
# --activation_checkpointing sets model.activation_checkpointing in every Fathom config (the
# throughput runs and the --max_batch search): each layer recomputes its activations in backward.
# The PyTorch side does not checkpoint, so compare it with --impls fathom. --models may also name
# admin100, Admin 100L-100L (d 512), which needs it to train at 16k tokens on one GPU.
#
# FATHOM may be a wrapper script that sets LD_LIBRARY_PATH and execs the binary (as
# bench/gpu_check.sh makes); its CUDA libraries are then not listed. --print_linkage prints only
# what the environment section says about FATHOM's libraries, and needs no GPU or data.
set -euo pipefail
ulimit -c 0  # an out-of-memory abort must not dump the core of a GPU process

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FATHOM=${FATHOM_BINARY:-$ROOT/build-cuda/launch/fathom}
PYTHON=${PYTHON:-python3}
WORK=${TMPDIR:-/tmp}/fathom-bench-train-gpu
MODELS="base big admin60" IMPLS="fathom eager compile"
MAX_TOKENS=16384 WINDOW=20 WINDOWS=3 WARMUP_WINDOWS=1 VOCAB=32000
COMPILE_SCOPE=model ADMIN_INIT=ADMIN_CONSTANT PEAK=0
MAX_BATCH=0 MAX_BATCH_IMPLS="fathom eager" RESOLUTION=2048 PRINT_LINKAGE=0 CHECKPOINTING=false
usage() { sed -n '/^#   bench\/train_gpu.sh/,/--print_linkage$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then FATHOM=$1; shift; fi
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || case "$1" in --max_batch | --print_linkage | --activation_checkpointing) ;; *) usage ;; esac
  case "$1" in
    --models) MODELS=$2; shift ;;
    --impls) IMPLS=$2; shift ;;
    --max_tokens) MAX_TOKENS=$2; shift ;;
    --window) WINDOW=$2; shift ;;
    --windows) WINDOWS=$2; shift ;;
    --warmup_windows) WARMUP_WINDOWS=$2; shift ;;
    --vocab) VOCAB=$2; shift ;;
    --compile_scope) COMPILE_SCOPE=$2; shift ;;
    --admin_init) ADMIN_INIT=$2; shift ;;
    --peak_tflops) PEAK=$2; shift ;;
    --max_batch) MAX_BATCH=1 ;;
    --print_linkage) PRINT_LINKAGE=1 ;;
    --activation_checkpointing) CHECKPOINTING=true ;;
    --max_batch_impls) MAX_BATCH_IMPLS=$2; shift ;;
    --resolution) RESOLUTION=$2; shift ;;
    --work) WORK=$2; shift ;;
    *) usage ;;
  esac
  shift
done

die() { echo "bench/train_gpu: $*" >&2; exit 1; }

# print_linkage FATHOM: the CUDA, LibTorch and NCCL libraries FATHOM links, or why they cannot be
# listed. ldd exits 1 on anything that is not a dynamic ELF executable (a wrapper script among
# them), which under pipefail would end this script, so its output is taken first and filtered
# after.
print_linkage() {
  local out libs
  if [ "$(head -c 4 "$1" | tr -d '\0')" != $'\177ELF' ]; then
    echo "  not listed: $1 is not an ELF binary (a wrapper script?); run ldd on the binary it starts"
    return 0
  fi
  if ! out=$(ldd "$1" 2>&1); then
    echo "  not listed: ldd $1 failed: $(echo "$out" | head -1)"
    return 0
  fi
  libs=$(echo "$out" | awk '/libtorch_cuda|libc10_cuda|libcudart|libnccl/ {print "  " $1 " -> " $3}')
  echo "${libs:-  none of libtorch_cuda, libc10_cuda, libcudart, libnccl: a CPU build of LibTorch?}"
}

[ -x "$FATHOM" ] || die "$FATHOM is not an executable fathom (pass the path of a CUDA build)"
if [ "$PRINT_LINKAGE" = 1 ]; then
  echo "fathom $FATHOM, linked against:"
  print_linkage "$FATHOM"
  exit 0
fi
DATA=
for candidate in "${FATHOM_SHARED_DATA:-}" "$ROOT/../shared/data" "$ROOT/shared/data"; do
  if [ -n "$candidate" ] && [ -d "$candidate/translation/news-de-en" ]; then DATA=$candidate; break; fi
done
[ -n "$DATA" ] || die "no translation/news-de-en under \$FATHOM_SHARED_DATA, $ROOT/../shared/data or $ROOT/shared/data"
command -v nvidia-smi >/dev/null || die "nvidia-smi missing: no NVIDIA driver here"
"$PYTHON" -c 'import torch, numpy; assert torch.cuda.is_available()' 2>/dev/null ||
  die "$PYTHON cannot import torch and numpy with CUDA available (set PYTHON=...)"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

echo "== environment"
date -u '+%Y-%m-%d %H:%M UTC'
nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv,noheader || true
"$PYTHON" "$ROOT/bench/train_gpu.py" --print_env
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no git")
[ "$commit" = "no git" ] || git -C "$ROOT" diff --quiet HEAD 2>/dev/null || commit="$commit + uncommitted changes"
echo "fathom $FATHOM (commit $commit), linked against:"
print_linkage "$FATHOM"
echo "$(nproc) cores; data $DATA"

# Corpus: the WMT news test sets, line-aligned (awk 1 ends every file with a newline).
CORPUS=$WORK/news
if [ ! -s "$CORPUS.en" ]; then
  for f in "$DATA"/translation/news-de-en/*.deu; do
    case "$f" in *newstest2014*) continue ;; esac
    awk 1 "$f" >&3
    awk 1 "${f%.deu}.eng" >&4
  done 3> "$CORPUS.de.partial" 4> "$CORPUS.en.partial"
  [ "$(wc -l < "$CORPUS.de.partial")" = "$(wc -l < "$CORPUS.en.partial")" ] || die "news-de-en: line counts differ"
  mv "$CORPUS.de.partial" "$CORPUS.de" && mv "$CORPUS.en.partial" "$CORPUS.en"
fi
PREPARED=$WORK/prepared-v$VOCAB

# Dimensions: Vaswani et al. base and big (Post-LN; big with dropout 0.3 as for en-de), and
# Liu et al.'s Admin 60L-12L. ADMIN_CONSTANT by default: the same residuals and step as ADMIN,
# with the omegas the PyTorch side uses (ADMIN only adds a profiling pass before training).
model_dims() {
  case "$1" in
    base) ENC=6 DEC=6 D=512 H=8 FFN=2048 DROP=0.1 INIT=POST_LN NORM=post_ln ;;
    big) ENC=6 DEC=6 D=1024 H=16 FFN=4096 DROP=0.3 INIT=POST_LN NORM=post_ln ;;
    admin60) ENC=60 DEC=12 D=512 H=8 FFN=2048 DROP=0.1 INIT=$ADMIN_INIT NORM=admin ;;
    admin100) ENC=100 DEC=100 D=512 H=8 FFN=2048 DROP=0.1 INIT=$ADMIN_INIT NORM=admin ;;
    *) die "unknown model $1 (base, big, admin60, admin100)" ;;
  esac
}

# write_config MODEL MAX_TOKENS RUN_DIR "STOP" LOG_EVERY
write_config() {
  model_dims "$1"
  cat <<CFG
run_dir: "$3"
seed: 1
data {
  split { name: "train" source: "$CORPUS.de" target: "$CORPUS.en" }
  prepared_dir: "$PREPARED"
  sentencepiece { joint: true vocab_size: $VOCAB }
  batch { max_tokens: $2 }
}
model { encoder_layers: $ENC decoder_layers: $DEC d_model: $D heads: $H ffn_dim: $FFN dropout: $DROP embedding_sharing: TIE_ALL activation_checkpointing: $CHECKPOINTING }
init { method: $INIT }
optim { optimizer: ADAM lr: 7e-4 beta1: 0.9 beta2: 0.98 warmup_steps: 4000 label_smoothing: 0.1 $4 }
eval { log_every_steps: $5 valid_every_steps: 1000000000 }
checkpoint { save_every_steps: 1000000000 keep_last: 1 keep_best: 0 }
distributed { device: "cuda" precision: BF16 }
CFG
}

if [ ! -f "$PREPARED/train.header" ]; then
  write_config base "$MAX_TOKENS" "$WORK/run-prepare" "max_steps: 1" 1 > "$WORK/prepare.pbtxt"
  "$FATHOM" prepare --config "$WORK/prepare.pbtxt" 2> "$WORK/prepare.log" ||
    { tail -5 "$WORK/prepare.log" >&2; die "fathom prepare failed (log: $WORK/prepare.log)"; }
fi
echo "corpus $(wc -l < "$CORPUS.de") pairs (WMT news test sets 2008-2020 de-en, newstest2014 left out); joint vocab $VOCAB; prepared $PREPARED"

# GPU memory in use (nvidia-smi, MiB, every 200 ms) while a run lasts: its maximum in MEM.
gpu_mem_start() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$1" 2>/dev/null & MEM_PID=$!; }
gpu_mem_stop() {
  kill "$MEM_PID" 2>/dev/null || true
  wait "$MEM_PID" 2>/dev/null || true
  MEM=$(sort -n "$1" | tail -1)
  MEM=${MEM:-n/a}
}
median() { tr ',' '\n' | sort -g | awk '{a[NR]=$1} END {if (NR == 0) print ""; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# field FILE KEY: KEY's value on FILE's last `result` line.
field() { grep '^result ' "$1" | tail -1 | grep -o " $2=[^ ]*" | cut -d= -f2 || true; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2fx", a / b}'; }
percent() { awk -v t="$1" -v f="$2" -v p="$3" 'BEGIN {if (t == "" || f == "" || p == "" || p != p + 0 || p == 0) print "n/a"; else printf "%.1f%%", 100 * t * f / (p * 1e12)}'; }
py_model_args() { echo "--encoder_layers $ENC --decoder_layers $DEC --d_model $D --heads $H --ffn $FFN --dropout $DROP --norm $NORM"; }

# run_fathom MODEL: sets F_TPS, F_WINDOWS, F_LOSS, F_PARAMS, F_EXAMPLES, F_BATCHES, F_MEM.
run_fathom() {
  local name=$1 run=$WORK/run-$1 cfg=$WORK/$1.pbtxt log=$WORK/$1-fathom.log rc=0 k
  F_TPS='' F_WINDOWS='' F_LOSS='' F_PARAMS='' F_EXAMPLES='' F_BATCHES='' F_MEM=''
  write_config "$name" "$MAX_TOKENS" "$run" "max_steps: $(((WARMUP_WINDOWS + WINDOWS) * WINDOW))" "$WINDOW" > "$cfg"
  rm -rf "$run"
  gpu_mem_start "$WORK/$name-fathom.mem"
  "$FATHOM" train --config "$cfg" 2> "$log" || rc=$?
  gpu_mem_stop "$WORK/$name-fathom.mem"
  F_MEM=$MEM
  rm -rf "$run/checkpoints"  # gigabytes for 60L-12L; the log and the TensorBoard events stay
  local lines=()
  for k in $(seq $((WARMUP_WINDOWS + 1)) $((WARMUP_WINDOWS + WINDOWS))); do
    lines+=("$(grep -E "\] step $((k * WINDOW)) \|" "$log" | tail -1 || true)")
  done
  F_WINDOWS=$(printf '%s\n' "${lines[@]}" | sed -nE 's/.*\| tok\/s ([0-9.]+) .*/\1/p' | paste -sd, -)
  F_LOSS=$(printf '%s\n' "${lines[@]}" | sed -nE 's/.*\| loss ([0-9.]+) .*/\1/p' | awk '{s += $1} END {if (NR) printf "%.4f", s / NR}')
  read -r F_PARAMS F_EXAMPLES F_BATCHES < <(sed -nE \
    's/.* ([0-9]+) parameters; ([0-9]+) training examples, ([0-9]+) batches per epoch.*/\1 \2 \3/p' "$log" | head -1) || true
  if [ "$rc" != 0 ] || [ "$(echo "$F_WINDOWS" | tr ',' '\n' | grep -c .)" != "$WINDOWS" ]; then
    echo "  fathom: FAILED (exit $rc; log $log):"; tail -5 "$log" | sed 's/^/    /'
    F_TPS=
    return 0
  fi
  F_TPS=$(echo "$F_WINDOWS" | median)
  echo "  fathom:  tok/s $F_TPS (windows $F_WINDOWS), loss $F_LOSS, $F_PARAMS parameters, $F_EXAMPLES examples, $F_BATCHES batches/epoch, GPU memory used max $F_MEM MiB"
}

# run_python MODEL eager|compile: the result line in $WORK/MODEL-MODE.out; sets P_OUT, P_MEM.
run_python() {
  local name=$1 mode=$2 rc=0
  P_OUT=$WORK/$name-$mode.out
  local log=$WORK/$name-$mode.log
  model_dims "$name"
  gpu_mem_start "$WORK/$name-$mode.mem"
  # shellcheck disable=SC2046
  "$PYTHON" "$ROOT/bench/train_gpu.py" --prepared "$PREPARED" --vocab "$VOCAB" --name "$name" $(py_model_args) \
    --max_tokens "$MAX_TOKENS" --mode "$mode" --compile_scope "$COMPILE_SCOPE" \
    --warmup_steps $((WARMUP_WINDOWS * WINDOW)) --window_steps "$WINDOW" --windows "$WINDOWS" \
    --peak_tflops "$PEAK" > "$P_OUT" 2> "$log" || rc=$?
  gpu_mem_stop "$WORK/$name-$mode.mem"
  P_MEM=$MEM
  if [ "$rc" != 0 ] || [ -z "$(field "$P_OUT" tok_s)" ]; then
    echo "  $mode: FAILED (exit $rc; log $log):"; tail -5 "$log" | sed 's/^/    /'
    : > "$P_OUT"
    return 0
  fi
  local extra=""
  [ "$mode" = compile ] && extra=", warm-up $(field "$P_OUT" warmup_s) s, graphs $(field "$P_OUT" graphs) ($(field "$P_OUT" graphs_in_timed) while timed), graph breaks $(field "$P_OUT" graph_breaks)"
  echo "  $mode: tok/s $(field "$P_OUT" tok_s) (windows $(field "$P_OUT" windows)), loss $(field "$P_OUT" loss), $(field "$P_OUT" params) parameters, $(field "$P_OUT" examples) examples, $(field "$P_OUT" batches_per_epoch) batches/epoch, Adam $(field "$P_OUT" adam), GPU memory used max $P_MEM MiB$extra"
}

has() { case " $IMPLS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
ROWS=()
echo "== throughput: max_tokens $MAX_TOKENS, $WARMUP_WINDOWS x $WINDOW updates warm-up, $WINDOWS timed windows of $WINDOW updates, bf16, Fathom activation_checkpointing $CHECKPOINTING"
for name in $MODELS; do
  model_dims "$name"
  echo "$name: ${ENC}L-${DEC}L d $D, $H heads, FFN $FFN, dropout $DROP, init $INIT"
  F_TPS='' E_OUT=/dev/null C_OUT=/dev/null
  has fathom && run_fathom "$name"
  if has eager; then run_python "$name" eager; E_OUT=$P_OUT; fi
  if has compile; then run_python "$name" compile; C_OUT=$P_OUT; fi
  # Both PyTorch runs see the same batches, so either gives FLOPs per token and the peak.
  ref=$E_OUT; [ -n "$(field "$ref" flop_per_token)" ] || ref=$C_OUT
  fpt=$(field "$ref" flop_per_token) peak=$(field "$ref" peak_tflops)
  check=""
  if [ -n "$F_TPS" ] && [ -n "$fpt" ]; then
    if [ "$F_PARAMS/$F_EXAMPLES/$F_BATCHES" = "$(field "$ref" params)/$(field "$ref" examples)/$(field "$ref" batches_per_epoch)" ]; then
      echo "  check: parameters, examples and batches per epoch agree between Fathom and PyTorch"
    else
      check=" MISMATCH"
      echo "  check: MISMATCH Fathom $F_PARAMS/$F_EXAMPLES/$F_BATCHES vs PyTorch $(field "$ref" params)/$(field "$ref" examples)/$(field "$ref" batches_per_epoch) (parameters/examples/batches)"
    fi
  fi
  e_tps=$(field "$E_OUT" tok_s) c_tps=$(field "$C_OUT" tok_s)
  row=$(printf '| %s%s | %s | %s | %s | %s | %s | %s | %s | %s |' "$name" "$check" "${F_TPS:-n/a}" "${e_tps:-n/a}" "${c_tps:-n/a}" \
    "$(ratio "$F_TPS" "$e_tps")" "$(ratio "$F_TPS" "$c_tps")" \
    "$(percent "$F_TPS" "$fpt" "$peak")" "$(percent "$e_tps" "$fpt" "$peak")" "$(percent "$c_tps" "$fpt" "$peak")")
  ROWS+=("$row")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$name" "$MAX_TOKENS" "${F_TPS:-}" "${e_tps:-}" "${c_tps:-}" "$fpt" "$peak" >> "$WORK/results.tsv"
done
if [ ${#ROWS[@]} -gt 0 ]; then
  echo
  echo "| model | Fathom tok/s | eager tok/s | compile tok/s | Fathom/eager | Fathom/compile | MFU Fathom | MFU eager | MFU compile |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo "targets: Fathom/eager >= 1.5x, Fathom/compile >= 1.0x, MFU >= 50% (compile = torch.compile, scope $COMPILE_SCOPE)"
fi

# fathom_fits TOKENS: 0 when 60L-12L trains one epoch at max_tokens TOKENS, 3 when it runs out
# of GPU memory, 1 on any other failure.
fathom_fits() {
  local t=$1 run=$WORK/run-max-batch log=$WORK/max-batch-fathom-$1.log rc=0
  write_config admin60 "$t" "$run" "max_epochs: 1" 10 > "$WORK/max-batch-$t.pbtxt"
  rm -rf "$run"
  gpu_mem_start "$WORK/max-batch-fathom-$t.mem"
  "$FATHOM" train --config "$WORK/max-batch-$t.pbtxt" 2> "$log" || rc=$?
  gpu_mem_stop "$WORK/max-batch-fathom-$t.mem"
  rm -rf "$run"
  if [ "$rc" = 0 ]; then
    echo "  fathom max_tokens $t: fits ($(sed -nE 's/.* ([0-9]+) batches per epoch.*/\1/p' "$log" | head -1) updates, GPU memory used max $MEM MiB)"
    return 0
  fi
  if grep -qiE 'out of memory|CUBLAS_STATUS_ALLOC_FAILED' "$log"; then
    echo "  fathom max_tokens $t: out of memory"
    return 3
  fi
  echo "  fathom max_tokens $t: FAILED (exit $rc; log $log):"; tail -5 "$log" | sed 's/^/    /'
  return 1
}

fathom_max_batch() {
  local lo=0 hi=0 m=$MAX_TOKENS rc cap=$((1 << 20))
  rc=0; fathom_fits "$m" || rc=$?
  [ "$rc" = 1 ] && return 0
  if [ "$rc" = 0 ]; then
    lo=$m
    while [ $((m * 2)) -le "$cap" ]; do
      m=$((m * 2)); rc=0; fathom_fits "$m" || rc=$?
      [ "$rc" = 1 ] && return 0
      if [ "$rc" = 3 ]; then hi=$m; break; fi
      lo=$m
    done
  else
    hi=$m
    while [ $((m / 2)) -ge 256 ]; do
      m=$((m / 2)); rc=0; fathom_fits "$m" || rc=$?
      [ "$rc" = 1 ] && return 0
      if [ "$rc" = 0 ]; then lo=$m; break; fi
      hi=$m
    done
  fi
  while [ "$lo" -gt 0 ] && [ "$hi" -gt 0 ] && [ $((hi - lo)) -gt "$RESOLUTION" ]; do
    m=$(((lo + hi) / 2 / 256 * 256))
    { [ "$m" -le "$lo" ] || [ "$m" -ge "$hi" ]; } && break
    rc=0; fathom_fits "$m" || rc=$?
    [ "$rc" = 1 ] && return 0
    if [ "$rc" = 0 ]; then lo=$m; else hi=$m; fi
  done
  echo "max_batch name=admin60 impl=fathom activation_checkpointing=$CHECKPOINTING largest_fitting=$lo first_oom=$([ "$hi" -gt 0 ] && echo "$hi" || echo none) cap=$cap resolution=$RESOLUTION"
}

if [ "$MAX_BATCH" = 1 ]; then
  echo
  echo "== largest max_tokens for Admin 60L-12L (one epoch without running out of memory; from $MAX_TOKENS, resolution $RESOLUTION; Fathom activation_checkpointing $CHECKPOINTING)"
  model_dims admin60
  for impl in $MAX_BATCH_IMPLS; do
    case "$impl" in
      fathom) fathom_max_batch ;;
      eager | compile)
        # shellcheck disable=SC2046
        "$PYTHON" "$ROOT/bench/train_gpu.py" --prepared "$PREPARED" --vocab "$VOCAB" --name admin60 $(py_model_args) \
          --max_tokens "$MAX_TOKENS" --mode "$impl" --compile_scope "$COMPILE_SCOPE" --max_batch \
          --resolution "$RESOLUTION" 2> "$WORK/max-batch-$impl.log" | tee "$WORK/max-batch-$impl.out" ||
          { echo "  $impl: FAILED (log $WORK/max-batch-$impl.log)"; tail -5 "$WORK/max-batch-$impl.log" | sed 's/^/    /'; }
        grep -hE '^train_gpu: (probe|max_tokens)' "$WORK/max-batch-$impl.log" | sed 's/^/  /' || true
        ;;
      *) die "unknown --max_batch_impls entry $impl" ;;
    esac
  done
fi
echo "logs and configs in $WORK"
