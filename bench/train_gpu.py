#!/usr/bin/env python3
"""The PyTorch side of bench/train_gpu.sh: the model Fathom trains, written in PyTorch (Python),
trained eagerly or under torch.compile on one CUDA GPU with the batches Fathom would train on.
`--device cpu` runs the same step on the CPU in float32 (no autocast): slow, and there only so
that tests can train a tiny model for a few updates without a GPU (tests/bench_train_gpu_test.sh).

Equal to Fathom's model (models/): encoder-decoder Transformer, Post-LN or Admin residuals
(LN(omega * x + dropout(f(x))), omega a learned d-vector initialised to Admin's constant
sqrt((N+1)/ln(N+1) - 1), N = 2 x encoder layers or 3 x decoder layers), no final LayerNorm,
one embedding table shared by source, target and output (TIE_ALL), embeddings scaled by
sqrt(d) with padding rows zeroed, sinusoidal positions, key projections without bias, ReLU FFN,
attention through scaled_dot_product_attention with Fathom's boolean masks, dropout on
embeddings and residual branches only, bf16 autocast with float32 weights (CUDA), label-smoothed
cross-entropy summed and normalised by target tokens, Adam (beta2 0.98, no weight decay;
PyTorch's fused CUDA kernel when available), the inverse-sqrt schedule. Fathom's initialisation
is mirrored too, so the losses of both are comparable as a sanity check.

The batches are Fathom's: data::Batcher (data/batcher.cc) is re-implemented below for one rank
(same buckets, cuts, SplitMix64 shuffles and order), and data::MakeBatch's layout is used
(source + EOS; BOS + target; target + EOS). The one difference in the step: the logits and the
loss are computed at every target position, padding included, as PyTorch users and fairseq do;
Fathom computes them at real positions only (trainer/step_runner.cc). MFU counts the same useful
work for both.

Modes
  default        warm-up steps, then timed windows; prints one `result key=value ...` line
  --max_batch    the largest data.batch.max_tokens whose first training epoch runs without
                 running out of memory: doubles from --max_tokens, then bisects; each try is
                 a fresh process (--probe)
  --print_env    versions and device, for bench/README.md
"""
import argparse
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, UNK, BOS, EOS = 0, 1, 2, 3  # fixed by `fathom prepare` (proto/config.proto)

# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s from NVIDIA's data sheets, matched as
# substrings of torch.cuda.get_device_name(); the first match wins, so the specific names come
# first. "NVIDIA H100 80GB HBM3" is the SXM part.
PEAK_BF16_TFLOPS = [
    ("GH200", 989.4),
    ("H200 NVL", 835.5),
    ("H200", 989.4),
    ("H100 NVL", 835.5),
    ("H100 PCIe", 756.5),
    ("H100", 989.4),
    ("A100", 312.0),
]


def peak_tflops(device_name, override):
    if override > 0:
        return override, "given"
    for key, value in PEAK_BF16_TFLOPS:
        if key in device_name:
            return value, f"table ({key})"
    return float("nan"), "unknown device: pass --peak_tflops"


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

    def to(self, device):
        if device.type != "cuda":  # pinning needs CUDA, and a CPU copy has nothing to overlap
            return tuple(torch.from_numpy(a) for a in (self.src, self.tin, self.tout))
        return tuple(torch.from_numpy(a).pin_memory().to(device, non_blocking=True)
                     for a in (self.src, self.tin, self.tout))


def train_flops(batch, a):
    """Model FLOPs of one update on the real (non-padding) tokens, as models/flops.cc computes them
    for Fathom's progress line (tests/model_flops_test.cc checks one batch of this function's
    against it): 3 x forward (backward = 2 x forward), counting matrix multiplies only (2 per
    multiply-add):
      encoder, per layer:  8 d^2 s  (q, k, v, out)  + 4 d f s (FFN)  + 4 d s^2 (QK^T, AV)
      decoder, per layer:  8 d^2 t  (self q, k, v, out) + 2 d t (t + 1) (causal QK^T, AV: half)
                           + 4 d^2 t (cross q, out) + 4 d^2 s (cross k, v) + 4 d t s + 4 d f t
      output layer:        2 d V t
    summed over the examples, s and t their source and target positions."""
    d, f, V = a.d_model, a.ffn, a.vocab
    s, t = batch.s.astype(np.float64), batch.t.astype(np.float64)
    S1, S2, T1 = s.sum(), (s * s).sum(), t.sum()
    TT, TS = (t * (t + 1)).sum(), (t * s).sum()
    encoder = a.encoder_layers * ((8 * d * d + 4 * d * f) * S1 + 4 * d * S2)
    decoder = a.decoder_layers * ((12 * d * d + 4 * d * f) * T1 + 4 * d * d * S1 + 2 * d * TT + 4 * d * TS)
    return 3.0 * (encoder + decoder + 2 * d * V * T1)


