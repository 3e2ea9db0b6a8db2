#!/usr/bin/env python3
"""The PyTorch (Python, eager) side of bench/train_cpu.sh: the same Admin Transformer as Fathom
(Post-LN with a per-sublayer omega, sinusoidal positions, all embeddings tied, label-smoothed
cross-entropy, Adam, inverse-sqrt schedule), trained on the same prepared shards with the same
token budget and thread count. Prints one line: steps, seconds, tokens, tokens/s."""
import argparse
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, BOS, EOS = 0, 2, 3


def load_split(prepared, split, vocab):
    dtype = np.uint16 if vocab <= 65536 else np.uint32
    tokens = np.memmap(f"{prepared}/{split}.tokens", dtype=dtype, mode="r")
    offsets = np.memmap(f"{prepared}/{split}.index", dtype=np.uint64, mode="r").astype(np.int64)
    return tokens, offsets


def batches(tokens, offsets, max_tokens, seed):
    """Token-budget batches over length-sorted examples (padding counted), shuffled."""
    n = (len(offsets) - 1) // 2
    src_len = offsets[1::2][:n] - offsets[0::2][:n]
    tgt_len = offsets[2::2][:n] - offsets[1::2][:n]
    cost = np.maximum(src_len, tgt_len) + 1
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(n), cost // 8))
    out, current, longest = [], [], 0
    for i in order:
        longest_new = max(longest, cost[i])
        if current and (len(current) + 1) * longest_new > max_tokens:
            keep = len(current) - len(current) % 8 if len(current) >= 8 else len(current)
            out.append(current[:keep])
            current = current[keep:]
            longest = max((cost[j] for j in current), default=0)
            longest_new = max(longest, cost[i])
        current.append(i)
        longest = longest_new
    if current:
        out.append(current)
    rng.shuffle(out)
    return out


def make_batch(tokens, offsets, examples):
    srcs = [tokens[offsets[2 * i]:offsets[2 * i + 1]].astype(np.int64) for i in examples]
    tgts = [tokens[offsets[2 * i + 1]:offsets[2 * i + 2]].astype(np.int64) for i in examples]
    S = max(len(s) for s in srcs) + 1
    T = max(len(t) for t in tgts) + 1
    src = np.zeros((len(examples), S), np.int64)
    tin = np.zeros((len(examples), T), np.int64)
    tout = np.zeros((len(examples), T), np.int64)
    for r, (s, t) in enumerate(zip(srcs, tgts)):
        src[r, :len(s)] = s
        src[r, len(s)] = EOS
        tin[r, 0] = BOS
        tin[r, 1:len(t) + 1] = t
        tout[r, :len(t)] = t
        tout[r, len(t)] = EOS
    real = sum(len(s) + 1 for s in srcs) + sum(len(t) + 1 for t in tgts)
    return torch.from_numpy(src), torch.from_numpy(tin), torch.from_numpy(tout), real


def sinusoids(n, d):
    pos = torch.arange(n, dtype=torch.float).unsqueeze(1)
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class Residual(nn.Module):
    """Admin: LN(omega * x + dropout(f(x)))."""

    def __init__(self, d, dropout, omega):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.omega = nn.Parameter(torch.full((d,), omega))
        self.dropout = dropout

    def forward(self, x, f):
        return self.norm(x * self.omega + F.dropout(f, self.dropout, self.training))


class FFN(nn.Module):
    def __init__(self, d, ffn):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, ffn), nn.Linear(ffn, d)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, d, h, ffn, dropout, omega):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, h, batch_first=True)
        self.ffn = FFN(d, ffn)
        self.r1, self.r2 = Residual(d, dropout, omega), Residual(d, dropout, omega)

    def forward(self, x, pad):
        x = self.r1(x, self.attn(x, x, x, key_padding_mask=pad, need_weights=False)[0])
        return self.r2(x, self.ffn(x))


class DecoderLayer(nn.Module):
    def __init__(self, d, h, ffn, dropout, omega):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, h, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d, h, batch_first=True)
        self.ffn = FFN(d, ffn)
        self.r1, self.r2, self.r3 = (Residual(d, dropout, omega) for _ in range(3))

    def forward(self, y, tpad, causal, mem, spad):
        y = self.r1(y, self.self_attn(y, y, y, key_padding_mask=tpad, attn_mask=causal, need_weights=False)[0])
        y = self.r2(y, self.cross_attn(y, mem, mem, key_padding_mask=spad, need_weights=False)[0])
        return self.r3(y, self.ffn(y))


class Seq2Seq(nn.Module):
    def __init__(self, vocab, layers, d, h, ffn, dropout):
        super().__init__()
        self.embed = nn.Embedding(vocab, d, padding_idx=PAD)
        nn.init.normal_(self.embed.weight, 0, d ** -0.5)
        self.register_buffer("pos", sinusoids(1024, d))
        enc_omega = math.sqrt((2 * layers + 1) / math.log(2 * layers + 1) - 1)
        dec_omega = math.sqrt((3 * layers + 1) / math.log(3 * layers + 1) - 1)
        self.enc = nn.ModuleList(EncoderLayer(d, h, ffn, dropout, enc_omega) for _ in range(layers))
        self.dec = nn.ModuleList(DecoderLayer(d, h, ffn, dropout, dec_omega) for _ in range(layers))
        self.scale, self.dropout = math.sqrt(d), dropout

    def embed_ids(self, ids):
        x = self.embed(ids) * self.scale + self.pos[: ids.size(1)]
        return F.dropout(x, self.dropout, self.training)

    def forward(self, src, tin):
        spad, tpad = src.eq(PAD), tin.eq(PAD)
        x = self.embed_ids(src)
        for layer in self.enc:
            x = layer(x, spad)
        T = tin.size(1)
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
        y = self.embed_ids(tin)
        for layer in self.dec:
            y = layer(y, tpad, causal, x, spad)
        return y @ self.embed.weight.t()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--prepared", required=True)
    p.add_argument("--vocab", type=int, required=True)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--d_model", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=1024)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--max_tokens", type=int, default=2048)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--skip", type=int, default=3, help="first steps left out of the timing")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    tokens, offsets = load_split(args.prepared, "train", args.vocab)
    plan = batches(tokens, offsets, args.max_tokens, seed=1)
    model = Seq2Seq(args.vocab, args.layers, args.d_model, args.heads, args.ffn, args.dropout)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=7e-4, betas=(0.9, 0.98), eps=1e-8)
    timed_tokens, start = 0, None
    for step in range(args.steps):
        if step == args.skip:
            start = time.perf_counter()
        src, tin, tout, real = make_batch(tokens, offsets, plan[step % len(plan)])
        logits = model(src, tin)
        loss = F.cross_entropy(logits.reshape(-1, args.vocab), tout.reshape(-1), ignore_index=PAD,
                               label_smoothing=0.1, reduction="sum")
        opt.zero_grad(set_to_none=True)
        (loss / tout.ne(PAD).sum()).backward()
        lr = 7e-4 * min((step + 1) / 100, math.sqrt(100 / (step + 1)))
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        if step >= args.skip:
            timed_tokens += real
    seconds = time.perf_counter() - start
    print(f"pytorch steps {args.steps - args.skip} seconds {seconds:.2f} tokens {timed_tokens} "
          f"tok/s {timed_tokens / seconds:.0f}")


if __name__ == "__main__":
    main()
