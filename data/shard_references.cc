#include "data/shard_references.h"

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "data/line_reader.h"
#include "data/shard_format.h"

namespace fathom::data {

bool KeepsReferences(absl::string_view split) { return split != "train"; }

void ShardReferenceWriter::Add(absl::string_view text) {
  const size_t start = contents_.size();
  contents_.append(text.data(), text.size());
  for (size_t i = start; i < contents_.size(); ++i) {
    char& c = contents_[i];
    if (c == '\t' || c == '\r' || c == '\n') c = ' ';
  }
  contents_.push_back('\n');
  ++count_;
}

absl::Status ShardReferenceWriter::Finish() { return WriteFileAtomic(path_, contents_); }

absl::StatusOr<std::vector<std::string>> ReadShardReferences(const std::string& dir,
                                                             const ShardDataset& dataset) {
  const std::string& split = dataset.header().split();
  const std::string path = ShardReferencesFile(dir, split);
  if (!PathExists(path)) {
    return absl::NotFoundError(absl::StrCat(path, ": no raw references for split \"", split,
                                            "\" (prepared by an older build? run `fathom prepare "
                                            "--overwrite`)"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<LineReader> reader, LineReader::Open(path));
  std::vector<std::string> references;
  references.reserve(static_cast<size_t>(dataset.size()));
  std::string line;
  while (reader->Next(&line)) references.push_back(line);
  RETURN_IF_ERROR(reader->status());
  if (static_cast<int64_t>(references.size()) != dataset.size()) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", references.size(), " lines, but ", ShardHeaderFile(dir, split),
                     " records ", dataset.size(), " examples (truncated or from another run)"));
  }
  return references;
}

}  // namespace fathom::data
