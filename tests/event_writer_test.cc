// EventWriter is checked against an independent reader written here (its own bitwise CRC-32C,
// its own TFRecord parsing) and against bytes TensorBoard itself publishes, so a bug shared by
// the writer and base/crc32c cannot pass unnoticed.
#include "trainer/event_writer.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/tensorboard.pb.h"
#include "tests/test_util.h"

namespace fathom::trainer {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// Bit at a time, reflected Castagnoli polynomial: slow and obviously right.
uint32_t BitwiseCrc32c(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1u) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

uint32_t Masked(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

uint64_t LittleEndian(const std::string& bytes, size_t pos, int width) {
  uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[pos + i]);
  }
  return value;
}

// Splits a TFRecord stream into its payloads; `error` says what is wrong, "" if nothing.
std::vector<std::string> ReadRecords(const std::string& file, std::string* error) {
  std::vector<std::string> records;
  error->clear();
  size_t pos = 0;
  while (pos < file.size()) {
    if (file.size() - pos < 12) {
      *error = "truncated header at byte " + std::to_string(pos);
      break;
    }
    const std::string length_bytes = file.substr(pos, 8);
    if (Masked(BitwiseCrc32c(length_bytes)) != LittleEndian(file, pos + 8, 4)) {
      *error = "length CRC mismatch at byte " + std::to_string(pos);
      break;
    }
    const uint64_t length = LittleEndian(file, pos, 8);
    pos += 12;
    if (file.size() - pos < length + 4) {
      *error = "truncated record at byte " + std::to_string(pos);
      break;
    }
    std::string data = file.substr(pos, length);
    if (Masked(BitwiseCrc32c(data)) != LittleEndian(file, pos + length, 4)) {
      *error = "data CRC mismatch at byte " + std::to_string(pos);
      break;
    }
    records.push_back(std::move(data));
    pos += length + 4;
  }
  return records;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<tensorflow::Event> ReadEvents(const std::string& path) {
  std::string error;
  const std::vector<std::string> records = ReadRecords(ReadBytes(path), &error);
  EXPECT_EQ(error, "") << path;
  std::vector<tensorflow::Event> events(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_TRUE(events[i].ParseFromString(records[i])) << "record " << i;
  }
  return events;
}

double NowSeconds() { return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()); }

struct Scalar {
  std::string tag;
  double value;
  int64_t step;
};

// The first two records of a TensorBoard event file, dumped by TensorBoard's authors for
// tf.summary.scalar("accuracy", 0.99, step=77): tensorflow/tensorboard,
// tensorboard/data/server/tf_record.rs (test_success and the read_record example).
const std::string kVersionPayload(
    "\x09\x00\x00\x80\x38\x99\xd6\xd7\x41\x1a\x0d"
    "brain.Event:2",
    24);
const std::string kVersionRecord = std::string("\x18\x00\x00\x00\x00\x00\x00\x00", 8) +
                                   "\xa3\x7f\x4b\x22" + kVersionPayload + "\x12\x4b\x36\xab";
const std::string kScalarPayload(
    "\x09\xc4\x05\xb7\x3d\x99\xd6\xd7\x41"
    "\x10\x4d\x2a\x25"
    "\x0a\x23\x0a\x08"
    "accuracy"
    "\x42\x0a\x08\x01\x12\x00\x22\x04\xa4\x70\x7d\x3f\x4a"
    "\x0b\x0a\x09\x0a\x07"
    "scalars",
    50);
const std::string kScalarRecord = std::string("\x32\x00\x00\x00\x00\x00\x00\x00", 8) +
                                  "\x24\x19\x56\xec" + kScalarPayload + "\xa5\x5b\x64\x33";

