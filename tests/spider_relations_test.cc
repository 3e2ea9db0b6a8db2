#include "prepare/spider_relations.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "data/batch.h"
#include "data/relation_store.h"
#include "data/shard_dataset.h"
#include "data/shard_format.h"
#include "data/vocabulary.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prepare/prepare.h"
#include "prepare/relation_writer.h"
#include "prepare/schema_linking.h"
#include "prepare/shard_writer.h"
#include "prepare/spider_reader.h"
#include "prepare/spider_segments.h"
#include "proto/config_io.h"
#include "tests/test_util.h"

namespace fathom::prepare {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

// Debian's absl::string_view prints char by char in gmock failures; a std::string prints whole.
std::string Message(const absl::Status& status) { return std::string(status.message()); }

// ---- Schema linking ----

TEST(SchemaLinkingTest, WordsAreLowerCasedAlphanumericRunsWithPluralsFolded) {
  EXPECT_THAT(MatchWords("Singers' NAMES, in_class (2019)?"),
              ElementsAre("singer", "name", "in", "class", "2019"));
  EXPECT_THAT(MatchWords("caf\u00e9s status"), ElementsAre("caf\u00e9", "statu"));
  EXPECT_TRUE(MatchWords("*").empty());
}

TEST(SchemaLinkingTest, ExactNeedsTheWholeNamePartialOneNonStopword) {
  const QuestionLinker linker({"Who", "is", "the", "oldest", "singer,", "by", "singer", "ID?"});
  EXPECT_THAT(
      linker.Match("singer id"),
      ElementsAre(NameMatch::kNone, NameMatch::kNone, NameMatch::kNone, NameMatch::kNone,
                  NameMatch::kPartial, NameMatch::kNone, NameMatch::kExact, NameMatch::kExact));
  // "is" and "the" are stopwords: they never link alone, but do inside a whole-name match.
  EXPECT_THAT(linker.Match("the age is"),
              ElementsAre(NameMatch::kNone, NameMatch::kNone, NameMatch::kNone, NameMatch::kNone,
                          NameMatch::kNone, NameMatch::kNone, NameMatch::kNone, NameMatch::kNone));
  EXPECT_THAT(linker.Match("is the oldest"),
              ElementsAre(NameMatch::kNone, NameMatch::kExact, NameMatch::kExact, NameMatch::kExact,
                          NameMatch::kNone, NameMatch::kNone, NameMatch::kNone, NameMatch::kNone));
  EXPECT_THAT(linker.Match("*"), ::testing::Each(NameMatch::kNone));
}

// ---- Segment relations on a hand-made schema ----

// singer(singer id PK, name, last concert id) and concert(concert id PK, singer id -> singer,
// concert name, date of the concert).
SpiderSchema HandMadeSchema() {
  SpiderSchema schema;
  schema.db_id = "concerts_db";
  schema.table_names = {"singer", "concert"};
  schema.table_names_original = {"Singer", "Concert"};
  schema.columns = {{"*", "*", "text", -1},
                    {"singer id", "Singer_ID", "number", 0},
                    {"name", "Name", "text", 0},
                    {"concert id", "Concert_ID", "number", 1},
                    {"singer id", "Singer_ID", "number", 1},
                    {"concert name", "Concert_Name", "text", 1},
                    {"date of the concert", "Date_of_the_Concert", "time", 1}};
  schema.primary_keys = {1, 3};
  schema.foreign_keys = {{4, 1}};
  return schema;
}

constexpr char kQuestion[] = "What is the concert name of singers?";

class SegmentRelationsTest : public ::testing::Test {
 protected:
  void SetUp() override { Compute(HandMadeSchema()); }

  void Compute(const SpiderSchema& schema) {
    segments_ = SegmentSpiderInput(kQuestion, schema);
    relations_ = ComputeSegmentRelations(segments_, schema);
    ASSERT_EQ(relations_.size(), segments_.size() * segments_.size());
  }

  int Find(SegmentKind kind, int item) const {
    for (size_t s = 0; s < segments_.size(); ++s) {
      if (segments_[s].kind == kind && segments_[s].item == item) return static_cast<int>(s);
    }
    ADD_FAILURE() << "no segment of kind " << static_cast<int>(kind) << " item " << item;
    return 0;
  }
  int Q(int word) const { return Find(SegmentKind::kQuestionWord, word); }
  int T(int table) const { return Find(SegmentKind::kTable, table); }
  int C(int column) const { return Find(SegmentKind::kColumn, column); }
  int Db() const { return Find(SegmentKind::kDbId, -1); }

