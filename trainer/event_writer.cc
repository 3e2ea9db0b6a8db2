#include "trainer/event_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/crc32c.h"
#include "base/file_util.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "proto/tensorboard.pb.h"

namespace fathom::trainer {
namespace {

// TensorBoard reads every version starting with "brain.Event:"; 2 is what TensorFlow writes.
constexpr char kFileVersion[] = "brain.Event:2";

void AppendLittleEndian(uint64_t value, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

double WallTimeSeconds() { return absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()); }

std::string Hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

std::string EncodeTfRecord(absl::string_view data) {
  std::string record;
  record.reserve(8 + 4 + data.size() + 4);
  AppendLittleEndian(data.size(), 8, &record);
  AppendLittleEndian(MaskCrc32c(Crc32c(record.data(), 8)), 4, &record);
  record.append(data.data(), data.size());
  AppendLittleEndian(MaskCrc32c(Crc32c(data.data(), data.size())), 4, &record);
  return record;
}

absl::StatusOr<std::unique_ptr<EventWriter>> EventWriter::Create(const std::string& dir) {
  RETURN_IF_ERROR(MakeDirs(dir));
  const int64_t seconds = absl::ToUnixSeconds(absl::Now());
  const std::string base = absl::StrCat(dir, "/events.out.tfevents.", seconds, ".", Hostname());
  // O_EXCL: a writer started in the same second (a quick resume) must not truncate the earlier
  // file; it takes the next free suffix instead (TensorBoard reads every events.out.* file).
  std::string path = base;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  for (int suffix = 1; fd < 0 && errno == EEXIST && suffix < 100; ++suffix) {
    path = absl::StrCat(base, ".", suffix);
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  }
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot create event file: ", std::strerror(errno)));
  }
  std::FILE* file = ::fdopen(fd, "wb");
  if (file == nullptr) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return absl::InternalError(absl::StrCat(path, ": cannot open event file: ", why));
  }
  std::unique_ptr<EventWriter> writer(new EventWriter(path, file));

  tensorflow::Event event;
  event.set_wall_time(WallTimeSeconds());
  event.set_file_version(kFileVersion);
  RETURN_IF_ERROR(writer->WriteRecord(event.SerializeAsString()));
  // The version record goes out at once so TensorBoard sees the run before its first flush.
  RETURN_IF_ERROR(writer->Flush());
  return writer;
}

EventWriter::~EventWriter() {
  absl::Status closed = Flush();
  if (std::fclose(file_) != 0 && closed.ok()) {
    closed = absl::DataLossError(absl::StrCat(path_, ": close failed: ", std::strerror(errno)));
  }
  if (!closed.ok()) FLOG(Warning) << closed.message();
}

absl::Status EventWriter::AddScalar(const std::string& tag, double value, int64_t step) {
  tensorflow::Event event;
  event.set_wall_time(WallTimeSeconds());
  event.set_step(step);
  tensorflow::Summary::Value* scalar = event.mutable_summary()->add_value();
  scalar->set_tag(tag);
  scalar->set_simple_value(static_cast<float>(value));
  return WriteRecord(event.SerializeAsString());
}

absl::Status EventWriter::Flush() {
  if (!status_.ok()) return status_;
  if (std::fflush(file_) != 0) {
    status_ = absl::DataLossError(absl::StrCat(path_, ": flush failed: ", std::strerror(errno)));
  }
  return status_;
}

absl::Status EventWriter::WriteRecord(const std::string& data) {
  if (!status_.ok()) return status_;
  const std::string record = EncodeTfRecord(data);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size()) {
    status_ = absl::DataLossError(absl::StrCat(path_, ": write failed: ", std::strerror(errno)));
  }
  return status_;
}

}  // namespace fathom::trainer
