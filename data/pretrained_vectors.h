// Pre-trained word vectors in GloVe text format ("word v1 v2 ... vd" a line, plain or .gz),
// looked up for the pieces of a SentencePiece vocabulary.
#ifndef FATHOM_DATA_PRETRAINED_VECTORS_H_
#define FATHOM_DATA_PRETRAINED_VECTORS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/vocabulary.h"

namespace fathom::data {

struct PretrainedTable {
  int64_t vocab_size = 0;
  int64_t dim = 0;
  std::vector<float> values;     // [vocab_size x dim], zero rows for pieces not covered
  std::vector<uint8_t> covered;  // [vocab_size]
  int64_t covered_count = 0;
  int64_t file_words = 0;  // vectors in the file
  double coverage() const { return vocab_size ? double(covered_count) / double(vocab_size) : 0.0; }
};

// Vectors wider than this are refused (file:1) before the [vocab_size x dim] table is made.
inline constexpr int64_t kMaxPretrainedDim = 1 << 16;

// A piece is covered when it starts a word ("▁house") and the word, lower-cased, has a vector
// (GloVe 6B is lower-cased). Special pieces are never covered. Lines with a different number of
// values than the first are errors naming file:line.
absl::StatusOr<PretrainedTable> LoadPretrainedVectors(const std::string& path,
                                                      const Vocabulary& vocab);

// The same for a vocabulary given as its pieces (pieces[id]) and the ids never covered (the
// special ones): what the overload above reads from the SentencePiece model. For callers without
// one, such as the fuzz harness (tests/fuzz/glove_fuzzer.cc) in a sanitizer build, where the
// SentencePiece module cannot be loaded (spm_bridge.h).
absl::StatusOr<PretrainedTable> LoadPretrainedVectors(const std::string& path,
                                                      const std::vector<std::string>& pieces,
                                                      const std::vector<int>& special_ids);

}  // namespace fathom::data

#endif  // FATHOM_DATA_PRETRAINED_VECTORS_H_
