// Name matching between a question and schema names (RAT-SQL's schema linking, without a
// lemmatiser or database values): which question words mention a table or column.
#ifndef FATHOM_PREPARE_SCHEMA_LINKING_H_
#define FATHOM_PREPARE_SCHEMA_LINKING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace fathom::prepare {

// The words matching compares: maximal runs of ASCII letters and digits and of non-ASCII bytes
// (so UTF-8 letters stay inside words), lower-cased; everything else separates. A trailing
// plural "s" is dropped from words of four or more letters not ending in "ss" ("singers" ->
// "singer", "class" stays), crude but enough for Spider's English without a lemmatiser.
std::vector<std::string> MatchWords(absl::string_view text);

enum class NameMatch : uint8_t { kNone, kPartial, kExact };

class QuestionLinker {
 public:
  // `question_words`: the question's whitespace-separated words, one per segment.
  explicit QuestionLinker(const std::vector<std::string>& question_words);

  // How `name` (a natural table or column name, e.g. "stadium id") is mentioned by each
  // question word: kExact where the word is part of an occurrence of the whole name as
  // consecutive question words ("stadium id" in "... the stadium id of ..."), else kPartial where
  // the word equals one of the name's words that is not a stopword ("stadium" alone), else kNone.
  // Punctuation inside a question word only separates: "singers?" contains the word "singer".
  std::vector<NameMatch> Match(absl::string_view name) const;

 private:
  struct Word {
    std::string folded;
    int segment;  // the question word it came from
  };
  std::vector<Word> words_;  // in question order
  int num_segments_;
};

}  // namespace fathom::prepare

#endif  // FATHOM_PREPARE_SCHEMA_LINKING_H_
