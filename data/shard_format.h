// File names and constants of the binary shard format (layout documented in proto/shard.proto).
#ifndef FATHOM_DATA_SHARD_FORMAT_H_
#define FATHOM_DATA_SHARD_FORMAT_H_

#include <cstdint>
#include <string>

namespace fathom::data {

inline constexpr uint32_t kShardMagic = 0x4D485446;  // "FTHM" little-endian
inline constexpr int kShardVersion = 1;
inline constexpr int kHistogramBucketWidth = 8;

inline std::string ShardTokensFile(const std::string& dir, const std::string& split) {
  return dir + "/" + split + ".tokens";
}
inline std::string ShardIndexFile(const std::string& dir, const std::string& split) {
  return dir + "/" + split + ".index";
}
inline std::string ShardHeaderFile(const std::string& dir, const std::string& split) {
  return dir + "/" + split + ".header";
}

}  // namespace fathom::data

#endif  // FATHOM_DATA_SHARD_FORMAT_H_
