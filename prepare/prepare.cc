#include "prepare/prepare.h"

#include <memory>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/file_util.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "data/line_reader.h"
#include "data/shard_format.h"
#include "data/shard_references.h"
#include "data/vocabulary.h"
#include "prepare/encode_pipeline.h"
#include "prepare/example_filter.h"
#include "prepare/relation_writer.h"
#include "prepare/reservoir_sampler.h"
#include "prepare/shard_writer.h"
#include "prepare/spider_input_encoder.h"
#include "prepare/spider_reader.h"
#include "prepare/spider_segments.h"
#include "prepare/sql_inputs.h"

namespace fathom::prepare {
namespace {

int ResolveThreads(const proto::DataConfig& data) {
  if (data.encode_threads() > 0) return data.encode_threads();
  return std::max(1u, std::thread::hardware_concurrency());
}

class Preparer {
 public:
  Preparer(const proto::DataConfig& data, const PrepareOptions& options)
      : data_(data), options_(options), threads_(ResolveThreads(data)) {}

  absl::StatusOr<PrepareReport> Run() {
    const absl::Time start = absl::Now();
    if (data_.split_size() == 0)
      return absl::InvalidArgumentError("data.split: no splits to prepare");
    // Say so now, not after hours of encoding (Commit checks again against a race).
    if (!options_.overwrite && PathExists(data_.prepared_dir())) {
      return absl::AlreadyExistsError(
          absl::StrCat(data_.prepared_dir(), " already exists (pass --overwrite to replace it)"));
    }
    if (data_.task() == proto::DataConfig::TEXT_TO_SQL) {
      for (const auto& split : data_.split()) {
        ASSIGN_OR_RETURN(SqlInputs inputs,
                         LoadSqlInputs(SqlInputFiles::FromSplit(data_, split), false));
        spider_splits_[split.name()] = std::move(inputs.examples);
        schemas_.merge(inputs.schemas);  // a db_id seen before came from the same file
      }
    } else {
      // Fail on a missing file before minutes of vocabulary training.
      for (const auto& split : data_.split()) {
        for (const std::string& path : {split.source(), split.target()}) {
          if (!PathExists(path))
            return absl::NotFoundError(
                absl::StrCat(path, ": no such file (data.split \"", split.name(), "\")"));
        }
      }
    }
    ASSIGN_OR_RETURN(StagingDir stage, StagingDir::Create(data_.prepared_dir()));
    RETURN_IF_ERROR(SetUpVocabularies(stage));
    const int token_bytes = std::max(source_vocab_->size(), target_vocab_->size()) <= 65536 ? 2 : 4;
    for (const auto& split : data_.split()) {
      ASSIGN_OR_RETURN(SplitReport split_report, PrepareSplit(split, stage, token_bytes));
      report_.splits.push_back(split_report);
    }
    if (!options_.resolved_config.empty()) {
      RETURN_IF_ERROR(WriteFileAtomic(stage.File(kPreparedConfigFile), options_.resolved_config));
    }
    RETURN_IF_ERROR(stage.Commit(options_.overwrite));
    FLOG(Info) << "prepared " << data_.prepared_dir() << " in "
               << absl::ToDoubleSeconds(absl::Now() - start) << " s";
    return report_;
  }

 private:
  absl::Status SetUpVocabularies(const StagingDir& stage) {
    const auto& spm = data_.sentencepiece();
    if (!spm.model().empty()) {
      ASSIGN_OR_RETURN(data::Vocabulary vocab, data::Vocabulary::Load(spm.model(), spm));
      joint_ = true;
      source_vocab_ = std::make_shared<data::Vocabulary>(std::move(vocab));
      target_vocab_ = source_vocab_;
    } else if (!spm.source_model().empty()) {
      ASSIGN_OR_RETURN(data::Vocabulary source, data::Vocabulary::Load(spm.source_model(), spm));
      ASSIGN_OR_RETURN(data::Vocabulary target, data::Vocabulary::Load(spm.target_model(), spm));
      joint_ = false;
      source_vocab_ = std::make_shared<data::Vocabulary>(std::move(source));
      target_vocab_ = std::make_shared<data::Vocabulary>(std::move(target));
    } else {
      RETURN_IF_ERROR(TrainVocabularies());
      report_.trained_vocabulary = true;
    }
    report_.source_vocab_size = source_vocab_->size();
    report_.target_vocab_size = target_vocab_->size();
    if (joint_) {
      RETURN_IF_ERROR(WriteFileAtomic(stage.File(kJointModelFile), source_vocab_->model_bytes()));
    } else {
      RETURN_IF_ERROR(WriteFileAtomic(stage.File(kSourceModelFile), source_vocab_->model_bytes()));
      RETURN_IF_ERROR(WriteFileAtomic(stage.File(kTargetModelFile), target_vocab_->model_bytes()));
    }
    return absl::OkStatus();
  }

