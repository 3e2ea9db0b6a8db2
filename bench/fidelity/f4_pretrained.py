#!/usr/bin/env python3
"""F4 (pre-trained embeddings, arXiv 2407.12514): random source embeddings against raw GloVe
and GloVe standardised to the random initialisation's range, BLEU after a fixed budget; the
standardised vectors should beat the raw ones.

Multi30k en->de (English source, so the English GloVe vectors cover it), one SentencePiece
vocabulary per side; the source table is random, raw GloVe (model.standardise_pretrained:
false) or standardised GloVe (true); its width is GloVe's 100, and so is d_model, so no
projection enters. Each variant trains the same number of updates (`fathom train`, 2 MPI ranks
on CPU), then `fathom translate` (beam 4) and `fathom score` give BLEU on test_2016_flickr.
GloVe: ../shared/data/embeddings/glove.6B.100d.top20000.txt.gz (6B, 100-d, the 20,000 most
frequent words).

Writes results/f4_pretrained.md and results/f4_pretrained.png. See bench/fidelity/README.md.
"""

import argparse
import gzip
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

VARIANTS = ["random", "glove_raw", "glove_standardised"]
LABEL = {"random": "random (N(0, 1/d))", "glove_raw": "GloVe, raw",
         "glove_standardised": "GloVe, standardised"}
COLOR = {"random": "tab:gray", "glove_raw": "tab:red", "glove_standardised": "tab:green"}


