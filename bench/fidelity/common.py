"""Shared helpers of the bench/fidelity/ scripts (issue: fidelity experiments F1-F4).

Each fN_*.py script generates `fathom` configs into a work directory (runs/fidelity/fN/,
git-ignored), runs `fathom prepare` / `fathom train` / `fathom translate` / `fathom score` with
the binary from build/, parses the runs' train.log progress lines, and writes a Markdown table
and a PNG plot into bench/fidelity/results/. Nothing here needs TensorBoard.

Python: any python3 with matplotlib (the pin is in launch/torch2-requirements.txt), e.g.
    .venv-torch2/bin/pip install matplotlib==3.11.2
    .venv-torch2/bin/python bench/fidelity/f3_tied.py
"""

import math
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("FATHOM_SHARED_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))
RESULTS = os.path.join(ROOT, "bench", "fidelity", "results")


def die(message):
    print(f"bench/fidelity: {message}", file=sys.stderr)
    sys.exit(1)


def matplotlib_pin():
    try:
        with open(os.path.join(ROOT, "launch", "torch2-requirements.txt")) as f:
            for line in f:
                if line.startswith("matplotlib=="):
                    return line.split()[0]
    except OSError:
        pass
    return "matplotlib"


def pyplot():
    """matplotlib.pyplot on the Agg backend, or exit with the set-up line."""
    try:
        import matplotlib
    except ImportError:
        die(f"matplotlib is missing from {sys.executable}. Set up (bench/fidelity/README.md):\n"
            f"  python3 -m venv .venv-torch2   # or use the one launch/install.sh --torch2 made\n"
            f"  .venv-torch2/bin/pip install {matplotlib_pin()}\n"
            f"and run the script with .venv-torch2/bin/python.")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def shared(*parts):
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        die(f"missing shared data {path} (see ../shared/data/README.md; FATHOM_SHARED_DATA overrides"
            " the folder)")
    return path


def common_args(parser, default_work):
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cpu: the miniature (default size); cuda: the full size on GPUs")
    parser.add_argument("--full", action="store_true",
                        help="the full size (implied by --device cuda)")
    parser.add_argument("--ranks", type=int, default=0,
                        help="MPI ranks (default: 2 on cpu, 1 per visible GPU on cuda)")
    parser.add_argument("--work", default=os.path.join(ROOT, "runs", "fidelity", default_work),
                        help="work directory for configs, prepared data and runs")
    parser.add_argument("--out", default=RESULTS, help="where the table (.md) and plot (.png) go")
    parser.add_argument("--fathom", default=os.environ.get("FATHOM", ""),
                        help="fathom binary (default: $FATHOM, else build/launch/fathom)")
    parser.add_argument("--fresh", action="store_true",
                        help="rerun runs whose results are already in the work directory")


def resolve(args):
    """Fills in derived settings; snapshots the binary so that a rebuild cannot swap it mid-run."""
    args.full = args.full or args.device == "cuda"
    if args.ranks <= 0:
        args.ranks = 2 if args.device == "cpu" else max(1, gpu_count())
    args.work = os.path.abspath(args.work)
    args.out = os.path.abspath(args.out)
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    args.fathom = snapshot_fathom(args.fathom, args.work)
    return args


def gpu_count():
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=True).stdout
        return sum(1 for line in out.splitlines() if line.startswith("GPU"))
    except (OSError, subprocess.CalledProcessError):
        return 0


def snapshot_fathom(explicit, work, wait_seconds=1800):
    """Copies the fathom binary into WORK/bin once it exists and has stopped changing.

    build/launch/fathom may be missing or half-linked while someone rebuilds; the copy keeps one
    consistent binary for the whole experiment."""
    source = explicit or os.path.join(ROOT, "build", "launch", "fathom")
    deadline = time.time() + wait_seconds
    while explicit:  # a binary named on purpose is used as it is
        if os.access(source, os.X_OK):
            return os.path.abspath(source)
        die(f"{source} is not an executable file")
    while True:
        try:
            before = os.stat(source)
            time.sleep(3)
            after = os.stat(source)
            if (before.st_mtime, before.st_size) == (after.st_mtime, after.st_size) and \
                    os.access(source, os.X_OK) and time.time() - after.st_mtime > 10:
                break
        except FileNotFoundError:
            pass
        if time.time() > deadline:
            die(f"{source} is missing or still changing after {wait_seconds} s (build it: "
                "flock /tmp/fathom-build.lock cmake --build build -j2 --target fathom)")
        print(f"bench/fidelity: waiting for {source} (missing or being linked)", flush=True)
        time.sleep(20)
    os.makedirs(os.path.join(work, "bin"), exist_ok=True)
    target = os.path.join(work, "bin", "fathom")
    shutil.copy2(source, target + ".tmp")
    os.replace(target + ".tmp", target)
    return target


