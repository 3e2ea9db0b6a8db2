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

}  // namespace fathom

#endif  // FATHOM_PROTO_CONFIG_VALIDATION_H_
