// Flags shared by several subcommands (Abseil flags are process-wide, so each is defined once).
#ifndef FATHOM_LAUNCH_COMMON_FLAGS_H_
#define FATHOM_LAUNCH_COMMON_FLAGS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "proto/config.pb.h"

ABSL_DECLARE_FLAG(std::string, config);
ABSL_DECLARE_FLAG(std::string, output);
ABSL_DECLARE_FLAG(std::string, on_bad_line);
ABSL_DECLARE_FLAG(std::string, tables);

namespace fathom::launch {

// The common start of subcommands that take a run config: no positional arguments, --config
// given, the file parsed, resolved and validated, and printed. Returns 0 with `config` filled,
// or the exit code to return (usage errors print to stderr, config errors name file and field).
int LoadConfigFromFlags(const std::string& command, const std::vector<std::string>& args,
                        proto::RunConfig* config);

// --on_bad_line of translate and score: true for skip, false for error; any other value prints
// the usage error and gives nullopt (exit 2).
std::optional<bool> SkipBadLinesFromFlag();

}  // namespace fathom::launch

#endif  // FATHOM_LAUNCH_COMMON_FLAGS_H_
