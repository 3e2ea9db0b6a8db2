// The intl tokeniser: sacreBLEU's TokenizerV14International (tokenizers/tokenizer_intl.py),
// three regex substitutions over code points written as scanners:
//   (\P{N})(\p{P}) -> "\1 \2 "   punctuation after a non-number
//   (\p{P})(\P{N}) -> " \1 \2"   punctuation before a non-number
//   (\p{S})        -> " \1 "     every symbol
// Like re.sub, each pass is left to right and a match consumes both of its characters, so the
// second character of a match is never the first of the next one. Unlike 13a the line is not
// padded, so a number followed by a final period keeps it ("2014." stays one token), as in
// mteval-v14.pl.
#include <string>

#include "eval/bleu/tokenizer.h"
#include "eval/bleu/unicode_tables.h"

namespace fathom::eval::tokenizer_internal {

void RewriteIntl(std::u32string* text, std::u32string* scratch) {
  const std::u32string& in1 = *text;
  std::u32string& out1 = *scratch;
  out1.clear();
  out1.reserve(in1.size() + in1.size() / 4 + 4);
  for (size_t i = 0; i < in1.size();) {
    if (i + 1 < in1.size() && !IsNumber(in1[i]) && IsPunctuation(in1[i + 1])) {
      out1.push_back(in1[i]);
      out1.push_back(' ');
      out1.push_back(in1[i + 1]);
      out1.push_back(' ');
      i += 2;
    } else {
      out1.push_back(in1[i++]);
    }
  }

  const std::u32string& in2 = *scratch;
  std::u32string& out2 = *text;
  out2.clear();
  out2.reserve(in2.size() + in2.size() / 4 + 4);
  for (size_t i = 0; i < in2.size();) {
    if (i + 1 < in2.size() && IsPunctuation(in2[i]) && !IsNumber(in2[i + 1])) {
      out2.push_back(' ');
      out2.push_back(in2[i]);
      out2.push_back(' ');
      out2.push_back(in2[i + 1]);
      i += 2;
    } else {
      out2.push_back(in2[i++]);
    }
  }

  const std::u32string& in3 = *text;
  std::u32string& out3 = *scratch;
  out3.clear();
  out3.reserve(in3.size() + in3.size() / 4 + 4);
  for (char32_t cp : in3) {
    if (IsSymbol(cp)) {
      out3.push_back(' ');
      out3.push_back(cp);
      out3.push_back(' ');
    } else {
      out3.push_back(cp);
    }
  }
  text->swap(*scratch);
}

}  // namespace fathom::eval::tokenizer_internal
