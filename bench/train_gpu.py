#!/usr/bin/env python3
"""The PyTorch side of bench/train_gpu.sh, and the arithmetic of its tables.

The PyTorch side: the model Fathom trains, written in PyTorch as a user would (nn.Linear layers,
F.scaled_dot_product_attention, bf16 autocast, torch.optim.Adam(fused=True), a DataLoader whose
workers build the batches into pinned memory), trained eagerly or under torch.compile on one CUDA
GPU with the batches Fathom trains on. `--device cpu` runs the same step on the CPU in float32 (no
autocast): slow, and there only so that tests can train a tiny model without a GPU
(tests/bench_train_gpu_test.sh).

Equal to Fathom's model (models/): encoder-decoder Transformer, Post-LN or Admin residuals
(LN(omega * x + dropout(f(x))), omega a learned d-vector initialised to Admin's constant
sqrt((N+1)/ln(N+1) - 1), N = 2 x encoder layers or 3 x decoder layers), no final LayerNorm,
one embedding table shared by source, target and output (TIE_ALL), embeddings scaled by
sqrt(d) with padding rows zeroed, sinusoidal positions, key projections without bias, ReLU FFN,
dropout on embeddings and residual branches only, label-smoothed cross-entropy summed and
normalised by target tokens, Adam (beta2 0.98, no weight decay), the inverse-sqrt schedule.
Fathom's initialisation is mirrored, and `--init_from` loads the weights of a Fathom checkpoint,
so that the loss curves of both can be compared update by update (--compare).

The batches are Fathom's: data::Batcher (data/batcher.cc) is re-implemented below for one rank
(same buckets, cuts, SplitMix64 shuffles and order), and data::MakeBatch's layout is used
(source + EOS; BOS + target; target + EOS). Two differences in the step, both what a PyTorch
user writes: the logits and the loss are computed at every target position, padding included
(ignore_index), where Fathom computes them at real positions only; and decoder self-attention is
causal only (is_causal, so SDPA may use flash attention): a right-padded key is never before a
real query, so real positions see the same keys as under Fathom's masks. MFU counts the same
useful work for both (train_flops, models/flops.h).

Modes
  default        warm-up updates, then timed windows; prints one `result key=value ...` line with
                 the median window, the min and max and the relative spread (max - min) / median
  --max_batch    the largest data.batch.max_tokens whose first training epoch runs without
                 running out of memory: doubles from --max_tokens, then bisects; each try is
                 a fresh process (--probe)
  --print_env    versions and device, for bench/README.md
  --fathom_log LOG   the same `result` line for a `fathom train` log of the same batches
  --compare REF RUN...   per-update loss curves against REF; PASS/FAIL, exit 1 on FAIL
  --table RESULTS    the markdown tables of a file of `result` lines, with the issue's targets
The last three need numpy only: torch is imported by the modes that train (2-20 s).
"""
import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np

PAD, UNK, BOS, EOS = 0, 1, 2, 3  # fixed by `fathom prepare` (proto/config.proto)

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s from NVIDIA's data sheets, matched as
# substrings of the device name; the first match wins, so the specific names come first. "NVIDIA
# H100 80GB HBM3" is the SXM part. models/flops.cc PeakBf16Tflops has the same table.
PEAK_BF16_TFLOPS = [
    ("GH200", 989.4),
    ("H200 NVL", 835.5),
    ("H200", 989.4),
    ("H100 NVL", 835.5),
    ("H100 PCIe", 756.5),
    ("H100", 989.4),
    ("A100", 312.0),
]

# What "fair" means here (bench/README.md, method): every timed window at least this many
# updates, at least this many windows, and at least one untimed window before them.
FAIR_WINDOW_STEPS = 50
FAIR_WINDOWS = 3

# The issue's targets, printed beside the figures.
TARGET_VS_EAGER = 1.5
TARGET_VS_COMPILE = 1.0
TARGET_MFU_BIG = 0.50

# bf16's unit roundoff: 8 significant bits, so a rounding is off by at most 2^-8 relative.
BF16_U = 2.0 ** -8


def peak_tflops(device_name, override):
    if override > 0:
        return override, "given"
    for key, value in PEAK_BF16_TFLOPS:
        if key in (device_name or ""):
            return value, f"table ({key})"
    return float("nan"), "unknown device: pass --peak_tflops"


