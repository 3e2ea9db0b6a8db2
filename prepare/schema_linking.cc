#include "prepare/schema_linking.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"

namespace fathom::prepare {
namespace {

bool IsWordByte(unsigned char c) { return c >= 0x80 || absl::ascii_isalnum(c); }

// Words too common to link on their own (RAT-SQL skips stopwords in partial matches too):
// without this "the" would partially match every "the ..." column name.
bool IsStopword(absl::string_view word) {
  static const auto* const kStopwords = new absl::flat_hash_set<absl::string_view>{
      "a",     "an",   "the",   "of",   "in",    "on",    "at",    "to",    "for",  "by",
      "with",  "from", "and",   "or",   "not",   "no",    "is",    "are",   "was",  "were",
      "be",    "been", "do",    "does", "did",   "has",   "have",  "had",   "what", "which",
      "who",   "whom", "whose", "when", "where", "how",   "many",  "much",  "all",  "each",
      "every", "any",  "that",  "this", "these", "those", "there", "their", "its",  "it",
      "as",    "than", "then",  "me",   "my",    "s"};
  return kStopwords->contains(word);
}

std::string Fold(std::string word) {
  const size_t n = word.size();
  if (n >= 4 && word[n - 1] == 's' && word[n - 2] != 's') word.pop_back();
  return word;
}

// Lower-cased words before folding, so stopwords are recognised as written.
std::vector<std::string> RawWords(absl::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !IsWordByte(static_cast<unsigned char>(text[i]))) ++i;
    const size_t begin = i;
    while (i < text.size() && IsWordByte(static_cast<unsigned char>(text[i]))) ++i;
    if (i > begin) words.push_back(absl::AsciiStrToLower(text.substr(begin, i - begin)));
  }
  return words;
}

}  // namespace

std::vector<std::string> MatchWords(absl::string_view text) {
  std::vector<std::string> words = RawWords(text);
  for (std::string& word : words) word = Fold(std::move(word));
  return words;
}

QuestionLinker::QuestionLinker(const std::vector<std::string>& question_words)
    : num_segments_(static_cast<int>(question_words.size())) {
  for (int s = 0; s < num_segments_; ++s) {
    for (std::string& raw : RawWords(question_words[s]))
      words_.push_back({Fold(std::move(raw)), s});
  }
}

std::vector<NameMatch> QuestionLinker::Match(absl::string_view name) const {
  std::vector<NameMatch> match(num_segments_, NameMatch::kNone);
  const std::vector<std::string> raw = RawWords(name);
  if (raw.empty()) return match;  // "*" and other names without words match nothing
  std::vector<std::string> folded(raw.size());
  for (size_t k = 0; k < raw.size(); ++k) folded[k] = Fold(raw[k]);

  for (size_t start = 0; start + folded.size() <= words_.size(); ++start) {
    bool equal = true;
    for (size_t k = 0; k < folded.size() && equal; ++k)
      equal = words_[start + k].folded == folded[k];
    if (!equal) continue;
    for (size_t k = 0; k < folded.size(); ++k) match[words_[start + k].segment] = NameMatch::kExact;
  }
  for (size_t k = 0; k < folded.size(); ++k) {
    if (IsStopword(raw[k])) continue;
    for (const Word& word : words_) {
      if (word.folded == folded[k] && match[word.segment] == NameMatch::kNone) {
        match[word.segment] = NameMatch::kPartial;
      }
    }
  }
  return match;
}

}  // namespace fathom::prepare
