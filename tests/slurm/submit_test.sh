#!/usr/bin/env bash
# `fathom submit` against a real SLURM (tests/slurm/local_cluster.sh: munged, slurmctld and slurmd
# on this machine, one node):
#   1. sbatch's own error comes through (a partition that does not exist);
#   2. a 2-rank CPU training job runs under srun --mpi=pmix and completes with its checkpoint;
#   3. the same config under a second run directory gets SIGUSR1 mid-run (what --signal sends
#      before the time limit): every rank saves, the job requeues itself, the next start resumes
#      and finishes, and the final tensors equal job 2's byte for byte.
# All paths sit under a directory whose name holds a space, quotes and a '$', so every argument
# in the generated script must be quoted right.
#
# usage: submit_test.sh FATHOM_BINARY [SHARED_DATA_DIR]      (root; exit 77 = skipped)
# FATHOM_KEEP_TEST_DIR=1 keeps the work directory (runs, job logs, daemon logs) for a look.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FATHOM=$(realpath "${1:?usage: $0 FATHOM_BINARY [SHARED_DATA_DIR]}")
SHARED=${2:-${FATHOM_SHARED_DATA:-$HERE/../../../shared/data}}
M30K=$SHARED/translation/multi30k

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: needs root to run munged, slurmctld and slurmd"
  exit 77
fi
[ -x "$FATHOM" ] || { echo "no fathom binary at $FATHOM" >&2; exit 1; }
[ -f "$M30K/train.de.gz" ] || { echo "no Multi30k in $M30K (see ../shared/data/README)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/fathom-slurm-test.XXXXXX)
chmod 711 "$WORK"  # munged wants its socket's directories searchable by all
CLUSTER=$WORK/cluster
ODD="$WORK/odd dir 'q' \$x"
mkdir -p "$ODD"

step() { echo; echo "=== $* ($((SECONDS))s)"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

on_exit() {
  local rc=$?
  set +e
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    echo
    echo "=== diagnostics (exit code $rc)"
    if [ -f "$CLUSTER/env.sh" ]; then
      . "$CLUSTER/env.sh"
      timeout 10 squeue
      timeout 10 scontrol show job
    fi
    local log
    for log in "$ODD"/runs/*/submit/slurm-*.out "$ODD"/runs/*/train.log; do
      [ -f "$log" ] || continue
      echo "----- $log (last 40 lines)"
      tail -40 "$log"
    done
    "$HERE/local_cluster.sh" logs "$CLUSTER"
  fi
  "$HERE/local_cluster.sh" stop "$CLUSTER"
  if [ -n "${FATHOM_KEEP_TEST_DIR:-}" ]; then
    echo "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One space-free field of `scontrol show job` (JobState, Restarts, ExitCode, NumTasks, ...).
job_field() { timeout 10 scontrol show job -o "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# JobName ends the first line and may hold spaces.
job_name() { timeout 10 scontrol show job "$1" | sed -n 's/^JobId=[0-9]* JobName=//p'; }

# Waits for job $1 to end; fails unless it COMPLETED.
wait_for_completion() {
  local job=$1 state=""
  while [ $SECONDS -lt $DEADLINE ]; do
    state=$(job_field "$job" JobState || true)
    case $state in
      COMPLETED) return 0 ;;
      FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE)
        fail "job $job ended $state (exit code $(job_field "$job" ExitCode))" ;;
    esac
    sleep 1
  done
  fail "job $job did not end in time (state: $state)"
}

# `fathom submit` prints "submitted job N".
submit() {
  local out
  out=$("$FATHOM" submit "$@") || fail "fathom submit $* failed: $out"
  echo "$out" >&2
  sed -n 's/^submitted job \([0-9][0-9]*\)$/\1/p' <<<"$out"
}

step "prepare a 400-pair Multi30k slice"
zcat "$M30K/train.de.gz" | sed -n 1,400p >"$ODD/train.de"
zcat "$M30K/train.en.gz" | sed -n 1,400p >"$ODD/train.en"
# Paths relative to $ODD, where everything runs: the job must start there too (--chdir).
cd "$ODD"
write_config() {  # RUN_NAME
  cat >"$1.pbtxt" <<EOF
run_dir: "runs/$1"
seed: 3
data {
  split { name: "train" source: "train.de" target: "train.en" }
  prepared_dir: "prepared"
  sentencepiece { vocab_size: 400 }
  batch { max_tokens: 256 }
}
model { encoder_layers: 1 decoder_layers: 1 d_model: 64 heads: 4 ffn_dim: 128 dropout: 0.1 }
init { method: ADMIN }
optim { lr: 1e-3 warmup_steps: 10 max_steps: 120 }
eval { log_every_steps: 5 valid_every_steps: 100000 }
checkpoint { save_every_steps: 30 keep_last: 10 }
distributed { threads: 1 }
EOF
}
write_config reference
write_config preempted
"$FATHOM" prepare --config reference.pbtxt >"$WORK/prepare.log" 2>&1 || { cat "$WORK/prepare.log"; fail "prepare"; }

step "start SLURM"
"$HERE/local_cluster.sh" start "$CLUSTER"
. "$CLUSTER/env.sh"
# Every wait below checks this, so the test ends (and stops its daemons) well within ctest's
# limit, which also leaves room for installing SLURM. A run takes about 30 s here.
DEADLINE=$((SECONDS + ${FATHOM_SLURM_TEST_SECONDS:-360}))
RESOURCES=(--tasks_per_node 2 --cpus_per_task 1 --time 10 --signal_seconds 60)

step "sbatch's errors reach the user"
if out=$("$FATHOM" submit --config reference.pbtxt "${RESOURCES[@]}" --partition "no such" 2>&1); then
  fail "submit to a missing partition succeeded: $out"
fi
grep -q "failed (exit code 1): sbatch: error: invalid partition specified" <<<"$out" || fail "sbatch's message is missing: $out"
echo "ok: $(tail -1 <<<"$out")"

step "a 2-rank CPU job runs to the end"
REFERENCE=$ODD/runs/reference
JOB=$(submit --config reference.pbtxt "${RESOURCES[@]}" --job_name "ref 'job' \$1")
[ -n "$JOB" ] || fail "no job id"
[ "$(job_name "$JOB")" = "ref 'job' \$1" ] || fail "job name: $(job_name "$JOB")"
[ "$(job_field "$JOB" NumTasks)" = 2 ] || fail "tasks: $(job_field "$JOB" NumTasks)"
wait_for_completion "$JOB"
LOG=$REFERENCE/submit/slurm-$JOB.out
[ -f "$LOG" ] || fail "no job log $LOG"
grep -q "training exited with code 0" "$LOG" || fail "the job log has no clean end"
FINAL=$(cat "$REFERENCE/checkpoints/LATEST")
[ -f "$REFERENCE/checkpoints/$FINAL/tensors.bin" ] || fail "no final checkpoint in $REFERENCE"
grep -q "resumed from" "$REFERENCE/train.log" && fail "a fresh run resumed"
echo "ok: job $JOB completed, final checkpoint $FINAL"

step "a job stopped by SIGUSR1 saves, requeues itself and resumes"
PREEMPTED=$ODD/runs/preempted
JOB=$(submit --config preempted.pbtxt "${RESOURCES[@]}")
[ -n "$JOB" ] || fail "no job id"
# The first checkpoint (step 30 of 120) shows training is under way with the handlers installed.
while [ ! -f "$PREEMPTED/checkpoints/LATEST" ]; do
  [ $SECONDS -lt $DEADLINE ] || fail "job $JOB wrote no checkpoint in time"
  state=$(job_field "$JOB" JobState || true)
  case $state in "" | PENDING | RUNNING | CONFIGURING) ;; *) fail "job $JOB is $state before its first checkpoint" ;; esac
  sleep 0.2
