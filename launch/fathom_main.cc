// The `fathom` binary: picks a subcommand and hands it the flags; all logic is in libraries.
#include "launch/command_line.h"
#include "launch/subcommands.h"

namespace fathom::launch {

const std::vector<Subcommand>& Subcommands() {
  static const auto* commands = new std::vector<Subcommand>{
      PrepareSubcommand(), TrainSubcommand(),   TranslateSubcommand(), AverageSubcommand(),
      ScoreSubcommand(),   SqlEvalSubcommand(), SubmitSubcommand(),
  };
  return *commands;
}

}  // namespace fathom::launch

int main(int argc, char** argv) { return fathom::launch::RunCommandLine(argc, argv); }
