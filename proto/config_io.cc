#include "proto/config_io.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "proto/config_validation.h"

namespace fathom {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit CollectErrors(std::string source) : source_(std::move(source)) {}
  void AddError(int line, int column, const std::string& message) override {
    // protobuf counts from 0; editors count from 1.
    errors_.push_back(absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message));
  }
  void AddWarning(int line, int column, const std::string& message) override {
    AddError(line, column, message);
  }
  std::string Text() const { return absl::StrJoin(errors_, "\n"); }

 private:
  std::string source_;
  std::vector<std::string> errors_;
};

}  // namespace

absl::Status ParseTextProto(const std::string& text, const std::string& source_name,
                            Message* message) {
  CollectErrors errors(source_name);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, message)) {
    return absl::InvalidArgumentError(errors.Text());
  }
  return absl::OkStatus();
}

void ResolveDefaults(Message* message) {
  const auto* descriptor = message->GetDescriptor();
  const Reflection* reflection = message->GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (field->is_repeated()) {
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        for (int k = 0; k < reflection->FieldSize(*message, field); ++k) {
          ResolveDefaults(reflection->MutableRepeatedMessage(message, field, k));
        }
      }
      continue;
    }
    if (field->containing_oneof() != nullptr && !reflection->HasField(*message, field)) continue;
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_MESSAGE:
        ResolveDefaults(reflection->MutableMessage(message, field));
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        if (!reflection->HasField(*message, field))
          reflection->SetInt32(message, field, field->default_value_int32());
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        if (!reflection->HasField(*message, field))
          reflection->SetInt64(message, field, field->default_value_int64());
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        if (!reflection->HasField(*message, field))
          reflection->SetUInt32(message, field, field->default_value_uint32());
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        if (!reflection->HasField(*message, field))
          reflection->SetUInt64(message, field, field->default_value_uint64());
        break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        if (!reflection->HasField(*message, field))
          reflection->SetFloat(message, field, field->default_value_float());
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
        if (!reflection->HasField(*message, field))
          reflection->SetDouble(message, field, field->default_value_double());
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        if (!reflection->HasField(*message, field))
          reflection->SetBool(message, field, field->default_value_bool());
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        if (!reflection->HasField(*message, field))
          reflection->SetEnum(message, field, field->default_value_enum());
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        if (!reflection->HasField(*message, field))
          reflection->SetString(message, field, field->default_value_string());
        break;
    }
  }
}

absl::StatusOr<proto::RunConfig> LoadRunConfig(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  proto::RunConfig config;
  RETURN_IF_ERROR(ParseTextProto(text, path, &config));
  ResolveDefaults(&config);
  const absl::Status valid = ValidateRunConfig(config);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", valid.message()));
  }
  return config;
}

std::string ConfigToText(const Message& message) {
  std::string text;
  google::protobuf::TextFormat::Printer printer;
  printer.PrintToString(message, &text);
  return text;
}

}  // namespace fathom
