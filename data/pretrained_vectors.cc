#include "data/pretrained_vectors.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "data/line_reader.h"

namespace fathom::data {
namespace {

constexpr char kWordStart[] = "\xE2\x96\x81";  // U+2581, SentencePiece's word-start mark

}  // namespace

absl::StatusOr<PretrainedTable> LoadPretrainedVectors(const std::string& path,
                                                      const Vocabulary& vocab) {
  std::vector<std::string> pieces(vocab.size());
  for (int id = 0; id < vocab.size(); ++id) pieces[id] = vocab.IdToPiece(id);
  return LoadPretrainedVectors(path, pieces,
                               {vocab.pad_id(), vocab.unk_id(), vocab.bos_id(), vocab.eos_id()});
}

absl::StatusOr<PretrainedTable> LoadPretrainedVectors(const std::string& path,
                                                      const std::vector<std::string>& pieces,
                                                      const std::vector<int>& special_ids) {
  // Which piece wants which word, so the file is streamed once and only needed vectors kept.
  absl::flat_hash_map<std::string, std::vector<int>> wanted;
  const int size = static_cast<int>(pieces.size());
  for (int id = 0; id < size; ++id) {
    if (std::find(special_ids.begin(), special_ids.end(), id) != special_ids.end()) continue;
    const std::string& piece = pieces[id];
    if (piece.rfind(kWordStart, 0) != 0 || piece.size() == 3) continue;
    wanted[absl::AsciiStrToLower(piece.substr(3))].push_back(id);
  }
  ASSIGN_OR_RETURN(auto reader, LineReader::Open(path));
  PretrainedTable table;
  table.vocab_size = size;
  table.covered.assign(size, 0);
  std::string line;
  std::vector<float> vector;
  while (reader->Next(&line)) {
    const size_t space = line.find(' ');
    if (space == std::string::npos || space == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", reader->line_number(), ": not \"word v1 v2 ...\""));
    }
    vector.clear();
    const char* p = line.c_str() + space;
    while (*p != '\0') {
      char* end = nullptr;
      const float value = std::strtof(p, &end);
      if (end == p) break;
      vector.push_back(value);
      p = end;
    }
    while (*p == ' ') ++p;
    if (*p != '\0') {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", reader->line_number(), ": bad number \"", std::string(p).substr(0, 20), "\""));
    }
    if (table.dim == 0) {
      table.dim = static_cast<int64_t>(vector.size());
      if (table.dim == 0) return absl::InvalidArgumentError(absl::StrCat(path, ":1: no values"));
      // The table takes vocab x dim floats: one long first line must not claim gigabytes.
      if (table.dim > kMaxPretrainedDim) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ":1: ", table.dim, " values; word vectors have at most ", kMaxPretrainedDim));
      }
      table.values.assign(static_cast<size_t>(size) * table.dim, 0.0f);
    } else if (static_cast<int64_t>(vector.size()) != table.dim) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", reader->line_number(), ": ",
                                                     vector.size(), " values, earlier lines have ",
                                                     table.dim));
    }
    ++table.file_words;
    auto it = wanted.find(line.substr(0, space));
    if (it == wanted.end()) continue;
    for (int id : it->second) {
      if (table.covered[id]) continue;  // GloVe lists each word once; keep the first anyway
      std::copy(vector.begin(), vector.end(),
                table.values.begin() + static_cast<size_t>(id) * table.dim);
      table.covered[id] = 1;
      ++table.covered_count;
    }
  }
  RETURN_IF_ERROR(reader->status());
  if (table.file_words == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": no vectors"));
  return table;
}

}  // namespace fathom::data
