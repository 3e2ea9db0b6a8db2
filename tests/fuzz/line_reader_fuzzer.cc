// LineReader on a fuzzed file, plain or gzip, read to the end the three ways callers read it:
// stopping at the first line that is not UTF-8 (prepare), going past such lines (translate
// --on_bad_line skip), and without the check (counting lines after a mismatch).
//
// Input: one flags byte, then the file. Bits 0-1 pick the way to read (0 or 3: stop, 1: go past,
// 2: no check); bit 2 gzip-compresses the file first (at level 0-9 from bits 4-7, 10 and more:
// a concatenation of two gzip members), so the gzip path sees valid streams of fuzzed text, not
// only corrupt ones. Every line returned must be at most kMaxLineBytes long and, when checked,
// valid UTF-8.
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "data/line_reader.h"
#include "data/utf8.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// A gzip file of `text` (written by zlib's gz* functions, as `gzip` writes them).
void WriteGzip(const std::string& path, std::string_view text, int level, int members) {
  for (int m = 0; m < members; ++m) {
    gzFile file = gzopen(path.c_str(), m == 0 ? "wb" : "ab");
    if (file == nullptr) __builtin_trap();
    gzsetparams(file, level, Z_DEFAULT_STRATEGY);
    const std::string_view part = members == 1 ? text
                                  : m == 0     ? text.substr(0, text.size() / 2)
                                               : text.substr(text.size() / 2);
    if (!part.empty() && gzwrite(file, part.data(), static_cast<unsigned>(part.size())) == 0) {
      __builtin_trap();
    }
    if (gzclose(file) != Z_OK) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fuzz = fathom::fuzz;
  using fathom::data::LineReader;
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const std::string path = fuzz::ScratchPath("lines.txt");
  if (flags & 4) {
    const int level = flags >> 4;
    WriteGzip(path, text, level > 9 ? 6 : level, level > 9 ? 2 : 1);
  } else {
    fuzz::WriteFileOrDie(path, text);
  }
  auto reader = LineReader::Open(path);
  if (!reader.ok()) __builtin_trap();  // the file was just written
  const int mode = flags & 3;
  if (mode == 1) (*reader)->KeepGoingPastInvalidUtf8();
  if (mode == 2) (*reader)->DisableUtf8Check();
  std::string line;
  long lines = 0;
  while ((*reader)->Next(&line)) {
    ++lines;
    if (line.size() > LineReader::kMaxLineBytes || (*reader)->line_number() != lines) {
      __builtin_trap();
    }
    if (mode != 2 && fathom::data::FindInvalidUtf8(line.data(), line.size()) >= 0) {
      __builtin_trap();
    }
  }
  return 0;
}
