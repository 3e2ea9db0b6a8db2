#!/usr/bin/env bash
# bench/train_gpu: training tokens/s and MFU on one CUDA GPU, bf16, of Fathom (`fathom train`)
# against the same model, batches and update in PyTorch (bench/train_gpu.py), eager and under
# torch.compile, in one run on one GPU: Transformer-base, Transformer-big and Admin 60L-12L
# (d 512) at data.batch.max_tokens 16384 (padding included, per side, as fairseq's
# --max-tokens), on the WMT news test sets 2008-2020 de-en of ../shared/data (newstest2014 left
# out) with a joint 32k SentencePiece vocabulary. Builds nothing: FATHOM is a fathom binary built
# against a CUDA LibTorch (default build-cuda/launch/fathom). bench/README.md has the method.
#
# Fair by default: every implementation trains the same batches in the same order (Fathom's
# batcher, seed 1); WARMUP_WINDOWS windows untimed (torch.compile's compilation, CUDA graph
# capture and the allocator's growth among them), then WINDOWS timed windows of WINDOW updates
# (defaults 1, 3, 50); tok/s counts real source + target tokens (EOS, BOS included) and is the
# median window, printed with the min, max and relative spread (max - min) / median. MFU = tok/s x
# model FLOPs per token / bf16 dense peak (models/flops.h; train_gpu.py train_flops).
#
#   bench/train_gpu.sh [FATHOM] [--models "base big admin60"] [--impls "fathom eager compile"]
#       [--max_tokens 16384] [--window 50] [--windows 3] [--warmup_windows 1] [--vocab 32000]
#       [--equivalence] [--ablations] [--best_batch] [--max_batch] [--no_throughput]
#       [--compile_scope auto|model|layers] [--admin_init ADMIN_CONSTANT|ADMIN] [--peak_tflops X]
#       [--activation_checkpointing] [--work DIR] [--out DIR] [--reuse]
#       [--equiv_model base] [--equiv_steps 200] [--equiv_lr_warmup 4000] [--equiv_log_every 10]
#       [--rtol R] [--rtol_first R] [--best_cap 131072] [--best_bisect 1] [--ablation_variants "..."]
#       [--max_batch_impls "fathom eager"] [--resolution 2048]
#       [--device cuda|cpu] [--corpus PREFIX] [--compile_backend inductor] [--loader_workers 2]
#   bench/train_gpu.sh [FATHOM] --print_linkage
#
# --equivalence (run first: correctness first) trains EQUIV_MODEL (default base) for EQUIV_STEPS
# (200) updates without dropout from the same initial weights four ways and compares the loss of
# every update (or of every EQUIV_LOG_EVERY updates for the sync-free run) with the unoptimised
# path's: Fathom optimised (its defaults, a read every update), Fathom optimised and sync-free
# (reads every EQUIV_LOG_EVERY), and PyTorch eager started from Fathom's initial weights (a
# one-update run at learning rate 0 writes them). PASS/FAIL against a bf16 tolerance (--rtol,
# default 2^-7 of the loss; bench/README.md says why). Written to OUT/equivalence.md.
# --ablations runs Fathom once more per model with each optimisation off (a config override
# each: distributed.fused_kernels false, model.token_layout PACKED, data.batch.prefetch 0,
# eval.log_every_steps 1, and all four at once; --ablation_variants names a subset).
# --best_batch: for each model and implementation, max_tokens doubled from --max_tokens until a run
# runs out of memory (or --best_cap), then --best_bisect bisections; reports the largest that
# trains the run's updates and the fastest.
# --max_batch also searches the largest max_tokens with which 60L-12L trains one epoch without
# running out of memory (doubling from --max_tokens, then bisecting to --resolution), for each
# of --max_batch_impls. --models "" (or --no_throughput) runs only the searches asked for.
# --activation_checkpointing sets model.activation_checkpointing in every Fathom config (and
# torch.utils.checkpoint per layer on the PyTorch side); its runs are labelled so. admin100, Admin
# 100L-100L (d 512), always checkpoints: it needs it to train at 16k tokens on one GPU.
#
# Results: one `result key=value ...` line per run appended to OUT/results.txt, and after every run
# the tables (train_gpu.py --table) rewritten to OUT/table.md, so that a run cut short still leaves
# its figures; logs and configs in OUT/logs. WORK (default $TMPDIR/fathom-bench-train-gpu) holds
# the corpus, the prepared data and the run directories; OUT defaults to WORK. --reuse takes a
# run's result from OUT/results.txt instead of running it again when one with the same model,
# implementation, variant, max_tokens and windows is there (bench/gpu_check.sh, whose stages share
# an OUT).
#
# --device cpu (tests without a GPU: tests/bench_train_gpu_test.sh) trains on the CPU in float32,
# with --corpus PREFIX (PREFIX.de, PREFIX.en) instead of the news sets, and --models may name
# tiny (Admin 2L-2L, d 64). FATHOM may be a wrapper script that sets LD_LIBRARY_PATH and execs the
# binary (as bench/gpu_check.sh makes); its CUDA libraries are then not listed. --print_linkage
# prints only what the environment section says about FATHOM's libraries, and needs no GPU or data.
set -euo pipefail
ulimit -c 0  # an out-of-memory abort must not dump the core of a GPU process

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FATHOM=${FATHOM_BINARY:-$ROOT/build-cuda/launch/fathom}
PYTHON=${PYTHON:-python3}
WORK=${TMPDIR:-/tmp}/fathom-bench-train-gpu OUT=
MODELS="base big admin60" IMPLS="fathom eager compile"
MAX_TOKENS=16384 WINDOW=50 WINDOWS=3 WARMUP_WINDOWS=1 VOCAB=32000
COMPILE_SCOPE=auto COMPILE_BACKEND=inductor LOADER_WORKERS=2 ADMIN_INIT=ADMIN_CONSTANT PEAK=0
THROUGHPUT=1 EQUIVALENCE=0 ABLATIONS=0 BEST_BATCH=0 MAX_BATCH=0 REUSE=0 PRINT_LINKAGE=0
EQUIV_MODEL=base EQUIV_STEPS=200 EQUIV_LR_WARMUP=4000 EQUIV_LOG_EVERY=10 RTOL='' RTOL_FIRST=''
BEST_CAP=131072 BEST_BISECT=1 MAX_BATCH_IMPLS="fathom eager" RESOLUTION=2048
ABLATION_VARIANTS="fused_kernels=false token_layout=PACKED prefetch=0 log_every_steps=1 unoptimised"
CHECKPOINTING=false DEVICE=cuda CORPUS_GIVEN=''
usage() { sed -n '/^#   bench\/train_gpu.sh \[FATHOM\] \[--models/,/--print_linkage$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then FATHOM=$1; shift; fi
while [ $# -gt 0 ]; do
  case "$1" in
    --max_batch) MAX_BATCH=1; shift; continue ;;
    --best_batch) BEST_BATCH=1; shift; continue ;;
    --ablations) ABLATIONS=1; shift; continue ;;
    --equivalence) EQUIVALENCE=1; shift; continue ;;
    --no_throughput) THROUGHPUT=0; shift; continue ;;
    --reuse) REUSE=1; shift; continue ;;
    --print_linkage) PRINT_LINKAGE=1; shift; continue ;;
    --activation_checkpointing) CHECKPOINTING=true; shift; continue ;;
    -h | --help) usage ;;
  esac
  [ $# -ge 2 ] || usage
  case "$1" in
    --models) MODELS=$2 ;;
    --impls) IMPLS=$2 ;;
    --max_tokens) MAX_TOKENS=$2 ;;
    --window) WINDOW=$2 ;;
    --windows) WINDOWS=$2 ;;
    --warmup_windows) WARMUP_WINDOWS=$2 ;;
    --vocab) VOCAB=$2 ;;
    --compile_scope) COMPILE_SCOPE=$2 ;;
    --compile_backend) COMPILE_BACKEND=$2 ;;
    --loader_workers) LOADER_WORKERS=$2 ;;
    --admin_init) ADMIN_INIT=$2 ;;
    --peak_tflops) PEAK=$2 ;;
    --equiv_model) EQUIV_MODEL=$2 ;;
    --equiv_steps) EQUIV_STEPS=$2 ;;
    --equiv_lr_warmup) EQUIV_LR_WARMUP=$2 ;;
    --equiv_log_every) EQUIV_LOG_EVERY=$2 ;;
    --rtol) RTOL=$2 ;;
    --rtol_first) RTOL_FIRST=$2 ;;
    --best_cap) BEST_CAP=$2 ;;
    --best_bisect) BEST_BISECT=$2 ;;
    --ablation_variants) ABLATION_VARIANTS=$2 ;;
    --max_batch_impls) MAX_BATCH_IMPLS=$2 ;;
    --resolution) RESOLUTION=$2 ;;
    --work) WORK=$2 ;;
    --out) OUT=$2 ;;
    --device) DEVICE=$2 ;;
    --corpus) CORPUS_GIVEN=$2 ;;
    *) usage ;;
  esac
  shift 2
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
for n in "$MAX_TOKENS" "$WINDOW" "$WINDOWS" "$EQUIV_STEPS" "$EQUIV_LOG_EVERY" "$BEST_CAP"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive whole number"
done
[[ "$WARMUP_WINDOWS" =~ ^[0-9]+$ ]] || die "--warmup_windows $WARMUP_WINDOWS: not a whole number"
[ $((EQUIV_STEPS % EQUIV_LOG_EVERY)) = 0 ] || die "--equiv_log_every must divide --equiv_steps"
# On the CPU (checking the scripts, not measuring) one thread a side: on a shared machine more
# only spin in OpenMP's barriers (a tiny run takes 3 times as long with 2).
DEVICE_EXTRA=''
case "$DEVICE" in
  cuda) PRECISION=BF16 ;;
  cpu) PRECISION=FP32 DEVICE_EXTRA=' threads: 1'; export OMP_NUM_THREADS=1 ;;
  *) die "--device $DEVICE: cuda or cpu" ;;
