// The length filters of `fathom prepare`, applied to encoded pairs; every drop is counted by
// reason so the report says what was removed and why.
#ifndef FATHOM_PREPARE_EXAMPLE_FILTER_H_
#define FATHOM_PREPARE_EXAMPLE_FILTER_H_

#include <cstddef>

#include "proto/config.pb.h"
#include "proto/shard.pb.h"

namespace fathom::prepare {

class ExampleFilter {
 public:
  // `enabled` false keeps every pair (still counted as read and kept).
  ExampleFilter(const proto::FilterConfig& config, bool enabled)
      : config_(config), enabled_(enabled) {}

  // Returns true to keep a pair of these lengths (in pieces), counting the verdict.
  bool Keep(size_t source_length, size_t target_length);
  const proto::FilterCounts& counts() const { return counts_; }

 private:
  proto::FilterConfig config_;
  bool enabled_;
  proto::FilterCounts counts_;
};

}  // namespace fathom::prepare

#endif  // FATHOM_PREPARE_EXAMPLE_FILTER_H_
