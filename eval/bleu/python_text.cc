#include "eval/bleu/python_text.h"

#include "eval/bleu/unicode_tables.h"

namespace fathom::eval {
namespace {

constexpr char32_t kReplacement = 0xFFFD;
constexpr char32_t kCapitalSigma = 0x3A3;
constexpr char32_t kSmallSigma = 0x3C3;
constexpr char32_t kFinalSigma = 0x3C2;
constexpr char32_t kCapitalIDot = 0x130;

bool IsContinuation(unsigned char b) { return (b & 0xC0) == 0x80; }

// The ASCII part of str.isspace() (tab to carriage return, the four information separators
// 0x1C-0x1F, space), inline because splitting lines is a hot loop; bleu_tokenizer_test checks
// it against the generated table.
bool IsAsciiSpace(unsigned char b) { return (b >= 0x09 && b <= 0x0D) || (b >= 0x1C && b <= 0x20); }

bool AllAscii(absl::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Unicode's Final_Sigma context as CPython tests it: a cased letter (skipping case-ignorable
// ones) before position i, and none (skipping case-ignorable ones) after it.
bool IsFinalSigma(const std::u32string& s, size_t i) {
  size_t j = i;
  bool cased_before = false;
  while (j > 0) {
    --j;
    if (!IsCaseIgnorable(s[j])) {
      cased_before = IsCased(s[j]);
      break;
    }
  }
  if (!cased_before) return false;
  for (size_t k = i + 1; k < s.size(); ++k) {
    if (!IsCaseIgnorable(s[k])) return !IsCased(s[k]);
  }
  return true;
}

}  // namespace

char32_t DecodeUtf8(absl::string_view s, size_t* pos) {
  const size_t i = *pos;
  const unsigned char b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *pos = i + 1;
    return b0;
  }
  int length = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    length = 2;
    cp = b0 & 0x1F;
    min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3;
    cp = b0 & 0x0F;
    min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4;
    cp = b0 & 0x07;
    min = 0x10000;
  } else {
    *pos = i + 1;
    return kReplacement;
  }
  if (i + length > s.size()) {
    *pos = i + 1;
    return kReplacement;
  }
  for (int k = 1; k < length; ++k) {
    const unsigned char b = static_cast<unsigned char>(s[i + k]);
    if (!IsContinuation(b)) {
      *pos = i + 1;
      return kReplacement;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    *pos = i + 1;
    return kReplacement;
  }
  *pos = i + length;
  return cp;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

void DecodeUtf8(absl::string_view s, std::u32string* out) {
  size_t pos = 0;
  while (pos < s.size()) {
    const unsigned char b = static_cast<unsigned char>(s[pos]);
    if (b < 0x80) {
      out->push_back(b);
      ++pos;
    } else {
      out->push_back(DecodeUtf8(s, &pos));
    }
  }
}

bool IsValidUtf8(absl::string_view s, size_t* error_offset) {
  size_t pos = 0;
  while (pos < s.size()) {
    const unsigned char b = static_cast<unsigned char>(s[pos]);
    if (b < 0x80) {
      ++pos;
      continue;
    }
    const size_t start = pos;
    // A genuine U+FFFD (EF BF BD) is valid; only a replacement produced from one byte is not.
    if (DecodeUtf8(s, &pos) == kReplacement && pos == start + 1) {
      *error_offset = start;
      return false;
    }
  }
  return true;
}

absl::string_view PythonRstrip(absl::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    const unsigned char last = static_cast<unsigned char>(s[end - 1]);
    if (last < 0x80) {
      if (!IsAsciiSpace(last)) break;
      --end;
      continue;
    }
    // Step back to the lead byte of the final code point.
    size_t start = end - 1;
    while (start > 0 && IsContinuation(static_cast<unsigned char>(s[start])) && end - start < 4) {
      --start;
    }
    size_t pos = start;
    const char32_t cp = DecodeUtf8(s.substr(0, end), &pos);
    if (pos != end || !IsPythonSpace(cp)) break;
    end = start;
  }
  return s.substr(0, end);
}

void PythonSplit(absl::string_view s, std::vector<absl::string_view>* words) {
  size_t pos = 0;
  size_t word_start = 0;
  bool in_word = false;
  while (pos < s.size()) {
    const size_t here = pos;
    const unsigned char b = static_cast<unsigned char>(s[pos]);
    bool space;
    if (b < 0x80) {
      space = IsAsciiSpace(b);
      ++pos;
    } else {
      space = IsPythonSpace(DecodeUtf8(s, &pos));
    }
    if (space) {
      if (in_word) words->push_back(s.substr(word_start, here - word_start));
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      word_start = here;
    }
  }
  if (in_word) words->push_back(s.substr(word_start));
}

void PythonLower(const std::u32string& s, std::u32string* out) {
  out->clear();
  out->reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char32_t cp = s[i];
    if (cp == kCapitalSigma) {
      out->push_back(IsFinalSigma(s, i) ? kFinalSigma : kSmallSigma);
    } else if (cp == kCapitalIDot) {
      out->push_back('i');
      out->push_back(0x307);  // COMBINING DOT ABOVE
    } else {
      out->push_back(LowerSimple(cp));
    }
  }
}

void PythonLower(absl::string_view s, std::string* out) {
  out->clear();
  if (AllAscii(s)) {
    out->reserve(s.size());
    for (char c : s) out->push_back((c >= 'A' && c <= 'Z') ? c + 32 : c);
    return;
  }
  std::u32string decoded;
  std::u32string lowered;
  DecodeUtf8(s, &decoded);
  PythonLower(decoded, &lowered);
  out->reserve(s.size() + 8);
  for (char32_t cp : lowered) AppendUtf8(cp, out);
}

}  // namespace fathom::eval
