#!/usr/bin/env python3
"""F3 (tied output embeddings): the initial loss of a freshly initialised tied model against
Su Jianlin's prediction as d and V vary, and each remedy against log V.

Every point is `fathom train` with max_steps 1 on one rank: the trainer measures the initial
loss on its first real training batch after the initialisation (models/initial_loss.cc,
EstimateInitialLoss, eval mode) and logs it with log V and the logit variance s^2; this script
reads that line from train.log. Corpus: the pooled WMT news test sets 2008-2020 without
newstest2014 (27k German-English pairs, ../shared/data/translation/news-de-en), one joint
SentencePiece vocabulary per V.

Writes results/f3_tied.md and results/f3_tied.png. See bench/fidelity/README.md.
"""

import argparse
import glob
import gzip
import math
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

REMEDIES = ["NO_REMEDY", "UNTIE_OUTPUT", "ORTHOGONAL_PROJECTION", "ROLL_HALVES"]
LABEL = {"NO_REMEDY": "tied, no remedy", "UNTIE_OUTPUT": "untie output",
         "ORTHOGONAL_PROJECTION": "orthogonal projection", "ROLL_HALVES": "roll halves"}


def sizes(args):
    if args.tiny:  # the CTest smoke test
        return dict(ds=[64, 256], vs=[], v_fixed=2000, d_fixed=256, layers=1, max_tokens=1024)
    if args.full:
        return dict(ds=[64, 128, 256, 512, 1024, 2048], vs=[1000, 2000, 4000, 16000, 32000],
                    v_fixed=8000, d_fixed=512, layers=6, max_tokens=8192)
    return dict(ds=[64, 128, 256, 512, 1024], vs=[1000, 2000, 4000, 16000, 32000], v_fixed=8000,
                d_fixed=512, layers=1, max_tokens=4096)


def predicted_fathom(d, v):
    """models::PredictedTiedInitialLoss: own logit sqrt(d / 1.5) (positions before the final LN),
    the others N(0, 1): log(e^sqrt(d/1.5) + (V - 1) e^(1/2))."""
    return logsumexp(math.sqrt(d / 1.5), math.log(v - 1) + 0.5)


def predicted_article(d, v):
    """The article's log(e^(d sigma) + (V - 1) e^(d sigma^2 / 2)) with sigma = d^-1/2: own logit
    sqrt(d), no positions."""
    return logsumexp(math.sqrt(d), math.log(v - 1) + 0.5)


def logsumexp(a, b):
    top = max(a, b)
    return top + math.log(math.exp(a - top) + math.exp(b - top))


def corpus(work):
    """The pooled news test sets (not newstest2014) as two .gz files in the work directory."""
    out = {s: os.path.join(work, f"news.{s}.gz") for s in ("deu", "eng")}
    if all(os.path.exists(p) for p in out.values()):
        return out
    folder = common.shared("translation", "news-de-en")
    for side, path in out.items():
        files = sorted(f for f in glob.glob(os.path.join(folder, f"*.{side}"))
                       if "newstest2014" not in f)
        with gzip.open(path + ".tmp", "wb") as dst:
            for name in files:
                with open(name, "rb") as src:
                    shutil.copyfileobj(src, dst)
        os.replace(path + ".tmp", path)
    return out


def prepared(args, text, v):
    data_dir = os.path.join(args.work, "data-bin", f"news_{v}")
    config = os.path.join(args.work, "configs", f"prepare_{v}.pbtxt")
    common.write_config(config, f"""run_dir: "{common.rel(os.path.join(args.work, 'unused'))}"
data {{
  task: TRANSLATION
  split {{ name: "train" source: "{common.rel(text['deu'])}" target: "{common.rel(text['eng'])}" }}
  prepared_dir: "{common.rel(data_dir)}"
  sentencepiece {{ joint: true model_type: UNIGRAM vocab_size: {v} }}
  filter {{ max_length: 128 max_length_ratio: 3.0 }}
}}
""")
    common.prepare(args.fathom, config, data_dir)
    return data_dir


