// Subcommand plumbing for the `fathom` binary: each subcommand declares the Abseil flags it
// accepts, so `fathom SUB --help` lists exactly those and a flag meant for another subcommand
// is a usage error rather than silently ignored.
#ifndef FATHOM_LAUNCH_COMMAND_LINE_H_
#define FATHOM_LAUNCH_COMMAND_LINE_H_

#include <functional>
#include <string>
#include <vector>

namespace fathom::launch {

// Exit codes shared by every subcommand, the submit script and the tests.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRequeue = 75;

struct Subcommand {
  std::string name;
  std::string summary;             // one line for `fathom help`
  std::string usage;               // synopsis for `fathom SUB --help`
  std::vector<std::string> flags;  // names of the Abseil flags it reads
  // Runs after flags are parsed; `args` are the positional arguments.
  std::function<int(const std::vector<std::string>& args)> run;
  // Flags that may be given several times (--ref A --ref B); their values reach the flag
  // comma-joined, since an Abseil flag keeps only its last value.
  std::vector<std::string> repeatable = {};
};

const std::vector<Subcommand>& Subcommands();

// Dispatches argv to a subcommand and returns the process exit code.
int RunCommandLine(int argc, char** argv);

}  // namespace fathom::launch

#endif  // FATHOM_LAUNCH_COMMAND_LINE_H_
