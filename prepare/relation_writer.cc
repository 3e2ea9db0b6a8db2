#include "prepare/relation_writer.h"

#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "data/file_io.h"
#include "data/relations.h"
#include "data/shard_format.h"

namespace fathom::prepare {

absl::StatusOr<std::unique_ptr<RelationWriter>> RelationWriter::Create(const std::string& dir,
                                                                       const std::string& split) {
  const std::string records_path = data::ShardRelationsFile(dir, split);
  const std::string index_path = data::ShardRelationsIndexFile(dir, split);
  std::FILE* records = std::fopen(records_path.c_str(), "wb");
  if (records == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(records_path, ": cannot create: ", std::strerror(errno)));
  }
  std::FILE* index = std::fopen(index_path.c_str(), "wb");
  if (index == nullptr) {
    std::fclose(records);
    return absl::PermissionDeniedError(
        absl::StrCat(index_path, ": cannot create: ", std::strerror(errno)));
  }
  std::setvbuf(records, nullptr, _IOFBF, 1 << 20);
  auto writer = std::unique_ptr<RelationWriter>(new RelationWriter(dir, split, records, index));
  const uint64_t zero = 0;  // offset of example 0
  RETURN_IF_ERROR(writer->Write(index, writer->index_path_, &zero, sizeof(zero)));
  return writer;
}

RelationWriter::RelationWriter(std::string dir, std::string split, std::FILE* records,
                               std::FILE* index)
    : records_path_(data::ShardRelationsFile(dir, split)),
      index_path_(data::ShardRelationsIndexFile(dir, split)),
      records_(records),
      index_(index) {}

RelationWriter::~RelationWriter() {
  if (records_ != nullptr) std::fclose(records_);
  if (index_ != nullptr) std::fclose(index_);
}

absl::Status RelationWriter::Write(std::FILE* file, const std::string& path, const void* data,
                                   size_t bytes) {
  if (bytes > 0 && std::fwrite(data, 1, bytes, file) != bytes) {
    return absl::DataLossError(absl::StrCat(path, ": write failed: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status RelationWriter::Add(int num_segments, const std::vector<uint8_t>& segment_relations,
                                 const std::vector<uint16_t>& piece_segments) {
  const std::string where = absl::StrCat(records_path_, ": example ", num_examples_);
  if (num_segments < 0 || num_segments > std::numeric_limits<uint16_t>::max() ||
      segment_relations.size() != static_cast<size_t>(num_segments) * num_segments) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": ", segment_relations.size(), " relation ids for ", num_segments, " segments"));
  }
  if (piece_segments.size() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": too many pieces"));
  }
  for (uint8_t relation : segment_relations) {
    if (relation >= data::kNumRelations) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": relation id ",
                                                     static_cast<int>(relation),
                                                     " >= kNumRelations ", data::kNumRelations));
    }
  }
  for (uint16_t segment : piece_segments) {
    if (segment >= num_segments) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": piece segment ", static_cast<int>(segment), " >= ", num_segments, " segments"));
    }
  }
  const uint32_t counts[2] = {static_cast<uint32_t>(num_segments),
                              static_cast<uint32_t>(piece_segments.size())};
  RETURN_IF_ERROR(Write(records_, records_path_, counts, sizeof(counts)));
  RETURN_IF_ERROR(Write(records_, records_path_, piece_segments.data(),
                        piece_segments.size() * sizeof(uint16_t)));
  RETURN_IF_ERROR(
      Write(records_, records_path_, segment_relations.data(), segment_relations.size()));
  const size_t bytes =
      sizeof(counts) + piece_segments.size() * sizeof(uint16_t) + segment_relations.size();
  static constexpr uint8_t kPadding[data::kRelationRecordAlignment] = {};
  const size_t padding = (data::kRelationRecordAlignment - bytes % data::kRelationRecordAlignment) %
                         data::kRelationRecordAlignment;
  RETURN_IF_ERROR(Write(records_, records_path_, kPadding, padding));
  position_ += bytes + padding;
  RETURN_IF_ERROR(Write(index_, index_path_, &position_, sizeof(position_)));
  ++num_examples_;
  return absl::OkStatus();
}

absl::Status RelationWriter::Finish(proto::ShardHeader* header) {
  const std::string records_error = data::FlushSyncClose(&records_);
  const std::string index_error = data::FlushSyncClose(&index_);
  if (!records_error.empty())
    return absl::DataLossError(absl::StrCat(records_path_, ": ", records_error));
  if (!index_error.empty())
    return absl::DataLossError(absl::StrCat(index_path_, ": ", index_error));
  proto::RelationsInfo* info = header->mutable_relations();
  info->set_num_relations(data::kNumRelations);
  info->set_file_bytes(static_cast<int64_t>(position_));
  info->set_index_file_bytes(static_cast<int64_t>((num_examples_ + 1) * sizeof(uint64_t)));
  return absl::OkStatus();
}

}  // namespace fathom::prepare