def measure(args, s, data_dir, d, v, remedy, method):
    name = f"d{d}_v{v}_{remedy.lower()}_{method.lower()}"
    run_dir = os.path.join(args.work, "runs", name)
    log = common.TrainLog(os.path.join(run_dir, "train.log"))
    if log.initial is not None and not args.fresh:
        return log.initial
    shutil.rmtree(run_dir, ignore_errors=True)
    config = os.path.join(args.work, "configs", name + ".pbtxt")
    sharing = "TIE_ALL"
    remedy_field = f"tied_output_remedy: {remedy}"
    common.write_config(config, f"""# F3: initial loss of d {d}, V {v}, {remedy} ({method}).
run_dir: "{common.rel(run_dir)}"
seed: {args.seed}
data {{
  prepared_dir: "{common.rel(data_dir)}"
  batch {{ max_tokens: {s['max_tokens']} }}
}}
model {{
  encoder_layers: {s['layers']} decoder_layers: {s['layers']} d_model: {d} heads: 4
  ffn_dim: {2 * d} dropout: 0.1 embedding_sharing: {sharing} {remedy_field}
}}
init {{ method: {method} }}
optim {{ optimizer: ADAM lr: 1e-4 warmup_steps: 1 max_steps: 1 }}
distributed {{ device: "{args.device}" }}
eval {{ log_every_steps: 1 valid_every_steps: 1000000 }}
checkpoint {{ save_every_steps: 1000000 keep_last: 1 keep_best: 0 }}
""")
    os.makedirs(run_dir, exist_ok=True)
    common.run([args.fathom, "train", "--config", config],
               log_path=os.path.join(args.work, "runs", name + ".out"), ranks=1)
    # Only the initial loss is wanted: the one-update checkpoint is dropped.
    shutil.rmtree(os.path.join(run_dir, "checkpoints"), ignore_errors=True)
    log = common.TrainLog(os.path.join(run_dir, "train.log"))
    if log.initial is None:
        common.die(f"no 'initial loss' line in {run_dir}/train.log")
    return log.initial


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(parser, "f3")
    parser.add_argument("--method", default="POST_LN",
                        help="init.method of the measured models (default POST_LN)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tiny", action="store_true",
                        help="the smoke-test size: d 64 and 256 at V 2000, exits 1 unless every "
                             "remedy is within 1 nat of log V + s^2/2 and no remedy is above it")
    args = parser.parse_args()
    plt = None if args.tiny else common.pyplot()  # a missing matplotlib stops at once
    args = common.resolve(args)
    args.ranks = 1  # nothing is trained: one rank measures its first batch
    started = time.time()
    s = sizes(args)
    text = corpus(args.work)
    points = {}  # (d, v, remedy) -> initial-loss dict
    vocab_sizes = sorted(set([s["v_fixed"]] + s["vs"]))
    data = {v: prepared(args, text, v) for v in vocab_sizes}
    grid = [(d, s["v_fixed"]) for d in s["ds"]] + [(s["d_fixed"], v) for v in s["vs"]]
    for d, v in grid:
        for remedy in REMEDIES:
            if (d, v, remedy) not in points:
                points[(d, v, remedy)] = measure(args, s, data[v], d, v, remedy, args.method)

    rows = []
    for d, v in sorted(set(grid), key=lambda p: (p[1] != s["v_fixed"], p[1], p[0])):
        p = {r: points[(d, v, r)] for r in REMEDIES}
        rows.append([d, v, math.log(v), predicted_article(d, v), predicted_fathom(d, v)] +
                    [p[r]["loss"] for r in REMEDIES] +
                    [p["NO_REMEDY"]["logit_variance"], p["ROLL_HALVES"]["logit_variance"]])
    header = ["d", "V", "log V", "article", "article + positions", "tied (no remedy)", "untie",
              "orthogonal", "roll halves", "s² tied", "s² roll"]
    table = common.markdown_table(header, rows)

    if args.tiny:
        failures = []
        for (d, v, remedy), p in points.items():
            blind = p["log_vocab"] + p["logit_variance"] / 2
            if remedy != "NO_REMEDY" and abs(p["loss"] - blind) > 1.0:
                failures.append(f"d {d} V {v} {remedy}: {p['loss']:.2f} vs log V + s²/2 = "
                                f"{blind:.2f}")
            if remedy == "NO_REMEDY" and d >= 256 and p["loss"] < p["log_vocab"] + 1.0:
                failures.append(f"d {d} V {v} tied: {p['loss']:.2f}, not above log V + 1")
        print(table)
        if failures:
            common.die("F3 smoke test failed:\n  " + "\n  ".join(failures))
        print("F3 smoke test passed: the tied model starts above log V, every remedy near "
              "log V + s²/2")
        return

    notes = (f"Initial loss (nats per target piece) of a freshly initialised {args.method} model, "
             f"{s['layers']}L-{s['layers']}L, heads 4, FFN 2d, all embeddings tied (TIE_ALL) "
             f"unless the remedy unties the output, measured by `fathom train` on its first "
             f"training batch ({s['max_tokens']} tokens) of the pooled news test sets. "
             "'article': log(e^sqrt(d) + (V-1) e^(1/2)), the note's formula with sigma = d^-1/2; "
             "'article + positions': models::PredictedTiedInitialLoss, own logit sqrt(d/1.5) "
             "because sinusoidal positions are added before the LayerNorm. s²: the measured "
             "variance of the logits over the vocabulary (an input-blind output has loss "
             "log V + s²/2).\n" + common.footer(args, started))
    common.write_result(args.out, "f3_tied", "F3: initial loss of tied output embeddings", table,
                        notes)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=90)
    styles = {"NO_REMEDY": "o-", "UNTIE_OUTPUT": "s-", "ORTHOGONAL_PROJECTION": "^-",
              "ROLL_HALVES": "v-"}
    for ax, key, xs, fixed in ((axes[0], "d", s["ds"], s["v_fixed"]),
                               (axes[1], "V", sorted(set(s["vs"] + [s["v_fixed"]])),
                                s["d_fixed"])):
        pairs = [(x, fixed) if key == "d" else (fixed, x) for x in xs]
        for r in REMEDIES:
            ax.plot(xs, [points[(d, v, r)]["loss"] for d, v in pairs], styles[r], label=LABEL[r])
        ax.plot(xs, [predicted_article(d, v) for d, v in pairs], "k--", label="article")
        ax.plot(xs, [predicted_fathom(d, v) for d, v in pairs], "k-.",
                label="article + positions")
        ax.plot(xs, [math.log(v) for d, v in pairs], "k:", label="log V")
        ax.set_xscale("log", base=2)
        ax.set_xlabel(key)
        ax.set_ylabel("initial loss (nats)")
        ax.set_title(f"V = {fixed}" if key == "d" else f"d = {fixed}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"F3: initial loss of a tied {args.method} model "
                 f"({s['layers']}L-{s['layers']}L, news de-en)", fontsize=10)
    common.save_figure(fig, args.out, "f3_tied.png")


if __name__ == "__main__":
    main()
