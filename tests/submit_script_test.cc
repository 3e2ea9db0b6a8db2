// `fathom submit` without a scheduler: shell quoting checked against a real shell, SLURM time
// limits, the batch script's contents, the options it refuses, sbatch's reply, and the command's
// errors. tests/slurm/submit_test.sh submits to a real SLURM.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "launch/sbatch_script.h"
#include "proto/config_io.h"
#include "tests/test_util.h"

namespace fathom::launch {
namespace {

using ::testing::HasSubstr;
using Result = testing::CommandResult;
using ::testing::Not;
using testing::RunFathom;
using testing::RunShell;

const std::vector<std::string>& NastyStrings() {
  static const auto* strings = new std::vector<std::string>{
      "",         "plain",     "with space",  "two  spaces", "it's",
      "'",        "''",        "\"double\"",  "$HOME",       "${HOME}",
      "`id`",     "$(id)",     "line\nbreak", "trailing\n",  "back\\slash",
      "\\'",      "*?[a]",     "~root",       "a;b&c|d>e<f", "-n",
      "#comment", "tab\there", "!bang",       "%j",          "caf\xC3\xA9"};
  return *strings;
}

TEST(ShellQuoteTest, AShellReadsBackExactlyTheQuotedString) {
  for (const std::string& text : NastyStrings()) {
    // printf keeps trailing newlines that $(...) would strip; the marker shows where it ends.
    const Result echoed = RunShell(
        absl::StrCat("/bin/sh -c ", ShellQuote(absl::StrCat("printf '%s|' ", ShellQuote(text)))));
    EXPECT_EQ(echoed.exit_code, 0) << ShellQuote(text);
    EXPECT_EQ(echoed.output, text + "|") << "quoted as " << ShellQuote(text);
  }
}

TEST(ShellQuoteTest, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(ShellQuote("/abs/path/fathom"), "/abs/path/fathom");
  EXPECT_EQ(ShellQuote("--config=a.pbtxt"), "--config=a.pbtxt");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
}

TEST(ParseSlurmTimeTest, EveryFormSbatchTakes) {
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"90", 5400},      {"10:30", 630},         {"4:00:00", 14400}, {"1-12", 129600},
      {"1-0:30", 88200}, {"2-01:02:03", 176523}, {"00:00:01", 1}};
  for (const auto& [text, seconds] : cases) {
    auto parsed = ParseSlurmTime(text);
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.status();
    ASSERT_TRUE(parsed->has_value()) << text;
    EXPECT_EQ(**parsed, seconds) << text;
  }
  for (const std::string no_limit : {"UNLIMITED", "infinite", "0"}) {
    auto parsed = ParseSlurmTime(no_limit);
    ASSERT_TRUE(parsed.ok()) << no_limit;
    EXPECT_FALSE(parsed->has_value()) << no_limit;
  }
  for (const std::string bad :
       {"", "abc", "1h", "1.5", "-5", "1:2:3:4", "1-2:3:4:5", "1-", ":30", "+5"}) {
    auto parsed = ParseSlurmTime(bad);
    EXPECT_FALSE(parsed.ok()) << "\"" << bad << "\" was accepted";
    if (!parsed.ok()) EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("--time"));
  }
}

proto::RunConfig Config(const std::string& run_dir) {
  proto::RunConfig config;
  config.set_run_dir(run_dir);
  ResolveDefaults(&config);
  return config;
}

SbatchPaths Paths() {
  SbatchPaths paths;
  paths.fathom_binary = "/opt/fathom/bin/fathom";
  paths.config_file = "/home/me/configs/big.pbtxt";
  paths.working_dir = "/home/me/work";
  return paths;
}

std::vector<std::string> Lines(const std::string& text) { return absl::StrSplit(text, '\n'); }

