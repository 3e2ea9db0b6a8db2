#!/usr/bin/env python3
"""F1 (Admin, Liu et al. 2020): at 12 and 18 layers per side, Post-LN without Admin diverges or
lags at a learning rate where Admin and Pre-LN train, and Admin ends at least as good as Pre-LN.

Trains Post-LN, Pre-LN and Admin at each depth with the same data, batches, learning rate,
warm-up and number of updates (`fathom train`, 2 MPI ranks on CPU), validates at the end, and
plots the training loss of each scheme per depth. Data: Multi30k de->en
(../shared/data/translation/multi30k), joint 8k SentencePiece vocabulary.

Writes results/f1_admin.md and results/f1_admin.png. See bench/fidelity/README.md.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SCHEMES = ["POST_LN", "PRE_LN", "ADMIN"]
LABEL = {"POST_LN": "Post-LN", "PRE_LN": "Pre-LN", "ADMIN": "Admin"}
COLOR = {"POST_LN": "tab:red", "PRE_LN": "tab:blue", "ADMIN": "tab:green"}


def sizes(args):
    if args.full:
        # The paper's WMT14 En-De model on Multi30k, long enough to leave the warm-up far behind.
        s = dict(d=512, heads=8, ffn=2048, max_tokens=4096, lr=1e-3, warmup=4000, steps=30000,
                 log_every=100, valid_every=2000, vocab=8000)
    else:
        s = dict(d=64, heads=4, ffn=256, max_tokens=1024, lr=2e-3, warmup=40, steps=120,
                 log_every=5, valid_every=0, vocab=8000)
    if args.d is not None:
        s.update(d=args.d, ffn=4 * args.d)
    for key in ("lr", "warmup", "steps"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    return s


def prepared(args, s):
    data_dir = os.path.join(args.work, "data-bin", f"multi30k_de_en_{s['vocab']}")
    config = os.path.join(args.work, "configs", "prepare.pbtxt")
    common.write_config(config, f"""run_dir: "{common.rel(os.path.join(args.work, 'unused'))}"
{data_section(s, data_dir)}""")
    common.prepare(args.fathom, config, data_dir)
    return data_dir


def data_section(s, data_dir):
    m = "translation/multi30k/"
    return f"""data {{
  task: TRANSLATION
  split {{ name: "train" source: "{common.shared(m + 'train.de.gz')}" target: "{common.shared(m + 'train.en.gz')}" }}
  split {{ name: "valid" source: "{common.shared(m + 'val.de.gz')}" target: "{common.shared(m + 'val.en.gz')}" }}
  prepared_dir: "{common.rel(data_dir)}"
  sentencepiece {{ joint: true model_type: UNIGRAM vocab_size: {s['vocab']} }}
  filter {{ max_length: 128 max_length_ratio: 3.0 }}
  batch {{ max_tokens: {s['max_tokens']} }}
}}
"""


def train(args, s, data_dir, layers, scheme):
    name = f"{layers}L_{scheme.lower()}"
    run_dir = os.path.join(args.work, "runs", name)
    log = common.TrainLog(os.path.join(run_dir, "train.log"))
    if (log.stopped or log.error) and not args.fresh:
        return log
    config = os.path.join(args.work, "configs", name + ".pbtxt")
    common.write_config(config, f"""# F1: {layers}L-{layers}L {scheme}; every scheme gets the same everything else.
