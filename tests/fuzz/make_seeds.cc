// Writes the binary seeds of the checkpoint, shard and relations harnesses with the project's own
// writers (WriteCheckpoint, ShardWriter, RelationWriter), in the harnesses' input layout: a flags
// byte, then the files (fuzz_util.h, JoinLengthPrefixed). Run by tests/fuzz/make_seeds.sh:
//
//   fathom_fuzz_seeds CORPUS_DIR SHARED_DATA_DIR
//
// The relations seeds are real Spider inputs: dev.json questions against their tables.json
// schemas, segmented and related as `fathom prepare` does (one or two pieces a segment stand in
// for SentencePiece, which the sanitizer build cannot load).
#include <torch/torch.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "base/file_util.h"
#include "checkpoint/checkpoint_io.h"
#include "data/shard_format.h"
#include "data/shard_references.h"
#include "prepare/relation_writer.h"
#include "prepare/shard_writer.h"
#include "prepare/spider_reader.h"
#include "prepare/spider_relations.h"
#include "prepare/spider_segments.h"
#include "tests/fuzz/fuzz_util.h"

namespace fathom::fuzz {
namespace {

void Check(const absl::Status& status) {
  if (!status.ok()) {
    std::fprintf(stderr, "make_seeds: %s\n", std::string(status.message()).c_str());
    std::exit(1);
  }
}

std::string Read(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  Check(bytes.status());
  return *bytes;
}

void WriteSeed(const std::string& dir, const std::string& name, char flags,
               const std::vector<std::string>& files) {
  Check(MakeDirs(dir));
  WriteFileOrDie(dir + "/" + name, std::string(1, flags) + JoinLengthPrefixed(files));
}

// A fresh directory under `scratch` for one writer run.
std::string Fresh(const std::string& scratch, const std::string& name) {
  const std::string dir = scratch + "/" + name;
  Check(RemoveTree(dir));
  Check(MakeDirs(dir));
  return dir;
}

void CheckpointSeeds(const std::string& corpus, const std::string& scratch) {
  const std::string out = corpus + "/checkpoint";
  torch::manual_seed(1);
  const checkpoint::NamedTensors varied = {
      {"model.embed", torch::randn({3, 4})},
      {"model.omega", torch::tensor(1.5)},  // 0-dim
      {"optim.step", torch::tensor(std::vector<int64_t>{7, -1})},
      {"optim.bf16", torch::randn({5}).to(torch::kBFloat16)},
      {"optim.f16", torch::randn({2}).to(torch::kHalf)},
      {"optim.f64", torch::randn({2, 2}, torch::kDouble)},
      {"mask", torch::tensor(std::vector<int32_t>{1, 0, 1}).to(torch::kBool)},
      {"bytes", torch::zeros({0, 5}, torch::kUInt8)},  // no elements
      {"ids", torch::tensor(std::vector<int32_t>{3, 1, 4})},
  };
  proto::TrainingState state;
  state.set_epoch(2);
  state.mutable_iterator()->set_epoch(2);
  state.mutable_iterator()->set_index(5);
  state.mutable_iterator()->set_batches_per_epoch(40);
  state.add_rng_state("rank0-generator-state");
  state.set_loss_scale(1024);
  state.add_dt_fixup_mu(0.25);
  state.set_config_text("model { encoder_layers: 1 decoder_layers: 1 }\n");
  state.set_world_size(1);
  state.add_best()->set_step(1);
  int seed = 0;
  for (const checkpoint::NamedTensors& tensors :
       {varied, checkpoint::NamedTensors{}, checkpoint::NamedTensors{varied[0]}}) {
    const std::string run = Fresh(scratch, "run");
    Check(checkpoint::WriteCheckpoint(run, 1, tensors, state));
    const std::vector<std::string> files = {Read(run + "/checkpoints/00000001/meta.pb"),
                                            Read(run + "/checkpoints/00000001/tensors.bin"),
                                            Read(run + "/checkpoints/LATEST")};
    // As written; then asking the harness to fix the checksums and to read LATEST too.
    WriteSeed(out, "written-" + std::to_string(seed), 0, files);
    WriteSeed(out, "latest-" + std::to_string(seed), 7, files);
    ++seed;
  }
}

void ShardSeeds(const std::string& corpus, const std::string& scratch) {
  const char* const kReferences[] = {"A man in an orange hat starring at something.",
                                     "A Boston Terrier is running on lush green grass.", "",
                                     "Eine Gruppe von M\u00e4nnern l\u00e4dt Baumwolle."};
  const std::vector<std::pair<std::vector<int>, std::vector<int>>> examples = {
      {{4, 17, 250, 9}, {4, 30, 31, 5}}, {{}, {6}}, {{70000 % 65536, 12}, {}}, {{8}, {9, 10, 11}}};
  for (int token_bytes : {2, 4}) {
    for (size_t count : {examples.size(), size_t{1}, size_t{0}}) {
      const std::string dir = Fresh(scratch, "shard");
      auto writer = prepare::ShardWriter::Create(dir, "train", token_bytes);
      Check(writer.status());
      for (size_t i = 0; i < count; ++i) {
        std::vector<int> source = examples[i].first;
        if (token_bytes == 4) source.push_back(100000 + static_cast<int>(i));
        Check((*writer)->Add(source, examples[i].second));
      }
      proto::ShardHeader header;
      header.add_input_file("train.de");
      header.add_input_file("train.en");
      Check((*writer)->Finish(header));
      // The raw targets, one line an example, as `fathom prepare` keeps them for validation.
      data::ShardReferenceWriter references(data::ShardReferencesFile(dir, "train"));
      for (size_t i = 0; i < count; ++i) references.Add(kReferences[i]);
      Check(references.Finish());
      const std::string name = std::to_string(token_bytes) + "-" + std::to_string(count);
      WriteSeed(
          corpus + "/shard", "written-" + name, 0,
          {Read(data::ShardHeaderFile(dir, "train")), Read(data::ShardIndexFile(dir, "train")),
           Read(data::ShardTokensFile(dir, "train")),
           Read(data::ShardReferencesFile(dir, "train"))});
    }
  }
}

void RelationSeeds(const std::string& corpus, const std::string& scratch,
                   const std::string& shared) {
  auto schemas = prepare::LoadSpiderTables(shared + "/spider/tables.json");
  Check(schemas.status());
  auto examples = prepare::LoadSpiderExamples(shared + "/spider/dev.json", *schemas);
  Check(examples.status());
  for (size_t first : {size_t{0}, size_t{500}, size_t{1000}}) {
    const std::string dir = Fresh(scratch, "relations");
    auto writer = prepare::ShardWriter::Create(dir, "train", 2);
    Check(writer.status());
    auto relations = prepare::RelationWriter::Create(dir, "train");
    Check(relations.status());
    proto::ShardHeader header;
    for (size_t i = first; i < first + 2 && i < examples->size(); ++i) {
      const prepare::SpiderExample& example = (*examples)[i];
      const prepare::SpiderSchema& schema = schemas->at(example.db_id);
      const auto segments = prepare::SegmentSpiderInput(example.question, schema);
      const std::vector<uint8_t> segment_relations =
          prepare::ComputeSegmentRelations(segments, schema);
      std::vector<uint16_t> piece_segments;
      std::vector<int> source;
      for (size_t s = 0; s < segments.size(); ++s) {
        // Longer names take two pieces, as SentencePiece would split them.
        for (int piece = 0; piece < (segments[s].text.size() > 6 ? 2 : 1); ++piece) {
          piece_segments.push_back(static_cast<uint16_t>(s));
          source.push_back(4 + static_cast<int>(segments[s].text.size()));
        }
      }
      Check(
          (*relations)->Add(static_cast<int>(segments.size()), segment_relations, piece_segments));
      Check((*writer)->Add(source, {5, 6, 7}));
      header.add_db_id(example.db_id);
    }
    Check((*relations)->Finish(&header));
    Check((*writer)->Finish(header));
    WriteSeed(
        corpus + "/relations", "spider-dev-" + std::to_string(first), 0,
        {Read(data::ShardHeaderFile(dir, "train")), Read(data::ShardIndexFile(dir, "train")),
         Read(data::ShardTokensFile(dir, "train")), Read(data::ShardRelationsFile(dir, "train")),
         Read(data::ShardRelationsIndexFile(dir, "train"))});
  }
}

}  // namespace
}  // namespace fathom::fuzz

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR SHARED_DATA_DIR\n", argv[0]);
    return 2;
  }
  const std::string corpus = argv[1];
  const std::string scratch = fathom::fuzz::ScratchDir();
  fathom::fuzz::CheckpointSeeds(corpus, scratch);
  fathom::fuzz::ShardSeeds(corpus, scratch);
  fathom::fuzz::RelationSeeds(corpus, scratch, argv[2]);
  return 0;
}
