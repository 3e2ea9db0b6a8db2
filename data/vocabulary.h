// A SentencePiece vocabulary with Fathom's fixed special ids, loaded from or trained into a
// .model file's bytes. Encoding is thread-safe.
#ifndef FATHOM_DATA_VOCABULARY_H_
#define FATHOM_DATA_VOCABULARY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/config.pb.h"
#include "proto/shard.pb.h"

namespace fathom::data {

namespace spm {
class Processor;
}

class Vocabulary {
 public:
  // `name` (a path) is used in errors. The model's pad/unk/bos/eos ids must equal `expected`'s.
  static absl::StatusOr<Vocabulary> FromBytes(std::string model_bytes, const std::string& name,
                                              const proto::SentencePieceConfig& expected);
  static absl::StatusOr<Vocabulary> Load(const std::string& path,
                                         const proto::SentencePieceConfig& expected);
  // Trains on `sentences` with the options of `config`.
  static absl::StatusOr<Vocabulary> Train(const std::vector<std::string>& sentences,
                                          const proto::SentencePieceConfig& config, int threads);

  Vocabulary(Vocabulary&&) noexcept;
  Vocabulary& operator=(Vocabulary&&) noexcept;
  ~Vocabulary();

  void Encode(absl::string_view text, std::vector<int>* ids) const;
  std::string Decode(const std::vector<int>& ids) const;
  int size() const;
  int pad_id() const;
  int unk_id() const;
  int bos_id() const;
  int eos_id() const;
  std::string IdToPiece(int id) const;
  const std::string& model_bytes() const { return model_bytes_; }
  uint32_t crc32c() const { return crc32c_; }

  // Header record for a shard, naming the model file inside the prepared directory.
  proto::VocabInfo Info(const std::string& model_file) const;

 private:
  Vocabulary(std::string bytes, std::unique_ptr<spm::Processor> processor);
  std::string model_bytes_;
  uint32_t crc32c_ = 0;
  std::unique_ptr<spm::Processor> processor_;
};

}  // namespace fathom::data

#endif  // FATHOM_DATA_VOCABULARY_H_
