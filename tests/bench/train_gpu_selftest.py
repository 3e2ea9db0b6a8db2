#!/usr/bin/env python3
"""The arithmetic of bench/train_gpu.py on made-up inputs whose answers are known: the windows'
median and spread, the tok/s of windows from progress lines of any interval, the parsing of
Fathom's progress lines, the loss-curve comparison and its tolerance, the parameter count, the
checkpoint reader, the fairness rule and the tables with their targets. Numpy only (no torch);
run by tests/bench_train_gpu_test.sh.

  train_gpu_selftest.py PATH/TO/bench/train_gpu.py
Prints one line per check; exits 1 on any failure.
"""
import argparse
import contextlib
import importlib.util
import io
import math
import os
import struct
import sys
import tempfile

spec = importlib.util.spec_from_file_location("train_gpu", sys.argv[1])
tg = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tg)
assert "torch" not in sys.modules, "importing train_gpu.py must not import torch"

failures = 0


def check(ok, what):
    global failures
    print(("ok: " if ok else "FAILED: ") + what)
    failures += 0 if ok else 1


def close(a, b, tol=1e-9):
    return abs(a - b) <= tol * max(1.0, abs(b))


# Windows: median, min, max, (max - min) / median.
st = tg.window_stats([100.0, 400.0, 200.0])
check(st["median"] == 200 and st["min"] == 100 and st["max"] == 400 and close(st["spread"], 1.5),
      f"window_stats([100, 400, 200]): median 200, spread 1.5 ({st})")
st = tg.window_stats([100.0, 300.0])
check(st["median"] == 200 and close(st["spread"], 1.0), "window_stats of an even count: the mean of the middle two")
check(math.isnan(tg.window_stats([])["median"]), "window_stats([]) is nan, not an error")

# Fairness: windows of at least 50 updates, at least 3, one untimed window, no compilation timed.
fair = argparse.Namespace(window_steps=50, windows=3, warmup_steps=50)
check(tg.is_fair(fair), "50 x 3 after 50 untimed is fair")
check(not tg.is_fair(argparse.Namespace(window_steps=20, windows=3, warmup_steps=20)), "windows of 20 are not")
check(not tg.is_fair(argparse.Namespace(window_steps=50, windows=2, warmup_steps=50)), "two windows are not")
check(not tg.is_fair(argparse.Namespace(window_steps=50, windows=3, warmup_steps=0)), "no warm-up is not")
check(not tg.is_fair(fair, graphs_in_timed=1), "a graph compiled while timed is not")

# Fathom's progress lines, one per update (log_every 1): window w's tok/s is its tokens over the
# sum of each update's tokens / tok/s.
tokens = [10, 20, 10, 20, 30, 30]
lines = [(i + 1, 7.0, tps, None) for i, tps in enumerate([50.0, 100.0, 200.0, 100.0, 300.0, 100.0])]
rates = tg.fathom_windows(lines, tokens, warmup=2, window=2, windows=2)
check(close(rates[0], 30 / (10 / 200 + 20 / 100)) and close(rates[1], 60 / (30 / 300 + 30 / 100)),
      f"fathom_windows, a line per update: {rates}")
# One line per window: the line's own tok/s, whatever the tokens.
lines = [(2, 7.0, 123.0, None), (4, 6.9, 456.0, None), (6, 6.8, 789.0, None)]
check(tg.fathom_windows(lines, tokens, 2, 2, 2) == [456.0, 789.0], "fathom_windows, a line per window: the lines' tok/s")
for bad, why in (([(2, 7.0, 1.0, None), (4, 7.0, 1.0, None)], "no line at a window's end"),
                 ([(1, 7.0, 1.0, None), (4, 7.0, 1.0, None), (6, 7.0, 1.0, None)], "no line just before a window")):
    try:
        tg.fathom_windows(bad, tokens, 2, 2, 2)
        check(False, f"fathom_windows raises on {why}")
    except ValueError as e:
        check(True, f"fathom_windows raises on {why}: {e}")