  // data::Relation of segment a to b, by name so failures read well.
  std::string R(int a, int b) const {
    return data::RelationName(relations_[a * segments_.size() + b]);
  }
  static std::string Name(data::Relation r) { return data::RelationName(static_cast<int>(r)); }

  std::vector<SpiderSegment> segments_;
  std::vector<uint8_t> relations_;
};

TEST_F(SegmentRelationsTest, SegmentsSpellTheSerialisation) {
  EXPECT_EQ(SerializeSpiderInput(kQuestion, HandMadeSchema()),
            "What is the concert name of singers? | concerts_db | * | singer : singer_id , name "
            "| concert : concert_id , singer_id , concert_name , date_of_the_concert");
  ASSERT_EQ(segments_.size(), 27u);
  EXPECT_EQ(segments_[6].text, "singers?");
  EXPECT_EQ(segments_[6].item, 6);
  EXPECT_EQ(segments_[8].kind, SegmentKind::kDbId);
  EXPECT_EQ(segments_[10].text, "*");
  EXPECT_EQ(segments_[10].item, 0);
  EXPECT_EQ(segments_[22].text, "singer_id");
  EXPECT_EQ(segments_[22].item, 4);
}

TEST_F(SegmentRelationsTest, QuestionWordDistancesAreClipped) {
  EXPECT_EQ(R(Q(3), Q(3)), Name(data::Relation::kQuestionDistance0));
  EXPECT_EQ(R(Q(0), Q(1)), Name(data::Relation::kQuestionDistancePlus1));
  EXPECT_EQ(R(Q(0), Q(2)), Name(data::Relation::kQuestionDistancePlus2));
  EXPECT_EQ(R(Q(0), Q(6)), Name(data::Relation::kQuestionDistancePlus2));
  EXPECT_EQ(R(Q(3), Q(2)), Name(data::Relation::kQuestionDistanceMinus1));
  EXPECT_EQ(R(Q(6), Q(4)), Name(data::Relation::kQuestionDistanceMinus2));
  EXPECT_EQ(R(Q(6), Q(0)), Name(data::Relation::kQuestionDistanceMinus2));
}

TEST_F(SegmentRelationsTest, ExactAndPartialNameMatchesBothWays) {
  // "concert name" is words 3-4; "name" alone is word 4.
  EXPECT_EQ(R(Q(3), C(5)), Name(data::Relation::kQuestionColumnExact));
  EXPECT_EQ(R(Q(4), C(5)), Name(data::Relation::kQuestionColumnExact));
  EXPECT_EQ(R(C(5), Q(3)), Name(data::Relation::kColumnQuestionExact));
  EXPECT_EQ(R(C(5), Q(4)), Name(data::Relation::kColumnQuestionExact));
  EXPECT_EQ(R(Q(4), C(2)), Name(data::Relation::kQuestionColumnExact));
  EXPECT_EQ(R(Q(3), C(2)), Name(data::Relation::kNone));
  // Tables: "concert" (word 3) and "singers?" (word 6, plural and punctuation dropped).
  EXPECT_EQ(R(Q(3), T(1)), Name(data::Relation::kQuestionTableExact));
  EXPECT_EQ(R(T(1), Q(3)), Name(data::Relation::kTableQuestionExact));
  EXPECT_EQ(R(Q(6), T(0)), Name(data::Relation::kQuestionTableExact));
  EXPECT_EQ(R(T(0), Q(6)), Name(data::Relation::kTableQuestionExact));
  EXPECT_EQ(R(Q(4), T(1)), Name(data::Relation::kNone));
  // Partial: one word of "singer id" / "concert id" / "date of the concert".
  EXPECT_EQ(R(Q(6), C(1)), Name(data::Relation::kQuestionColumnPartial));
  EXPECT_EQ(R(C(1), Q(6)), Name(data::Relation::kColumnQuestionPartial));
  EXPECT_EQ(R(Q(6), C(4)), Name(data::Relation::kQuestionColumnPartial));
  EXPECT_EQ(R(Q(3), C(3)), Name(data::Relation::kQuestionColumnPartial));
  EXPECT_EQ(R(C(3), Q(3)), Name(data::Relation::kColumnQuestionPartial));
  EXPECT_EQ(R(Q(3), C(6)), Name(data::Relation::kQuestionColumnPartial));
  EXPECT_EQ(R(Q(5), C(6)), Name(data::Relation::kNone)) << "\"of\" is a stopword";
  EXPECT_EQ(R(Q(2), C(6)), Name(data::Relation::kNone)) << "\"the\" is a stopword";
  EXPECT_EQ(R(Q(0), C(1)), Name(data::Relation::kNone));
}

TEST_F(SegmentRelationsTest, SchemaStructure) {
  // Belongs-to / has-column, replaced by the primary-key relations for keys.
  EXPECT_EQ(R(C(2), T(0)), Name(data::Relation::kColumnBelongsToTable));
  EXPECT_EQ(R(T(0), C(2)), Name(data::Relation::kTableHasColumn));
  EXPECT_EQ(R(C(5), T(1)), Name(data::Relation::kColumnBelongsToTable));
  EXPECT_EQ(R(C(4), T(1)), Name(data::Relation::kColumnBelongsToTable));
  EXPECT_EQ(R(C(2), T(1)), Name(data::Relation::kNone));
  EXPECT_EQ(R(C(1), T(0)), Name(data::Relation::kColumnPrimaryKeyOfTable));
  EXPECT_EQ(R(T(0), C(1)), Name(data::Relation::kTablePrimaryKeyColumn));
  EXPECT_EQ(R(C(3), T(1)), Name(data::Relation::kColumnPrimaryKeyOfTable));
  EXPECT_EQ(R(T(1), C(3)), Name(data::Relation::kTablePrimaryKeyColumn));
  // Same table, unless a foreign key says more.
  EXPECT_EQ(R(C(1), C(2)), Name(data::Relation::kColumnSameTable));
  EXPECT_EQ(R(C(2), C(1)), Name(data::Relation::kColumnSameTable));
  EXPECT_EQ(R(C(3), C(6)), Name(data::Relation::kColumnSameTable));
  EXPECT_EQ(R(C(4), C(3)), Name(data::Relation::kColumnSameTable));
  EXPECT_EQ(R(C(2), C(5)), Name(data::Relation::kNone));
  // concert.singer_id -> singer.singer_id.
  EXPECT_EQ(R(C(4), C(1)), Name(data::Relation::kColumnForeignKeyForward));
  EXPECT_EQ(R(C(1), C(4)), Name(data::Relation::kColumnForeignKeyBackward));
  EXPECT_EQ(R(T(1), T(0)), Name(data::Relation::kTableForeignKeyForward));
  EXPECT_EQ(R(T(0), T(1)), Name(data::Relation::kTableForeignKeyBackward));
  // Diagonals.
  EXPECT_EQ(R(T(0), T(0)), Name(data::Relation::kSameSegment));
  EXPECT_EQ(R(C(5), C(5)), Name(data::Relation::kSameSegment));
}

TEST_F(SegmentRelationsTest, ForeignKeysBothWaysBetweenTwoTables) {
  SpiderSchema schema = HandMadeSchema();
  schema.columns.push_back({"last concert id", "Last_Concert_ID", "number", 0});
  schema.foreign_keys.push_back({7, 3});
  Compute(schema);
  EXPECT_EQ(R(T(0), T(1)), Name(data::Relation::kTableForeignKeyBoth));
  EXPECT_EQ(R(T(1), T(0)), Name(data::Relation::kTableForeignKeyBoth));
  EXPECT_EQ(R(C(7), C(3)), Name(data::Relation::kColumnForeignKeyForward));
  EXPECT_EQ(R(C(3), C(7)), Name(data::Relation::kColumnForeignKeyBackward));
  EXPECT_EQ(R(C(7), C(1)), Name(data::Relation::kColumnSameTable));
}

TEST_F(SegmentRelationsTest, StarDbIdAndSeparatorsRelateToNothing) {
  const int n = static_cast<int>(segments_.size());
  const int star = C(0);
  for (int s = 0; s < n; ++s) {
    const bool separator = segments_[s].kind == SegmentKind::kSeparator;
    for (int other = 0; other < n; ++other) {
      if (separator || s == Db()) {
        EXPECT_EQ(R(s, other), "none") << s << " " << other;
        EXPECT_EQ(R(other, s), "none") << other << " " << s;
      }
      if (s == star && other != star) {
        EXPECT_EQ(R(s, other), "none") << other;
        EXPECT_EQ(R(other, s), "none") << other;
      }
    }
  }
  EXPECT_EQ(R(star, star), Name(data::Relation::kSameSegment));
}

TEST(RelationVocabularyTest, NamesAreDistinctAndCoverEveryId) {
  std::set<std::string> names;
  for (int r = 0; r < data::kNumRelations; ++r) names.insert(data::RelationName(r));
  EXPECT_EQ(names.size(), static_cast<size_t>(data::kNumRelations));
  EXPECT_EQ(names.count("invalid"), 0u);
  EXPECT_STREQ(data::RelationName(data::kNumRelations), "invalid");
  EXPECT_EQ(static_cast<int>(data::Relation::kSameSegment), data::kNumRelations - 1);
}

// ---- Piece expansion ----

TEST(ExpandRelationsTest, PiecesOfOneSegmentAreSameSegmentUnlessItsDiagonalIsNone) {
  constexpr uint8_t kDist0 = static_cast<uint8_t>(data::Relation::kQuestionDistance0);
  constexpr uint8_t kPlus1 = static_cast<uint8_t>(data::Relation::kQuestionDistancePlus1);
  constexpr uint8_t kMinus1 = static_cast<uint8_t>(data::Relation::kQuestionDistanceMinus1);
  constexpr uint8_t kSame = static_cast<uint8_t>(data::Relation::kSameSegment);
  constexpr uint8_t kQc = static_cast<uint8_t>(data::Relation::kQuestionColumnExact);
  constexpr uint8_t kCq = static_cast<uint8_t>(data::Relation::kColumnQuestionExact);
  // Segments: question word 0, question word 1, a separator, a column.
  const std::vector<uint8_t> segment = {kDist0,  kPlus1, 0, kQc,  //
                                        kMinus1, kDist0, 0, 0,    //
                                        0,       0,      0, 0,    //
                                        kCq,     0,      0, kSame};
  const std::vector<uint16_t> pieces = {0, 0, 1, 2, 2, 3, 3};
  const int p = static_cast<int>(pieces.size());
  const int stride = p + 2;
  std::vector<uint8_t> out(p * stride, 0xEE);
  data::ExpandRelationsToPieces(segment.data(), 4, pieces.data(), p, stride, out.data());
  auto at = [&](int i, int j) { return static_cast<int>(out[i * stride + j]); };
  EXPECT_EQ(at(0, 0), kDist0);
  EXPECT_EQ(at(0, 1), kSame);
  EXPECT_EQ(at(1, 0), kSame);
  EXPECT_EQ(at(0, 2), kPlus1);  // word distance, not piece distance
  EXPECT_EQ(at(1, 2), kPlus1);
  EXPECT_EQ(at(2, 0), kMinus1);
  EXPECT_EQ(at(3, 4), 0) << "two pieces of a separator stay none";
  EXPECT_EQ(at(3, 3), 0);
  EXPECT_EQ(at(5, 6), kSame);
  EXPECT_EQ(at(6, 6), kSame);
  EXPECT_EQ(at(1, 6), kQc);
  EXPECT_EQ(at(5, 0), kCq);
  EXPECT_EQ(at(4, 5), 0);
  for (int i = 0; i < p; ++i) {
    EXPECT_EQ(at(i, p), 0xEE) << "wrote past its row";
    EXPECT_EQ(at(i, p + 1), 0xEE) << "wrote past its row";
  }
}

// ---- Store, writer and batches on hand-written shards ----

struct TinyExample {
  std::vector<int> source, target;
  int num_segments;
  std::vector<uint8_t> relations;
  std::vector<uint16_t> piece_segments;
};

std::vector<TinyExample> TinyExamples() {
  using R = data::Relation;
  auto id = [](R r) { return static_cast<uint8_t>(r); };
  return {
      // Two segments: a two-piece question word and a one-piece column.
      {{10, 11, 12},
       {20},
       2,
       {id(R::kQuestionDistance0), id(R::kQuestionColumnPartial), id(R::kColumnQuestionPartial),
        id(R::kSameSegment)},
       {0, 0, 1}},
      // One segment of one piece.
      {{13}, {21, 22}, 1, {id(R::kSameSegment)}, {0}},
      // Three segments (odd sizes exercise the record padding).
      {{14, 15, 16, 17, 18},
       {23},
       3,
       {id(R::kQuestionDistance0), id(R::kQuestionDistancePlus1), 0, id(R::kQuestionDistanceMinus1),
        id(R::kQuestionDistance0), 0, 0, 0, 0},
       {0, 1, 1, 2, 2}},
  };
}

void WriteTinyShard(const std::string& dir) {
  auto shard = ShardWriter::Create(dir, "train", 2);
  ASSERT_TRUE(shard.ok()) << shard.status();
  auto relations = RelationWriter::Create(dir, "train");
  ASSERT_TRUE(relations.ok()) << relations.status();
  for (const TinyExample& e : TinyExamples()) {
    ASSERT_TRUE((*shard)->Add(e.source, e.target).ok());
    ASSERT_TRUE((*relations)->Add(e.num_segments, e.relations, e.piece_segments).ok());
  }
  proto::ShardHeader header;
  ASSERT_TRUE((*relations)->Finish(&header).ok());
  ASSERT_TRUE((*shard)->Finish(header).ok());
}

class RelationStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteTinyShard(dir_.path());
    auto dataset = data::ShardDataset::Open(dir_.path(), "train");
    ASSERT_TRUE(dataset.ok()) << dataset.status();
    dataset_ = *std::move(dataset);
  }

  absl::Status OpenError() { return data::RelationStore::Open(dir_.path(), *dataset_).status(); }

  testing::TempDir dir_;
  std::unique_ptr<data::ShardDataset> dataset_;
};

