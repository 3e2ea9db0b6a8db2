#!/usr/bin/env bash
# bench/gpu_check.sh: the GPU check anyone can run. On one machine with an NVIDIA GPU, a compiler,
# the CUDA toolkit and a Python with a CUDA torch wheel (and nvidia-nccl) but no package manager
# and no network, it builds a CUDA Fathom against that wheel, runs its GPU tests, checks that the
# optimised training step learns as the plain one does and measures it against PyTorch (issue 13).
# The default stages, in order of priority (a run cut short keeps what came before):
#
#   env          GPU, driver, torch, nvcc, compiler, cmake versions
#   unpack       `dpkg -x` every .deb of --debs into --prefix (no root, nothing installed; Open
#                MPI relocates with OPAL_PREFIX); skipped when the prefix already holds them
#   configure    cmake against the wheel's LibTorch, the prefix's Abseil, protobuf, Open MPI,
#                SentencePiece, GoogleTest, and NCCL from nvidia-nccl (FATHOM_NCCL=ON)
#   build        fathom and the test binaries that --tests selects
#   tests        ctest on them (default --tests gpu: ctest -R the GPU tests of issue 13, GPU_TESTS)
#   bench_data   the news corpus and `fathom prepare` of it for bench/train_gpu.sh (joint 32k
#                vocabulary; kept in --bench_work, so a later run skips it)
#   equivalence  bench/train_gpu.sh --equivalence: 200 updates of Transformer-base from the same
#                weights, Fathom optimised (and sync-free) and PyTorch eager against Fathom's
#                unoptimised step, every update's loss within a bf16 tolerance: PASS/FAIL
#   tp_base, tp_big, tp_admin60   bench/train_gpu.sh --models MODEL: Fathom, PyTorch eager and
#                torch.compile at max_tokens 16384, 3 timed windows of 50 updates after 50 untimed
#   ablations    Transformer-base, Fathom with each optimisation off in turn
#   admin100     Admin 100L-100L with activation checkpointing, Fathom: tok/s and memory
#   best_batch   Transformer-big: the largest and the fastest max_tokens of each side (MFU target)
#   max_batch    the largest max_tokens of 60L-12L (one epoch), without and with checkpointing
#
# And the end-to-end stages of the quickstart, run when named in --stages (--stages e2e names them
# all):
#   prepare      `fathom prepare` of the quickstart config (configs/multi30k_admin.pbtxt)
#   train        `fathom train` of that config on the GPU, with `distributed { device: "cuda"
#                precision: BF16 }` and max_seconds --train_seconds, one rank
#   translate    `fathom translate --device cuda --beam 4` of test_2016_flickr from its checkpoint
#   score        `fathom score` of it against the references (fails under BLEU 1: broken output)
#   translate_cpu  the same checkpoint translated on the CPU (beam 4) and scored: the BLEU of
#                the GPU decode must be within 0.1 of it
#   greedy       beam 1 on the GPU and on the CPU: the two outputs must be identical
#
# Each stage runs in a process group of its own (timeout(1) makes one), under its own time limit
# and within what is left of --budget; at the limit the whole group is killed. A stage whose
# prerequisite failed is skipped. At the end one table: stage, status, seconds, key figure; it is
# also written to WORK/summary.md, with every stage's log in WORK/logs/ and the benchmark's results
# and tables in WORK/bench/ (results.txt, table.md, equivalence.md: written as each run ends).
# With --out, after every stage a few flat files are copied there: summary.md, table.md,
# equivalence.md, results.txt, max_batch.txt and logs.tar.gz (every log): what a device session's
# $OUT brings back (at most 8 files). Exit 0 when every stage passed (unpack may be skipped: no
# .debs), 1 otherwise.
#
#   bench/gpu_check.sh [--debs DIR] [--prefix DIR] [--build DIR] [--data DIR] [--python PY]
#       [--work DIR] [--out DIR] [--bench_work DIR] [--budget 570] [--train_seconds 60]
#       [--tests gpu|cuda|all|"NAME ..."] [--jobs N] [--stages "env unpack ..."|e2e]
#       [--limit STAGE=SECONDS ...] [--dry-run]
#   bench/gpu_check.sh --list-debs
#
#   --debs DIR      .debs to unpack, e.g. a bundle of `launch/offline-bundle.sh --minimal DIR`
#                   (default: offline-bundle/ in the checkout when it holds .debs; none: use the
#                   machine's own packages)
#   --prefix DIR    where they are unpacked (default WORK/prefix)
#   --build DIR     the CUDA build (default build-cuda/ in the checkout)
#   --data DIR      the shared data (translation/news-de-en for train_gpu; default ../shared/data)
#   --python PY     Python with the CUDA torch wheel, numpy and nvidia-nccl (default python3); it
#                   runs without the prefix's libraries (their older zlib and SQLite would shadow
#                   the machine's)
#   --work DIR      prefix, logs, prepared data, runs, summary (default $TMPDIR/fathom-gpu-check);
#                   build-cuda/gpu-check keeps them between calls of a device session
#   --out DIR       where the results and a tarball of the logs are copied after every stage
#                   (a device session's $OUT)
#   --bench_work DIR  bench/train_gpu.sh's corpus, prepared data and runs (default WORK/train_gpu);
#                   a prepared-v32000/ made beforehand there (bench/train_gpu.sh --no_throughput
#                   on any machine) spares the bench_data stage
#   --budget S      seconds for the whole check (default 570: within one 10-minute command)
#   --tests SPEC    gpu: ctest -R "$GPU_TESTS" (default); cuda: the tests labelled cuda; all: every
#                   test; or test names
#   --limit S=N     stage S's own time limit N seconds (repeatable; e.g. build=600 on a machine
#                   with fewer cores); still within --budget
#   --stages LIST   run only these stages (their prerequisites' outputs must exist from a
#                   previous run), e.g. --stages "tp_big best_batch"; e2e: the quickstart's
#   --dry-run       print the stages and their commands; run nothing
#   --list-debs     print the Debian 12 packages this check needs (launch/offline-bundle.sh
#                   --minimal downloads them)
# Environment: CUDA_HOME (default /usr/local/cuda), CXX (the compiler env reports).
# The stages are called by name ("stage_$GC_STAGE"), which shellcheck cannot follow.
# shellcheck disable=SC2317
set -uo pipefail  # not -e: a failing stage is recorded in the table, and the check goes on

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$SELF")/.." && pwd)