# ---------------------------------------------------------------------------------------------
# Model.

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

    def forward(self, x, memory, keep):
        B, T, _ = x.shape
        S = memory.size(1)
        q = self.q_proj(x).view(B, T, self.heads, self.d_head).transpose(1, 2)
        k = self.k_proj(memory).view(B, S, self.heads, self.d_head).transpose(1, 2)
        v = self.v_proj(memory).view(B, S, self.heads, self.d_head).transpose(1, 2)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
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

    def forward(self, y, self_keep, memory, memory_keep):
        y = self.self_residual(y, self.self_attention(y, y, self_keep))
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

    def embed(self, ids):
        x = F.embedding(ids, self.table)
        x = x * ids.ne(PAD).unsqueeze(-1).to(x.dtype)
        x = x * self.scale + self.positions[: ids.size(1)]
        return F.dropout(x, self.dropout, self.training)

    def forward(self, src, tin):
        B, S = src.shape
        T = tin.size(1)
        # Fathom's masks (models/attention.cc): true where attention is allowed.
        src_keep = src.ne(PAD).view(B, 1, 1, S)
        causal = torch.ones(T, T, dtype=torch.bool, device=tin.device).tril()
        tgt_keep = tin.ne(PAD).view(B, 1, 1, T) & causal
        x = self.embed(src)
        for layer in self.encoder:
            x = layer(x, src_keep)
        y = self.embed(tin)
        for layer in self.decoder:
            y = layer(y, tgt_keep, x, src_keep)
        return F.linear(y, self.table)


class SummedLoss(nn.Module):
    """Forward under bf16 autocast on CUDA (float32 on the CPU), then label-smoothed
    cross-entropy in float32, summed over real target positions (what Fathom's loss.cc
    computes)."""

    def __init__(self, model, vocab, smoothing, device):
        super().__init__()
        self.model, self.vocab, self.smoothing = model, vocab, smoothing
        self.device_type, self.bf16 = device.type, device.type == "cuda"

    def forward(self, src, tin, tout):
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.model(src, tin)
        return F.cross_entropy(logits.float().view(-1, self.vocab), tout.view(-1), ignore_index=PAD,
                               label_smoothing=self.smoothing, reduction="sum")


def inverse_sqrt(step, peak, warmup):
    """trainer/lr_schedule.cc INVERSE_SQRT."""
    s = max(step, 1)
    if warmup == 0:
        return peak
    return peak * s / warmup if s <= warmup else peak * math.sqrt(warmup / s)


def make_optimizer(params, lr):
    # Fathom: Adam, betas (0.9, 0.98), eps 1e-8, no weight decay (AdamW with weight decay 0 is
    # the same update). The fused CUDA kernel where this PyTorch has it.
    try:
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.98), eps=1e-8, fused=True), "fused"
    except (TypeError, RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.98), eps=1e-8, foreach=True), "foreach"


def dynamo_counter(group, key=None):
    try:
        from torch._dynamo.utils import counters
        return int(counters[group][key]) if key is not None else len(counters[group])
    except Exception:  # private API: absent or renamed in some version
        return -1


def synchronize(device):
    """Waits for the device's queued work, so that the clock measures it (CPU work is synchronous)."""
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


