#include "decode/sql_prediction.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "data/relations.h"

namespace fathom::decode {
namespace {

constexpr size_t kNamedProblems = 5;

}  // namespace

std::string OneLine(absl::string_view sql) {
  std::string out(absl::StripAsciiWhitespace(sql));
  for (char& c : out) {
    if (c == '\t' || c == '\r' || c == '\n') c = ' ';
  }
  return out;
}

std::string GoldFormat(const std::vector<std::string>& sql,
                       const std::vector<std::string>& db_ids) {
  std::string out;
  for (size_t i = 0; i < sql.size(); ++i) absl::StrAppend(&out, sql[i], "\t", db_ids[i], "\n");
  return out;
}

absl::StatusOr<SqlSources> SqlSourcesFor(const InferenceModel& model,
                                         const prepare::SqlInputs& inputs) {
  const int64_t relations = model.model->options().num_relations;
  if (relations > 0 && relations != data::kNumRelations) {
    return absl::FailedPreconditionError(absl::StrCat(
        model.checkpoint_dir, ": the relation-aware encoder knows ", relations,
        " relation ids, this build computes ", data::kNumRelations,
        " (data/relations.h): the model was trained on data prepared by another version"));
  }
  return SqlSources(inputs.examples, inputs.schemas, *model.source_vocab, SpecialIdsOf(model),
                    relations > 0);
}

absl::StatusOr<SqlPredictions> PredictSql(InferenceModel& model, const prepare::SqlInputs& inputs,
                                          const TranslateOptions& options, bool skip_bad,
                                          comm::Communicator& comm, const Progress& progress) {
  absl::StatusOr<SqlSources> sources = SqlSourcesFor(model, inputs);
  if (!sources.ok()) return sources.status();
  SqlPredictions out;
  for (int64_t i = 0; i < sources->size(); ++i) {
    const std::string& problem = sources->problem(i);
    if (problem.empty()) continue;
    // Every rank encoded the same inputs, so every rank fails here alike.
    if (!skip_bad) {
      return absl::InvalidArgumentError(
          absl::StrCat(problem, " (--on_bad_line skip predicts empty SQL for it)"));
    }
    ++out.skipped;
    if (out.first_skipped.size() < kNamedProblems) out.first_skipped.push_back(problem);
  }
  absl::StatusOr<std::vector<std::vector<std::string>>> hypotheses =
      DistributedTranslateSources(model, *sources, options, comm, progress);
  if (!hypotheses.ok()) return hypotheses.status();
  for (size_t i = 0; i < inputs.examples.size(); ++i) {
    const std::vector<std::string>& nbest = (*hypotheses)[i];
    out.sql.push_back(nbest.empty() ? std::string() : OneLine(nbest.front()));
    out.db_ids.push_back(inputs.examples[i].db_id);
    out.gold.push_back(OneLine(inputs.examples[i].query));
  }
  return out;
}

}  // namespace fathom::decode
