#include "decode/decode_sentences.h"

#include <algorithm>

#include "base/logging.h"
#include "decode/decode_batches.h"

namespace fathom::decode {
namespace {

// Restores a module's train/eval mode on scope exit (beam search switches it to eval).
class ModeGuard {
 public:
  explicit ModeGuard(torch::nn::Module& module)
      : module_(module), training_(module.is_training()) {}
  ~ModeGuard() { module_.train(training_); }

 private:
  torch::nn::Module& module_;
  bool training_;
};

// Says how many of `sentences` were cut to fit the model (MakeBatch cuts them): a user whose
// document became one 1,500-word line should know that its end was never translated.
void WarnAboutCutSources(const DecodeSources& sources, absl::Span<const int64_t> sentences,
                         int64_t width) {
  int64_t cut = 0;
  for (int64_t i : sentences) cut += sources.length(i) > width - 1;
  if (cut == 0) return;
  FLOG(Warning) << cut << " of " << sentences.size()
                << " source sentence(s) longer than the model's " << width - 1
                << " positions (max_positions " << width
                << ", one for EOS) were cut to their first " << width - 1 << " pieces";
}

}  // namespace

std::vector<std::vector<Hypothesis>> DecodeSentences(models::Seq2SeqImpl& model,
                                                     const DecodeSources& sources,
                                                     absl::Span<const int64_t> sentences,
                                                     const DecodeOptions& options,
                                                     const Progress& progress) {
  ModeGuard mode(model);
  const torch::Device device = model.parameters().front().device();
  const int64_t width = model.options().max_positions;
  const int64_t n = static_cast<int64_t>(sentences.size());
  std::vector<std::vector<Hypothesis>> out(n);
  // An empty source (an empty or blank line) has nothing to translate: its translation is empty.
  // Decoded, EOS alone lets the model invent a sentence ("Workers.").
  std::vector<int64_t> to_decode;  // positions into `sentences`
  std::vector<int64_t> lengths;    // of those, as the batches will hold them
  for (int64_t i = 0; i < n; ++i) {
    const int64_t length = sources.length(sentences[i]);
    if (length == 0) {
      out[i].emplace_back();
      continue;
    }
    to_decode.push_back(i);
    lengths.push_back(std::min(length, width - 1));
  }
  int64_t done = n - static_cast<int64_t>(to_decode.size());
  for (const std::vector<int64_t>& batch_positions :
       PlanDecodeBatches(lengths, options.beam.beam, options.max_tokens)) {
    std::vector<int64_t> positions(batch_positions.size());
    std::vector<int64_t> rows(positions.size());
    for (size_t r = 0; r < positions.size(); ++r) {
      positions[r] = to_decode[batch_positions[r]];
      rows[r] = sentences[positions[r]];
    }
    const SourceBatch batch = sources.MakeBatch(rows, width);
    const torch::Tensor relations =
        batch.relations.defined() ? batch.relations.to(device) : torch::Tensor();
    std::vector<std::vector<Hypothesis>> hyps =
        BeamSearch(model, batch.source.to(device), options.beam, relations);
    for (size_t r = 0; r < positions.size(); ++r) out[positions[r]] = std::move(hyps[r]);
    done += static_cast<int64_t>(rows.size());
    if (progress) progress(done, n);
  }
  WarnAboutCutSources(sources, sentences, width);
  return out;
}

}  // namespace fathom::decode
