#include "decode/translator.h"

#include <numeric>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "decode/distributed_decode.h"
#include "decode/text_sources.h"

namespace fathom::decode {
namespace {

// The options with the target vocabulary's special ids, which beam search must use.
TranslateOptions WithSpecialIds(const InferenceModel& model, const TranslateOptions& options) {
  TranslateOptions out = options;
  const data::SpecialIds special = SpecialIdsOf(model);
  out.beam.pad = special.pad;
  out.beam.bos = special.bos;
  out.beam.eos = special.eos;
  return out;
}

std::vector<std::string> Detokenise(const InferenceModel& model,
                                    const std::vector<Hypothesis>& nbest) {
  std::vector<std::string> out;
  for (const Hypothesis& h : nbest) out.push_back(model.target_vocab->Decode(h.tokens));
  if (out.empty()) out.emplace_back();
  return out;
}

// Per sentence its count of hypotheses, then each as LENGTH:BYTES: a tab or newline inside a
// translation cannot shift the lines of another rank.
void Pack(const std::vector<std::string>& nbest, std::string* bytes) {
  absl::StrAppend(bytes, nbest.size(), ":");
  for (const std::string& text : nbest) absl::StrAppend(bytes, text.size(), ":", text);
}

bool ReadNumber(absl::string_view* bytes, size_t* value) {
  const size_t colon = bytes->find(':');
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(bytes->substr(0, colon), value))
    return false;
  bytes->remove_prefix(colon + 1);
  return true;
}

bool Unpack(absl::string_view* bytes, std::vector<std::string>* nbest) {
  size_t count = 0;
  if (!ReadNumber(bytes, &count)) return false;
  for (size_t k = 0; k < count; ++k) {
    size_t size = 0;
    if (!ReadNumber(bytes, &size) || size > bytes->size()) return false;
    nbest->emplace_back(bytes->substr(0, size));
    bytes->remove_prefix(size);
  }
  return true;
}

}  // namespace

data::SpecialIds SpecialIdsOf(const InferenceModel& model) {
  const data::Vocabulary& target = *model.target_vocab;
  return {static_cast<int32_t>(target.pad_id()), static_cast<int32_t>(target.bos_id()),
          static_cast<int32_t>(target.eos_id())};
}

std::vector<std::vector<std::string>> Translate(InferenceModel& model,
                                                const std::vector<std::string>& lines,
                                                const TranslateOptions& options,
                                                const Progress& progress) {
  const TranslateOptions decode = WithSpecialIds(model, options);
  const TextSources sources(lines, *model.source_vocab, SpecialIdsOf(model));
  std::vector<int64_t> all(lines.size());
  std::iota(all.begin(), all.end(), 0);
  const auto hyps = DecodeSentences(*model.model, sources, all, decode, progress);
  std::vector<std::vector<std::string>> out;
  out.reserve(hyps.size());
  for (const auto& nbest : hyps) out.push_back(Detokenise(model, nbest));
  return out;
}

absl::StatusOr<std::vector<std::vector<std::string>>> DistributedTranslate(
    InferenceModel& model, const std::vector<std::string>& lines, const TranslateOptions& options,
    comm::Communicator& comm, const Progress& progress) {
  const TextSources sources(lines, *model.source_vocab, SpecialIdsOf(model));
  return DistributedTranslateSources(model, sources, options, comm, progress);
}

absl::StatusOr<std::vector<std::vector<std::string>>> DistributedTranslateSources(
    InferenceModel& model, const DecodeSources& sources, const TranslateOptions& options,
    comm::Communicator& comm, const Progress& progress) {
  const TranslateOptions decode = WithSpecialIds(model, options);
  const RankDecoded mine = DecodeRankShare(*model.model, sources, decode, comm, progress);
  std::string packed;
  for (const auto& nbest : mine.hypotheses) Pack(Detokenise(model, nbest), &packed);
  auto gathered = comm.AllGatherBytes(packed);
  if (!gathered.ok()) return gathered.status();
  std::vector<std::vector<std::string>> out(sources.size());
  for (int r = 0; r < comm.size(); ++r) {
    absl::string_view bytes = (*gathered)[r];
    for (int64_t i : RankShare(sources.size(), r, comm.size())) {
      if (!Unpack(&bytes, &out[i])) {
        return absl::DataLossError(absl::StrCat("rank ", comm.rank(),
                                                ": the translations gathered from rank ", r,
                                                " are cut short at input ", i + 1));
      }
    }
  }
  return out;
}

}  // namespace fathom::decode
