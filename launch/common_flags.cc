#include "launch/common_flags.h"

#include <iostream>

#include "absl/flags/flag.h"
#include "base/logging.h"
#include "launch/command_line.h"
#include "proto/config_io.h"

ABSL_FLAG(std::string, config, "", "run config, protobuf text format (see configs/)");
ABSL_FLAG(
    std::string, output, "",
    "translate: where translations (or SQL) go (stdout when empty); average: the run directory to "
    "create");
ABSL_FLAG(std::string, on_bad_line, "error",
          "error: a line that cannot be used (not UTF-8; for score also a segment without "
          "reference; for translate's SQL a question that cannot be encoded) fails the job, "
          "naming file:line; skip: it counts as an empty line (translate writes an empty "
          "translation or SQL, score leaves such a segment out) and a warning counts such lines");
ABSL_FLAG(std::string, tables, "",
          "sql-eval: Spider tables.json, enables exact match, reported by hardness; translate: "
          "the schemas of --spider_json (tables.json) or --text2sql_json (schema CSV), by "
          "default the run's data.spider_tables or data.text2sql_schema");

namespace fathom::launch {

std::optional<bool> SkipBadLinesFromFlag() {
  const std::string value = absl::GetFlag(FLAGS_on_bad_line);
  if (value == "error" || value == "skip") return value == "skip";
  std::cerr << "--on_bad_line: must be error or skip (got \"" << value << "\")\n";
  return std::nullopt;
}

int LoadConfigFromFlags(const std::string& command, const std::vector<std::string>& args,
                        proto::RunConfig* config) {
  if (!args.empty()) {
    std::cerr << "fathom " << command << ": unexpected argument '" << args[0] << "'\n";
    return kExitUsage;
  }
  const std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty()) {
    std::cerr << "fathom " << command << ": --config FILE is required\n";
    return kExitUsage;
  }
  absl::StatusOr<proto::RunConfig> loaded = LoadRunConfig(path);
  if (!loaded.ok()) {
    FLOG(Error) << loaded.status().message();
    return kExitUsage;
  }
  *config = std::move(loaded).value();
  return kExitOk;
}

}  // namespace fathom::launch
