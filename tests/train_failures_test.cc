// How a 2-rank `fathom train` under mpirun fails, end to end: a preemption signal saves and
// exits 75 and the resumed run ends exactly where an uninterrupted one does; a rank killed with
// -9 or stalled with SIGSTOP ends the whole job quickly with the rank named; a NaN loss stops
// every rank at the same step without writing a checkpoint; a full disk while saving leaves the
// previous checkpoint valid. Each test runs real processes and sends real signals.
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "checkpoint/checkpoint_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace fathom {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One `mpirun -np 2 fathom train` in the background, its output in a file.
class Job {
 public:
  Job(const std::string& config, const std::string& log, const std::string& extra_env = "",
      const std::string& flags = "")
      : log_(log) {
    const std::string command = absl::StrCat(
        "exec mpirun -np 2 --oversubscribe --allow-run-as-root --mca btl self,tcp --mca "
        "btl_tcp_if_include lo ",
        extra_env, " ", testing::FathomBinary(), " train --config ", config, " ", flags, " > ", log,
        " 2>&1");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);  // the test can kill everything it started, whatever happens
      ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Job() {
    if (finished_) return;
    // Open MPI puts each rank in a process group of its own: kill the ranks by pid, then mpirun.
    for (int rank = 0; rank < 2; ++rank) {
      if (const pid_t pid = RankPid(rank); pid > 0) ::kill(pid, SIGKILL);
    }
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }

  // The exit code, or -1 when it is still running after `seconds`.
  int Wait(double seconds) {
    const auto start = Clock::now();
    while (SecondsSince(start) < seconds) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        finished_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }

  // The pid of MPI rank `rank` (a child of mpirun), or -1 when not (yet) running.
  pid_t RankPid(int rank) const {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      const std::string name = entry.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream stat(entry.path() / "stat");
      std::string line;
      std::getline(stat, line);
      const size_t close = line.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 2));
      char state;
      pid_t parent = 0;
      rest >> state >> parent;
      if (parent != pid_) continue;
      const std::string environ = ReadFile((entry.path() / "environ").string());
      if (environ.find(absl::StrCat(std::string(1, '\0'), "OMPI_COMM_WORLD_RANK=", rank,
                                    std::string(1, '\0'))) != std::string::npos) {
        return std::stoi(name);
      }
    }
    return -1;
  }

  std::string Output() const { return ReadFile(log_); }

  // Waits until `path` contains `text`; false after `seconds` or when the job has ended.
  bool WaitForText(const std::string& path, const std::string& text, double seconds) {
    const auto start = Clock::now();
    while (SecondsSince(start) < seconds) {
      if (ReadFile(path).find(text) != std::string::npos) return true;
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        finished_ = true;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  bool finished_ = false;
};

// Running, and not a zombie waiting for its parent to reap it.
bool Alive(pid_t pid) {
  if (pid <= 0) return false;
  const std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  return !stat.empty() && stat.find(") Z") == std::string::npos;
}

// "step N | ... | loss X |" of a train.log, by step.
std::map<int, std::string> LossesByStep(const std::string& log) {
  std::map<int, std::string> losses;
  const std::regex line(R"(step (\d+) \| epoch [0-9.]+ \| loss ([0-9.]+) \|)");
  for (std::sregex_iterator it(log.begin(), log.end(), line), end; it != end; ++it) {
    losses[std::stoi((*it)[1])] = (*it)[2];
  }
  return losses;
}

class TrainFailuresTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new testing::TempDir();
    const std::string m30k = testing::SharedDataDir() + "/translation/multi30k/";
    const std::string dir = data_->path();
    testing::WriteLines(dir + "/train.de.gz", testing::ReadGzipLines(m30k + "train.de.gz", 800));
    testing::WriteLines(dir + "/train.en.gz", testing::ReadGzipLines(m30k + "train.en.gz", 800));
    testing::WriteTextFile(
        dir + "/prepare.pbtxt",
        absl::StrCat("data { split { name: \"train\" source: \"", dir, "/train.de.gz\" target: \"",
                     dir, "/train.en.gz\" } prepared_dir: \"", dir,
                     "/prepared\" sentencepiece { vocab_size: 400 } }"));
    const std::string command = absl::StrCat(testing::FathomBinary(), " prepare --config ", dir,
                                             "/prepare.pbtxt > ", dir, "/prepare.log 2>&1");
    ASSERT_EQ(std::system(command.c_str()), 0) << ReadFile(dir + "/prepare.log");
  }
  static void TearDownTestSuite() { delete data_; }

  // A small Admin model (slow enough per step that signals land mid-run) writing to `run_dir`.
  // `checkpoint` and `distributed` go inside those blocks.
  std::string WriteConfig(const std::string& run_dir, int64_t max_steps, int save_every,
                          const std::string& checkpoint = "", const std::string& distributed = "") {
    const std::string path = absl::StrCat(
        temp_.path(), "/", std::filesystem::path(run_dir).filename().string(), ".pbtxt");
    testing::WriteTextFile(
        path, absl::StrCat("run_dir: \"", run_dir, "\"\n", "data { prepared_dir: \"", data_->path(),
                           "/prepared\" batch { max_tokens: 600 } }\n",
                           "model { encoder_layers: 2 decoder_layers: 2 d_model: 64 heads: 4 "
                           "ffn_dim: 128 dropout: 0.1 }\n",
                           "init { method: ADMIN }\n", "optim { max_steps: ", max_steps,
                           " warmup_steps: 10 }\n",
                           "eval { log_every_steps: 1 valid_every_steps: 100000 }\n",
                           "checkpoint { save_every_steps: ", save_every, " ", checkpoint, " }\n",
                           "distributed { threads: 1 ", distributed, " }\n"));
    return path;
  }

  static testing::TempDir* data_;
  testing::TempDir temp_;
};