TEST(Crc32c, KnownAnswers) {
  EXPECT_EQ(BitwiseCrc32c("123456789"), 0xE3069283u);
  // RFC 3720 (iSCSI), appendix B.4.
  EXPECT_EQ(BitwiseCrc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(BitwiseCrc32c(std::string(32, '\xFF')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(BitwiseCrc32c(ascending), 0x46DD794Eu);
  // TensorBoard's masked CRC of the 8-byte length 24 (see kVersionRecord).
  EXPECT_EQ(Masked(BitwiseCrc32c(std::string("\x18\0\0\0\0\0\0\0", 8))), 0x224b7fa3u);
}

TEST(EncodeTfRecord, MatchesTensorBoardBytes) {
  EXPECT_EQ(EncodeTfRecord(kVersionPayload), kVersionRecord);
  EXPECT_EQ(EncodeTfRecord(kScalarPayload), kScalarRecord);
  std::string error;
  EXPECT_EQ(ReadRecords(kVersionRecord + kScalarRecord, &error).size(), 2u);
  EXPECT_EQ(error, "");
}

TEST(TensorBoardProto, MatchesTensorFlowWireFormat) {
  tensorflow::Event version;
  ASSERT_TRUE(version.ParseFromString(kVersionPayload));
  EXPECT_EQ(version.file_version(), "brain.Event:2");
  EXPECT_GT(version.wall_time(), 1.5e9);
  // Our schema writes TensorFlow's exact bytes, field order and omitted step included.
  tensorflow::Event ours;
  ours.set_wall_time(version.wall_time());
  ours.set_file_version("brain.Event:2");
  EXPECT_EQ(ours.SerializeAsString(), kVersionPayload);

  tensorflow::Event scalar;
  ASSERT_TRUE(scalar.ParseFromString(kScalarPayload));
  EXPECT_EQ(scalar.step(), 77);
  ASSERT_EQ(scalar.summary().value_size(), 1);
  EXPECT_EQ(scalar.summary().value(0).tag(), "accuracy");

  // simple_value is field 2, a 32-bit float (key 0x15): summary.proto, not in the dump above.
  tensorflow::Summary::Value value;
  value.set_tag("a");
  value.set_simple_value(1.0f);
  EXPECT_EQ(value.SerializeAsString(), std::string("\x0a\x01"
                                                   "a"
                                                   "\x15\x00\x00\x80\x3f",
                                                   8));
}

TEST(EventWriter, WritesVersionThenScalars) {
  testing::TempDir dir;
  const double before = NowSeconds();
  auto writer = EventWriter::Create(dir.File("tb"));
  ASSERT_TRUE(writer.ok()) << writer.status();
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof(host) - 1), 0);
  EXPECT_EQ(std::filesystem::path((*writer)->path()).parent_path(), dir.File("tb"));
  const std::string name = std::filesystem::path((*writer)->path()).filename().string();
  EXPECT_THAT(name, MatchesRegex("events\\.out\\.tfevents\\.[0-9]+\\..*"));
  EXPECT_EQ(name.substr(name.size() - std::strlen(host)), host);
  const int64_t file_seconds = std::stoll(name.substr(std::strlen("events.out.tfevents.")));
  EXPECT_NEAR(static_cast<double>(file_seconds), before, 2.0);

  // A long tag puts a second non-zero byte in the length field.
  const std::vector<Scalar> scalars = {{"train/loss", 7.25, 1},
                                       {"train/lr", 1e-4, 1},
                                       {"train/loss", -0.5, 2},
                                       {std::string(300, 'x'), 3.0, 1000000000000}};
  for (const Scalar& s : scalars) ASSERT_TRUE((*writer)->AddScalar(s.tag, s.value, s.step).ok());
  ASSERT_TRUE((*writer)->Flush().ok());
  const double after = NowSeconds();

  const std::vector<tensorflow::Event> events = ReadEvents((*writer)->path());
  ASSERT_EQ(events.size(), 1 + scalars.size());
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  EXPECT_EQ(events[0].step(), 0);
  EXPECT_FALSE(events[0].has_summary());
  double last_time = before - 1.0;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_GE(events[i].wall_time(), last_time) << i;
    EXPECT_LE(events[i].wall_time(), after + 1.0) << i;
    last_time = events[i].wall_time();
  }
  for (size_t i = 0; i < scalars.size(); ++i) {
    const tensorflow::Event& e = events[i + 1];
    EXPECT_EQ(e.step(), scalars[i].step);
    EXPECT_TRUE(e.file_version().empty());
    ASSERT_EQ(e.summary().value_size(), 1);
    EXPECT_EQ(e.summary().value(0).tag(), scalars[i].tag);
    ASSERT_TRUE(e.summary().value(0).has_simple_value());
    EXPECT_EQ(e.summary().value(0).simple_value(), static_cast<float>(scalars[i].value));
  }
}

TEST(EventWriter, FlushMakesRecordsVisibleAndDestructorFlushes) {
  testing::TempDir dir;
  std::string path;
  {
    auto writer = EventWriter::Create(dir.path());
    ASSERT_TRUE(writer.ok()) << writer.status();
    path = (*writer)->path();
    EXPECT_EQ(ReadEvents(path).size(), 1u);  // the version record is flushed by Create
    ASSERT_TRUE((*writer)->AddScalar("a", 1.0, 1).ok());
    ASSERT_TRUE((*writer)->Flush().ok());
    EXPECT_EQ(ReadEvents(path).size(), 2u);
    ASSERT_TRUE((*writer)->AddScalar("a", 2.0, 2).ok());  // left to the destructor
  }
  const std::vector<tensorflow::Event> events = ReadEvents(path);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].step(), 2);
  EXPECT_EQ(events[2].summary().value(0).simple_value(), 2.0f);
}

TEST(EventWriter, ReaderDetectsTruncationAndCorruption) {
  testing::TempDir dir;
  std::string path;
  {
    auto writer = EventWriter::Create(dir.path());
    ASSERT_TRUE(writer.ok()) << writer.status();
    path = (*writer)->path();
    ASSERT_TRUE((*writer)->AddScalar("loss", 1.5, 10).ok());
  }
  const std::string file = ReadBytes(path);
  std::string error;
  ASSERT_EQ(ReadRecords(file, &error).size(), 2u);
  ASSERT_EQ(error, "");
  const size_t second = 12 + LittleEndian(file, 0, 8) + 4;  // where the scalar's record starts
  ASSERT_LT(second, file.size());

  for (size_t cut = second + 1; cut < file.size(); ++cut) {
    const std::vector<std::string> records = ReadRecords(file.substr(0, cut), &error);
    EXPECT_EQ(records.size(), 1u) << cut;
    EXPECT_THAT(error, HasSubstr("truncated")) << cut;
  }
  std::string bad_length = file;
  bad_length[second] ^= 0x01;
  ReadRecords(bad_length, &error);
  EXPECT_THAT(error, HasSubstr("length CRC mismatch"));
  std::string bad_data = file;
  bad_data[file.size() - 6] ^= 0x40;
  ReadRecords(bad_data, &error);
  EXPECT_THAT(error, HasSubstr("data CRC mismatch"));
}

TEST(EventWriter, CreateErrorNamesTheFile) {
  testing::TempDir dir;
  testing::WriteTextFile(dir.File("not_a_dir"), "x");
  auto writer = EventWriter::Create(dir.File("not_a_dir"));
  ASSERT_FALSE(writer.ok());
  EXPECT_THAT(std::string(writer.status().message()), HasSubstr(dir.File("not_a_dir")));
}

}  // namespace
}  // namespace fathom::trainer
