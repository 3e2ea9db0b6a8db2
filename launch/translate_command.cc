// `fathom translate --checkpoint PATH [--input FILE] [--output FILE]`, on one rank or many: parses
// the flags, picks the device, and hands the lines to eval::DistributedTranslate (decode/), the
// decoding path validation BLEU uses too.
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
#include "decode/translator.h"
#include "launch/command_line.h"
#include "launch/common_flags.h"
#include "launch/subcommands.h"

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

int RunTranslate(const std::vector<std::string>& args) {
  if (!args.empty() || absl::GetFlag(FLAGS_checkpoint).empty()) {
    std::cerr << "usage: fathom translate --checkpoint PATH [--input FILE] [--output FILE] "
                 "[--device cpu|cuda|auto] [--on_bad_line error|skip]\n";
    return kExitUsage;
  }
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

  auto model = eval::LoadInferenceModel(absl::GetFlag(FLAGS_checkpoint), *device);
  if (!model.ok()) {
    FLOG(Error) << model.status().message();
    return kExitError;
  }
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
  eval::TranslateOptions options;
  options.beam.beam = absl::GetFlag(FLAGS_beam);
  options.beam.nbest = absl::GetFlag(FLAGS_nbest);
  options.beam.alpha = absl::GetFlag(FLAGS_length_penalty);
  options.beam.max_len_a = absl::GetFlag(FLAGS_max_len_a);
  options.beam.max_len_b = absl::GetFlag(FLAGS_max_len_b);
  options.max_tokens = absl::GetFlag(FLAGS_max_tokens);
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  auto translations =
      eval::DistributedTranslate(*model, lines, options, **comm, [&](int64_t done, int64_t total) {
        const auto now = std::chrono::steady_clock::now();
        if (std::chrono::duration<double>(now - last_report).count() < 10 && done < total) return;
        last_report = now;
        const double seconds = std::chrono::duration<double>(now - start).count();
        const double rate = done / std::max(seconds, 1e-9);
        FLOG(Info) << absl::StrFormat("%d/%d sentences | %.1f sentences/s | eta %.0f s", done,
                                      total, rate, (total - done) / std::max(rate, 1e-9));
      });
  if (!translations.ok()) {
    FLOG(Error) << translations.status().message();
    return kExitError;
  }
  if (rank != 0) return kExitOk;
  std::string text;
  for (const auto& nbest : *translations) absl::StrAppend(&text, absl::StrJoin(nbest, "\t"), "\n");
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
      "beam-search translation with a checkpoint (run R ranks with mpirun -np R)",
      "[mpirun -np R] fathom translate --checkpoint PATH [--input FILE] [--output FILE] [--beam K] "
      "[--device cpu|cuda|auto] [--on_bad_line error|skip]",
      {"checkpoint", "input", "output", "beam", "nbest", "length_penalty", "max_len_a", "max_len_b",
       "max_tokens", "threads", "device", "on_bad_line"},
      RunTranslate};
}

}  // namespace fathom::launch
