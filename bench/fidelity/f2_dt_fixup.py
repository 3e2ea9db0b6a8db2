#!/usr/bin/env python3
"""F2 (DT-Fixup, Xu et al. 2021): on Spider, a deep relation-aware encoder (8, 16, 24 layers)
trains with DT-Fixup, without LayerNorm and without warm-up, where Post-LN without warm-up
collapses; exact match per depth.

For each depth, DT-Fixup (init.method DT_FIXUP, its own schedule: no warm-up, lr (1 - t/T)^0.5)
and Post-LN with the same schedule (no warm-up) train the same number of updates with the same
data, batches and learning rate (`fathom train`, 2 MPI ranks on CPU). Then each predicts SQL
for Spider dev questions from its checkpoint (`fathom translate --spider_json`, the
predict-SQL path) and `fathom sql-eval --tables` scores the official exact-set match. The
validation loss at the end is reported beside it, since a CPU-sized model stays near 0% exact
match.

Writes results/f2_dt_fixup.md and results/f2_dt_fixup.png. See bench/fidelity/README.md.
"""

import argparse
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SCHEMES = ["POST_LN", "DT_FIXUP"]
LABEL = {"POST_LN": "Post-LN, no warm-up", "DT_FIXUP": "DT-Fixup (no LN, no warm-up)"}
COLOR = {"POST_LN": "tab:red", "DT_FIXUP": "tab:green"}


