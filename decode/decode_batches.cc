#include "decode/decode_batches.h"

#include <algorithm>
#include <numeric>

namespace fathom::decode {

std::vector<std::vector<int64_t>> PlanDecodeBatches(const std::vector<int64_t>& source_lengths,
                                                    int beam, int64_t max_tokens) {
  std::vector<int64_t> order(source_lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return source_lengths[a] < source_lengths[b]; });
  const int64_t budget = std::max<int64_t>(1, max_tokens / std::max(1, beam));
  std::vector<std::vector<int64_t>> batches;
  for (size_t start = 0; start < order.size();) {
    size_t end = start;
    int64_t longest = 0;
    while (end < order.size()) {
      const int64_t len = source_lengths[order[end]] + 1;
      if (end > start && static_cast<int64_t>(end - start + 1) * std::max(longest, len) > budget)
        break;
      longest = std::max(longest, len);
      ++end;
    }
    batches.emplace_back(order.begin() + start, order.begin() + end);
    start = end;
  }
  return batches;
}

}  // namespace fathom::decode
