#include "eval/translate/translator.h"

#include <algorithm>
#include <numeric>

namespace fathom::eval {

std::vector<std::vector<std::string>> Translate(InferenceModel& model, const std::vector<std::string>& lines,
                                                const TranslateOptions& options, const Progress& progress) {
  const int64_t n = static_cast<int64_t>(lines.size());
  std::vector<std::vector<int>> encoded(n);
  const int max_positions = static_cast<int>(model.model->options().max_positions);
  for (int64_t i = 0; i < n; ++i) {
    model.source_vocab->Encode(lines[i], &encoded[i]);
    // Room for EOS within the positions the model knows.
    if (static_cast<int>(encoded[i].size()) > max_positions - 1) encoded[i].resize(max_positions - 1);
  }
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return encoded[a].size() < encoded[b].size(); });
  BeamOptions beam = options.beam;
  beam.pad = model.target_vocab->pad_id();
  beam.bos = model.target_vocab->bos_id();
  beam.eos = model.target_vocab->eos_id();
  // Beams multiply the decoder's batch, so the budget is shared among them.
  const int64_t budget = std::max<int64_t>(1, options.max_tokens / std::max(1, beam.beam));
  std::vector<std::vector<std::string>> out(n);
  int64_t done = 0;
  for (size_t start = 0; start < order.size();) {
    size_t end = start;
    int64_t longest = 0;
    while (end < order.size()) {
      const int64_t len = static_cast<int64_t>(encoded[order[end]].size()) + 1;
      if (end > start && static_cast<int64_t>(end - start + 1) * std::max(longest, len) > budget) break;
      longest = std::max(longest, len);
      ++end;
    }
    torch::Tensor source = torch::full({static_cast<int64_t>(end - start), longest}, beam.pad, torch::kLong);
    for (size_t r = 0; r < end - start; ++r) {
      const auto& ids = encoded[order[start + r]];
      for (size_t t = 0; t < ids.size(); ++t) source[r][t] = ids[t];
      source[r][ids.size()] = beam.eos;
    }
    const auto hyps = BeamSearch(*model.model, source, beam);
    for (size_t r = 0; r < end - start; ++r) {
      for (const Hypothesis& h : hyps[r]) out[order[start + r]].push_back(model.target_vocab->Decode(h.tokens));
      if (hyps[r].empty()) out[order[start + r]].push_back("");
    }
    done += static_cast<int64_t>(end - start);
    if (progress) progress(done, n);
    start = end;
  }
  return out;
}

}  // namespace fathom::eval
