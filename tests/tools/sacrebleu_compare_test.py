#!/usr/bin/env python3
"""`fathom score` against the real sacreBLEU 2.6 (PyPI, pinned in launch/torch2-requirements.txt).

fathom score claims to be sacreBLEU-exact. tests/bleu_sacrebleu_test.cc checks fathom_bleu
against numbers copied from sacreBLEU's test suite; this check runs sacreBLEU itself (its Python
API) and the fathom binary on the same files and requires the same printed score line (score,
n-gram precisions, BP, ratio, lengths; at width 2, and 4 on the large corpora) and the same
signature, for BLEU with each tokeniser (13a, intl, char, none), cased and lowercased, chrF and
chrF++, on
  --corpora shared: the sentences of ../shared/data/bleu/sacrebleu_vectors.json (its README
      corpus also with every smoothing method and n-gram orders 1 to 6), and real text, Multi30k
      test_2016_flickr (en) and newstest2014 (de), against seeded edits of themselves;
  --corpora random: a large random file made here with a fixed seed, 20,000 lines of words in
      many scripts (Latin with diacritics, Greek, Cyrillic, Arabic, Hebrew, Devanagari, Thai, CJK,
      kana, Hangul, emoji with modifiers and joiners), ASCII and Unicode punctuation and symbols,
      numbers in several notations, HTML entities, <skipped>, and Unicode spaces, with two
      references a line, so that every tokeniser rule is exercised.

An empty line in one of several reference files is a reference of length 0 for both (nrefs:2,
and it can be the closest length): the random corpus has such lines in its second reference.
A segment whose references are all empty is the one deliberate difference (fathom refuses it,
naming the line; sacreBLEU scores it against nothing), so no generated segment has that.

Usage: sacrebleu_compare_test.py --fathom BIN --shared-data DIR --corpora shared|random
       [--require] [--keep]
Exit: 0 all equal; 1 a difference (each printed); 77 sacreBLEU 2.6 is not importable (skipped,
never with --require).
"""

import argparse
import concurrent.futures
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

from tool_check import Checker, import_tool

RANDOM_LINES = 20000
RANDOM_SEED = 20261204
TOKENIZERS = ("13a", "intl", "char", "none")
# sacreBLEU's default width, as fathom prints it; 4 more decimals on the large corpora.
SMALL_WIDTHS = (2,)
LARGE_WIDTHS = (2, 4)


def bleu_config(tokenize, lowercase=False, smooth=None, smooth_value=None, order=4):
    return {"metric": "bleu", "tokenize": tokenize, "lowercase": lowercase, "smooth": smooth,
            "smooth_value": smooth_value, "order": order}


def chrf_config(word_order=0, lowercase=False):
    return {"metric": "chrf", "word_order": word_order, "lowercase": lowercase}


# What every corpus is scored with; the random one with fewer lowercased variants (sacreBLEU
# takes about 10 s per metric on it).
STANDARD = ([bleu_config(t) for t in TOKENIZERS] +
            [bleu_config("13a", lowercase=True), bleu_config("intl", lowercase=True)] +
            [chrf_config(), chrf_config(word_order=2), chrf_config(lowercase=True)])
RANDOM = ([bleu_config(t) for t in TOKENIZERS] + [bleu_config("13a", lowercase=True)] +
          [chrf_config(), chrf_config(word_order=2)])
# Added for the small corpus of sacreBLEU's README: every smoothing and other n-gram orders.
SMOOTHING = ([bleu_config("13a", smooth=s) for s in ("floor", "add-k", "none")] +
             [bleu_config("13a", smooth="floor", smooth_value=0.5),
              bleu_config("13a", smooth="add-k", smooth_value=2)] +
             [bleu_config("13a", order=n) for n in (1, 2, 3, 5, 6)])


def describe(config):
    return ",".join(f"{k}={v}" for k, v in config.items() if v not in (None, False))


def fathom_args(config, width):
    args = ["--metric", config["metric"], "--width", str(width)]
    if config["lowercase"]:
        args.append("--lowercase")
    if config["metric"] == "bleu":
        args += ["--tokenize", config["tokenize"], "--max_ngram_order", str(config["order"])]
        if config["smooth"]:
            args += ["--smooth_method", config["smooth"]]
        if config["smooth_value"] is not None:
            args += ["--smooth_value", str(config["smooth_value"])]
    else:
        args += ["--chrf_word_order", str(config["word_order"])]
    return args


def sacrebleu_lines(sacrebleu, config, hyps, refs, widths):
    """{width: [score line, signature]} as sacreBLEU's command line prints them."""
    if config["metric"] == "bleu":
        kwargs = {"tokenize": config["tokenize"], "lowercase": config["lowercase"],
                  "max_ngram_order": config["order"]}
        if config["smooth"]:
            kwargs["smooth_method"] = config["smooth"]
        if config["smooth_value"] is not None:
            kwargs["smooth_value"] = config["smooth_value"]
        metric = sacrebleu.metrics.BLEU(**kwargs)
    else:
        metric = sacrebleu.metrics.CHRF(word_order=config["word_order"],
                                        lowercase=config["lowercase"])
    score = metric.corpus_score(hyps, refs)
    signature = str(metric.get_signature())
    return {width: [score.format(width=width), signature] for width in widths}


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(line + "\n" for line in lines))