class Trainer:
    def __init__(self, a, steps):
        self.a = a
        self.device = torch.device(a.device)
        torch.manual_seed(a.seed)
        self.shard = Shard(a.prepared)
        self.batcher = FathomBatcher(self.shard.src_len, self.shard.tgt_len, a.max_tokens, a.seed)
        with self.device:
            self.model = Seq2Seq(a)
            self.model.initialise()
        self.model.train()
        self.params = [p for p in self.model.parameters()]
        self.num_params = sum(p.numel() for p in self.params)
        self.optimizer, self.optimizer_kind = make_optimizer(self.params, a.lr)
        loss = SummedLoss(self.model, a.vocab, a.label_smoothing, self.device)
        if a.mode == "compile":
            # Imported here so that eager runs do not pay for it, and bound to its own name: a
            # plain `import torch._dynamo` would bind `torch` in this function, making it a local
            # name for the whole function (UnboundLocalError at the first torch.device above).
            import torch._dynamo as dynamo
            cfg = dynamo.config
            # Varying batch shapes recompile, and per-layer compilation may keep an entry per
            # layer; past the limits dynamo would silently run eagerly.
            for name, limit in (("cache_size_limit", 256), ("recompile_limit", 256),
                                ("accumulated_cache_size_limit", 4096), ("accumulated_recompile_limit", 4096)):
                if hasattr(cfg, name):
                    setattr(cfg, name, limit)
            if a.compile_scope == "layers":
                for layer in list(self.model.encoder) + list(self.model.decoder):
                    layer.compile(dynamic=True)
            else:
                loss = torch.compile(loss, dynamic=True)
        self.loss = loss
        # The batches of every update, planned before the clock starts, so that re-planning at
        # an epoch boundary (a Python loop over every example) is never timed.
        self.plan, epoch = [], 0
        while len(self.plan) < steps:
            self.plan += self.batcher.epoch(epoch)
            epoch += 1
        self.step = 0

    def update(self):
        """One training step; returns (host batch, summed loss on the device). No host sync."""
        batch = HostBatch(self.shard, self.plan[self.step])
        src, tin, tout = batch.to(self.device)
        loss = self.loss(src, tin, tout)
        (loss / batch.target_tokens).backward()
        # Fathom computes the gradient norm every update (it logs it); so does this step.
        torch.nn.utils.clip_grad_norm_(self.params, float("inf"), foreach=True)
        self.step += 1
        lr = inverse_sqrt(self.step, self.a.lr, self.a.lr_warmup)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return batch, loss.detach()


def log(msg):
    print(f"train_gpu: {msg}", file=sys.stderr, flush=True)


def benchmark(a):
    trainer = Trainer(a, a.warmup_steps + a.windows * a.window_steps)
    device = trainer.device
    name = device_name(device)
    peak, peak_source = peak_tflops(name, a.peak_tflops)
    log(f"{a.name} {a.mode}: {trainer.num_params} parameters, {trainer.shard.size} examples, "
        f"{trainer.batcher.batches_per_epoch()} batches per epoch, Adam {trainer.optimizer_kind}, {name}")
    synchronize(device)
    start = time.perf_counter()
    for _ in range(a.warmup_steps):
        trainer.update()
    synchronize(device)
    warmup_seconds = time.perf_counter() - start
    graphs_before = dynamo_counter("stats", "unique_graphs") if a.mode == "compile" else -1
    log(f"warm-up: {a.warmup_steps} steps in {warmup_seconds:.1f} s")
    rates, batches, losses = [], [], []
    for w in range(a.windows):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(a.window_steps):
            batch, loss = trainer.update()
            batches.append(batch)
            losses.append(loss)
        synchronize(device)
        seconds = time.perf_counter() - start
        window_tokens = sum(b.tokens for b in batches[-a.window_steps:])
        rates.append(window_tokens / seconds)
        log(f"window {w + 1}: steps {trainer.step - a.window_steps + 1}-{trainer.step}, "
            f"{window_tokens} tokens in {seconds:.3f} s, {window_tokens / seconds:.0f} tok/s")
    graphs_after = dynamo_counter("stats", "unique_graphs") if a.mode == "compile" else -1
    median = statistics.median(rates)
    flop_per_token = sum(train_flops(b, a) for b in batches) / sum(b.tokens for b in batches)
    mfu = median * flop_per_token / (peak * 1e12)
    # As Fathom's log: the mean over updates of each update's loss per target token.
    per_token = torch.stack(losses).cpu() / torch.tensor([float(b.target_tokens) for b in batches])
    loss = per_token.mean().item()
    fields = {
        "name": a.name, "impl": a.mode if a.mode == "eager" else f"compile-{a.compile_scope}",
        "tok_s": f"{median:.0f}", "windows": ",".join(f"{r:.0f}" for r in rates),
        "flop_per_token": f"{flop_per_token:.6g}", "mfu": f"{mfu:.4f}", "peak_tflops": f"{peak}",
        "params": trainer.num_params, "examples": trainer.shard.size,
        "batches_per_epoch": trainer.batcher.batches_per_epoch(), "steps": trainer.step,
        "warmup_s": f"{warmup_seconds:.1f}", "loss": f"{loss:.4f}", "adam": trainer.optimizer_kind,
        "device": device.type, "precision": "bf16" if device.type == "cuda" else "fp32",
        **memory_fields(device),
    }
    if a.mode == "compile":
        fields["graphs"] = graphs_after
        fields["graphs_in_timed"] = graphs_after - graphs_before if min(graphs_before, graphs_after) >= 0 else -1
        fields["graph_breaks"] = dynamo_counter("graph_break")
        if fields["graphs_in_timed"] != 0:
            log("WARNING: graphs were compiled during the timed windows (or the count is unknown); "
                "raise --warmup_steps")
    log(f"peak {peak} TFLOP/s from {peak_source}")
    print("result " + " ".join(f"{k}={v}" for k, v in fields.items()), flush=True)


