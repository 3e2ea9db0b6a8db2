#include "launch/common_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, config, "", "run config, protobuf text format (see configs/)");
