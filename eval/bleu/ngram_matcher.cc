#include "eval/bleu/ngram_matcher.h"

#include <algorithm>

namespace fathom::eval {
namespace {

// Prefix of unigrams; ids stay far below it.
constexpr uint32_t kRoot = 0xFFFFFFFE;

uint64_t Key(uint32_t prefix, uint32_t unit) { return (uint64_t{prefix} << 32) | unit; }

}  // namespace

void NgramMatcher::IdTable::Reset(size_t max_entries) {
  size_t capacity = 16;
  while (capacity < 2 * max_entries) capacity *= 2;
  if (capacity > keys_.size()) {
    keys_.assign(capacity, kEmpty);
    values_.resize(capacity);
    int bits = 0;
    while ((size_t{1} << bits) < capacity) ++bits;
    shift_ = 64 - bits;
  } else {
    for (uint32_t slot : used_) keys_[slot] = kEmpty;
  }
  used_.clear();
}

size_t NgramMatcher::IdTable::Slot(uint64_t key) const {
  // Fibonacci hashing: the top bits of the product mix every bit of the key.
  return static_cast<size_t>(((key ^ (key >> 31)) * 0x9E3779B97F4A7C15ull) >> shift_);
}

uint32_t NgramMatcher::IdTable::FindOrInsert(uint64_t key, uint32_t next_id, bool* inserted) {
  const size_t mask = keys_.size() - 1;
  for (size_t slot = Slot(key);; slot = (slot + 1) & mask) {
    if (keys_[slot] == key) {
      *inserted = false;
      return values_[slot];
    }
    if (keys_[slot] == kEmpty) {
      keys_[slot] = key;
      values_[slot] = next_id;
      used_.push_back(static_cast<uint32_t>(slot));
      *inserted = true;
      return next_id;
    }
  }
}

uint32_t NgramMatcher::IdTable::Find(uint64_t key) const {
  const size_t mask = keys_.size() - 1;
  for (size_t slot = Slot(key);; slot = (slot + 1) & mask) {
    if (keys_[slot] == key) return values_[slot];
    if (keys_[slot] == kEmpty) return kAbsentUnit;
  }
}

void NgramMatcher::SetHypothesis(absl::Span<const uint32_t> units, int max_order) {
  max_order_ = max_order;
  const size_t length = units.size();
  table_.Reset(length * static_cast<size_t>(max_order));
  order_of_.clear();
  hyp_count_.clear();
  prev_.resize(length);
  cur_.resize(length);
  for (int n = 1; n <= max_order && static_cast<size_t>(n) <= length; ++n) {
    const size_t count = length - n + 1;
    for (size_t i = 0; i < count; ++i) {
      const uint32_t prefix = n == 1 ? kRoot : prev_[i];
      bool inserted;
      const uint32_t id = table_.FindOrInsert(Key(prefix, units[i + n - 1]),
                                              static_cast<uint32_t>(order_of_.size()), &inserted);
      if (inserted) {
        order_of_.push_back(static_cast<uint8_t>(n - 1));
        hyp_count_.push_back(0);
      }
      ++hyp_count_[id];
      cur_[i] = id;
    }
    prev_.swap(cur_);
  }
  ref_count_.assign(order_of_.size(), 0);
  ref_max_.assign(order_of_.size(), 0);
  touched_.clear();
  max_touched_.clear();
}

void NgramMatcher::CountReference(absl::Span<const uint32_t> units) {
  const size_t length = units.size();
  if (prev_.size() < length) {
    prev_.resize(length);
    cur_.resize(length);
  }
  for (int n = 1; n <= max_order_ && static_cast<size_t>(n) <= length; ++n) {
    const size_t count = length - n + 1;
    bool any = false;
    for (size_t i = 0; i < count; ++i) {
      const uint32_t prefix = n == 1 ? kRoot : prev_[i];
      const uint32_t unit = units[i + n - 1];
      uint32_t id = kAbsentUnit;
      if (prefix != kAbsentUnit && unit != kAbsentUnit) id = table_.Find(Key(prefix, unit));
      cur_[i] = id;
      if (id == kAbsentUnit) continue;
      any = true;
      if (ref_count_[id]++ == 0) touched_.push_back(id);
    }
    prev_.swap(cur_);
    if (!any) break;  // no longer n-gram can be a hypothesis n-gram either
  }
}

void NgramMatcher::MatchReference(absl::Span<const uint32_t> units, int64_t* matches) {
  CountReference(units);
  for (uint32_t id : touched_) {
    matches[order_of_[id]] += std::min(hyp_count_[id], ref_count_[id]);
    ref_count_[id] = 0;
  }
  touched_.clear();
}

void NgramMatcher::AddReferenceToMax(absl::Span<const uint32_t> units) {
  CountReference(units);
  for (uint32_t id : touched_) {
    if (ref_max_[id] == 0) max_touched_.push_back(id);
    ref_max_[id] = std::max(ref_max_[id], ref_count_[id]);
    ref_count_[id] = 0;
  }
  touched_.clear();
}

void NgramMatcher::ClipAgainstMax(int64_t* matches) {
  for (uint32_t id : max_touched_) {
    matches[order_of_[id]] += std::min(hyp_count_[id], ref_max_[id]);
    ref_max_[id] = 0;
  }
  max_touched_.clear();
}

void WordIds::SetHypothesis(absl::Span<const absl::string_view> words,
                            std::vector<uint32_t>* units) {
  ids_.clear();
  units->clear();
  for (absl::string_view word : words) {
    const auto it = ids_.try_emplace(word, static_cast<uint32_t>(ids_.size())).first;
    units->push_back(it->second);
  }
}

void WordIds::Lookup(absl::Span<const absl::string_view> words,
                     std::vector<uint32_t>* units) const {
  units->clear();
  for (absl::string_view word : words) {
    const auto it = ids_.find(word);
    units->push_back(it == ids_.end() ? kAbsentUnit : it->second);
  }
}

}  // namespace fathom::eval
