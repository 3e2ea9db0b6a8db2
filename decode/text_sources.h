// Lines of text as decoding sources: each line encoded once with the source SentencePiece
// model. Every line is encoded, also on ranks that decode only some of them: encoding costs
// little beside beam search, and the lines keep their numbers for the rank shares.
#ifndef FATHOM_DECODE_TEXT_SOURCES_H_
#define FATHOM_DECODE_TEXT_SOURCES_H_

#include <string>
#include <vector>

#include "data/batch.h"
#include "data/vocabulary.h"
#include "decode/decode_sources.h"

namespace fathom::decode {

class TextSources : public DecodeSources {
 public:
  // `special`: the pad and EOS ids the batches use (the target vocabulary's, as in training).
  TextSources(const std::vector<std::string>& lines, const data::Vocabulary& vocab,
              const data::SpecialIds& special);

  int64_t size() const override { return static_cast<int64_t>(ids_.size()); }
  int64_t length(int64_t i) const override { return static_cast<int64_t>(ids_[i].size()); }
  SourceBatch MakeBatch(const std::vector<int64_t>& rows, int64_t width) const override;

 private:
  std::vector<std::vector<int>> ids_;
  data::SpecialIds special_;
};

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_TEXT_SOURCES_H_
