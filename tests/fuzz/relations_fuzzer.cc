// RelationStore::Open on fuzzed relation records beside a fuzzed shard, then every example's
// piece relations expanded as MakeBatch expands them.
//
// Input: one flags byte, then five files (tests/fuzz/fuzz_util.h, SplitLengthPrefixed): header,
// index, tokens, relations, relations.index. Flag bit 0 writes the real file sizes into a header
// that parses (tokens, index and both relations files), bit 1 sets num_examples from the index
// size, bit 2 sets relations.num_relations to this build's count and the split name to the one
// opened, so the fuzzer reaches the per-record checks.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/relation_store.h"
#include "data/relations.h"
#include "data/shard_dataset.h"
#include "data/shard_format.h"
#include "google/protobuf/stubs/logging.h"
#include "proto/shard.pb.h"
#include "tests/fuzz/fuzz_util.h"

// protobuf logs each string field that is not UTF-8 as it parses it; mutated headers hold many.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using fathom::data::RelationStore;
  using fathom::data::ShardDataset;
  namespace fuzz = fathom::fuzz;
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  const std::vector<std::string_view> parts =
      fuzz::SplitLengthPrefixed({reinterpret_cast<const char*>(data) + 1, size - 1}, 5);
  std::string header_bytes(parts[0]);
  if ((flags & 7) != 0) {
    fathom::proto::ShardHeader header;
    if (header.ParseFromString(header_bytes)) {
      if (flags & 1) {
        header.set_index_file_bytes(static_cast<int64_t>(parts[1].size()));
        header.set_tokens_file_bytes(static_cast<int64_t>(parts[2].size()));
        header.mutable_relations()->set_file_bytes(static_cast<int64_t>(parts[3].size()));
        header.mutable_relations()->set_index_file_bytes(static_cast<int64_t>(parts[4].size()));
      }
      if (flags & 2) header.set_num_examples((static_cast<int64_t>(parts[1].size() / 8) - 1) / 2);
      if (flags & 4) {
        header.mutable_relations()->set_num_relations(fathom::data::kNumRelations);
        header.set_split("train");
      }
      header_bytes = header.SerializeAsString();
    }
  }
  static const std::string dir = fuzz::ScratchSubdir("relations");
  fuzz::WriteFileOrDie(fathom::data::ShardHeaderFile(dir, "train"), header_bytes);
  fuzz::WriteFileOrDie(fathom::data::ShardIndexFile(dir, "train"), parts[1]);
  fuzz::WriteFileOrDie(fathom::data::ShardTokensFile(dir, "train"), parts[2]);
  fuzz::WriteFileOrDie(fathom::data::ShardRelationsFile(dir, "train"), parts[3]);
  fuzz::WriteFileOrDie(fathom::data::ShardRelationsIndexFile(dir, "train"), parts[4]);

  auto dataset = ShardDataset::Open(dir, "train");
  if (!dataset.ok()) return 0;
  auto store = RelationStore::Open(dir, **dataset);
  if (!store.ok()) return 0;
  std::vector<uint8_t> matrix;
  int64_t sum = 0;
  for (int64_t i = 0; i < (*store)->size(); ++i) {
    const int pieces = (*store)->num_pieces(i);
    sum += (*store)->num_segments(i);
    // A record may hold more pieces than any batch would; the expansion is quadratic in them.
    if (pieces > 256) continue;
    matrix.assign(static_cast<size_t>(pieces) * pieces, 0xFF);
    (*store)->CopyPieceRelations(i, pieces, matrix.data());
    for (uint8_t r : matrix) sum += r;
  }
  return sum == -1 ? 1 : 0;
}