# parse_fathom_log: Fathom's progress and start-up lines (trainer/progress_reporter.cc).
with tempfile.TemporaryDirectory() as tmp:
    log = os.path.join(tmp, "fathom.log")
    with open(log, "w") as f:
        f.write("[2026-12-05 01:17:54 rank 0 INFO] single-process communicator, rank 0 of 1 (vm); 2 threads per "
                "rank; model 2L-2L d 64, 231680 parameters; 2000 training examples, 61 batches per epoch per rank\n")
        f.write("[2026-12-05 01:17:54 rank 0 INFO] step 10 | epoch 0.02 | loss 7.5927 | nll 7.5972 | ppl 1992.71 | "
                "lr 0.000175 | gnorm 1.341 | scale 1 | tok/s 4873 | TFLOP/s 0.00361 | MFU 41.0% | mem 18.9 GiB | "
                "elapsed 0:00:00 | eta 0:00:00\n")
        f.write("[2026-12-05 01:17:55 rank 0 INFO] step 20 | epoch 0.03 | loss nan | nll nan | ppl nan | lr 0.00035 | "
                "gnorm nan | scale 1 | tok/s 5000 | TFLOP/s 0.004 | MFU - | elapsed 0:00:01 | eta 0:00:00\n")
    parsed, counts = tg.parse_fathom_log(log)
    check(counts == (231680, 2000, 61), f"parse_fathom_log: parameters, examples, batches {counts}")
    check(parsed[0] == (10, 7.5927, 4873.0, 18.9), f"parse_fathom_log: step, loss, tok/s, mem {parsed[0]}")
    check(parsed[1][0] == 20 and math.isnan(parsed[1][1]) and parsed[1][3] is None,
          "parse_fathom_log: a nan loss parses as nan; no mem field (CPU) as None")
    curve = tg.read_curve(log)
    check([(f, l) for f, l, _ in curve] == [(1, 10), (11, 20)], "read_curve of a log: each line covers the updates since the last")

    # Loss curves: per update against window means, tolerance relative to the reference loss.
    ref = [(i, i, 8.0 - 0.01 * i) for i in range(1, 21)]
    same_means = [(f, f + 9, sum(8.0 - 0.01 * i for i in range(f, f + 10)) / 10) for f in (1, 11)]
    c = tg.compare_curve(ref, same_means, rtol=1e-6, rtol_first=1e-6)
    check(c["pass"] and c["points"] == 2 and c["width"] == 10 and c["max_diff"] < 1e-12,
          "compare_curve: per-update reference against its own 10-update means passes")
    shifted = [(f, l, x + 0.002) for f, l, x in ref]
    c = tg.compare_curve(ref, shifted, rtol=2 ** -12, rtol_first=2 ** -12)  # about 0.002 at loss 8
    check(not c["pass"] and close(c["max_diff"], 0.002, 1e-6), f"compare_curve: a shift of 0.002 fails at 2^-12 x loss")
    c = tg.compare_curve(ref, shifted, rtol=2 ** -7, rtol_first=2 ** -7)
    check(c["pass"], "... and passes at the default 2^-7 x loss (0.0625 at loss 8)")
    first_off = [(1, 1, ref[0][2] + 0.04)] + ref[1:]  # between 2^-8 and 2^-7 of 7.99
    c = tg.compare_curve(ref, first_off, rtol=2 ** -7, rtol_first=2 ** -8)
    check(not c["pass"] and c["worst_span"] == (1, 1), "compare_curve: update 1 (same weights) has the tighter 2^-8")
    check("error" in tg.compare_curve([(1, 2, 8.0), (3, 4, 7.9)], [(1, 3, 8.0)], 1e-3, 1e-3),
          "compare_curve: coarse spans that differ are an error")
    check(close(tg.curve_drop(ref), 0.1), f"curve_drop: first 10 minus last 10 ({tg.curve_drop(ref)})")

    # --compare end to end: exit 0 on PASS, 1 on FAIL, and a flat reference fails.
    def loss_file(name, values):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write("# comment\n" + "".join(f"{i + 1} {v:.6f}\n" for i, v in enumerate(values)))
        return path
    a = loss_file("a", [8.0 - 0.05 * i for i in range(20)])
    b = loss_file("b", [8.0 - 0.05 * i + 1e-5 for i in range(20)])
    bad = loss_file("bad", [8.0 - 0.05 * i + (0.5 if i == 12 else 0) for i in range(20)])
    flat = loss_file("flat", [8.0] * 20)

    def compare(*argv):
        out = io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out):
            try:
                tg.run_compare(tg.parse_args(["--compare", *argv])[1])
            except SystemExit as e:
                code = e.code
        return code, out.getvalue()
    code, text = compare(a, b, bad)
    check(code == 1 and "| bad | 20 (1) | 0.5 (13-13)" in text and "| b | 20 (1) |" in text and
          "equivalence FAIL" in text, "--compare: a jump of 0.5 at update 13 fails, naming the update")
    code, text = compare(a, b)
    check(code == 0 and "equivalence PASS" in text, "--compare: within tolerance passes (exit 0)")
    code, text = compare(flat, flat)
    check(code == 1 and "flat curve" in text, "--compare: a reference that does not fall fails (it tells nothing)")

    # A checkpoint in Fathom's format (proto/checkpoint.proto), written by hand.
    def varint(x):
        out = b""
        while True:
            out += bytes([(x & 0x7F) | (0x80 if x > 0x7F else 0)])
            x >>= 7
            if not x:
                return out

    def ld(field, payload):
        return varint(field << 3 | 2) + varint(len(payload)) + payload

    def tensor_meta(name, shape, offset):
        size = 4 * math.prod(shape)
        packed = b"".join(varint(d) for d in shape)
        return (ld(1, name.encode()) + varint(2 << 3) + varint(1) + ld(3, packed) + varint(4 << 3) + varint(offset) +
                varint(5 << 3) + varint(size))
    ck = os.path.join(tmp, "run", "checkpoints", "00000001")
    os.makedirs(ck)
    with open(os.path.join(tmp, "run", "checkpoints", "LATEST"), "w") as f:
        f.write("00000001\n")
    values = [float(i) for i in range(6)]
    with open(os.path.join(ck, "tensors.bin"), "wb") as f:
        f.write(struct.pack("<6f", *values) + b"\0" * 40 + struct.pack("<f", 2.5))
    with open(os.path.join(ck, "meta.pb"), "wb") as f:
        f.write(varint(1 << 3) + varint(1) + ld(2, tensor_meta("model.encoder.layers.0.ffn.fc1.weight", [2, 3], 0)) +
                ld(2, tensor_meta("model.encoder.layers.0.attention_residual.omega", [1], 64)))
    tensors = tg.read_fathom_checkpoint(os.path.join(tmp, "run"))
    w = tensors.get("model.encoder.layers.0.ffn.fc1.weight")
    check(w is not None and w.shape == (2, 3) and w.ravel().tolist() == values and
          tensors["model.encoder.layers.0.attention_residual.omega"].tolist() == [2.5],
          "read_fathom_checkpoint: shapes, offsets and values of a run's LATEST checkpoint")

