#include "comm/single_process_communicator.h"

#include "absl/strings/str_cat.h"
#include "comm/pending_work.h"
#include "comm/tensor_checks.h"

namespace fathom::comm {

SingleProcessCommunicator::SingleProcessCommunicator() : where_(RankLabel(0, 1, HostName())) {}

absl::Status SingleProcessCommunicator::AllReduce(torch::Tensor& t, ReduceOp /*op*/) {
  absl::Status status = CheckTensor(t, "AllReduce", where_, /*cpu_only=*/false);
  if (status.ok()) status = CheckReducibleDtype(t, "AllReduce", where_);
  // Sum, max and the average over one rank are all the tensor itself.
  return status;
}

std::shared_ptr<Work> SingleProcessCommunicator::AllReduceAsync(torch::Tensor t, ReduceOp op) {
  return PendingWork::Finished(AllReduce(t, op));
}

absl::Status SingleProcessCommunicator::Broadcast(torch::Tensor& t, int root) {
  absl::Status status = CheckTensor(t, "Broadcast", where_, /*cpu_only=*/false);
  if (status.ok()) status = CheckRoot(root, 1, "Broadcast", where_);
  return status;
}

absl::StatusOr<std::vector<int64_t>> SingleProcessCommunicator::AllGather(int64_t value) {
  return std::vector<int64_t>{value};
}

absl::StatusOr<std::vector<double>> SingleProcessCommunicator::AllGather(double value) {
  return std::vector<double>{value};
}

absl::StatusOr<std::vector<std::string>> SingleProcessCommunicator::AllGatherBytes(
    const std::string& bytes) {
  return std::vector<std::string>{bytes};
}

absl::Status SingleProcessCommunicator::Barrier() { return absl::OkStatus(); }

std::string SingleProcessCommunicator::Describe() const {
  return absl::StrCat("single-process communicator, ", where_);
}

std::unique_ptr<Communicator> CreateSingleProcessCommunicator() {
  return std::make_unique<SingleProcessCommunicator>();
}

}  // namespace fathom::comm
