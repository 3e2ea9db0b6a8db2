// Reading, resolving and printing run configs (protobuf text format).
#ifndef FATHOM_PROTO_CONFIG_IO_H_
#define FATHOM_PROTO_CONFIG_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "proto/config.pb.h"

namespace fathom {

// Parses `text` (named `source_name` in errors). Unknown fields and malformed values are
// errors naming source_name:line:column.
absl::Status ParseTextProto(const std::string& text, const std::string& source_name,
                            google::protobuf::Message* message);

// Sets every unset optional field to its declared default, recursively, so the printed config
// shows every value a run used.
void ResolveDefaults(google::protobuf::Message* message);

// Reads, parses, resolves and validates. Errors name the file and the field.
absl::StatusOr<proto::RunConfig> LoadRunConfig(const std::string& path);

std::string ConfigToText(const google::protobuf::Message& message);

}  // namespace fathom

#endif  // FATHOM_PROTO_CONFIG_IO_H_