TEST(SbatchScriptTest, GpuJobAsksForEverythingAndRequeuesOnSeventyFive) {
  SbatchOptions options;
  options.nodes = 2;
  options.gpus_per_node = 4;
  options.cpus_per_task = 8;
  options.time = "4:00:00";
  options.partition = "gpu";
  options.account = "proj";
  auto script = SbatchScript(Config("runs/big"), Paths(), options);
  ASSERT_TRUE(script.ok()) << script.status();
  const std::vector<std::string> lines = Lines(*script);
  EXPECT_EQ(lines[0], "#!/bin/bash");
  for (const std::string expected :
       {"#SBATCH --job-name=\"fathom-big\"", "#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=4",
        "#SBATCH --cpus-per-task=8", "#SBATCH --gres=gpu:4", "#SBATCH --time=\"4:00:00\"",
        "#SBATCH --partition=\"gpu\"", "#SBATCH --account=\"proj\"", "#SBATCH --signal=USR1@300",
        "#SBATCH --requeue", "#SBATCH --open-mode=append",
        "#SBATCH --output=\"/home/me/work/runs/big/submit/slurm-%j.out\"",
        "#SBATCH --chdir=\"/home/me/work\"",
        "  /opt/fathom/bin/fathom train --config /home/me/configs/big.pbtxt --resume",
        "  scontrol requeue \"${SLURM_JOB_ID}\" || exit 75"}) {
    EXPECT_THAT(lines, ::testing::Contains(expected)) << *script;
  }
  EXPECT_THAT(*script, HasSubstr("srun --mpi=pmix --kill-on-bad-exit=1 "));
  EXPECT_THAT(*script, HasSubstr("if [ \"$rc\" -eq 75 ] ||"));
  // sbatch reads #SBATCH lines only up to the first command.
  size_t last_directive = 0, first_command = lines.size();
  for (size_t i = 1; i < lines.size(); ++i) {
    if (absl::StartsWith(lines[i], "#SBATCH")) last_directive = i;
    if (!lines[i].empty() && lines[i][0] != '#' && first_command == lines.size()) first_command = i;
  }
  EXPECT_LT(last_directive, first_command);
  // bash parses it.
  testing::TempDir dir;
  testing::WriteTextFile(dir.File("job.sbatch"), *script);
  const Result syntax = RunShell(absl::StrCat("bash -n ", dir.File("job.sbatch")));
  EXPECT_EQ(syntax.exit_code, 0) << syntax.output;
}

TEST(SbatchScriptTest, CpuJobDefaultsToOneRankPerNodeAndLeavesTheRestToSlurm) {
  auto script = SbatchScript(Config("/abs/run/"), Paths(), SbatchOptions());
  ASSERT_TRUE(script.ok()) << script.status();
  EXPECT_THAT(*script, HasSubstr("#SBATCH --nodes=1\n#SBATCH --ntasks-per-node=1\n"));
  EXPECT_THAT(*script, HasSubstr("#SBATCH --job-name=\"fathom-run\"\n"));
  EXPECT_THAT(*script, HasSubstr("#SBATCH --output=\"/abs/run/submit/slurm-%j.out\"\n"));
  for (const std::string absent :
       {"--gres", "--time", "--partition", "--account", "--cpus-per-task"}) {
    EXPECT_THAT(*script, Not(HasSubstr(absent)));
  }
  EXPECT_EQ(SbatchScriptPath(AbsoluteRunDir(Config("runs/x/../y"), "/w")),
            "/w/runs/y/submit/job.sbatch");
}

TEST(SbatchScriptTest, NastyPathsAndNamesStayOneWordEach) {
  SbatchPaths paths;
  paths.fathom_binary = "/opt/it's here/fathom";
  paths.config_file = "/cfg/$HOME `id` \"q\"\nnext.pbtxt";
  paths.working_dir = "/work dir/with 'quote' and \"double\" #hash";
  SbatchOptions options;
  options.job_name = "a \"b\" \\c #d";
  options.account = "acc'ount";
  auto script = SbatchScript(Config("run $x"), paths, options);
  ASSERT_TRUE(script.ok()) << script.status();
  // sbatch's own splitting: double quotes group, backslash escapes, '#' inside quotes is kept.
  EXPECT_THAT(*script, HasSubstr("#SBATCH --job-name=\"a \\\"b\\\" \\\\c #d\"\n"));
  EXPECT_THAT(*script, HasSubstr("#SBATCH --account=\"acc'ount\"\n"));
  EXPECT_THAT(*script,
              HasSubstr("#SBATCH --chdir=\"/work dir/with 'quote' and \\\"double\\\" #hash\"\n"));
  // The shell sees each path as one word: run the srun line with srun replaced by a printer.
  std::string srun_command;
  const std::vector<std::string> lines = Lines(*script);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (absl::StartsWith(lines[i], "srun "))
      srun_command = absl::StrCat(lines[i], "\n", lines[i + 1], "\n", lines[i + 2]);
  }
  ASSERT_FALSE(srun_command.empty()) << *script;
  testing::TempDir dir;
  testing::WriteTextFile(dir.File("words.sh"),
                         absl::StrCat("srun() { printf '<%s>' \"$@\"; }\n", srun_command, "\n"));
  const Result words = RunShell(absl::StrCat("bash ", dir.File("words.sh")));
  EXPECT_THAT(words.output,
              HasSubstr(absl::StrCat("<fathom-rank><", paths.fathom_binary, "><train><--config><",
                                     paths.config_file, "><--resume>")));
}

