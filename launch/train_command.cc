// `fathom train --config FILE [--resume]`, one process per rank under mpirun or srun.
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/logging.h"
#include "comm/comm_options.h"
#include "comm/communicator_factory.h"
#include "comm/device_selection.h"
#include "launch/command_line.h"
#include "launch/common_flags.h"
#include "launch/subcommands.h"
#include "models/seq2seq.h"
#include "proto/config_io.h"
#include "proto/config_validation.h"
#include "trainer/stop_signal.h"
#include "trainer/trainer.h"

ABSL_FLAG(bool, resume, false,
          "continue from the newest valid checkpoint in run_dir (a fresh start if none)");

namespace fathom::launch {
namespace {

// Fault injection for the tests of the NaN path (tests/train_failures_test.cc): with
// FATHOM_INJECT_NAN="STEP,RANK", one weight of rank RANK becomes NaN before update STEP, so that
// rank's loss is NaN while the others' is not. Returns an exit code: kExitOk, or kExitUsage for
// a malformed value.
int InstallNanInjection(int my_rank, trainer::Trainer* trainer) {
  const char* inject = std::getenv("FATHOM_INJECT_NAN");
  if (inject == nullptr || inject[0] == '\0') return kExitOk;
  int64_t step = 0;
  int rank = 0;
  if (std::sscanf(inject, "%ld,%d", &step, &rank) != 2) {
    FLOG(Error) << "FATHOM_INJECT_NAN='" << inject << "': expected STEP,RANK";
    return kExitUsage;
  }
  FLOG(Warning) << "FATHOM_INJECT_NAN: rank " << rank << " gets a NaN weight before step " << step;
  if (rank != my_rank) return kExitOk;
  trainer->set_before_step([step](int64_t next, models::Seq2SeqImpl& model) {
    if (next != step) return;
    torch::NoGradGuard no_grad;
    model.parameters().front().view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
  });
  return kExitOk;
}

int RunTrain(const std::vector<std::string>& args) {
  proto::RunConfig loaded;
  if (const int code = LoadConfigFromFlags("train", args, &loaded); code != kExitOk) return code;
  // Everything checkable is checked before MPI starts, data loads or an initialisation pass runs.
  if (const absl::Status status = ValidateTrainConfig(loaded); !status.ok()) {
    FLOG(Error) << absl::GetFlag(FLAGS_config) << ": " << status.message();
    return kExitUsage;
  }
  const proto::RunConfig* config = &loaded;
  // Declared before the communicator so that it outlives it: a SIGTERM while MPI shuts down
  // (srun ending the step) must not turn a clean exit 75 into death by signal.
  trainer::StopSignal keep_signal_handlers;
  const std::string path = absl::GetFlag(FLAGS_config);
  const comm::CommOptions comm_options = comm::CommOptions::FromProto(config->distributed());
  auto comm = comm::CreateCommunicator(comm_options.backend,
                                       comm_options.cuda(torch::cuda::is_available()));
  if (!comm.ok()) {
    FLOG(Error) << comm.status().message();
    return absl::IsInvalidArgument(comm.status()) ? kExitUsage : kExitError;
  }
  LogOptions log;
  log.rank = (*comm)->rank();
  SetLogOptions(log);
  if ((*comm)->rank() == 0) {
    if (!MakeDirs(config->run_dir()).ok() ||
        !SetLogFile(absl::StrCat(config->run_dir(), "/train.log")).ok()) {
      FLOG(Error) << "cannot write to run_dir " << config->run_dir();
      return kExitError;
    }
  }
  FLOG(Info) << "resolved config (" << path << "):\n" << ConfigToText(*config);
  // Each rank binds the GPU of its local rank (or the one GPU its launcher shows it).
  auto device =
      comm::SelectDevice(comm_options.device, (*comm)->local_rank(), (*comm)->local_size(),
                         static_cast<int>(torch::cuda::device_count()));
  if (!device.ok()) {
    FLOG(Error) << "rank " << (*comm)->rank() << ": " << device.status().message();
    return kExitUsage;
  }
  auto trainer =
      trainer::Trainer::Create(*config, comm->get(), absl::GetFlag(FLAGS_resume), *device);
  if (!trainer.ok()) {
    FLOG(Error) << "rank " << (*comm)->rank() << ": " << trainer.status().message();
    return absl::IsInvalidArgument(trainer.status()) ? kExitUsage : kExitError;
  }
  if (const int code = InstallNanInjection((*comm)->rank(), trainer->get()); code != kExitOk) {
    return code;
  }
  auto summary = (*trainer)->Run();
  if (!summary.ok()) {
    FLOG(Error) << "rank " << (*comm)->rank() << ": " << summary.status().message();
    return kExitError;
  }
  // The job script requeues on this code; the checkpoint to resume from is already saved.
  if (summary->stop_reason == trainer::StopReason::kSignal) return kExitRequeue;
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
