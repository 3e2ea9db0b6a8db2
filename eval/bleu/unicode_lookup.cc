// Lookups into the generated tables of unicode_tables.cc: an ASCII table for the common case,
// binary search over sorted ranges for the rest.
#include <algorithm>
#include <array>

#include "eval/bleu/unicode_tables.h"

namespace fathom::eval {
namespace {

using unicode_internal::CodePointRange;

bool InRanges(const CodePointRange* ranges, int size, char32_t cp) {
  const CodePointRange* end = ranges + size;
  // First range whose last >= cp.
  const CodePointRange* it = std::lower_bound(
      ranges, end, cp,
      [](const CodePointRange& range, char32_t value) { return range.last < value; });
  return it != end && it->first <= cp;
}

enum AsciiBit : uint8_t { kP = 1, kS = 2, kN = 4, kSpace = 8 };

// Built from the same tables at first use, so ASCII answers cannot drift from them.
const std::array<uint8_t, 128>& AsciiBits() {
  static const std::array<uint8_t, 128> bits = [] {
    namespace ui = unicode_internal;
    std::array<uint8_t, 128> b{};
    for (char32_t c = 0; c < 128; ++c) {
      if (InRanges(ui::kPunctuation, ui::kPunctuationSize, c)) b[c] |= kP;
      if (InRanges(ui::kSymbol, ui::kSymbolSize, c)) b[c] |= kS;
      if (InRanges(ui::kNumber, ui::kNumberSize, c)) b[c] |= kN;
      if (InRanges(ui::kSpace, ui::kSpaceSize, c)) b[c] |= kSpace;
    }
    return b;
  }();
  return bits;
}

}  // namespace

bool IsPunctuation(char32_t cp) {
  if (cp < 128) return AsciiBits()[cp] & kP;
  return InRanges(unicode_internal::kPunctuation, unicode_internal::kPunctuationSize, cp);
}

bool IsSymbol(char32_t cp) {
  if (cp < 128) return AsciiBits()[cp] & kS;
  return InRanges(unicode_internal::kSymbol, unicode_internal::kSymbolSize, cp);
}

bool IsNumber(char32_t cp) {
  if (cp < 128) return AsciiBits()[cp] & kN;
  return InRanges(unicode_internal::kNumber, unicode_internal::kNumberSize, cp);
}

bool IsPythonSpace(char32_t cp) {
  if (cp < 128) return AsciiBits()[cp] & kSpace;
  return InRanges(unicode_internal::kSpace, unicode_internal::kSpaceSize, cp);
}

bool IsCaseIgnorable(char32_t cp) {
  return InRanges(unicode_internal::kCaseIgnorable, unicode_internal::kCaseIgnorableSize, cp);
}

bool IsCased(char32_t cp) {
  return InRanges(unicode_internal::kCased, unicode_internal::kCasedSize, cp);
}

char32_t LowerSimple(char32_t cp) {
  if (cp < 128) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  using unicode_internal::kLower;
  using unicode_internal::LowerRun;
  const LowerRun* end = kLower + unicode_internal::kLowerSize;
  const LowerRun* it = std::lower_bound(
      kLower, end, cp, [](const LowerRun& run, char32_t value) { return run.last < value; });
  if (it == end || it->first > cp || (cp - it->first) % it->stride != 0) return cp;
  return static_cast<char32_t>(static_cast<int64_t>(cp) + it->delta);
}

}  // namespace fathom::eval
