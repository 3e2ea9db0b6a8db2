// The few Python str operations sacreBLEU's results depend on, on UTF-8 text: code point
// decoding, str.split(), str.rstrip() and str.lower(). They follow Python's Unicode rules, not
// ASCII ones: U+00A0 or U+3000 separate words, "ΟΔΟΣ".lower() ends in a final sigma.
#ifndef FATHOM_EVAL_BLEU_PYTHON_TEXT_H_
#define FATHOM_EVAL_BLEU_PYTHON_TEXT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace fathom::eval {

// Decodes the code point at s[*pos] and advances *pos past it. Input is expected to be valid
// UTF-8 (ScoreFiles checks); an invalid byte decodes to U+FFFD and advances by one.
char32_t DecodeUtf8(absl::string_view s, size_t* pos);
void AppendUtf8(char32_t cp, std::string* out);
// Appends the code points of `s` to *out.
void DecodeUtf8(absl::string_view s, std::u32string* out);

// Whether Python's strict UTF-8 codec accepts `s` (no overlongs, surrogates or > U+10FFFF).
// On failure *error_offset is the byte offset of the first bad sequence.
bool IsValidUtf8(absl::string_view s, size_t* error_offset);

// str.rstrip(): without its trailing whitespace.
absl::string_view PythonRstrip(absl::string_view s);

// str.split(): appends the whitespace-separated words of `s` (views into it) to *words.
void PythonSplit(absl::string_view s, std::vector<absl::string_view>* words);

// str.lower() of `s` into *out (replacing its contents).
void PythonLower(absl::string_view s, std::string* out);
void PythonLower(const std::u32string& s, std::u32string* out);

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_BLEU_PYTHON_TEXT_H_
