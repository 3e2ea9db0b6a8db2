// sacreBLEU's BLEU tokenisers: 13a (mteval-v13a, the default), intl (mteval-v14 international),
// char and none. Each produces exactly the tokens of sacreBLEU 2.x's tokenizer on the same
// (already rstripped, optionally lowercased) line.
#ifndef FATHOM_EVAL_BLEU_TOKENIZER_H_
#define FATHOM_EVAL_BLEU_TOKENIZER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fathom::eval {

enum class Tokenizer { k13a, kIntl, kChar, kNone };

// "13a", "intl", "char" or "none", the names of sacreBLEU's --tokenize and its signature.
absl::StatusOr<Tokenizer> ParseTokenizer(absl::string_view name);
absl::string_view TokenizerName(Tokenizer tokenizer);

// Tokenises lines with reusable scratch buffers, so scoring allocates nothing per token.
class LineTokenizer {
 public:
  explicit LineTokenizer(Tokenizer tokenizer) : tokenizer_(tokenizer) {}

  // The tokens of `line`. They view `line` or this object's buffers: valid until the next call
  // and while `line` lives.
  const std::vector<absl::string_view>& Tokenize(absl::string_view line);

 private:
  Tokenizer tokenizer_;
  std::string buffer_;
  std::string scratch_;
  std::u32string code_points_;
  std::u32string code_points_scratch_;
  std::vector<absl::string_view> tokens_;
};

// The tokenised line as sacreBLEU prints it: tokens joined by single spaces.
std::string TokenizeToString(Tokenizer tokenizer, absl::string_view line);

namespace tokenizer_internal {
// The 13a rewrite of `line` into *out (tokens separated by runs of spaces); *scratch is reused.
void Rewrite13a(absl::string_view line, std::string* out, std::string* scratch);
// The intl rewrite of the code points in *text, in place; *scratch is reused.
void RewriteIntl(std::u32string* text, std::u32string* scratch);
}  // namespace tokenizer_internal

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_BLEU_TOKENIZER_H_