done
# Without --batch or --full, scancel signals the job's steps (the ranks), as --signal does.
timeout 10 scancel --signal=USR1 "$JOB"
echo "sent SIGUSR1 after checkpoint $(cat "$PREEMPTED/checkpoints/LATEST")"
wait_for_completion "$JOB"
LOG=$PREEMPTED/submit/slurm-$JOB.out
[ "$(job_field "$JOB" Restarts)" = 1 ] || fail "job $JOB restarted $(job_field "$JOB" Restarts) times, not once"
grep -q "requeueing job $JOB" "$LOG" || fail "the job log has no requeue"
STOPPED=$(sed -n 's/.*stopped at step \([0-9]*\) by SIGUSR1.*/\1/p' "$LOG" | head -1)
[ -n "$STOPPED" ] && [ "$STOPPED" -lt 120 ] || fail "the run was not stopped mid-way (step '$STOPPED')"
# Every rank logs its warnings: ranks 0 and 1 stopped at the same step, so the job was one 2-rank
# MPI world, not two single-rank runs.
for rank in 0 1; do
  grep -q "rank $rank WARNING\] stopped at step $STOPPED by" "$LOG" || fail "rank $rank did not stop at step $STOPPED"
done
grep -q "resumed from .* at step $STOPPED" "$LOG" || fail "the second start did not resume from step $STOPPED"
grep -q "training exited with code 0" "$LOG" || fail "the second start did not end cleanly"
ls "$PREEMPTED/submit/" | grep -q '^requeue\.' && fail "a requeue mark was left behind"
echo "ok: stopped at step $STOPPED, requeued, resumed, completed"

step "the resumed run ends with the uninterrupted run's weights"
[ "$(cat "$PREEMPTED/checkpoints/LATEST")" = "$FINAL" ] || fail "final checkpoints differ: $(cat "$PREEMPTED/checkpoints/LATEST") vs $FINAL"
cmp "$REFERENCE/checkpoints/$FINAL/tensors.bin" "$PREEMPTED/checkpoints/$FINAL/tensors.bin" ||
  fail "tensors.bin of step $FINAL differ"
echo "ok: $FINAL/tensors.bin identical ($(stat -c %s "$REFERENCE/checkpoints/$FINAL/tensors.bin") bytes)"

step "PASS"
