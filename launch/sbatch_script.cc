#include "launch/sbatch_script.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "launch/command_line.h"

namespace fathom::launch {
namespace {

bool IsShellSafe(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
         c == '/' || c == ':' || c == ',' || c == '+' || c == '=' || c == '@' || c == '%';
}

// A value on an #SBATCH line. sbatch splits those lines itself (not the shell): double quotes
// group, a backslash escapes the next character, and an unquoted '#' starts a comment. A newline
// ends the line whatever the quoting, so it cannot be written at all.
absl::StatusOr<std::string> DirectiveValue(absl::string_view option, absl::string_view value) {
  if (absl::StrContains(value, '\n') || absl::StrContains(value, '\r')) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", option, ": a line break cannot go into an #SBATCH line (got \"",
                     absl::CEscape(value), "\")"));
  }
  std::string quoted = "\"";
  for (const char c : value) {
    if (c == '"' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return quoted;
}

absl::StatusOr<int64_t> TimeField(absl::string_view field, absl::string_view time) {
  int64_t value = 0;
  if (field.empty() || field.size() > 9 || !absl::SimpleAtoi(field, &value) || value < 0 ||
      !std::all_of(field.begin(), field.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--time: \"", time,
        "\" is not a SLURM time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)"));
  }
  return value;
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) absl::StrAppend(&out, line, "\n");
  return out;
}

}  // namespace

std::string ShellQuote(absl::string_view text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), IsShellSafe)) return std::string(text);
  // Inside single quotes nothing is special but the closing quote: end the quoted part, add an
  // escaped quote, reopen.
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted.push_back(c);
    }
  }
  quoted.push_back('\'');
  return quoted;
}

absl::StatusOr<std::optional<int64_t>> ParseSlurmTime(absl::string_view time) {
  const std::string upper = absl::AsciiStrToUpper(time);
  if (upper == "UNLIMITED" || upper == "INFINITE") return std::optional<int64_t>();
  int64_t days = 0;
  absl::string_view rest = time;
  const size_t dash = time.find('-');
  if (dash != absl::string_view::npos) {
    auto parsed = TimeField(time.substr(0, dash), time);
    if (!parsed.ok()) return parsed.status();
    days = *parsed;
    rest = time.substr(dash + 1);
  }
  std::vector<int64_t> fields;
  for (absl::string_view field : absl::StrSplit(rest, ':')) {
    auto parsed = TimeField(field, time);
    if (!parsed.ok()) return parsed.status();
    fields.push_back(*parsed);
  }
  int64_t seconds = 0;
  if (dash != absl::string_view::npos) {
    // D-HH, D-HH:MM, D-HH:MM:SS
    if (fields.size() > 3) return TimeField("", time).status();
    const int64_t scale[] = {3600, 60, 1};
    for (size_t i = 0; i < fields.size(); ++i) seconds += fields[i] * scale[i];
    seconds += days * 86400;
  } else if (fields.size() == 1) {
    seconds = fields[0] * 60;
  } else if (fields.size() == 2) {
    seconds = fields[0] * 60 + fields[1];
  } else if (fields.size() == 3) {
    seconds = fields[0] * 3600 + fields[1] * 60 + fields[2];
  } else {
    return TimeField("", time).status();
  }
  // sbatch reads a limit of 0 as "no limit".
  if (seconds == 0) return std::optional<int64_t>();
  return std::optional<int64_t>(seconds);
}