# Parameter names and counts.
check(tg.fathom_name("encoder.3.ffn.fc1.weight") == "model.encoder.layers.3.ffn.fc1.weight" and
      tg.fathom_name("table") == "model.source_embeddings.table" and
      tg.fathom_name("decoder.11.cross_residual.omega") == "model.decoder.layers.11.cross_residual.omega",
      "fathom_name maps the PyTorch side's names to Fathom's")
tiny = argparse.Namespace(vocab=1000, d_model=64, ffn=128, encoder_layers=2, decoder_layers=2, norm="admin")
check(tg.param_count(tiny) == 231680, f"param_count: tiny Admin 2L-2L has Fathom's 231680 ({tg.param_count(tiny)})")

# Result lines and the tables.
line = tg.format_result({"name": "base", "impl": "fathom", "tok_s": "100"})
check(tg.parse_result(line) == {"name": "base", "impl": "fathom", "tok_s": "100"}, "format_result / parse_result round trip")
try:
    tg.format_result({"name": "a b"})
    check(False, "format_result refuses a value with a space")
except ValueError:
    check(True, "format_result refuses a value with a space")


def row(**kw):
    base = {"variant": "default", "max_tokens": "16384", "window_steps": "50", "timed_windows": "3",
            "warmup_steps": "50", "fair": "yes", "status": "ok", "spread": "0.05"}
    base.update({k: str(v) for k, v in kw.items()})
    base["tok_s_min"], base["tok_s_max"] = base.get("tok_s", "0"), base.get("tok_s", "0")
    return tg.format_result(base) + "\n"


with tempfile.TemporaryDirectory() as tmp:
    results = os.path.join(tmp, "results.txt")
    with open(results, "w") as f:
        f.write(row(name="base", impl="fathom", tok_s=300000, mfu=0.3, check="agree"))
        f.write(row(name="base", impl="eager", tok_s=150000, mfu=0.15))
        f.write(row(name="base", impl="compile", tok_s=400000, mfu=0.4, compile_scope="model"))
        f.write(row(name="base", impl="fathom", variant="fused_kernels=false", tok_s=200000))
        f.write(row(name="big", impl="fathom", tok_s=100000, mfu=0.45))
        f.write(row(name="big", impl="fathom", variant="best_batch", max_tokens=32768, tok_s=120000, mfu=0.54))
        f.write("result name=big impl=fathom variant=best_batch max_tokens=65536 status=oom\n")
        f.write(row(name="big", impl="eager", tok_s=80000, fair="no"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tg.print_table(results)
    text = out.getvalue()
    check("| base | 16384 | 300,000 [300,000-300,000, 5%] | 150,000" in text, "table: base's row, median [min-max, spread]")
    check("2.00x met" in text and "0.75x MISSED" in text, "table: Fathom/eager 2.00x met, Fathom/compile 0.75x MISSED")
    check("| base | 16384 | distributed.fused_kernels false | 200,000 [200,000-200,000, 5%] | 1.50x |" in text,
          "table: the ablation's row, default / with it off")
    check("| big | fathom | 32768, 120,000 | 32768, 120,000, 54.0% | 65536 |" in text,
          "table: best batch, largest and fastest, first OOM")
    check("big Fathom MFU at its best batch 54.0% (target 50%: met)" in text, "table: the MFU target for big")
    check("(not fair)" in text and "note: 1 runs are not fair" in text, "table: an unfair run is marked")

print(f"{failures} failed")
sys.exit(1 if failures else 0)
