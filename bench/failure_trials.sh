#!/usr/bin/env bash
# bench/failure_trials: how a 2-rank `fathom train` under mpirun survives failures, tried N times
# each at random points, as a user would meet them (README.md, "When things go wrong"):
#
#   kill9     kill -9 of a random rank after a random step: every process must be gone within
#             --kill_seconds and the launcher must name the rank; then `--resume` must finish
#             (exit 0) with final weights byte-identical to an uninterrupted run's.
#   sigterm   SIGTERM to a random rank after a random step: exit 75 with the rank named and a
#             checkpoint saved; `--resume` must finish with a final tensors.bin byte-identical
#             (cmp) to the uninterrupted run's.
#   truncate  the newest checkpoint's tensors.bin cut at a random byte, and
#   bitflip   one bit flipped at a random byte of its tensors.bin or meta.pb: `fathom translate`
#             of that checkpoint must fail (exit 1) naming the file, `fathom train --resume`
#             must name it, fall back to the checkpoint before it and end byte-identical to the
#             uninterrupted run; nothing may crash (exit >= 128).
#
# One uninterrupted reference run is trained first (Admin 2L-2L, d 64, a Multi30k slice, dropout
# 0.1 from the fixed training seed, so runs are deterministic on CPU). Every trial runs under
# `timeout`, so a hang is a failure, not a blocked script. The last lines printed are one table
# (also WORK/summary.md); the exit status is 0 only when every trial passed.
#
#   bench/failure_trials.sh [--fathom build/launch/fathom] [--trials 8] [--seed S] [--work DIR]
#                           [--data DIR] [--steps 40] [--save_every 4] [--pairs 800]
#                           [--kill_seconds 10] [--trial_timeout 300] [--kinds "kill9 sigterm ..."]
set -euo pipefail
export LC_ALL=C

SELF=$(readlink -f "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$SELF")/.." && pwd)

usage() {
  cat <<EOF
usage: bench/failure_trials.sh [options]
  --fathom PATH         the fathom binary (default build/launch/fathom)
  --trials N            trials of each kind (default 8)
  --seed S              seed of the random ranks, steps, bytes and bits (default: the time; printed)
  --work DIR            work files and logs (default \${TMPDIR:-/tmp}/fathom-failure-trials)
  --data DIR            a Multi30k directory with train.{de,en}.gz and val.de.gz, or a shared data
                        root holding translation/multi30k (default launch/sample/multi30k, bundled)
  --steps N             updates of every run (default 40)
  --save_every N        checkpoint interval (default 4)
  --pairs N             training pairs of the slice (default 800)
  --kill_seconds S      kill9: every process must be gone within S seconds (default 10)
  --trial_timeout S     one trial's time limit, a hang fails it (default 300)
  --kinds "K ..."       the kinds to run (default "kill9 sigterm truncate bitflip")
EOF
}

# ---------------------------------------------------------------------------------------------
# Helpers shared by the driver and the trials.

log() { printf '%s\n' "$*"; }
die() { printf 'bench/failure_trials: %s\n' "$*" >&2; exit 2; }

