// The decoding library (decode/) on one process: how sentences are shared among ranks, the
// distributed translation that `fathom translate` calls, assembled as if three ranks had run it,
// truncation of long sources (counted in a warning), outputs capped at the model's positions,
// empty lines, and CUDA against the CPU where a GPU is visible. A fresh model
// with a SentencePiece model trained on a Multi30k slice: these tests compare decoding paths with
// each other, not translation quality. (Named train_* so that it links the decode library.)
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "comm/single_process_communicator.h"
#include "decode/beam_search.h"
#include "decode/distributed_decode.h"
#include "decode/text_sources.h"
#include "decode/translator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/initialisation.h"
#include "proto/config_io.h"
#include "tests/test_util.h"

namespace fathom::decode {
namespace {

constexpr int kMaxPositions = 24;

models::ModelOptions Options(int64_t vocab) {
  models::ModelOptions o;
  o.source_vocab = o.target_vocab = vocab;
  o.encoder_layers = o.decoder_layers = 2;
  o.d_model = 32;
  o.heads = 4;
  o.ffn_dim = 64;
  o.dropout = 0.0;
  o.max_positions = kMaxPositions;  // small, so that the long line below is cut
  o.embedding_dim = 32;
  o.init = proto::InitConfig::PRE_LN;
  return o;
}

InferenceModel MakeModel(const std::shared_ptr<data::Vocabulary>& vocab,
                         const torch::Device& device) {
  InferenceModel m;
  m.model = models::Seq2Seq(Options(vocab->size()));
  models::InitialiseDefault(*m.model, 11);  // the same weights on every call
  m.model->to(device);
  m.model->eval();
  m.source_vocab = m.target_vocab = vocab;
  return m;
}

class DecodeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string m30k = testing::SharedDataDir() + "/translation/multi30k/";
    proto::SentencePieceConfig spm;
    ResolveDefaults(&spm);
    spm.set_vocab_size(300);
    auto vocab = data::Vocabulary::Train(testing::ReadGzipLines(m30k + "train.de.gz", 500), spm, 1);
    ASSERT_TRUE(vocab.ok()) << vocab.status();
    vocab_ = new std::shared_ptr<data::Vocabulary>(
        std::make_shared<data::Vocabulary>(*std::move(vocab)));
    lines_ = new std::vector<std::string>(testing::ReadGzipLines(m30k + "val.de.gz", 22));
    lines_->push_back("");
    std::string long_line;
    for (int i = 0; i < 12; ++i) absl::StrAppend(&long_line, "Zwei Hunde spielen im Schnee. ");
    lines_->insert(lines_->begin() + 5, long_line);
  }
  static void TearDownTestSuite() {
    delete vocab_;
    delete lines_;
  }

  static TranslateOptions Beam(int beam, int nbest) {
    TranslateOptions options;
    options.beam.beam = beam;
    options.beam.nbest = nbest;
    options.beam.max_len_a = 0.5;
    options.beam.max_len_b = 6;
    options.max_tokens = 96;  // several batches
    return options;
  }

  static std::shared_ptr<data::Vocabulary>* vocab_;
  static std::vector<std::string>* lines_;
};

std::shared_ptr<data::Vocabulary>* DecodeTest::vocab_ = nullptr;
std::vector<std::string>* DecodeTest::lines_ = nullptr;

// Rank `rank` of `size` in one process. AllGatherBytes records this rank's bytes and answers
// with every rank's once all have been recorded (before that, an error), so calling each rank
// in turn and then one again shows what that rank would assemble on a real world of `size`.
class RecordingRank : public comm::SingleProcessCommunicator {
 public:
  RecordingRank(int rank, int size, std::vector<std::optional<std::string>>* recorded)
      : rank_(rank), size_(size), recorded_(recorded) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  absl::StatusOr<std::vector<std::string>> AllGatherBytes(const std::string& bytes) override {
    (*recorded_)[rank_] = bytes;
    std::vector<std::string> all;
    for (const auto& b : *recorded_) {
      if (!b.has_value()) return absl::UnavailableError("a rank has not decoded yet");
      all.push_back(*b);
    }
    return all;
  }

 private:
  int rank_, size_;
  std::vector<std::optional<std::string>>* recorded_;
};

