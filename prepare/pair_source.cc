#include "prepare/pair_source.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fathom::prepare {

absl::StatusOr<std::unique_ptr<ParallelTextSource>> ParallelTextSource::Open(
    const std::string& source_path, const std::string& target_path) {
  ASSIGN_OR_RETURN(auto source, data::LineReader::Open(source_path));
  ASSIGN_OR_RETURN(auto target, data::LineReader::Open(target_path));
  return std::unique_ptr<ParallelTextSource>(
      new ParallelTextSource(std::move(source), std::move(target)));
}

absl::Status ParallelTextSource::MismatchError(data::LineReader& longer,
                                               data::LineReader& shorter) {
  // Count the rest of the longer file so the message gives both true counts.
  longer.DisableUtf8Check();
  std::string line;
  while (longer.Next(&line)) {
  }
  RETURN_IF_ERROR(longer.status());
  const data::LineReader& src = source_.get() == &longer ? longer : shorter;
  const data::LineReader& tgt = source_.get() == &longer ? shorter : longer;
  return absl::InvalidArgumentError(absl::StrCat("line counts differ: ", src.path(), " has ",
                                                 src.line_number(), " lines but ", tgt.path(),
                                                 " has ", tgt.line_number()));
}

absl::StatusOr<bool> ParallelTextSource::NextChunk(int max_pairs, std::vector<TextPair>* out) {
  out->resize(max_pairs);
  int n = 0;
  for (; n < max_pairs; ++n) {
    TextPair& pair = (*out)[n];
    const bool has_source = source_->Next(&pair.source);
    RETURN_IF_ERROR(source_->status());
    const bool has_target = target_->Next(&pair.target);
    RETURN_IF_ERROR(target_->status());
    if (has_source != has_target) {
      return has_source ? MismatchError(*source_, *target_) : MismatchError(*target_, *source_);
    }
    if (!has_source) break;
  }
  out->resize(n);
  return n > 0;
}

}  // namespace fathom::prepare
