// ShardDataset::Open on a fuzzed SPLIT.header, SPLIT.index and SPLIT.tokens, then every example
// read back the ways the batcher and MakeBatch read them, and the split's raw references
// (SPLIT.ref.txt, ReadShardReferences) as validation BLEU reads them.
//
// Input: one flags byte, then the four files (tests/fuzz/fuzz_util.h, SplitLengthPrefixed):
// header, index, tokens, ref.txt. Flag bit 0 makes the harness write the real file sizes into a
// header that parses (tokens_file_bytes, index_file_bytes), bit 1 sets num_examples from the
// index size, bit 2 the split name to the one the files are written under: checks a fuzzer
// rarely satisfies by mutation alone, so the checks behind them get exercised.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/shard_dataset.h"
#include "data/shard_format.h"
#include "data/shard_references.h"
#include "google/protobuf/stubs/logging.h"
#include "proto/shard.pb.h"
#include "tests/fuzz/fuzz_util.h"

// protobuf logs each string field that is not UTF-8 as it parses it; mutated headers hold many.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using fathom::data::ShardDataset;
  namespace fuzz = fathom::fuzz;
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  const std::vector<std::string_view> parts =
      fuzz::SplitLengthPrefixed({reinterpret_cast<const char*>(data) + 1, size - 1}, 4);
  std::string header_bytes(parts[0]);
  if ((flags & 7) != 0) {
    fathom::proto::ShardHeader header;
    if (header.ParseFromString(header_bytes)) {
      if (flags & 1) {
        header.set_index_file_bytes(static_cast<int64_t>(parts[1].size()));
        header.set_tokens_file_bytes(static_cast<int64_t>(parts[2].size()));
      }
      if (flags & 2) header.set_num_examples((static_cast<int64_t>(parts[1].size() / 8) - 1) / 2);
      if (flags & 4) header.set_split("train");
      header_bytes = header.SerializeAsString();
    }
  }
  static const std::string dir = fuzz::ScratchSubdir("shard");
  fuzz::WriteFileOrDie(fathom::data::ShardHeaderFile(dir, "train"), header_bytes);
  fuzz::WriteFileOrDie(fathom::data::ShardIndexFile(dir, "train"), parts[1]);
  fuzz::WriteFileOrDie(fathom::data::ShardTokensFile(dir, "train"), parts[2]);
  fuzz::WriteFileOrDie(fathom::data::ShardReferencesFile(dir, "train"), parts[3]);

  auto dataset = ShardDataset::Open(dir, "train");
  if (!dataset.ok()) return 0;
  const ShardDataset& shard = **dataset;
  const std::vector<int32_t> source_lengths = shard.SourceLengths();
  const std::vector<int32_t> target_lengths = shard.TargetLengths();
  int64_t sum = 0;
  for (int64_t i = 0; i < shard.size(); ++i) {
    for (int id : shard.Source(i)) sum += id;
    for (int id : shard.Target(i)) sum += id;
    std::vector<int32_t> buffer(static_cast<size_t>(source_lengths[i]) + target_lengths[i]);
    shard.CopySource(i, buffer.data());
    shard.CopyTarget(i, buffer.data() + source_lengths[i]);
  }
  auto references = fathom::data::ReadShardReferences(dir, shard);
  if (references.ok()) sum += static_cast<int64_t>(references->size());
  return sum == -1 ? 1 : 0;  // keeps the reads from being optimised away
}