def run_fathom(command):
    return subprocess.run(command, capture_output=True, text=True, encoding="utf-8")


def compare(check, sacrebleu, fathom, pool, workdir, corpus):
    name, hyps, refs, configs, widths = corpus
    for line in hyps + [r for stream in refs for r in stream]:
        # fathom reads files split at '\n' only; the API gets the lines as they are.
        assert "\n" not in line and "\r" not in line, (name, line)
    for segment in zip(*refs):
        assert any(segment), f"{name}: a segment whose references are all empty (see the top)"
    hyp_path = os.path.join(workdir, f"{name}.hyp")
    write_lines(hyp_path, hyps)
    command = [fathom, "score", "--hyp", hyp_path]
    for i, stream in enumerate(refs):
        command += ["--ref", os.path.join(workdir, f"{name}.ref{i}")]
        write_lines(command[-1], stream)
    # fathom runs in the background (two at a time) while sacreBLEU scores here.
    runs = {(i, width): pool.submit(run_fathom, command + fathom_args(config, width))
            for i, config in enumerate(configs) for width in widths}
    for i, config in enumerate(configs):
        theirs = sacrebleu_lines(sacrebleu, config, hyps, refs, widths)
        for width in widths:
            what = f"{name} [{describe(config)},width={width}]"
            run = runs[(i, width)].result()
            if check.true(what, run.returncode == 0,
                          f"fathom score exited {run.returncode}: {run.stderr}"):
                check.equal(what, run.stdout.splitlines()[:2], theirs[width])


def shared_vector_corpora(vectors):
    """(name, hyps, refs, configs, widths) from sacrebleu_vectors.json: sacreBLEU's README corpus (two
    references), its hypotheses all empty, and every single-reference pair of the file as one
    corpus (each pair stays a segment; the check is equality with sacreBLEU, not the file's
    expected numbers, which tests/bleu_sacrebleu_test.cc checks)."""
    readme = vectors["readme_data"]
    yield "readme", readme["hyps"], readme["refs"], STANDARD + SMOOTHING, SMALL_WIDTHS
    yield ("readme_hyps_empty", [""] * len(readme["hyps"]), readme["refs"], STANDARD,
           SMALL_WIDTHS)
    hyps, refs = [vectors["sentence_bleu"]["hyp"]], [vectors["sentence_bleu"]["ref"]]
    for case in vectors["chrf_beta3_eps_smoothing"]["cases"]:
        hyps.append(case["hyp"])
        refs.append(case["ref"])
    for case in vectors["raw_corpus_bleu"]["cases"]:
        # sacreBLEU zips a longer reference stream with the hypotheses: cut it as it would.
        assert len(case["refs"]) == 1
        hyps += case["hyps"]
        refs += case["refs"][0][:len(case["hyps"])]
    yield "pairs", hyps, [refs], STANDARD, SMALL_WIDTHS


def edited(rng, tokens, vocabulary, rate):
    """A seeded edit of `tokens`: words dropped, replaced, inserted and swapped."""
    out = []
    for token in tokens:
        roll = rng.random()
        if roll < rate / 3:
            continue
        if roll < 2 * rate / 3:
            out.append(rng.choice(vocabulary))
            continue
        out.append(token)
        if roll > 1 - rate / 3:
            out.append(rng.choice(vocabulary))
    if len(out) > 2 and rng.random() < rate:
        i = rng.randrange(len(out) - 1)
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


def real_corpora(shared):
    """Real references against seeded edits of themselves, with a second edited reference."""
    rng = random.Random(RANDOM_SEED)
    sources = [("multi30k_test_en", "translation/multi30k/test_2016_flickr.en.gz"),
               ("newstest2014_de", "translation/news-de-en/newstest2014.deu")]
    for name, relative in sources:
        path = os.path.join(shared, relative)
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            refs = [line.rstrip("\n") for line in f]
        vocabulary = sorted({w for line in refs[:500] for w in line.split()})
        hyps = [" ".join(edited(rng, line.split(), vocabulary, 0.3)) for line in refs]
        second = [" ".join(edited(rng, line.split(), vocabulary, 0.2) or line.split())
                  for line in refs]
        yield name, hyps, [refs, second], STANDARD, LARGE_WIDTHS


