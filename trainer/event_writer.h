// TensorBoard event files without TensorFlow: scalars (loss, learning rate, BLEU, ...) as
// tensorflow.Event records (proto/tensorboard.proto) in TFRecord framing, which TensorBoard reads
// while the run is still writing.
#ifndef FATHOM_TRAINER_EVENT_WRITER_H_
#define FATHOM_TRAINER_EVENT_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fathom::trainer {

// One TFRecord: uint64 length (little-endian), uint32 masked CRC-32C of those 8 bytes, the data,
// uint32 masked CRC-32C of the data (both CRCs little-endian).
std::string EncodeTfRecord(absl::string_view data);

// Appends events to DIR/events.out.tfevents.<unix seconds>.<hostname>, TensorBoard's naming, so
// `tensorboard --logdir DIR` finds it. Not thread-safe: one writer per process (rank 0).
// After a failed write the file may hold a partial record, so every later call returns the same
// error instead of appending after it.
class EventWriter {
 public:
  // Creates DIR if needed and the file (never overwriting one of the same name), and writes the
  // first record, an Event with file_version "brain.Event:2".
  static absl::StatusOr<std::unique_ptr<EventWriter>> Create(const std::string& dir);
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;
  // Flushes; a failure is logged, since a destructor cannot return it.
  ~EventWriter();

  // One Event at `step` holding one scalar. TensorBoard's simple_value is a float, so `value` is
  // rounded to float precision. Buffered: call Flush() (e.g. once per logged step) to make it
  // visible to TensorBoard.
  absl::Status AddScalar(const std::string& tag, double value, int64_t step);
  // Hands buffered records to the OS (no fsync: TensorBoard only needs them readable, and an
  // fsync per step would stall training on network filesystems).
  absl::Status Flush();

  const std::string& path() const { return path_; }

 private:
  EventWriter(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  absl::Status WriteRecord(const std::string& data);

  std::string path_;
  std::FILE* file_;
  absl::Status status_;  // the first write error; sticky
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_EVENT_WRITER_H_