std::string AbsoluteRunDir(const proto::RunConfig& config, const std::string& working_dir) {
  std::string path =
      (std::filesystem::path(working_dir) / config.run_dir()).lexically_normal().string();
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string SbatchScriptPath(const std::string& absolute_run_dir) {
  return absl::StrCat(absolute_run_dir, "/submit/job.sbatch");
}

namespace {

// Ranks per node after the defaults, or the option that SLURM would reject or misread.
absl::StatusOr<int> CheckOptions(const SbatchOptions& options) {
  if (options.nodes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--nodes: must be >= 1 (got ", options.nodes, ")"));
  }
  if (options.gpus_per_node < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--gpus_per_node: must be >= 0 (got ", options.gpus_per_node, ")"));
  }
  if (options.tasks_per_node < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tasks_per_node: must be >= 0 (got ", options.tasks_per_node, ")"));
  }
  if (options.cpus_per_task < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--cpus_per_task: must be >= 0 (got ", options.cpus_per_task, ")"));
  }
  const int tasks_per_node =
      options.tasks_per_node > 0 ? options.tasks_per_node : std::max(options.gpus_per_node, 1);
  if (options.gpus_per_node > 0 && tasks_per_node > options.gpus_per_node) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tasks_per_node: ", tasks_per_node, " ranks per node would share ",
                     options.gpus_per_node, " GPUs (one rank per GPU)"));
  }
  // SLURM keeps the signal time in 16 bits.
  if (options.signal_seconds < 1 || options.signal_seconds > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--signal_seconds: must be in [1, 65535] (got ", options.signal_seconds, ")"));
  }
  if (!options.time.empty()) {
    auto limit = ParseSlurmTime(options.time);
    if (!limit.ok()) return limit.status();
    if (limit->has_value() && options.signal_seconds >= **limit) {
      return absl::InvalidArgumentError(
          absl::StrCat("--signal_seconds: the warning ", options.signal_seconds,
                       " s before the limit would come at the start of a job of --time ",
                       options.time, " (", **limit, " s); lower it"));
    }
  }
  return tasks_per_node;
}

