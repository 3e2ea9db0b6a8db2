#include "trainer/model_selection.h"

#include <algorithm>

#include "base/logging.h"

namespace fathom::trainer {

ModelSelectionOptions ModelSelectionOptions::FromProto(const proto::RunConfig& config) {
  ModelSelectionOptions options;
  options.keep_best = config.checkpoint().keep_best();
  options.patience = config.eval().patience();
  return options;
}

bool ModelSelection::Track(int64_t step, double metric) {
  const bool improved = !best_metric_.has_value() || metric > *best_metric_;
  if (improved) best_metric_ = metric;
  validations_without_improvement_ = improved ? 0 : validations_without_improvement_ + 1;
  // The best K validations keep their checkpoints; one that enters the top K is saved now.
  bool save_now = false;
  if (options_.keep_best > 0) {
    best_.emplace_back(step, metric);
    std::stable_sort(best_.begin(), best_.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    if (static_cast<int>(best_.size()) > options_.keep_best) best_.resize(options_.keep_best);
    for (const auto& [best_step, value] : best_) {
      if (best_step == step) save_now = true;
    }
  }
  if (OutOfPatience()) {
    FLOG(Info) << "no improvement in " << validations_without_improvement_
               << " validations (patience " << options_.patience << "); stopping";
  }
  return save_now;
}

bool ModelSelection::OutOfPatience() const {
  return options_.patience > 0 && validations_without_improvement_ >= options_.patience;
}

std::vector<int64_t> ModelSelection::BestSteps() const {
  std::vector<int64_t> steps;
  for (const auto& [step, metric] : best_) steps.push_back(step);
  return steps;
}

void ModelSelection::SaveTo(proto::TrainingState* state) const {
  for (const auto& [step, metric] : best_) {
    proto::BestCheckpoint* best = state->add_best();
    best->set_step(step);
    best->set_metric(metric);
  }
  if (best_metric_.has_value()) state->set_best_metric(*best_metric_);
  state->set_validations_without_improvement(validations_without_improvement_);
}

void ModelSelection::RestoreFrom(const proto::TrainingState& state) {
  best_.clear();
  for (const proto::BestCheckpoint& best : state.best()) {
    best_.emplace_back(best.step(), best.metric());
  }
  validations_without_improvement_ = state.validations_without_improvement();
  best_metric_.reset();
  if (state.has_best_metric()) best_metric_ = state.best_metric();
}

}  // namespace fathom::trainer
