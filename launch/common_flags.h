// Flags shared by several subcommands (Abseil flags are process-wide, so each is defined once).
#ifndef FATHOM_LAUNCH_COMMON_FLAGS_H_
#define FATHOM_LAUNCH_COMMON_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"

ABSL_DECLARE_FLAG(std::string, config);

#endif  // FATHOM_LAUNCH_COMMON_FLAGS_H_
