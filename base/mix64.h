// SplitMix64's finalizer: a bijective mix of 64 bits. The one hash behind the batcher's
// shuffles, the CPU dropout masks and the per-rank seeds, so all of them are the same on every
// platform and standard library.
#ifndef FATHOM_BASE_MIX64_H_
#define FATHOM_BASE_MIX64_H_

#include <cstdint>

namespace fathom {

inline constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ull;  // SplitMix64's increment

inline uint64_t Mix64(uint64_t x) {
  x += kGoldenGamma;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace fathom

#endif  // FATHOM_BASE_MIX64_H_