testing::TempDir* TrainFailuresTest::data_ = nullptr;

TEST_F(TrainFailuresTest, SigtermSavesExits75AndTheResumedRunEndsLikeAnUninterruptedOne) {
  const int64_t steps = 120;
  const std::string reference_dir = temp_.File("reference"), run_dir = temp_.File("preempted");
  Job reference(WriteConfig(reference_dir, steps, 1000), temp_.File("reference.out"));
  ASSERT_EQ(reference.Wait(300), 0) << reference.Output();

  const std::string config = WriteConfig(run_dir, steps, 1000);
  {
    Job job(config, temp_.File("first.out"));
    ASSERT_TRUE(job.WaitForText(run_dir + "/train.log", "step 5 |", 120)) << job.Output();
    const pid_t rank1 = job.RankPid(1);
    ASSERT_GT(rank1, 0);
    ASSERT_EQ(::kill(rank1, SIGTERM), 0);
    EXPECT_EQ(job.Wait(60), 75) << job.Output();
    EXPECT_THAT(job.Output(), HasSubstr("stop requested by rank 1 (SIGTERM)"));
  }
  const std::vector<int64_t> saved = checkpoint::ListCheckpointSteps(run_dir);
  ASSERT_EQ(saved.size(), 1u);
  EXPECT_GE(saved[0], 5);
  ASSERT_LT(saved[0], steps) << "the run ended before the signal landed; make it longer";

  Job resumed(config, temp_.File("second.out"), "", "--resume");
  ASSERT_EQ(resumed.Wait(300), 0) << resumed.Output();
  EXPECT_THAT(resumed.Output(), HasSubstr(absl::StrCat("at step ", saved[0])));
  // Model, optimiser moments and step: byte for byte the uninterrupted run's.
  auto a = checkpoint::ReadCheckpoint(absl::StrFormat("%s/checkpoints/%08d", reference_dir, steps));
  auto b = checkpoint::ReadCheckpoint(absl::StrFormat("%s/checkpoints/%08d", run_dir, steps));
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  ASSERT_EQ(a->tensors.size(), b->tensors.size());
  for (size_t i = 0; i < a->tensors.size(); ++i) {
    EXPECT_TRUE(torch::equal(a->tensors[i].second, b->tensors[i].second)) << a->tensors[i].first;
  }
  // And the per-step losses printed after the resume are the uninterrupted run's.
  const auto reference_losses = LossesByStep(ReadFile(reference_dir + "/train.log"));
  const auto resumed_losses = LossesByStep(ReadFile(run_dir + "/train.log"));
  ASSERT_EQ(resumed_losses.size(), static_cast<size_t>(steps));
  for (const auto& [step, loss] : resumed_losses)
    EXPECT_EQ(loss, reference_losses.at(step)) << "step " << step;
  // Every progress line has every field; epochs done only grow, and the eta is a duration.
  const std::string reference_log = ReadFile(reference_dir + "/train.log");
  const std::regex progress(
      R"(step (\d+) \| epoch (\d+\.\d\d) \| loss [0-9.]+ \| nll [0-9.]+ \| ppl [0-9.]+ \| lr [0-9.e+-]+ \| )"
      R"(gnorm [0-9.]+ \| scale 1 \| tok/s \d+ \| TFLOP/s [0-9.e+-]+ \| MFU (-|[0-9.]+%) \| )"
      R"(elapsed [0-9hms:]+ \| eta [0-9hms:]+\n)");
  int lines = 0;
  double last_epochs = 0;
  for (std::sregex_iterator it(reference_log.begin(), reference_log.end(), progress), end;
       it != end; ++it, ++lines) {
    const double epochs = std::stod((*it)[2]);
    EXPECT_GT(epochs, 0.0);
    EXPECT_GE(epochs, last_epochs) << (*it)[0];
    last_epochs = epochs;
  }
  EXPECT_EQ(lines, steps) << reference_log;
}

