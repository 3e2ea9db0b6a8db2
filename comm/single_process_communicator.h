// The communicator of a world of one: every collective leaves its data as it is. For unit tests
// and 1-rank runs started without mpirun. It checks arguments as the real backends do, so code
// that would fail on many ranks fails here too. Tensors may live on any device.
#ifndef FATHOM_COMM_SINGLE_PROCESS_COMMUNICATOR_H_
#define FATHOM_COMM_SINGLE_PROCESS_COMMUNICATOR_H_

#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"

namespace fathom::comm {

class SingleProcessCommunicator : public Communicator {
 public:
  SingleProcessCommunicator();

  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }

  absl::Status AllReduce(torch::Tensor& t, ReduceOp op) override;
  std::shared_ptr<Work> AllReduceAsync(torch::Tensor t, ReduceOp op) override;
  absl::Status Broadcast(torch::Tensor& t, int root) override;
  using Communicator::AllGather;
  absl::StatusOr<std::vector<int64_t>> AllGather(int64_t value) override;
  absl::StatusOr<std::vector<double>> AllGather(double value) override;
  absl::StatusOr<std::vector<std::string>> AllGatherBytes(const std::string& bytes) override;
  absl::Status Barrier() override;
  // With no peers nothing can stall a collective.
  void SetTimeout(absl::Duration) override {}
  std::string Describe() const override;

 private:
  std::string where_;  // RankLabel for errors
};

std::unique_ptr<Communicator> CreateSingleProcessCommunicator();

}  // namespace fathom::comm

#endif  // FATHOM_COMM_SINGLE_PROCESS_COMMUNICATOR_H_