# The Debian 12 packages that build and run Fathom here (../shared/design/GPU_MACHINE.md: about
# 17 MB): Abseil, protobuf 3.21 with protoc, GoogleTest, Open MPI with its runtime dependencies,
# SentencePiece, nlohmann-json, SQLite and zlib headers. Nothing of CUDA or torch: the wheel
# brings those.
list_debs() {
  cat <<'DEBS'
libabsl-dev libabsl20220623
libprotobuf-dev libprotobuf32 libprotobuf-lite32 libprotoc32 protobuf-compiler
libgtest-dev libgmock-dev
libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common libhwloc15 libevent-core-2.1-7
libevent-pthreads-2.1-7 libevent-2.1-7 libpmix2 libfabric1 libucx0 libibverbs1 librdmacm1
libnl-3-200 libnl-route-3-200 libpsm2-2 libpsm-infinipath1 libnuma1 libpciaccess0 libmunge2
libltdl7
libsentencepiece-dev libsentencepiece0
nlohmann-json3-dev
libsqlite3-dev libsqlite3-0 zlib1g-dev zlib1g
libgfortran5 libxnvctrl0 libudev1
DEBS
}

STAGES_DEFAULT="env unpack configure build tests bench_data equivalence tp_base tp_big tp_admin60 ablations admin100 best_batch max_batch"
STAGES_E2E="env unpack configure build prepare train translate score translate_cpu greedy"
STAGES_ALL="$STAGES_DEFAULT prepare train translate score translate_cpu greedy"
# The GPU tests of issue 13 (kernels, token layouts, the fused and sync-free step against the
# plain one, training on the device): what --tests gpu selects.
GPU_TESTS='kernels_|model_token_layout|train_step_equivalence|train_device'

# stage_limit STAGE: its time limit in seconds (--limit, or the default below), capped by what
# is left of the budget when it starts.
stage_limit() {
  local given
  given=$(echo "${GC_LIMITS:-}" | tr ' ' '\n' | sed -n "s/^$1=//p" | tail -1)
  if [ -n "$given" ]; then echo "$given"; return; fi
  case "$1" in
    env) echo 30 ;; unpack) echo 60 ;; configure) echo 120 ;; build) echo 300 ;; tests) echo 150 ;;
    bench_data) echo 150 ;; equivalence) echo 240 ;; tp_base) echo 240 ;; tp_big) echo 300 ;;
    tp_admin60) echo 360 ;; ablations) echo 240 ;; admin100) echo 180 ;; best_batch) echo 300 ;;
    max_batch) echo 300 ;;
    prepare) echo 60 ;; train) echo $((GC_TRAIN_SECONDS + 60)) ;; translate) echo 60 ;;
    score) echo 20 ;; translate_cpu) echo 120 ;; greedy) echo 90 ;;
  esac
}
# stage_needs STAGE: the stage whose output it uses; when that one ran in this run and did not
# pass, STAGE is skipped (see needs_met).
stage_needs() {
  case "$1" in
    configure) echo unpack ;; build) echo configure ;; tests | prepare) echo build ;;
    train) echo prepare ;; translate | translate_cpu | greedy) echo train ;; score) echo translate ;;
    bench_data) echo build ;;
    equivalence | tp_* | ablations | admin100 | best_batch | max_batch) echo bench_data ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# Helpers shared by the stages (run with GC_* from the environment).

# run CMD...: prints the command (shell-quoted), then runs it unless this is a dry run.
run() {
  printf '+'; printf ' %q' "$@"; printf '\n'
  [ "${GC_DRY_RUN:-0}" = 1 ] || "$@"
}
# run_to FILE CMD...: the same, with the command's output in FILE.
run_to() {
  local file=$1
  shift
  printf '+'; printf ' %q' "$@"; printf ' > %q\n' "$file"
  [ "${GC_DRY_RUN:-0}" = 1 ] || "$@" > "$file"
}
# key TEXT: the stage's key figure for the table.
key() { echo "$*" > "$GC_LOGS/$GC_STAGE.key"; echo "key figure: $*"; }
skip() { key "$*"; exit 77; }
fail() { key "$*"; echo "gpu_check: $GC_STAGE: $*" >&2; exit 1; }
# use_prefix: this stage runs the prefix's programs (protoc, mpicxx, mpirun, the test binaries):
# their libraries, Open MPI's relocation (OPAL_PREFIX), their directory on PATH. Only stages
# that run no Python call it.
use_prefix() {
  [ -n "$GC_PREFIX_LIBS" ] || return 0
  export LD_LIBRARY_PATH="$GC_PREFIX_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export OPAL_PREFIX="$GC_PREFIX/usr" PATH="$GC_PREFIX/usr/bin:$PATH"
  echo "environment: LD_LIBRARY_PATH=$LD_LIBRARY_PATH OPAL_PREFIX=$OPAL_PREFIX PATH=$GC_PREFIX/usr/bin:\$PATH"
}
ref_lines() { zcat "$ROOT/launch/sample/multi30k/test_2016_flickr.en.gz" | wc -l; }
# bleu FILE: the BLEU score on FILE's "BLEU = X ..." line.
bleu() { sed -nE 's/^BLEU = ([0-9.]+) .*/\1/p' "$1" | head -1; }

# ---------------------------------------------------------------------------------------------
# The stages. Each runs as `gpu_check.sh --run-stage NAME` under timeout(1): exit 0 passed,
# 77 skipped, anything else failed; key() gives the table its figure.