TEST_F(TrainFailuresTest, AKilledRankEndsEveryProcessWithinSecondsAndNamesTheRank) {
  const std::string run_dir = temp_.File("killed");
  Job job(WriteConfig(run_dir, 1000000, 3), temp_.File("killed.out"));
  ASSERT_TRUE(job.WaitForText(run_dir + "/train.log", "saved checkpoint at step 3", 120))
      << job.Output();
  const pid_t rank0 = job.RankPid(0), rank1 = job.RankPid(1);
  ASSERT_GT(rank0, 0);
  ASSERT_GT(rank1, 0);
  const auto start = Clock::now();
  ASSERT_EQ(::kill(rank1, SIGKILL), 0);
  const int code = job.Wait(30);
  ASSERT_NE(code, -1) << "still running 30 s after rank 1 was killed:\n" << job.Output();
  EXPECT_NE(code, 0);
  // mpirun may return a moment before the last rank has died.
  while (Alive(rank0) && SecondsSince(start) < 30)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(Alive(rank0)) << "rank 0 outlived the job by 30 s";
  // The launcher names the rank that died.
  EXPECT_THAT(job.Output(), HasSubstr("process rank 1 with PID"));
  EXPECT_THAT(job.Output(), HasSubstr("signal 9"));
  std::vector<std::string> skipped;
  auto latest = checkpoint::ReadLatestValid(run_dir, &skipped);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_TRUE(skipped.empty());
  EXPECT_GE(latest->meta.state().step(), 3);
}

TEST_F(TrainFailuresTest, AStalledRankIsNamedAndTheJobEndsWithinTheTimeout) {
  const std::string run_dir = temp_.File("stalled");
  // Saved at step 4; stopped once rank 0 has logged step 5, rank 1 cannot get past step 6, so
  // rank 0 waits in a training step (the 10 s limit), never in the save of step 8 (4x longer).
  Job job(WriteConfig(run_dir, 1000000, 4, "", "timeout_seconds: 10"), temp_.File("stalled.out"));
  ASSERT_TRUE(job.WaitForText(run_dir + "/train.log", "step 5 |", 120)) << job.Output();
  const pid_t rank0 = job.RankPid(0), rank1 = job.RankPid(1);
  ASSERT_GT(rank1, 0);
  const auto start = Clock::now();
  ASSERT_EQ(::kill(rank1, SIGSTOP), 0);
  const int code = job.Wait(30);
  ::kill(rank1, SIGCONT);
  ASSERT_NE(code, -1) << "still running 30 s after rank 1 stalled:\n" << job.Output();
  EXPECT_NE(code, 0);
  EXPECT_GE(SecondsSince(start), 10);
  EXPECT_THAT(job.Output(), HasSubstr("rank 0 of 2"));
  EXPECT_THAT(job.Output(), HasSubstr("rank(s) 1 never arrived: dead or stalled"));
  while (Alive(rank0) && SecondsSince(start) < 30)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(Alive(rank0));
  EXPECT_TRUE(checkpoint::ReadLatestValid(run_dir, nullptr).ok());
}