esac
"$PYTHON" -c 'import numpy' 2>/dev/null || die "$PYTHON cannot import numpy (set PYTHON=...)"
GPU_NAME=
if [ "$DEVICE" = cuda ]; then
  command -v nvidia-smi >/dev/null || die "nvidia-smi missing: no NVIDIA driver here (--device cpu runs on the CPU)"
  "$PYTHON" -c 'import torch, numpy; assert torch.cuda.is_available()' 2>/dev/null ||
    die "$PYTHON cannot import torch and numpy with CUDA available (set PYTHON=...)"
  GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
fi
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
OUT=${OUT:-$WORK}
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
LOGS=$OUT/logs RESULTS=$OUT/results.txt TABLE=$OUT/table.md
touch "$RESULTS"

echo "== environment"
date -u '+%Y-%m-%d %H:%M UTC'
if [ "$DEVICE" = cuda ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv,noheader || true
  "$PYTHON" "$ROOT/bench/train_gpu.py" --print_env
else
  echo "device cpu (float32; figures for checking the scripts, not for comparing)"
fi
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no git")
[ "$commit" = "no git" ] || git -C "$ROOT" diff --quiet HEAD 2>/dev/null || commit="$commit + uncommitted changes"
echo "fathom $FATHOM (commit $commit), linked against:"
print_linkage "$FATHOM"
echo "$(nproc) cores; work $WORK; results $OUT"

# Corpus: the WMT news test sets, line-aligned (awk 1 ends every file with a newline), or --corpus.
if [ -n "$CORPUS_GIVEN" ]; then
  { [ -s "$CORPUS_GIVEN.de" ] && [ -s "$CORPUS_GIVEN.en" ]; } || die "--corpus $CORPUS_GIVEN: no $CORPUS_GIVEN.de and .en"
  CORPUS=$CORPUS_GIVEN
  PREPARED=$WORK/prepared-$(basename "$CORPUS")-v$VOCAB
  CORPUS_TEXT="$CORPUS.de/.en"
else
  DATA=
  for candidate in "${FATHOM_SHARED_DATA:-}" "$ROOT/../shared/data" "$ROOT/shared/data"; do
    if [ -n "$candidate" ] && [ -d "$candidate/translation/news-de-en" ]; then DATA=$candidate; break; fi
  done
  [ -n "$DATA" ] || die "no translation/news-de-en under \$FATHOM_SHARED_DATA, $ROOT/../shared/data or $ROOT/shared/data"
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
  CORPUS_TEXT="WMT news test sets 2008-2020 de-en, newstest2014 left out"
fi

# Dimensions: Vaswani et al. base and big (Post-LN; big with dropout 0.3 as for en-de), and
# Liu et al.'s Admin 60L-12L and 100L-100L. ADMIN_CONSTANT by default: the same residuals and step
# as ADMIN, with the omegas the PyTorch side uses (ADMIN only adds a profiling pass before
# training). tiny is for tests on the CPU.
model_dims() {
  CKPT=$CHECKPOINTING
  case "$1" in
    base) ENC=6 DEC=6 D=512 H=8 FFN=2048 DROP=0.1 INIT=POST_LN NORM=post_ln ;;
    big) ENC=6 DEC=6 D=1024 H=16 FFN=4096 DROP=0.3 INIT=POST_LN NORM=post_ln ;;
    admin60) ENC=60 DEC=12 D=512 H=8 FFN=2048 DROP=0.1 INIT=$ADMIN_INIT NORM=admin ;;
    admin100) ENC=100 DEC=100 D=512 H=8 FFN=2048 DROP=0.1 INIT=$ADMIN_INIT NORM=admin CKPT=true ;;
    tiny) ENC=2 DEC=2 D=64 H=4 FFN=128 DROP=0.1 INIT=$ADMIN_INIT NORM=admin ;;
    *) die "unknown model $1 (base, big, admin60, admin100, tiny)" ;;
  esac
}

