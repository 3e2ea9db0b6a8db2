#include "launch/command_line.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>

#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/logging.h"

namespace fathom::launch {
namespace {

void PrintOverview() {
  std::cout << "fathom: trains very deep encoder-decoder Transformers across many ranks.\n\n"
               "usage: fathom SUBCOMMAND [flags]\n\nsubcommands:\n";
  for (const auto& command : Subcommands()) {
    std::printf("  %-10s %s\n", command.name.c_str(), command.summary.c_str());
  }
  std::cout << "  help       this list; `fathom SUBCOMMAND --help` for its flags\n";
}

void PrintHelp(const Subcommand& command) {
  std::cout << "usage: " << command.usage << "\n\n" << command.summary << "\n\nflags:\n";
  for (const auto& name : command.flags) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) continue;
    std::cout << "  --" << name << " (" << flag->Help() << ")\n      default: "
              << (flag->DefaultValue().empty() ? "\"\"" : flag->DefaultValue()) << "\n";
  }
}

// The flag name of "--name=value", "-name", "--noname" (booleans); empty for positionals.
std::string FlagName(absl::string_view arg) {
  if (!absl::StartsWith(arg, "-") || arg == "-") return "";
  arg.remove_prefix(absl::StartsWith(arg, "--") ? 2 : 1);
  const size_t eq = arg.find('=');
  if (eq != absl::string_view::npos) arg = arg.substr(0, eq);
  return std::string(arg);
}

// "--gpus-per-node=2" -> "--gpus_per_node=2": flags are declared with underscores, and the
// dashed spelling most CLIs (sbatch among them) use is accepted too. Values are left alone.
std::string WithUnderscores(absl::string_view arg) {
  std::string out(arg);
  if (!absl::StartsWith(arg, "--") || arg == "--") return out;
  const size_t end = std::min(out.find('='), out.size());
  for (size_t i = 2; i < end; ++i) {
    if (out[i] == '-') out[i] = '_';
  }
  return out;
}

bool Accepts(const Subcommand& command, const std::string& name) {
  for (const auto& flag : command.flags) {
    if (name == flag) return true;
    const absl::CommandLineFlag* f = absl::FindCommandLineFlag(flag);
    if (f != nullptr && f->IsOfType<bool>() && name == "no" + flag) return true;
  }
  return false;
}

}  // namespace

int RunCommandLine(int argc, char** argv) {
  if (argc < 2 || absl::string_view(argv[1]) == "help" || absl::string_view(argv[1]) == "--help" ||
      absl::string_view(argv[1]) == "-h") {
    if (argc >= 3) {
      for (const auto& command : Subcommands()) {
        if (command.name == argv[2]) {
          PrintHelp(command);
          return kExitOk;
        }
      }
    }
    PrintOverview();
    return argc < 2 ? kExitUsage : kExitOk;
  }
  const Subcommand* command = nullptr;
  for (const auto& candidate : Subcommands()) {
    if (candidate.name == argv[1]) command = &candidate;
  }
  if (command == nullptr) {
    std::cerr << "fathom: unknown subcommand '" << argv[1] << "' (see `fathom help`)\n";
    return kExitUsage;
  }
  // argv without the subcommand, for Abseil's parser; repeated repeatable flags merged.
  std::vector<std::string> merged_storage;
  merged_storage.reserve(argc);
  std::vector<char*> rest = {argv[0]};
  std::map<std::string, size_t> merged_at;  // flag -> index in merged_storage
  bool after_double_dash = false;
  std::vector<std::string> respelled;
  respelled.reserve(argc);  // rest points into it: no reallocation
  for (int i = 2; i < argc; ++i) {
    respelled.push_back(after_double_dash ? std::string(argv[i]) : WithUnderscores(argv[i]));
    const absl::string_view arg = respelled.back();
    if (!after_double_dash) {
      if (arg == "--") after_double_dash = true;
      if (arg == "--help" || arg == "-h" || arg == "--helpfull") {
        PrintHelp(*command);
        return kExitOk;
      }
      const std::string name = FlagName(arg);
      if (!name.empty() && !after_double_dash && !Accepts(*command, name)) {
        std::cerr << "fathom " << command->name << ": unknown flag --" << name << " (see `fathom "
                  << command->name << " --help`)\n";
        return kExitUsage;
      }
      if (!name.empty() && std::find(command->repeatable.begin(), command->repeatable.end(),
                                     name) != command->repeatable.end()) {
        std::string value;
        const size_t eq = arg.find('=');
        if (eq != absl::string_view::npos) {
          value = std::string(arg.substr(eq + 1));
        } else if (i + 1 < argc) {
          value = argv[++i];
        }
        auto it = merged_at.find(name);
        if (it == merged_at.end()) {
          merged_at[name] = merged_storage.size();
          merged_storage.push_back(absl::StrCat("--", name, "=", value));
        } else {
          absl::StrAppend(&merged_storage[it->second], ",", value);
        }
        continue;
      }
    }
    rest.push_back(respelled.back().data());
  }
  for (auto& flag : merged_storage) rest.push_back(flag.data());
  std::vector<char*> positional_raw =
      absl::ParseCommandLine(static_cast<int>(rest.size()), rest.data());
  std::vector<std::string> positional(positional_raw.begin() + 1, positional_raw.end());
  try {
    return command->run(positional);
  } catch (const std::exception& e) {
    // LibTorch reports failures (a CUDA out-of-memory, a device error) as exceptions. Say what
    // and where, then leave at once: unwinding would run destructors that wait for collectives
    // the other ranks will never join. The launcher sees the exit code and stops the others;
    // finished checkpoints were written atomically and stay valid.
    FLOG(Error) << "fathom " << command->name << ": " << e.what();
    std::fflush(stderr);
    std::_Exit(kExitError);
  }
}

}  // namespace fathom::launch