TEST_F(TrainFailuresTest, ANanLossOnOneRankStopsEveryRankAtThatStepWithoutSaving) {
  const std::string run_dir = temp_.File("nan");
  Job job(WriteConfig(run_dir, 1000, 4), temp_.File("nan.out"), "-x FATHOM_INJECT_NAN=7,1");
  ASSERT_EQ(job.Wait(120), 1) << job.Output();
  const std::string out = job.Output();
  EXPECT_THAT(out, HasSubstr("rank 0: the loss or a gradient is NaN or infinite at step 7"));
  EXPECT_THAT(out, HasSubstr("rank 1: the loss or a gradient is NaN or infinite at step 7"));
  EXPECT_THAT(out, HasSubstr("the last checkpoint (step 4) is intact"));
  EXPECT_EQ(checkpoint::ListCheckpointSteps(run_dir), std::vector<int64_t>({4}));
  auto latest = checkpoint::ReadLatestValid(run_dir, nullptr);
  ASSERT_TRUE(latest.ok()) << latest.status();
  for (const auto& [name, tensor] : latest->tensors) {
    if (tensor.is_floating_point()) EXPECT_TRUE(torch::isfinite(tensor).all().item<bool>()) << name;
  }
}

TEST_F(TrainFailuresTest, AFullDiskWhileSavingKeepsThePreviousCheckpointValid) {
  // Size the disk from a real run: everything a run writes plus one and a half checkpoints, so
  // the first save fits and a later one runs out of space part-way.
  const std::string probe_dir = temp_.File("probe");
  Job probe(WriteConfig(probe_dir, 2, 2), temp_.File("probe.out"));
  ASSERT_EQ(probe.Wait(120), 0) << probe.Output();
  uint64_t run_bytes = 0, checkpoint_bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(probe_dir)) {
    if (!entry.is_regular_file()) continue;
    run_bytes += entry.file_size();
    if (entry.path().string().find("/checkpoints/") != std::string::npos)
      checkpoint_bytes += entry.file_size();
  }
  const uint64_t disk_kb = (run_bytes + checkpoint_bytes / 2) / 1024 + 64;
  const std::string mount_point = temp_.File("small_disk");
  std::filesystem::create_directory(mount_point);
  if (::mount("tmpfs", mount_point.c_str(), "tmpfs", 0,
              absl::StrCat("size=", disk_kb, "k").c_str()) != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs (needs root)";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};
  const std::string run_dir = mount_point + "/run";
  Job job(WriteConfig(run_dir, 1000, 2, "keep_last: 10"), temp_.File("full.out"));
  ASSERT_EQ(job.Wait(120), 1) << job.Output();
  const std::string out = job.Output();
  EXPECT_THAT(out, HasSubstr("the previous checkpoints are intact"));
  EXPECT_THAT(out, HasSubstr(run_dir + "/checkpoints/"));
  EXPECT_THAT(out, HasSubstr("rank 0 could not save the checkpoint"));  // rank 1 learns it too
  std::vector<std::string> skipped;
  auto latest = checkpoint::ReadLatestValid(run_dir, &skipped);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_TRUE(skipped.empty()) << skipped.front();
  const std::vector<int64_t> saved = checkpoint::ListCheckpointSteps(run_dir);
  ASSERT_FALSE(saved.empty());
  EXPECT_EQ(latest->meta.state().step(), saved.back());
  for (const auto& entry : std::filesystem::directory_iterator(run_dir + "/checkpoints")) {
    EXPECT_EQ(entry.path().filename().string().find(".partial-"), std::string::npos)
        << entry.path();
  }
}

}  // namespace
}  // namespace fathom
