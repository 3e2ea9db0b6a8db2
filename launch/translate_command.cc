// `fathom translate --checkpoint PATH [--input FILE] [--output FILE]`, on one rank or many: parses
// the flags, picks the device, and hands the lines to decode::DistributedTranslate (decode/), the
// decoding path validation BLEU uses too. With --spider_json or --text2sql_json it predicts SQL
// instead: the questions are read and encoded as `fathom prepare` encodes them, relation ids
// included (decode::PredictSql), and written as `SQL<TAB>db_id` lines for `fathom sql-eval`.
#include <torch/cuda.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/logging.h"
#include "comm/communicator_factory.h"
#include "comm/device_selection.h"
#include "data/line_reader.h"
#include "decode/sql_prediction.h"
#include "decode/translator.h"
#include "launch/command_line.h"
#include "launch/common_flags.h"
#include "launch/subcommands.h"
#include "prepare/sql_inputs.h"

ABSL_FLAG(std::string, checkpoint, "",
          "checkpoint directory, or a run directory (its newest valid checkpoint)");
ABSL_FLAG(std::string, input, "",
          "source text, one sentence a line (.gz read too); stdin when empty");
ABSL_FLAG(int32_t, beam, 4, "beam size");
ABSL_FLAG(int32_t, nbest, 1, "hypotheses per sentence (printed tab-separated, best first)");
ABSL_FLAG(double, length_penalty, 1.0, "alpha: a hypothesis scores log p / length^alpha");
ABSL_FLAG(double, max_len_a, 1.2, "output at most max_len_a * source length + max_len_b pieces");
ABSL_FLAG(int32_t, max_len_b, 10, "see --max_len_a");
ABSL_FLAG(int32_t, max_tokens, 4096, "source pieces per batch (beams included)");
ABSL_FLAG(int32_t, threads, 0, "LibTorch threads per rank; 0 = cores / local ranks");
ABSL_FLAG(std::string, device, "auto",
          "cpu, cuda (one GPU per rank: GPU local_rank) or auto (cuda when a GPU is visible)");
ABSL_FLAG(std::string, spider_json, "",
          "predict SQL: Spider questions (question, db_id; query optional), in place of --input; "
          "writes SQL<TAB>db_id per question");
ABSL_FLAG(std::string, text2sql_json, "",
          "predict SQL: a text2sql-data file (GeoQuery, ATIS), the questions of --text2sql_split");
ABSL_FLAG(std::string, text2sql_split, "test",
          "the question-split of --text2sql_json to predict: train, dev or test");
ABSL_FLAG(std::string, gold_output, "",
          "predict SQL: also write the input's gold SQL as SQL<TAB>db_id, line-aligned with the "
          "predictions (the --gold of `fathom sql-eval`)");