# Each Fathom optimisation and the config text that turns it off (the ablations): an override
# each, so a config says only what differs from Fathom's defaults (all on; the log's resolved
# config shows every value). eval.log_every_steps is the LOG_EVERY argument of write_config.
BATCH_EXTRA='' MODEL_EXTRA='' DIST_EXTRA='' VARIANT_LOG_EVERY=''
variant_settings() {
  BATCH_EXTRA='' MODEL_EXTRA='' DIST_EXTRA='' VARIANT_LOG_EVERY=''
  case "$1" in
    default | best_batch | activation_checkpointing) ;;
    fused_kernels=false) DIST_EXTRA=' fused_kernels: false' ;;
    token_layout=PACKED) MODEL_EXTRA=' token_layout: PACKED' ;;
    prefetch=0) BATCH_EXTRA=' prefetch: 0' ;;
    log_every_steps=1) VARIANT_LOG_EVERY=1 ;;
    unoptimised)
      DIST_EXTRA=' fused_kernels: false' MODEL_EXTRA=' token_layout: PACKED' BATCH_EXTRA=' prefetch: 0'
      VARIANT_LOG_EVERY=1 ;;
    *) die "unknown variant $1" ;;
  esac
}

# write_config MODEL MAX_TOKENS RUN_DIR "STOP" LOG_EVERY ["SCHEDULE"]: a Fathom config; model_dims
# and variant_settings first. SCHEDULE defaults to the benchmark's warm-up of 4000 updates.
write_config() {
  cat <<CFG
run_dir: "$3"
seed: 1
data {
  split { name: "train" source: "$CORPUS.de" target: "$CORPUS.en" }
  prepared_dir: "$PREPARED"
  sentencepiece { joint: true vocab_size: $VOCAB }
  batch { max_tokens: $2$BATCH_EXTRA }
}
model { encoder_layers: $ENC decoder_layers: $DEC d_model: $D heads: $H ffn_dim: $FFN dropout: $DROP embedding_sharing: TIE_ALL activation_checkpointing: $CKPT$MODEL_EXTRA }
init { method: $INIT }
optim { optimizer: ADAM lr: 7e-4 beta1: 0.9 beta2: 0.98 ${6:-warmup_steps: 4000} label_smoothing: 0.1 $4 }
eval { log_every_steps: $5 valid_every_steps: 1000000000 }
checkpoint { save_every_steps: 1000000000 keep_last: 1 keep_best: 0 }
distributed { device: "$DEVICE" precision: $PRECISION$DEVICE_EXTRA$DIST_EXTRA }
CFG
}

