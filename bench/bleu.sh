#!/usr/bin/env bash
# bench/bleu: whole-process corpus BLEU scoring time of `fathom score` against sacreBLEU's CLI
# (the Python reference it reproduces), on the same files in one run, plus both printed scores.
#
# Inputs: newstest2014 from ../shared/data (German as the "hypothesis", English as the
# reference: a realistic load with a low score), as is (3,003 lines) and repeated REPS times
# (default 100: 300,300 lines). sacreBLEU is timed only where it is installed (`sacrebleu` on
# PATH); BASELINES.md records 44.9 s for sacreBLEU 2.6 on 300,400 lines.
#
#   bench/bleu.sh [--reps 100] [--work DIR] [--tokenize 13a|intl|char|none]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${FATHOM_SHARED_DATA:-$ROOT/../shared/data}
FATHOM=${FATHOM_BINARY:-$ROOT/build/launch/fathom}
REPS=100
TOKENIZE=13a
WORK=${TMPDIR:-/tmp}/fathom-bench-bleu
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS=$2; shift ;;
    --work) WORK=$2; shift ;;
    --tokenize) TOKENIZE=$2; shift ;;
    *) echo "usage: $0 [--reps N] [--work DIR] [--tokenize 13a|intl|char|none]" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$FATHOM" ] || { echo "bench/bleu: $FATHOM not built (run launch/install.sh)" >&2; exit 1; }
SACREBLEU=$(command -v sacrebleu || true)
TOKENIZE_FLAG=()
[ "$TOKENIZE" = 13a ] || TOKENIZE_FLAG=(--tokenize "$TOKENIZE")
mkdir -p "$WORK"
NEWS=$DATA/translation/news-de-en

# The two sizes: the test set itself and REPS copies of it.
cp "$NEWS/newstest2014.deu" "$WORK/hyp.1"
cp "$NEWS/newstest2014.eng" "$WORK/ref.1"
if [ ! -s "$WORK/hyp.$REPS" ]; then
  for _ in $(seq 1 "$REPS"); do cat "$NEWS/newstest2014.deu"; done > "$WORK/hyp.$REPS"
  for _ in $(seq 1 "$REPS"); do cat "$NEWS/newstest2014.eng"; done > "$WORK/ref.$REPS"
fi
sync

# Runs a command, printing its wall seconds; its stdout goes to $2.
timed() {
  local out=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" > "$out"
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

echo "bench/bleu: newstest2014 de as hypothesis, en as reference, tokenize $TOKENIZE, $(nproc) cores"
printf '%-9s %-10s %9s  %s\n' lines tool seconds output
for n in 1 "$REPS"; do
  hyp=$WORK/hyp.$n; ref=$WORK/ref.$n
  lines=$(wc -l < "$hyp")
  fathom_s=$(timed "$WORK/fathom.$n.out" "$FATHOM" score --hyp "$hyp" --ref "$ref" "${TOKENIZE_FLAG[@]}")
  printf '%-9s %-10s %9.2f  %s\n' "$lines" fathom "$fathom_s" "$(head -n 1 "$WORK/fathom.$n.out")"
  if [ -n "$SACREBLEU" ]; then
    sacre_s=$(timed "$WORK/sacrebleu.$n.out" "$SACREBLEU" "$ref" -i "$hyp" -m bleu -tok "$TOKENIZE" \
      -w 2 -f text)
    printf '%-9s %-10s %9.2f  %s\n' "$lines" sacrebleu "$sacre_s" "$(head -n 1 "$WORK/sacrebleu.$n.out")"
    printf '%-9s speedup: %.1fx\n' "$lines" "$(echo "$sacre_s / $fathom_s" | bc -l)"
  fi
done
[ -n "$SACREBLEU" ] || echo "(sacrebleu not on PATH: compare with BASELINES.md, 44.9 s on 300,400 lines)"
