#!/usr/bin/env bash
# Regenerates the seed corpora of tests/fuzz/corpus/ and the generated dictionary config.dict:
# the binary seeds (checkpoint, shard, relations) with the project's own writers
# (fathom_fuzz_seeds, make_seeds.cc, built in the sanitizer tree), the text seeds from small
# slices of ../shared/data (see its README for sources and licences) and configs/.
#
#   tests/fuzz/make_seeds.sh [BUILD_DIR]    BUILD_DIR: a -DFATHOM_FUZZ=ON tree (build-fuzz/, which
#                                           tests/fuzz/run_fuzzers.sh configures)
#
# Seeds the fuzzers found later are not kept here: a crash found is fixed and its input becomes a
# unit test; the corpus stays what this script writes, so it can be reviewed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${1:-$ROOT/build-fuzz}
SHARED=${FATHOM_SHARED_DATA:-$ROOT/../shared/data}
CORPUS=$ROOT/tests/fuzz/corpus
[ -f "$BUILD_DIR/CMakeCache.txt" ] || {
  echo "make_seeds.sh: $BUILD_DIR is not configured; run tests/fuzz/run_fuzzers.sh first" >&2
  exit 1
}
# FATHOM_BUILD_LOCK: a file to flock around the build, as in run_fuzzers.sh.
if [ -n "${FATHOM_BUILD_LOCK:-}" ]; then
  flock "$FATHOM_BUILD_LOCK" cmake --build "$BUILD_DIR" -j2 --target fathom_fuzz_seeds
else
  cmake --build "$BUILD_DIR" -j2 --target fathom_fuzz_seeds
fi
rm -rf "${CORPUS:?}"/{checkpoint,shard,relations}
ASAN_OPTIONS=detect_leaks=0 "$BUILD_DIR/tests/fuzz/fathom_fuzz_seeds" "$CORPUS" "$SHARED"

python3 - "$SHARED" "$CORPUS" "$ROOT" <<'PYTHON'
import gzip, io, json, os, re, shutil, sys

shared, corpus, root = sys.argv[1:4]
SEP = "\n=====FATHOM-FUZZ-NEXT-FILE=====\n"  # fuzz_util.h, kTextSeparator