def log(msg):
    print(f"train_gpu: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Data: Fathom's shards and batcher.

class Shard:
    """SPLIT.tokens (uint16 or uint32 ids) and SPLIT.index (uint64 offsets: example i is source
    [o[2i], o[2i+1]) and target [o[2i+1], o[2i+2]))."""

    def __init__(self, prepared, split="train"):
        offsets = np.memmap(f"{prepared}/{split}.index", dtype="<u8", mode="r").astype(np.int64)
        tokens_path = f"{prepared}/{split}.tokens"
        total = int(offsets[-1])
        token_bytes = os.path.getsize(tokens_path) // max(total, 1)
        if token_bytes not in (2, 4):
            raise SystemExit(f"{tokens_path}: {os.path.getsize(tokens_path)} bytes for {total} tokens")
        self.tokens = np.memmap(tokens_path, dtype="<u2" if token_bytes == 2 else "<u4", mode="r")
        n = (len(offsets) - 1) // 2
        self.size = n
        self.src_start = offsets[0:2 * n:2]
        self.tgt_start = offsets[1:2 * n:2]
        self.src_len = self.tgt_start - self.src_start
        self.tgt_len = offsets[2:2 * n + 1:2] - self.tgt_start


_M64 = (1 << 64) - 1


def _mix64(x):
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


class _Rng:
    """data/batcher.cc's Rng: SplitMix64 with rejection-sampled bounded draws."""

    def __init__(self, seed, epoch, stream):
        self.state = _mix64(seed & _M64) ^ _mix64((_mix64(epoch) + stream) & _M64)

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & _M64
        return _mix64(self.state)

    def below(self, n):
        threshold = ((1 << 64) - n) % n
        r = self.next()
        while r < threshold:
            r = self.next()
        return r % n


def _fisher_yates(a, begin, end, rng):
    for i in range(end - begin - 1, 0, -1):
        j = rng.below(i + 1)
        a[begin + i], a[begin + j] = a[begin + j], a[begin + i]


class FathomBatcher:
    """data::Batcher for one rank (world_size 1, so step 3 splits nothing and step 4 is a
    shuffle of the batches sorted by cost), with Fathom's defaults: bucket_width 8,
    size_multiple 8, shuffle on."""

    def __init__(self, src_len, tgt_len, max_tokens, seed, bucket_width=8, size_multiple=8):
        self.cost = (np.maximum(src_len, tgt_len) + 1).astype(np.int64)
        n = len(self.cost)
        if int(self.cost.max()) > max_tokens:
            raise SystemExit(f"an example costs {int(self.cost.max())} tokens, more than max_tokens={max_tokens}")
        self.seed, self.width = seed, bucket_width
        cost = self.cost.tolist()
        num_buckets = max(cost) // bucket_width + 1
        begin = [0] * (num_buckets + 1)
        bucket_max = [0] * num_buckets
        for c in cost:
            begin[c // bucket_width + 1] += 1
            bucket_max[c // bucket_width] = max(bucket_max[c // bucket_width], c)
        for b in range(1, num_buckets + 1):
            begin[b] += begin[b - 1]
        self.bucket_begin = begin
        order = [0] * n
        nxt = begin[:-1]
        for i, c in enumerate(cost):
            order[nxt[c // bucket_width]] = i
            nxt[c // bucket_width] += 1
        self.bucket_order = order
        self.cuts = []
        start = 0
        while start < n:
            size = 1
            while start + size < n:
                c = bucket_max[cost[order[start + size]] // bucket_width]
                if c > max_tokens // (size + 1):
                    break
                size += 1
            if size >= size_multiple:
                size -= size % size_multiple
            self.cuts.append(size)
            start += size

    def batches_per_epoch(self):
        return len(self.cuts)

    def epoch(self, epoch):
        """The example lists of `epoch`, in training order."""
        order = list(self.bucket_order)
        rng = _Rng(self.seed, epoch, 1)
        for b in range(len(self.bucket_begin) - 1):
            _fisher_yates(order, self.bucket_begin[b], self.bucket_begin[b + 1], rng)
        cost = self.cost
        spans, begin = [], 0
        for size in self.cuts:
            spans.append((begin, size, size * int(cost[order[begin:begin + size]].max())))
            begin += size
        by_cost = sorted(range(len(spans)), key=lambda s: spans[s][2])  # stable, as std::stable_sort
        steps = list(range(len(spans)))
        _fisher_yates(steps, 0, len(steps), _Rng(self.seed, epoch, 2))
        return [order[spans[by_cost[s]][0]:spans[by_cost[s]][0] + spans[by_cost[s]][1]] for s in steps]


class HostBatch:
    """data::MakeBatch's layout on the host, with the lengths the counters need."""

    def __init__(self, shard, examples):
        ex = np.asarray(examples, dtype=np.int64)
        sl, tl = shard.src_len[ex], shard.tgt_len[ex]
        B, S, T = len(ex), int(sl.max()) + 1, int(tl.max()) + 1
        rows = np.arange(B)
        self.src = np.full((B, S), PAD, np.int64)
        cols = np.arange(S - 1)
        keep = cols[None, :] < sl[:, None]
        self.src[:, :S - 1][keep] = shard.tokens[(shard.src_start[ex][:, None] + cols[None, :])[keep]]
        self.src[rows, sl] = EOS
        cols = np.arange(T - 1)
        keep = cols[None, :] < tl[:, None]
        target = shard.tokens[(shard.tgt_start[ex][:, None] + cols[None, :])[keep]]
        self.tout = np.full((B, T), PAD, np.int64)
        self.tout[:, :T - 1][keep] = target
        self.tout[rows, tl] = EOS
        self.tin = np.full((B, T), PAD, np.int64)
        self.tin[:, 0] = BOS
        self.tin[:, 1:][keep] = target
        self.s = sl + 1  # real source positions (EOS included), as Fathom counts them
        self.t = tl + 1  # real target positions (BOS/EOS included)
        self.target_tokens = int(self.t.sum())
        self.tokens = int(self.s.sum()) + self.target_tokens


class Lengths:
    """The real source and target positions of one planned batch, without building it."""

    def __init__(self, shard, examples):
        ex = np.asarray(examples, dtype=np.int64)
        self.s = shard.src_len[ex] + 1
        self.t = shard.tgt_len[ex] + 1
        self.target_tokens = int(self.t.sum())
        self.tokens = int(self.s.sum()) + self.target_tokens


def train_flops(batch, a):
    """Model FLOPs of one update on the real (non-padding) tokens, as models/flops.cc computes them
    for Fathom's progress line (tests/model_flops_test.cc checks one batch of this function's
    against it): 3 x forward (backward = 2 x forward), counting matrix multiplies only (2 per
    multiply-add):
      encoder, per layer:  8 d^2 s  (q, k, v, out)  + 4 d f s (FFN)  + 4 d s^2 (QK^T, AV)
      decoder, per layer:  8 d^2 t  (self q, k, v, out) + 2 d t (t + 1) (causal QK^T, AV: half)
                           + 4 d^2 t (cross q, out) + 4 d^2 s (cross k, v) + 4 d t s + 4 d f t
      output layer:        2 d V t
    summed over the examples, s and t their source and target positions. Activation
    checkpointing's recomputation is not counted: it is not useful work."""
    d, f, V = a.d_model, a.ffn, a.vocab
    s, t = batch.s.astype(np.float64), batch.t.astype(np.float64)
    S1, S2, T1 = s.sum(), (s * s).sum(), t.sum()
    TT, TS = (t * (t + 1)).sum(), (t * s).sum()
    encoder = a.encoder_layers * ((8 * d * d + 4 * d * f) * S1 + 4 * d * S2)
    decoder = a.decoder_layers * ((12 * d * d + 4 * d * f) * T1 + 4 * d * d * S1 + 2 * d * TT + 4 * d * TS)
    return 3.0 * (encoder + decoder + 2 * d * V * T1)


def param_count(a):
    """Parameters of the model (Fathom's and the PyTorch side's): one tied table; per attention
    q, v, out with bias and k without; per FFN two layers with bias; per residual a LayerNorm
    (and Admin's omega)."""
    d, f = a.d_model, a.ffn
    attention = 4 * d * d + 3 * d
    ffn = 2 * d * f + f + d
    residual = 2 * d + (d if a.norm == "admin" else 0)
    encoder = attention + ffn + 2 * residual
    decoder = 2 * attention + ffn + 3 * residual
    return a.vocab * d + a.encoder_layers * encoder + a.decoder_layers * decoder


def make_plan(a, steps):
    """The shard, batcher and the example lists of the first `steps` updates, planned before any
    clock starts (re-planning at an epoch boundary is a Python loop over every example)."""
    shard = Shard(a.prepared)
    batcher = FathomBatcher(shard.src_len, shard.tgt_len, a.max_tokens, a.seed)
    plan, epoch = [], 0
    while len(plan) < steps:
        plan += batcher.epoch(epoch)
        epoch += 1
    return shard, batcher, plan[:steps]


# ---------------------------------------------------------------------------------------------
# Windows, results and their tables (numpy only).

def window_stats(rates):
    """The median of the windows' tok/s, their min and max, and the relative spread
    (max - min) / median: how much the windows disagree, the benchmark's own noise."""
    if not rates:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "spread": float("nan")}
    median = statistics.median(rates)
    lo, hi = min(rates), max(rates)
    return {"median": median, "min": lo, "max": hi, "spread": (hi - lo) / median if median > 0 else float("nan")}


def is_fair(a, graphs_in_timed=0):
    return (a.window_steps >= FAIR_WINDOW_STEPS and a.windows >= FAIR_WINDOWS
            and a.warmup_steps >= a.window_steps and graphs_in_timed == 0)


def window_fields(rates, a, graphs_in_timed=0):
    st = window_stats(rates)
    return {"tok_s": f"{st['median']:.0f}", "tok_s_min": f"{st['min']:.0f}", "tok_s_max": f"{st['max']:.0f}",
            "spread": f"{st['spread']:.4f}", "windows": ",".join(f"{r:.0f}" for r in rates),
            "window_steps": a.window_steps, "timed_windows": a.windows, "warmup_steps": a.warmup_steps,
            "fair": "yes" if is_fair(a, graphs_in_timed) else "no"}


def format_result(fields):
    for k, v in fields.items():
        if " " in str(v) or "=" in str(k):
            raise ValueError(f"result field {k}={v!r} would not parse")
    return "result " + " ".join(f"{k}={v}" for k, v in fields.items())


def parse_result(line):
    return dict(item.split("=", 1) for item in line.split()[1:] if "=" in item)


_STEP_LINE = re.compile(r"\] step (\d+) \| .*?\| loss (\S+) \| .*?\| tok/s ([0-9.]+) \|(.*)$")
_COUNTS = re.compile(r" (\d+) parameters; (\d+) training examples, (\d+) batches per epoch")


def parse_fathom_log(path):
    """A `fathom train` log: its progress lines as (step, loss, tok/s, peak GiB or None) and the
    parameter, example and batch counts of its start-up line."""
    lines, counts = [], None
    with open(path, errors="replace") as f:
        for text in f:
            m = _STEP_LINE.search(text)
            if m:
                mem = re.search(r"\| mem ([0-9.]+) GiB", m.group(4))
                lines.append((int(m.group(1)), float(m.group(2)), float(m.group(3)),
                              float(mem.group(1)) if mem else None))
                continue
            c = _COUNTS.search(text)
            if c and counts is None:
                counts = tuple(int(x) for x in c.groups())
    return lines, counts


def fathom_windows(lines, step_tokens, warmup, window, windows):
    """Each timed window's tok/s from progress lines that each cover the updates since the line
    before (eval.log_every_steps of them): a window's seconds are the sum over its lines of their
    tokens / tok/s, its tokens those of its updates (step_tokens[i] is update i + 1's). With one
    line per window this is that line's tok/s. Raises ValueError when the lines do not tile the
    window (no line just before it or none at its end)."""
    by_step = {step: tps for step, _, tps, _ in lines}
    rates = []
    for w in range(windows):
        first, last = warmup + w * window + 1, warmup + (w + 1) * window
        if last not in by_step:
            raise ValueError(f"no progress line at step {last} (the end of timed window {w + 1})")
        if first > 1 and first - 1 not in by_step:
            raise ValueError(f"no progress line at step {first - 1}, just before timed window {w + 1}")
        seconds, begin = 0.0, first
        for end in sorted(s for s in by_step if first <= s <= last):
            if by_step[end] <= 0:
                raise ValueError(f"step {end}: tok/s {by_step[end]}")
            seconds += sum(step_tokens[begin - 1:end]) / by_step[end]
            begin = end + 1
        rates.append(sum(step_tokens[first - 1:last]) / seconds)
    return rates


def summarize_fathom(a):
    """The `result` line of a `fathom train` log of the benchmark's batches."""
    steps = a.warmup_steps + a.windows * a.window_steps
    shard, batcher, plan = make_plan(a, steps)
    lengths = [Lengths(shard, ex) for ex in plan]
    lines, counts = parse_fathom_log(a.fathom_log)
    fields = {"name": a.name, "impl": "fathom", "variant": a.variant, "max_tokens": a.max_tokens}
    try:
        rates = fathom_windows(lines, [b.tokens for b in lengths], a.warmup_steps, a.window_steps, a.windows)
    except ValueError as e:
        log(f"{a.fathom_log}: {e}")
        fields["status"] = "failed"
        print(format_result(fields), flush=True)
        sys.exit(1)
    timed = lengths[a.warmup_steps:]
    flop_per_token = sum(train_flops(b, a) for b in timed) / sum(b.tokens for b in timed)
    peak, _ = peak_tflops(a.device_name, a.peak_tflops)
    median = window_stats(rates)["median"]
    timed_losses = [loss for step, loss, _, _ in lines if step > a.warmup_steps]
    mems = [m for _, _, _, m in lines if m is not None]
    f_params, f_examples, f_batches = counts or ("?", "?", "?")
    agree = (f_params, f_examples, f_batches) == (param_count(a), shard.size, batcher.batches_per_epoch())
    fields.update(window_fields(rates, a))
    fields.update({
        "flop_per_token": f"{flop_per_token:.6g}", "mfu": f"{median * flop_per_token / (peak * 1e12):.4f}",
        "peak_tflops": f"{peak}", "params": f_params, "examples": f_examples, "batches_per_epoch": f_batches,
        "check": "agree" if agree else "MISMATCH", "steps": max((s for s, _, _, _ in lines), default=0),
        "loss": f"{statistics.mean(timed_losses):.4f}" if timed_losses else "nan",
        "peak_gib": f"{max(mems):.2f}" if mems else "n/a", "log_every": a.log_every, "status": "ok"})
    if not agree:
        log(f"MISMATCH: Fathom {f_params}/{f_examples}/{f_batches}, this plan {param_count(a)}/{shard.size}/"
            f"{batcher.batches_per_epoch()} (parameters/examples/batches per epoch)")
    print(format_result(fields), flush=True)


# Loss curves: a list of (first update, last update, mean loss per target token over them).

def read_curve(path):
    """A curve from a `fathom train` log (each progress line the mean over the updates since the
    one before) or from a loss file of this script (`STEP LOSS` per line, one per update)."""
    lines, _ = parse_fathom_log(path)
    if lines:
        curve, prev = [], 0
        for step, loss, _, _ in sorted(lines):
            curve.append((prev + 1, step, loss))
            prev = step
        return curve
    curve = []
    with open(path, errors="replace") as f:
        for text in f:
            m = re.match(r"^(\d+) (\S+)$", text.strip())
            if m:
                curve.append((int(m.group(1)), int(m.group(1)), float(m.group(2))))
    return curve


def coarsen(curve, spans):
    """The means of a finer curve over the spans of a coarser one (equal weight per update, as
    Fathom's progress line averages); None where the finer curve does not cover a span."""
    per_update = {}
    for first, last, loss in curve:
        if first != last:
            return None
        per_update[first] = loss
    out = []
    for first, last in spans:
        values = [per_update.get(s) for s in range(first, last + 1)]
        if any(v is None for v in values):
            return None
        out.append(sum(values) / len(values))
    return out


def compare_curve(reference, run, rtol, rtol_first):
    """Differences of `run` against `reference` at the spans of the coarser of the two; the
    tolerance at each point is rtol x the reference loss (rtol_first at the first update, where
    both start from the same weights)."""
    ref_spans = [(f, l) for f, l, _ in reference]
    run_spans = [(f, l) for f, l, _ in run]
    if run_spans == ref_spans:
        spans, ref_v, run_v = ref_spans, [x for _, _, x in reference], [x for _, _, x in run]
    elif all(f == l for f, l in ref_spans):
        spans, ref_v, run_v = run_spans, coarsen(reference, run_spans), [x for _, _, x in run]
    else:
        spans, ref_v, run_v = ref_spans, [x for _, _, x in reference], coarsen(run, ref_spans)
    if ref_v is None or run_v is None or not spans:
        return {"error": "the curves do not cover the same updates"}
    diffs = [abs(x - y) if math.isfinite(x) and math.isfinite(y) else float("inf") for x, y in zip(ref_v, run_v)]
    tols = [(rtol_first if f == l == 1 else rtol) * abs(r) for (f, l), r in zip(spans, ref_v)]
    worst = max(range(len(diffs)), key=lambda i: diffs[i] / tols[i] if tols[i] > 0 else float("inf"))
    first_update = diffs[0] if spans[0] == (1, 1) else None
    return {"points": len(spans), "width": spans[0][1] - spans[0][0] + 1, "diffs": diffs, "tols": tols,
            "worst": worst, "worst_span": spans[worst], "max_diff": max(diffs), "mean_diff": statistics.mean(diffs),
            "first_update": first_update, "first": run_v[0], "last": run_v[-1],
            "pass": all(d <= t for d, t in zip(diffs, tols))}


def curve_drop(curve, points=10):
    """How far the curve falls: the mean of its first `points` values minus that of its last."""
    values = [x for _, _, x in curve]
    k = max(1, min(points, len(values) // 2))
    return statistics.mean(values[:k]) - statistics.mean(values[-k:])


def run_compare(a):
    files = a.compare
    labels = a.labels.split(",") if a.labels else [os.path.basename(f) for f in files]
    if len(labels) != len(files):
        raise SystemExit("--labels: one label per --compare file")
    curves = [read_curve(f) for f in files]
    reference = curves[0]
    if not reference:
        print(f"equivalence FAIL: {files[0]} holds no losses")
        sys.exit(1)
    updates = reference[-1][1]
    drop = curve_drop(reference)
    need = a.min_drop_tolerances * a.rtol * abs(reference[-1][2])
    print(f"equivalence: reference {labels[0]} ({updates} updates, loss {reference[0][2]:.4f} -> "
          f"{reference[-1][2]:.4f}, falls {drop:.4f}); tolerance {a.rtol:.3g} x loss "
          f"({a.rtol_first:.3g} x loss at update 1, same weights)")
    print()
    print("| run | points (updates each) | max abs diff (updates) | its tolerance | mean abs diff | "
          "update 1 diff | loss first -> last | verdict |")
    print("|---|---|---|---|---|---|---|---|")
    ok = True
    if drop <= need:
        ok = False
        print(f"| {labels[0]} | {len(reference)} | | | | | {reference[0][2]:.4f} -> {reference[-1][2]:.4f} | "
              f"FAIL: falls {drop:.4f}, not more than {need:.4f}: a flat curve tells nothing |")
    for label, curve in zip(labels[1:], curves[1:]):
        if not curve:
            ok = False
            print(f"| {label} | 0 | | | | | | FAIL: no losses |")
            continue
        c = compare_curve(reference, curve, a.rtol, a.rtol_first)
        if "error" in c:
            ok = False
            print(f"| {label} | {len(curve)} | | | | | | FAIL: {c['error']} |")
            continue
        ok = ok and c["pass"]
        f, l = c["worst_span"]
        first = "-" if c["first_update"] is None else f"{c['first_update']:.2g}"
        print(f"| {label} | {c['points']} ({c['width']}) | {c['diffs'][c['worst']]:.4g} ({f}-{l}) | "
              f"{c['tols'][c['worst']]:.4g} | {c['mean_diff']:.3g} | {first} | {c['first']:.4f} -> {c['last']:.4f} | "
              f"{'PASS' if c['pass'] else 'FAIL'} |")
    print()
    print(f"equivalence {'PASS' if ok else 'FAIL'}: {len(files) - 1} runs against {labels[0]} over {updates} updates")
    sys.exit(0 if ok else 1)


def _num(x):
    try:
        v = float(x)
        return v if math.isfinite(v) else None
    except (TypeError, ValueError):
        return None


def _tps(r):
    """'123,456 [110,000-130,000, 17%]' for a result, or its status."""
    if r is None:
        return "-"
    if r.get("status", "ok") != "ok":
        return r.get("status", "?").upper()
    med, lo, hi, sp = (_num(r.get(k)) for k in ("tok_s", "tok_s_min", "tok_s_max", "spread"))
    if med is None:
        return "n/a"
    text = f"{med:,.0f}"
    if lo is not None and hi is not None and sp is not None:
        text += f" [{lo:,.0f}-{hi:,.0f}, {100 * sp:.0f}%]"
    if r.get("fair") == "no":
        text += " (not fair)"
    return text


def _ratio(x, y, target=None):
    a, b = (_num(r.get("tok_s")) if r and r.get("status", "ok") == "ok" else None for r in (x, y))
    if a is None or b is None or b == 0:
        return "n/a"
    text = f"{a / b:.2f}x"
    if target is not None:
        text += " met" if a / b >= target else " MISSED"
    return text


def _mfu(r):
    v = _num(r.get("mfu")) if r and r.get("status", "ok") == "ok" else None
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _mem(r):
    if not r or r.get("status", "ok") != "ok":
        return "-"
    nvsmi = _num(r.get("nvsmi_mib"))
    peak = _num(r.get("peak_gib")) or _num(r.get("max_alloc_gib"))
    parts = []
    if peak is not None:
        parts.append(f"{peak:.1f}")
    if nvsmi is not None:
        parts.append(f"({nvsmi / 1024:.1f})")
    return " ".join(parts) or "n/a"


ABLATION_LABELS = {
    "default": "default (every optimisation on)",
    "fused_kernels=false": "distributed.fused_kernels false",
    "token_layout=PACKED": "model.token_layout PACKED (AUTO is PADDED on CUDA)",
    "prefetch=0": "data.batch.prefetch 0",
    "log_every_steps=1": "eval.log_every_steps 1 (a read every update)",
    "unoptimised": "all four off (the equivalence check's reference)",
    "activation_checkpointing": "model.activation_checkpointing true (a cost, not an optimisation)",
}


def print_table(path):
    results = []
    with open(path) as f:
        for line in f:
            if line.startswith("result "):
                results.append(parse_result(line))
    # The latest result for each (model, impl, variant, max_tokens).
    latest, order = {}, []
    for r in results:
        key = (r.get("name"), r.get("impl"), r.get("variant", "default"), r.get("max_tokens"))
        if key not in latest:
            order.append(key)
        latest[key] = r
    models = list(dict.fromkeys(k[0] for k in order))
    default_rows = [k for k in order if k[2] == "default"]
    base_tokens = {}
    for name in models:
        sizes = sorted({int(k[3]) for k in default_rows if k[0] == name and k[3]})
        if sizes:
            base_tokens[name] = str(sizes[0])
    shown = set()
    any_row = next(iter(latest.values()), {})
    print(f"Throughput: source + target tokens/s (real tokens), median of {any_row.get('timed_windows', '?')} "
          f"timed windows of {any_row.get('window_steps', '?')} updates after {any_row.get('warmup_steps', '?')} "
          "untimed, [min-max, (max - min) / median]; GPU memory: peak allocated GiB (nvidia-smi GiB).")
    print()
    print(f"| model | max_tokens | Fathom | PyTorch eager | torch.compile | Fathom/eager (target {TARGET_VS_EAGER}x) | "
          f"Fathom/compile (target {TARGET_VS_COMPILE}x) | MFU Fathom / eager / compile | memory Fathom / eager / compile |")
    print("|---|---|---|---|---|---|---|---|---|")
    targets = []
    for name in models:
        if name not in base_tokens:
            continue
        m = base_tokens[name]
        f, e, c = (latest.get((name, impl, "default", m)) for impl in ("fathom", "eager", "compile"))
        if not (f or e or c):
            continue
        shown.update((name, impl, "default", m) for impl in ("fathom", "eager", "compile"))
        scope = f" ({c.get('compile_scope')})" if c and c.get("compile_scope") else ""
        check = " MISMATCH" if f and f.get("check") == "MISMATCH" else ""
        print(f"| {name}{check} | {m} | {_tps(f)} | {_tps(e)} | {_tps(c)}{scope} | "
              f"{_ratio(f, e, TARGET_VS_EAGER)} | {_ratio(f, c, TARGET_VS_COMPILE)} | "
              f"{_mfu(f)} / {_mfu(e)} / {_mfu(c)} | {_mem(f)} / {_mem(e)} / {_mem(c)} |")
        if name in ("base", "big", "admin60"):
            targets.append(f"{name} Fathom/eager {_ratio(f, e, TARGET_VS_EAGER)}, Fathom/compile {_ratio(f, c, TARGET_VS_COMPILE)}")
    ablations = [k for k in order if k[1] == "fathom" and k[2] in ABLATION_LABELS and k[2] != "default"]
    if ablations:
        print()
        print("What each optimisation is worth: Fathom with one of them off (a config override each).")
        print()
        print("| model | max_tokens | run | tok/s [min-max, spread] | default / this |")
        print("|---|---|---|---|---|")
        for name in models:
            for m in sorted({k[3] for k in ablations if k[0] == name}, key=int):
                d = latest.get((name, "fathom", "default", m))
                print(f"| {name} | {m} | {ABLATION_LABELS['default']} | {_tps(d)} | 1.00x |")
                for variant in ABLATION_LABELS:
                    r = latest.get((name, "fathom", variant, m))
                    if variant != "default" and r:
                        shown.add((name, "fathom", variant, m))
                        print(f"| {name} | {m} | {ABLATION_LABELS[variant]} | {_tps(r)} | {_ratio(d, r)} |")
    searched = [k for k in order if k[2] == "best_batch"]
    if searched:
        print()
        print("Best batch per side: every max_tokens tried (doubling, then bisecting), the largest that "
              "trained the run's updates and the fastest.")
        print()
        print("| model | impl | largest that fits: max_tokens, tok/s | fastest: max_tokens, tok/s, MFU | first out of memory | tried |")
        print("|---|---|---|---|---|---|")
        for name, impl in dict.fromkeys((k[0], k[1]) for k in searched):
            keys = [k for k in order if k[0] == name and k[1] == impl and k[2] in ("default", "best_batch")]
            shown.update(keys)
            tries = [latest[k] for k in keys]
            fits = [r for r in tries if r.get("status", "ok") == "ok" and _num(r.get("tok_s")) is not None]
            ooms = sorted(int(r["max_tokens"]) for r in tries if r.get("status") == "oom")
            tried = ", ".join(f"{int(r['max_tokens'])}{'' if r in fits else ' ' + r.get('status', '?')}"
                              for r in sorted(tries, key=lambda r: int(r["max_tokens"])))
            if not fits:
                print(f"| {name} | {impl} | none | none | {ooms[0] if ooms else '-'} | {tried} |")
                continue
            largest = max(fits, key=lambda r: int(r["max_tokens"]))
            fastest = max(fits, key=lambda r: _num(r["tok_s"]))
            print(f"| {name} | {impl} | {largest['max_tokens']}, {_num(largest['tok_s']):,.0f} | "
                  f"{fastest['max_tokens']}, {_num(fastest['tok_s']):,.0f}, {_mfu(fastest)} | "
                  f"{ooms[0] if ooms else 'none'} | {tried} |")
            if name == "big" and impl == "fathom":
                v = _num(fastest.get("mfu"))
                targets.append(f"big Fathom MFU at its best batch {_mfu(fastest)} (target {100 * TARGET_MFU_BIG:.0f}%: "
                               f"{'met' if v is not None and v >= TARGET_MFU_BIG else 'MISSED'})")
    others = [k for k in order if k not in shown]
    if others:
        print()
        print("Other runs:")
        print()
        print("| model | impl | variant | max_tokens | tok/s [min-max, spread] | MFU | memory |")
        print("|---|---|---|---|---|---|---|")
        for k in others:
            r = latest[k]
            print(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | {_tps(r)} | {_mfu(r)} | {_mem(r)} |")
    if targets:
        print()
        print("targets: " + "; ".join(targets))
    unfair = [k for k in order if latest[k].get("fair") == "no"]
    if unfair:
        print(f"note: {len(unfair)} runs are not fair by this benchmark's rule (windows of at least "
              f"{FAIR_WINDOW_STEPS} updates, at least {FAIR_WINDOWS} of them, one untimed window first, no "
              "compilation while timed): their figures are for checking, not for comparing")


# ---------------------------------------------------------------------------------------------
# Fathom checkpoints (checkpoint/, proto/checkpoint.proto), read without protobuf's runtime: the
# wire format of CheckpointMeta's few fields is decoded by hand.

def _varint(b, i):
    x = shift = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return x, i


def _proto_fields(b):
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(b, i)
        elif wire == 1:
            value, i = b[i:i + 8], i + 8
        elif wire == 5:
            value, i = b[i:i + 4], i + 4
        elif wire == 2:
            n, i = _varint(b, i)
            value, i = b[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wire}")
        yield field, wire, value


_CHECKPOINT_DTYPES = {1: "<f4", 2: "<f8"}  # TensorMeta.DType FLOAT32, FLOAT64: what parameters are


def checkpoint_dir(path):
    """A checkpoint directory from itself, RUN/checkpoints or RUN (their LATEST)."""
    for candidate in (path, os.path.join(path, "checkpoints")):
        latest = os.path.join(candidate, "LATEST")
        if os.path.isfile(latest):
            with open(latest) as f:
                return os.path.join(candidate, f.read().strip())
    return path


def read_fathom_checkpoint(path):
    """{name: numpy array} of a checkpoint's float tensors."""
    path = checkpoint_dir(path)
    with open(os.path.join(path, "meta.pb"), "rb") as f:
        meta = f.read()
    tensors = {}
    blob = np.memmap(os.path.join(path, "tensors.bin"), dtype=np.uint8, mode="r")
    for field, _, value in _proto_fields(meta):
        if field != 2:
            continue
        t = {"shape": []}
        for g, wire, v in _proto_fields(value):
            if g == 1:
                t["name"] = v.decode()
            elif g == 2:
                t["dtype"] = v
            elif g == 3:
                if wire == 2:  # packed
                    j = 0
                    while j < len(v):
                        x, j = _varint(v, j)
                        t["shape"].append(x)
                else:
                    t["shape"].append(v)
            elif g == 4:
                t["offset"] = v
            elif g == 5:
                t["size"] = v
        dtype = _CHECKPOINT_DTYPES.get(t.get("dtype"))
        if dtype is None:
            continue
        count = int(np.prod(t["shape"])) if t["shape"] else 1
        if count * np.dtype(dtype).itemsize != t["size"]:
            raise SystemExit(f"{path}: tensor {t['name']}: {t['size']} bytes for shape {t['shape']}")
        raw = blob[t["offset"]:t["offset"] + t["size"]]
        tensors[t["name"]] = np.frombuffer(raw.tobytes(), dtype=dtype).reshape(t["shape"])
    return tensors


def fathom_name(name):
    """Fathom's checkpoint name of a parameter of the PyTorch side's model."""
    if name == "table":
        return "model.source_embeddings.table"
    return "model." + re.sub(r"^(encoder|decoder)\.(\d+)\.", r"\1.layers.\2.", name)


# ---------------------------------------------------------------------------------------------
# The PyTorch side. Its classes are made by torch_side(), so that the modes above run without
# importing torch.

def torch_side():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint as checkpoint_call

    def sinusoids(n, d):
        """models/embeddings.cc SinusoidalPositions."""
        pos = torch.arange(n, dtype=torch.float).unsqueeze(1)
        div = torch.exp(torch.arange(0, d, 2, dtype=torch.float) * (-math.log(10000.0) / d))
        pe = torch.zeros(n, d)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)[:, : d // 2]
        return pe

    def admin_omega(sublayers):
        """models/initialisation.cc AdminConstantOmega."""
        return math.sqrt((sublayers + 1) / math.log(sublayers + 1) - 1)

    class Attention(nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.heads, self.d_head = heads, d // heads
            self.q_proj = nn.Linear(d, d)
            self.k_proj = nn.Linear(d, d, bias=False)  # as Fathom: a key bias gets no gradient
            self.v_proj = nn.Linear(d, d)
            self.out_proj = nn.Linear(d, d)

        def forward(self, x, memory, keep=None, causal=False):
            B, T, _ = x.shape
            S = memory.size(1)
            q = self.q_proj(x).view(B, T, self.heads, self.d_head).transpose(1, 2)
            k = self.k_proj(memory).view(B, S, self.heads, self.d_head).transpose(1, 2)
            v = self.v_proj(memory).view(B, S, self.heads, self.d_head).transpose(1, 2)
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, is_causal=causal)
            return self.out_proj(context.transpose(1, 2).reshape(B, T, self.heads * self.d_head))

    class FeedForward(nn.Module):
        def __init__(self, d, ffn):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(d, ffn), nn.Linear(ffn, d)

        def forward(self, x):
            return self.fc2(F.relu(self.fc1(x)))

    class Residual(nn.Module):
        """Post-LN: LN(x + dropout(f)); Admin: LN(omega * x + dropout(f))."""

        def __init__(self, d, dropout, omega):
            super().__init__()
            self.norm = nn.LayerNorm(d)
            self.omega = nn.Parameter(torch.full((d,), omega)) if omega is not None else None
            self.dropout = dropout

        def forward(self, x, f):
            f = F.dropout(f, self.dropout, self.training)
            return self.norm((x * self.omega if self.omega is not None else x) + f)

    class EncoderLayer(nn.Module):
        def __init__(self, d, heads, ffn, dropout, omega):
            super().__init__()
            self.self_attention, self.ffn = Attention(d, heads), FeedForward(d, ffn)
            self.attention_residual = Residual(d, dropout, omega)
            self.ffn_residual = Residual(d, dropout, omega)

        def forward(self, x, keep):
            x = self.attention_residual(x, self.self_attention(x, x, keep))
            return self.ffn_residual(x, self.ffn(x))

    class DecoderLayer(nn.Module):
        def __init__(self, d, heads, ffn, dropout, omega):
            super().__init__()
            self.self_attention, self.cross_attention = Attention(d, heads), Attention(d, heads)
            self.ffn = FeedForward(d, ffn)
            self.self_residual = Residual(d, dropout, omega)
            self.cross_residual = Residual(d, dropout, omega)
            self.ffn_residual = Residual(d, dropout, omega)

        def forward(self, y, memory, memory_keep):
            y = self.self_residual(y, self.self_attention(y, y, causal=True))
            y = self.cross_residual(y, self.cross_attention(y, memory, memory_keep))
            return self.ffn_residual(y, self.ffn(y))

    class Seq2Seq(nn.Module):
        def __init__(self, a):
            super().__init__()
            d = a.d_model
            self.table = nn.Parameter(torch.empty(a.vocab, d))  # source, target and output (TIE_ALL)
            self.register_buffer("positions", sinusoids(1024, d), persistent=False)
            admin = a.norm == "admin"
            enc_omega = admin_omega(2 * a.encoder_layers) if admin else None
            dec_omega = admin_omega(3 * a.decoder_layers) if admin else None
            self.encoder = nn.ModuleList(EncoderLayer(d, a.heads, a.ffn, a.dropout, enc_omega)
                                         for _ in range(a.encoder_layers))
            self.decoder = nn.ModuleList(DecoderLayer(d, a.heads, a.ffn, a.dropout, dec_omega)
                                         for _ in range(a.decoder_layers))
            self.scale, self.dropout = math.sqrt(d), a.dropout
            # As a user checkpoints: each layer through torch.utils.checkpoint (non-reentrant),
            # which replays the layer's dropout masks in backward.
            self.checkpointing = a.activation_checkpointing

        @torch.no_grad()
        def initialise(self):
            """models/initialisation.cc InitialiseDefault (omegas keep their Admin constant)."""
            nn.init.normal_(self.table, 0.0, self.table.size(1) ** -0.5)
            self.table[PAD].zero_()

            def xavier(linear, gain):
                nn.init.xavier_uniform_(linear.weight, gain)
                if linear.bias is not None:
                    nn.init.zeros_(linear.bias)

            for m in self.modules():
                if isinstance(m, Attention):
                    for proj in (m.q_proj, m.k_proj, m.v_proj):
                        xavier(proj, 1 / math.sqrt(2))
                    xavier(m.out_proj, 1.0)
                elif isinstance(m, FeedForward):
                    xavier(m.fc1, 1.0)
                    xavier(m.fc2, 1.0)

        @torch.no_grad()
        def load_fathom(self, path):
            """Every parameter from a Fathom checkpoint (same model config); raises on any
            parameter it lacks or whose shape differs."""
            tensors = read_fathom_checkpoint(path)
            for name, p in self.named_parameters():
                source = tensors.get(fathom_name(name))
                if source is None:
                    raise SystemExit(f"{path}: no {fathom_name(name)} for the PyTorch parameter {name}")
                if tuple(source.shape) != tuple(p.shape):
                    raise SystemExit(f"{path}: {fathom_name(name)} has shape {source.shape}, {name} {tuple(p.shape)}")
                p.copy_(torch.from_numpy(source.astype(np.float32)))

        def embed(self, ids):
            x = F.embedding(ids, self.table)
            x = x * ids.ne(PAD).unsqueeze(-1).to(x.dtype)
            x = x * self.scale + self.positions[: ids.size(1)]
            return F.dropout(x, self.dropout, self.training)

        def run(self, layer, *args):
            if self.checkpointing and self.training:
                return checkpoint_call(layer, *args, use_reentrant=False)
            return layer(*args)

        def forward(self, src, tin):
            B, S = src.shape
            src_keep = src.ne(PAD).view(B, 1, 1, S)  # true where a key may be attended to
            x = self.embed(src)
            for layer in self.encoder:
                x = self.run(layer, x, src_keep)
            y = self.embed(tin)
            for layer in self.decoder:
                y = self.run(layer, y, x, src_keep)
            return F.linear(y, self.table)

    class SummedLoss(nn.Module):
        """Forward under bf16 autocast on CUDA (float32 on the CPU), then label-smoothed
        cross-entropy in float32, summed over real target positions (what Fathom's loss.cc
        computes: (1 - eps) nll + eps / V sum_j -log p_j, PyTorch's label_smoothing too)."""

        def __init__(self, model, vocab, smoothing, device):
            super().__init__()
            self.model, self.vocab, self.smoothing = model, vocab, smoothing
            self.device_type, self.bf16 = device.type, device.type == "cuda"

        def forward(self, src, tin, tout):
            with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.bf16):
                logits = self.model(src, tin)
            return F.cross_entropy(logits.float().view(-1, self.vocab), tout.view(-1), ignore_index=PAD,
                                   label_smoothing=self.smoothing, reduction="sum")

    class PlanDataset(torch.utils.data.Dataset):
        """Update i's batch of the plan, built in a DataLoader worker."""

        def __init__(self, shard, plan):
            self.shard, self.plan = shard, plan

        def __len__(self):
            return len(self.plan)

        def __getitem__(self, i):
            b = HostBatch(self.shard, self.plan[i])
            return torch.from_numpy(b.src), torch.from_numpy(b.tin), torch.from_numpy(b.tout), b.target_tokens

    def make_optimizer(params, lr):
        # Fathom: Adam, betas (0.9, 0.98), eps 1e-8, no weight decay (AdamW with weight decay 0 is
        # the same update). The fused kernel where this PyTorch has one for the device.
        try:
            return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.98), eps=1e-8, fused=True), "fused"
        except (TypeError, RuntimeError, ValueError):
            return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.98), eps=1e-8, foreach=True), "foreach"

    def dynamo_counter(group, key=None):
        try:
            from torch._dynamo.utils import counters
            return int(counters[group][key]) if key is not None else sum(counters[group].values())
        except Exception:  # private API: absent or renamed in some version
            return -1

    def synchronize(device):
        """Waits for the device's queued work, so that the clock measures it."""
        if device.type == "cuda":
            torch.cuda.synchronize()

    def memory_fields(device):
        """The CUDA caching allocator's peaks; the CPU has no such counters."""
        if device.type != "cuda":
            return {"max_alloc_gib": "n/a", "max_reserved_gib": "n/a"}
        return {"max_alloc_gib": f"{torch.cuda.max_memory_allocated() / 2**30:.2f}",
                "max_reserved_gib": f"{torch.cuda.max_memory_reserved() / 2**30:.2f}"}

    def device_name(device):
        if device.type == "cuda":
            return torch.cuda.get_device_name(device)
        return f"CPU ({torch.get_num_threads()} threads)"

    def inverse_sqrt(step, peak, warmup):
        """trainer/lr_schedule.cc INVERSE_SQRT."""
        s = max(step, 1)
        if warmup == 0:
            return peak
        return peak * s / warmup if s <= warmup else peak * math.sqrt(warmup / s)

    class Trainer:
        def __init__(self, a, steps):
            self.a = a
            self.device = torch.device(a.device)
            torch.manual_seed(a.seed)
            self.shard, self.batcher, self.plan = make_plan(a, steps)
            self.lengths = [Lengths(self.shard, ex) for ex in self.plan]
            # The batches come from a DataLoader, as a user would feed a model: workers build
            # them (forked before CUDA starts here) and a thread pins them; the copies to the GPU
            # do not block. Fathom's batches, in Fathom's order.
            cuda = self.device.type == "cuda"
            workers = a.loader_workers
            self.loader = iter(torch.utils.data.DataLoader(
                PlanDataset(self.shard, self.plan), batch_size=None, shuffle=False, num_workers=workers,
                pin_memory=cuda, prefetch_factor=4 if workers > 0 else None,
                persistent_workers=workers > 0, multiprocessing_context="fork" if workers > 0 else None))
            with self.device:
                self.model = Seq2Seq(a)
                self.model.initialise()
            if a.init_from:
                self.model.load_fathom(a.init_from)
            self.model.train()
            self.params = list(self.model.parameters())
            self.num_params = sum(p.numel() for p in self.params)
            if self.num_params != param_count(a):
                raise SystemExit(f"{self.num_params} parameters, param_count() says {param_count(a)}")
            self.optimizer, self.optimizer_kind = make_optimizer(self.params, a.lr)
            loss = SummedLoss(self.model, a.vocab, a.label_smoothing, self.device)
            self.compile_scope = "-"
            if a.mode == "compile":
                # Imported here so that eager runs do not pay for it, and bound to its own name:
                # a plain `import torch._dynamo` would bind `torch` in this function.
                import torch._dynamo as dynamo
                cfg = dynamo.config
                # Varying batch shapes recompile, and per-layer compilation may keep an entry per
                # layer; past the limits dynamo would silently run eagerly.
                for name, limit in (("cache_size_limit", 256), ("recompile_limit", 256),
                                    ("accumulated_cache_size_limit", 4096), ("accumulated_recompile_limit", 4096)):
                    if hasattr(cfg, name):
                        setattr(cfg, name, limit)
                self.compile_scope = a.compile_scope
                if a.compile_scope == "auto":
                    # Deep stacks compile layer by layer (as torchtitan does): one graph per layer
                    # kind instead of one of every layer unrolled, minutes less to compile.
                    self.compile_scope = "layers" if a.encoder_layers + a.decoder_layers > 24 else "model"
                if self.compile_scope == "layers":
                    for layer in list(self.model.encoder) + list(self.model.decoder):
                        layer.compile(dynamic=True, backend=a.compile_backend)
                else:
                    loss = torch.compile(loss, dynamic=True, backend=a.compile_backend)
            self.loss = loss
            self.step = 0

        def update(self):
            """One training step; returns the summed loss on the device. No host sync."""
            src, tin, tout, target_tokens = next(self.loader)
            if self.device.type == "cuda":
                src, tin, tout = (x.to(self.device, non_blocking=True) for x in (src, tin, tout))
            loss = self.loss(src, tin, tout)
            (loss / target_tokens).backward()
            # Fathom computes the gradient norm every update (it logs it); so does this step.
            torch.nn.utils.clip_grad_norm_(self.params, float("inf"), foreach=True)
            self.step += 1
            lr = inverse_sqrt(self.step, self.a.lr, self.a.lr_warmup)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            return loss.detach()

    def is_oom(error):
        text = str(error)
        return isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in text or \
            "CUBLAS_STATUS_ALLOC_FAILED" in text

    def benchmark(a):
        steps = a.warmup_steps + a.windows * a.window_steps
        identity = {"name": a.name, "impl": a.mode, "variant": a.variant, "max_tokens": a.max_tokens}
        try:
            trainer = Trainer(a, steps)
            device = trainer.device
            name = device_name(device)
            peak, peak_source = peak_tflops(name, a.peak_tflops)
            log(f"{a.name} {a.mode}: {trainer.num_params} parameters, {trainer.shard.size} examples, "
                f"{trainer.batcher.batches_per_epoch()} batches per epoch, Adam {trainer.optimizer_kind}, "
                f"{a.loader_workers} loader workers, {name}")
            losses = []
            synchronize(device)
            start = time.perf_counter()
            for _ in range(a.warmup_steps):
                losses.append(trainer.update())
            synchronize(device)
            warmup_seconds = time.perf_counter() - start
            graphs_before = dynamo_counter("stats", "unique_graphs") if a.mode == "compile" else -1
            log(f"warm-up: {a.warmup_steps} steps in {warmup_seconds:.1f} s")
            rates = []
            for w in range(a.windows):
                synchronize(device)
                start = time.perf_counter()
                for _ in range(a.window_steps):
                    losses.append(trainer.update())
                synchronize(device)
                seconds = time.perf_counter() - start
                window = trainer.lengths[trainer.step - a.window_steps:trainer.step]
                window_tokens = sum(b.tokens for b in window)
                rates.append(window_tokens / seconds)
                log(f"window {w + 1}: steps {trainer.step - a.window_steps + 1}-{trainer.step}, "
                    f"{window_tokens} tokens in {seconds:.3f} s, {window_tokens / seconds:.0f} tok/s")
            graphs_after = dynamo_counter("stats", "unique_graphs") if a.mode == "compile" else -1
            # One read of every update's loss, after the clock: the mean per target token of each.
            per_token = torch.stack(losses).float().cpu().numpy() / np.array(
                [b.target_tokens for b in trainer.lengths], dtype=np.float64)
        except Exception as e:  # noqa: BLE001 (an OOM can surface as several exception types)
            if is_oom(e):
                log(f"out of memory: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
                print(format_result({**identity, "status": "oom"}), flush=True)
                sys.exit(3)
            raise
        if a.loss_file:
            with open(a.loss_file, "w") as f:
                f.write("# update, label-smoothed loss per target token (bench/train_gpu.py)\n")
                for i, value in enumerate(per_token):
                    f.write(f"{i + 1} {value:.6f}\n")
        timed = trainer.lengths[a.warmup_steps:]
        median = window_stats(rates)["median"]
        flop_per_token = sum(train_flops(b, a) for b in timed) / sum(b.tokens for b in timed)
        graphs_in_timed = 0
        fields = dict(identity)
        if a.mode == "compile":
            graphs_in_timed = graphs_after - graphs_before if min(graphs_before, graphs_after) >= 0 else -1
        fields.update(window_fields(rates, a, graphs_in_timed))
        fields.update({
            "flop_per_token": f"{flop_per_token:.6g}", "mfu": f"{median * flop_per_token / (peak * 1e12):.4f}",
            "peak_tflops": f"{peak}", "params": trainer.num_params, "examples": trainer.shard.size,
            "batches_per_epoch": trainer.batcher.batches_per_epoch(), "steps": trainer.step,
            "warmup_s": f"{warmup_seconds:.1f}", "loss": f"{per_token[a.warmup_steps:].mean():.4f}",
            "adam": trainer.optimizer_kind, "device": device.type,
            "precision": "bf16" if device.type == "cuda" else "fp32", "loader_workers": a.loader_workers,
            "checkpointing": "yes" if a.activation_checkpointing else "no", **memory_fields(device),
            "status": "ok"})
        if a.mode == "compile":
            fields["compile_scope"] = trainer.compile_scope
            fields["compile_backend"] = a.compile_backend
            fields["graphs"] = graphs_after
            fields["graphs_in_timed"] = graphs_in_timed
            fields["graph_breaks"] = dynamo_counter("graph_break")
            if graphs_in_timed != 0:
                log("WARNING: graphs were compiled during the timed windows (or the count is unknown); "
                    "raise --warmup_steps")
        log(f"peak {peak} TFLOP/s from {peak_source}")
        print(format_result(fields), flush=True)

    def probe(a):
        """Trains the first epoch (or --probe_steps updates) at a.max_tokens; exit 3 on OOM."""
        try:
            shard = Shard(a.prepared)
            steps = a.probe_steps or FathomBatcher(shard.src_len, shard.tgt_len, a.max_tokens, a.seed).batches_per_epoch()
            trainer = Trainer(a, steps)
            start = time.perf_counter()
            for _ in range(steps):
                trainer.update()
            synchronize(trainer.device)
        except Exception as e:  # noqa: BLE001
            if is_oom(e):
                print(f"probe max_tokens={a.max_tokens} oom", flush=True)
                sys.exit(3)
            raise
        memory = memory_fields(trainer.device)
        print(f"probe max_tokens={a.max_tokens} fits steps={steps} seconds={time.perf_counter() - start:.1f} "
              f"max_alloc_gib={memory['max_alloc_gib']} max_reserved_gib={memory['max_reserved_gib']}", flush=True)

    def print_env():
        print(f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
              f"cuDNN {torch.backends.cudnn.version()}, numpy {np.__version__}")
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            peak, source = peak_tflops(props.name, 0)
            print(f"device {props.name}, {props.total_memory / 2**30:.1f} GiB, sm_{props.major}{props.minor}, "
                  f"{props.multi_processor_count} SMs; bf16 dense peak {peak} TFLOP/s ({source})")
        else:
            print("no CUDA device visible to PyTorch")

    def cuda_available():
        return torch.cuda.is_available()

    return argparse.Namespace(benchmark=benchmark, probe=probe, print_env=print_env,
                              cuda_available=cuda_available)


def model_args(a):
    return ["--prepared", a.prepared, "--vocab", str(a.vocab), "--name", a.name,
            "--encoder_layers", str(a.encoder_layers), "--decoder_layers", str(a.decoder_layers),
            "--d_model", str(a.d_model), "--heads", str(a.heads), "--ffn", str(a.ffn),
            "--dropout", str(a.dropout), "--norm", a.norm, "--mode", a.mode,
            "--compile_scope", a.compile_scope, "--compile_backend", a.compile_backend, "--seed", str(a.seed),
            "--device", a.device, "--probe_steps", str(a.probe_steps), "--loader_workers", str(a.loader_workers)] + \
        (["--activation_checkpointing"] if a.activation_checkpointing else [])


def search_max_batch(a):
    def fits(tokens):
        cmd = [sys.executable, os.path.abspath(__file__), *model_args(a), "--probe", "--max_tokens", str(tokens)]
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        if done.returncode == 3:
            log(f"max_tokens {tokens}: out of memory")
            return False
        if done.returncode != 0:
            raise SystemExit(f"probe at max_tokens {tokens} failed (exit {done.returncode}); see its stderr above")
        log(line)
        return True

    lo, hi, m = 0, 0, a.max_tokens
    if fits(m):
        lo = m
        while m * 2 <= a.max_tokens_cap:
            m *= 2
            if not fits(m):
                hi = m
                break
            lo = m
    else:
        hi = m
        while m // 2 >= 256:
            m //= 2
            if fits(m):
                lo = m
                break
            hi = m
    while lo > 0 and hi > 0 and hi - lo > a.resolution:
        mid = (lo + hi) // 2 // 256 * 256
        if mid <= lo or mid >= hi:
            break
        if fits(mid):
            lo = mid
        else:
            hi = mid
    print(f"max_batch name={a.name} impl={a.mode} activation_checkpointing={str(a.activation_checkpointing).lower()} "
          f"largest_fitting={lo} first_oom={hi or 'none'} cap={a.max_tokens_cap} resolution={a.resolution}", flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prepared", help="PREPARED directory written by `fathom prepare`")
    p.add_argument("--vocab", type=int, help="joint vocabulary size (data.sentencepiece.vocab_size)")
    p.add_argument("--name", default="model", help="label printed with the results")
    p.add_argument("--variant", default="default", help="label of the run's settings in the tables")
    p.add_argument("--encoder_layers", type=int, default=6)
    p.add_argument("--decoder_layers", type=int, default=6)
    p.add_argument("--d_model", type=int, default=512)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--ffn", type=int, default=2048)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--norm", choices=["post_ln", "admin"], default="post_ln")
    p.add_argument("--activation_checkpointing", action="store_true",
                   help="each layer through torch.utils.checkpoint (as Fathom's model.activation_checkpointing)")
    p.add_argument("--label_smoothing", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=7e-4)
    p.add_argument("--lr_warmup", type=int, default=4000, help="optim.warmup_steps")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max_tokens", type=int, default=16384, help="data.batch.max_tokens (padding included, per side)")
    p.add_argument("--mode", choices=["eager", "compile"], default="eager")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                   help="cuda: bf16 autocast (the benchmark); cpu: float32, for tests without a GPU")
    p.add_argument("--compile_scope", choices=["auto", "model", "layers"], default="auto",
                   help="compile the whole forward + loss, or each layer; auto: layers past 24 layers")
    p.add_argument("--compile_backend", default="inductor",
                   help="torch.compile backend (inductor; 'eager' only traces: tests)")
    p.add_argument("--loader_workers", type=int, default=2, help="DataLoader worker processes (0: in the step)")
    p.add_argument("--warmup_steps", type=int, default=FAIR_WINDOW_STEPS,
                   help="updates before timing (compilation included)")
    p.add_argument("--window_steps", type=int, default=FAIR_WINDOW_STEPS, help="updates per timed window")
    p.add_argument("--windows", type=int, default=FAIR_WINDOWS, help="timed windows; the median is reported")
    p.add_argument("--peak_tflops", type=float, default=0, help="bf16 peak for MFU; 0 = from the device name")
    p.add_argument("--init_from", help="a Fathom checkpoint (or run) directory: start from its weights")
    p.add_argument("--loss_file", help="write every update's loss per target token here (STEP LOSS lines)")
    p.add_argument("--print_env", action="store_true")
    p.add_argument("--max_batch", action="store_true", help="search the largest max_tokens that fits")
    p.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--probe_steps", type=int, default=0, help="updates per --max_batch try; 0 = one epoch")
    p.add_argument("--resolution", type=int, default=2048, help="--max_batch stops when the bracket is this narrow")
    p.add_argument("--max_tokens_cap", type=int, default=1 << 20)
    g = p.add_argument_group("analyses (numpy only)")
    g.add_argument("--fathom_log", help="a `fathom train` log of these batches: print its result line")
    g.add_argument("--log_every", type=int, default=0, help="its eval.log_every_steps (0: --window_steps)")
    g.add_argument("--device_name", default="", help="the GPU's name, for the peak (--fathom_log)")
    g.add_argument("--compare", nargs="+", metavar="CURVE",
                   help="loss curves (fathom logs or --loss_file files), the first the reference")
    g.add_argument("--labels", help="comma-separated labels of the --compare curves")
    g.add_argument("--rtol", type=float, default=2 * BF16_U,
                   help="tolerance per point, relative to the reference loss (default 2^-7: two bf16 roundings)")
    g.add_argument("--rtol_first", type=float, default=BF16_U,
                   help="tolerance at update 1, where both start from the same weights (default 2^-8)")
    g.add_argument("--min_drop_tolerances", type=float, default=2.0,
                   help="the reference curve must fall by more than this many tolerances")
    g.add_argument("--table", help="a file of result lines: print the markdown tables")
    a = p.parse_args(argv)
    if a.log_every <= 0:
        a.log_every = a.window_steps
    if a.print_env or a.table or a.compare:
        return p, a
    if not a.prepared or not a.vocab:
        p.error("--prepared and --vocab are required")
    if a.d_model % a.heads:
        p.error("--heads must divide --d_model")
    if a.window_steps < 1 or a.windows < 1 or a.warmup_steps < 0:
        p.error("--window_steps and --windows must be positive, --warmup_steps not negative")
    if a.fathom_log and (a.window_steps % a.log_every or a.warmup_steps % a.log_every):
        p.error("--log_every must divide --window_steps and --warmup_steps")
    return p, a


def main():
    _, a = parse_args()
    if a.table:
        print_table(a.table)
        return
    if a.compare:
        run_compare(a)
        return
    if a.fathom_log:
        summarize_fathom(a)
        return
    side = torch_side()
    if a.print_env:
        side.print_env()
        return
    if a.device == "cuda" and not side.cuda_available():
        raise SystemExit("train_gpu.py: no CUDA device visible to PyTorch (--device cpu runs on the CPU)")
    if a.probe:
        side.probe(a)
    elif a.max_batch:
        search_max_batch(a)
    else:
        side.benchmark(a)


if __name__ == "__main__":
    main()