stage_env() {
  local gpu torch
  run nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  run "$GC_PYTHON" -c 'import sys, torch, numpy; print("python", sys.version.split()[0], "torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version(), "numpy", numpy.__version__, "GPU visible:", torch.cuda.is_available())'
  run "$GC_PYTHON" -c 'import nvidia.nccl as n; print("nvidia-nccl in", n.__path__[0])'
  run "$GC_CUDA_HOME/bin/nvcc" --version
  run "${CXX:-c++}" --version
  run cmake --version
  command -v ninja > /dev/null && run ninja --version
  [ "$GC_DRY_RUN" = 1 ] && return 0
  gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1) ||
    fail "nvidia-smi failed or is missing: no NVIDIA driver"
  [ -n "$gpu" ] || fail "nvidia-smi lists no GPU"
  torch=$("$GC_PYTHON" -c 'import torch; assert torch.cuda.is_available(); print(torch.__version__)' 2>/dev/null) ||
    fail "$GC_PYTHON: torch cannot see a GPU (or is missing): $gpu"
  [ -x "$GC_CUDA_HOME/bin/nvcc" ] || fail "no $GC_CUDA_HOME/bin/nvcc (set CUDA_HOME)"
  key "$gpu; torch $torch; nvcc $("$GC_CUDA_HOME/bin/nvcc" --version | sed -nE 's/.*release ([0-9.]+).*/\1/p')"
}