# Material for the random file.
SCRIPTS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœšžđłĳǆǅİıÀÉÎÕÜŒŠŽẞ",
    "αβγδεζηθικλμνξοπρστυφχψωςάέήίόύώΑΒΓΔΘΛΞΠΣΦΨΩ",
    "абвгдежзийклмнопрстуфхцчшщъыьэюяёАБВГДЕЖЗИЙКЛМНОПРСТЁ",
    "ابتثجحخدذرزسشصضطظعغفقكلمنهويءآةى",
    "אבגדהוזחטיכךלמםנןסעפףצץקרשת",
    "कखगघचछजझटठडढणतथदधनपफबभमयरलवशषसहािीुूेैोौंः्",
    "กขคงจฉชซญดตถทธนบปผพฟภมยรลวศษสหอฮะัาำิีึืุูเแโใไ่้๊๋",
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学",
    "あいうえおかきくけこさしすせそアイウエオカキクケコサシスセソー",
    "가나다라마바사아자차카타파하한글국어",
]
EMOJI = ["😀", "😂", "🤖", "👍🏽", "👩‍💻", "🇩🇪", "❤️", "✨", "🎉", "👨‍👩‍👧"]
ASCII_PUNCTUATION = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
UNICODE_PUNCTUATION = list("«»„“”‘’‚‹›…¿¡·、。「」『』【】〈〉《》・！？，：；（）–—―‐§¶†‡•‰′″")
SYMBOLS = list("€£¥¢©®™°±×÷→←↑↓∞≈≠≤≥∑√∫¬¦µ¼½¾²³¹")
NUMBERS = ["3.14", "1,000", "-5", "10%", "1/2", "2nd", "1.000,50", "0.5.", "٣٤", "१२", "12:30",
           "1e-3", "+7", "42", "2026", "3,5", "1.", ".5", "4th", "US$5", "5€"]
SPECIAL = ["&amp;", "&quot;", "&lt;", "&gt;", "&apos;", "&#39;", "&nbsp;", "<skipped>", "<b>",
           "don't", "e-mail", "U.S.A.", "www.example.com", "a@b.com", "C++", "n=3", "--", "...",
           "'s", "l'homme", "co-op", "A.", "-\u200b-", "x\u00adz"]
# Separators between words: mostly a space; also runs, tabs and other Unicode spaces, and a
# zero-width space and word joiner (no spaces to Python).
SEPARATORS = ([" "] * 40 + ["  ", "\t", "\u00a0", "\u2009", "\u3000", "\u2002", "\u202f",
                            "\u200b", "\u2060", " \t "])


def random_word(rng):
    roll = rng.random()
    if roll < 0.55:
        alphabet = rng.choice(SCRIPTS)
        word = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
    elif roll < 0.65:
        word = rng.choice(NUMBERS)
    elif roll < 0.73:
        word = rng.choice(SPECIAL)
    elif roll < 0.78:
        word = rng.choice(EMOJI)
    elif roll < 0.88:
        word = rng.choice(ASCII_PUNCTUATION)
    elif roll < 0.95:
        word = rng.choice(UNICODE_PUNCTUATION)
    else:
        word = rng.choice(SYMBOLS)
    # Punctuation stuck to words, as in real text.
    if rng.random() < 0.15:
        word = rng.choice(ASCII_PUNCTUATION + UNICODE_PUNCTUATION) + word
    if rng.random() < 0.2:
        word += rng.choice(ASCII_PUNCTUATION + UNICODE_PUNCTUATION)
    return word


def join_words(rng, words):
    line = "".join(w + rng.choice(SEPARATORS) for w in words)
    if rng.random() < 0.9:
        line = line.rstrip(" \t")
    if rng.random() < 0.05:
        line = rng.choice(SEPARATORS) + line
    return line


def random_corpora():
    rng = random.Random(RANDOM_SEED)
    vocabulary = [random_word(rng) for _ in range(3000)]
    hyps, refs, second = [], [], []
    for _ in range(RANDOM_LINES):
        words = [rng.choice(vocabulary) if rng.random() < 0.7 else random_word(rng)
                 for _ in range(rng.randint(1, 24))]
        refs.append(join_words(rng, words))
        hyp = [] if rng.random() < 0.01 else edited(rng, words, vocabulary, 0.35)
        hyps.append(join_words(rng, hyp))
        # 2% of the second references are empty lines: references of length 0 (see the top).
        second.append("" if rng.random() < 0.02 else
                      join_words(rng, edited(rng, words, vocabulary, 0.3) or words))
    yield "random", hyps, [refs, second], RANDOM, LARGE_WIDTHS


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--fathom", required=True, help="the fathom binary")
    parser.add_argument("--shared-data", required=True, help="../shared/data")
    parser.add_argument("--corpora", required=True, choices=("shared", "random"))
    parser.add_argument("--require", action="store_true",
                        help="a missing sacreBLEU 2.6 is a failure, not a skip")
    parser.add_argument("--keep", action="store_true", help="keep the files scored")
    args = parser.parse_args()
    sacrebleu = import_tool("sacrebleu", "2.6.", args.require)
    import sacrebleu.metrics  # noqa: F401  (BLEU and CHRF)

    if args.corpora == "shared":
        with open(os.path.join(args.shared_data, "bleu", "sacrebleu_vectors.json"),
                  encoding="utf-8") as f:
            vectors = json.load(f)
        corpora = list(shared_vector_corpora(vectors)) + list(real_corpora(args.shared_data))
    else:
        corpora = list(random_corpora())
    check = Checker()
    workdir = tempfile.mkdtemp(prefix="fathom_sacrebleu_")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for corpus in corpora:
            compare(check, sacrebleu, args.fathom, pool, workdir, corpus)
    if args.keep or check.failed:
        print(f"files scored: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return check.exit_code()


if __name__ == "__main__":
    sys.exit(main())
