// One factory per subcommand; fathom_main.cc lists them.
#ifndef FATHOM_LAUNCH_SUBCOMMANDS_H_
#define FATHOM_LAUNCH_SUBCOMMANDS_H_

#include "launch/command_line.h"

namespace fathom::launch {

Subcommand PrepareSubcommand();
Subcommand TrainSubcommand();
Subcommand TranslateSubcommand();
Subcommand AverageSubcommand();
Subcommand ScoreSubcommand();
Subcommand SqlEvalSubcommand();
Subcommand SubmitSubcommand();

}  // namespace fathom::launch

#endif  // FATHOM_LAUNCH_SUBCOMMANDS_H_