TEST(RankShareTest, DealsEverySentenceToOneRankInTurn) {
  EXPECT_EQ(RankShare(7, 0, 3), (std::vector<int64_t>{0, 3, 6}));
  EXPECT_EQ(RankShare(7, 2, 3), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(RankShare(2, 2, 3), std::vector<int64_t>{}) << "more ranks than sentences";
  for (int size = 1; size <= 4; ++size) {
    for (int64_t n = 0; n <= 9; ++n) {
      std::vector<int> seen(n, 0);
      for (int rank = 0; rank < size; ++rank) {
        const std::vector<int64_t> share = RankShare(n, rank, size);
        EXPECT_LE(share.size(), static_cast<size_t>((n + size - 1) / size));
        EXPECT_GE(share.size(), static_cast<size_t>(n / size));
        for (int64_t i : share) ++seen[i];
      }
      for (int64_t i = 0; i < n; ++i)
        EXPECT_EQ(seen[i], 1) << n << " sentences, " << size << " ranks";
    }
  }
}

TEST_F(DecodeTest, TextSourcesCutLongLinesToTheModelsPositions) {
  const data::Vocabulary& vocab = **vocab_;
  const TextSources sources(*lines_, vocab, {0, 2, 3});
  ASSERT_GT(sources.length(5), kMaxPositions) << "the long line is not long";
  const SourceBatch batch = sources.MakeBatch({0, 5, 23}, kMaxPositions);
  ASSERT_EQ(batch.source.size(0), 3);
  EXPECT_EQ(batch.source.size(1), kMaxPositions);
  EXPECT_FALSE(batch.relations.defined());
  EXPECT_EQ(batch.source[1][kMaxPositions - 1].item<int64_t>(), 3) << "EOS after the cut";
  EXPECT_EQ(batch.source[1].ne(0).sum().item<int64_t>(), kMaxPositions);
  EXPECT_EQ(batch.source[2][0].item<int64_t>(), 3) << "an empty line is EOS alone";
  EXPECT_EQ(batch.source[2].ne(0).sum().item<int64_t>(), 1);
  std::vector<int> ids;
  vocab.Encode((*lines_)[0], &ids);
  const size_t kept = std::min<size_t>(ids.size(), kMaxPositions - 1);
  for (size_t t = 0; t < kept; ++t) EXPECT_EQ(batch.source[0][t].item<int64_t>(), ids[t]);
  EXPECT_EQ(batch.source[0][kept].item<int64_t>(), 3);
}

TEST(MaxOutputLengthTest, IsTheLengthRuleCappedAtTheModelsPositions) {
  BeamOptions options;  // 1.2 * source + 10
  EXPECT_EQ(MaxOutputLength(10, options, 1024), 22);
  EXPECT_EQ(MaxOutputLength(0, options, 1024), 10);
  // "sehr" 1,100 times, cut to 1,023 pieces: 1,237 wanted, 1,023 fit beside BOS.
  EXPECT_EQ(MaxOutputLength(1023, options, 1024), 1023);
  EXPECT_EQ(MaxOutputLength(844, options, 1024), 1022);
  EXPECT_EQ(MaxOutputLength(845, options, 1024), 1023);
  options.max_len_a = 1e300;  // no overflow on the way to the cap
  EXPECT_EQ(MaxOutputLength(1000, options, 64), 63);
  options.max_len_a = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(MaxOutputLength(5, options, 64), 63);
  options.max_len_a = 0;
  options.max_len_b = -5;
  EXPECT_EQ(MaxOutputLength(5, options, 64), 0) << "never negative";
  options.max_len_a = -1e300;
  EXPECT_EQ(MaxOutputLength(5, options, 64), 0);
  options.max_len_b = 10;
  EXPECT_EQ(MaxOutputLength(5, options, 1), 0) << "a model of one position has room for BOS only";
}

// Asked for far more pieces than the decoder has positions, beam search stops at the last one
// (before the cap, LibTorch threw "start (24) + length (1) exceeds dimension size (24)").
TEST_F(DecodeTest, OutputsStopWithinTheModelsPositions) {
  torch::set_num_threads(1);
  InferenceModel model = MakeModel(*vocab_, torch::kCPU);
  TranslateOptions options = Beam(2, 2);
  options.beam.max_len_a = 10;
  options.beam.max_len_b = 50;
  const TextSources sources(*lines_, **vocab_, {0, 2, 3});
  std::vector<int64_t> all(lines_->size());
  std::iota(all.begin(), all.end(), 0);
  std::vector<std::vector<Hypothesis>> hyps;
  ASSERT_NO_THROW(hyps = DecodeSentences(*model.model, sources, all, options));
  ASSERT_EQ(hyps.size(), lines_->size());
  size_t longest = 0;
  for (const auto& nbest : hyps) {
    for (const Hypothesis& h : nbest) longest = std::max(longest, h.tokens.size());
  }
  EXPECT_EQ(longest, static_cast<size_t>(kMaxPositions - 1)) << "some hypothesis ran to the cap";
}

TEST_F(DecodeTest, CutSourcesAreCountedInOneWarning) {
  torch::set_num_threads(1);
  InferenceModel model = MakeModel(*vocab_, torch::kCPU);
  const TextSources sources(*lines_, **vocab_, {0, 2, 3});
  int64_t cut = 0;
  for (int64_t i = 0; i < sources.size(); ++i) cut += sources.length(i) > kMaxPositions - 1;
  ASSERT_GE(cut, 1) << "the long line is not long";
  ::testing::internal::CaptureStderr();
  Translate(model, *lines_, Beam(1, 1));
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, ::testing::HasSubstr(absl::StrCat(cut, " of ", lines_->size(),
                                                     " source sentence(s) longer than the model's ",
                                                     kMaxPositions - 1, " positions")));
  EXPECT_THAT(log, ::testing::HasSubstr("WARNING"));
  ::testing::internal::CaptureStderr();
  Translate(model, {"Ein Hund."}, Beam(1, 1));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "") << "nothing cut, nothing said";
}

