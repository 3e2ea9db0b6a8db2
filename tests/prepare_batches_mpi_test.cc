// End to end on 2 MPI ranks: rank 0 runs `fathom prepare` on a Multi30k slice, then every rank
// batches its part of the training split for one epoch; the ranks' example sets must be
// disjoint, cover every example exactly once, and carry balanced token counts. The test calls MPI
// itself on MPI_COMM_WORLD (data/ needs no comm/), so the shared main (tests/mpi_test_main.cc)
// only initialises MPI: MpiStart::kInitThread.
#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/batch.h"
#include "data/batcher.h"
#include "data/shard_dataset.h"
#include "gtest/gtest.h"
#include "tests/mpi_test_main.h"
#include "tests/test_util.h"

namespace fathom::data {
namespace {

const testing::MpiTestRegistration kMpiTest([] {
  testing::MpiTestOptions options;
  options.start = testing::MpiStart::kInitThread;
  return options;
}());

int Rank() { return testing::MpiTestRank(); }
int WorldSize() { return testing::MpiTestSize(); }

// Rank 0 makes a directory and tells the others its name.
std::string SharedTempDir() {
  char path[512] = {0};
  if (Rank() == 0) {
    std::string pattern = "/tmp/fathom_mpi_test_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    std::snprintf(path, sizeof(path), "%s", pattern.c_str());
  }
  MPI_Bcast(path, sizeof(path), MPI_CHAR, 0, MPI_COMM_WORLD);
  return path;
}

TEST(PrepareBatchesMpiTest, OneEpochOnTwoRanksCoversEveryExampleOnce) {
  ASSERT_EQ(WorldSize(), 2) << "launch with mpirun -np 2";
  const std::string dir = SharedTempDir();
  int prepare_rc = 0;
  if (Rank() == 0) {
    const std::string m30k = testing::SharedDataDir() + "/translation/multi30k/";
    testing::WriteLines(dir + "/train.de.gz", testing::ReadGzipLines(m30k + "train.de.gz", 4000));
    testing::WriteLines(dir + "/train.en.gz", testing::ReadGzipLines(m30k + "train.en.gz", 4000));
    testing::WriteTextFile(dir + "/run.pbtxt",
                           absl::StrCat(R"(
      data {
        split { name: "train" source: ")",
                                        dir, R"(/train.de.gz" target: ")", dir, R"(/train.en.gz" }
        prepared_dir: ")",
                                        dir, R"(/prepared"
        sentencepiece { vocab_size: 1200 }
        batch { max_tokens: 1024 }
      })"));
    const std::string command = absl::StrCat(testing::FathomBinary(), " prepare --config ", dir,
                                             "/run.pbtxt 2> ", dir, "/prepare.log");
    prepare_rc = std::system(command.c_str());
  }
  MPI_Bcast(&prepare_rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
  ASSERT_EQ(prepare_rc, 0) << "fathom prepare failed; see " << dir << "/prepare.log";

  auto dataset = ShardDataset::Open(dir + "/prepared", "train");
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  const int64_t n = (*dataset)->size();
  EXPECT_GT(n, 3900);
  BatchingOptions options;
  options.max_tokens = 1024;
  options.seed = 7;
  auto batcher = Batcher::Create((*dataset)->SourceLengths(), (*dataset)->TargetLengths(), options,
                                 Rank(), WorldSize());
  ASSERT_TRUE(batcher.ok()) << batcher.status();

  // Iterate exactly one epoch through Next(), building real padded batches.
  std::vector<int64_t> mine;
  int64_t padded = 0;
  int64_t batches = 0;
  const int64_t per_epoch = batcher->batches_per_epoch();
  BatchPlan plan;
  for (int64_t b = 0; b < per_epoch; ++b) {
    ASSERT_TRUE(batcher->Next(&plan));
    const Batch batch = MakeBatch(**dataset, plan, SpecialIds{0, 2, 3});
    EXPECT_LE(batch.size * std::max(batch.source_length, batch.target_length), options.max_tokens);
    mine.insert(mine.end(), batch.examples.begin(), batch.examples.end());
    padded += batch.size * std::max(batch.source_length, batch.target_length);
    ++batches;
  }
  EXPECT_EQ(batcher->position().epoch, 1);

  // Gather every rank's examples on every rank.
  int count = static_cast<int>(mine.size());
  std::vector<int> counts(WorldSize());
  MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  std::vector<int> displs(WorldSize(), 0);
  for (int r = 1; r < WorldSize(); ++r) displs[r] = displs[r - 1] + counts[r - 1];
  std::vector<int64_t> all(displs.back() + counts.back());
  MPI_Allgatherv(mine.data(), count, MPI_INT64_T, all.data(), counts.data(), displs.data(),
                 MPI_INT64_T, MPI_COMM_WORLD);
  std::vector<int> seen(n, 0);
  for (int64_t e : all) {
    ASSERT_GE(e, 0);
    ASSERT_LT(e, n);
    ++seen[e];
  }
  for (int64_t e = 0; e < n; ++e) ASSERT_EQ(seen[e], 1) << "example " << e;

  int64_t all_batches[2], all_padded[2];
  MPI_Allgather(&batches, 1, MPI_INT64_T, all_batches, 1, MPI_INT64_T, MPI_COMM_WORLD);
  MPI_Allgather(&padded, 1, MPI_INT64_T, all_padded, 1, MPI_INT64_T, MPI_COMM_WORLD);
  EXPECT_EQ(all_batches[0], all_batches[1]);
  const double imbalance = std::abs(static_cast<double>(all_padded[0] - all_padded[1])) /
                           std::max(all_padded[0], all_padded[1]);
  EXPECT_LT(imbalance, 0.05) << all_padded[0] << " vs " << all_padded[1] << " padded tokens";

  MPI_Barrier(MPI_COMM_WORLD);
  if (Rank() == 0) std::system(absl::StrCat("rm -rf ", dir).c_str());
}

}  // namespace
}  // namespace fathom::data