stage_unpack() {
  local debs=() deb stamp absent=() p
  [ -n "$GC_DEBS" ] || skip "no --debs: the machine's own packages"
  shopt -s nullglob
  debs=("$GC_DEBS"/*.deb)
  [ ${#debs[@]} -gt 0 ] || fail "$GC_DEBS holds no .deb"
  if [ -f "$GC_DEBS/SHA256SUMS" ]; then
    (cd "$GC_DEBS" && run sha256sum --check --quiet --strict SHA256SUMS) ||
      fail "$GC_DEBS/SHA256SUMS does not hold: the bundle is damaged"
  fi
  for p in $(list_debs); do
    compgen -G "$GC_DEBS/${p}_*.deb" > /dev/null || absent+=("$p")
  done
  # Not an error (the machine may have them), but the table says so; the log names them all.
  local note=""
  if [ ${#absent[@]} -gt 0 ]; then
    echo "listed packages not in $GC_DEBS: ${absent[*]}"
    note="; ${#absent[@]} listed packages not in --debs (${absent[*]:0:3}$([ ${#absent[@]} -gt 3 ] && echo ' ...'))"
  fi
  # The list of what is unpacked, so that a second run with the same .debs unpacks nothing.
  stamp=$(cd "$GC_DEBS" && stat -c '%n %s %Y' -- *.deb | sha256sum | cut -c1-16)
  if [ -f "$GC_PREFIX/.gpu_check-unpacked" ]; then
    if [ "$(cat "$GC_PREFIX/.gpu_check-unpacked")" = "$stamp" ]; then
      key "${#debs[@]} .debs already in $GC_PREFIX$note"
      return 0
    fi
    # Other .debs than last time: start afresh, so that nothing of the old ones stays. The stamp
    # says this script made the prefix.
    run rm -rf "$GC_PREFIX"
    run mkdir -p "$GC_PREFIX"
  elif [ -n "$(ls -A "$GC_PREFIX" 2>/dev/null)" ]; then
    fail "--prefix $GC_PREFIX is not empty and was not made by this script: refusing to unpack into it"
  fi
  for deb in "${debs[@]}"; do
    if command -v dpkg-deb > /dev/null; then
      run dpkg-deb -x "$deb" "$GC_PREFIX" || fail "dpkg-deb -x $deb failed"
    else
      # dpkg-deb's job by hand: a .deb is an ar archive whose data.tar.* holds the files (tar
      # cannot tell the compression of a pipe by itself).
      local member decompress
      member=$(ar t "$deb" | grep '^data\.tar') || fail "$deb: no data.tar member"
      case "$member" in
        *.xz) decompress=(-J) ;; *.zst) decompress=(--zstd) ;; *.gz) decompress=(-z) ;;
        *.bz2) decompress=(-j) ;; *) decompress=() ;;
      esac
      ar p "$deb" "$member" | run tar -x "${decompress[@]}" -f - -C "$GC_PREFIX" ||
        fail "$deb: cannot unpack its $member"
    fi
  done
  [ "$GC_DRY_RUN" = 1 ] && return 0
  echo "$stamp" > "$GC_PREFIX/.gpu_check-unpacked"
  key "${#debs[@]} .debs ($(du -shL "$GC_DEBS" | cut -f1)) into $GC_PREFIX$note"
}

stage_configure() {
  local torch_dir nccl gen=() prefix_path args=()
  torch_dir=$("$GC_PYTHON" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null) ||
    { [ "$GC_DRY_RUN" = 1 ] && torch_dir="<torch package of $GC_PYTHON>"; } ||
    fail "$GC_PYTHON cannot import torch"
  nccl=$("$GC_PYTHON" -c 'import nvidia.nccl as n; print(n.__path__[0])' 2>/dev/null) ||
    { [ "$GC_DRY_RUN" = 1 ] && nccl="<nvidia.nccl of $GC_PYTHON>"; } ||
    fail "$GC_PYTHON has no nvidia.nccl (pip's nvidia-nccl wheel): the NCCL backend cannot build"
  command -v ninja > /dev/null && gen=(-G Ninja)
  # As launch/install.sh --torch2: the wheel's share/cmake, not the torch directory itself (the
  # wheel carries protoc 3.13 and its headers, which FindProtobuf would take), and its lib/ first
  # among libraries, so that no other libtorch.so is found for the wheel's headers.
  prefix_path="$torch_dir/share/cmake"
  args+=("-DCMAKE_LIBRARY_PATH=$torch_dir/lib")
  if [ -n "$GC_PREFIX_LIBS" ]; then
    prefix_path="$prefix_path;$GC_PREFIX/usr"
    args+=(-DMPI_CXX_COMPILER="$GC_PREFIX/usr/bin/mpicxx.openmpi"
           -DMPIEXEC_EXECUTABLE="$GC_PREFIX/usr/bin/mpirun.openmpi"
           -DProtobuf_PROTOC_EXECUTABLE="$GC_PREFIX/usr/bin/protoc")
  fi
  command -v ccache > /dev/null && args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  use_prefix
  run cmake -S "$ROOT" -B "$GC_BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    "-DCMAKE_PREFIX_PATH=$prefix_path" -DCMAKE_CUDA_COMPILER="$GC_CUDA_HOME/bin/nvcc" \
    -DCUDAToolkit_ROOT="$GC_CUDA_HOME" -DNCCL_ROOT="$nccl" -DFATHOM_NCCL=ON "${args[@]}" ||
    fail "cmake failed (log above)"
  [ "$GC_DRY_RUN" = 1 ] && return 0
  key "$(grep -m1 -o 'NCCL backend with NCCL [^ ]*' "$GC_LOG" || echo 'configured')"
}

# select_tests: SELECTION, the ctest arguments that select --tests.
select_tests() {
  case "$GC_TESTS" in
    all) SELECTION=(-LE slurm) ;;  # the SLURM test installs SLURM with apt: not on this machine
    gpu) SELECTION=(-R "$GPU_TESTS") ;;
    cuda) SELECTION=(-L cuda) ;;
    *) SELECTION=(-R "^($(echo "$GC_TESTS" | xargs | tr ' ' '|'))\$") ;;
  esac
}

stage_build() {
  local targets=(--target fathom) names=() name tests=()
  select_tests
  if [ "$GC_TESTS" = all ]; then
    targets=()
  elif [ "$GC_DRY_RUN" = 1 ] && [ ! -f "$GC_BUILD/CTestTestfile.cmake" ]; then
    echo "(after configure: fathom and the test binaries of: ctest -N ${SELECTION[*]})"
  else
    mapfile -t names < <(ctest --test-dir "$GC_BUILD" -N "${SELECTION[@]}" | sed -nE 's/^ *Test +#[0-9]+: ([^ ]+).*/\1/p')
    # The binaries the selected tests run (a test may run another's binary, under mpiexec):
    # every word of their commands that is a file of this build made from tests/NAME.cc.
    # Scripts need only fathom.
    for name in $(ctest --test-dir "$GC_BUILD" -N -V "${SELECTION[@]}" | sed -n 's/^.*Test command: //p' |
                  tr -d '"' | tr ' ' '\n' | sed -n "s|^$GC_BUILD/tests/\([A-Za-z0-9_]*\)\$|\1|p" | sort -u); do
      [ -f "$ROOT/tests/$name.cc" ] && tests+=("$name") && targets+=(--target "$name")
    done
  fi
  use_prefix
  run cmake --build "$GC_BUILD" -j "$GC_JOBS" "${targets[@]}" || fail "build failed (log above)"
  [ "$GC_DRY_RUN" = 1 ] && return 0
  if [ "$GC_TESTS" = all ]; then
    key "every target"
  else
    key "fathom and ${#tests[@]} test binaries (${tests[*]:-none}) for the ${#names[@]} tests of ctest ${SELECTION[*]}"
  fi
}

stage_tests() {
  local summary
  select_tests
  use_prefix
  run ctest --test-dir "$GC_BUILD" "${SELECTION[@]}" --no-tests=error --output-on-failure --timeout 300
  local rc=$?
  [ "$GC_DRY_RUN" = 1 ] && return 0
  summary=$(grep -E '^[0-9]+% tests passed' "$GC_LOG" | tail -1)
  [ "$rc" = 0 ] || fail "${summary:-ctest failed (exit $rc): see the log}"
  key "$summary (${SELECTION[*]})"
}

# The quickstart config on the GPU: its own run and prepared directories under WORK, the
# training time limited, and the distributed section added (the config has none).
write_train_config() {
  local src=$ROOT/configs/multi30k_admin.pbtxt
  grep -q '^distributed' "$src" && fail "$src has a distributed section already: cannot add the CUDA one"
  for field in '^run_dir: ' 'prepared_dir: "' 'max_seconds: [0-9]'; do
    grep -q "$field" "$src" || fail "$src has no $field line to replace"
  done
  train_config() {
    sed -E -e "s|^run_dir: .*|run_dir: \"$GC_WORK/run-quickstart\"|" \
      -e "s|prepared_dir: \"[^\"]*\"|prepared_dir: \"$GC_WORK/data-bin-multi30k\"|" \
      -e "s|max_seconds: [0-9]+|max_seconds: $GC_TRAIN_SECONDS|" "$src"
    echo "# bench/gpu_check.sh: on the GPU, one rank."
    echo 'distributed { device: "cuda" precision: BF16 }'
  }
  echo "config $GC_WORK/quickstart_cuda.pbtxt: configs/multi30k_admin.pbtxt with"
  diff "$src" <(train_config) | sed -n 's/^> /  /p'
  [ "$GC_DRY_RUN" = 1 ] || train_config > "$GC_WORK/quickstart_cuda.pbtxt" ||
    fail "cannot write $GC_WORK/quickstart_cuda.pbtxt"
}

stage_prepare() {
  cd "$ROOT" || fail "cannot cd to $ROOT"
  write_train_config
  run "$GC_FATHOM" prepare --config "$GC_WORK/quickstart_cuda.pbtxt" --overwrite || fail "fathom prepare failed"
  [ "$GC_DRY_RUN" = 1 ] && return 0
  key "$(sed -nE 's/.*split train: read ([0-9]+), kept ([0-9]+).*/train: \2 of \1 pairs kept/p' "$GC_LOG" | head -1)"
}

stage_train() {
  local run_dir=$GC_WORK/run-quickstart rc=0 updates last valid
  cd "$ROOT" || fail "cannot cd to $ROOT"
  write_train_config
  run rm -rf "$run_dir"
  run "$GC_FATHOM" train --config "$GC_WORK/quickstart_cuda.pbtxt" || rc=$?
  [ "$GC_DRY_RUN" = 1 ] && return 0
  # "stopped at step N (reason)"; the last logged step's loss and tok/s; the last validation.
  updates=$(sed -nE 's/.*stopped at step ([0-9]+) \(([^)]*)\).*/\1 updates (\2)/p' "$GC_LOG" | tail -1)
  last=$(grep -E '\] step [0-9]+ \|' "$GC_LOG" | tail -1 |
    sed -nE 's/.*\] step ([0-9]+) \|.*\| loss ([0-9.]+) .*\| tok\/s ([0-9]+) .*/, step \1: loss \2, \3 tok\/s/p')
  valid=$(grep -E 'valid \| step' "$GC_LOG" | tail -1 | sed -nE 's/.*\| ppl ([0-9.]+).*/, valid ppl \1/p')
  [ -f "$run_dir/checkpoints/LATEST" ] || fail "exit $rc, no checkpoint${last}"
  # A crash after the last checkpoint (a segmentation fault at exit, 139) still fails the stage.
  [ "$rc" = 0 ] || fail "exit $rc${last}${valid}; checkpoint $(cat "$run_dir/checkpoints/LATEST") on disk"
  grep -q 'saved checkpoint' "$GC_LOG" || fail "exit 0 but no 'saved checkpoint' in the log"
  key "${updates:-? updates}${last}${valid}"
}

# translate_with DEVICE BEAM OUT: the quickstart checkpoint's translation of test_2016_flickr.
translate_with() {
  local input=$ROOT/launch/sample/multi30k/test_2016_flickr.de.gz
  run rm -f "$3"
  run "$GC_FATHOM" translate --device "$1" --beam "$2" --checkpoint "$GC_WORK/run-quickstart" \
    --input "$input" --output "$3" || fail "fathom translate --device $1 --beam $2 failed"
  [ "$GC_DRY_RUN" = 1 ] && return 0
  [ "$(wc -l < "$3")" = "$(ref_lines)" ] ||
    fail "$3: $(wc -l < "$3") lines for $(ref_lines) sources"
}

stage_translate() {
  translate_with cuda 4 "$GC_WORK/test.cuda.beam4.hyp"
  [ "$GC_DRY_RUN" = 1 ] && return 0
  key "$(sed -nE 's/.*translated ([0-9]+) lines in ([0-9.]+) s \(([0-9.]+) sentences\/s\).*/\1 lines, beam 4, \2 s (\3 sentences\/s)/p' "$GC_LOG" | tail -1)"
}

score_file() {
  run_to "$GC_WORK/test.ref" zcat "$ROOT/launch/sample/multi30k/test_2016_flickr.en.gz" ||
    fail "cannot write $GC_WORK/test.ref"
  run_to "$2" "$GC_FATHOM" score --hyp "$1" --ref "$GC_WORK/test.ref" || fail "fathom score --hyp $1 failed"
  [ "$GC_DRY_RUN" = 1 ] || cat "$2"
}

stage_score() {
  local score
  score_file "$GC_WORK/test.cuda.beam4.hyp" "$GC_WORK/test.cuda.beam4.bleu"
  [ "$GC_DRY_RUN" = 1 ] && return 0
  score=$(bleu "$GC_WORK/test.cuda.beam4.bleu")
  [ -n "$score" ] || fail "no 'BLEU = ' line from fathom score"
  awk -v b="$score" 'BEGIN {exit !(b >= 1)}' || fail "BLEU $score: under 1, the output is broken"
  key "$(head -1 "$GC_WORK/test.cuda.beam4.bleu")"
}

# bench ARGS...: bench/train_gpu.sh on the GPU with this check's fathom, data and Python (which
# runs without the prefix's libraries; the wrapper gives them to fathom alone). Its results and
# tables go to GC_BENCH_OUT, shared by the stages (--reuse: a run another stage made is not run
# again), its corpus, prepared data and runs to GC_BENCH_WORK.
bench() {
  run env "FATHOM_SHARED_DATA=$GC_DATA" "PYTHON=$GC_PYTHON" bash "$ROOT/bench/train_gpu.sh" "$GC_FATHOM" \
    --work "$GC_BENCH_WORK" --out "$GC_BENCH_OUT" --reuse "$@"
}
need_news() {
  [ -d "$GC_DATA/translation/news-de-en" ] || [ "$GC_DRY_RUN" = 1 ] ||
    skip "no $GC_DATA/translation/news-de-en (--data DIR)"
}
# bench_result NAME IMPL VARIANT: the last result line of such a run (any max_tokens).
bench_result() {
  [ -f "$GC_BENCH_OUT/results.txt" ] || return 0
  grep '^result ' "$GC_BENCH_OUT/results.txt" | grep " name=$1 " | grep " impl=$2 " | grep " variant=$3 " | tail -1
}
rfield() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | tail -1; }
# tps LINE: "123456 tok/s (spread 4%)", or the run's status.
tps() {
  [ -n "$1" ] || { echo "not run"; return; }
  [ "$(rfield "$1" status)" = ok ] || { rfield "$1" status | tr '[:lower:]' '[:upper:]'; return; }
  awk -v t="$(rfield "$1" tok_s)" -v s="$(rfield "$1" spread)" 'BEGIN {printf "%d tok/s (spread %.0f%%)", t, 100 * s}'
}
ratio() {
  { [ "$(rfield "$1" status)" = ok ] && [ "$(rfield "$2" status)" = ok ]; } || { echo "n/a"; return; }
  awk -v a="$(rfield "$1" tok_s)" -v b="$(rfield "$2" tok_s)" 'BEGIN {if (b > 0) printf "%.2fx", a / b; else print "n/a"}'
}

