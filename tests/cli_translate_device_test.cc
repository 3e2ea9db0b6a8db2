// `fathom translate --device cpu|cuda|auto` as a user meets it: auto decodes where a GPU is
// visible and on the CPU otherwise, with the CPU's text at beam 1 either way; --device cuda
// without a GPU stops at once with exit 2 naming the problem; an unknown device is bad usage.
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace fathom {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using Result = testing::CommandResult;
using testing::RunFathom;

// A real run: Multi30k slice, 2 training steps of a small model, one checkpoint.
class TranslateDeviceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    testing::WriteLines(
        File("input.de"),
        testing::ReadGzipLines(testing::SharedDataDir() + "/translation/multi30k/val.de.gz", 12));
    ASSERT_EQ(testing::MakeTinyRun(*dir_, {}), "");
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string File(const std::string& name) { return dir_->File(name); }

  // Translates input.de at beam 1 into `output`, with `device_flag` ("" for the default).
  static Result Translate(const std::string& device_flag, const std::string& output) {
    return RunFathom(absl::StrCat("translate --checkpoint ", File("run"), " --input ",
                                  File("input.de"), " --output ", File(output),
                                  " --beam 1 --threads 1 ", device_flag));
  }
  static std::string Text(const std::string& output) {
    auto text = ReadFileToString(File(output));
    EXPECT_TRUE(text.ok()) << text.status();
    return text.ok() ? *text : "";
  }

  static testing::TempDir* dir_;
};

testing::TempDir* TranslateDeviceTest::dir_ = nullptr;

TEST_F(TranslateDeviceTest, AutoAndTheDefaultGiveTheCpuText) {
  Result cpu = Translate("--device cpu", "cpu.en");
  ASSERT_EQ(cpu.exit_code, 0) << cpu.output;
  EXPECT_THAT(cpu.output, HasSubstr("on cpu"));
  Result automatic = Translate("--device auto", "auto.en");
  ASSERT_EQ(automatic.exit_code, 0) << automatic.output;
  Result plain = Translate("", "default.en");
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  // Where a GPU is visible auto ran on it: the text is still the CPU's (beam 1).
  EXPECT_EQ(Text("auto.en"), Text("cpu.en")) << automatic.output;
  EXPECT_EQ(Text("default.en"), Text("cpu.en")) << plain.output;
  const std::string text = Text("cpu.en");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 12);
}

TEST_F(TranslateDeviceTest, CudaWithoutAGpuIsAClearUsageError) {
  Result automatic = Translate("--device auto", "probe.en");
  ASSERT_EQ(automatic.exit_code, 0) << automatic.output;
  if (automatic.output.find("on cuda") != std::string::npos) GTEST_SKIP() << "a GPU is visible";
  Result cuda = Translate("--device cuda", "cuda.en");
  EXPECT_EQ(cuda.exit_code, 2) << cuda.output;
  EXPECT_THAT(cuda.output, AllOf(HasSubstr("--device cuda"), HasSubstr("no GPU is visible"),
                                 HasSubstr("--device cpu"), Not(HasSubstr("NCCL"))));
  EXPECT_FALSE(PathExists(File("cuda.en"))) << "nothing written";
}

TEST_F(TranslateDeviceTest, AnUnknownDeviceIsBadUsage) {
  Result tpu = Translate("--device tpu", "tpu.en");
  EXPECT_EQ(tpu.exit_code, 2) << tpu.output;
  EXPECT_THAT(tpu.output, AllOf(HasSubstr("--device"), HasSubstr("\"tpu\"")));
}

}  // namespace
}  // namespace fathom