TEST_F(RelationStoreTest, ReadsBackWhatWasWritten) {
  const auto& header = dataset_->header();
  ASSERT_TRUE(header.has_relations());
  EXPECT_EQ(header.relations().num_relations(), data::kNumRelations);
  auto store = data::RelationStore::Open(dir_.path(), *dataset_);
  ASSERT_TRUE(store.ok()) << store.status();
  const auto examples = TinyExamples();
  ASSERT_EQ((*store)->size(), 3);
  for (int i = 0; i < 3; ++i) {
    const TinyExample& e = examples[i];
    ASSERT_EQ((*store)->num_segments(i), e.num_segments);
    ASSERT_EQ((*store)->num_pieces(i), static_cast<int>(e.source.size()));
    EXPECT_EQ(std::vector<uint16_t>((*store)->piece_segments(i),
                                    (*store)->piece_segments(i) + e.source.size()),
              e.piece_segments);
    EXPECT_EQ(std::vector<uint8_t>((*store)->segment_relations(i),
                                   (*store)->segment_relations(i) + e.relations.size()),
              e.relations);
  }
}

TEST_F(RelationStoreTest, BatchRelationsExpandPiecesAndLeaveEosAndPaddingNone) {
  auto store = data::RelationStore::Open(dir_.path(), *dataset_);
  ASSERT_TRUE(store.ok()) << store.status();
  data::BatchPlan plan;
  plan.examples = {1, 0};
  EXPECT_TRUE(MakeBatch(*dataset_, plan, data::SpecialIds{0, 2, 3}).relations.empty());
  const data::Batch batch = MakeBatch(*dataset_, plan, data::SpecialIds{0, 2, 3}, store->get());
  ASSERT_EQ(batch.source_length, 4);
  using R = data::Relation;
  auto id = [](R r) { return static_cast<uint8_t>(r); };
  const uint8_t kSame = id(R::kSameSegment);
  // Example 1: one piece, then EOS and two pads. Example 0: pieces (q q c), then EOS.
  const std::vector<uint8_t> expected = {kSame,
                                         0,
                                         0,
                                         0,  //
                                         0,
                                         0,
                                         0,
                                         0,  //
                                         0,
                                         0,
                                         0,
                                         0,  //
                                         0,
                                         0,
                                         0,
                                         0,  //
                                         id(R::kQuestionDistance0),
                                         kSame,
                                         id(R::kQuestionColumnPartial),
                                         0,  //
                                         kSame,
                                         id(R::kQuestionDistance0),
                                         id(R::kQuestionColumnPartial),
                                         0,  //
                                         id(R::kColumnQuestionPartial),
                                         id(R::kColumnQuestionPartial),
                                         kSame,
                                         0,  //
                                         0,
                                         0,
                                         0,
                                         0};
  EXPECT_EQ(batch.relations, expected);
  EXPECT_EQ(batch.source, (std::vector<int32_t>{13, 3, 0, 0, 10, 11, 12, 3}));
}

