// Appends one split's relation records (layout in proto/shard.proto) beside its shard files.
// Streams: each record goes straight to the file, so memory does not grow with the split. The
// caller writes into a StagingDir and calls Finish before ShardWriter::Finish, so the header
// that ShardWriter writes last records the relations.
#ifndef FATHOM_PREPARE_RELATION_WRITER_H_
#define FATHOM_PREPARE_RELATION_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/shard.pb.h"

namespace fathom::prepare {

class RelationWriter {
 public:
  static absl::StatusOr<std::unique_ptr<RelationWriter>> Create(const std::string& dir,
                                                                const std::string& split);
  ~RelationWriter();
  RelationWriter(const RelationWriter&) = delete;
  RelationWriter& operator=(const RelationWriter&) = delete;

  // One example: its num_segments x num_segments relation ids (row-major) and the segment of
  // each source piece. Refuses ids >= data::kNumRelations and segments >= num_segments.
  absl::Status Add(int num_segments, const std::vector<uint8_t>& segment_relations,
                   const std::vector<uint16_t>& piece_segments);
  // Closes both files durably and records them in header->relations.
  absl::Status Finish(proto::ShardHeader* header);
  int64_t num_examples() const { return num_examples_; }

 private:
  RelationWriter(std::string dir, std::string split, std::FILE* records, std::FILE* index);
  absl::Status Write(std::FILE* file, const std::string& path, const void* data, size_t bytes);

  std::string records_path_;
  std::string index_path_;
  std::FILE* records_;
  std::FILE* index_;
  uint64_t position_ = 0;  // bytes of SPLIT.relations so far
  int64_t num_examples_ = 0;
};

}  // namespace fathom::prepare

#endif  // FATHOM_PREPARE_RELATION_WRITER_H_
