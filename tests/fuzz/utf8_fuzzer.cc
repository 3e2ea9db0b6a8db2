// The two UTF-8 validators against each other: data/utf8.h's FindInvalidUtf8 (the line reader,
// prepare, translate) and eval/bleu's IsValidUtf8 (fathom score, Python's strict codec). Both
// reject overlongs, surrogates and code points above U+10FFFF, so they must agree on every input,
// on where the first bad sequence starts, and with a decode-and-re-encode round trip.
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "data/utf8.h"
#include "eval/bleu/python_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const long bad = fathom::data::FindInvalidUtf8(text.data(), text.size());
  size_t offset = 0;
  const bool valid = fathom::eval::IsValidUtf8(text, &offset);
  if (valid != (bad < 0)) __builtin_trap();
  if (!valid && offset != static_cast<size_t>(bad)) __builtin_trap();
  // The valid prefix decodes to code points that encode back to the same bytes.
  const absl::string_view prefix = text.substr(0, valid ? text.size() : offset);
  std::u32string code_points;
  fathom::eval::DecodeUtf8(prefix, &code_points);
  std::string again;
  for (char32_t cp : code_points) fathom::eval::AppendUtf8(cp, &again);
  if (again != prefix) __builtin_trap();
  return 0;
}
