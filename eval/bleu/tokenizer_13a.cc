// The 13a tokeniser: sacreBLEU's Tokenizer13a (tokenizers/tokenizer_13a.py) followed by its
// TokenizerRegexp (tokenizer_re.py), as hand-written byte scanners instead of regexes.
//
// sacreBLEU applies each regex with re.sub over the whole line, one after the other, and each
// sub consumes the characters it matches: in "a.." the first rule matches "a." and resumes
// after it, so the second '.' is only seen as the start of a new match. Exactness needs the
// same non-overlapping, pass-by-pass order, so each rule below is its own left-to-right pass.
//
// Working on UTF-8 bytes instead of code points gives the same result: every pattern byte is
// ASCII, a multi-byte character can only stand in for [^0-9], and its last byte (before a
// following '.' or ',') or first byte (after one) is then where the match falls, with the
// rest of the character copied unchanged around it.
#include <string>

#include "eval/bleu/tokenizer.h"

namespace fathom::eval::tokenizer_internal {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Rule 1's class [\{-\~\[-\` -\&\(-\+\:-\@\/]: ASCII punctuation and symbols except the
// apostrophe, ',', '-' and '.', which the later rules (or nothing) handle.
bool IsSeparated(char c) {
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
         (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

bool IsPeriodOrComma(char c) { return c == '.' || c == ','; }

// str.replace(from, to): non-overlapping, left to right.
void ReplaceAll(absl::string_view from, absl::string_view to, std::string* text,
                std::string* scratch) {
  size_t pos = text->find(from.data(), 0, from.size());
  if (pos == std::string::npos) return;
  scratch->clear();
  size_t start = 0;
  while (pos != std::string::npos) {
    scratch->append(*text, start, pos - start);
    scratch->append(to.data(), to.size());
    start = pos + from.size();
    pos = text->find(from.data(), start, from.size());
  }
  scratch->append(*text, start, std::string::npos);
  text->swap(*scratch);
}

}  // namespace

void Rewrite13a(absl::string_view line, std::string* out, std::string* scratch) {
  // Language-independent part, in sacreBLEU's order. The entity unescapes run one after the
  // other, so "&amp;lt;" becomes "&lt;" and then "<", as there.
  std::string& text = *scratch;
  text.assign(line.data(), line.size());
  ReplaceAll("<skipped>", "", &text, out);
  ReplaceAll("-\n", "", &text, out);
  ReplaceAll("\n", " ", &text, out);
  if (text.find('&') != std::string::npos) {
    ReplaceAll("&quot;", "\"", &text, out);
    ReplaceAll("&amp;", "&", &text, out);
    ReplaceAll("&lt;", "<", &text, out);
    ReplaceAll("&gt;", ">", &text, out);
  }

  // Each pass writes through a raw pointer into a buffer sized for its worst case (rule 1
  // triples a character, the others double two), then trims: this is the hot loop of scoring.
  // Pad with a space on each side (mteval's " $norm_text "), and rule 1: surround each
  // character of the class with spaces.
  out->resize(3 * text.size() + 2);
  char* w = out->data();
  *w++ = ' ';
  for (char c : text) {
    if (IsSeparated(c)) {
      *w++ = ' ';
      *w++ = c;
      *w++ = ' ';
    } else {
      *w++ = c;
    }
  }
  *w++ = ' ';
  out->resize(w - out->data());

  // Rule 2, ([^0-9])([\.,]) -> "\1 \2 ": a period or comma after a non-digit.
  {
    const char* in = out->data();
    const size_t n = out->size();
    scratch->resize(2 * n);
    w = scratch->data();
    for (size_t i = 0; i < n;) {
      if (i + 1 < n && IsPeriodOrComma(in[i + 1]) && !IsDigit(in[i])) {
        *w++ = in[i];
        *w++ = ' ';
        *w++ = in[i + 1];
        *w++ = ' ';
        i += 2;
      } else {
        *w++ = in[i++];
      }
    }
    scratch->resize(w - scratch->data());
  }

  // Rule 3, ([\.,])([^0-9]) -> " \1 \2": a period or comma before a non-digit.
  {
    const char* in = scratch->data();
    const size_t n = scratch->size();
    out->resize(2 * n);
    w = out->data();
    for (size_t i = 0; i < n;) {
      if (i + 1 < n && IsPeriodOrComma(in[i]) && !IsDigit(in[i + 1])) {
        *w++ = ' ';
        *w++ = in[i];
        *w++ = ' ';
        *w++ = in[i + 1];
        i += 2;
      } else {
        *w++ = in[i++];
      }
    }
    out->resize(w - out->data());
  }

  // Rule 4, ([0-9])(-) -> "\1 \2 ": a dash after a digit.
  {
    const char* in = out->data();
    const size_t n = out->size();
    scratch->resize(2 * n);
    w = scratch->data();
    for (size_t i = 0; i < n;) {
      if (i + 1 < n && in[i + 1] == '-' && IsDigit(in[i])) {
        *w++ = in[i];
        *w++ = ' ';
        *w++ = '-';
        *w++ = ' ';
        i += 2;
      } else {
        *w++ = in[i++];
      }
    }
    scratch->resize(w - scratch->data());
  }
  out->swap(*scratch);
}

}  // namespace fathom::eval::tokenizer_internal
