// Uniform sample of at most `capacity` sentences from a stream of any length (Algorithm R),
// with a fixed seed so the same corpus always trains the same SentencePiece model.
#ifndef FATHOM_PREPARE_RESERVOIR_SAMPLER_H_
#define FATHOM_PREPARE_RESERVOIR_SAMPLER_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace fathom::prepare {

class ReservoirSampler {
 public:
  ReservoirSampler(size_t capacity, uint64_t seed) : capacity_(capacity), rng_(seed) {}

  void Add(const std::string& sentence) {
    ++seen_;
    if (sample_.size() < capacity_) {
      sample_.push_back(sentence);
      return;
    }
    // Drawn from the raw 64-bit output, not a std distribution, so every platform agrees.
    const uint64_t slot = rng_() % seen_;
    if (slot < capacity_) sample_[slot] = sentence;
  }
  uint64_t seen() const { return seen_; }
  const std::vector<std::string>& sample() const { return sample_; }

 private:
  size_t capacity_;
  std::mt19937_64 rng_;
  uint64_t seen_ = 0;
  std::vector<std::string> sample_;
};

}  // namespace fathom::prepare

#endif  // FATHOM_PREPARE_RESERVOIR_SAMPLER_H_
