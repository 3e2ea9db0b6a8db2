// Shared helpers of the test binaries: a fresh temporary directory per test and the paths the
// build passes in (shared data, the fathom binary).
#ifndef FATHOM_TESTS_TEST_UTIL_H_
#define FATHOM_TESTS_TEST_UTIL_H_

#include <string>
#include <vector>

namespace fathom::testing {

// A new empty directory under $TMPDIR, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteTextFile(const std::string& path, const std::string& contents);
// Writes `lines` joined by '\n' (with a final newline), gzip-compressed when path ends in .gz.
void WriteLines(const std::string& path, const std::vector<std::string>& lines);
std::vector<std::string> ReadGzipLines(const std::string& path, int max_lines);

// ../shared/data as seen from the source tree (FATHOM_SHARED_DATA overrides).
std::string SharedDataDir();
// The repository root.
std::string SourceDir();
// The fathom binary built alongside the tests.
std::string FathomBinary();

// Exit code (-1 when killed by a signal) and everything printed on stdout and stderr.
struct CommandResult {
  int exit_code;
  std::string output;
};
// Runs `command` through /bin/sh.
CommandResult RunShell(const std::string& command);
// Runs the fathom binary with `args` (shell syntax).
CommandResult RunFathom(const std::string& args);

// A small translation run made with the fathom binary, for the tests of subcommands that read
// checkpoints: the first 300 Multi30k training pairs in DIR/train.{de,en} (written once), a
// 1+1-layer d 32 model configured in DIR/NAME.pbtxt, prepared into DIR/NAME-prepared and, with
// `train`, trained 2 updates into the run directory DIR/NAME.
struct TinyRun {
  std::string name = "run";
  int vocab = 300;          // data.sentencepiece.vocab_size
  bool train = true;        // false: prepare only
  std::string data_extra;   // more fields of `data`, e.g. "filter { max_length: 60 }"
  std::string model_extra;  // more fields of `model`, e.g. "max_positions: 64"
  std::string extra;        // more top-level sections, e.g. "eval { valid_every_steps: 1 }"
};
// Empty on success; otherwise the failing command's output (ASSERT_EQ(MakeTinyRun(...), "")).
std::string MakeTinyRun(const TempDir& dir, const TinyRun& run);

}  // namespace fathom::testing

#endif  // FATHOM_TESTS_TEST_UTIL_H_