def env():
    e = dict(os.environ)
    e["OMP_NUM_THREADS"] = "1"
    e.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return e


def mpirun(ranks):
    if ranks <= 1:
        return []
    cmd = ["mpirun", "-np", str(ranks), "--oversubscribe", "-x", "OMP_NUM_THREADS", "-x",
           "OMP_WAIT_POLICY"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


def run(cmd, log_path=None, check=True, ranks=1):
    """Runs a fathom command (niced, under mpirun when ranks > 1) from the repository root."""
    full = ["nice", "-n", "15"] + mpirun(ranks) + cmd
    COMMANDS_RUN.append(cmd[1] if len(cmd) > 1 else cmd[0])
    print("+ " + " ".join(full), flush=True)
    if log_path:
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path or os.devnull, "w") as log:
        proc = subprocess.run(full, cwd=ROOT, env=env(), stdout=log, stderr=subprocess.STDOUT)
    if check and proc.returncode != 0:
        tail = ""
        if log_path:
            with open(log_path, errors="replace") as f:
                tail = "".join(f.readlines()[-15:])
        die(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.returncode


def train_to_log(args, config, run_dir, name):
    """Runs `fathom train` afresh in run_dir and returns its TrainLog. A run that fails with an
    error in its log is a result (a diverged model), not a broken script, so only a failure the
    log does not explain stops the script."""
    shutil.rmtree(run_dir, ignore_errors=True)
    code = run([args.fathom, "train", "--config", config],
               log_path=os.path.join(args.work, "runs", name + ".out"), check=False,
               ranks=args.ranks)
    log = TrainLog(os.path.join(run_dir, "train.log"))
    if code != 0 and log.error is None:
        die(f"fathom train failed ({code}) without an error in its log: see "
            f"{args.work}/runs/{name}.out")
    return log


def save_figure(fig, out_dir, file_name):
    """Lays out and writes fig as out_dir/file_name, saying where."""
    fig.tight_layout()
    png = os.path.join(out_dir, file_name)
    fig.savefig(png)
    print(f"bench/fidelity: wrote {rel(png)}")


def write_config(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def rel(path):
    """A path relative to the repository root when it lies below it (configs stay readable)."""
    r = os.path.relpath(path, ROOT)
    return r if not r.startswith("..") else path


def prepare(fathom, config_path, prepared_dir):
    """fathom prepare, once: an existing prepared directory with a header is reused."""
    if os.path.exists(os.path.join(prepared_dir, "train.header")):
        return
    run([fathom, "prepare", "--config", config_path, "--overwrite"],
        log_path=prepared_dir.rstrip("/") + ".prepare.log")


# ---- train.log --------------------------------------------------------------------------------

_LINE = re.compile(r"^\[[^\]]*\] (.*)$")
_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$|^-?(nan|inf)$", re.I)


def _fields(text):
    """'step 20 | epoch 0.20 | loss 8.52 | ...' -> {'step': 20.0, 'epoch': 0.2, 'loss': 8.52, ...}."""
    out = {}
    for part in text.split(" | "):
        words = part.strip().split(" ", 1)
        if len(words) == 2:
            value = words[1].split(" ")[0]
            if _NUMBER.match(value):
                out[words[0]] = float(value)
            else:
                out[words[0]] = words[1]
    return out


class TrainLog:
    """What a run's train.log says: progress lines, validations, initial loss, how it ended."""

    def __init__(self, path):
        self.path = path
        self.steps = []        # dicts of each progress line: step, loss, nll, lr, gnorm, ...
        self.valid = []        # dicts of each validation line: step, nll, ppl, bleu / exact
        self.initial = None    # dict: loss, expected, log_vocab, logit_variance, far_above
        self.omegas = None     # Admin's first/last omegas line
        self.mu = None         # DT-Fixup's mu line
        self.stopped = None    # the "stopped at step ..." line
        self.error = None      # the first ERROR line (NaN, ...)
        self.text = ""
        if not os.path.exists(path):
            return
        with open(path, errors="replace") as f:
            self.text = f.read()
        for raw in self.text.splitlines():
            m = _LINE.match(raw)
            if not m:
                continue
            line = m.group(1)
            if raw.find(" ERROR] ") > 0 and self.error is None:
                self.error = line
            if line.startswith("step ") and " | loss " in line:
                self.steps.append(_fields(line))
            elif line.startswith("valid | "):
                v = _fields(line[len("valid | "):])
                em = re.search(r"exact match ([\d.]+)%", line)
                if em:
                    v["exact_match"] = float(em.group(1))
                self.valid.append(v)
            elif line.startswith("initial loss "):
                self.initial = _initial_loss(line)
            elif line.startswith("Admin omegas"):
                self.omegas = line
            elif line.startswith("mu = "):
                self.mu = line
            elif line.startswith("stopped at step"):
                self.stopped = line

    def last(self, key, n=1):
        """Mean of the last n progress values of `key` (None without progress lines)."""
        values = [s[key] for s in self.steps if isinstance(s.get(key), float)][-n:]
        return sum(values) / len(values) if values else None

    def last_valid(self, key="nll"):
        values = [v[key] for v in self.valid if isinstance(v.get(key), float)]
        return values[-1] if values else None

    def best_valid(self, key="nll", lower=True):
        values = [v[key] for v in self.valid if isinstance(v.get(key), float)]
        if not values:
            return None
        return min(values) if lower else max(values)

    def diverged(self):
        return self.error is not None and ("NaN" in self.error or "infinite" in self.error)


def _initial_loss(line):
    # "initial loss 9.57 (expected 9.49: log V = 8.99 plus half the logit variance 1.0)" or
    # "initial loss 13.1 is far above 9.49, the loss of ... (log V = 8.99 plus half ... 1.0)..."
    number = r"(-?[\d.]+(?:e[-+]?\d+)?|nan|inf)"
    out = {"loss": float(re.match(r"initial loss " + number, line).group(1))}
    m = re.search(r"(?:expected|far above) " + number, line)
    if m:
        out["expected"] = float(m.group(1))
    m = re.search(r"log V = " + number, line)
    if m:
        out["log_vocab"] = float(m.group(1))
    m = re.search(r"logit variance " + number, line)
    if m:
        out["logit_variance"] = float(m.group(1))
    out["far_above"] = "far above" in line
    return out


# ---- tables -----------------------------------------------------------------------------------


def fmt(value, digits=2):
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(fmt(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


def write_result(out_dir, name, title, table, notes=""):
    """Writes OUT/NAME.md (title, the table, notes) and prints it."""
    path = os.path.join(out_dir, name + ".md")
    text = f"## {title}\n\n{table}\n{notes}"
    with open(path, "w") as f:
        f.write(text)
    print(text)
    print(f"bench/fidelity: wrote {rel(path)}")
    return path


def machine_line():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu})"


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


COMMANDS_RUN = []  # fathom commands this invocation ran (run() appends)


def footer(args, started):
    minutes = (time.time() - started) / 60
    trains = sum(1 for c in COMMANDS_RUN if c == "train")
    record = os.path.join(args.work, "wall_minutes.txt")
    if trains:
        with open(record, "w") as f:
            f.write(f"{minutes:.1f} {time.strftime('%Y-%m-%d')} {git_commit()}\n")
        timing = f"made {time.strftime('%Y-%m-%d')} at HEAD {git_commit()}, {minutes:.1f} min"
    else:
        try:
            with open(record) as f:
                made, day, commit = f.read().split()
            timing = (f"made {day} at HEAD {commit}, {made} min (this table re-read them from the "
                      "work directory)")
        except (OSError, ValueError):
            timing = f"{minutes:.1f} min (runs reused from the work directory)"
    return (f"\nRuns on {machine_line()}, device {args.device}, {args.ranks} rank(s), "
            f"{'full' if args.full else 'default (miniature)'} size, fathom as built from the "
            f"working tree: {timing}.\n")


def unigram_nll(prepared_dir, eos=3):
    """Cross-entropy (nats per target piece, EOS included) of the validation targets under the
    training targets' unigram distribution (add-one smoothed): the loss of a model that ignores
    its input and its history, where a stuck model sits."""
    import numpy as np

    def counts(split):
        tokens = np.fromfile(os.path.join(prepared_dir, split + ".tokens"), dtype=np.uint16)
        index = np.fromfile(os.path.join(prepared_dir, split + ".index"), dtype=np.uint64)
        pieces = [tokens[int(index[2 * i + 1]):int(index[2 * i + 2])]
                  for i in range((len(index) - 1) // 2)]
        c = np.bincount(np.concatenate(pieces), minlength=65536).astype(np.float64)
        c[eos] += len(pieces)
        return c

    train, valid = counts("train"), counts("valid")
    vocab = int(max(np.nonzero(train)[0].max(), np.nonzero(valid)[0].max())) + 1
    p = (train[:vocab] + 1) / (train[:vocab].sum() + vocab)
    return float(-(valid[:vocab] * np.log(p)).sum() / valid[:vocab].sum())