if [ ! -f "$PREPARED/train.header" ]; then
  model_dims base
  variant_settings default
  write_config base "$MAX_TOKENS" "$WORK/run-prepare" "max_steps: 1" 1 > "$LOGS/prepare.pbtxt"
  "$FATHOM" prepare --config "$LOGS/prepare.pbtxt" 2> "$LOGS/prepare.log" ||
    { tail -5 "$LOGS/prepare.log" >&2; die "fathom prepare failed (log: $LOGS/prepare.log)"; }
fi
echo "corpus $(wc -l < "$CORPUS.de") pairs ($CORPUS_TEXT); joint vocab $VOCAB; prepared $PREPARED"

# GPU memory in use (nvidia-smi, MiB, every 200 ms) while a run lasts: its maximum in MEM.
MEM_PID=
gpu_mem_start() {
  MEM_PID=
  [ "$DEVICE" = cuda ] || return 0
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$1" 2>/dev/null & MEM_PID=$!
}
gpu_mem_stop() {
  MEM=
  [ -n "$MEM_PID" ] || return 0
  kill "$MEM_PID" 2>/dev/null || true
  wait "$MEM_PID" 2>/dev/null || true
  MEM=$(sort -n "$1" | tail -1)
}
# field LINE KEY: KEY's value in a `result` line.
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | tail -1; }
py_model_args() {
  echo "--encoder_layers $ENC --decoder_layers $DEC --d_model $D --heads $H --ffn $FFN --dropout $DROP --norm $NORM"
  [ "$CKPT" = true ] && echo "--activation_checkpointing"
  return 0
}
WINDOW_ARGS=(--warmup_steps $((WARMUP_WINDOWS * WINDOW)) --window_steps "$WINDOW" --windows "$WINDOWS")
# find_result NAME IMPL VARIANT MAX_TOKENS: the last result line of that run with these windows.
find_result() {
  awk -v n="$1" -v im="$2" -v v="$3" -v m="$4" -v w="$WINDOW" -v k="$WINDOWS" -v u="$((WARMUP_WINDOWS * WINDOW))" '
    $1 == "result" {
      split("", f)
      for (i = 2; i <= NF; i++) { j = index($i, "="); f[substr($i, 1, j - 1)] = substr($i, j + 1) }
      if (f["name"] == n && f["impl"] == im && f["variant"] == v && f["max_tokens"] == m &&
          f["window_steps"] == w && f["timed_windows"] == k && f["warmup_steps"] == u) line = $0
    }
    END { if (line != "") print line }' "$RESULTS"
}
# record LINE: appends a result line and rewrites the tables.
record() {
  echo "$1" >> "$RESULTS"
  "$PYTHON" "$ROOT/bench/train_gpu.py" --table "$RESULTS" > "$TABLE.partial" 2> "$LOGS/table.err" &&
    mv "$TABLE.partial" "$TABLE" || echo "  (the tables could not be written: $LOGS/table.err)"
}
failure_line() {
  echo "result name=$1 impl=$2 variant=$3 max_tokens=$4 window_steps=$WINDOW timed_windows=$WINDOWS warmup_steps=$((WARMUP_WINDOWS * WINDOW)) status=$5 log=$6"
}
mem_text() {
  local peak nvsmi
  peak=$(field "$1" peak_gib) nvsmi=$(field "$1" nvsmi_mib)
  [ -n "$peak" ] || peak=$(field "$1" max_alloc_gib)
  [ "${peak:-n/a}" = n/a ] || printf ', peak allocated %s GiB' "$peak"
  [ -z "$nvsmi" ] || printf ', GPU memory used max %s MiB (nvidia-smi)' "$nvsmi"
}
describe() {
  local r=$1
  case "$(field "$r" status)" in
    ok) echo "tok/s $(field "$r" tok_s) [$(field "$r" tok_s_min)-$(field "$r" tok_s_max), spread $(field "$r" spread)], windows $(field "$r" windows), MFU $(field "$r" mfu), loss $(field "$r" loss), $(field "$r" params) parameters, $(field "$r" batches_per_epoch) batches/epoch$(mem_text "$r")${2:-}" ;;
    *) echo "$(field "$r" status | tr '[:lower:]' '[:upper:]') (log $(field "$r" log))" ;;
  esac
}

