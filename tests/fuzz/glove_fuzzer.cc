// LoadPretrainedVectors on a fuzzed GloVe text file (plain or gzip, "word v1 v2 ... vd" a line)
// for a small fixed vocabulary: special pieces, word-start pieces (some upper-case, one repeated
// word), inner pieces and the bare word-start mark. The vocabulary is given as its pieces, since
// the SentencePiece module cannot be loaded under AddressSanitizer (data/spm_bridge.h).
#include <cstdint>
#include <string>
#include <vector>

#include "data/pretrained_vectors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fuzz = fathom::fuzz;
  static const std::vector<std::string> kPieces = {
      "<pad>",     "<unk>",           "<s>",       "</s>",
      "\u2581the", "\u2581,",         "\u2581.",   "\u2581dog",
      "\u2581Dog", "\u2581house",     "s",         "ing",
      "\u2581",    "\u2581caf\u00e9", "\u2581a",   "\u2581of",
      "\u25810.5", "\u2581\u00fcber", "\u2581man", "ed"};
  static const std::vector<int> kSpecial = {0, 1, 2, 3};
  static const std::string path = fuzz::ScratchPath("vectors.txt");
  fuzz::WriteFileOrDie(path, {reinterpret_cast<const char*>(data), size});
  auto table = fathom::data::LoadPretrainedVectors(path, kPieces, kSpecial);
  if (!table.ok()) return 0;
  // Every covered row was copied in full, every other row is zero.
  if (table->vocab_size != static_cast<int64_t>(kPieces.size()) ||
      table->values.size() != static_cast<size_t>(table->vocab_size * table->dim) ||
      table->dim < 1 || table->dim > fathom::data::kMaxPretrainedDim) {
    __builtin_trap();
  }
  for (int id : kSpecial) {
    if (table->covered[id]) __builtin_trap();
  }
  return 0;
}