TEST_F(RelationStoreTest, TruncatedRelationsFileIsNamed) {
  const std::string path = data::ShardRelationsFile(dir_.path(), "train");
  fs::resize_file(path, fs::file_size(path) - 8);
  const std::string message = Message(OpenError());
  EXPECT_THAT(message, HasSubstr("train.relations"));
  EXPECT_THAT(message, HasSubstr("truncated"));
}

TEST_F(RelationStoreTest, CorruptRelationIdIsNamed) {
  // Example 0's record: 8 bytes of counts, 3 uint16 segments, then its 2 x 2 relations.
  const std::string path = data::ShardRelationsFile(dir_.path(), "train");
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(8 + 3 * 2 + 1);
    file.put(static_cast<char>(200));
  }
  const std::string message = Message(OpenError());
  EXPECT_THAT(message, HasSubstr("train.relations: example 0: relation id 200"));
}

TEST_F(RelationStoreTest, CorruptSegmentIndexIsNamed) {
  const std::string path = data::ShardRelationsFile(dir_.path(), "train");
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(8 + 2 * 2);  // example 0, piece 2: segment 1 of 2 becomes 7
    file.put(7);
  }
  EXPECT_THAT(Message(OpenError()), HasSubstr("train.relations: example 0: piece 2 has segment 7"));
}