stage_bench_data() {
  need_news
  bench --no_throughput || fail "bench/train_gpu.sh could not prepare its data (log above)"
  [ "$GC_DRY_RUN" = 1 ] && return 0
  key "$(grep '^corpus ' "$GC_LOG" | tail -1)"
}

stage_equivalence() {
  local line
  need_news
  bench --equivalence --no_throughput
  local rc=$?
  [ "$GC_DRY_RUN" = 1 ] && return 0
  line=$(grep -E '^equivalence (PASS|FAIL)' "$GC_BENCH_OUT/equivalence.md" 2>/dev/null | tail -1)
  [ "$rc" = 0 ] || fail "${line:-bench/train_gpu.sh --equivalence failed (exit $rc)}"
  key "$line; $(grep -c '| PASS |' "$GC_BENCH_OUT/equivalence.md") curves within tolerance (OUT/bench/equivalence.md)"
}

# throughput MODEL: Fathom, eager and compile at 16384; passes when Fathom's run gave a figure.
throughput() {
  local f e c
  need_news
  bench --models "$1"
  local rc=$?
  [ "$GC_DRY_RUN" = 1 ] && return 0
  f=$(bench_result "$1" fathom default) e=$(bench_result "$1" eager default) c=$(bench_result "$1" compile default)
  local figure
  figure="Fathom $(tps "$f"), eager $(tps "$e"), compile $(tps "$c"); Fathom/eager $(ratio "$f" "$e") (target 1.5x), Fathom/compile $(ratio "$f" "$c") (target 1.0x); MFU Fathom $(rfield "$f" mfu)"
  { [ "$rc" = 0 ] && [ "$(rfield "$f" status)" = ok ]; } || fail "$figure"
  key "$figure"
}
stage_tp_base() { throughput base; }
stage_tp_big() { throughput big; }
stage_tp_admin60() { throughput admin60; }