def sizes(args):
    if args.full:
        s = dict(layers=6, d=100, heads=4, ffn=1024, max_tokens=4096, steps=20000, warmup=1000,
                 log_every=100, valid_every=1000)
    else:
        s = dict(layers=3, d=100, heads=4, ffn=400, max_tokens=1536, steps=350, warmup=100,
                 log_every=10, valid_every=175)
    if args.steps is not None:
        s["steps"] = args.steps
        s["valid_every"] = max(1, args.steps // 2)
    return s


def data_section(s, data_dir):
    m = "translation/multi30k/"
    f = lambda n: common.shared(m + n)  # noqa: E731
    return f"""data {{
  task: TRANSLATION
  split {{ name: "train" source: "{f('train.en.gz')}" target: "{f('train.de.gz')}" }}
  split {{ name: "valid" source: "{f('val.en.gz')}" target: "{f('val.de.gz')}" }}
  prepared_dir: "{common.rel(data_dir)}"
  sentencepiece {{ joint: false model_type: UNIGRAM vocab_size: 8000 }}
  filter {{ max_length: 128 max_length_ratio: 3.0 }}
  batch {{ max_tokens: {s['max_tokens']} }}
}}
"""


def train(args, s, data_dir, glove, variant):
    run_dir = os.path.join(args.work, "runs", variant)
    log = common.TrainLog(os.path.join(run_dir, "train.log"))
    hyp = os.path.join(run_dir, "test_2016_flickr.hyp")
    if log.stopped and os.path.exists(hyp) and not args.fresh:
        return log
    embeddings = ""
    if variant != "random":
        standardise = "true" if variant == "glove_standardised" else "false"
        embeddings = (f'\n  pretrained_embeddings: "{glove}" '
                      f"standardise_pretrained: {standardise}")
    config = os.path.join(args.work, "configs", variant + ".pbtxt")
    common.write_config(config, f"""# F4: source embeddings {variant}; every variant gets the same everything else.
run_dir: "{common.rel(run_dir)}"
seed: {args.seed}
{data_section(s, data_dir)}model {{
  encoder_layers: {s['layers']} decoder_layers: {s['layers']} d_model: {s['d']} heads: {s['heads']}
  ffn_dim: {s['ffn']} dropout: 0.1 embedding_sharing: UNTIED{embeddings}
}}
init {{ method: PRE_LN }}
optim {{
  optimizer: ADAM lr: 1e-3 schedule: INVERSE_SQRT warmup_steps: {s['warmup']}
  label_smoothing: 0.1 max_steps: {s['steps']}
}}
distributed {{ device: "{args.device}" }}
eval {{ log_every_steps: {s['log_every']} valid_every_steps: {s['valid_every']} }}
checkpoint {{ save_every_steps: {s['steps']} keep_last: 1 keep_best: 0 }}
""")
    shutil.rmtree(run_dir, ignore_errors=True)
    common.run([args.fathom, "train", "--config", config],
               log_path=os.path.join(args.work, "runs", variant + ".train.out"), ranks=args.ranks)
    common.run([args.fathom, "translate", "--checkpoint", run_dir, "--input",
                common.shared("translation/multi30k/test_2016_flickr.en.gz"), "--output", hyp,
                "--beam", "4", "--device", args.device],
               log_path=os.path.join(args.work, "runs", variant + ".translate.out"),
               ranks=args.ranks)
    return common.TrainLog(os.path.join(run_dir, "train.log"))


def bleu(args, run_dir):
    ref = os.path.join(args.work, "test_2016_flickr.de")
    if not os.path.exists(ref):
        with gzip.open(common.shared("translation/multi30k/test_2016_flickr.de.gz"), "rb") as src, \
                open(ref, "wb") as dst:
            shutil.copyfileobj(src, dst)
    out = os.path.join(run_dir, "test_2016_flickr.bleu")
    common.run([args.fathom, "score", "--hyp", os.path.join(run_dir, "test_2016_flickr.hyp"),
                "--ref", ref], log_path=out)
    with open(out) as f:
        text = f.read()
    m = re.search(r"BLEU = ([\d.]+)", text)
    if not m:
        common.die(f"no BLEU in {out}")
    return float(m.group(1)), text.strip().splitlines()[0]


def coverage(log):
    m = re.search(r"pre-trained embeddings .*?: (\d+) of (\d+) source pieces covered \(([\d.]+)%.*"
                  r"table std ([\d.]+)", log.text)
    return (f"{m.group(1)}/{m.group(2)} ({m.group(3)}%)", float(m.group(4))) if m else ("-", None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_args(parser, "f4")
    parser.add_argument("--steps", type=int, default=None, help="updates per run")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    plt = common.pyplot()  # before anything runs: a missing matplotlib stops at once
    args = common.resolve(args)
    started = time.time()
    s = sizes(args)
    glove = common.shared("embeddings", "glove.6B.100d.top20000.txt.gz")
    data_dir = os.path.join(args.work, "data-bin", "multi30k_en_de_8000")
    prep = os.path.join(args.work, "configs", "prepare.pbtxt")
    common.write_config(prep, f'run_dir: "{common.rel(os.path.join(args.work, "unused"))}"\n' +
                        data_section(s, data_dir))
    common.prepare(args.fathom, prep, data_dir)

    logs, scores = {}, {}
    for variant in VARIANTS:
        logs[variant] = train(args, s, data_dir, glove, variant)
        scores[variant] = bleu(args, os.path.join(args.work, "runs", variant))

    rows = []
    for variant in VARIANTS:
        log = logs[variant]
        cov, std = coverage(log)
        rows.append([LABEL[variant], cov, std, log.initial["loss"] if log.initial else None,
                     log.last("nll", 3), log.last_valid(), scores[variant][0]])
    header = ["source embeddings", "pieces covered", "table std", "initial loss",
              "train nll (last 3 logs)", "valid nll (end)", "test BLEU"]
    table = common.markdown_table(header, rows)
    notes = (f"Multi30k en->de, SentencePiece 8k per side, Pre-LN {s['layers']}L-{s['layers']}L, "
             f"d {s['d']} (GloVe's width), {s['heads']} heads, FFN {s['ffn']}, dropout 0.1, "
             f"untied tables (GloVe goes into the source table only), {args.ranks} ranks x "
             f"{s['max_tokens']} tokens per update, Adam, lr 1e-3, inverse-sqrt with "
             f"{s['warmup']} warm-up updates, {s['steps']} updates per run. Test BLEU: "
             "`fathom translate --beam 4` on test_2016_flickr (1,000 sentences) and "
             "`fathom score` (sacreBLEU-exact, 13a). The random table's std is d^-1/2 = "
             f"{s['d'] ** -0.5:.4f}.\n\n" +
             "\n".join(f"- {LABEL[v]}: `{scores[v][1]}`" for v in VARIANTS) + "\n" +
             common.footer(args, started))
    common.write_result(args.out, "f4_pretrained", "F4: pre-trained embeddings", table, notes)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=90,
                             gridspec_kw={"width_ratios": [2, 1]})
    for variant in VARIANTS:
        log = logs[variant]
        axes[0].plot([p["step"] for p in log.steps], [p["nll"] for p in log.steps],
                     color=COLOR[variant], label=LABEL[variant])
        v = [(p["step"], p["nll"]) for p in log.valid if isinstance(p.get("nll"), float)]
        axes[0].plot([x for x, _ in v], [y for _, y in v], "o", color=COLOR[variant])
    axes[0].set_xlabel("update")
    axes[0].set_ylabel("training nll; dots: valid nll")
    axes[0].set_ylim(top=min(10, axes[0].get_ylim()[1]))
    axes[0].grid(alpha=0.3)
    axes[0].legend()
    xs = range(len(VARIANTS))
    bars = axes[1].bar(xs, [scores[v][0] for v in VARIANTS], color=[COLOR[v] for v in VARIANTS])
    axes[1].bar_label(bars, fmt="%.2f")
    axes[1].set_xticks(list(xs), ["random", "GloVe raw", "GloVe std."])
    axes[1].set_ylabel(f"test BLEU after {s['steps']} updates")
    fig.suptitle(f"F4: source embeddings, Multi30k en-de, Pre-LN {s['layers']}L-{s['layers']}L "
                 f"d {s['d']}", fontsize=10)
    common.save_figure(fig, args.out, "f4_pretrained.png")


if __name__ == "__main__":
    main()
