#!/usr/bin/env bash
# bench/prepare: pairs/s of `fathom prepare` (encode + binarise, all cores) against the
# `spm_encode` CLI with the same SentencePiece model on the same corpus, in one run, plus peak
# RSS at two corpus sizes to show memory does not grow with the corpus.
#
# The corpus is built by repeating the real German-English sentences of ../shared/data
# (Multi30k train, WMT news test sets except newstest2014, Tatoeba, IWSLT16 dev/test), each
# repetition in a different shuffled order, to SIZES pairs (default "1000000 4000000").
#
#   bench/prepare.sh [--sizes "1000000 4000000"] [--work DIR]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${FATHOM_SHARED_DATA:-$ROOT/../shared/data}
FATHOM=${FATHOM_BINARY:-$ROOT/build/launch/fathom}
SIZES="1000000 4000000"
WORK=${TMPDIR:-/tmp}/fathom-bench-prepare
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) SIZES=$2; shift ;;
    --work) WORK=$2; shift ;;
    *) echo "usage: $0 [--sizes \"N ...\"] [--work DIR]" >&2; exit 2 ;;
  esac
  shift
done
for tool in spm_encode /usr/bin/time shuf; do
  command -v "$tool" >/dev/null || { echo "bench/prepare: $tool missing (run launch/install.sh)" >&2; exit 1; }
done
[ -x "$FATHOM" ] || { echo "bench/prepare: $FATHOM not built (run launch/install.sh)" >&2; exit 1; }
mkdir -p "$WORK"
T="$DATA/translation"

# Pool of real pairs, one "de<TAB>en" a line; lines holding a tab themselves are left out.
pool=$WORK/pool.tsv
if [ ! -s "$pool" ]; then
  {
    paste <(zcat "$T/multi30k/train.de.gz") <(zcat "$T/multi30k/train.en.gz")
    for f in "$T"/news-de-en/*.deu; do
      case "$f" in *newstest2014*) continue ;; esac
      paste "$f" "${f%.deu}.eng"
    done
    paste "$T/tatoeba-de-en/tatoeba-test-v2021-08-07.deu" "$T/tatoeba-de-en/tatoeba-test-v2021-08-07.eng"
    for f in "$T"/iwslt16-de-en/IWSLT16.*.de; do paste "$f" "${f%.de}.en"; done
  } | awk -F'\t' 'NF == 2 && $1 != "" && $2 != ""' > "$pool"
fi
pool_pairs=$(wc -l < "$pool")

# One SentencePiece model (joint unigram, 8k) trained on the pool by fathom itself.
model=$WORK/spm.model
if [ ! -s "$model" ]; then
  cut -f1 "$pool" > "$WORK/pool.de"; cut -f2 "$pool" > "$WORK/pool.en"
  cat > "$WORK/vocab.pbtxt" <<CFG
data {
  split { name: "train" source: "$WORK/pool.de" target: "$WORK/pool.en" }
  prepared_dir: "$WORK/vocab"
  sentencepiece { vocab_size: 8000 }
}
CFG
  "$FATHOM" prepare --config "$WORK/vocab.pbtxt" --overwrite 2> "$WORK/vocab.log"
  cp "$WORK/vocab/spm.model" "$model"
fi

peak_kb() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }
seconds() { awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$1"; }

echo "bench/prepare: pool of $pool_pairs real pairs, model $model, $(nproc) cores"
printf '%-9s %-34s %10s %12s %12s\n' pairs tool seconds pairs/s peak_RSS_MB
for n in $SIZES; do
  src=$WORK/corpus.$n.de; tgt=$WORK/corpus.$n.en
  if [ ! -s "$src" ]; then
    reps=$(( (n + pool_pairs - 1) / pool_pairs ))
    set +o pipefail  # head closes the pipe early on purpose
    for r in $(seq 1 "$reps"); do
      shuf --random-source=<(yes "$r") "$pool" 2>/dev/null
    done | head -n "$n" > "$WORK/corpus.$n.tsv"
    set -o pipefail
    cut -f1 "$WORK/corpus.$n.tsv" > "$src"; cut -f2 "$WORK/corpus.$n.tsv" > "$tgt"
    rm -f "$WORK/corpus.$n.tsv"
  fi
  sync

  # spm_encode, as the CLI is used: one process per side, one after the other.
  /usr/bin/time -v spm_encode --model="$model" --output_format=id < "$src" > "$WORK/out.de.ids" 2> "$WORK/spm_de.time"
  /usr/bin/time -v spm_encode --model="$model" --output_format=id < "$tgt" > "$WORK/out.en.ids" 2> "$WORK/spm_en.time"
  spm_s=$(echo "$(seconds "$WORK/spm_de.time") + $(seconds "$WORK/spm_en.time")" | bc -l)
  spm_rss=$(( $(peak_kb "$WORK/spm_de.time") > $(peak_kb "$WORK/spm_en.time") ? $(peak_kb "$WORK/spm_de.time") : $(peak_kb "$WORK/spm_en.time") ))
  # spm_encode with both sides at once (two processes, every core busy).
  start=$(date +%s.%N)
  spm_encode --model="$model" --output_format=id < "$src" > "$WORK/out.de.ids" &
  spm_encode --model="$model" --output_format=id < "$tgt" > "$WORK/out.en.ids"
  wait
  spm_par_s=$(echo "$(date +%s.%N) - $start" | bc -l)
  rm -f "$WORK/out.de.ids" "$WORK/out.en.ids"

  cat > "$WORK/prepare.$n.pbtxt" <<CFG
data {
  split { name: "train" source: "$src" target: "$tgt" apply_filter: false }
  prepared_dir: "$WORK/prepared.$n"
  sentencepiece { model: "$model" }
}
CFG
  /usr/bin/time -v "$FATHOM" prepare --config "$WORK/prepare.$n.pbtxt" --overwrite 2> "$WORK/fathom.$n.time"
  fathom_s=$(seconds "$WORK/fathom.$n.time")
  fathom_rss=$(peak_kb "$WORK/fathom.$n.time")
  rm -rf "$WORK/prepared.$n"

  rate() { echo "$n / $1" | bc -l | xargs printf '%.0f'; }
  printf '%-9s %-34s %10.1f %12s %12d\n' "$n" "spm_encode (de then en)" "$spm_s" "$(rate "$spm_s")" $((spm_rss / 1024))
  printf '%-9s %-34s %10.1f %12s %12s\n' "$n" "spm_encode (de and en in parallel)" "$spm_par_s" "$(rate "$spm_par_s")" "-"
  printf '%-9s %-34s %10.1f %12s %12d\n' "$n" "fathom prepare" "$fathom_s" "$(rate "$fathom_s")" $((fathom_rss / 1024))
  printf '%-9s speedup vs spm_encode: %.2fx (vs parallel spm_encode: %.2fx)\n' "$n" \
    "$(echo "$spm_s / $fathom_s" | bc -l)" "$(echo "$spm_par_s / $fathom_s" | bc -l)"
done