TEST_F(RelationStoreTest, CorruptIndexIsNamed) {
  const std::string path = data::ShardRelationsIndexFile(dir_.path(), "train");
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(8);  // o[1]
    file.put(3);
  }
  EXPECT_THAT(Message(OpenError()), HasSubstr("train.relations.index"));
  fs::remove(path);
  EXPECT_THAT(Message(OpenError()), HasSubstr("train.relations.index: cannot open"));
}

TEST_F(RelationStoreTest, OtherRelationVocabularyOrNoneIsRefused) {
  const std::string header_path = data::ShardHeaderFile(dir_.path(), "train");
  proto::ShardHeader header = dataset_->header();
  header.mutable_relations()->set_num_relations(data::kNumRelations - 1);
  ASSERT_TRUE(WriteFileAtomic(header_path, header.SerializeAsString()).ok());
  auto older = data::ShardDataset::Open(dir_.path(), "train");
  ASSERT_TRUE(older.ok());
  const std::string message = Message(data::RelationStore::Open(dir_.path(), **older).status());
  EXPECT_THAT(message, HasSubstr("train.header: relations written with 24 relation ids"));
  EXPECT_THAT(message, HasSubstr("fathom prepare"));

  header.clear_relations();
  ASSERT_TRUE(WriteFileAtomic(header_path, header.SerializeAsString()).ok());
  auto none = data::ShardDataset::Open(dir_.path(), "train");
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(Message(data::RelationStore::Open(dir_.path(), **none).status()),
              HasSubstr("train.header: no relations recorded"));
}

