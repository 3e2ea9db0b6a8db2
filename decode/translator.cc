#include "eval/translate/translator.h"

#include <algorithm>

#include "eval/translate/decode_batches.h"

namespace fathom::eval {

std::vector<std::vector<std::string>> Translate(InferenceModel& model,
                                                const std::vector<std::string>& lines,
                                                const TranslateOptions& options,
                                                const Progress& progress) {
  const int64_t n = static_cast<int64_t>(lines.size());
  std::vector<std::vector<int>> encoded(n);
  std::vector<int64_t> lengths(n);
  const int max_positions = static_cast<int>(model.model->options().max_positions);
  for (int64_t i = 0; i < n; ++i) {
    model.source_vocab->Encode(lines[i], &encoded[i]);
    // Room for EOS within the positions the model knows.
    if (static_cast<int>(encoded[i].size()) > max_positions - 1)
      encoded[i].resize(max_positions - 1);
    lengths[i] = static_cast<int64_t>(encoded[i].size());
  }
  BeamOptions beam = options.beam;
  beam.pad = model.target_vocab->pad_id();
  beam.bos = model.target_vocab->bos_id();
  beam.eos = model.target_vocab->eos_id();
  std::vector<std::vector<std::string>> out(n);
  int64_t done = 0;
  for (const std::vector<int64_t>& rows :
       PlanDecodeBatches(lengths, beam.beam, options.max_tokens)) {
    int64_t longest = 0;
    for (int64_t i : rows) longest = std::max(longest, lengths[i] + 1);
    torch::Tensor source =
        torch::full({static_cast<int64_t>(rows.size()), longest}, beam.pad, torch::kLong);
    auto src = source.accessor<int64_t, 2>();
    for (size_t r = 0; r < rows.size(); ++r) {
      const auto& ids = encoded[rows[r]];
      for (size_t t = 0; t < ids.size(); ++t) src[r][t] = ids[t];
      src[r][ids.size()] = beam.eos;
    }
    const auto hyps =
        BeamSearch(*model.model, source.to(model.model->parameters()[0].device()), beam);
    for (size_t r = 0; r < rows.size(); ++r) {
      for (const Hypothesis& h : hyps[r])
        out[rows[r]].push_back(model.target_vocab->Decode(h.tokens));
      if (hyps[r].empty()) out[rows[r]].push_back("");
    }
    done += static_cast<int64_t>(rows.size());
    if (progress) progress(done, n);
  }
  return out;
}

}  // namespace fathom::eval
