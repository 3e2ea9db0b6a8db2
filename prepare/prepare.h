// `fathom prepare`: raw corpora -> SentencePiece model(s) + one binary shard per split, all in
// `data.prepared_dir`, which appears only when everything in it is complete. Splits other than
// "train" also keep the raw target text of each kept example (SPLIT.ref.txt,
// data/shard_references.h), the references validation BLEU is scored against.
#ifndef FATHOM_PREPARE_PREPARE_H_
#define FATHOM_PREPARE_PREPARE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/config.pb.h"
#include "proto/shard.pb.h"

namespace fathom::prepare {

inline constexpr char kJointModelFile[] = "spm.model";
inline constexpr char kSourceModelFile[] = "spm.src.model";
inline constexpr char kTargetModelFile[] = "spm.tgt.model";
inline constexpr char kPreparedConfigFile[] = "config.pbtxt";

struct PrepareOptions {
  uint64_t seed = 1;            // sentence sampling for SentencePiece training
  bool overwrite = false;       // replace an existing prepared_dir
  std::string resolved_config;  // kept as prepared_dir/config.pbtxt
};

struct SplitReport {
  std::string split;
  proto::FilterCounts counts;
  int64_t source_tokens = 0;
  int64_t target_tokens = 0;
  double seconds = 0;
};

struct PrepareReport {
  int source_vocab_size = 0;
  int target_vocab_size = 0;
  bool trained_vocabulary = false;
  std::vector<SplitReport> splits;
};

absl::StatusOr<PrepareReport> RunPrepare(const proto::DataConfig& data,
                                         const PrepareOptions& options);

}  // namespace fathom::prepare

#endif  // FATHOM_PREPARE_PREPARE_H_
