#include "eval/bleu/score_files.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "eval/bleu/python_text.h"

namespace fathom::eval {
namespace {

// A whole file and its lines, split on '\n' only (Python's open(newline="\n")), each checked
// to be UTF-8 and stripped of trailing whitespace like the lines sacreBLEU's CLI reads.
struct TextFile {
  std::string path;
  std::string contents;
  std::vector<absl::string_view> lines;
};

absl::StatusOr<TextFile> ReadLines(const std::string& path) {
  TextFile file;
  file.path = path;
  absl::StatusOr<std::string> contents = ReadFileToString(path);
  if (!contents.ok()) return contents.status();
  file.contents = *std::move(contents);
  absl::string_view rest = file.contents;
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    absl::string_view line = rest.substr(0, newline);
    rest = newline == absl::string_view::npos ? absl::string_view() : rest.substr(newline + 1);
    size_t bad = 0;
    if (!IsValidUtf8(line, &bad)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", file.lines.size() + 1, ": invalid UTF-8 at byte ", bad + 1, " of the line"));
    }
    file.lines.push_back(PythonRstrip(line));
  }
  return file;
}

template <typename Scorer>
absl::Status AddAll(const std::vector<absl::string_view>& hyps,
                    const std::vector<std::vector<absl::string_view>>& refs, Scorer* scorer) {
  std::vector<absl::string_view> segment_refs(refs.size());
  for (size_t i = 0; i < hyps.size(); ++i) {
    for (size_t k = 0; k < refs.size(); ++k) segment_refs[k] = refs[k][i];
    absl::Status status = scorer->Add(hyps[i], segment_refs);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("segment ", i + 1, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Metric> ParseMetric(absl::string_view name) {
  if (name == "bleu") return Metric::kBleu;
  if (name == "chrf") return Metric::kChrf;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown metric '", name, "' (expected bleu or chrf)"));
}

absl::StatusOr<ScoreResult> ScoreLines(const std::vector<absl::string_view>& hyps,
                                       const std::vector<std::vector<absl::string_view>>& refs,
                                       const ScoreOptions& options) {
  if (hyps.empty()) return absl::InvalidArgumentError("no hypotheses to score");
  if (refs.empty()) return absl::InvalidArgumentError("no references to score against");
  for (size_t k = 0; k < refs.size(); ++k) {
    if (refs[k].size() != hyps.size()) {
      return absl::InvalidArgumentError(absl::StrCat(hyps.size(), " hypotheses but reference ",
                                                     k + 1, " has ", refs[k].size(), " lines"));
    }
  }
  ScoreResult result;
  result.segments = static_cast<int64_t>(hyps.size());
  if (options.metric == Metric::kBleu) {
    BleuScorer scorer(options.bleu);
    absl::Status status = AddAll(hyps, refs, &scorer);
    if (!status.ok()) return status;
    const BleuScore score = scorer.Score();
    result.name = "BLEU";
    result.score = score.score;
    result.line = score.Format(options.width);
    result.signature = scorer.Signature();
    result.stats = scorer.stats().ToVector();
  } else {
    ChrfScorer scorer(options.chrf);
    absl::Status status = AddAll(hyps, refs, &scorer);
    if (!status.ok()) return status;
    const ChrfScore score = scorer.Score();
    result.name = score.name;
    result.score = score.score;
    result.line = score.Format(options.width);
    result.signature = scorer.Signature();
    result.stats = scorer.stats().values;
  }
  return result;
}

absl::StatusOr<ScoreResult> ScoreFiles(const std::string& hyp_path,
                                       const std::vector<std::string>& ref_paths,
                                       const ScoreOptions& options) {
  if (ref_paths.empty()) return absl::InvalidArgumentError("no reference files given");
  absl::StatusOr<TextFile> hyp = ReadLines(hyp_path);
  if (!hyp.ok()) return hyp.status();
  if (hyp->lines.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(hyp_path, ": empty, nothing to score"));
  }
  std::vector<TextFile> refs;
  refs.reserve(ref_paths.size());
  for (const std::string& path : ref_paths) {
    absl::StatusOr<TextFile> ref = ReadLines(path);
    if (!ref.ok()) return ref.status();
    if (ref->lines.size() != hyp->lines.size()) {
      return absl::InvalidArgumentError(absl::StrCat("line counts differ: ", hyp_path, " has ",
                                                     hyp->lines.size(), " lines, ", path, " has ",
                                                     ref->lines.size()));
    }
    refs.push_back(*std::move(ref));
  }
  // sacreBLEU drops empty references and fails on a segment left with none; say where.
  for (size_t i = 0; i < hyp->lines.size(); ++i) {
    bool any = false;
    for (const TextFile& ref : refs) any = any || !ref.lines[i].empty();
    if (!any) {
      std::vector<std::string> names;
      for (const TextFile& ref : refs) names.push_back(absl::StrCat(ref.path, ":", i + 1));
      return absl::InvalidArgumentError(
          absl::StrCat(absl::StrJoin(names, ", "),
                       ": empty reference line (sacreBLEU refuses a segment without one)"));
    }
  }
  std::vector<std::vector<absl::string_view>> ref_lines;
  ref_lines.reserve(refs.size());
  for (const TextFile& ref : refs) ref_lines.push_back(ref.lines);
  return ScoreLines(hyp->lines, ref_lines, options);
}

}  // namespace fathom::eval
