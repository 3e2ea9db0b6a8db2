// Model selection from validations: the best K (checkpoint.keep_best) keep their checkpoints,
// and eval.patience validations in a row without improvement stop training. Metrics are higher
// is better (BLEU, or the negated loss). The state travels in checkpoints, so both survive a
// resume.
#ifndef FATHOM_TRAINER_MODEL_SELECTION_H_
#define FATHOM_TRAINER_MODEL_SELECTION_H_

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "proto/checkpoint.pb.h"
#include "proto/config.pb.h"

namespace fathom::trainer {

struct ModelSelectionOptions {
  int keep_best = 0;  // checkpoint.keep_best: 0 keeps none for being best
  int patience = 0;   // eval.patience: 0 never stops

  static ModelSelectionOptions FromProto(const proto::RunConfig& config);
};

class ModelSelection {
 public:
  explicit ModelSelection(ModelSelectionOptions options) : options_(options) {}

  // Records the validation of `step`. Returns whether it entered the best K, whose checkpoint
  // must then be saved now; logs when patience runs out.
  bool Track(int64_t step, double metric);
  // eval.patience validations in a row have not improved: training should stop.
  bool OutOfPatience() const;
  // The steps of the best K, best first: pruning keeps their checkpoints.
  std::vector<int64_t> BestSteps() const;

  void SaveTo(proto::TrainingState* state) const;
  void RestoreFrom(const proto::TrainingState& state);

 private:
  ModelSelectionOptions options_;
  std::vector<std::pair<int64_t, double>> best_;  // (step, metric), best first
  std::optional<double> best_metric_;             // best so far
  int validations_without_improvement_ = 0;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_MODEL_SELECTION_H_
