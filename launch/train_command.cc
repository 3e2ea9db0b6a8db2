// `fathom train --config FILE [--resume]`, one process per rank under mpirun or srun.
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/logging.h"
#include "comm/communicator_factory.h"
#include "launch/command_line.h"
#include "launch/common_flags.h"
#include "launch/subcommands.h"
#include "proto/config_io.h"
#include "trainer/trainer.h"

ABSL_FLAG(bool, resume, false, "continue from the newest valid checkpoint in run_dir (a fresh start if none)");

namespace fathom::launch {
namespace {

int RunTrain(const std::vector<std::string>& args) {
  proto::RunConfig loaded;
  if (const int code = LoadConfigFromFlags("train", args, &loaded); code != kExitOk) return code;
  const proto::RunConfig* config = &loaded;
  const std::string path = absl::GetFlag(FLAGS_config);
  auto comm = comm::CreateCommunicator(comm::Backend::kAuto, /*cuda=*/false);
  if (!comm.ok()) {
    FLOG(Error) << comm.status().message();
    return kExitError;
  }
  LogOptions log;
  log.rank = (*comm)->rank();
  SetLogOptions(log);
  if ((*comm)->rank() == 0) {
    if (!MakeDirs(config->run_dir()).ok() || !SetLogFile(absl::StrCat(config->run_dir(), "/train.log")).ok()) {
      FLOG(Error) << "cannot write to run_dir " << config->run_dir();
      return kExitError;
    }
  }
  FLOG(Info) << "resolved config (" << path << "):\n" << ConfigToText(*config);
  auto trainer = trainer::Trainer::Create(*config, comm->get(), absl::GetFlag(FLAGS_resume));
  if (!trainer.ok()) {
    FLOG(Error) << "rank " << (*comm)->rank() << ": " << trainer.status().message();
    return absl::IsInvalidArgument(trainer.status()) ? kExitUsage : kExitError;
  }
  auto summary = (*trainer)->Run();
  if (!summary.ok()) {
    FLOG(Error) << "rank " << (*comm)->rank() << ": " << summary.status().message();
    return kExitError;
  }
  return kExitOk;
}

}  // namespace

Subcommand TrainSubcommand() {
  return {"train",
          "train a model on prepared data (launch R ranks with mpirun -np R)",
          "[mpirun -np R] fathom train --config FILE [--resume]",
          {"config", "resume"},
          RunTrain};
}

}  // namespace fathom::launch
