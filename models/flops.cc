#include "models/flops.h"

#include <utility>

#include "absl/strings/match.h"

namespace fathom::models {

void LengthSums::Add(int64_t source_positions, int64_t target_positions) {
  const double s_i = static_cast<double>(source_positions);
  const double t_i = static_cast<double>(target_positions);
  s += s_i;
  ss += s_i * s_i;
  t += t_i;
  tt += t_i * (t_i + 1);
  ts += t_i * s_i;
}

LengthSums& LengthSums::operator+=(const LengthSums& other) {
  s += other.s;
  ss += other.ss;
  t += other.t;
  tt += other.tt;
  ts += other.ts;
  return *this;
}

double TrainingFlops(const ModelOptions& model, const LengthSums& n) {
  const double d = static_cast<double>(model.d_model);
  const double f = static_cast<double>(model.ffn_dim);
  const double v = static_cast<double>(model.target_vocab);
  const double relation_terms = model.num_relations > 0 ? 4 * d * n.ss : 0.0;
  const double encoder = static_cast<double>(model.encoder_layers) *
                         ((8 * d * d + 4 * d * f) * n.s + 4 * d * n.ss + relation_terms);
  const double decoder =
      static_cast<double>(model.decoder_layers) *
      ((12 * d * d + 4 * d * f) * n.t + 4 * d * d * n.s + 2 * d * n.tt + 4 * d * n.ts);
  return 3.0 * (encoder + decoder + 2 * d * v * n.t);
}

double PeakBf16Tflops(absl::string_view device_name) {
  // "NVIDIA H100 80GB HBM3" is the SXM part; NVL and PCIe parts are slower.
  static constexpr std::pair<const char*, double> kPeaks[] = {
      {"GH200", 989.4},     {"H200 NVL", 835.5}, {"H200", 989.4}, {"H100 NVL", 835.5},
      {"H100 PCIe", 756.5}, {"H100", 989.4},     {"A100", 312.0},
  };
  for (const auto& [name, peak] : kPeaks) {
    if (absl::StrContains(device_name, name)) return peak;
  }
  return 0.0;
}

}  // namespace fathom::models