TEST(RelationWriterTest, RefusesInconsistentRecords) {
  testing::TempDir dir;
  auto writer = RelationWriter::Create(dir.path(), "train");
  ASSERT_TRUE(writer.ok());
  EXPECT_THAT(Message((*writer)->Add(2, {0, 0, 0}, {0})),
              HasSubstr("3 relation ids for 2 segments"));
  EXPECT_THAT(Message((*writer)->Add(1, {data::kNumRelations}, {0})), HasSubstr("relation id 25"));
  EXPECT_THAT(Message((*writer)->Add(1, {0}, {0, 1})), HasSubstr("piece segment 1 >= 1"));
}

// ---- Real Spider: prepare, store, batches ----

constexpr int kTrainExamples = 300;
constexpr int kValidExamples = 120;

class SpiderPrepareRelationsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const std::string spider = testing::SharedDataDir() + "/spider/";
    std::ifstream in(spider + "dev.json");
    ASSERT_TRUE(in) << "Spider missing under " << spider;
    const nlohmann::json dev = nlohmann::json::parse(in);
    ASSERT_GE(dev.size(), static_cast<size_t>(kTrainExamples + kValidExamples));
    nlohmann::json train = nlohmann::json::array(), valid = nlohmann::json::array();
    for (int i = 0; i < kTrainExamples; ++i) train.push_back(dev[i]);
    for (int i = 0; i < kValidExamples; ++i) valid.push_back(dev[kTrainExamples + i]);
    testing::WriteTextFile(dir_->File("train.json"), train.dump());
    testing::WriteTextFile(dir_->File("valid.json"), valid.dump());

    data_ = new proto::DataConfig();
    data_->set_task(proto::DataConfig::TEXT_TO_SQL);
    data_->set_spider_tables(spider + "tables.json");
    auto* train_split = data_->add_split();
    train_split->set_name("train");
    train_split->set_spider_json(dir_->File("train.json"));
    train_split->set_apply_filter(false);
    // The filtered split drops its longest inputs, so relation records must follow the kept ones.
    auto* valid_split = data_->add_split();
    valid_split->set_name("valid");
    valid_split->set_spider_json(dir_->File("valid.json"));
    valid_split->set_apply_filter(true);
    data_->mutable_filter()->set_max_length(200);
    data_->mutable_filter()->set_max_length_ratio(1000);
    data_->set_prepared_dir(dir_->File("prepared"));
    data_->mutable_sentencepiece()->set_vocab_size(400);  // what 300 examples support
    ResolveDefaults(data_);
    auto report = RunPrepare(*data_, PrepareOptions{});
    ASSERT_TRUE(report.ok()) << report.status();

    auto schemas = LoadSpiderTables(spider + "tables.json");
    ASSERT_TRUE(schemas.ok()) << schemas.status();
    schemas_ = new SpiderSchemas(*std::move(schemas));
    for (const char* split : {"train", "valid"}) {
      auto examples = LoadSpiderExamples(dir_->File(absl::StrCat(split, ".json")), *schemas_);
      ASSERT_TRUE(examples.ok()) << examples.status();
      examples_[split] = *std::move(examples);
    }
  }

  static void TearDownTestSuite() {
    delete schemas_;
    delete data_;
    delete dir_;
  }

  void SetUp() override {
    ASSERT_NE(schemas_, nullptr);
    auto vocab = data::Vocabulary::Load(dir_->File("prepared/spm.model"), data_->sentencepiece());
    ASSERT_TRUE(vocab.ok()) << vocab.status();
    vocab_ = std::make_unique<data::Vocabulary>(*std::move(vocab));
  }

  static testing::TempDir* dir_;
  static proto::DataConfig* data_;
  static SpiderSchemas* schemas_;
  static std::map<std::string, std::vector<SpiderExample>> examples_;
  std::unique_ptr<data::Vocabulary> vocab_;
};