# run_impl NAME IMPL VARIANT MAX_TOKENS: one throughput run of MODEL by IMPL (fathom, eager,
# compile); its result line is recorded (or found, with --reuse) and left in RESULT, its status in
# STATUS (ok, oom, failed).
run_impl() {
  local name=$1 impl=$2 variant=$3 tokens=$4 tag="$1-$2-$3-$4" rc=0 line extra=""
  tag=${tag//=/-}
  RESULT='' STATUS=''
  if [ "$REUSE" = 1 ]; then
    RESULT=$(find_result "$name" "$impl" "$variant" "$tokens")
    if [ -n "$RESULT" ]; then
      STATUS=$(field "$RESULT" status)
      echo "  $impl $variant max_tokens $tokens: $(describe "$RESULT") (reused from $RESULTS)"
      return 0
    fi
  fi
  model_dims "$name"
  variant_settings "$variant"
  [ "$variant" = activation_checkpointing ] && CKPT=true
  local log=$LOGS/$tag.log
  if [ "$impl" = fathom ]; then
    local run=$WORK/run-$tag cfg=$LOGS/$tag.pbtxt every=${VARIANT_LOG_EVERY:-$WINDOW}
    write_config "$name" "$tokens" "$run" "max_steps: $(((WARMUP_WINDOWS + WINDOWS) * WINDOW))" "$every" > "$cfg"
    rm -rf "$run"
    gpu_mem_start "$LOGS/$tag.mem"
    "$FATHOM" train --config "$cfg" 2> "$log" || rc=$?
    gpu_mem_stop "$LOGS/$tag.mem"
    rm -rf "$run"  # gigabytes of checkpoint for 60L-12L; the log stays
    if [ "$rc" != 0 ]; then
      if grep -qiE 'out of memory|CUBLAS_STATUS_ALLOC_FAILED' "$log"; then STATUS=oom; else STATUS=failed; fi
      line=$(failure_line "$name" "$impl" "$variant" "$tokens" "$STATUS" "$log")
    else
      # shellcheck disable=SC2046
      line=$("$PYTHON" "$ROOT/bench/train_gpu.py" --prepared "$PREPARED" --vocab "$VOCAB" --name "$name" \
        --variant "$variant" $(py_model_args) --max_tokens "$tokens" "${WINDOW_ARGS[@]}" --fathom_log "$log" \
        --log_every "$every" --device_name "$GPU_NAME" --peak_tflops "$PEAK" 2>> "$LOGS/$tag.summary.err" |
        grep '^result ' | tail -1) || true
      [ -n "$line" ] || line=$(failure_line "$name" "$impl" "$variant" "$tokens" failed "$LOGS/$tag.summary.err")
    fi
  else
    local out=$LOGS/$tag.out
    gpu_mem_start "$LOGS/$tag.mem"
    # shellcheck disable=SC2046
    "$PYTHON" "$ROOT/bench/train_gpu.py" --prepared "$PREPARED" --vocab "$VOCAB" --name "$name" --variant "$variant" \
      $(py_model_args) --max_tokens "$tokens" --mode "$impl" --compile_scope "$COMPILE_SCOPE" \
      --compile_backend "$COMPILE_BACKEND" --loader_workers "$LOADER_WORKERS" --device "$DEVICE" \
      "${WINDOW_ARGS[@]}" --peak_tflops "$PEAK" > "$out" 2> "$log" || rc=$?
    gpu_mem_stop "$LOGS/$tag.mem"
    line=$(grep '^result ' "$out" | tail -1 || true)
    if [ "$rc" = 3 ] || { [ "$rc" != 0 ] && grep -qiE 'out of memory|CUBLAS_STATUS_ALLOC_FAILED' "$log"; }; then
      line=$(failure_line "$name" "$impl" "$variant" "$tokens" oom "$log")
    elif [ "$rc" != 0 ] || [ -z "$line" ]; then
      line=$(failure_line "$name" "$impl" "$variant" "$tokens" failed "$log")
    fi
    [ "$impl" = compile ] && [ "$(field "$line" status)" = ok ] &&
      extra=", compile scope $(field "$line" compile_scope), warm-up $(field "$line" warmup_s) s, graphs $(field "$line" graphs) ($(field "$line" graphs_in_timed) while timed), graph breaks $(field "$line" graph_breaks)"
  fi
  [ -n "$MEM" ] && line="$line nvsmi_mib=$MEM"
  RESULT=$line STATUS=$(field "$line" status)
  record "$line"
  echo "  $impl $variant max_tokens $tokens: $(describe "$line" "$extra")"
  if [ "$STATUS" = failed ]; then tail -5 "$log" | sed 's/^/    /'; fi
  [ "$(field "$line" check)" = MISMATCH ] &&
    echo "  check: MISMATCH between Fathom's parameters/examples/batches per epoch and the PyTorch side's plan ($LOGS/$tag.summary.err)"
  return 0
}

has() { case " $IMPLS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------------------------------------
# Correctness first: the loss curves of the optimised paths against the unoptimised one.
equivalence() {
  local name=$EQUIV_MODEL steps=$EQUIV_STEPS dir=$WORK/equivalence rc files=() labels=() ckpt
  local schedule="warmup_steps: $EQUIV_LR_WARMUP"
  mkdir -p "$dir"
  model_dims "$name"
  DROP=0  # the same on every side: dropout masks are drawn differently by Fathom and PyTorch
  echo
  echo "== equivalence: $name (${ENC}L-${DEC}L d $D) at max_tokens $MAX_TOKENS, $steps updates, dropout 0, lr warm-up $EQUIV_LR_WARMUP, from the same initial weights"
  # The initial weights: one update at learning rate 0 (LINEAR_DECAY without warm-up reaches 0 at
  # max_steps 1) leaves every parameter as initialised, and its checkpoint holds them.
  variant_settings unoptimised
  write_config "$name" "$MAX_TOKENS" "$dir/run-init" "max_steps: 1" 1 "schedule: LINEAR_DECAY warmup_steps: 0" > "$LOGS/equiv-init.pbtxt"
  rm -rf "$dir/run-init"
  rc=0; "$FATHOM" train --config "$LOGS/equiv-init.pbtxt" 2> "$LOGS/equiv-init.log" || rc=$?
  ckpt=$dir/run-init
  { [ "$rc" = 0 ] && [ -f "$ckpt/checkpoints/LATEST" ]; } || { echo "  initial weights: FAILED (exit $rc; $LOGS/equiv-init.log)"; ckpt=; }
  # equiv_run LABEL VARIANT LOG_EVERY
  equiv_run() {
    variant_settings "$2"
    write_config "$name" "$MAX_TOKENS" "$dir/run-$1" "max_steps: $steps" "$3" "$schedule" > "$LOGS/equiv-$1.pbtxt"
    rm -rf "$dir/run-$1"
    local rc=0
    "$FATHOM" train --config "$LOGS/equiv-$1.pbtxt" 2> "$LOGS/equiv-$1.log" || rc=$?
    rm -rf "$dir/run-$1"
    echo "  fathom $1 ($2, log every $3): exit $rc, log $LOGS/equiv-$1.log"
    files+=("$LOGS/equiv-$1.log") labels+=("fathom $1")
  }
  equiv_run unoptimised unoptimised 1
  equiv_run optimised default 1
  equiv_run sync-free default "$EQUIV_LOG_EVERY"
  if [ -n "$ckpt" ]; then
    rc=0
    # shellcheck disable=SC2046
    "$PYTHON" "$ROOT/bench/train_gpu.py" --prepared "$PREPARED" --vocab "$VOCAB" --name "$name" --variant equivalence \
      $(py_model_args) --max_tokens "$MAX_TOKENS" --mode eager --device "$DEVICE" --loader_workers "$LOADER_WORKERS" \
      --warmup_steps 0 --window_steps "$steps" --windows 1 --lr_warmup "$EQUIV_LR_WARMUP" --init_from "$ckpt" \
      --loss_file "$LOGS/equiv-eager.loss" > "$LOGS/equiv-eager.out" 2> "$LOGS/equiv-eager.log" || rc=$?
    echo "  PyTorch eager from Fathom's initial weights: exit $rc, log $LOGS/equiv-eager.log"
    files+=("$LOGS/equiv-eager.loss") labels+=("PyTorch eager")
  else
    echo "  PyTorch eager: not run (no initial weights)"
  fi
  rm -rf "$dir/run-init"
  local tol=()
  [ -n "$RTOL" ] && tol+=(--rtol "$RTOL")
  [ -n "$RTOL_FIRST" ] && tol+=(--rtol_first "$RTOL_FIRST")
  rc=0
  "$PYTHON" "$ROOT/bench/train_gpu.py" --compare "${files[@]}" --labels "$(IFS=,; echo "${labels[*]}")" "${tol[@]}" \
    > "$OUT/equivalence.md" 2> "$LOGS/equiv-compare.err" || rc=$?
  cat "$OUT/equivalence.md"
  [ -s "$OUT/equivalence.md" ] || { cat "$LOGS/equiv-compare.err"; echo "equivalence FAIL: the comparison did not run"; }
  EQUIV_RC=$rc
}

EQUIV_RC=0
[ "$EQUIVALENCE" = 1 ] && equivalence

# ---------------------------------------------------------------------------------------------
if [ "$THROUGHPUT" = 1 ] && [ -n "$MODELS" ]; then
  echo
  echo "== throughput: max_tokens $MAX_TOKENS, $WARMUP_WINDOWS x $WINDOW updates warm-up, $WINDOWS timed windows of $WINDOW updates, $PRECISION on $DEVICE, activation_checkpointing $CHECKPOINTING"
  variant=default
  [ "$CHECKPOINTING" = true ] && variant=activation_checkpointing
  for name in $MODELS; do
    model_dims "$name"
    echo "$name: ${ENC}L-${DEC}L d $D, $H heads, FFN $FFN, dropout $DROP, init $INIT, activation_checkpointing $CKPT"
    for impl in fathom eager compile; do
      has "$impl" && run_impl "$name" "$impl" "$variant" "$MAX_TOKENS"
    done
  done
fi

if [ "$ABLATIONS" = 1 ] && [ -n "$MODELS" ]; then
  echo
  echo "== ablations: Fathom with one optimisation off at a time, max_tokens $MAX_TOKENS"
  for name in $MODELS; do
    echo "$name:"
    for variant in default $ABLATION_VARIANTS; do
      run_impl "$name" fathom "$variant" "$MAX_TOKENS"
    done
  done
fi

if [ "$BEST_BATCH" = 1 ] && [ -n "$MODELS" ]; then
  echo
  echo "== best batch: max_tokens doubled from $MAX_TOKENS to at most $BEST_CAP, then $BEST_BISECT bisections, for each of: $IMPLS"
  for name in $MODELS; do
    for impl in $IMPLS; do
      echo "$name $impl:"
      lo=0 hi=0 m=$MAX_TOKENS
      run_impl "$name" "$impl" default "$m"
      while [ "$STATUS" = ok ]; do
        lo=$m
        [ $((m * 2)) -le "$BEST_CAP" ] || break
        m=$((m * 2))
        run_impl "$name" "$impl" best_batch "$m"
      done
      [ "$STATUS" = oom ] && hi=$m
      for _ in $(seq 1 "$BEST_BISECT"); do
        { [ "$lo" -gt 0 ] && [ "$hi" -gt 0 ]; } || break
        m=$(((lo + hi) / 2 / 1024 * 1024))
        { [ "$m" -gt "$lo" ] && [ "$m" -lt "$hi" ]; } || break
        run_impl "$name" "$impl" best_batch "$m"
        case "$STATUS" in ok) lo=$m ;; oom) hi=$m ;; *) break ;; esac
      done
    done
  done