def target(name):
    path = os.path.join(corpus, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write(directory, name, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def gz_lines(path, n):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [next(f).rstrip("\n") for _ in range(n)]


def gzip_bytes(text):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as f:
        f.write(text.encode("utf-8"))
    return out.getvalue()


# Spider: tables.json with one or two small schemas, then examples of those databases.
tables = {t["db_id"]: t for t in json.load(open(os.path.join(shared, "spider/tables.json")))}
dev = json.load(open(os.path.join(shared, "spider/dev.json")))
train = json.load(open(os.path.join(shared, "spider/train_spider.json")))
small = sorted((len(json.dumps(t)), db) for db, t in tables.items())
d = target("spider")
for k, (examples, dbs) in enumerate([(dev, [small[0][1]]), (dev, [small[1][1], small[2][1]]),
                                     (train, [small[3][1]]), (dev, [db for _, db in small[4:6]])]):
    chosen = [e for e in examples if e["db_id"] in dbs][:3]
    chosen = [{f: e[f] for f in ("db_id", "query", "question")} for e in chosen]
    if k == 3:  # a prediction input: no gold SQL
        chosen = [{"db_id": e["db_id"], "question": e["question"]} for e in chosen]
    write(d, "spider-%d.json" % k,
          json.dumps([tables[db] for db in dbs], indent=1) + SEP + json.dumps(chosen, indent=1))

# text2sql-data: a few GeoQuery entries with the schema CSV, ATIS entries without one.
schema = open(os.path.join(shared, "text2sql/geography-schema.csv"), encoding="utf-8").read()
d = target("text2sql")
for name, entries, with_schema in [
        ("geography", json.load(open(os.path.join(shared, "text2sql/geography.json"))), True),
        ("atis", json.load(open(os.path.join(shared, "text2sql/atis.json"))), False)]:
    for k, start in enumerate([0, 40]):
        part = []
        for entry in entries[start:start + 2]:
            entry = dict(entry)
            entry["sql"] = entry["sql"][:2]
            entry["sentences"] = entry["sentences"][:2]
            part.append(entry)
        write(d, "%s-%d.json" % (name, k),
              json.dumps(part, indent=1) + (SEP + schema if with_schema else ""))

# GloVe text: the first vectors of the real file (100 values), narrowed ones, and gzip.
glove = gz_lines(os.path.join(shared, "embeddings/glove.6B.100d.top20000.txt.gz"), 8)
d = target("glove")
write(d, "glove-100d.txt", "\n".join(glove[:3]) + "\n")
narrow = "\n".join(" ".join(line.split(" ")[:6]) for line in glove) + "\n"
write(d, "glove-5d.txt", narrow)
write(d, "glove-5d.txt.gz", gzip_bytes(narrow))

# Lines: a flags byte (line_reader_fuzzer.cc), then Multi30k text: plain, CRLF with a byte-order
# mark, a line that is not UTF-8, and gzip (compressed by the harness, or a real .gz file).
de = gz_lines(os.path.join(shared, "translation/multi30k/train.de.gz"), 6)
en = gz_lines(os.path.join(shared, "translation/multi30k/train.en.gz"), 6)
d = target("line_reader")
write(d, "plain", b"\x00" + "\n".join(de).encode() + b"\n")
write(d, "crlf-bom", b"\x02\xef\xbb\xbf" + "\r\n".join(en).encode())
write(d, "bad-utf8-skip", b"\x01" + "\n".join(de[:2]).encode() + b"\ncaf\xc3\n" + en[0].encode())
write(d, "gzip-by-harness", b"\x64" + "\n".join(en).encode() + b"\n")
write(d, "gzip-two-members", b"\xa4" + "\n".join(de).encode() + b"\n")
write(d, "gzip-file", b"\x00" + gzip_bytes("\n".join(de[:3]) + "\n"))

# UTF-8: real sentences in several scripts and the edges of the encoding.
d = target("utf8")
write(d, "multi30k-de", "\n".join(de[:3]))
news = open(os.path.join(shared, "translation/news-de-en/newstest2014.deu"), encoding="utf-8")
write(d, "newstest2014-de", "".join(next(news) for _ in range(3)))
write(d, "edges", "\u007f\u0080\u07ff\u0800\ufffd\uffff\U00010000\U0010ffff")
write(d, "invalid", b"ok \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82")

# fathom score: three option bytes (score_fuzzer.cc), hypotheses, references. sacreBLEU's README
# example and test sentences.
vectors = json.load(open(os.path.join(shared, "bleu/sacrebleu_vectors.json")))
hyps = "\n".join(vectors["readme_data"]["hyps"]) + "\n"
refs = ["\n".join(r) + "\n" for r in vectors["readme_data"]["refs"]]
sentence = vectors["sentence_bleu"]
d = target("score")
default1 = 5 | 1 << 3 | 3 << 5  # order 4, word order 0, width 2
default2 = 63 << 2  # default smoothing value
seeds = {
    "bleu-13a-2refs": (0, default1, default2, [hyps] + refs),
    "bleu-intl-lc": (1 << 1 | 1 << 3, default1, default2, [hyps, refs[0]]),
    "chrf": (1, default1, default2, [hyps] + refs),
    "chrf++-whitespace": (1, 5 | 3 << 3 | 3 << 5, 1, [hyps, refs[1]]),
    "sentence-floor": (1 << 4 | 1 << 7, default1, 4 << 2, [sentence["hyp"], sentence["ref"]]),
    "skip-bad-line": (1 << 6 | 2 << 1, default1, default2, [hyps, refs[0]]),
}
for name, (b0, b1, b2, files) in seeds.items():
    data = bytes([b0, b1, b2]) + SEP.join(files).encode("utf-8")
    if name == "skip-bad-line":
        data = data.replace(b"surprising", b"surpris\xc3ng")
    write(d, name, data)

# fathom sql-eval: a flags byte (sql_fuzzer.cc), then predictions and gold ("SQL<TAB>db_id") for
# the two schemas the harness holds, from Spider's dev gold; or (bit 0) a MySQL dump, GeoQuery's
# cut to its first tables with their rows shortened.
d = target("sql")
gold = [l.rstrip("\n") for l in open(os.path.join(shared, "spider/dev_gold.sql"), encoding="utf-8")]
for db in ("concert_singer", "pets_1"):
    lines = [l for l in gold if l.endswith("\t" + db)][:8]
    queries = [l.split("\t")[0] for l in lines]
    preds = [queries[0], queries[1].lower(), queries[2].replace("DESC", "ASC")] + queries[3:]
    write(d, "exact-" + db, b"\x00" + ("\n".join(preds) + SEP + "\n".join(lines) + "\n").encode())
dump = open(os.path.join(shared, "text2sql/geography-db.sql"), encoding="utf-8").read()
dump = dump[:dump.index("-- Table structure for table `highlow`")]
def first_rows(line, rows=3):
    if not line.startswith("INSERT INTO"):
        return line
    cut = 0
    for _ in range(rows):
        cut = line.find("),(", cut + 1)
        if cut < 0:
            return line
    return line[:cut] + ");"
dump = "\n".join(first_rows(line) for line in dump.split("\n"))
write(d, "geography-dump", b"\x01" + dump.encode())

# Configs: the shipped ones.
d = target("config")
for name in sorted(os.listdir(os.path.join(root, "configs"))):
    if name.endswith(".pbtxt"):
        shutil.copy(os.path.join(root, "configs", name), os.path.join(d, name))

# config.dict: every field name and enum value of proto/config.proto, and the text format's
# punctuation, so mutations produce well-formed configs with bad values.
proto = open(os.path.join(root, "proto/config.proto"), encoding="utf-8").read()
proto = re.sub(r"//[^\n]*", "", proto)
words = set(re.findall(r"^\s*(?:optional|repeated|required)?\s*[\w.]+\s+(\w+)\s*=\s*\d+",
                       proto, re.M))
words |= set(re.findall(r"^\s*([A-Z][A-Z0-9_]*)\s*=\s*\d+\s*;", proto, re.M))
lines = ["# Generated by make_seeds.sh from proto/config.proto: field names, enum values and the",
         "# text format's punctuation."]
lines += ['"%s"' % w for w in sorted(words)]
lines += ['"{"', '"}"', '":"', '"<"', '">"', '"["', '"]"', '","', '"#"', '"\\""', '"true"',
          '"false"', '"-1"', '"0"', '"1e30"', '"nan"', '"inf"', '"0x7fffffff"']
open(os.path.join(root, "tests/fuzz/config.dict"), "w").write("\n".join(lines) + "\n")
PYTHON

du -sh "$CORPUS"
for d in "$CORPUS"/*/; do printf '%-12s %3d seeds\n' "$(basename "$d")" "$(ls "$d" | wc -l)"; done