namespace fathom::launch {
namespace {

// The input lines, and those --on_bad_line skip replaced by empty lines.
struct Input {
  static constexpr size_t kNamed = 5;  // errors quoted in the warning
  std::vector<std::string> lines;
  int64_t skipped = 0;
  std::vector<std::string> first_skipped;  // the first few errors, "file:line: why"
};

// Reads --input (or stdin) whole. A line that is not UTF-8 is an error naming file, line and
// byte, or with `skip_bad_lines` an empty line, so that every other line still gets translated
// and the output keeps one line per input line.
absl::StatusOr<Input> ReadInput(const std::string& path, bool skip_bad_lines) {
  auto reader = path.empty() ? data::LineReader::OpenStdin() : data::LineReader::Open(path);
  if (!reader.ok()) return reader.status();
  if (skip_bad_lines) (*reader)->KeepGoingPastInvalidUtf8();
  Input input;
  std::string line;
  while ((*reader)->Next(&line)) {
    input.lines.push_back(line);
    if ((*reader)->line_error().ok()) continue;
    if (input.first_skipped.size() < Input::kNamed) {
      input.first_skipped.emplace_back((*reader)->line_error().message());
    }
    ++input.skipped;
  }
  if (!(*reader)->status().ok()) return (*reader)->status();
  return input;
}

// Writes `text` to `path`, or to stdout when `path` is empty.
bool WriteOutput(const std::string& path, const std::string& text) {
  if (path.empty()) {
    std::cout << text << std::flush;
    return true;
  }
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (out) return true;
  FLOG(Error) << path << ": cannot write";
  return false;
}

// The SQL flags that go together; prints the problem and returns false.
bool SqlFlagsAgree(bool sql) {
  const auto usage = [](const char* problem) {
    std::cerr << "fathom translate: " << problem << "\n";
    return false;
  };
  if (!absl::GetFlag(FLAGS_spider_json).empty() && !absl::GetFlag(FLAGS_text2sql_json).empty()) {
    return usage("give --spider_json or --text2sql_json, not both");
  }
  if (sql && !absl::GetFlag(FLAGS_input).empty()) {
    return usage("--input is for text; questions come from --spider_json or --text2sql_json");
  }
  if (sql && absl::GetFlag(FLAGS_nbest) != 1) {
    return usage("--nbest: SQL predictions are one a line (SQL<TAB>db_id); use --nbest 1");
  }
  if (!sql && (!absl::GetFlag(FLAGS_tables).empty() || !absl::GetFlag(FLAGS_gold_output).empty())) {
    return usage("--tables and --gold_output go with --spider_json or --text2sql_json");
  }
  return true;
}

// The questions to predict SQL for, as `fathom prepare` would read them; the schema file
// defaults to the one the run was prepared with.
absl::StatusOr<prepare::SqlInputs> ReadSqlInputs(const decode::InferenceModel& model) {
  prepare::SqlInputFiles files;
  const std::string tables = absl::GetFlag(FLAGS_tables);
  if (!absl::GetFlag(FLAGS_spider_json).empty()) {
    files.spider_json = absl::GetFlag(FLAGS_spider_json);
    files.spider_tables = tables.empty() ? model.config.data().spider_tables() : tables;
    if (files.spider_tables.empty()) {
      return absl::InvalidArgumentError(
          "--tables: the run names no data.spider_tables; give Spider's tables.json");
    }
  } else {
    files.text2sql_json = absl::GetFlag(FLAGS_text2sql_json);
    files.text2sql_split = absl::GetFlag(FLAGS_text2sql_split);
    files.text2sql_schema = tables.empty() ? model.config.data().text2sql_schema() : tables;
  }
  return prepare::LoadSqlInputs(files, /*for_prediction=*/true);
}

// The SQL half of translate: every rank reads and encodes the questions, decodes its share, and
// rank 0 writes every prediction in input order.
int RunPredictSql(decode::InferenceModel& model, const decode::TranslateOptions& options,
                  bool skip_bad, comm::Communicator& comm, const decode::Progress& progress,
                  std::chrono::steady_clock::time_point start) {
  absl::StatusOr<prepare::SqlInputs> inputs = ReadSqlInputs(model);
  if (!inputs.ok()) {
    FLOG(Error) << inputs.status().message();
    return kExitError;
  }
  const std::string source = absl::GetFlag(FLAGS_spider_json).empty()
                                 ? absl::GetFlag(FLAGS_text2sql_json)
                                 : absl::GetFlag(FLAGS_spider_json);
  FLOG(Info) << "predicting SQL for " << inputs->examples.size() << " questions of " << source
             << " with " << model.checkpoint_dir << " (step " << model.step << ", "
             << (model.model->options().num_relations > 0 ? "with" : "without")
             << " relation ids) on " << comm.size() << " rank(s)";
  absl::StatusOr<decode::SqlPredictions> predictions =
      decode::PredictSql(model, *inputs, options, skip_bad, comm, progress);
  if (!predictions.ok()) {
    FLOG(Error) << predictions.status().message();
    return kExitError;
  }
  if (comm.rank() != 0) return kExitOk;
  if (!WriteOutput(absl::GetFlag(FLAGS_output),
                   decode::GoldFormat(predictions->sql, predictions->db_ids))) {
    return kExitError;
  }
  const std::string gold_output = absl::GetFlag(FLAGS_gold_output);
  if (!gold_output.empty()) {
    std::string gold = decode::GoldFormat(predictions->gold, predictions->db_ids);
    if (!WriteOutput(gold_output, gold)) return kExitError;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  FLOG(Info) << absl::StrFormat("predicted %d queries in %.1f s (%.1f questions/s)",
                                predictions->sql.size(), seconds,
                                predictions->sql.size() / std::max(seconds, 1e-9));
  if (predictions->skipped > 0) {
    FLOG(Warning) << predictions->skipped << " question(s) could not be encoded and were "
                  << "predicted as empty SQL (--on_bad_line skip): "
                  << absl::StrJoin(predictions->first_skipped, "; ")
                  << (predictions->skipped > static_cast<int64_t>(predictions->first_skipped.size())
                          ? "; ..."
                          : "");
  }
  return kExitOk;
}

int RunTranslate(const std::vector<std::string>& args) {
  if (!args.empty() || absl::GetFlag(FLAGS_checkpoint).empty()) {
    std::cerr << "usage: fathom translate --checkpoint PATH [--input FILE] [--output FILE] "
                 "[--device cpu|cuda|auto] [--on_bad_line error|skip]\n"
                 "       fathom translate --checkpoint PATH (--spider_json F | --text2sql_json F "
                 "[--text2sql_split S]) [--tables F] [--output F] [--gold_output F]\n";
    return kExitUsage;
  }
  const bool sql =
      !absl::GetFlag(FLAGS_spider_json).empty() || !absl::GetFlag(FLAGS_text2sql_json).empty();
  if (!SqlFlagsAgree(sql)) return kExitUsage;
  const std::optional<bool> skip_bad_lines = SkipBadLinesFromFlag();
  if (!skip_bad_lines) return kExitUsage;
  const std::string requested = absl::GetFlag(FLAGS_device);
  if (requested != "cpu" && requested != "cuda" && requested != "auto") {
    std::cerr << "--device: must be cpu, cuda or auto (got \"" << requested << "\")\n";
    return kExitUsage;
  }
  // Checked before the communicator exists: a CUDA communicator across ranks needs NCCL, and
  // its error would hide the plain fact that there is no GPU.
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (requested == "cuda" && gpus == 0) {
    FLOG(Error) << "--device cuda: no GPU is visible (this LibTorch has no CUDA, the driver is "
                   "missing, or CUDA_VISIBLE_DEVICES is empty); use --device cpu or auto";
    return kExitUsage;
  }
  const bool cuda = requested == "cuda" || (requested == "auto" && gpus > 0);
  auto comm = comm::CreateCommunicator(comm::Backend::kAuto, cuda);
  if (!comm.ok()) {
    FLOG(Error) << comm.status().message();
    return kExitError;
  }
  const int rank = (*comm)->rank(), size = (*comm)->size();
  LogOptions log;
  log.rank = rank;
  SetLogOptions(log);
  torch::set_num_threads(comm::ThreadsPerRank(**comm, absl::GetFlag(FLAGS_threads)));
  // One GPU per rank, by local rank, as `fathom train` binds them.
  auto device = comm::SelectDevice(requested, (*comm)->local_rank(), (*comm)->local_size(), gpus);
  if (!device.ok()) {
    FLOG(Error) << "rank " << rank << ": --device " << requested << ": "
                << absl::StripPrefix(device.status().message(), "distributed.device: ");
    return kExitUsage;
  }

  auto model = decode::LoadInferenceModel(absl::GetFlag(FLAGS_checkpoint), *device);
  if (!model.ok()) {
    FLOG(Error) << model.status().message();
    return kExitError;
  }
  const int relations = static_cast<int>(model->model->options().num_relations);
  if (!sql && relations > 0) {
    FLOG(Error) << model->checkpoint_dir << ": the encoder is relation-aware (" << relations
                << " relation ids) and text lines carry none; give the questions with "
                   "--spider_json or --text2sql_json, which computes them as prepare did";
    return kExitUsage;
  }
  decode::TranslateOptions options;
  options.beam.beam = absl::GetFlag(FLAGS_beam);
  options.beam.nbest = absl::GetFlag(FLAGS_nbest);
  options.beam.alpha = absl::GetFlag(FLAGS_length_penalty);
  options.beam.max_len_a = absl::GetFlag(FLAGS_max_len_a);
  options.beam.max_len_b = absl::GetFlag(FLAGS_max_len_b);
  options.max_tokens = absl::GetFlag(FLAGS_max_tokens);
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  const decode::Progress progress = [&](int64_t done, int64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_report).count() < 10 && done < total) return;
    last_report = now;
    const double seconds = std::chrono::duration<double>(now - start).count();
    const double rate = done / std::max(seconds, 1e-9);
    FLOG(Info) << absl::StrFormat("%d/%d sentences | %.1f sentences/s | eta %.0f s", done, total,
                                  rate, (total - done) / std::max(rate, 1e-9));
  };
  if (sql) return RunPredictSql(*model, options, *skip_bad_lines, **comm, progress, start);