fi

# fathom_fits TOKENS: 0 when 60L-12L trains one epoch at max_tokens TOKENS, 3 when it runs out
# of GPU memory, 1 on any other failure.
fathom_fits() {
  local t=$1 run=$WORK/run-max-batch log=$LOGS/max-batch-fathom-$CHECKPOINTING-$1.log rc=0
  model_dims admin60
  variant_settings default
  write_config admin60 "$t" "$run" "max_epochs: 1" 10 > "$LOGS/max-batch-$CHECKPOINTING-$t.pbtxt"
  rm -rf "$run"
  gpu_mem_start "$LOGS/max-batch-fathom-$t.mem"
  "$FATHOM" train --config "$LOGS/max-batch-$CHECKPOINTING-$t.pbtxt" 2> "$log" || rc=$?
  gpu_mem_stop "$LOGS/max-batch-fathom-$t.mem"
  rm -rf "$run"
  if [ "$rc" = 0 ]; then
    echo "  fathom max_tokens $t: fits ($(sed -nE 's/.* ([0-9]+) batches per epoch.*/\1/p' "$log" | head -1) updates, GPU memory used max ${MEM:-n/a} MiB)"
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
  echo "max_batch name=admin60 impl=fathom activation_checkpointing=$CHECKPOINTING largest_fitting=$lo first_oom=$([ "$hi" -gt 0 ] && echo "$hi" || echo none) cap=$cap resolution=$RESOLUTION" | tee -a "$OUT/max_batch.txt"
}

