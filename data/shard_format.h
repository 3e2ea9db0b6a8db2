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
// TEXT_TO_SQL relation ids and their index (RelationWriter, RelationStore).
inline std::string ShardRelationsFile(const std::string& dir, const std::string& split) {
  return dir + "/" + split + ".relations";
}
inline std::string ShardRelationsIndexFile(const std::string& dir, const std::string& split) {
  return dir + "/" + split + ".relations.index";
}
// Every relations record starts at a multiple of this, so its fields can be read in place.
inline constexpr int kRelationRecordAlignment = 8;
inline std::string ShardHeaderFile(const std::string& dir, const std::string& split) {
  return dir + "/" + split + ".header";
}
// Every split but "train": the raw target text of each kept example, one line per example in
// shard order (data/shard_references.h), so BLEU can be scored against the text itself.
inline std::string ShardReferencesFile(const std::string& dir, const std::string& split) {
  return dir + "/" + split + ".ref.txt";
}

}  // namespace fathom::data

#endif  // FATHOM_DATA_SHARD_FORMAT_H_