# Seconds between two $EPOCHREALTIME values, 2 decimals.
seconds_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# Running and not a zombie waiting to be reaped.
alive() {
  local stat=""
  [[ -n ${1:-} ]] || return 1
  { read -r stat < "/proc/$1/stat"; } 2>/dev/null || return 1
  [[ -n $stat ]] || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# The pid of MPI rank $2 among the children of mpirun $1, in RANK_PID ("" when not found).
rank_pid() {
  local child
  RANK_PID=""
  for child in $(pgrep -P "$1" || true); do
    if grep -qzxF "OMPI_COMM_WORLD_RANK=$2" "/proc/$child/environ" 2>/dev/null; then
      RANK_PID=$child
      return 0
    fi
  done
}

# Kills (-9) every process carrying FATHOM_TRIAL_TAG=$1 in its environment: what one trial
# started and left behind (Open MPI gives each rank a process group of its own, so a timeout's
# group kill does not reach them).
kill_tagged() {
  local file pid
  while IFS= read -r file; do
    pid=${file#/proc/}
    pid=${pid%/environ}
    [[ $pid == "$$" || $pid == "${BASHPID:-}" ]] && continue
    kill -KILL "$pid" 2>/dev/null || true
  done < <(grep -lzxF "FATHOM_TRIAL_TAG=$1" /proc/[0-9]*/environ 2>/dev/null || true)
}

checkpoint_name() { printf '%08d' "$1"; }

# A training config for run directory $1.
write_train_config() {
  cat > "$1.pbtxt" <<CFG
run_dir: "$1"
data { prepared_dir: "$FT_DATA_DIR/prepared" batch { max_tokens: 600 } }
model { encoder_layers: 2 decoder_layers: 2 d_model: 64 heads: 4 ffn_dim: 128 dropout: 0.1 }
init { method: ADMIN }
optim { max_steps: $FT_STEPS warmup_steps: 10 }
eval { log_every_steps: 1 valid_every_steps: 100000 }
checkpoint { save_every_steps: $FT_SAVE_EVERY keep_last: 1000 }
distributed { threads: 1 }
CFG
}

# The launcher line, its processes tagged $1 (only they carry FATHOM_TRIAL_TAG: the scripts that
# start them do not, so kill_tagged never reaches a script).
set_mpirun() {
  MPIRUN=(env "FATHOM_TRIAL_TAG=$1" mpirun -np 2 --oversubscribe --allow-run-as-root
          --mca btl "self,tcp" --mca btl_tcp_if_include lo -x FATHOM_TRIAL_TAG)
}

# ---------------------------------------------------------------------------------------------
# One trial, run as `bash failure_trials.sh --run-trial KIND ARGS...` under `timeout` by the
# driver, with FT_* in the environment. It writes "PASS|FAIL<TAB>seconds<TAB>detail" to
# $FT_TDIR/result.

REASONS=()
SECONDS_MEASURED=""
DETAIL=""

# A reason, kept on one line without the table's separators.
fail() {
  local why=${*//[$'\t\n|']/ }
  REASONS+=("$why")
  log "  FAIL: $why"
}

finish() {
  local status=PASS detail=$DETAIL
  if ((${#REASONS[@]} > 0)); then
    status=FAIL
    detail="$DETAIL: $(IFS=';'; printf '%s' "${REASONS[*]}")"
  fi
  printf '%s\t%s\t%s\n' "$status" "${SECONDS_MEASURED:--}" "$detail" > "$FT_TDIR/result"
  exit 0
}

abort() { fail "$@"; finish; }

# What the trial does, for the table (also kept in a file should the trial time out).
describe() {
  DETAIL=$*
  printf '%s\n' "$DETAIL" > "$FT_TDIR/detail"
}

# Starts `mpirun ... fathom train --config $1.pbtxt $2` in the background, output in $3; JOB_PID.
start_job() {
  "${MPIRUN[@]}" "$FT_FATHOM" train --config "$1.pbtxt" ${2:+"$2"} > "$3" 2>&1 &
  JOB_PID=$!
}

# Waits until file $1 has a line matching ERE $2 while job $JOB_PID runs. 0: found; 1: the job
# ended first; 2: not within $3 seconds.
wait_for_line() {
  local deadline=$((EPOCHSECONDS + $3))
  while true; do
    if grep -qE -- "$2" "$1" 2>/dev/null; then return 0; fi
    alive "$JOB_PID" || { grep -qE -- "$2" "$1" 2>/dev/null && return 0; return 1; }
    ((EPOCHSECONDS <= deadline)) || return 2
    sleep 0.05
  done
}

# Waits up to $2 seconds until every pid in $1 (space-separated) is gone; 0 when they are.
wait_gone() {
  local deadline=$((EPOCHSECONDS + $2)) pid any
  while true; do
    any=0
    for pid in $1; do
      if alive "$pid"; then any=1; fi
    done
    ((any)) || return 0
    ((EPOCHSECONDS <= deadline)) || return 1
    sleep 0.02
  done
}

# The event a trial waits for before it signals: the progress line of step N or the log line of
# the checkpoint saved at step N.
event_pattern() {
  if [[ $1 == save ]]; then
    printf 'saved checkpoint at step %s([^0-9]|$)' "$2"
  else
    printf 'step %s \\|' "$2"
  fi
}

# `mpirun ... fathom train --resume` of run $1 to the end, output in $2; RESUME_RC, RESUME_SECONDS.
resume() {
  local start=$EPOCHREALTIME
  RESUME_RC=0
  timeout -k 5 "$FT_RUN_TIMEOUT" "${MPIRUN[@]}" "$FT_FATHOM" train --config "$1.pbtxt" --resume \
    > "$2" 2>&1 || RESUME_RC=$?
  RESUME_SECONDS=$(seconds_between "$start" "$EPOCHREALTIME")
  kill_tagged "$FT_TAG"  # ranks a timeout left behind
}

# Checks the resumed run $1 ended at the last step with the reference run's final tensors.bin.
check_final_weights() {
  local final
  final="$1/checkpoints/$(checkpoint_name "$FT_STEPS")/tensors.bin"
  if [[ ! -f $final ]]; then
    fail "no final checkpoint $(checkpoint_name "$FT_STEPS") after the resume"
  elif ! cmp -s "$final" "$FT_REFERENCE/checkpoints/$(checkpoint_name "$FT_STEPS")/tensors.bin"; then
    fail "final tensors.bin differs from the uninterrupted run's ($(cmp "$final" \
      "$FT_REFERENCE/checkpoints/$(checkpoint_name "$FT_STEPS")/tensors.bin" 2>&1 | head -n 1))"
  fi
}

check_resume() {  # run out
  if ((RESUME_RC == 124 || RESUME_RC == 137)); then
    fail "the resume hung (killed after ${FT_RUN_TIMEOUT} s)"
  elif ((RESUME_RC >= 128)); then
    fail "the resume crashed (exit $RESUME_RC)"
  elif ((RESUME_RC != 0)); then
    fail "the resume exited $RESUME_RC ($(grep -m1 -iE 'error|fail' "$2" || true))"
  else
    check_final_weights "$1"
  fi
}

# start_until RUN OUT RANK EVENT STEP: starts the 2-rank job of RUN (output to OUT), waits for
# EVENT STEP in its log, and sets RANK_PID to the pid of rank RANK (what both signal trials do
# before their signal).
start_until() {
  local run=$1 out=$2 rank=$3 event=$4 step=$5
  describe "rank $rank after $event $step"
  write_train_config "$run"
  start_job "$run" "" "$out"
  log "  started mpirun $JOB_PID; waiting for $event $step"
  wait_for_line "$run/train.log" "$(event_pattern "$event" "$step")" "$FT_RUN_TIMEOUT" ||
    abort "the run ended or stalled before $event $step (see $out)"
  rank_pid "$JOB_PID" "$rank"
}

# kill9 RANK EVENT STEP
trial_kill9() {
  local rank=$1 event=$2 step=$3 run="$FT_TDIR/run" out="$FT_TDIR/first.out" victim other rc=0
  start_until "$run" "$out" "$rank" "$event" "$step"
  victim=$RANK_PID
  rank_pid "$JOB_PID" $((1 - rank))
  other=$RANK_PID
  [[ -n $victim && -n $other ]] || abort "ranks not found among mpirun's children"
  local start=$EPOCHREALTIME
  kill -KILL "$victim"
  if wait_gone "$JOB_PID $victim $other" 60; then
    SECONDS_MEASURED=$(seconds_between "$start" "$EPOCHREALTIME")
  else
    SECONDS_MEASURED=60
    fail "processes still running 60 s after the kill"
    kill -KILL "$JOB_PID" "$other" 2>/dev/null || true
  fi
  wait "$JOB_PID" || rc=$?
  log "  all gone after $SECONDS_MEASURED s; mpirun exited $rc"
  if awk -v s="$SECONDS_MEASURED" -v l="$FT_KILL_SECONDS" 'BEGIN { exit !(s > l) }'; then
    fail "every process gone only after $SECONDS_MEASURED s (limit $FT_KILL_SECONDS s)"
  fi
  ((rc != 0)) || fail "mpirun exited 0 after a rank was killed"
  grep -q "process rank $rank with PID" "$out" || fail "the launcher did not name rank $rank"
  grep -q "signal 9" "$out" || fail "the launcher did not name signal 9"
  resume "$run" "$FT_TDIR/resume.out"
  log "  resume exited $RESUME_RC after $RESUME_SECONDS s"
  check_resume "$run" "$FT_TDIR/resume.out"
  finish
}

# sigterm RANK EVENT STEP
trial_sigterm() {
  local rank=$1 event=$2 step=$3 run="$FT_TDIR/run" out="$FT_TDIR/first.out" victim rc=0 saved
  start_until "$run" "$out" "$rank" "$event" "$step"
  victim=$RANK_PID
  [[ -n $victim ]] || abort "rank $rank not found among mpirun's children"
  local start=$EPOCHREALTIME
  kill -TERM "$victim"
  if wait_gone "$JOB_PID" 120; then
    SECONDS_MEASURED=$(seconds_between "$start" "$EPOCHREALTIME")
  else
    SECONDS_MEASURED=120
    fail "still running 120 s after SIGTERM"
    kill_tagged "$FT_TAG"
  fi
  wait "$JOB_PID" || rc=$?
  log "  mpirun exited $rc after $SECONDS_MEASURED s"
  ((rc == 75)) || fail "exit $rc after SIGTERM, not 75"
  grep -q "stop requested by rank $rank (SIGTERM)" "$out" ||
    fail "no 'stop requested by rank $rank (SIGTERM)'"
  saved=$(tr -d '[:space:]' < "$run/checkpoints/LATEST" 2>/dev/null || true)
  if [[ ! $saved =~ ^[0-9]+$ ]]; then
    abort "no checkpoint saved (LATEST: '$saved')"
  fi
  saved=$((10#$saved))
  describe "$DETAIL, saved $saved"
  ((saved >= step)) || fail "saved step $saved is before the signal's step $step"
  ((saved < FT_STEPS)) || fail "the run reached its last step before stopping; make it longer"
  resume "$run" "$FT_TDIR/resume.out"
  log "  resume exited $RESUME_RC after $RESUME_SECONDS s"
  grep -qF "resumed from $run/checkpoints/$(checkpoint_name "$saved") at step $saved " \
    "$FT_TDIR/resume.out" || fail "the resume did not start from step $saved"
  check_resume "$run" "$FT_TDIR/resume.out"
  finish
}

# truncate STEP SIZE  |  bitflip STEP FILE OFFSET BIT
trial_damage() {
  local kind=$1 step=$2 run="$FT_TDIR/run" ck name file size offset bit rc=0 byte previous s
  name=$(checkpoint_name "$step")
  ck="$run/checkpoints/$name"
  cp -a "$FT_REFERENCE" "$run"
  write_train_config "$run"
  # Make checkpoint STEP the newest, as if the run had been stopped right after saving it.
  for s in "$run"/checkpoints/[0-9]*; do
    [[ -d $s ]] || continue
    s=$(basename "$s")
    if ((10#$s > step)); then rm -rf "${run:?}/checkpoints/$s"; fi
  done
  printf '%s\n' "$name" > "$run/checkpoints/LATEST"
  if [[ $kind == truncate ]]; then
    file=tensors.bin
    size=$3
    truncate -s "$size" "$ck/$file"
    describe "step $step, tensors.bin cut to $size bytes"
  else
    file=$3 offset=$4 bit=$5
    byte=$(od -An -tu1 -j "$offset" -N 1 "$ck/$file" | tr -d ' ')
    # shellcheck disable=SC2059  # the format is the byte to write
    printf "\\x$(printf '%02x' $((byte ^ (1 << bit))))" |
      dd of="$ck/$file" bs=1 seek="$offset" conv=notrunc status=none
    describe "step $step, $file byte $offset bit $bit"
  fi
  cmp -s "$ck/$file" "$FT_REFERENCE/checkpoints/$name/$file" && abort "the damage did not change $file"
  # translate must refuse the checkpoint, naming the file.
  timeout -k 5 120 env "FATHOM_TRIAL_TAG=$FT_TAG" "$FT_FATHOM" translate --checkpoint "$ck" \
    --input "$FT_DATA_DIR/input.de" --output "$FT_TDIR/translation.en" > "$FT_TDIR/translate.out" 2>&1 || rc=$?
  log "  translate exited $rc"
  if ((rc >= 124)); then
    fail "translate crashed or hung (exit $rc)"
  elif ((rc != 1)); then
    fail "translate exited $rc, not 1"
  fi
  grep -qF "$ck/$file" "$FT_TDIR/translate.out" || fail "translate did not name $ck/$file"
  # resume must name it and fall back to the checkpoint before it.
  previous=$((step - FT_SAVE_EVERY))
  resume "$run" "$FT_TDIR/resume.out"
  SECONDS_MEASURED=$RESUME_SECONDS
  log "  resume exited $RESUME_RC after $RESUME_SECONDS s"
  grep -qF "skipped checkpoint: $ck/$file" "$FT_TDIR/resume.out" ||
    fail "the resume did not name $ck/$file"
  grep -qF "resumed from $run/checkpoints/$(checkpoint_name "$previous") at step $previous " \
    "$FT_TDIR/resume.out" || fail "the resume did not fall back to step $previous"
  check_resume "$run" "$FT_TDIR/resume.out"
  finish
}

if [[ ${1:-} == --run-trial ]]; then
  shift
  kind=$1
  shift
  set_mpirun "$FT_TAG"
  log "trial $kind $*"
  case $kind in
    kill9) trial_kill9 "$@" ;;
    sigterm) trial_sigterm "$@" ;;
    truncate | bitflip) trial_damage "$kind" "$@" ;;
    *) die "unknown trial kind $kind" ;;
  esac
  # Not reached: every trial ends in finish.
  # shellcheck disable=SC2317
  exit 3
fi

# ---------------------------------------------------------------------------------------------
# The driver.

FATHOM=$ROOT/build/launch/fathom
TRIALS=8
SEED=""
WORK=${TMPDIR:-/tmp}/fathom-failure-trials
DATA=""
STEPS=40
SAVE_EVERY=4
PAIRS=800
KILL_SECONDS=10
TRIAL_TIMEOUT=300
KINDS="kill9 sigterm truncate bitflip"
while (($# > 0)); do
  case $1 in
    --fathom) FATHOM=$2; shift ;;
    --trials) TRIALS=$2; shift ;;
    --seed) SEED=$2; shift ;;
    --work) WORK=$2; shift ;;
    --data) DATA=$2; shift ;;
    --steps) STEPS=$2; shift ;;
    --save_every) SAVE_EVERY=$2; shift ;;
    --pairs) PAIRS=$2; shift ;;
    --kill_seconds) KILL_SECONDS=$2; shift ;;
    --trial_timeout) TRIAL_TIMEOUT=$2; shift ;;
    --kinds) KINDS=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