run_dir: "{common.rel(run_dir)}"
seed: {args.seed}
{data_section(s, data_dir)}model {{
  encoder_layers: {layers} decoder_layers: {layers} d_model: {s['d']} heads: {s['heads']}
  ffn_dim: {s['ffn']} dropout: 0.1 embedding_sharing: TIE_ALL
}}
init {{ method: {scheme} }}
optim {{
  optimizer: ADAM beta1: 0.9 beta2: 0.98 lr: {s['lr']} schedule: INVERSE_SQRT
  warmup_steps: {s['warmup']} label_smoothing: 0.1 max_steps: {s['steps']}
}}
distributed {{ device: "{args.device}" }}
eval {{ log_every_steps: {s['log_every']} valid_every_steps: {min(s['valid_every'] or s['steps'], s['steps'])} }}
checkpoint {{ save_every_steps: {s['steps']} keep_last: 1 keep_best: 0 }}
""")
    return common.train_to_log(args, config, run_dir, name)


def verdict(log, best_final, unigram):
    if log.diverged():
        return f"diverged (NaN after step {int(log.steps[-1]['step']) if log.steps else 0})"
    final = log.last_valid()
    if final is None:
        return "no validation"
    if final > unigram - 0.15:
        return "stuck at the unigram level"
    if final > best_final + 0.5:
        return "lags"
    return "trains"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(parser, "f1")
    parser.add_argument("--layers", default="12,18", help="layers per side, comma-separated")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up updates")
    parser.add_argument("--steps", type=int, default=None, help="updates per run")
    parser.add_argument("--d", type=int, default=None, help="d_model (FFN 4d)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    plt = common.pyplot()  # before anything runs: a missing matplotlib stops at once
    args = common.resolve(args)
    started = time.time()
    s = sizes(args)
    data_dir = prepared(args, s)
    depths = [int(x) for x in args.layers.split(",")]
    logs = {}
    for layers in depths:
        for scheme in SCHEMES:
            logs[(layers, scheme)] = train(args, s, data_dir, layers, scheme)

    unigram = common.unigram_nll(data_dir)
    rows = []
    for layers in depths:
        finals = [logs[(layers, sc)].last_valid() for sc in SCHEMES]
        best_final = min(f for f in finals if f is not None) if any(
            f is not None for f in finals) else 0.0
        for scheme in SCHEMES:
            log = logs[(layers, scheme)]
            initial = log.initial["loss"] if log.initial else None
            steps = int(log.steps[-1]["step"]) if log.steps else 0
            rows.append([f"{layers}L-{layers}L", LABEL[scheme], initial,
                         log.last("loss", 3), log.last("nll", 3), log.last_valid(),
                         log.last("gnorm", 3), steps, verdict(log, best_final, unigram)])
    header = ["depth", "scheme", "initial loss", "train loss (last 3 logs)",
              "train nll (last 3)", "valid nll (end)", "gnorm (last 3)", "updates", "reading"]
    table = common.markdown_table(header, rows)
    omegas = "\n".join(f"- {layers}L Admin: {logs[(layers, 'ADMIN')].omegas}" for layers in depths
                       if logs[(layers, "ADMIN")].omegas)
    notes = (f"Multi30k de->en, joint {s['vocab']} SentencePiece, d {s['d']}, {s['heads']} heads, "
             f"FFN {s['ffn']}, dropout 0.1, all embeddings tied, {args.ranks} ranks x "
             f"{s['max_tokens']} tokens per update, Adam (0.9, 0.98), peak lr {s['lr']}, "
             f"inverse-sqrt schedule with {s['warmup']} warm-up updates, label smoothing 0.1, "
             f"{s['steps']} updates per run, validation nll (unsmoothed, per target piece) on "
             f"the 1,014 val pairs at the end. Unigram level: {unigram:.2f} nats, the valid "
             "nll of the training targets' unigram distribution (a model that ignores source "
             "and history). Reading: 'stuck' within 0.15 nats of the unigram level or above; "
             "'lags' more than 0.5 nats above the best scheme at that depth; 'diverged' a NaN "
             f"stopped the run.\n\n{omegas}\n" + common.footer(args, started))
    common.write_result(args.out, "f1_admin", "F1: Admin against Post-LN and Pre-LN", table, notes)

    fig, axes = plt.subplots(1, len(depths), figsize=(5 * len(depths), 4), dpi=90, squeeze=False)
    for ax, layers in zip(axes[0], depths):
        for scheme in SCHEMES:
            log = logs[(layers, scheme)]
            xs = [p["step"] for p in log.steps]
            ys = [p["nll"] for p in log.steps]
            label = LABEL[scheme] + (" (NaN)" if log.diverged() else "")
            ax.plot(xs, ys, color=COLOR[scheme], label=label)
            v = [(p["step"], p["nll"]) for p in log.valid if isinstance(p.get("nll"), float)]
            if v:
                ax.plot([x for x, _ in v], [y for _, y in v], "o", color=COLOR[scheme])
        ax.axhline(unigram, color="k", linestyle=":", label="unigram level (valid)")
        ax.set_title(f"{layers}L-{layers}L, lr {s['lr']}, warm-up {s['warmup']}")
        ax.set_xlabel("update")
        ax.set_ylabel("training nll; dots: valid nll")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"F1: Post-LN vs Pre-LN vs Admin, Multi30k de-en, d {s['d']}", fontsize=10)
    common.save_figure(fig, args.out, "f1_admin.png")


if __name__ == "__main__":
    main()
