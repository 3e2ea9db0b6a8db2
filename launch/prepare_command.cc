// `fathom prepare --config FILE`: SentencePiece + binary shards for every split of data.
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "launch/command_line.h"
#include "launch/common_flags.h"
#include "launch/subcommands.h"
#include "prepare/prepare.h"
#include "proto/config_io.h"

ABSL_FLAG(bool, overwrite, false, "replace an existing data.prepared_dir");

namespace fathom::launch {
namespace {

int RunPrepare(const std::vector<std::string>& args) {
  proto::RunConfig loaded;
  if (const int code = LoadConfigFromFlags("prepare", args, &loaded); code != kExitOk) return code;
  const proto::RunConfig* config = &loaded;
  const std::string resolved = ConfigToText(*config);
  FLOG(Info) << "resolved config (" << absl::GetFlag(FLAGS_config) << "):\n" << resolved;
  prepare::PrepareOptions options;
  options.seed = config->seed();
  options.overwrite = absl::GetFlag(FLAGS_overwrite);
  options.resolved_config = resolved;
  absl::StatusOr<prepare::PrepareReport> report = prepare::RunPrepare(config->data(), options);
  if (!report.ok()) {
    FLOG(Error) << "prepare failed: " << report.status().message();
    return kExitError;
  }
  return kExitOk;
}

}  // namespace

Subcommand PrepareSubcommand() {
  return {"prepare",
          "encode corpora with SentencePiece into binary shards (data section of the config)",
          "fathom prepare --config FILE [--overwrite]",
          {"config", "overwrite"},
          RunPrepare};
}

}  // namespace fathom::launch
