// LoadRunConfig on a fuzzed protobuf text file: parsing, defaults and every validation rule, then
// the resolved config printed as every run prints it and parsed back.
#include <cstdint>
#include <string>

#include "google/protobuf/stubs/logging.h"
#include "proto/config.pb.h"
#include "proto/config_io.h"
#include "tests/fuzz/fuzz_util.h"

// protobuf logs each string field that is not UTF-8 as it serializes it ("\377" is valid text
// format); the fuzzer makes many.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fuzz = fathom::fuzz;
  static const std::string path = fuzz::ScratchPath("config.pbtxt");
  fuzz::WriteFileOrDie(path, {reinterpret_cast<const char*>(data), size});
  auto config = fathom::LoadRunConfig(path);
  if (!config.ok()) return 0;
  // What a run writes (PREPARED/config.pbtxt, RUN/config.pbtxt) must read back as the same config.
  const std::string text = fathom::ConfigToText(*config);
  fathom::proto::RunConfig again;
  if (!fathom::ParseTextProto(text, "printed config", &again).ok() ||
      again.SerializeAsString() != config->SerializeAsString()) {
    __builtin_trap();
  }
  return 0;
}
