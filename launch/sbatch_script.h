// The SLURM batch script `fathom submit` writes: a pure function of the run config, the absolute
// paths the job needs and the resources asked for, so what a job will run can be tested, and
// printed with --dry-run, without a scheduler.
#ifndef FATHOM_LAUNCH_SBATCH_SCRIPT_H_
#define FATHOM_LAUNCH_SBATCH_SCRIPT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/config.pb.h"

namespace fathom::launch {

// What the job asks SLURM for. Zero or empty means "leave it to SLURM" unless said otherwise.
struct SbatchOptions {
  int nodes = 1;
  // GPUs per node (--gres=gpu:G); 0 is a CPU job.
  int gpus_per_node = 0;
  // Ranks per node; 0: one per GPU, or one per node for a CPU job (a CPU rank uses all the
  // threads it is given, so more ranks per node only add all-reduce traffic).
  int tasks_per_node = 0;
  // CPUs per rank; 0 leaves SLURM's default (often 1, which a CPU job rarely wants).
  int cpus_per_task = 0;
  // Time limit in any form sbatch takes ("90", "4:00:00", "1-12"); empty: the partition's.
  std::string time;
  std::string partition;
  std::string account;
  // Empty: "fathom-" and the run directory's last component.
  std::string job_name;
  // SIGUSR1 reaches every rank this many seconds before the time limit, so that it saves and
  // the job requeues itself instead of being killed. Must be under the time limit.
  int signal_seconds = 300;
};

// Absolute paths baked into the script, so a requeued job runs the same binary on the same
// config from the same directory whatever the submitting shell looked like.
struct SbatchPaths {
  std::string fathom_binary;
  std::string config_file;
  // The job's working directory: relative paths in the config are relative to it.
  std::string working_dir;
};

// Quotes `text` for a POSIX shell: one word, taken literally, whatever it holds (spaces, quotes,
// $, backticks, newlines, an empty string).
std::string ShellQuote(absl::string_view text);

// Seconds of a SLURM time limit ("MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM", "D-HH:MM:SS");
// nullopt for "UNLIMITED" / "INFINITE"; an error naming the value for anything else.
absl::StatusOr<std::optional<int64_t>> ParseSlurmTime(absl::string_view time);

// The run directory of `config` made absolute against `working_dir`.
std::string AbsoluteRunDir(const proto::RunConfig& config, const std::string& working_dir);
// Where the script is written: RUN/submit/job.sbatch.
std::string SbatchScriptPath(const std::string& absolute_run_dir);

// The batch script: #SBATCH resources, the warning signal, requeue and append-mode output into
// RUN/submit/slurm-JOBID.out, then `srun --mpi=pmix --kill-on-bad-exit=1 FATHOM train --config
// CONFIG --resume`, requeueing the job when the ranks stop with exit code 75. Refuses (with the
// option named) options SLURM would reject or misread: non-positive counts, more ranks than GPUs,
// a warning signal not before the time limit, newlines in #SBATCH values, '%' in the run
// directory (sbatch would read it as a file-name pattern).
absl::StatusOr<std::string> SbatchScript(const proto::RunConfig& config, const SbatchPaths& paths,
                                         const SbatchOptions& options);

// The job id in sbatch's reply "Submitted batch job 1234" (a cluster suffix " on cluster X" is
// allowed); an error quoting the reply otherwise.
absl::StatusOr<int64_t> ParseSubmittedJobId(absl::string_view sbatch_stdout);

}  // namespace fathom::launch

#endif  // FATHOM_LAUNCH_SBATCH_SCRIPT_H_
