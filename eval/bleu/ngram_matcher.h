// Clipped n-gram match counts of one hypothesis against its references, exact and fast.
//
// sacreBLEU counts n-grams in Python Counters keyed by tuples of strings. Here every n-gram of
// the hypothesis gets a dense id by interning the pair (id of its (n-1)-gram prefix, its last
// unit), so n-grams of any order are compared as integers, without hashing collisions and
// without building strings. A reference n-gram whose prefix is not a hypothesis n-gram cannot
// be one either, so references are only looked up, and stop early.
#ifndef FATHOM_EVAL_BLEU_NGRAM_MATCHER_H_
#define FATHOM_EVAL_BLEU_NGRAM_MATCHER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace fathom::eval {

// Units are word ids (see WordIds) or code points; kAbsentUnit marks a reference unit that
// does not occur in the hypothesis.
inline constexpr uint32_t kAbsentUnit = 0xFFFFFFFF;

class NgramMatcher {
 public:
  // Interns the n-grams of orders 1..max_order of the hypothesis `units`.
  void SetHypothesis(absl::Span<const uint32_t> units, int max_order);

  // matches[n - 1] += sum over n-grams g of min(count of g in the hypothesis, in `units`).
  void MatchReference(absl::Span<const uint32_t> units, int64_t* matches);

  // BLEU clips against the largest count over all references: AddReferenceToMax() each
  // reference, then ClipAgainstMax() adds the clipped matches per order and forgets the max.
  void AddReferenceToMax(absl::Span<const uint32_t> units);
  void ClipAgainstMax(int64_t* matches);

 private:
  // uint64 key -> uint32 id, open addressing; Reset() costs what the last use filled.
  class IdTable {
   public:
    void Reset(size_t max_entries);
    // The id of `key`, inserting `next_id` if absent; *inserted says which.
    uint32_t FindOrInsert(uint64_t key, uint32_t next_id, bool* inserted);
    uint32_t Find(uint64_t key) const;  // kAbsentUnit if absent

   private:
    static constexpr uint64_t kEmpty = ~uint64_t{0};  // never a key: units are < kAbsentUnit
    size_t Slot(uint64_t key) const;
    std::vector<uint64_t> keys_;
    std::vector<uint32_t> values_;
    std::vector<uint32_t> used_;
    int shift_ = 64;
  };

  // Counts the reference's n-grams that occur in the hypothesis into ref_count_.
  void CountReference(absl::Span<const uint32_t> units);

  int max_order_ = 0;
  IdTable table_;
  std::vector<uint8_t> order_of_;  // per id: n - 1
  std::vector<uint32_t> hyp_count_;
  std::vector<uint32_t> ref_count_;
  std::vector<uint32_t> ref_max_;
  std::vector<uint32_t> touched_;
  std::vector<uint32_t> max_touched_;
  std::vector<uint32_t> prev_;
  std::vector<uint32_t> cur_;
};

// Word -> unit ids for one segment: the hypothesis's words are numbered, a reference word not
// among them maps to kAbsentUnit.
class WordIds {
 public:
  void SetHypothesis(absl::Span<const absl::string_view> words, std::vector<uint32_t>* units);
  // Views passed to SetHypothesis must outlive these lookups.
  void Lookup(absl::Span<const absl::string_view> words, std::vector<uint32_t>* units) const;

 private:
  absl::flat_hash_map<absl::string_view, uint32_t> ids_;
};

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_BLEU_NGRAM_MATCHER_H_
