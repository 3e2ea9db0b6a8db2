// `fathom translate --checkpoint PATH [--input FILE] [--output FILE]`, on one rank or many.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/logging.h"
#include "comm/communicator_factory.h"
#include "data/line_reader.h"
#include "eval/translate/translator.h"
#include "launch/command_line.h"
#include "launch/common_flags.h"
#include "launch/subcommands.h"

ABSL_FLAG(std::string, checkpoint, "", "checkpoint directory, or a run directory (its newest valid checkpoint)");
ABSL_FLAG(std::string, input, "", "source text, one sentence a line (.gz read too); stdin when empty");
ABSL_FLAG(int32_t, beam, 4, "beam size");
ABSL_FLAG(int32_t, nbest, 1, "hypotheses per sentence (printed tab-separated, best first)");
ABSL_FLAG(double, length_penalty, 1.0, "alpha: a hypothesis scores log p / length^alpha");
ABSL_FLAG(double, max_len_a, 1.2, "output at most max_len_a * source length + max_len_b pieces");
ABSL_FLAG(int32_t, max_len_b, 10, "see --max_len_a");
ABSL_FLAG(int32_t, max_tokens, 4096, "source pieces per batch (beams included)");
ABSL_FLAG(int32_t, threads, 0, "LibTorch threads per rank; 0 = cores / local ranks");

namespace fathom::launch {
namespace {

absl::StatusOr<std::vector<std::string>> ReadInput(const std::string& path) {
  std::vector<std::string> lines;
  if (path.empty()) {
    std::string line;
    while (std::getline(std::cin, line)) lines.push_back(line);
    return lines;
  }
  auto reader = data::LineReader::Open(path);
  if (!reader.ok()) return reader.status();
  std::string line;
  while ((*reader)->Next(&line)) lines.push_back(line);
  if (!(*reader)->status().ok()) return (*reader)->status();
  return lines;
}

int RunTranslate(const std::vector<std::string>& args) {
  if (!args.empty() || absl::GetFlag(FLAGS_checkpoint).empty()) {
    std::cerr << "usage: fathom translate --checkpoint PATH [--input FILE] [--output FILE]\n";
    return kExitUsage;
  }
  auto comm = comm::CreateCommunicator(comm::Backend::kAuto, /*cuda=*/false);
  if (!comm.ok()) {
    FLOG(Error) << comm.status().message();
    return kExitError;
  }
  const int rank = (*comm)->rank(), size = (*comm)->size();
  LogOptions log;
  log.rank = rank;
  SetLogOptions(log);
  torch::set_num_threads(comm::ThreadsPerRank(**comm, absl::GetFlag(FLAGS_threads)));

  auto model = eval::LoadInferenceModel(absl::GetFlag(FLAGS_checkpoint));
  if (!model.ok()) {
    FLOG(Error) << model.status().message();
    return kExitError;
  }
  auto lines = ReadInput(absl::GetFlag(FLAGS_input));
  if (!lines.ok()) {
    FLOG(Error) << lines.status().message();
    return kExitError;
  }
  if (lines->empty()) {
    FLOG(Error) << (absl::GetFlag(FLAGS_input).empty() ? "stdin" : absl::GetFlag(FLAGS_input)) << ": no input lines";
    return kExitError;
  }
  FLOG(Info) << "translating " << lines->size() << " lines with " << model->checkpoint_dir << " (step "
             << model->step << ") on " << size << " rank(s)";
  // Rank r takes lines r, r + R, ...; rank 0 gathers them back in order.
  std::vector<std::string> mine;
  for (size_t i = rank; i < lines->size(); i += size) mine.push_back((*lines)[i]);
  eval::TranslateOptions options;
  options.beam.beam = absl::GetFlag(FLAGS_beam);
  options.beam.nbest = absl::GetFlag(FLAGS_nbest);
  options.beam.alpha = absl::GetFlag(FLAGS_length_penalty);
  options.beam.max_len_a = absl::GetFlag(FLAGS_max_len_a);
  options.beam.max_len_b = absl::GetFlag(FLAGS_max_len_b);
  options.max_tokens = absl::GetFlag(FLAGS_max_tokens);
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  const auto translations = eval::Translate(*model, mine, options, [&](int64_t done, int64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_report).count() < 10 && done < total) return;
    last_report = now;
    const double seconds = std::chrono::duration<double>(now - start).count();
    const double rate = done / std::max(seconds, 1e-9);
    FLOG(Info) << absl::StrFormat("%d/%d sentences | %.1f sentences/s | eta %.0f s", done, total, rate,
                                  (total - done) / std::max(rate, 1e-9));
  });
  std::string packed;
  for (const auto& nbest : translations) absl::StrAppend(&packed, absl::StrJoin(nbest, "\t"), "\n");
  auto gathered = (*comm)->AllGatherBytes(packed);
  if (!gathered.ok()) {
    FLOG(Error) << gathered.status().message();
    return kExitError;
  }
  if (rank != 0) return kExitOk;
  std::vector<std::vector<std::string>> per_rank(size);
  for (int r = 0; r < size; ++r) {
    per_rank[r] = absl::StrSplit((*gathered)[r], '\n');
    per_rank[r].pop_back();  // the final newline
  }
  std::string text;
  for (size_t i = 0; i < lines->size(); ++i) absl::StrAppend(&text, per_rank[i % size][i / size], "\n");
  const std::string output = absl::GetFlag(FLAGS_output);
  if (output.empty()) {
    std::cout << text << std::flush;
  } else {
    std::ofstream out(output, std::ios::binary);
    out << text;
    if (!out) {
      FLOG(Error) << output << ": cannot write";
      return kExitError;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  FLOG(Info) << absl::StrFormat("translated %d lines in %.1f s (%.1f sentences/s)", lines->size(), seconds,
                                lines->size() / std::max(seconds, 1e-9));
  return kExitOk;
}

}  // namespace

Subcommand TranslateSubcommand() {
  return {"translate",
          "beam-search translation with a checkpoint (run R ranks with mpirun -np R)",
          "[mpirun -np R] fathom translate --checkpoint PATH [--input FILE] [--output FILE] [--beam K]",
          {"checkpoint", "input", "output", "beam", "nbest", "length_penalty", "max_len_a", "max_len_b",
           "max_tokens", "threads"},
          RunTranslate};
}

}  // namespace fathom::launch
