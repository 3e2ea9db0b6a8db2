// `fathom average --output DIR CKPT...` or `fathom average --output DIR --last N RUN_DIR`.
#include <iostream>

#include "absl/flags/flag.h"
#include "base/logging.h"
#include "decode/checkpoint_average.h"
#include "launch/command_line.h"
#include "launch/common_flags.h"
#include "launch/subcommands.h"

ABSL_FLAG(int32_t, last, 0, "average the newest N checkpoints of the one run directory given");

namespace fathom::launch {
namespace {

int RunAverage(const std::vector<std::string>& args) {
  const std::string output = absl::GetFlag(FLAGS_output);
  const int last = absl::GetFlag(FLAGS_last);
  if (output.empty() || args.empty() || (last > 0 && args.size() != 1)) {
    std::cerr << "usage: fathom average --output DIR CKPT... | --output DIR --last N RUN_DIR\n";
    return kExitUsage;
  }
  std::vector<std::string> inputs = args;
  if (last > 0) {
    auto dirs = decode::LastCheckpoints(args[0], last);
    if (!dirs.ok()) {
      FLOG(Error) << dirs.status().message();
      return kExitError;
    }
    inputs = *dirs;
  }
  const absl::Status status = decode::AverageCheckpoints(inputs, output);
  if (!status.ok()) {
    FLOG(Error) << status.message();
    return kExitError;
  }
  FLOG(Info) << "averaged " << inputs.size() << " checkpoints into " << output;
  return kExitOk;
}

}  // namespace

Subcommand AverageSubcommand() {
  return {"average",
          "element-wise average of checkpoints' model weights into a new run directory",
          "fathom average --output DIR CKPT... | --output DIR --last N RUN_DIR",
          {"output", "last"},
          RunAverage};
}

}  // namespace fathom::launch
