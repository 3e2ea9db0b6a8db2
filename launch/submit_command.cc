// `fathom submit --config FILE [resources] [--dry_run]`: writes RUN/submit/job.sbatch (see
// launch/sbatch_script.h) and hands it to sbatch.
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file_util.h"
#include "base/logging.h"
#include "launch/command_line.h"
#include "launch/common_flags.h"
#include "launch/sbatch_script.h"
#include "launch/subcommands.h"

extern char** environ;

ABSL_FLAG(int32_t, nodes, 1, "nodes to run on");
ABSL_FLAG(int32_t, gpus_per_node, 0, "GPUs per node (--gres=gpu:G); 0 makes a CPU job");
ABSL_FLAG(int32_t, tasks_per_node, 0,
          "ranks per node; 0 = one per GPU, or one per node for a CPU job (it uses all its CPUs)");
ABSL_FLAG(int32_t, cpus_per_task, 0,
          "CPUs per rank; 0 leaves SLURM's default (often 1: set it for CPU jobs)");
ABSL_FLAG(std::string, time, "",
          "time limit, as sbatch takes it (90, 4:00:00, 1-12); empty: the partition's");
ABSL_FLAG(std::string, partition, "", "SLURM partition; empty: the cluster's default");
ABSL_FLAG(std::string, account, "", "SLURM account to charge; empty: your default");
ABSL_FLAG(std::string, job_name, "", "job name; empty: fathom-<last part of run_dir>");
ABSL_FLAG(int32_t, signal_seconds, 300,
          "SIGUSR1 reaches every rank this many seconds before the time limit: they save, exit 75, "
          "and the job requeues itself");
ABSL_FLAG(bool, dry_run, false,
          "print the script and the sbatch command; write and submit nothing");
ABSL_FLAG(std::string, sbatch, "sbatch",
          "the sbatch program (looked up on PATH unless it holds a '/')");

