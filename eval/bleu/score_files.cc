#include "eval/bleu/score_files.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "eval/bleu/python_text.h"

namespace fathom::eval {
namespace {

// A whole file and its lines, split on '\n' only (Python's open(newline="\n")), each checked
// to be UTF-8 and stripped of trailing whitespace like the lines sacreBLEU's CLI reads. The
// contents live on the heap so that the lines' views survive moving a TextFile: a std::string
// of up to 15 bytes keeps them inline and takes them along when moved (a one-line file of
// "the cat sat" then scored against whatever the stack held next).
struct TextFile {
  std::string path;
  std::unique_ptr<const std::string> contents;
  std::vector<absl::string_view> lines;
};

// Without `skipped` a line that is not UTF-8 is an error naming file:line and byte; with it, the
// line is kept as an empty line and counted there.
absl::StatusOr<TextFile> ReadLines(const std::string& path, SkippedLines* skipped) {
  TextFile file;
  file.path = path;
  absl::StatusOr<std::string> contents = ReadFileToString(path);
  if (!contents.ok()) return contents.status();
  file.contents = std::make_unique<const std::string>(*std::move(contents));
  absl::string_view rest = *file.contents;
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    absl::string_view line = rest.substr(0, newline);
    rest = newline == absl::string_view::npos ? absl::string_view() : rest.substr(newline + 1);
    size_t bad = 0;
    if (!IsValidUtf8(line, &bad)) {
      std::string error = absl::StrCat(path, ":", file.lines.size() + 1, ": invalid UTF-8 at byte ",
                                       bad + 1, " of the line");
      if (skipped == nullptr) return absl::InvalidArgumentError(error);
      skipped->Add(std::move(error));
      line = absl::string_view();
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

// Orders come from the command line (`fathom score --max_ngram_order`, --chrf_word_order). A
// negative one made a vector of 2^64 - 1 entries, and chrF's statistics were sized for one count
// of orders and filled for another; the bound keeps n-gram tables small (sacreBLEU uses 1-6).
constexpr int kMaxOrder = 32;

absl::Status CheckOptions(const ScoreOptions& options) {
  const auto in_range = [](const char* name, int value, int lo) {
    if (value >= lo && value <= kMaxOrder) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be in [", lo, ", ", kMaxOrder, "] (got ", value, ")"));
  };
  if (options.metric == Metric::kBleu) {
    return in_range("max_ngram_order", options.bleu.max_ngram_order, 1);
  }
  absl::Status status = in_range("chrF char_order", options.chrf.char_order, 1);
  if (status.ok()) status = in_range("chrF word_order", options.chrf.word_order, 0);
  if (status.ok() && options.chrf.beta < 0) {
    status = absl::InvalidArgumentError(
        absl::StrCat("chrF beta must be >= 0 (got ", options.chrf.beta, ")"));
  }
  return status;
}

// Files and line i of each, as errors name them: "hyp.txt:3, ref.txt:3".
std::string Where(const std::vector<TextFile>& files, size_t i) {
  std::vector<std::string> names;
  for (const TextFile& file : files) names.push_back(absl::StrCat(file.path, ":", i + 1));
  return absl::StrJoin(names, ", ");
}

}  // namespace

void SkippedLines::Add(std::string what) {
  ++count;
  if (first.size() < kNamed) first.push_back(std::move(what));
}

absl::StatusOr<Metric> ParseMetric(absl::string_view name) {
  if (name == "bleu") return Metric::kBleu;
  if (name == "chrf") return Metric::kChrf;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown metric '", name, "' (expected bleu or chrf)"));
}

absl::StatusOr<ScoreResult> ScoreLines(const std::vector<absl::string_view>& hyps,
                                       const std::vector<std::vector<absl::string_view>>& refs,
                                       const ScoreOptions& options) {
  if (absl::Status status = CheckOptions(options); !status.ok()) return status;
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
  if (absl::Status status = CheckOptions(options); !status.ok()) return status;
  if (ref_paths.empty()) return absl::InvalidArgumentError("no reference files given");
  SkippedLines skipped;
  SkippedLines* skip = options.skip_bad_lines ? &skipped : nullptr;
  absl::StatusOr<TextFile> hyp = ReadLines(hyp_path, skip);
  if (!hyp.ok()) return hyp.status();
  if (hyp->lines.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(hyp_path, ": empty, nothing to score"));
  }
  std::vector<TextFile> refs;
  refs.reserve(ref_paths.size());
  for (const std::string& path : ref_paths) {
    absl::StatusOr<TextFile> ref = ReadLines(path, skip);
    if (!ref.ok()) return ref.status();
    if (ref->lines.size() != hyp->lines.size()) {
      return absl::InvalidArgumentError(absl::StrCat("line counts differ: ", hyp_path, " has ",
                                                     hyp->lines.size(), " lines, ", path, " has ",
                                                     ref->lines.size()));
    }
    refs.push_back(*std::move(ref));
  }
  // sacreBLEU 2.6 scores an empty reference as one of length 0 (BleuScorer::Add does too), and a
  // segment whose references are all empty against nothing; Fathom refuses the latter, which in
  // files means misaligned lines: say where, or (skip_bad_lines) leave that segment out.
  std::vector<absl::string_view> hyp_lines;
  std::vector<std::vector<absl::string_view>> ref_lines(refs.size());
  for (size_t i = 0; i < hyp->lines.size(); ++i) {
    bool any = false;
    for (const TextFile& ref : refs) any = any || !ref.lines[i].empty();
    if (!any) {
      const std::string error = absl::StrCat(
          Where(refs, i), ": empty reference line (sacreBLEU refuses a segment without one)");
      if (skip == nullptr) return absl::InvalidArgumentError(error);
      skip->Add(absl::StrCat(error, "; segment left out"));
      continue;
    }
    hyp_lines.push_back(hyp->lines[i]);
    for (size_t k = 0; k < refs.size(); ++k) ref_lines[k].push_back(refs[k].lines[i]);
  }
  absl::StatusOr<ScoreResult> result = ScoreLines(hyp_lines, ref_lines, options);
  if (result.ok()) result->skipped = std::move(skipped);
  return result;
}

}  // namespace fathom::eval