stage_ablations() {
  local d v r figure=""
  need_news
  bench --models base --impls fathom --ablations --no_throughput
  local rc=$?
  [ "$GC_DRY_RUN" = 1 ] && return 0
  d=$(bench_result base fathom default)
  for v in fused_kernels=false token_layout=PACKED prefetch=0 log_every_steps=1 unoptimised; do
    r=$(bench_result base fathom "$v")
    figure="$figure${figure:+, }$v $(ratio "$d" "$r")"
  done
  [ "$rc" = 0 ] || fail "exit $rc; default/off: $figure"
  key "base, default / with it off: $figure"
}

stage_admin100() {
  local f
  need_news
  bench --models admin100 --impls fathom
  local rc=$?
  [ "$GC_DRY_RUN" = 1 ] && return 0
  f=$(bench_result admin100 fathom default)
  { [ "$rc" = 0 ] && [ "$(rfield "$f" status)" = ok ]; } || fail "admin100: $(tps "$f")"
  key "admin100 (checkpointing): $(tps "$f"), peak $(rfield "$f" peak_gib) GiB allocated, $(rfield "$f" nvsmi_mib) MiB used (nvidia-smi)"
}

stage_best_batch() {
  need_news
  bench --models big --best_batch --no_throughput --best_cap 65536
  local rc=$?
  [ "$GC_DRY_RUN" = 1 ] && return 0
  [ "$rc" = 0 ] || fail "exit $rc (OUT/bench/table.md has what finished)"
  key "$(grep -E '^\| big \| fathom \|' "$GC_BENCH_OUT/table.md" | tail -1 | cut -d'|' -f4-5 | tr -s ' ')"
}

stage_max_batch() {
  need_news
  bench --models "" --max_batch --max_batch_impls fathom || fail "without checkpointing: exit $?"
  bench --models "" --max_batch --max_batch_impls fathom --activation_checkpointing || fail "with checkpointing: exit $?"
  [ "$GC_DRY_RUN" = 1 ] && return 0
  key "$(sed -nE 's/.*activation_checkpointing=([a-z]+) largest_fitting=([0-9]+).*/checkpointing \1: \2/p' "$GC_BENCH_OUT/max_batch.txt" | paste -sd';' -)"
}

stage_translate_cpu() {
  local gpu cpu
  translate_with cpu 4 "$GC_WORK/test.cpu.beam4.hyp"
  score_file "$GC_WORK/test.cpu.beam4.hyp" "$GC_WORK/test.cpu.beam4.bleu"
  [ "$GC_DRY_RUN" = 1 ] && return 0
  cpu=$(bleu "$GC_WORK/test.cpu.beam4.bleu")
  gpu=$( [ -f "$GC_WORK/test.cuda.beam4.bleu" ] && bleu "$GC_WORK/test.cuda.beam4.bleu")
  [ -n "$gpu" ] || fail "CPU BLEU $cpu; no GPU BLEU to compare (the score stage)"
  awk -v a="$gpu" -v b="$cpu" 'BEGIN {d = a - b; exit !(d <= 0.1 && d >= -0.1)}' ||
    fail "beam 4 BLEU: GPU $gpu, CPU $cpu (more than 0.1 apart)"
  key "beam 4 BLEU: GPU $gpu, CPU $cpu"
}

stage_greedy() {
  local differ
  translate_with cuda 1 "$GC_WORK/test.cuda.beam1.hyp"
  translate_with cpu 1 "$GC_WORK/test.cpu.beam1.hyp"
  [ "$GC_DRY_RUN" = 1 ] && return 0
  differ=$(paste -d '\n' "$GC_WORK/test.cuda.beam1.hyp" "$GC_WORK/test.cpu.beam1.hyp" |
    awk 'NR % 2 {a = $0; next} a != $0 {n++} END {print n + 0}')
  [ "$differ" = 0 ] || fail "beam 1: $differ of $(ref_lines) lines differ between GPU and CPU"
  key "beam 1: all $(ref_lines) lines identical on GPU and CPU"
}

# ---------------------------------------------------------------------------------------------
if [ "${1:-}" = --run-stage ]; then
  # One stage, in the process group timeout(1) made for it; everything else from GC_*.
  GC_STAGE=$2
  "stage_$GC_STAGE"
  exit $?
fi

die() { echo "bench/gpu_check.sh: $*" >&2; exit 2; }
usage() { sed -n '/^#   bench\/gpu_check.sh \[/,/^#   bench\/gpu_check.sh --list-debs/p' "$SELF" | sed 's/^# \{0,1\}//' >&2; exit 2; }

WORK=${TMPDIR:-/tmp}/fathom-gpu-check DEBS='' DEBS_GIVEN=0 PREFIX='' BUILD=$ROOT/build-cuda DATA=''
OUT='' BENCH_WORK='' PYTHON=python3 BUDGET=570 TRAIN_SECONDS=60 TESTS=gpu JOBS=$(nproc)
STAGES=$STAGES_DEFAULT DRY_RUN=0 LIMITS=''