if [ "$MAX_BATCH" = 1 ]; then
  echo
  echo "== largest max_tokens for Admin 60L-12L (one epoch without running out of memory; from $MAX_TOKENS, resolution $RESOLUTION; activation_checkpointing $CHECKPOINTING)"
  model_dims admin60
  for impl in $MAX_BATCH_IMPLS; do
    case "$impl" in
      fathom) fathom_max_batch ;;
      eager | compile)
        # shellcheck disable=SC2046
        "$PYTHON" "$ROOT/bench/train_gpu.py" --prepared "$PREPARED" --vocab "$VOCAB" --name admin60 $(py_model_args) \
          --max_tokens "$MAX_TOKENS" --mode "$impl" --compile_scope "$COMPILE_SCOPE" --compile_backend "$COMPILE_BACKEND" \
          --device "$DEVICE" --loader_workers "$LOADER_WORKERS" --max_batch --resolution "$RESOLUTION" \
          2> "$LOGS/max-batch-$impl-$CHECKPOINTING.log" | tee -a "$OUT/max_batch.txt" ||
          { echo "  $impl: FAILED (log $LOGS/max-batch-$impl-$CHECKPOINTING.log)"; tail -5 "$LOGS/max-batch-$impl-$CHECKPOINTING.log" | sed 's/^/    /'; }
        grep -hE '^train_gpu: (probe|max_tokens)' "$LOGS/max-batch-$impl-$CHECKPOINTING.log" | sed 's/^/  /' || true
        ;;
      *) die "unknown --max_batch_impls entry $impl" ;;
    esac
  done
fi

if [ -s "$TABLE" ]; then
  echo
  echo "== tables (also $TABLE; every run's result line in $RESULTS)"
  cat "$TABLE"
fi
echo "logs and configs in $LOGS"
[ "$EQUIV_RC" = 0 ] || { echo "bench/train_gpu: the equivalence check FAILED ($OUT/equivalence.md)" >&2; exit 1; }
exit 0
