// ReadCheckpoint on a fuzzed meta.pb and tensors.bin, and ReadLatestValid on a run directory
// holding that checkpoint and a fuzzed LATEST.
//
// Input: one flags byte, then three files (tests/fuzz/fuzz_util.h, SplitLengthPrefixed): meta.pb,
// tensors.bin, LATEST. meta.pb is checksummed, which mutation alone almost never gets right, so
// the flags let the harness make the checksums agree and the checks behind them run: bit 0
// rewrites meta.pb's CRC-32C trailer; bit 1 (when the body parses as a CheckpointMeta) first sets
// tensors_file_size and tensors_file_crc32c to the real file's and each tensor's crc32c to that of
// its bytes, where they lie inside the file; bit 2 calls ReadLatestValid too.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/crc32c.h"
#include "checkpoint/checkpoint_io.h"
#include "google/protobuf/stubs/logging.h"
#include "proto/checkpoint.pb.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// meta.pb's last 5 bytes: tag 0x7D (field 15, fixed32), then the CRC-32C of all bytes before.
void AppendMetaCrc(std::string* meta) {
  const uint32_t crc = fathom::Crc32c(*meta);
  meta->push_back(static_cast<char>(0x7D));
  for (int i = 0; i < 4; ++i) meta->push_back(static_cast<char>((crc >> (8 * i)) & 0xFF));
}

}  // namespace

// protobuf logs each string field that is not UTF-8 as it parses it; mutated headers hold many.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fuzz = fathom::fuzz;
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  const std::vector<std::string_view> parts =
      fuzz::SplitLengthPrefixed({reinterpret_cast<const char*>(data) + 1, size - 1}, 3);
  std::string meta(parts[0]);
  const std::string_view tensors = parts[1];
  if (flags & 3) {
    // The body without a trailer that looks like one.
    if (meta.size() >= 5 && static_cast<unsigned char>(meta[meta.size() - 5]) == 0x7D) {
      meta.resize(meta.size() - 5);
    }
    fathom::proto::CheckpointMeta parsed;
    if ((flags & 2) && parsed.ParseFromString(meta)) {
      parsed.set_tensors_file_size(tensors.size());
      parsed.set_tensors_file_crc32c(fathom::Crc32c(tensors.data(), tensors.size()));
      for (fathom::proto::TensorMeta& entry : *parsed.mutable_tensor()) {
        if (entry.offset() <= tensors.size() && entry.size() <= tensors.size() - entry.offset()) {
          entry.set_crc32c(fathom::Crc32c(tensors.data() + entry.offset(), entry.size()));
        }
      }
      parsed.clear_meta_crc32c();
      meta = parsed.SerializeAsString();
    }
    AppendMetaCrc(&meta);
  }
  static const std::string step_dir = fuzz::ScratchSubdir("run/checkpoints/00000001");
  fuzz::WriteFileOrDie(step_dir + "/meta.pb", meta);
  fuzz::WriteFileOrDie(step_dir + "/tensors.bin", tensors);
  static const std::string latest_path = fuzz::ScratchPath("run/checkpoints/LATEST");
  fuzz::WriteFileOrDie(latest_path, parts[2]);

  auto loaded = fathom::checkpoint::ReadCheckpoint(step_dir);
  double sum = 0;
  if (loaded.ok()) {
    for (const auto& [name, tensor] : loaded->tensors) sum += static_cast<double>(tensor.numel());
  }
  if (flags & 4) {
    std::vector<std::string> skipped;
    auto latest = fathom::checkpoint::ReadLatestValid(fuzz::ScratchDir() + "/run", &skipped);
    sum += static_cast<double>(skipped.size()) + (latest.ok() ? 1 : 0);
  }
  return sum < 0 ? 1 : 0;
}