for n in TRIALS STEPS SAVE_EVERY PAIRS TRIAL_TIMEOUT; do
  [[ ${!n} =~ ^[0-9]+$ && ${!n} -gt 0 ]] || die "--${n,,} must be a positive integer (got '${!n}')"
done
((STEPS >= 4 * SAVE_EVERY)) || die "--steps must be at least 4 x --save_every"
for kind in $KINDS; do
  [[ $kind =~ ^(kill9|sigterm|truncate|bitflip)$ ]] || die "unknown kind '$kind'"
done
[[ -z $SEED ]] && SEED=$(date +%s)
[[ $SEED =~ ^[0-9]+$ ]] || die "--seed must be a number"
RANDOM=$((SEED % 2147483647))

[[ $FATHOM == /* ]] || FATHOM=$PWD/$FATHOM
[[ -x $FATHOM ]] || die "no fathom binary at $FATHOM (build it: launch/install.sh, or pass --fathom)"
command -v mpirun > /dev/null || die "mpirun not found (apt-get install openmpi-bin)"
for tool in timeout pgrep od dd cmp truncate awk gzip; do
  command -v "$tool" > /dev/null || die "$tool not found"
done
if [[ -z $DATA ]]; then
  if [[ -f $ROOT/launch/sample/multi30k/train.de.gz ]]; then
    DATA=$ROOT/launch/sample/multi30k
  else
    DATA=$ROOT/../shared/data
  fi
fi
[[ -f $DATA/train.de.gz ]] || DATA=$DATA/translation/multi30k
for f in train.de.gz train.en.gz val.de.gz; do
  [[ -f $DATA/$f ]] || die "no $f in $DATA (pass --data)"
done
DATA=$(cd "$DATA" && pwd)
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

export FT_FATHOM=$FATHOM FT_STEPS=$STEPS FT_SAVE_EVERY=$SAVE_EVERY FT_KILL_SECONDS=$KILL_SECONDS
export FT_DATA_DIR=$WORK/data FT_REFERENCE=$WORK/reference
# One run's limit inside a trial: generous, as a trial has its own.
export FT_RUN_TIMEOUT=$((TRIAL_TIMEOUT * 2 / 3))

CURRENT_TAG=""
# shellcheck disable=SC2317  # called by the trap
on_signal() {
  [[ -n $CURRENT_TAG ]] && kill_tagged "$CURRENT_TAG"
  echo "bench/failure_trials: interrupted" >&2
  exit 130
}
trap on_signal INT TERM

log "bench/failure_trials: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores, seed $SEED"
log "  fathom $FATHOM"
log "  data $DATA ($PAIRS pairs), work $WORK"
log "  $TRIALS trials each of: $KINDS; runs of $STEPS steps, a checkpoint every $SAVE_EVERY"

# The slice, prepared once.
rm -rf "$WORK/data" "$WORK/reference" "$WORK/trials" "$WORK/reference.pbtxt"
mkdir -p "$WORK/data" "$WORK/trials"
for side in de en; do
  gzip -dc "$DATA/train.$side.gz" | awk -v n="$PAIRS" 'NR <= n' | gzip -c > "$WORK/data/train.$side.gz"
done
gzip -dc "$DATA/val.de.gz" | awk 'NR <= 5' > "$WORK/data/input.de"
cat > "$WORK/data/prepare.pbtxt" <<CFG
data {
  split { name: "train" source: "$WORK/data/train.de.gz" target: "$WORK/data/train.en.gz" }
  prepared_dir: "$WORK/data/prepared"
  sentencepiece { vocab_size: 400 }
}
CFG
start=$EPOCHREALTIME
timeout -k 5 600 "$FATHOM" prepare --config "$WORK/data/prepare.pbtxt" > "$WORK/data/prepare.log" 2>&1 ||
  { tail -n 20 "$WORK/data/prepare.log" >&2; die "fathom prepare failed (log: $WORK/data/prepare.log)"; }
log "prepared in $(seconds_between "$start" "$EPOCHREALTIME") s"

# The uninterrupted reference run.
write_train_config "$FT_REFERENCE"
CURRENT_TAG="fathom-trials-$$-reference"
start=$EPOCHREALTIME
rc=0
set_mpirun "$CURRENT_TAG"
timeout -k 5 "$TRIAL_TIMEOUT" "${MPIRUN[@]}" "$FATHOM" train \
  --config "$FT_REFERENCE.pbtxt" > "$WORK/reference.out" 2>&1 || rc=$?
kill_tagged "$CURRENT_TAG"
REFERENCE_SECONDS=$(seconds_between "$start" "$EPOCHREALTIME")
FINAL=$FT_REFERENCE/checkpoints/$(checkpoint_name "$STEPS")
if ((rc != 0)) || [[ ! -f $FINAL/tensors.bin ]]; then
  tail -n 30 "$WORK/reference.out" >&2
  die "the reference run failed (exit $rc; log: $WORK/reference.out)"
fi
log "reference run: $STEPS steps in $REFERENCE_SECONDS s, $(stat -c %s "$FINAL/tensors.bin")-byte tensors.bin"

rand_below() { R=$(((RANDOM << 15 | RANDOM) % $1)); }  # sets R; no subshell, so RANDOM advances

RESULTS=$WORK/results.tsv
: > "$RESULTS"

# run_trial KIND INDEX ARGS...: one trial under timeout, its outcome appended to RESULTS.
run_trial() {
  local kind=$1 index=$2
  shift 2
  local tdir=$WORK/trials/$kind-$index status secs detail rc=0 start last
  mkdir -p "$tdir"
  CURRENT_TAG="fathom-trials-$$-$kind-$index"
  start=$EPOCHREALTIME
  FT_TAG=$CURRENT_TAG FT_TDIR=$tdir timeout -k 10 "$TRIAL_TIMEOUT" \
    bash "$SELF" --run-trial "$kind" "$@" > "$tdir/trial.log" 2>&1 || rc=$?
  kill_tagged "$CURRENT_TAG"
  if [[ -s $tdir/result ]]; then
    IFS=$'\t' read -r status secs detail < "$tdir/result"
  else
    detail=$(cat "$tdir/detail" 2> /dev/null || echo "$*")
    status=FAIL secs=-
    if ((rc == 124 || rc == 137)); then
      last=$(tail -n 1 "$tdir/trial.log" | sed 's/^ *//; s/|/ /g')
      detail="$detail: timed out after $TRIAL_TIMEOUT s, after: $last"
    else
      detail="$detail: the trial script exited $rc (log: $tdir/trial.log)"
    fi
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$kind" "$index" "$status" "$secs" "$detail" >> "$RESULTS"
  log "$(printf '%-8s %2d/%d  %s  %6s s  %s  (%s s in all)' "$kind" "$index" "$TRIALS" "$status" \
    "$secs" "$detail" "$(seconds_between "$start" "$EPOCHREALTIME")")"
}

# Damage trials damage checkpoint STEP (one with a checkpoint before it) of a copy of the reference.
SAVED_STEPS=()
for dir in "$FT_REFERENCE"/checkpoints/[0-9]*; do
  s=$((10#$(basename "$dir")))
  if ((s >= 2 * SAVE_EVERY)); then SAVED_STEPS+=("$s"); fi
done
((${#SAVED_STEPS[@]} > 0)) || die "the reference run kept too few checkpoints"

# Signals land after steps 2 .. 2/3 of the run, so that a stop is never the run's natural end.
LAST_SIGNAL_STEP=$((STEPS * 2 / 3))
TOTAL_START=$EPOCHREALTIME
for kind in $KINDS; do
  for ((i = 1; i <= TRIALS; i++)); do
    case $kind in
      kill9 | sigterm)
        rand_below 2
        rank=$R
        rand_below 2
        if ((R == 0)); then
          event=step
          rand_below $((LAST_SIGNAL_STEP - 1))
          n=$((R + 2))
        else
          event=save
          rand_below $((LAST_SIGNAL_STEP / SAVE_EVERY))
          n=$(((R + 1) * SAVE_EVERY))
        fi
        run_trial "$kind" "$i" "$rank" "$event" "$n"
        ;;
      truncate)
        rand_below ${#SAVED_STEPS[@]}
        step=${SAVED_STEPS[$R]}
        rand_below "$(stat -c %s "$FT_REFERENCE/checkpoints/$(checkpoint_name "$step")/tensors.bin")"
        run_trial "$kind" "$i" "$step" "$R"
        ;;
      bitflip)
        rand_below ${#SAVED_STEPS[@]}
        step=${SAVED_STEPS[$R]}
        rand_below 2
        if ((R == 0)); then file=tensors.bin; else file=meta.pb; fi
        rand_below "$(stat -c %s "$FT_REFERENCE/checkpoints/$(checkpoint_name "$step")/$file")"
        offset=$R
        rand_below 8
        run_trial "$kind" "$i" "$step" "$file" "$offset" "$R"
        ;;
    esac
  done
done
CURRENT_TAG=""
TOTAL_SECONDS=$(seconds_between "$TOTAL_START" "$EPOCHREALTIME")

# The table.
declare -A MEASURE=(
  [kill9]="kill -9 until every process is gone"
  [sigterm]="SIGTERM until mpirun exits 75"
  [truncate]="resume from the checkpoint before"
  [bitflip]="resume from the checkpoint before"
)
SUMMARY=$WORK/summary.md
{
  echo
  echo "bench/failure_trials: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, seed $SEED," \
    "$TRIALS trials of each kind, runs of $STEPS steps (reference $REFERENCE_SECONDS s), trials $TOTAL_SECONDS s"
  echo
  echo "| trial | N | passed | failed | median s | max s | seconds of | failures |"
  echo "|---|---|---|---|---|---|---|---|"
  for kind in $KINDS; do
    awk -F'\t' -v kind="$kind" -v measure="${MEASURE[$kind]}" '
      $1 == kind {
        n++
        if ($3 == "PASS") passed++; else { failed++; why = why (why == "" ? "" : "; ") "#" $2 " " $5 }
        if ($4 != "-") s[++m] = $4 + 0
      }
      END {
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (s[j] < s[i]) { t = s[i]; s[i] = s[j]; s[j] = t }
        median = m == 0 ? "-" : sprintf("%.2f", m % 2 ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2)
        max = m == 0 ? "-" : sprintf("%.2f", s[m])
        printf "| %s | %d | %d | %d | %s | %s | %s | %s |\n", kind, n, passed + 0, failed + 0,
          median, max, measure, why == "" ? "-" : why
      }' "$RESULTS"
  done
} | tee "$SUMMARY"
echo "(logs: $WORK/trials/KIND-I/; this table: $SUMMARY)"

if grep -q $'\tFAIL\t' "$RESULTS"; then exit 1; fi
exit 0