def is_oom(error):
    text = str(error)
    return isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in text or \
        "CUBLAS_STATUS_ALLOC_FAILED" in text


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
    except Exception as e:  # noqa: BLE001 (an OOM can surface as several exception types)
        if is_oom(e):
            print(f"probe max_tokens={a.max_tokens} oom", flush=True)
            sys.exit(3)
        raise
    memory = memory_fields(trainer.device)
    print(f"probe max_tokens={a.max_tokens} fits steps={steps} seconds={time.perf_counter() - start:.1f} "
          f"max_alloc_gib={memory['max_alloc_gib']} max_reserved_gib={memory['max_reserved_gib']}", flush=True)


def model_args(a):
    return ["--prepared", a.prepared, "--vocab", str(a.vocab), "--name", a.name,
            "--encoder_layers", str(a.encoder_layers), "--decoder_layers", str(a.decoder_layers),
            "--d_model", str(a.d_model), "--heads", str(a.heads), "--ffn", str(a.ffn),
            "--dropout", str(a.dropout), "--norm", a.norm, "--mode", a.mode,
            "--compile_scope", a.compile_scope, "--seed", str(a.seed), "--device", a.device,
            "--probe_steps", str(a.probe_steps)]


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
    impl = a.mode if a.mode == "eager" else f"compile-{a.compile_scope}"
    print(f"max_batch name={a.name} impl={impl} largest_fitting={lo} first_oom={hi or 'none'} "
          f"cap={a.max_tokens_cap} resolution={a.resolution}", flush=True)


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


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prepared", help="PREPARED directory written by `fathom prepare`")
    p.add_argument("--vocab", type=int, help="joint vocabulary size (data.sentencepiece.vocab_size)")
    p.add_argument("--name", default="model", help="label printed with the results")
    p.add_argument("--encoder_layers", type=int, default=6)
    p.add_argument("--decoder_layers", type=int, default=6)
    p.add_argument("--d_model", type=int, default=512)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--ffn", type=int, default=2048)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--norm", choices=["post_ln", "admin"], default="post_ln")
    p.add_argument("--label_smoothing", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=7e-4)
    p.add_argument("--lr_warmup", type=int, default=4000, help="optim.warmup_steps")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max_tokens", type=int, default=16384, help="data.batch.max_tokens (padding included, per side)")
    p.add_argument("--mode", choices=["eager", "compile"], default="eager")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                   help="cuda: bf16 autocast (the benchmark); cpu: float32, for tests without a GPU")
    p.add_argument("--compile_scope", choices=["model", "layers"], default="model",
                   help="compile the whole forward + loss, or each layer (faster to compile for deep stacks)")
    p.add_argument("--warmup_steps", type=int, default=20, help="updates before timing (compilation included)")
    p.add_argument("--window_steps", type=int, default=20, help="updates per timed window")
    p.add_argument("--windows", type=int, default=3, help="timed windows; the median is reported")
    p.add_argument("--peak_tflops", type=float, default=0, help="bf16 peak for MFU; 0 = from the device name")
    p.add_argument("--print_env", action="store_true")
    p.add_argument("--max_batch", action="store_true", help="search the largest max_tokens that fits")
    p.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--probe_steps", type=int, default=0, help="updates per --max_batch try; 0 = one epoch")
    p.add_argument("--resolution", type=int, default=2048, help="--max_batch stops when the bracket is this narrow")
    p.add_argument("--max_tokens_cap", type=int, default=1 << 20)
    a = p.parse_args()
    if a.print_env:
        print_env()
        return
    if not a.prepared or not a.vocab:
        p.error("--prepared and --vocab are required")
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("train_gpu.py: no CUDA device visible to PyTorch (--device cpu runs on the CPU)")
    if a.d_model % a.heads:
        p.error("--heads must divide --d_model")
    if a.probe:
        probe(a)
    elif a.max_batch:
        search_max_batch(a)
    else:
        benchmark(a)


if __name__ == "__main__":
    main()
