// The sacreBLEU release this library reproduces, as it appears in signatures.
#ifndef FATHOM_EVAL_BLEU_VERSION_H_
#define FATHOM_EVAL_BLEU_VERSION_H_

namespace fathom::eval {

// sacreBLEU 2.6.0 (mjpost/sacrebleu, the release ../shared/data/bleu/sacrebleu_vectors.json
// was taken from). Its BLEU, chrF and tokenisers are unchanged across 2.x; 2.0.0 is where
// signatures took their current 'key:value|...' form and chrF its multi-reference rule.
inline constexpr char kSacrebleuVersion[] = "2.6.0";

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_BLEU_VERSION_H_