while [ $# -gt 0 ]; do
  case "$1" in
    --list-debs) list_debs | tr -s ' ' '\n'; exit 0 ;;
    --dry-run) DRY_RUN=1; shift; continue ;;
    -h | --help) usage ;;
  esac
  [ $# -ge 2 ] || usage
  case "$1" in
    --debs) DEBS=$2; DEBS_GIVEN=1 ;;
    --prefix) PREFIX=$2 ;;
    --build) BUILD=$2 ;;
    --data) DATA=$2 ;;
    --python) PYTHON=$2 ;;
    --work) WORK=$2 ;;
    --out) OUT=$2 ;;
    --bench_work) BENCH_WORK=$2 ;;
    --budget) BUDGET=$2 ;;
    --train_seconds | --train-seconds) TRAIN_SECONDS=$2 ;;
    --tests) TESTS=$2 ;;
    --jobs) JOBS=$2 ;;
    --stages) STAGES=$2; [ "$STAGES" = e2e ] && STAGES=$STAGES_E2E ;;
    --limit)
      if ! [[ "$2" =~ ^[a-z_]+=[1-9][0-9]*$ ]] || [[ " $STAGES_ALL " != *" ${2%%=*} "* ]]; then
        die "--limit $2: not STAGE=SECONDS with a stage of: $STAGES_ALL"
      fi
      LIMITS="$LIMITS $2" ;;
    *) usage ;;
  esac
  shift 2
done
for n in "$BUDGET" "$TRAIN_SECONDS" "$JOBS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive number of seconds or jobs"
done
for s in $STAGES; do
  case " $STAGES_ALL " in *" $s "*) ;; *) die "unknown stage '$s' (stages: $STAGES_ALL)" ;; esac
done
if [ "$DEBS_GIVEN" = 1 ]; then
  [ -d "$DEBS" ] || die "--debs $DEBS is not a directory"
elif compgen -G "$ROOT/offline-bundle/*.deb" > /dev/null; then
  DEBS=$ROOT/offline-bundle
fi
command -v timeout > /dev/null || die "needs timeout(1) (GNU coreutils)"
if [ -z "$DATA" ]; then
  for candidate in "${FATHOM_SHARED_DATA:-}" "$ROOT/../shared/data" "$ROOT/shared/data"; do
    if [ -n "$candidate" ] && [ -d "$candidate" ]; then DATA=$candidate; break; fi
  done
