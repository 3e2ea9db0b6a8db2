// Range and consistency checks of a resolved RunConfig. Each error names the field to change,
// e.g. "data.batch.max_tokens: must be > 0 (got -1)"; all errors are reported at once.
#ifndef FATHOM_PROTO_CONFIG_VALIDATION_H_
#define FATHOM_PROTO_CONFIG_VALIDATION_H_

#include "absl/status/status.h"
#include "proto/config.pb.h"

namespace fathom {

absl::Status ValidateDataConfig(const proto::DataConfig& data);
absl::Status ValidateRunConfig(const proto::RunConfig& config);
// What `fathom train` needs beyond ValidateRunConfig (a config for `prepare` may lack it): a stop
// condition. Checked before MPI starts, data loads or an initialisation pass runs.
absl::Status ValidateTrainConfig(const proto::RunConfig& config);

// The learning-rate schedule a run uses: optim.schedule, or for AUTO the one init.method implies
// (INVERSE_SQRT_NO_WARMUP for T_FIXUP, SQRT_DECAY for DT_FIXUP, INVERSE_SQRT otherwise).
proto::OptimConfig::Schedule ResolvedSchedule(const proto::OptimConfig& optim,
                                              proto::InitConfig::Method method);

}  // namespace fathom

#endif  // FATHOM_PROTO_CONFIG_VALIDATION_H_
