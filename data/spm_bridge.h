// SentencePiece behind a wall. Debian's libsentencepiece embeds its own protobuf 3.14 and
// exports those symbols; in one process with the system libprotobuf they collide (its version
// check aborts at start-up). So SentencePiece lives in a separate module, libfathom_spm.so,
// loaded with dlopen(RTLD_DEEPBIND) so it binds to its own protobuf copy. This header is the
// interface both sides share: standard library types only (the module sees no Abseil either:
// sentencepiece_processor.h declares its own absl::string_view).
#ifndef FATHOM_DATA_SPM_BRIDGE_H_
#define FATHOM_DATA_SPM_BRIDGE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace fathom::data::spm {

struct TrainOptions {
  std::string model_type = "unigram";  // or "bpe"
  int vocab_size = 8000;
  float character_coverage = 1.0f;
  int pad_id = 0, unk_id = 1, bos_id = 2, eos_id = 3;
  int num_threads = 1;
};

class Processor {
 public:
  virtual ~Processor() = default;
  // Thread-safe: one Processor serves every encoding thread.
  virtual void Encode(std::string_view text, std::vector<int>* ids) const = 0;
  virtual std::string Decode(const std::vector<int>& ids) const = 0;
  virtual int Size() const = 0;
  virtual std::string IdToPiece(int id) const = 0;
  virtual int pad_id() const = 0;
  virtual int unk_id() const = 0;
  virtual int bos_id() const = 0;
  virtual int eos_id() const = 0;
};

// What the module exports (through one extern "C" function, fathom_spm_backend).
class Backend {
 public:
  virtual ~Backend() = default;
  // Returns nullptr and sets `error` when `model_bytes` is not a SentencePiece model.
  virtual std::unique_ptr<Processor> Load(const std::string& model_bytes, std::string* error) = 0;
  // Trains on `sentences` (already sampled by the caller); returns "" or SentencePiece's error.
  virtual std::string Train(const std::vector<std::string>& sentences, const TrainOptions& options,
                            std::string* model_bytes) = 0;
};

// Loads the module once per process. Returns nullptr and sets `error` if it cannot be found.
Backend* GetBackend(std::string* error);

}  // namespace fathom::data::spm

#endif  // FATHOM_DATA_SPM_BRIDGE_H_