absl::Status CheckPaths(const SbatchPaths& paths, const std::string& run_dir) {
  for (const auto& [what, path] :
       {std::pair<std::string, std::string>{"fathom binary", paths.fathom_binary},
        {"config", paths.config_file},
        {"working directory", paths.working_dir}}) {
    if (!absl::StartsWith(path, "/")) {
      return absl::InvalidArgumentError(
          absl::StrCat("the ", what, " path must be absolute (got \"", path, "\")"));
    }
  }
  if (absl::StrContains(run_dir, '\n') || absl::StrContains(run_dir, '\r')) {
    return absl::InvalidArgumentError(
        absl::StrCat("run_dir \"", absl::CEscape(run_dir),
                     "\": a line break cannot go into the #SBATCH --output line"));
  }
  if (absl::StrContains(run_dir, '%')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "run_dir \"", run_dir, "\": sbatch would read its '%' as a file-name pattern in --output"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Directives(const SbatchOptions& options,
                                                    int tasks_per_node, const std::string& run_dir,
                                                    const std::string& working_dir) {
  std::vector<std::string> lines;
  absl::Status status;
  auto add_quoted = [&](absl::string_view option, absl::string_view value) {
    if (!status.ok()) return;
    auto quoted = DirectiveValue(option, value);
    status = quoted.status();
    if (quoted.ok()) lines.push_back(absl::StrCat("#SBATCH --", option, "=", *quoted));
  };
  add_quoted("job-name",
             options.job_name.empty()
                 ? absl::StrCat("fathom-", std::filesystem::path(run_dir).filename().string())
                 : options.job_name);
  lines.push_back(absl::StrCat("#SBATCH --nodes=", options.nodes));
  lines.push_back(absl::StrCat("#SBATCH --ntasks-per-node=", tasks_per_node));
  if (options.cpus_per_task > 0) {
    lines.push_back(absl::StrCat("#SBATCH --cpus-per-task=", options.cpus_per_task));
  }
  if (options.gpus_per_node > 0) {
    lines.push_back(absl::StrCat("#SBATCH --gres=gpu:", options.gpus_per_node));
  }
  if (!options.time.empty()) add_quoted("time", options.time);
  if (!options.partition.empty()) add_quoted("partition", options.partition);
  if (!options.account.empty()) add_quoted("account", options.account);
  // No "B:" prefix: the signal goes to every rank, not to this script.
  lines.push_back(absl::StrCat("#SBATCH --signal=USR1@", options.signal_seconds));
  lines.push_back("#SBATCH --requeue");
  // Every start of a requeued job appends to the same log instead of truncating it.
  lines.push_back("#SBATCH --open-mode=append");
  add_quoted("output", absl::StrCat(run_dir, "/submit/slurm-%j.out"));
  add_quoted("chdir", working_dir);
  if (!status.ok()) return status;
  return lines;
}

// After the directives: srun of every rank, then requeue on exit code 75.
std::vector<std::string> Body(const SbatchPaths& paths, const std::string& run_dir) {
  const std::string requeue = absl::StrCat(kExitRequeue);
  return {
      "",
      "set -u",
      "echo \"fathom submit: job ${SLURM_JOB_ID}, start $(( ${SLURM_RESTART_COUNT:-0} + 1 )), on "
      "${SLURM_JOB_NODELIST}, at $(date '+%F %T')\"",
      "",
      absl::StrCat("# A rank that saved after a stop signal exits ", requeue,
                   ". srun --kill-on-bad-exit would count that as a"),
      "# failure and kill the ranks still on their way out (srun would then report their signal),",
      absl::StrCat("# so each rank's shell turns ", requeue,
                   " into 0 and leaves a mark in the run directory. That shell"),
      "# outlives the signals (trap), which reach fathom itself.",
      absl::StrCat(
          "export FATHOM_REQUEUE_MARK=", ShellQuote(absl::StrCat(run_dir, "/submit/requeue.")),
          "\"${SLURM_JOB_ID}.${SLURM_RESTART_COUNT:-0}\""),
      absl::StrCat(
          "srun --mpi=pmix --kill-on-bad-exit=1 /bin/bash -c 'trap : USR1 TERM; \"$@\"; "
          "rc=$?; if [ \"$rc\" -eq ",
          requeue,
          " ]; then : > \"$FATHOM_REQUEUE_MARK\"; exit 0; fi; exit \"$rc\"' fathom-rank \\"),
      absl::StrCat("  ", ShellQuote(paths.fathom_binary), " train --config ",
                   ShellQuote(paths.config_file), " --resume"),
      "rc=$?",
      absl::StrCat("if [ \"$rc\" -eq ", requeue,
                   " ] || { [ \"$rc\" -eq 0 ] && [ -e \"$FATHOM_REQUEUE_MARK\" ]; }; then"),
      "  rm -f \"$FATHOM_REQUEUE_MARK\"",
      "  echo \"fathom submit: stopped by a signal after saving; requeueing job ${SLURM_JOB_ID}\"",
      absl::StrCat("  scontrol requeue \"${SLURM_JOB_ID}\" || exit ", requeue),
      "  exit 0",
      "fi",
      "echo \"fathom submit: training exited with code ${rc}\"",
      "exit \"$rc\"",
  };
}

}  // namespace

absl::StatusOr<std::string> SbatchScript(const proto::RunConfig& config, const SbatchPaths& paths,
                                         const SbatchOptions& options) {
  absl::StatusOr<int> tasks_per_node = CheckOptions(options);
  if (!tasks_per_node.ok()) return tasks_per_node.status();
  const std::string run_dir = AbsoluteRunDir(config, paths.working_dir);
  if (absl::Status checked = CheckPaths(paths, run_dir); !checked.ok()) return checked;
  absl::StatusOr<std::vector<std::string>> directives =
      Directives(options, *tasks_per_node, run_dir, paths.working_dir);
  if (!directives.ok()) return directives.status();

  std::vector<std::string> script = {
      "#!/bin/bash",
      // run_dir has no line break (CheckPaths), so this comment stays one line.
      absl::StrCat("# Written by `fathom submit`. Submit it again with: sbatch ",
                   ShellQuote(SbatchScriptPath(run_dir))),
      "#",
      "# Every rank runs `fathom train --resume`: the first start begins afresh, a requeued one",
      "# continues from the newest checkpoint. SIGUSR1 before the time limit (or SIGTERM on",
      absl::StrCat("# preemption) makes the ranks save and exit ", kExitRequeue,
                   "; the job then requeues itself."),
  };
  script.insert(script.end(), directives->begin(), directives->end());
  const std::vector<std::string> body = Body(paths, run_dir);
  script.insert(script.end(), body.begin(), body.end());
  return JoinLines(script);
}

absl::StatusOr<int64_t> ParseSubmittedJobId(absl::string_view sbatch_stdout) {
  absl::string_view text = absl::StripAsciiWhitespace(sbatch_stdout);
  int64_t id = 0;
  if (absl::ConsumePrefix(&text, "Submitted batch job ")) {
    const size_t end = text.find_first_not_of("0123456789");
    const absl::string_view digits = text.substr(0, end);
    const absl::string_view rest = end == absl::string_view::npos ? "" : text.substr(end);
    if (!digits.empty() && absl::SimpleAtoi(digits, &id) && id > 0 &&
        (rest.empty() || absl::StartsWith(rest, " on cluster "))) {
      return id;
    }
  }
  return absl::InternalError(
      absl::StrCat("sbatch's reply has no job id: \"", absl::CEscape(sbatch_stdout), "\""));
}

}  // namespace fathom::launch
