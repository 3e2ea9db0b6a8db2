#include "data/line_reader.h"

#include <string>
#include <vector>

#include "data/utf8.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace fathom::data {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> ReadAll(const std::string& path, absl::Status* status) {
  auto reader = LineReader::Open(path);
  if (!reader.ok()) {
    *status = reader.status();
    return {};
  }
  std::vector<std::string> lines;
  std::string line;
  while ((*reader)->Next(&line)) lines.push_back(line);
  *status = (*reader)->status();
  return lines;
}

TEST(Utf8Test, FindsFirstInvalidByte) {
  EXPECT_EQ(FindInvalidUtf8("plain ascii text, long enough for the fast path", 47), -1);
  const std::string good = "Grüße, 日本語, 🙂";
  EXPECT_EQ(FindInvalidUtf8(good.data(), good.size()), -1);
  const std::string bad = "abc\xff";
  EXPECT_EQ(FindInvalidUtf8(bad.data(), bad.size()), 3);
  const std::string truncated = "ab\xc3";
  EXPECT_EQ(FindInvalidUtf8(truncated.data(), truncated.size()), 2);
  const std::string overlong = "a\xc0\xaf";
  EXPECT_EQ(FindInvalidUtf8(overlong.data(), overlong.size()), 1);
  const std::string surrogate = "\xed\xa0\x80";
  EXPECT_EQ(FindInvalidUtf8(surrogate.data(), surrogate.size()), 0);
  const std::string after_ascii_run = "0123456789abcdef\x80";
  EXPECT_EQ(FindInvalidUtf8(after_ascii_run.data(), after_ascii_run.size()), 16);
}

TEST(LineReaderTest, ReadsPlainAndGzipAlike) {
  testing::TempDir dir;
  const std::vector<std::string> lines = {"eins", "", "drei über", "vier"};
  testing::WriteLines(dir.File("a.txt"), lines);
  testing::WriteLines(dir.File("a.txt.gz"), lines);
  absl::Status status;
  EXPECT_EQ(ReadAll(dir.File("a.txt"), &status), lines);
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(ReadAll(dir.File("a.txt.gz"), &status), lines);
  EXPECT_TRUE(status.ok());
}

TEST(LineReaderTest, StripsCarriageReturnAndKeepsUnterminatedLastLine) {
  testing::TempDir dir;
  testing::WriteTextFile(dir.File("crlf.txt"), "one\r\ntwo\r\nthree");
  absl::Status status;
  EXPECT_EQ(ReadAll(dir.File("crlf.txt"), &status),
            (std::vector<std::string>{"one", "two", "three"}));
}

TEST(LineReaderTest, LinesLongerThanTheBlock) {
  testing::TempDir dir;
  const std::string longline(3 << 20, 'x');
  testing::WriteLines(dir.File("long.txt"), {"a", longline, "b"});
  absl::Status status;
  auto lines = ReadAll(dir.File("long.txt"), &status);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], longline);
}

TEST(LineReaderTest, FileWithoutLineBreaksIsRefusedNotBuffered) {
  testing::TempDir dir;
  std::string text;
  for (size_t i = 0; text.size() <= LineReader::kMaxLineBytes; ++i) text += "one sentence.\r";
  testing::WriteTextFile(dir.File("cr_only.txt"), "first line\n" + text);
  absl::Status status;
  auto lines = ReadAll(dir.File("cr_only.txt"), &status);
  EXPECT_EQ(lines.size(), 1u);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("cr_only.txt:2: line longer than 8 MiB"));
}

TEST(LineReaderTest, DropsAByteOrderMark) {
  testing::TempDir dir;
  testing::WriteTextFile(dir.File("bom.txt"),
                         "\xEF\xBB\xBF"
                         "erste\nzweite\n");
  absl::Status status;
  EXPECT_EQ(ReadAll(dir.File("bom.txt"), &status), (std::vector<std::string>{"erste", "zweite"}));
}

TEST(LineReaderTest, InvalidUtf8NamesFileAndLine) {
  testing::TempDir dir;
  testing::WriteLines(dir.File("bad.de.gz"), {"gut", "auch gut", "schlecht \xfe hier"});
  absl::Status status;
  ReadAll(dir.File("bad.de.gz"), &status);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("bad.de.gz:3: invalid UTF-8"));
}

TEST(LineReaderTest, MissingFileNamesPath) {
  absl::Status status;
  ReadAll("/nonexistent/corpus.de", &status);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("/nonexistent/corpus.de"));
}

}  // namespace
}  // namespace fathom::data