testing::TempDir* SpiderPrepareRelationsTest::dir_ = nullptr;
proto::DataConfig* SpiderPrepareRelationsTest::data_ = nullptr;
SpiderSchemas* SpiderPrepareRelationsTest::schemas_ = nullptr;
std::map<std::string, std::vector<SpiderExample>> SpiderPrepareRelationsTest::examples_;

TEST_F(SpiderPrepareRelationsTest, StoreHoldsEachExamplesSegmentsAndRelations) {
  const std::string prepared = dir_->File("prepared");
  EXPECT_TRUE(PathExists(prepared + "/train.relations"));
  EXPECT_TRUE(PathExists(prepared + "/train.relations.index"));
  auto dataset = data::ShardDataset::Open(prepared, "train");
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  ASSERT_TRUE((*dataset)->header().has_relations());
  EXPECT_EQ((*dataset)->header().relations().num_relations(), data::kNumRelations);
  auto store = data::RelationStore::Open(prepared, **dataset);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_EQ((*dataset)->size(), kTrainExamples);
  ASSERT_EQ((*store)->size(), kTrainExamples);

  std::vector<int64_t> relation_counts(data::kNumRelations, 0);
  for (int i = 0; i < kTrainExamples; ++i) {
    const SpiderExample& example = examples_["train"][i];
    const SpiderSchema& schema = schemas_->at(example.db_id);
    ASSERT_EQ((*dataset)->header().db_id(i), example.db_id);
    // Independently: encode each segment, concatenate, and compute its relations.
    const std::vector<SpiderSegment> segments = SegmentSpiderInput(example.question, schema);
    std::vector<int> ids, piece_ids;
    std::vector<uint16_t> piece_segments;
    for (size_t s = 0; s < segments.size(); ++s) {
      vocab_->Encode(segments[s].text, &piece_ids);
      ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
      piece_segments.insert(piece_segments.end(), piece_ids.size(), static_cast<uint16_t>(s));
    }
    ASSERT_EQ((*dataset)->Source(i), ids) << "example " << i;
    ASSERT_EQ((*store)->num_pieces(i), (*dataset)->source_length(i)) << "example " << i;
    ASSERT_EQ((*store)->num_segments(i), static_cast<int>(segments.size())) << "example " << i;
    EXPECT_EQ(std::vector<uint16_t>((*store)->piece_segments(i),
                                    (*store)->piece_segments(i) + ids.size()),
              piece_segments)
        << "example " << i;
    const std::vector<uint8_t> relations = ComputeSegmentRelations(segments, schema);
    const uint8_t* stored = (*store)->segment_relations(i);
    ASSERT_EQ(std::vector<uint8_t>(stored, stored + relations.size()), relations)
        << "example " << i;
    for (uint8_t r : relations) {
      ASSERT_LT(r, data::kNumRelations);
      ++relation_counts[r];
    }
  }
  // 300 questions over 20 databases use every relation; "both ways" foreign keys between two
  // tables are the rare one.
  for (int r = 0; r < data::kNumRelations; ++r) {
    if (r == static_cast<int>(data::Relation::kTableForeignKeyBoth)) continue;
    EXPECT_GT(relation_counts[r], 0) << data::RelationName(r);
  }
}

