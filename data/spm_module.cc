// Compiled into libfathom_spm.so only (see spm_bridge.h for why it is a separate module).
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <unordered_map>

#include "data/spm_bridge.h"

namespace fathom::data::spm {
namespace {

class VectorIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorIterator(const std::vector<std::string>& sentences) : sentences_(sentences) {}
  bool done() const override { return index_ >= sentences_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return sentences_[index_]; }
  sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

 private:
  const std::vector<std::string>& sentences_;
  size_t index_ = 0;
};

class SpmProcessor : public Processor {
 public:
  sentencepiece::SentencePieceProcessor sp;

  void Encode(std::string_view text, std::vector<int>* ids) const override {
    ids->clear();
    // Encode fails only on an unloaded model, which Load() rules out.
    sp.Encode(text, ids).IgnoreError();
  }
  std::string Decode(const std::vector<int>& ids) const override {
    std::string text;
    sp.Decode(ids, &text).IgnoreError();
    return text;
  }
  int Size() const override { return sp.GetPieceSize(); }
  std::string IdToPiece(int id) const override { return sp.IdToPiece(id); }
  int pad_id() const override { return sp.pad_id(); }
  int unk_id() const override { return sp.unk_id(); }
  int bos_id() const override { return sp.bos_id(); }
  int eos_id() const override { return sp.eos_id(); }
};

class SpmBackend : public Backend {
 public:
  std::unique_ptr<Processor> Load(const std::string& model_bytes, std::string* error) override {
    auto processor = std::make_unique<SpmProcessor>();
    const auto status = processor->sp.LoadFromSerializedProto(model_bytes);
    if (!status.ok()) {
      *error = status.ToString();
      return nullptr;
    }
    return processor;
  }

  std::string Train(const std::vector<std::string>& sentences, const TrainOptions& options,
                    std::string* model_bytes) override {
    const std::unordered_map<std::string, std::string> args = {
        {"model_type", options.model_type},
        {"vocab_size", std::to_string(options.vocab_size)},
        {"character_coverage", std::to_string(options.character_coverage)},
        {"pad_id", std::to_string(options.pad_id)},
        {"unk_id", std::to_string(options.unk_id)},
        {"bos_id", std::to_string(options.bos_id)},
        {"eos_id", std::to_string(options.eos_id)},
        {"num_threads", std::to_string(options.num_threads)},
        // The caller already sampled; keep every sentence, in order, for a deterministic model.
        {"input_sentence_size", "0"},
        {"shuffle_input_sentence", "false"},
        {"max_sentence_length", "65536"},
        {"minloglevel", "2"},
    };
    VectorIterator iterator(sentences);
    const auto status = sentencepiece::SentencePieceTrainer::Train(args, &iterator, model_bytes);
    return status.ok() ? "" : status.ToString();
  }
};

}  // namespace
}  // namespace fathom::data::spm

extern "C" __attribute__((visibility("default"))) fathom::data::spm::Backend* fathom_spm_backend() {
  static auto* backend = new fathom::data::spm::SpmBackend();
  return backend;
}