namespace fathom::launch {
namespace {

struct ProcessResult {
  int exit_code = -1;  // 128 + N when killed by signal N
  std::string out;
  std::string err;
};

// `program` with `args` (no shell, so nothing is re-parsed), its stdout and stderr collected.
absl::StatusOr<ProcessResult> RunProcess(const std::string& program,
                                         const std::vector<std::string>& args) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  std::vector<char*> argv = {const_cast<char*>(program.c_str())};
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (spawned != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return absl::InternalError(absl::StrCat("cannot run ", program, ": ", std::strerror(spawned)));
  }
  ProcessResult result;
  // Both pipes drained together, so a child filling one while we block on the other cannot hang.
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buffer[4096];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// `name` itself when it holds a '/', else the first executable `name` on PATH.
absl::StatusOr<std::string> FindProgram(const std::string& name) {
  auto executable = [](const std::string& path) {
    return ::access(path.c_str(), X_OK) == 0 && !std::filesystem::is_directory(path);
  };
  if (name.find('/') != std::string::npos) {
    if (executable(name)) return name;
    return absl::NotFoundError(absl::StrCat("--sbatch ", name, ": no such executable"));
  }
  const char* path_env = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path_env == nullptr ? "" : path_env, ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/", name);
    if (executable(candidate)) return candidate;
  }
  return absl::NotFoundError(absl::StrCat(name, " not found on PATH (",
                                          path_env == nullptr ? "" : path_env,
                                          "): submit from a machine with the SLURM client "
                                          "commands, or name the program with --sbatch"));
}

SbatchOptions OptionsFromFlags() {
  SbatchOptions options;
  options.nodes = absl::GetFlag(FLAGS_nodes);
  options.gpus_per_node = absl::GetFlag(FLAGS_gpus_per_node);
  options.tasks_per_node = absl::GetFlag(FLAGS_tasks_per_node);
  options.cpus_per_task = absl::GetFlag(FLAGS_cpus_per_task);
  options.time = absl::GetFlag(FLAGS_time);
  options.partition = absl::GetFlag(FLAGS_partition);
  options.account = absl::GetFlag(FLAGS_account);
  options.job_name = absl::GetFlag(FLAGS_job_name);
  options.signal_seconds = absl::GetFlag(FLAGS_signal_seconds);
  return options;
}

int RunSubmit(const std::vector<std::string>& args) {
  proto::RunConfig config;
  if (const int code = LoadConfigFromFlags("submit", args, &config); code != kExitOk) return code;
  std::error_code error;
  SbatchPaths paths;
  paths.working_dir = std::filesystem::current_path(error).string();
  paths.config_file = (std::filesystem::path(paths.working_dir) / absl::GetFlag(FLAGS_config))
                          .lexically_normal()
                          .string();
  paths.fathom_binary = std::filesystem::read_symlink("/proc/self/exe", error).string();
  if (error) {
    FLOG(Error) << "fathom submit: cannot find the working directory or this binary: "
                << error.message();
    return kExitError;
  }
  absl::StatusOr<std::string> script = SbatchScript(config, paths, OptionsFromFlags());
  if (!script.ok()) {
    std::cerr << "fathom submit: " << script.status().message() << "\n";
    return kExitUsage;
  }
  const std::string run_dir = AbsoluteRunDir(config, paths.working_dir);
  const std::string script_path = SbatchScriptPath(run_dir);
  const std::string prepared =
      (std::filesystem::path(paths.working_dir) / config.data().prepared_dir())
          .lexically_normal()
          .string();
  const bool dry_run = absl::GetFlag(FLAGS_dry_run);
  // Found now rather than after the job has waited in the queue.
  if (!PathExists(prepared)) {
    const std::string message = absl::StrCat("data.prepared_dir ", prepared,
                                             " does not exist: run `fathom prepare --config ",
                                             absl::GetFlag(FLAGS_config), "` first");
    if (!dry_run) {
      FLOG(Error) << "fathom submit: " << message;
      return kExitError;
    }
    FLOG(Warning) << "fathom submit: " << message;
  }
  if (dry_run) {
    std::cout << *script
              << "\n# fathom submit --dry_run: nothing written or submitted; it would write "
              << ShellQuote(script_path) << " and run:\n"
              << ShellQuote(absl::GetFlag(FLAGS_sbatch)) << " " << ShellQuote(script_path) << "\n";
    return kExitOk;
  }
  absl::StatusOr<std::string> sbatch = FindProgram(absl::GetFlag(FLAGS_sbatch));
  if (!sbatch.ok()) {
    FLOG(Error) << "fathom submit: " << sbatch.status().message();
    return kExitError;
  }
  if (absl::Status made = MakeDirs(absl::StrCat(run_dir, "/submit")); !made.ok()) {
    FLOG(Error) << "fathom submit: " << made.message();
    return kExitError;
  }
  if (absl::Status written = WriteFileAtomic(script_path, *script); !written.ok()) {
    FLOG(Error) << "fathom submit: " << written.message();
    return kExitError;
  }
  absl::StatusOr<ProcessResult> submitted = RunProcess(*sbatch, {script_path});
  if (!submitted.ok()) {
    FLOG(Error) << "fathom submit: " << submitted.status().message();
    return kExitError;
  }
  const absl::string_view err = absl::StripAsciiWhitespace(submitted->err);
  if (submitted->exit_code != 0) {
    FLOG(Error) << "fathom submit: " << *sbatch << " " << script_path << " failed (exit code "
                << submitted->exit_code
                << "): " << (err.empty() ? absl::string_view(submitted->out) : err);
    return kExitError;
  }
  if (!err.empty()) FLOG(Warning) << "sbatch: " << err;
  absl::StatusOr<int64_t> job = ParseSubmittedJobId(submitted->out);
  if (!job.ok()) {
    FLOG(Error) << "fathom submit: " << job.status().message();
    return kExitError;
  }
  std::cout << "submitted job " << *job << "\n"
            << "  script: " << script_path << "\n"
            << "  log:    " << run_dir << "/submit/slurm-" << *job << ".out\n"
            << "  run:    " << run_dir << "\n";
  return kExitOk;
}

}  // namespace

Subcommand SubmitSubcommand() {
  return {
      "submit",
      "write a SLURM batch script for a training run (srun, requeue on preemption) and sbatch it",
      "fathom submit --config FILE [--nodes N] [--gpus_per_node G] [--tasks_per_node T] "
      "[--cpus_per_task C] [--time T] [--partition P] [--account A] [--job_name J] "
      "[--signal_seconds S] [--dry_run] [--sbatch PATH]",
      {"config", "nodes", "gpus_per_node", "tasks_per_node", "cpus_per_task", "time", "partition",
       "account", "job_name", "signal_seconds", "dry_run", "sbatch"},
      RunSubmit};
}

}  // namespace fathom::launch
