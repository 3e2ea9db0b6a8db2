#!/usr/bin/env python3
"""The event files Fathom writes, read by TensorBoard's own reader (PyPI tensorboard, pinned in
launch/torch2-requirements.txt).

tests/event_writer_test.cc checks trainer/event_writer against a reader written there and bytes
TensorBoard publishes; this check loads the files with TensorBoard itself:
  - writer: tests/tools/tensorboard_events_writer (the EventWriter directly) writes scalars,
    including float edge values, odd tags and steps, in three files as a run and two quick
    resumes do; EventAccumulator must give back every tag, step and value (rounded to float, as
    simple_value is), while the first file is still being written and after, and
    EventFileLoader must read each file's records (CRCs checked) starting with the version.
  - training: `fathom train` on a Multi30k slice, 6 updates then resumed to 9, logging every
    update and validating every 3; TensorBoard must see the train/* and valid/nll scalars of
    every step once, across both runs' files, equal to the values the log printed.

Usage: tensorboard_reader_test.py --fathom BIN --writer BIN --shared-data DIR [--require]
Exit: 0 all read as written; 1 a difference (each printed); 77 tensorboard is not importable
(skipped, never with --require).
"""

import argparse
import gzip
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

from tool_check import Checker, import_tool

# Tags every run writes (it may write more train/ and valid/ ones).
TRAIN_TAGS = {"train/loss", "train/nll", "train/lr", "train/grad_norm", "train/loss_scale",
              "train/tokens_per_second"}


def as_float32(value):
    """What a float simple_value holds of `value`."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def same_value(expected, actual):
    if math.isnan(expected):
        return math.isnan(actual)
    return actual == expected and math.copysign(1, actual) == math.copysign(1, expected)


def accumulator(event_accumulator, directory):
    # 0: keep every scalar (the default samples 10,000 per tag).
    acc = event_accumulator.EventAccumulator(directory,
                                             size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return acc


def compare_scalars(check, what, acc, expected):
    """`expected`: (tag, step, value) in the order written."""
    by_tag = {}
    for tag, step, value in expected:
        by_tag.setdefault(tag, []).append((step, as_float32(value)))
    check.equal(f"{what}: tags", sorted(acc.Tags()["scalars"]), sorted(by_tag))
    for tag, want in by_tag.items():
        if tag not in acc.Tags()["scalars"]:
            continue
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        if not check.equal(f"{what}: steps of {tag}", [s for s, _ in got], [s for s, _ in want]):
            continue
        for (step, value), (_, wanted) in zip(got, want):
            check.true(f"{what}: {tag} at step {step}", same_value(wanted, value),
                       f"read {value!r}, wrote {wanted!r}")


def parse_writer_output(lines, expected, files):
    for line in lines:
        fields = line.rstrip("\n").split("\t")
        if fields[0] == "scalar":
            expected.append((fields[1], int(fields[2]), float(fields[3])))
        elif fields[0] == "file":
            files.append(fields[1])


def check_writer(check, tensorboard_modules, writer, workdir):
    event_accumulator, event_file_loader = tensorboard_modules
    directory = os.path.join(workdir, "writer")
    start = time.time()
    process = subprocess.Popen([writer, directory], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, encoding="utf-8")
    expected, files, head = [], [], []
    for line in process.stdout:
        if line.strip() == "flushed":
            break
        head.append(line)
    parse_writer_output(head, expected, files)
    check.true("writer: half the first file written", len(expected) > 10)
    # TensorBoard reads a run that is still writing.
    live = accumulator(event_accumulator, directory)
    compare_scalars(check, "writer, first file half written", live, expected)
    process.stdin.write("\n")
    process.stdin.flush()
    parse_writer_output(process.stdout, expected, files)
    if not check.equal("writer: exit code", process.wait(), 0):
        return
    end = time.time()
    check.equal("writer: files", len(files), 3)
    live.Reload()  # goes on from where it was, into the later files
    compare_scalars(check, "writer, reloaded", live, expected)
    compare_scalars(check, "writer, read afresh", accumulator(event_accumulator, directory),
                    expected)
    # Each file on its own (CRCs checked): the version record first, then one simple_value per
    # record, which TensorBoard's migration turns into a scalars-plugin tensor of the same value.
    written = 0
    for path in files:
        events = list(event_file_loader.LegacyEventFileLoader(path).Load())
        migrated = list(event_file_loader.EventFileLoader(path).Load())
        name = os.path.basename(path)
        if not check.true(f"writer: {name} has events", len(events) > 1):
            continue
        check.equal(f"writer: {name} version", events[0].file_version, "brain.Event:2")
        times = [e.wall_time for e in events]
        check.true(f"writer: {name} wall times", start - 2 <= times[0] and times[-1] <= end + 2
                   and times == sorted(times), f"{times[0]}..{times[-1]} for {start}..{end}")
        values = [e.summary.value for e in events[1:]]
        check.true(f"writer: {name} one simple_value per event",
                   all(len(v) == 1 and v[0].WhichOneof("value") == "simple_value"
                       for v in values))
        tensors = [e.summary.value[0] for e in migrated[1:]]
        check.true(f"writer: {name} migrated to scalar tensors",
                   len(tensors) == len(values) and all(
                       t.metadata.plugin_data.plugin_name == "scalars" and
                       same_value(v[0].simple_value, t.tensor.float_val[0])
                       for t, v in zip(tensors, values)))
        written += len(events) - 1
    check.equal("writer: scalars in the files", written, len(expected))


def read_lines(path, count):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [next(f) for _ in range(count)]


def run(command):
    result = subprocess.run(command, capture_output=True, text=True, encoding="utf-8")
    return result.returncode, result.stdout + result.stderr


def train_config(workdir, max_steps):
    return f"""
