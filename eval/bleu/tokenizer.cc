// Dispatch, the char and none tokenisers, and splitting rewritten lines into tokens.
#include "eval/bleu/tokenizer.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "eval/bleu/python_text.h"
#include "eval/bleu/unicode_tables.h"

namespace fathom::eval {

absl::StatusOr<Tokenizer> ParseTokenizer(absl::string_view name) {
  if (name == "13a") return Tokenizer::k13a;
  if (name == "intl") return Tokenizer::kIntl;
  if (name == "char") return Tokenizer::kChar;
  if (name == "none") return Tokenizer::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown BLEU tokenizer '", name, "' (expected 13a, intl, char or none)"));
}

absl::string_view TokenizerName(Tokenizer tokenizer) {
  switch (tokenizer) {
    case Tokenizer::k13a:
      return "13a";
    case Tokenizer::kIntl:
      return "intl";
    case Tokenizer::kChar:
      return "char";
    case Tokenizer::kNone:
      return "none";
  }
  return "?";
}

const std::vector<absl::string_view>& LineTokenizer::Tokenize(absl::string_view line) {
  tokens_.clear();
  switch (tokenizer_) {
    case Tokenizer::k13a:
      tokenizer_internal::Rewrite13a(line, &buffer_, &scratch_);
      PythonSplit(buffer_, &tokens_);
      break;
    case Tokenizer::kIntl: {
      code_points_.clear();
      DecodeUtf8(line, &code_points_);
      tokenizer_internal::RewriteIntl(&code_points_, &code_points_scratch_);
      // Encode back to UTF-8 first and split after, so the views never move.
      buffer_.clear();
      for (char32_t cp : code_points_) AppendUtf8(cp, &buffer_);
      PythonSplit(buffer_, &tokens_);
      break;
    }
    case Tokenizer::kChar: {
      // " ".join(line) then split(): every code point that is not whitespace is a token.
      size_t pos = 0;
      while (pos < line.size()) {
        const size_t start = pos;
        const char32_t cp = DecodeUtf8(line, &pos);
        if (!IsPythonSpace(cp)) tokens_.push_back(line.substr(start, pos - start));
      }
      break;
    }
    case Tokenizer::kNone:
      PythonSplit(line, &tokens_);
      break;
  }
  return tokens_;
}

std::string TokenizeToString(Tokenizer tokenizer, absl::string_view line) {
  LineTokenizer tokenize(tokenizer);
  return absl::StrJoin(tokenize.Tokenize(line), " ");
}

}  // namespace fathom::eval