  absl::Status TrainVocabularies() {
    const proto::DataSplit* train = nullptr;
    for (const auto& split : data_.split()) {
      if (split.name() == "train") train = &split;
    }
    if (train == nullptr) {
      return absl::InvalidArgumentError(
          "data.split: a split named \"train\" is needed to train SentencePiece (or give "
          "data.sentencepiece.model)");
    }
    const auto& spm = data_.sentencepiece();
    joint_ = spm.joint();
    const size_t capacity = static_cast<size_t>(spm.input_sentence_size());
    ReservoirSampler source_sample(capacity, options_.seed);
    ReservoirSampler target_sample(capacity, options_.seed + 1);
    ReservoirSampler& target_sink = joint_ ? source_sample : target_sample;
    if (data_.task() == proto::DataConfig::TEXT_TO_SQL) {
      for (const SpiderExample& example : spider_splits_.at("train")) {
        source_sample.Add(SerializeSpiderInput(example.question, schemas_.at(example.db_id)));
        target_sink.Add(example.query);
      }
    } else {
      ASSIGN_OR_RETURN(auto reader, ParallelTextSource::Open(train->source(), train->target()));
      std::vector<TextPair> chunk;
      while (true) {
        ASSIGN_OR_RETURN(const bool more, reader->NextChunk(data_.chunk_pairs(), &chunk));
        if (!more) break;
        for (const auto& pair : chunk) {
          source_sample.Add(pair.source);
          target_sink.Add(pair.target);
        }
      }
    }
    const absl::Time start = absl::Now();
    ASSIGN_OR_RETURN(data::Vocabulary source,
                     data::Vocabulary::Train(source_sample.sample(), spm, threads_));
    source_vocab_ = std::make_shared<data::Vocabulary>(std::move(source));
    if (joint_) {
      target_vocab_ = source_vocab_;
    } else {
      ASSIGN_OR_RETURN(data::Vocabulary target,
                       data::Vocabulary::Train(target_sample.sample(), spm, threads_));
      target_vocab_ = std::make_shared<data::Vocabulary>(std::move(target));
    }
    FLOG(Info) << "trained SentencePiece " << (joint_ ? "joint" : "per-side") << " model(s) on "
               << source_sample.sample().size() << " of " << source_sample.seen()
               << " sentences in " << absl::ToDoubleSeconds(absl::Now() - start) << " s";
    return absl::OkStatus();
  }

