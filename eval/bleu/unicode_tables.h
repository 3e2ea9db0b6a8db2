// The Unicode properties sacreBLEU reads from Python: general categories P*, S* and N* (through
// the `regex` module, for the intl tokeniser), what str.split()/str.rstrip() call whitespace,
// and str.lower(). The data is generated once by gen_unicode_tables.py into unicode_tables.cc
// and committed, so the build needs no Python and no ICU.
#ifndef FATHOM_EVAL_BLEU_UNICODE_TABLES_H_
#define FATHOM_EVAL_BLEU_UNICODE_TABLES_H_

#include <cstdint>

namespace fathom::eval {

// \p{P}, \p{S}, \p{N} as the regex module matches them.
bool IsPunctuation(char32_t cp);
bool IsSymbol(char32_t cp);
bool IsNumber(char32_t cp);
// str.isspace(): the separators of str.split() and what str.rstrip() removes.
bool IsPythonSpace(char32_t cp);

// Classes of str.lower()'s final-sigma rule (Unicode's Final_Sigma context).
bool IsCaseIgnorable(char32_t cp);
bool IsCased(char32_t cp);

// str.lower() of one code point, except U+03A3 (its result depends on its neighbours) and
// U+0130 (it lowers to two code points); callers handle both.
char32_t LowerSimple(char32_t cp);

namespace unicode_internal {

struct CodePointRange {
  uint32_t first;
  uint32_t last;
};
// Code points first, first + stride, ..., last map to cp + delta.
struct LowerRun {
  uint32_t first;
  uint32_t last;
  int32_t delta;
  uint32_t stride;
};

extern const CodePointRange kPunctuation[];
extern const CodePointRange kSymbol[];
extern const CodePointRange kNumber[];
extern const CodePointRange kSpace[];
extern const CodePointRange kCaseIgnorable[];
extern const CodePointRange kCased[];
extern const LowerRun kLower[];
extern const int kPunctuationSize;
extern const int kSymbolSize;
extern const int kNumberSize;
extern const int kSpaceSize;
extern const int kCaseIgnorableSize;
extern const int kCasedSize;
extern const int kLowerSize;

}  // namespace unicode_internal
}  // namespace fathom::eval

#endif  // FATHOM_EVAL_BLEU_UNICODE_TABLES_H_
