#include "decode/beam_search.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace fathom::decode {
namespace {

// A copy of host values on `device` (a copy on the CPU too: `values` may change afterwards).
template <typename T>
torch::Tensor ToDevice(std::vector<T>& values, torch::IntArrayRef shape, torch::ScalarType dtype,
                       const torch::Device& device) {
  return torch::from_blob(values.data(), shape, dtype)
      .to(device, /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace

int64_t MaxOutputLength(int64_t source_length, const BeamOptions& options, int64_t max_positions) {
  // In double first: a large max_len_a times a long source must not overflow before the cap.
  const double wanted = options.max_len_a * static_cast<double>(source_length) +
                        static_cast<double>(options.max_len_b);
  const int64_t cap = std::max<int64_t>(0, max_positions - 1);
  if (!(wanted < static_cast<double>(cap))) return cap;  // also a NaN max_len_a
  if (wanted <= 0) return 0;  // before the cast, which a huge negative value would overflow
  return static_cast<int64_t>(wanted);
}

std::vector<std::vector<Hypothesis>> BeamSearch(models::Seq2SeqImpl& model,
                                                const torch::Tensor& source,
                                                const BeamOptions& options,
                                                const torch::Tensor& relations) {
  torch::NoGradGuard no_grad;
  model.eval();
  const int64_t B = source.size(0);
  const int64_t K = options.beam;
  // The model, its cache, the decoder input and the beams' scores live on the device; the host
  // keeps the prefixes and finished hypotheses. Per step it reads back the top 2K candidates of
  // each sentence (one synchronisation) and sends the next tokens with the cache rows they
  // continue, and the beams' scores: a few small copies whatever B, K and V, and no work per
  // sentence on the device.
  const torch::Device device = source.device();
  const torch::Tensor source_lengths = source.ne(options.pad).sum(1).to(torch::kCPU);
  const auto lengths = source_lengths.accessor<int64_t, 1>();
  // Every beam of a sentence shares its encoding: encode once, repeat K times.
  torch::Tensor memory = model.Encode(source, relations);
  models::DecoderCache cache =
      model.StartDecoding(memory.repeat_interleave(K, 0), source.repeat_interleave(K, 0));
  std::vector<int64_t> max_len(B);
  int64_t longest = 0;
  for (int64_t b = 0; b < B; ++b) {
    max_len[b] = MaxOutputLength(lengths[b], options, model.options().max_positions);
    longest = std::max(longest, max_len[b]);
  }

  // At the start only beam 0 is live, so the first top-k does not pick K copies of one token.
  const float minus_inf = -std::numeric_limits<float>::infinity();
  std::vector<std::vector<int64_t>> prefixes(B * K, std::vector<int64_t>{options.bos});
  std::vector<float> scores(B * K, minus_inf);
  for (int64_t b = 0; b < B; ++b) scores[b * K] = 0;
  std::vector<std::vector<Hypothesis>> finished(B);
  std::vector<bool> done(B, false);
  torch::Tensor input =
      torch::full({B * K}, options.bos, torch::TensorOptions(torch::kLong).device(device));
  torch::Tensor beam_scores = ToDevice(scores, {B * K, 1}, torch::kFloat, device);

  for (int64_t step = 0; step <= longest; ++step) {
    const int64_t t = static_cast<int64_t>(prefixes[0].size());
    torch::Tensor last = model.DecodeStep(input, cache);
    torch::Tensor log_probs =
        torch::log_softmax(model.Logits(last).to(torch::kFloat), -1);  // [B*K, V]
    const int64_t V = log_probs.size(1);
    log_probs.select(1, options.pad).fill_(minus_inf);
    log_probs.select(1, options.bos).fill_(minus_inf);
    torch::Tensor candidates = (beam_scores + log_probs).view({B, K * V});
    // At the length limit only EOS may follow: one masked fill for all the sentences there.
    std::vector<uint8_t> at_limit(B, 0);
    bool any_at_limit = false;
    for (int64_t b = 0; b < B; ++b) {
      at_limit[b] = step >= max_len[b];
      any_at_limit = any_at_limit || at_limit[b];
    }
    if (any_at_limit) {
      torch::Tensor rows = candidates.view({B, K, V});
      const torch::Tensor eos = rows.select(2, options.eos).clone();
      rows.masked_fill_(ToDevice(at_limit, {B, 1, 1}, torch::kBool, device), minus_inf);
      rows.select(2, options.eos).copy_(eos);  // unchanged in the sentences below their limit
    }
    // 2K candidates: up to K may end in EOS and still leave K to continue.
    auto top = candidates.topk(2 * K, 1);
    torch::Tensor top_scores = std::get<0>(top).to(torch::kCPU).contiguous();
    torch::Tensor top_index = std::get<1>(top).to(torch::kCPU).contiguous();
    auto top_s = top_scores.accessor<float, 2>();
    auto top_i = top_index.accessor<int64_t, 2>();
    std::vector<std::vector<int64_t>> next_prefixes(B * K);
    std::vector<float> next_scores(B * K, minus_inf);
    std::vector<int64_t> origin(B * K);  // the cache row each new row continues
    bool all_done = true;
    for (int64_t b = 0; b < B; ++b) {
      int64_t kept = 0;
      for (int64_t c = 0; c < 2 * K && !done[b]; ++c) {
        const float score = top_s[b][c];
        if (!std::isfinite(score)) break;
        const int64_t beam = top_i[b][c] / V;
        const int64_t token = top_i[b][c] % V;
        const std::vector<int64_t>& prefix = prefixes[b * K + beam];
        if (token == options.eos) {
          Hypothesis h;
          h.tokens.assign(prefix.begin() + 1, prefix.end());
          h.score = score / std::pow(static_cast<double>(h.tokens.size() + 1), options.alpha);
          finished[b].push_back(std::move(h));
          continue;
        }
        if (kept < K) {
          origin[b * K + kept] = b * K + beam;
          next_prefixes[b * K + kept] = prefix;
          next_prefixes[b * K + kept].push_back(token);
          next_scores[b * K + kept] = score;
          ++kept;
        }
      }
      // Done once K hypotheses have finished (fairseq's rule: with alpha >= 0 a live beam only
      // loses log-probability), when nothing is left, or at the length limit.
      if (!done[b] &&
          (static_cast<int64_t>(finished[b].size()) >= K || kept == 0 || step >= max_len[b])) {
        done[b] = true;
      }
      if (!done[b]) all_done = false;
      // Unused and finished rows still go through the decoder, so keep them well formed.
      for (int64_t k = kept; k < K; ++k) {
        origin[b * K + k] = b * K;
        next_prefixes[b * K + k] = std::vector<int64_t>(t + 1, options.bos);
      }
    }
    if (all_done) break;
    // Row r of the next step continues cache row origin[r] with its prefix's last token.
    std::vector<int64_t> moves(2 * B * K);
    for (int64_t r = 0; r < B * K; ++r) {
      moves[r] = next_prefixes[r].back();
      moves[B * K + r] = origin[r];
    }
    const torch::Tensor moved = ToDevice(moves, {2, B * K}, torch::kLong, device);
    input = moved[0];
    cache.Reorder(moved[1]);
    beam_scores = ToDevice(next_scores, {B * K, 1}, torch::kFloat, device);
    prefixes = std::move(next_prefixes);
  }
  std::vector<std::vector<Hypothesis>> out(B);
  for (int64_t b = 0; b < B; ++b) {
    auto& hyps = finished[b];
    std::stable_sort(hyps.begin(), hyps.end(),
                     [](const Hypothesis& x, const Hypothesis& y) { return x.score > y.score; });
    if (static_cast<int>(hyps.size()) > options.nbest) hyps.resize(options.nbest);
    out[b] = std::move(hyps);
  }
  return out;
}

}  // namespace fathom::decode