  absl::StatusOr<SplitReport> PrepareSplit(const proto::DataSplit& split, const StagingDir& stage,
                                           int token_bytes) {
    const absl::Time start = absl::Now();
    proto::ShardHeader header;
    ASSIGN_OR_RETURN(auto writer, ShardWriter::Create(stage.path(), split.name(), token_bytes));
    ExampleFilter filter(data_.filter(), split.apply_filter());
    std::unique_ptr<data::ShardReferenceWriter> references;
    if (data::KeepsReferences(split.name())) {
      references = std::make_unique<data::ShardReferenceWriter>(
          data::ShardReferencesFile(stage.path(), split.name()));
    }
    if (data_.task() == proto::DataConfig::TEXT_TO_SQL) {
      const SqlInputFiles files = SqlInputFiles::FromSplit(data_, split);
      header.add_input_file(files.examples_path());
      if (!files.schema_path().empty()) header.add_input_file(files.schema_path());
      ASSIGN_OR_RETURN(auto relations, RelationWriter::Create(stage.path(), split.name()));
      RETURN_IF_ERROR(
          WriteSpiderSplit(split, filter, *writer, *relations, references.get(), &header));
      RETURN_IF_ERROR(relations->Finish(&header));
    } else {
      header.add_input_file(split.source());
      header.add_input_file(split.target());
      ASSIGN_OR_RETURN(auto source, ParallelTextSource::Open(split.source(), split.target()));
      EncodeOptions encode;
      encode.threads = threads_;
      encode.chunk_pairs = data_.chunk_pairs();
      // The pipeline hands on token ids only; the raw targets of a split that keeps references
      // come from a second reader of the target file, in step with the chunks (which arrive in
      // input order). Those splits are small, so reading them twice costs nothing.
      std::unique_ptr<data::LineReader> raw_targets;
      if (references != nullptr) {
        ASSIGN_OR_RETURN(raw_targets, data::LineReader::Open(split.target()));
      }
      std::string raw;
      auto sink = [&](const EncodedChunk& chunk) -> absl::Status {
        for (size_t i = 0; i < chunk.source.size(); ++i) {
          if (raw_targets != nullptr && !raw_targets->Next(&raw)) {
            RETURN_IF_ERROR(raw_targets->status());
            return absl::DataLossError(
                absl::StrCat(split.target(), ": ended after ", raw_targets->line_number(),
                             " lines while being read again (changed during prepare?)"));
          }
          if (!filter.Keep(chunk.source[i].size(), chunk.target[i].size())) continue;
          RETURN_IF_ERROR(writer->Add(chunk.source[i], chunk.target[i]));
          if (references != nullptr) references->Add(raw);
        }
        return absl::OkStatus();
      };
      RETURN_IF_ERROR(EncodePairs(*source, *source_vocab_, *target_vocab_, encode, sink));
    }
    if (filter.counts().kept() == 0) {
      return absl::InvalidArgumentError(absl::StrCat("data.split \"", split.name(),
                                                     "\": no examples left (",
                                                     filter.counts().read(), " read)"));
    }
    *header.mutable_source_vocab() =
        source_vocab_->Info(joint_ ? kJointModelFile : kSourceModelFile);
    *header.mutable_target_vocab() =
        target_vocab_->Info(joint_ ? kJointModelFile : kTargetModelFile);
    *header.mutable_filter() = filter.counts();
    RETURN_IF_ERROR(writer->Finish(header));
    if (references != nullptr) RETURN_IF_ERROR(references->Finish());

    SplitReport report;
    report.split = split.name();
    report.counts = filter.counts();
    report.source_tokens = writer->source_tokens();
    report.target_tokens = writer->target_tokens();
    report.seconds = absl::ToDoubleSeconds(absl::Now() - start);
    const auto& c = report.counts;
    FLOG(Info) << "split " << split.name() << ": read " << c.read() << ", kept " << c.kept()
               << ", dropped empty " << c.empty() << ", too long " << c.too_long()
               << ", bad length ratio " << c.bad_ratio() << " (" << report.seconds << " s, "
               << static_cast<int64_t>(c.read() / std::max(report.seconds, 1e-9)) << " pairs/s)";
    return report;
  }

  // Text-to-SQL inputs (Spider's, or text2sql-data's read as Spider examples, sql_inputs.h) are
  // encoded segment by segment (spider_segments.h) so that each piece knows its question word,
  // table or column, which the relation ids of relation-aware encoders need. Prediction encodes
  // with the same SpiderInputEncoder (decode/sql_sources.h). The corpus is small (~8k questions
  // over ~200 schemas, each schema encoded once): one thread takes under a second, so the
  // parallel pipeline is not needed.
  // `references` (null for train) receives the gold SQL of each kept example.
  absl::Status WriteSpiderSplit(const proto::DataSplit& split, ExampleFilter& filter,
                                ShardWriter& writer, RelationWriter& relations,
                                data::ShardReferenceWriter* references,
                                proto::ShardHeader* header) {
    SpiderInputEncoder encoder(*source_vocab_);
    const std::vector<SpiderExample>& examples = spider_splits_.at(split.name());
    std::vector<int> target;
    for (size_t i = 0; i < examples.size(); ++i) {
      const SpiderExample& example = examples[i];
      absl::StatusOr<EncodedSpiderInput> input =
          encoder.Encode(example.question, schemas_.at(example.db_id));
      if (!input.ok()) {
        return absl::Status(
            input.status().code(),
            absl::StrCat(SqlInputFiles::FromSplit(data_, split).examples_path(), ": element ", i,
                         " (db_id ", example.db_id, "): ", input.status().message()));
      }
      target_vocab_->Encode(example.query, &target);
      if (!filter.Keep(input->ids.size(), target.size())) continue;
      RETURN_IF_ERROR(writer.Add(input->ids, target));
      RETURN_IF_ERROR(
          relations.Add(input->num_segments, input->segment_relations, input->piece_segments));
      header->add_db_id(example.db_id);
      if (references != nullptr) references->Add(example.query);
    }
    return absl::OkStatus();
  }

  const proto::DataConfig& data_;
  const PrepareOptions& options_;
  const int threads_;
  bool joint_ = true;
  std::shared_ptr<data::Vocabulary> source_vocab_;
  std::shared_ptr<data::Vocabulary> target_vocab_;
  SpiderSchemas schemas_;
  std::map<std::string, std::vector<SpiderExample>> spider_splits_;  // by split name
  PrepareReport report_;
};

}  // namespace

absl::StatusOr<PrepareReport> RunPrepare(const proto::DataConfig& data,
                                         const PrepareOptions& options) {
  return Preparer(data, options).Run();
}

}  // namespace fathom::prepare