TEST_F(SpiderPrepareRelationsTest, DecodedInputStillReadsLikeTheSerialisation) {
  auto dataset = data::ShardDataset::Open(dir_->File("prepared"), "train");
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  int same_as_whole = 0;
  for (int i = 0; i < kTrainExamples; i += 7) {
    const SpiderExample& example = examples_["train"][i];
    const SpiderSchema& schema = schemas_->at(example.db_id);
    const std::string decoded = vocab_->Decode((*dataset)->Source(i));
    // unk pieces decode as " ⁇ "; the questions here use only characters the model covers.
    EXPECT_THAT(decoded, HasSubstr(example.question)) << "example " << i;
    EXPECT_THAT(decoded, HasSubstr(absl::StrCat(" | ", example.db_id, " | * | ")))
        << "example " << i;
    for (const std::string& table : schema.table_names_original) {
      EXPECT_THAT(decoded, HasSubstr(absl::StrCat("| ", absl::AsciiStrToLower(table), " :")))
          << "example " << i;
    }
    std::vector<int> whole;
    vocab_->Encode(SerializeSpiderInput(example.question, schema), &whole);
    same_as_whole += whole == (*dataset)->Source(i);
  }
  // SentencePiece never merges across spaces, so segment-wise encoding is whole-string encoding.
  EXPECT_EQ(same_as_whole, (kTrainExamples + 6) / 7);
  EXPECT_THAT(
      vocab_->Decode((*dataset)->Source(0)),
      HasSubstr("How many singers do we have? | concert_singer | * | stadium : stadium_id"));
}

TEST_F(SpiderPrepareRelationsTest, FirstDevQuestionLinksSingersToTheSingerTable) {
  const std::string prepared = dir_->File("prepared");
  auto dataset = data::ShardDataset::Open(prepared, "train");
  ASSERT_TRUE(dataset.ok());
  auto store = data::RelationStore::Open(prepared, **dataset);
  ASSERT_TRUE(store.ok());
  // "How many singers do we have?" on concert_singer: word 2 names table 1 ("singer").
  const SpiderSchema& schema = schemas_->at("concert_singer");
  const std::vector<SpiderSegment> segments =
      SegmentSpiderInput(examples_["train"][0].question, schema);
  int singer = -1;
  for (size_t s = 0; s < segments.size(); ++s) {
    if (segments[s].kind == SegmentKind::kTable && segments[s].item == 1)
      singer = static_cast<int>(s);
  }
  ASSERT_GT(singer, 0);
  const int n = (*store)->num_segments(0);
  const uint8_t* r = (*store)->segment_relations(0);
  EXPECT_STREQ(data::RelationName(r[2 * n + singer]), "question_table_exact");
  EXPECT_STREQ(data::RelationName(r[singer * n + 2]), "table_question_exact");
  EXPECT_STREQ(data::RelationName(r[0 * n + singer]), "none");
}

TEST_F(SpiderPrepareRelationsTest, FilteredSplitKeepsRecordsAlignedAndBatchesExpandThem) {
  const std::string prepared = dir_->File("prepared");
  auto dataset = data::ShardDataset::Open(prepared, "valid");
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  const auto& filter = (*dataset)->header().filter();
  EXPECT_EQ(filter.read(), kValidExamples);
  EXPECT_GT(filter.too_long(), 0) << "raise the test's max_length cut so some inputs are dropped";
  EXPECT_GT(filter.kept(), 0);
  auto store = data::RelationStore::Open(prepared, **dataset);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_EQ((*store)->size(), filter.kept());

  data::BatchPlan plan;
  for (int64_t i = 0; i < (*dataset)->size(); ++i) plan.examples.push_back(i);
  const data::Batch batch = MakeBatch(**dataset, plan, data::SpecialIds{0, 2, 3}, store->get());
  const int64_t length = batch.source_length;
  ASSERT_EQ(batch.relations.size(), static_cast<size_t>(batch.size * length * length));
  for (int64_t b = 0; b < batch.size; ++b) {
    const int64_t e = plan.examples[b];
    const int pieces = (*dataset)->source_length(e);
    ASSERT_EQ(batch.source_lengths[b], pieces + 1);
    const uint8_t* r = batch.relations.data() + b * length * length;
    const uint16_t* seg = (*store)->piece_segments(e);
    const int n = (*store)->num_segments(e);
    const uint8_t* segment = (*store)->segment_relations(e);
    for (int i = 0; i < length; ++i) {
      for (int j = 0; j < length; ++j) {
        const uint8_t got = r[i * length + j];
        ASSERT_LT(got, data::kNumRelations);
        if (i >= pieces || j >= pieces) {
          ASSERT_EQ(got, 0) << "EOS/padding at " << i << "," << j << " of example " << e;
        } else if (seg[i] != seg[j]) {
          ASSERT_EQ(got, segment[seg[i] * n + seg[j]]) << i << "," << j << " of example " << e;
        } else if (i != j && segment[seg[i] * n + seg[i]] != 0) {
          ASSERT_EQ(got, static_cast<uint8_t>(data::Relation::kSameSegment)) << i << "," << j;
        }
      }
    }
  }
}

}  // namespace
}  // namespace fathom::prepare