fi
# Absolute paths (the stages change directory); a dry run makes none of them.
WORK=$(realpath -m "$WORK") PREFIX=$(realpath -m "${PREFIX:-$WORK/prefix}") BUILD=$(realpath -m "$BUILD")
[ -z "$OUT" ] || OUT=$(realpath -m "$OUT")
BENCH_WORK=$(realpath -m "${BENCH_WORK:-$WORK/train_gpu}")
[ -z "$DEBS" ] || DEBS=$(realpath "$DEBS")
[ -z "$DATA" ] || DATA=$(realpath -m "$DATA")
# A Python named by path keeps working after the stages change directory; -s: a virtual
# environment's python is a symlink that must stay one.
case "$PYTHON" in */*) PYTHON=$(realpath -ms "$PYTHON") ;; esac
# (The build directory is cmake's to make.)
if [ "$DRY_RUN" = 0 ]; then
  mkdir -p "$WORK" "$PREFIX" ${OUT:+"$OUT"} || die "cannot make $WORK, $PREFIX or $OUT"
fi
ARCH=$(uname -m)-linux-gnu
PREFIX_LIBS=
[ -z "$DEBS" ] || PREFIX_LIBS="$PREFIX/usr/lib/$ARCH:$PREFIX/lib/$ARCH:$PREFIX/usr/lib/$ARCH/openmpi/lib"
LOGS=$WORK/logs

# fathom, for every stage and for bench/train_gpu.sh: a wrapper that gives the binary the
# prefix's libraries (its RUNPATH does not reach Open MPI's own dependencies) and nothing else
# of them, so that Python, started beside it, keeps the machine's zlib and SQLite.
FATHOM=$WORK/fathom
wrapper() {
  echo '#!/bin/sh'
  echo "# Written by bench/gpu_check.sh: $BUILD/launch/fathom with the libraries of $PREFIX."
  if [ -n "$PREFIX_LIBS" ]; then
    echo "export LD_LIBRARY_PATH=\"$PREFIX_LIBS\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
    echo "export OPAL_PREFIX=\"$PREFIX/usr\""
    echo "export PATH=\"$PREFIX/usr/bin:\$PATH\""
  fi
  echo "exec \"$BUILD/launch/fathom\" \"\$@\""
}

export GC_WORK=$WORK GC_LOGS=$LOGS GC_DEBS=$DEBS GC_PREFIX=$PREFIX GC_PREFIX_LIBS=$PREFIX_LIBS
export GC_BUILD=$BUILD GC_DATA=$DATA GC_PYTHON=$PYTHON GC_TESTS=$TESTS GC_JOBS=$JOBS
export GC_TRAIN_SECONDS=$TRAIN_SECONDS GC_FATHOM=$FATHOM GC_DRY_RUN=$DRY_RUN GC_LIMITS=$LIMITS
export GC_BENCH_WORK=$BENCH_WORK GC_BENCH_OUT=$WORK/bench
export GC_CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "no git")
[ "$commit" = "no git" ] || git -C "$ROOT" diff --quiet HEAD 2>/dev/null || commit="$commit + uncommitted changes"
HEADER="bench/gpu_check.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, $(hostname), $(nproc) cores"

if [ "$DRY_RUN" = 1 ]; then
  echo "$HEADER (dry run: nothing is run)"
  echo "work $WORK; out ${OUT:-none}; debs ${DEBS:-none, the packages of this machine}; prefix $PREFIX; build $BUILD"
  echo "data ${DATA:-none}; python $PYTHON; budget $BUDGET s; tests: $TESTS"
  echo "fathom: $FATHOM, a wrapper:"
  wrapper | sed 's/^/  /'
  DRY_KEYS=$(mktemp -d)
  for s in $STAGES; do
    echo
    need=$(stage_needs "$s")
    echo "== $s (limit $(stage_limit "$s") s, in its own process group${need:+; needs $need})"
    (GC_STAGE=$s GC_LOG=/dev/null GC_LOGS=$DRY_KEYS && "stage_$s") 2>&1
  done
  rm -rf "$DRY_KEYS"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# Runs the stages.
mkdir -p "$LOGS" && rm -f "$LOGS"/*.key
# The benchmark's results are this run's: an earlier run's (another build) are set aside, never
# reused.
if [ -f "$WORK/bench/results.txt" ]; then mv "$WORK/bench/results.txt" "$WORK/bench/results.txt.prev"; fi
{ wrapper > "$FATHOM.new" && chmod +x "$FATHOM.new" && mv "$FATHOM.new" "$FATHOM"; } || die "cannot write $FATHOM"
START=$SECONDS
declare -A STATUS
ROWS=()
CURRENT_PID='' CURRENT_STAGE=''
write_summary() {
  {
    echo "$HEADER; total $((SECONDS - START)) s of a $BUDGET s budget"
    echo
    echo "| stage | status | seconds | key figure |"
    echo "|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
  } > "$WORK/summary.md"
  publish
}
summary() {
  write_summary
  echo
  cat "$WORK/summary.md"
  if [ -s "$WORK/bench/table.md" ]; then
    echo
    cat "$WORK/bench/table.md"
  fi
  echo
  echo "logs in $LOGS; this table in $WORK/summary.md; the benchmark's in $WORK/bench/${OUT:+; copies in $OUT}"
}
# publish: the results so far, flat, into --out (a few files: a device session brings back 8),
# the logs as one tarball.
publish() {
  [ -n "$OUT" ] || return 0
  local f
  for f in "$WORK/summary.md" "$WORK/bench/table.md" "$WORK/bench/equivalence.md" "$WORK/bench/results.txt" \
           "$WORK/bench/max_batch.txt"; do
    [ -f "$f" ] && cp "$f" "$OUT/"
  done
  local dirs=(logs)
  [ -d "$WORK/bench/logs" ] && dirs+=(bench/logs)
  tar -czf "$OUT/logs.tar.gz.partial" -C "$WORK" "${dirs[@]}" 2>/dev/null &&
    mv "$OUT/logs.tar.gz.partial" "$OUT/logs.tar.gz"
  rm -f "$OUT/logs.tar.gz.partial"
}
on_signal() {
  trap '' INT TERM
  if [ -n "$CURRENT_PID" ]; then
    # TERM lets fathom save and stop (exit 75); timeout(1), signalled with its group, KILLs
    # whatever is left 10 s later. Nothing of the stage outlives this script.
    kill -TERM -- "-$CURRENT_PID" 2>/dev/null
    wait "$CURRENT_PID"
    kill -KILL -- "-$CURRENT_PID" 2>/dev/null
  fi
  ROWS+=("| ${CURRENT_STAGE:-?} | INTERRUPTED | | |")
  summary
  echo "bench/gpu_check.sh: interrupted" >&2
  exit 130
}
trap on_signal INT TERM
# needs_met STAGE: whether the stage it needs passed (or did not run here). The unpack stage may
# be skipped (no .debs: the machine's packages); a training run that wrote its checkpoint and
# then crashed at exit still leaves something to translate.
needs_met() {
  local need=$1
  [ -z "$need" ] || [ -z "${STATUS[$need]:-}" ] || [ "${STATUS[$need]}" = PASS ] ||
    { [ "$need" = unpack ] && [ "${STATUS[$need]}" = SKIP ]; } ||
    { [ "$need" = train ] && [ -f "$WORK/run-quickstart/checkpoints/LATEST" ]; }
}

for s in $STAGES; do
  # One log per stage: a rerun of some stages (--stages) keeps the others' logs.
  log=$LOGS/$s.log
  need=$(stage_needs "$s")
  left=$((BUDGET - (SECONDS - START)))
  limit=$(stage_limit "$s")
  [ "$limit" -le "$left" ] || limit=$left
  if ! needs_met "$need"; then
    STATUS[$s]=SKIP
    ROWS+=("| $s | SKIP | 0 | $need did not pass |")
    echo "== $s: skipped ($need did not pass)"
    continue
  fi
  if [ "$limit" -lt 5 ]; then
    STATUS[$s]=SKIP
    ROWS+=("| $s | SKIP | 0 | the $BUDGET s budget is spent |")
    echo "== $s: skipped (budget spent)"
    continue
  fi
  echo "== $s (limit $limit s; log $log)"
  t0=$(date +%s.%N)
  # timeout(1) puts itself and the stage in a new process group and signals the whole group at
  # the limit (TERM, then KILL 10 s later); anything of the group still alive afterwards (a
  # daemon a stage left behind) is killed too.
  timeout --kill-after=10 "$limit" env GC_LOG="$log" bash "$SELF" --run-stage "$s" < /dev/null > "$log" 2>&1 &
  CURRENT_PID=$! CURRENT_STAGE=$s
  wait "$CURRENT_PID"
  rc=$?
  kill -KILL -- "-$CURRENT_PID" 2>/dev/null
  CURRENT_PID=
  seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}')
  figure=$(cat "$LOGS/$s.key" 2>/dev/null)
  case "$rc" in
    0) status=PASS ;;
    77) status=SKIP ;;
    124 | 137) status=TIMEOUT; figure="killed at its $limit s limit${figure:+; $figure}" ;;
    *) status=FAIL; figure="exit $rc${figure:+: $figure}" ;;
  esac
  STATUS[$s]=$status
  ROWS+=("| $s | $status | $seconds | ${figure//|/\\|} |")
  echo "   $status in $seconds s${figure:+: $figure}"
  if [ "$status" = FAIL ] || [ "$status" = TIMEOUT ]; then tail -n 8 "$log" | sed 's/^/   | /'; fi
  write_summary
done

summary
# Every stage passed; unpack may be skipped (no .debs: the machine's own packages).
for s in $STAGES; do
  [ "${STATUS[$s]}" = PASS ] || { [ "$s" = unpack ] && [ "${STATUS[$s]}" = SKIP ]; } || exit 1
done
exit 0