  auto input = ReadInput(absl::GetFlag(FLAGS_input), *skip_bad_lines);
  if (!input.ok()) {
    FLOG(Error) << input.status().message();
    return kExitError;
  }
  const std::vector<std::string>& lines = input->lines;
  if (lines.empty()) {
    FLOG(Error) << (absl::GetFlag(FLAGS_input).empty() ? "stdin" : absl::GetFlag(FLAGS_input))
                << ": no input lines";
    return kExitError;
  }
  FLOG(Info) << "translating " << lines.size() << " lines with " << model->checkpoint_dir
             << " (step " << model->step << ") on " << size << " rank(s), rank " << rank << " on "
             << device->str();
  auto translations = decode::DistributedTranslate(*model, lines, options, **comm, progress);
  if (!translations.ok()) {
    FLOG(Error) << translations.status().message();
    return kExitError;
  }
  if (rank != 0) return kExitOk;
  std::string text;
  for (const auto& nbest : *translations) absl::StrAppend(&text, absl::StrJoin(nbest, "\t"), "\n");
  if (!WriteOutput(absl::GetFlag(FLAGS_output), text)) return kExitError;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  FLOG(Info) << absl::StrFormat("translated %d lines in %.1f s (%.1f sentences/s)", lines.size(),
                                seconds, lines.size() / std::max(seconds, 1e-9));
  // Last, where a user reading the end of the log sees it; every rank read the same input, so
  // rank 0 alone reports it.
  if (input->skipped > 0) {
    FLOG(Warning) << input->skipped << " input line(s) could not be read and were written as "
                  << "empty lines (--on_bad_line skip): "
                  << absl::StrJoin(input->first_skipped, "; ")
                  << (input->skipped > static_cast<int64_t>(input->first_skipped.size()) ? "; ..."
                                                                                         : "");
  }
  return kExitOk;
}

}  // namespace

Subcommand TranslateSubcommand() {
  return {
      "translate",
      "beam-search translation with a checkpoint, or SQL for Spider / text2sql-data questions "
      "(run R ranks with mpirun -np R)",
      "[mpirun -np R] fathom translate --checkpoint PATH [--input FILE] [--output FILE] [--beam K] "
      "[--device cpu|cuda|auto] [--on_bad_line error|skip]\n"
      "[mpirun -np R] fathom translate --checkpoint PATH (--spider_json F | --text2sql_json F "
      "[--text2sql_split S]) [--tables F] [--output F] [--gold_output F] [--beam K]",
      {"checkpoint", "input", "output", "beam", "nbest", "length_penalty", "max_len_a", "max_len_b",
       "max_tokens", "threads", "device", "on_bad_line", "spider_json", "text2sql_json",
       "text2sql_split", "tables", "gold_output"},
      RunTranslate};
}

}  // namespace fathom::launch
