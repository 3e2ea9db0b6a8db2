#include "prepare/example_filter.h"

#include <algorithm>

namespace fathom::prepare {

bool ExampleFilter::Keep(size_t source_length, size_t target_length) {
  counts_.set_read(counts_.read() + 1);
  if (enabled_) {
    // Whitespace-only lines encode to no pieces, so "empty" is judged on the pieces.
    if (config_.drop_empty() && (source_length == 0 || target_length == 0)) {
      counts_.set_empty(counts_.empty() + 1);
      return false;
    }
    const size_t max_length = static_cast<size_t>(config_.max_length());
    if (max_length > 0 && (source_length > max_length || target_length > max_length)) {
      counts_.set_too_long(counts_.too_long() + 1);
      return false;
    }
    const float ratio = config_.max_length_ratio();
    const size_t shorter = std::min(source_length, target_length);
    const size_t longer = std::max(source_length, target_length);
    if (ratio > 0 && shorter > 0 &&
        static_cast<double>(longer) > ratio * static_cast<double>(shorter)) {
      counts_.set_bad_ratio(counts_.bad_ratio() + 1);
      return false;
    }
  }
  counts_.set_kept(counts_.kept() + 1);
  return true;
}

}  // namespace fathom::prepare