TEST(SbatchScriptTest, RefusesWhatSlurmWouldRejectOrMisread) {
  struct Case {
    std::string what;
    std::function<void(SbatchOptions&, SbatchPaths&, proto::RunConfig&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"no nodes", [](auto& o, auto&, auto&) { o.nodes = 0; }, "--nodes: must be >= 1 (got 0)"},
      {"negative GPUs", [](auto& o, auto&, auto&) { o.gpus_per_node = -1; }, "--gpus_per_node"},
      {"negative ranks", [](auto& o, auto&, auto&) { o.tasks_per_node = -2; }, "--tasks_per_node"},
      {"negative CPUs", [](auto& o, auto&, auto&) { o.cpus_per_task = -1; }, "--cpus_per_task"},
      {"ranks share GPUs",
       [](auto& o, auto&, auto&) {
         o.gpus_per_node = 2;
         o.tasks_per_node = 4;
       },
       "4 ranks per node would share 2 GPUs"},
      {"no warning time", [](auto& o, auto&, auto&) { o.signal_seconds = 0; },
       "--signal_seconds: must be in"},
      {"warning time over 16 bits", [](auto& o, auto&, auto&) { o.signal_seconds = 70000; },
       "[1, 65535]"},
      {"warning at the start", [](auto& o, auto&, auto&) { o.time = "5"; }, "--time 5 (300 s)"},
      {"bad time", [](auto& o, auto&, auto&) { o.time = "2h"; },
       "\"2h\" is not a SLURM time limit"},
      {"line break in a name", [](auto& o, auto&, auto&) { o.job_name = "a\nb"; },
       "--job-name: a line break"},
      {"line break in a partition", [](auto& o, auto&, auto&) { o.partition = "p\r"; },
       "--partition"},
      {"line break in the run dir", [](auto&, auto&, auto& c) { c.set_run_dir("a\nb"); },
       "--output"},
      {"% in the run dir", [](auto&, auto&, auto& c) { c.set_run_dir("run%j"); },
       "'%' as a file-name pattern"},
      {"relative binary", [](auto&, auto& p, auto&) { p.fathom_binary = "build/fathom"; },
       "must be absolute"},
      {"relative config", [](auto&, auto& p, auto&) { p.config_file = "c.pbtxt"; },
       "config path must be absolute"},
  };
  for (const Case& c : cases) {
    SbatchOptions options;
    SbatchPaths paths = Paths();
    proto::RunConfig config = Config("runs/x");
    c.change(options, paths, config);
    auto script = SbatchScript(config, paths, options);
    ASSERT_FALSE(script.ok()) << c.what << " was accepted";
    EXPECT_THAT(std::string(script.status().message()), HasSubstr(c.message)) << c.what;
  }
  // Unlimited time: any warning time will do.
  SbatchOptions unlimited;
  unlimited.time = "UNLIMITED";
  EXPECT_TRUE(SbatchScript(Config("runs/x"), Paths(), unlimited).ok());
}

TEST(ParseSubmittedJobIdTest, ReadsSbatchReply) {
  EXPECT_EQ(*ParseSubmittedJobId("Submitted batch job 42\n"), 42);
  EXPECT_EQ(*ParseSubmittedJobId("Submitted batch job 7 on cluster c1\n"), 7);
  for (const std::string bad : {"", "Submitted batch job\n", "Submitted batch job x",
                                "Submitted batch job 42abc", "sbatch: error: invalid partition"}) {
    auto id = ParseSubmittedJobId(bad);
    EXPECT_FALSE(id.ok()) << bad;
  }
}

class SubmitCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.File("prepared"));
    testing::WriteTextFile(dir_.File("run.pbtxt"), absl::StrCat("run_dir: \"", dir_.File("run"),
                                                                "\"\ndata { prepared_dir: \"",
                                                                dir_.File("prepared"), "\" }\n"));
  }
  std::string Config() const { return dir_.File("run.pbtxt"); }
  testing::TempDir dir_;
};

TEST_F(SubmitCommandTest, UsageErrorsExitWithTwo) {
  EXPECT_THAT(RunFathom("submit --help").output, HasSubstr("--signal_seconds"));
  Result no_config = RunFathom("submit");
  EXPECT_EQ(no_config.exit_code, 2);
  EXPECT_THAT(no_config.output, HasSubstr("--config FILE is required"));
  Result missing = RunFathom(absl::StrCat("submit --config ", dir_.File("nope.pbtxt")));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.output, HasSubstr("nope.pbtxt"));
  Result nodes = RunFathom(absl::StrCat("submit --dry_run --nodes 0 --config ", Config()));
  EXPECT_EQ(nodes.exit_code, 2);
  EXPECT_THAT(nodes.output, HasSubstr("--nodes: must be >= 1"));
}

TEST_F(SubmitCommandTest, DryRunPrintsTheScriptAndWritesNothing) {
  Result dry =
      RunFathom(absl::StrCat("submit --dry_run --tasks_per_node 2 --time 30 --config ", Config()));
  EXPECT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_THAT(dry.output, HasSubstr("#SBATCH --ntasks-per-node=2\n"));
  EXPECT_THAT(dry.output, HasSubstr(absl::StrCat(testing::FathomBinary(), " train --config ",
                                                 Config(), " --resume")));
  EXPECT_THAT(dry.output, HasSubstr(absl::StrCat("sbatch ", dir_.File("run/submit/job.sbatch"))));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("run")));
}

TEST_F(SubmitCommandTest, DashedFlagSpellingsAreAccepted) {
  // As the issue and sbatch spell them: --gpus-per-node, --dry-run.
  Result dry = RunFathom(absl::StrCat(
      "submit --dry-run --nodes 2 --gpus-per-node 4 --tasks-per-node=4 --config ", Config()));
  EXPECT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_THAT(dry.output, HasSubstr("#SBATCH --nodes=2\n"));
  EXPECT_THAT(dry.output, HasSubstr("#SBATCH --gres=gpu:4\n"));
  EXPECT_THAT(dry.output, HasSubstr("#SBATCH --ntasks-per-node=4\n"));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("run")));
}

TEST_F(SubmitCommandTest, MissingSbatchOrDataIsAClearError) {
  Result named = RunFathom(absl::StrCat("submit --sbatch /nonexistent/sbatch --config ", Config()));
  EXPECT_EQ(named.exit_code, 1);
  EXPECT_THAT(named.output, HasSubstr("--sbatch /nonexistent/sbatch: no such executable"));
  std::filesystem::create_directories(dir_.File("empty_bin"));
  Result on_path = RunShell(absl::StrCat("PATH=", dir_.File("empty_bin"), " ",
                                         testing::FathomBinary(), " submit --config ", Config()));
  EXPECT_EQ(on_path.exit_code, 1);
  EXPECT_THAT(on_path.output, HasSubstr("sbatch not found on PATH"));
  testing::WriteTextFile(
      dir_.File("unprepared.pbtxt"),
      absl::StrCat("data { prepared_dir: \"", dir_.File("not_prepared"), "\" }\n"));
  Result unprepared = RunFathom(absl::StrCat("submit --config ", dir_.File("unprepared.pbtxt")));
  EXPECT_EQ(unprepared.exit_code, 1);
  EXPECT_THAT(unprepared.output, HasSubstr("not_prepared does not exist: run `fathom prepare"));
}

}  // namespace
}  // namespace fathom::launch
