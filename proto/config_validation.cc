#include "proto/config_validation.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fathom {
namespace {

// Collects "field: problem" lines.
class Checker {
 public:
  template <typename T>
  void Positive(const std::string& field, T value) {
    if (!(value > 0)) Fail(field, absl::StrCat("must be > 0 (got ", value, ")"));
  }
  template <typename T>
  void NonNegative(const std::string& field, T value) {
    if (!(value >= 0)) Fail(field, absl::StrCat("must be >= 0 (got ", value, ")"));
  }
  void Probability(const std::string& field, float value) {
    if (!(value >= 0.0f && value < 1.0f))
      Fail(field, absl::StrCat("must be in [0, 1) (got ", value, ")"));
  }
  void Fail(const std::string& field, const std::string& problem) {
    errors_.push_back(absl::StrCat(field, ": ", problem));
  }
  absl::Status Result() const {
    if (errors_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrJoin(errors_, "; "));
  }

 private:
  std::vector<std::string> errors_;
};

bool IsSplitName(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

void CheckData(const proto::DataConfig& data, Checker& check) {
  std::set<std::string> names;
  int spider_splits = 0;
  for (int i = 0; i < data.split_size(); ++i) {
    const auto& split = data.split(i);
    const std::string field = absl::StrCat("data.split[", i, "]");
    if (!IsSplitName(split.name())) {
      check.Fail(field + ".name",
                 absl::StrCat("must match [a-z0-9_]+ (got \"", split.name(), "\")"));
    } else if (!names.insert(split.name()).second) {
      check.Fail(field + ".name", absl::StrCat("\"", split.name(), "\" is used by two splits"));
    }
    if (data.task() == proto::DataConfig::TRANSLATION) {
      if (split.source().empty()) check.Fail(field + ".source", "required for task TRANSLATION");
      if (split.target().empty()) check.Fail(field + ".target", "required for task TRANSLATION");
      if (!split.spider_json().empty())
        check.Fail(field + ".spider_json", "only for task TEXT_TO_SQL");
      if (!split.text2sql_json().empty())
        check.Fail(field + ".text2sql_json", "only for task TEXT_TO_SQL");
    } else {
      if (split.spider_json().empty() == split.text2sql_json().empty()) {
        check.Fail(field + ".spider_json",
                   "task TEXT_TO_SQL needs one of spider_json (Spider) and text2sql_json "
                   "(text2sql-data: GeoQuery, ATIS)");
      }
      spider_splits += split.spider_json().empty() ? 0 : 1;
      if (!split.source().empty() || !split.target().empty()) {
        check.Fail(field + ".source", "only for task TRANSLATION (use spider_json)");
      }
    }
    if (!split.text2sql_split().empty() && split.text2sql_json().empty()) {
      check.Fail(field + ".text2sql_split", "only with text2sql_json");
    }
  }
  if (spider_splits > 0 && data.spider_tables().empty()) {
    check.Fail("data.spider_tables", "required for spider_json splits of task TEXT_TO_SQL");
  }
  if (data.prepared_dir().empty()) check.Fail("data.prepared_dir", "must not be empty");
  check.NonNegative("data.encode_threads", data.encode_threads());
  check.Positive("data.chunk_pairs", data.chunk_pairs());

  const auto& spm = data.sentencepiece();
  const bool per_side = !spm.source_model().empty() || !spm.target_model().empty();
  if (per_side && (spm.source_model().empty() || spm.target_model().empty())) {
    check.Fail("data.sentencepiece.source_model", "source_model and target_model go together");
  }
  if (per_side && !spm.model().empty()) {
    check.Fail("data.sentencepiece.model", "give either model or source_model/target_model");
  }
  if (spm.vocab_size() <= 4) {
    check.Fail("data.sentencepiece.vocab_size",
               absl::StrCat("must be > 4 (got ", spm.vocab_size(), ")"));
  }
  if (!(spm.character_coverage() > 0.0f && spm.character_coverage() <= 1.0f)) {
    check.Fail("data.sentencepiece.character_coverage",
               absl::StrCat("must be in (0, 1] (got ", spm.character_coverage(), ")"));
  }
  check.Positive("data.sentencepiece.input_sentence_size", spm.input_sentence_size());
  const std::vector<std::pair<std::string, int>> ids = {{"pad_id", spm.pad_id()},
                                                        {"unk_id", spm.unk_id()},
                                                        {"bos_id", spm.bos_id()},
                                                        {"eos_id", spm.eos_id()}};
  std::set<int> seen;
  for (const auto& [name, id] : ids) {
    if (id < 0 || id >= 4) {
      check.Fail("data.sentencepiece." + name, absl::StrCat("must be in [0, 4) (got ", id, ")"));
    } else if (!seen.insert(id).second) {
      check.Fail("data.sentencepiece." + name,
                 absl::StrCat("id ", id, " is already used by another special piece"));
    }
  }

  check.NonNegative("data.filter.max_length", data.filter().max_length());
  const float ratio = data.filter().max_length_ratio();
  if (!(ratio == 0.0f || ratio >= 1.0f)) {
    check.Fail("data.filter.max_length_ratio",
               absl::StrCat("must be 0 (off) or >= 1 (got ", ratio, ")"));
  }
  check.Positive("data.batch.max_tokens", data.batch().max_tokens());
  check.Positive("data.batch.bucket_width", data.batch().bucket_width());
  check.Positive("data.batch.size_multiple", data.batch().size_multiple());
}

void CheckModel(const proto::ModelConfig& model, Checker& check) {
  check.Positive("model.encoder_layers", model.encoder_layers());
  check.Positive("model.decoder_layers", model.decoder_layers());
  check.Positive("model.d_model", model.d_model());
  check.Positive("model.heads", model.heads());
  check.Positive("model.ffn_dim", model.ffn_dim());
  if (model.heads() > 0 && model.d_model() % model.heads() != 0) {
    check.Fail("model.heads", absl::StrCat("must divide model.d_model (", model.d_model(), " % ",
                                           model.heads(), " != 0)"));
  }
  check.Probability("model.dropout", model.dropout());
  check.Probability("model.attention_dropout", model.attention_dropout());
  check.Probability("model.activation_dropout", model.activation_dropout());
  check.Positive("model.max_positions", model.max_positions());
}

void CheckInit(const proto::InitConfig& init, Checker& check) {
  if (init.method() == proto::InitConfig::ADMIN) {
    check.Positive("init.admin_profile_batches", init.admin_profile_batches());
  }
  if (init.method() == proto::InitConfig::DT_FIXUP) {
    check.Positive("init.dt_fixup_qk_gain", init.dt_fixup_qk_gain());
  }
}

// The schedule against warmup_steps and max_steps. A Fixup trains without warm-up: AUTO with a
// warm-up is ambiguous (the implied schedule has none) and refused; a named schedule is the
// config's own choice, and the trainer logs a warning.
void CheckSchedule(const proto::OptimConfig& optim, proto::InitConfig::Method method,
                   Checker& check) {
  const proto::OptimConfig::Schedule schedule = ResolvedSchedule(optim, method);
  const std::string name = absl::StrCat(
      proto::OptimConfig::Schedule_Name(schedule),
      optim.schedule() == proto::OptimConfig::AUTO
          ? absl::StrCat(" (implied by init.method ", proto::InitConfig::Method_Name(method), ")")
          : "");
  const bool no_warmup = schedule == proto::OptimConfig::INVERSE_SQRT_NO_WARMUP ||
                         schedule == proto::OptimConfig::SQRT_DECAY;
  if (optim.warmup_steps() < -1) {
    check.Fail("optim.warmup_steps",
               absl::StrCat("must be >= 0, or -1 for the schedule's own (got ",
                            optim.warmup_steps(), ")"));
  } else if (no_warmup && optim.warmup_steps() > 0) {
    check.Fail("optim.warmup_steps",
               absl::StrCat("schedule ", name, " has no warm-up (got ", optim.warmup_steps(),
                            "); remove warmup_steps",
                            optim.schedule() == proto::OptimConfig::AUTO
                                ? ", or name optim.schedule to train with a warm-up"
                                : ""));
  } else if (schedule == proto::OptimConfig::INVERSE_SQRT && optim.warmup_steps() == 0) {
    check.Fail("optim.warmup_steps",
               "INVERSE_SQRT with 0 warm-up steps never decays (the rate stays at lr); use "
               "INVERSE_SQRT_NO_WARMUP, which decays from the first update, or CONSTANT");
  }
  if ((schedule == proto::OptimConfig::LINEAR_DECAY ||
       schedule == proto::OptimConfig::SQRT_DECAY) &&
      optim.max_steps() == 0) {
    check.Fail("optim.max_steps", absl::StrCat("schedule ", name, " needs max_steps > 0"));
  }
  check.Positive("optim.decay_steps", optim.decay_steps());
}

void CheckOptim(const proto::OptimConfig& optim, Checker& check) {
  check.Positive("optim.lr", optim.lr());
  check.Probability("optim.beta1", optim.beta1());
  check.Probability("optim.beta2", optim.beta2());
  check.Positive("optim.eps", optim.eps());
  check.NonNegative("optim.weight_decay", optim.weight_decay());
  check.Probability("optim.label_smoothing", optim.label_smoothing());
  check.NonNegative("optim.clip_norm", optim.clip_norm());
  check.Positive("optim.update_freq", optim.update_freq());
  check.NonNegative("optim.max_steps", optim.max_steps());
  check.NonNegative("optim.max_epochs", optim.max_epochs());
  check.NonNegative("optim.max_seconds", optim.max_seconds());
}

}  // namespace

proto::OptimConfig::Schedule ResolvedSchedule(const proto::OptimConfig& optim,
                                              proto::InitConfig::Method method) {
  if (optim.schedule() != proto::OptimConfig::AUTO) return optim.schedule();
  switch (method) {
    case proto::InitConfig::T_FIXUP:
      return proto::OptimConfig::INVERSE_SQRT_NO_WARMUP;
    case proto::InitConfig::DT_FIXUP:
      return proto::OptimConfig::SQRT_DECAY;
    default:
      return proto::OptimConfig::INVERSE_SQRT;
  }
}

absl::Status ValidateDataConfig(const proto::DataConfig& data) {
  Checker check;
  CheckData(data, check);
  return check.Result();
}

absl::Status ValidateRunConfig(const proto::RunConfig& config) {
  Checker check;
  if (config.run_dir().empty()) check.Fail("run_dir", "must not be empty");
  CheckData(config.data(), check);
  CheckModel(config.model(), check);
  CheckInit(config.init(), check);
  CheckOptim(config.optim(), check);
  CheckSchedule(config.optim(), config.init().method(), check);
  check.Positive("distributed.bucket_mb", config.distributed().bucket_mb());
  check.NonNegative("distributed.threads", config.distributed().threads());
  const std::string& device = config.distributed().device();
  if (device != "auto" && device != "cpu" && device != "cuda") {
    check.Fail("distributed.device",
               absl::StrCat("must be auto, cpu or cuda (got \"", device, "\")"));
  }
  // MPI moves host memory, NCCL device memory; with device "auto" the communicator factory
  // refuses the mismatch once the device is known.
  if (config.distributed().backend() == proto::DistributedConfig::NCCL && device == "cpu") {
    check.Fail("distributed.backend",
               "NCCL moves CUDA tensors: use MPI or AUTO with device \"cpu\"");
  }
  if (config.distributed().backend() == proto::DistributedConfig::MPI && device == "cuda") {
    check.Fail("distributed.backend",
               "MPI moves CPU tensors: use NCCL or AUTO with device \"cuda\"");
  }
  check.NonNegative("distributed.timeout_seconds", config.distributed().timeout_seconds());
  check.Positive("distributed.init_loss_scale", config.distributed().init_loss_scale());
  check.Positive("distributed.loss_scale_window", config.distributed().loss_scale_window());
  check.Positive("distributed.min_loss_scale", config.distributed().min_loss_scale());
  if (config.distributed().min_loss_scale() > config.distributed().init_loss_scale()) {
    check.Fail("distributed.min_loss_scale", "must not exceed distributed.init_loss_scale");
  }
  check.Positive("checkpoint.save_every_steps", config.checkpoint().save_every_steps());
  check.Positive("checkpoint.keep_last", config.checkpoint().keep_last());
  check.NonNegative("checkpoint.keep_best", config.checkpoint().keep_best());
  check.Positive("eval.valid_every_steps", config.eval().valid_every_steps());
  check.Positive("eval.log_every_steps", config.eval().log_every_steps());
  check.Positive("eval.beam_size", config.eval().beam_size());
  check.NonNegative("eval.patience", config.eval().patience());
  check.Positive("eval.decode_max_tokens", config.eval().decode_max_tokens());
  if (config.eval().best_metric() == proto::EvalConfig::EXACT_MATCH) {
    // Spider's exact match parses SQL against a Spider schema; it means nothing for translations.
    if (config.data().task() != proto::DataConfig::TEXT_TO_SQL) {
      check.Fail("eval.best_metric",
                 "EXACT_MATCH scores SQL and needs data.task TEXT_TO_SQL (use BLEU or LOSS for "
                 "TRANSLATION)");
    }
    for (const auto& split : config.data().split()) {
      if (split.name() == "valid" && !split.text2sql_json().empty()) {
        check.Fail("eval.best_metric",
                   "EXACT_MATCH is Spider's exact match and needs a spider_json valid split; "
                   "score text2sql-data (GeoQuery, ATIS) by execution with `fathom sql-eval "
                   "--db_sql`");
      }
    }
  }
  return check.Result();
}

absl::Status ValidateTrainConfig(const proto::RunConfig& config) {
  const proto::OptimConfig& optim = config.optim();
  if (optim.max_steps() == 0 && optim.max_epochs() == 0 && optim.max_seconds() == 0) {
    return absl::InvalidArgumentError(
        "optim: set max_steps, max_epochs or max_seconds (training needs a way to end)");
  }
  return absl::OkStatus();
}

}  // namespace fathom