// An empty or blank line has nothing to translate; decoded as EOS alone, a model invents text.
TEST_F(DecodeTest, EmptyAndBlankLinesTranslateToEmptyLines) {
  torch::set_num_threads(1);
  InferenceModel model = MakeModel(*vocab_, torch::kCPU);
  const std::vector<std::string> lines = {"", "   ", " \t ", (*lines_)[0], ""};
  const auto out = Translate(model, lines, Beam(2, 2));
  ASSERT_EQ(out.size(), lines.size());
  for (size_t i : {0, 1, 2, 4}) EXPECT_EQ(out[i], std::vector<std::string>{""}) << "line " << i;
  EXPECT_EQ(out[3], Translate(model, {(*lines_)[0]}, Beam(2, 2))[0]) << "the others as alone";
}

TEST_F(DecodeTest, OneRankDistributedTranslateEqualsTranslate) {
  torch::set_num_threads(1);
  InferenceModel model = MakeModel(*vocab_, torch::kCPU);
  comm::SingleProcessCommunicator alone;
  const TranslateOptions options = Beam(3, 2);
  const auto expected = Translate(model, *lines_, options);
  int64_t reported = 0;
  auto got = DistributedTranslate(model, *lines_, options, alone, [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, static_cast<int64_t>(lines_->size()));
    reported = done;
  });
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, expected);
  EXPECT_EQ(reported, static_cast<int64_t>(lines_->size()));
  ASSERT_EQ(got->size(), lines_->size());
  for (const auto& nbest : *got) {
    EXPECT_GE(nbest.size(), 1u);
    EXPECT_LE(nbest.size(), 2u);
  }
}

// What `fathom translate` printed before decoding moved into the library: rank r translated
// lines r, r + R, ... on its own and rank 0 put them back in input order.
TEST_F(DecodeTest, ThreeRanksAssembleWhatEachRankTranslatedOfItsLines) {
  torch::set_num_threads(1);
  InferenceModel model = MakeModel(*vocab_, torch::kCPU);
  const TranslateOptions options = Beam(2, 2);
  const int world = 3;
  std::vector<std::vector<std::string>> expected(lines_->size());
  for (int r = 0; r < world; ++r) {
    std::vector<std::string> mine;
    for (size_t i = r; i < lines_->size(); i += world) mine.push_back((*lines_)[i]);
    const auto translated = Translate(model, mine, options);
    for (size_t k = 0; k < translated.size(); ++k) expected[r + k * world] = translated[k];
  }
  std::vector<std::optional<std::string>> recorded(world);
  for (int r = 0; r < world; ++r) {
    RecordingRank rank(r, world, &recorded);
    auto got = DistributedTranslate(model, *lines_, options, rank);
    if (r + 1 < world) {
      EXPECT_TRUE(absl::IsUnavailable(got.status())) << got.status();
      continue;
    }
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, expected) << "as the last rank assembles it";
  }
  RecordingRank first(0, world, &recorded);
  auto again = DistributedTranslate(model, *lines_, options, first);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, expected) << "as rank 0 assembles it";
}

TEST_F(DecodeTest, ShortGatheredBytesAreAnErrorNotAShift) {
  InferenceModel model = MakeModel(*vocab_, torch::kCPU);
  std::vector<std::optional<std::string>> recorded = {std::nullopt, std::string("1:3:ab")};
  RecordingRank rank(0, 2, &recorded);
  auto got = DistributedTranslate(model, *lines_, Beam(1, 1), rank);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("from rank 1"), std::string::npos) << got.status();
}

// Where a GPU is visible: the same weights decode to the same text on it (beam 1; beam search
// on the device, bookkeeping on the host).
TEST_F(DecodeTest, CudaGreedyDecodingEqualsCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU visible to LibTorch";
  InferenceModel cpu = MakeModel(*vocab_, torch::kCPU);
  InferenceModel gpu = MakeModel(*vocab_, torch::Device(torch::kCUDA, 0));
  ASSERT_TRUE(gpu.model->parameters().front().is_cuda());
  comm::SingleProcessCommunicator alone;
  const auto expected = Translate(cpu, *lines_, Beam(1, 1));
  auto got = DistributedTranslate(gpu, *lines_, Beam(1, 1), alone);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, expected);
  // Beam 4: the same hypotheses but for near ties, which float sums on another device may flip.
  const auto cpu4 = Translate(cpu, *lines_, Beam(4, 1));
  const auto gpu4 = Translate(gpu, *lines_, Beam(4, 1));
  int same = 0;
  for (size_t i = 0; i < cpu4.size(); ++i) same += cpu4[i] == gpu4[i];
  EXPECT_GE(same, static_cast<int>(cpu4.size()) - 2);
}

}  // namespace
}  // namespace fathom::decode