run_dir: "{workdir}/run"
data {{
  split {{ name: "train" source: "{workdir}/train.de" target: "{workdir}/train.en" }}
  split {{ name: "valid" source: "{workdir}/valid.de" target: "{workdir}/valid.en" }}
  prepared_dir: "{workdir}/prepared"
  sentencepiece {{ vocab_size: 300 }}
  batch {{ max_tokens: 512 }}
  encode_threads: 1
}}
model {{ encoder_layers: 1 decoder_layers: 1 d_model: 32 heads: 4 ffn_dim: 64 }}
optim {{ max_steps: {max_steps} warmup_steps: 2 }}
eval {{ log_every_steps: 1 valid_every_steps: 3 }}
checkpoint {{ save_every_steps: 3 }}
distributed {{ threads: 1 }}
"""


def check_training(check, tensorboard_modules, fathom, shared, workdir):
    event_accumulator, _ = tensorboard_modules
    m30k = os.path.join(shared, "translation", "multi30k")
    for split, source, count in (("train", "train", 300), ("valid", "val", 20)):
        for lang in ("de", "en"):
            with open(os.path.join(workdir, f"{split}.{lang}"), "w", encoding="utf-8") as f:
                f.writelines(read_lines(os.path.join(m30k, f"{source}.{lang}.gz"), count))
    config = os.path.join(workdir, "run.pbtxt")
    with open(config, "w", encoding="utf-8") as f:
        f.write(train_config(workdir, 6))
    rc, output = run([fathom, "prepare", "--config", config])
    if not check.equal("fathom prepare exit code", rc, 0):
        print(output)
        return
    rc, log = run([fathom, "train", "--config", config])
    if not check.equal("fathom train exit code", rc, 0):
        print(log)
        return
    with open(config, "w", encoding="utf-8") as f:
        f.write(train_config(workdir, 9))
    rc, resumed = run([fathom, "train", "--config", config, "--resume"])
    if not check.equal("fathom train --resume exit code", rc, 0):
        print(resumed)
        return
    log += resumed
    # What the log printed: "step S | epoch E | loss L | nll N | ppl P | lr R | ...".
    printed = {}
    for m in re.finditer(r"step (\d+) \| epoch \S+ \| loss (\S+) \| nll (\S+) \| ppl \S+ \| "
                         r"lr (\S+) \| gnorm (\S+)", log):
        printed[int(m.group(1))] = {"train/loss": (m.group(2), 4), "train/nll": (m.group(3), 4),
                                    "train/lr": (m.group(4), None),
                                    "train/grad_norm": (m.group(5), 3)}
    valid = {int(m.group(1)): m.group(2)
             for m in re.finditer(r"valid \| step (\d+) \| nll (\S+)", log)}
    check.equal("training: steps logged", sorted(printed), list(range(1, 10)))
    check.equal("training: steps validated", sorted(valid), [3, 6, 9])
    tb = os.path.join(workdir, "run", "tb")
    check.equal("training: event files", len(os.listdir(tb)), 2)
    acc = accumulator(event_accumulator, tb)
    tags = set(acc.Tags()["scalars"])
    check.equal("training: tags written", sorted((TRAIN_TAGS | {"valid/nll"}) - tags), [])
    check.equal("training: tags outside train/ and valid/",
                sorted(t for t in tags if not t.startswith(("train/", "valid/"))), [])
    # Every step once, though the second run's file starts with its own version record.
    for tag in sorted(tags):
        steps = list(range(1, 10)) if tag.startswith("train/") else [3, 6, 9]
        check.equal(f"training: steps of {tag}", [e.step for e in acc.Scalars(tag)], steps)
    for tag in ("train/loss", "train/nll", "train/lr", "train/grad_norm"):
        for e in acc.Scalars(tag):
            text, decimals = printed.get(e.step, {}).get(tag, ("nan", 0))
            # The log prints %.4f (loss, nll), %.3f (gnorm) or %.3g (lr) of the same value.
            ours = f"{e.value:.{decimals}f}" if decimals else f"{e.value:.3g}"
            check.equal(f"training: {tag} at step {e.step} (as the log prints it)", ours, text)
    for e in acc.Scalars("valid/nll"):
        check.equal(f"training: valid/nll at step {e.step}", f"{e.value:.4f}", valid.get(e.step))
    check.true("training: loss scale 1 on the CPU",
               all(e.value == 1 for e in acc.Scalars("train/loss_scale")))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fathom", required=True, help="the fathom binary")
    parser.add_argument("--writer", required=True, help="tensorboard_events_writer")
    parser.add_argument("--shared-data", required=True, help="../shared/data")
    parser.add_argument("--require", action="store_true",
                        help="a missing tensorboard is a failure, not a skip")
    args = parser.parse_args()
    import_tool("tensorboard", "2.", args.require)
    from tensorboard.backend.event_processing import event_accumulator, event_file_loader
    modules = (event_accumulator, event_file_loader)

    check = Checker()
    workdir = tempfile.mkdtemp(prefix="fathom_tensorboard_")
    try:
        check_writer(check, modules, args.writer, workdir)
        check_training(check, modules, args.fathom, args.shared_data, workdir)
    finally:
        if check.failed:
            print(f"files read: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
