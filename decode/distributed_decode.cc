#include "decode/distributed_decode.h"

namespace fathom::decode {

std::vector<int64_t> RankShare(int64_t sentences, int rank, int size) {
  std::vector<int64_t> share;
  for (int64_t i = rank; i < sentences; i += size) share.push_back(i);
  return share;
}

RankDecoded DecodeRankShare(models::Seq2SeqImpl& model, const DecodeSources& sources,
                            const DecodeOptions& options, const comm::Communicator& comm,
                            const Progress& progress) {
  RankDecoded out;
  out.sentences = RankShare(sources.size(), comm.rank(), comm.size());
  out.hypotheses = DecodeSentences(model, sources, out.sentences, options, progress);
  return out;
}

}  // namespace fathom::decode
