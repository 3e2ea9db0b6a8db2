#include "prepare/encode_pipeline.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/vocabulary.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/config_io.h"

namespace fathom::prepare {
namespace {

// A tiny real SentencePiece model trained in the test.
data::Vocabulary TrainSmallVocabulary() {
  std::vector<std::string> sentences;
  for (int i = 0; i < 400; ++i) {
    sentences.push_back(absl::StrCat("the quick brown fox number ", i, " jumps over the lazy dog"));
    sentences.push_back(absl::StrCat("der schnelle braune fuchs nummer ", i, " springt"));
  }
  proto::SentencePieceConfig config;
  ResolveDefaults(&config);
  config.set_vocab_size(120);
  auto vocab = data::Vocabulary::Train(sentences, config, 1);
  EXPECT_TRUE(vocab.ok()) << vocab.status();
  return std::move(vocab).value();
}

// Yields pairs "source i" / "target i", failing at `fail_at` when set.
class CountingSource : public PairSource {
 public:
  CountingSource(int total, int fail_at) : total_(total), fail_at_(fail_at) {}
  absl::StatusOr<bool> NextChunk(int max_pairs, std::vector<TextPair>* out) override {
    out->clear();
    while (next_ < total_ && static_cast<int>(out->size()) < max_pairs) {
      if (next_ == fail_at_) return absl::InvalidArgumentError("planted failure");
      out->push_back({absl::StrCat("fox number ", next_), absl::StrCat("fuchs nummer ", next_)});
      ++next_;
    }
    return !out->empty();
  }

 private:
  int total_, fail_at_, next_ = 0;
};

TEST(EncodePipelineTest, OutputIsInInputOrderWithManyThreads) {
  const data::Vocabulary vocab = TrainSmallVocabulary();
  CountingSource source(5000, -1);
  std::vector<std::vector<int>> sources;
  int64_t expected_sequence = 0;
  const absl::Status status =
      EncodePairs(source, vocab, vocab, EncodeOptions{4, 7}, [&](const EncodedChunk& chunk) {
        EXPECT_EQ(chunk.sequence, expected_sequence++);
        for (const auto& ids : chunk.source) sources.push_back(ids);
        return absl::OkStatus();
      });
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(sources.size(), 5000u);
  for (int i = 0; i < 5000; i += 97) {
    std::vector<int> expected;
    vocab.Encode(absl::StrCat("fox number ", i), &expected);
    EXPECT_EQ(sources[i], expected) << i;
  }
}

TEST(EncodePipelineTest, SourceErrorStopsTheRun) {
  const data::Vocabulary vocab = TrainSmallVocabulary();
  CountingSource source(100000, 3000);
  const absl::Status status = EncodePairs(source, vocab, vocab, EncodeOptions{2, 64},
                                          [](const EncodedChunk&) { return absl::OkStatus(); });
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("planted failure"));
}

TEST(EncodePipelineTest, SinkErrorStopsTheRun) {
  const data::Vocabulary vocab = TrainSmallVocabulary();
  CountingSource source(100000, -1);
  int calls = 0;
  const absl::Status status =
      EncodePairs(source, vocab, vocab, EncodeOptions{2, 64}, [&](const EncodedChunk&) {
        return ++calls == 5 ? absl::DataLossError("disk full") : absl::OkStatus();
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(calls, 5);
}

}  // namespace
}  // namespace fathom::prepare
