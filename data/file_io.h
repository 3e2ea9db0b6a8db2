// The two file primitives of the shard readers and writers, with errors that name the path or
// say what failed: mapping a whole file read-only, and closing an output durably.
#ifndef FATHOM_DATA_FILE_IO_H_
#define FATHOM_DATA_FILE_IO_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"

namespace fathom::data {

// Maps a whole file read-only (munmap(*data, *size) to release). An empty file maps to nullptr
// with size 0.
absl::Status MapFile(const std::string& path, const uint8_t** data, size_t* size);

// Flushes, fsyncs and closes *file (set to nullptr); returns "" or what failed, with errno
// captured at the failure.
std::string FlushSyncClose(std::FILE** file);

}  // namespace fathom::data

#endif  // FATHOM_DATA_FILE_IO_H_