def sizes(args):
    if args.full:
        # The shipped configs/spider_dt_fixup.pbtxt model at each depth; the paper's lr range.
        s = dict(d=256, heads=8, ffn=1024, decoder_layers=4, max_tokens=8192, max_length=1024,
                 lr=5e-4, steps=20000, log_every=100, valid_every=2000, dev_questions=0, beam=4,
                 vocab=4000)
        args.predict = True
    else:
        s = dict(d=64, heads=4, ffn=256, decoder_layers=2, max_tokens=1024, max_length=128,
                 lr=5e-4, steps=100, log_every=5, valid_every=0, dev_questions=0, beam=1,
                 vocab=4000)
    for key in ("lr", "steps", "dev_questions", "max_length"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    return s


def data_section(s, data_dir):
    sp = "spider/"
    return f"""data {{
  task: TEXT_TO_SQL
  spider_tables: "{common.shared(sp + 'tables.json')}"
  split {{ name: "train" spider_json: "{common.shared(sp + 'train_spider.json')}" }}
  split {{ name: "valid" spider_json: "{common.shared(sp + 'dev.json')}" }}
  prepared_dir: "{common.rel(data_dir)}"
  sentencepiece {{ joint: true model_type: UNIGRAM vocab_size: {s['vocab']} }}
  filter {{ max_length: {s['max_length']} max_length_ratio: 0 }}
  batch {{ max_tokens: {s['max_tokens']} }}
}}
"""


def dev_questions(args, s):
    """The first N dev questions (all when N is 0) as a Spider JSON file."""
    path = os.path.join(args.work, f"dev_{s['dev_questions'] or 'all'}.json")
    if not os.path.exists(path):
        with open(common.shared("spider", "dev.json")) as f:
            dev = json.load(f)
        if s["dev_questions"]:
            dev = dev[:s["dev_questions"]]
        with open(path, "w") as f:
            json.dump(dev, f)
    return path


def train(args, s, data_dir, layers, scheme):
    name = f"{layers}L_{scheme.lower()}"
    run_dir = os.path.join(args.work, "runs", name)
    log = common.TrainLog(os.path.join(run_dir, "train.log"))
    if (log.stopped or log.error) and not args.fresh:
        return log
    config = os.path.join(args.work, "configs", name + ".pbtxt")
    # DT-Fixup's schedule for both: no warm-up, lr * (1 - t / max_steps)^0.5.
    common.write_config(config, f"""# F2: {layers} relation-aware encoder layers, {scheme}, no warm-up.
run_dir: "{common.rel(run_dir)}"
seed: {args.seed}
{data_section(s, data_dir)}model {{
  encoder_layers: {layers} decoder_layers: {s['decoder_layers']} d_model: {s['d']}
  heads: {s['heads']} ffn_dim: {s['ffn']} dropout: 0.1 relation_aware: true
}}
init {{ method: {scheme} }}
optim {{ optimizer: ADAM lr: {s['lr']} schedule: SQRT_DECAY max_steps: {s['steps']} }}
distributed {{ device: "{args.device}" }}
eval {{
  log_every_steps: {s['log_every']} valid_every_steps: {min(s['valid_every'] or s['steps'], s['steps'])}
  best_metric: EXACT_MATCH beam_size: {s['beam']}
}}
checkpoint {{ save_every_steps: {s['steps']} keep_last: 1 keep_best: 0 }}
""")
    return common.train_to_log(args, config, run_dir, name)


def exact_match(args, s, name, questions):
    """Predicts SQL for `questions` from the run's checkpoint and scores exact match."""
    run_dir = os.path.join(args.work, "runs", name)
    if not os.path.exists(os.path.join(run_dir, "checkpoints", "LATEST")):
        return None, "no checkpoint"
    stem = os.path.join(run_dir, os.path.splitext(os.path.basename(questions))[0])
    scored = stem + ".sql-eval"
    if not os.path.exists(scored) or args.fresh:
        pred, gold = stem + ".pred.sql", stem + ".gold.sql"
        common.run([args.fathom, "translate", "--checkpoint", run_dir, "--spider_json", questions,
                    "--output", pred, "--gold_output", gold, "--beam", str(s["beam"]),
                    "--device", args.device],
                   log_path=os.path.join(args.work, "runs", name + ".translate.out"),
                   ranks=args.ranks)
        common.run([args.fathom, "sql-eval", "--gold", gold, "--pred", pred, "--tables",
                    common.shared("spider", "tables.json")], log_path=scored)
    with open(scored) as f:
        text = f.read()
    m = re.search(r"exact match: (\d+) of (\d+) \(([\d.]+)%\); predictions that do not parse: "
                  r"(\d+)", text)
    if not m:
        common.die(f"no exact match line in {scored}")
    return float(m.group(3)), f"{m.group(1)}/{m.group(2)}, {m.group(4)} unparsed"


def _valid_count(logs):
    for log in logs.values():
        for line in log.text.splitlines():
            if "exact match" in line and "valid |" in line:
                m = re.search(r"\((\d+) of (\d+);", line)
                if m:
                    return int(m.group(2))
    return "?"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(parser, "f2")
    parser.add_argument("--layers", default="8,16,24", help="encoder layers, comma-separated")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate")
    parser.add_argument("--steps", type=int, default=None, help="updates per run")
    parser.add_argument("--dev_questions", type=int, default=None,
                        help="dev questions to predict (0: all 1,034)")
    parser.add_argument("--max_length", type=int, default=None,
                        help="drop train and dev examples longer than this many pieces")
    parser.add_argument("--predict", action="store_true",
                        help="also predict SQL for Spider dev questions from each checkpoint "
                             "(fathom translate --spider_json) and score them with fathom "
                             "sql-eval (implied by --full)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    plt = common.pyplot()  # before anything runs: a missing matplotlib stops at once
    args = common.resolve(args)
    started = time.time()
    s = sizes(args)
    data_dir = os.path.join(args.work, "data-bin", f"spider_{s['vocab']}_{s['max_length']}")
    prep = os.path.join(args.work, "configs", "prepare.pbtxt")
    common.write_config(prep, f'run_dir: "{common.rel(os.path.join(args.work, "unused"))}"\n' +
                        data_section(s, data_dir))
    common.prepare(args.fathom, prep, data_dir)
    questions = dev_questions(args, s) if args.predict else None
    depths = [int(x) for x in args.layers.split(",")]
    logs, em = {}, {}
    for layers in depths:
        for scheme in SCHEMES:
            name = f"{layers}L_{scheme.lower()}"
            logs[(layers, scheme)] = train(args, s, data_dir, layers, scheme)
            em[(layers, scheme)] = (exact_match(args, s, name, questions) if args.predict
                                    else (None, ""))

    unigram = common.unigram_nll(data_dir)
    valid_count = _valid_count(logs)
    rows = []
    for layers in depths:
        for scheme in SCHEMES:
            log = logs[(layers, scheme)]
            initial = log.initial["loss"] if log.initial else None
            final = log.last_valid()
            if log.diverged():
                reading = "diverged (NaN)"
            elif final is None:
                reading = "no validation"
            elif final > unigram - 0.15:
                reading = "not past the unigram level"
            else:
                reading = "trains"
            row = [layers, LABEL[scheme], initial, log.last("nll", 3), final,
                   log.last_valid("exact_match")]
            if args.predict:
                row += [em[(layers, scheme)][0], em[(layers, scheme)][1]]
            rows.append(row + [reading])
    header = ["encoder layers", "scheme", "initial loss", "train nll (last 3 logs)",
              "valid nll (end)", f"valid exact match % ({valid_count} dev questions)"]
    if args.predict:
        header += ["exact match % (translate --spider_json)", "matched"]
    table = common.markdown_table(header + ["reading"], rows)
    mus = "\n".join(f"- {layers}L DT-Fixup: {logs[(layers, 'DT_FIXUP')].mu}" for layers in depths
                    if logs[(layers, "DT_FIXUP")].mu)
    n_dev = s["dev_questions"] or 1034
    predicted = (f" Exact match (translate --spider_json): the first {n_dev} dev questions, "
                 f"unfiltered, `fathom translate --spider_json --beam {s['beam']}` then "
                 "`fathom sql-eval --tables`." if args.predict else "")
    notes = (f"Spider (train_spider.json; examples over {s['max_length']} pieces dropped from "
             f"train and dev, which keeps the questions on small schemas), joint {s['vocab']} "
             f"SentencePiece, relation-aware encoder (RAT-SQL relations), "
             f"{s['decoder_layers']} decoder layers, d {s['d']}, {s['heads']} heads, "
             f"FFN {s['ffn']}, dropout 0.1, {args.ranks} ranks x {s['max_tokens']} tokens per "
             f"update, Adam, lr {s['lr']} with no warm-up and (1 - t/T)^0.5 decay for both "
             f"schemes, {s['steps']} updates per run. Valid: one validation at the end on the "
             f"kept dev questions, nll and exact match (`eval.best_metric: EXACT_MATCH`, the "
             f"official exact-set match of beam-{s['beam']} SQL, the predict-SQL decoding "
             f"path).{predicted} Unigram level: {unigram:.2f} nats (the valid nll of the "
             "training targets' unigram distribution).\n\n" + mus +
             "\n" + common.footer(args, started))
    common.write_result(args.out, "f2_dt_fixup", "F2: DT-Fixup on Spider", table, notes)

    fig, axes = plt.subplots(1, len(depths), figsize=(4.5 * len(depths), 4), dpi=90,
                             squeeze=False, sharey=True)
    for ax, layers in zip(axes[0], depths):
        for scheme in SCHEMES:
            log = logs[(layers, scheme)]
            label = f"{LABEL[scheme]}: EM {common.fmt(log.last_valid('exact_match'), 1)}%"
            ax.plot([p["step"] for p in log.steps], [p["nll"] for p in log.steps],
                    color=COLOR[scheme], label=label)
            v = [(p["step"], p["nll"]) for p in log.valid if isinstance(p.get("nll"), float)]
            ax.plot([x for x, _ in v], [y for _, y in v], "o", color=COLOR[scheme])
        ax.axhline(unigram, color="k", linestyle=":", label="unigram level (valid)")
        ax.set_title(f"{layers} relation-aware encoder layers")
        ax.set_xlabel("update")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("training nll; dots: valid nll")
    fig.suptitle(f"F2: DT-Fixup vs Post-LN without warm-up, Spider, d {s['d']}, lr {s['lr']}",
                 fontsize=10)
    common.save_figure(fig, args.out, "f2_dt_fixup.png")


if __name__ == "__main__":
    main()
