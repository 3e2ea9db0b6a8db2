#include "kernels/label_smoothed_cross_entropy_reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace fathom::kernels {
namespace {

struct Inputs {
  torch::Tensor logits;   // float64 [N, V], CPU, contiguous
  torch::Tensor targets;  // int64 [N], CPU, contiguous
  int64_t rows = 0, vocab = 0;
};

Inputs Read(const torch::Tensor& logits, const torch::Tensor& targets) {
  TORCH_CHECK(logits.dim() == 2 && targets.dim() == 1 && targets.size(0) == logits.size(0),
              "LabelSmoothedCrossEntropyReference: logits [N, V] and targets [N], got ",
              logits.sizes(), " and ", targets.sizes());
  Inputs in;
  in.logits = logits.detach().to(torch::kCPU).to(torch::kDouble).contiguous();
  in.targets = targets.detach().to(torch::kCPU).to(torch::kLong).contiguous();
  in.rows = logits.size(0);
  in.vocab = logits.size(1);
  return in;
}

// log sum_j exp(z_j), shifted by the maximum.
double LogSumExp(const double* z, int64_t vocab) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < vocab; ++j) m = std::max(m, z[j]);
  double s = 0;
  for (int64_t j = 0; j < vocab; ++j) s += std::exp(z[j] - m);
  return m + std::log(s);
}

}  // namespace

torch::Tensor LabelSmoothedCrossEntropyReference(const torch::Tensor& logits,
                                                 const torch::Tensor& targets, double smoothing,
                                                 int64_t pad) {
  const Inputs in = Read(logits, targets);
  const double* z = in.logits.data_ptr<double>();
  const int64_t* t = in.targets.data_ptr<int64_t>();
  double loss = 0, nll_sum = 0;
  for (int64_t i = 0; i < in.rows; ++i) {
    if (t[i] == pad) continue;
    TORCH_CHECK(t[i] >= 0 && t[i] < in.vocab, "LabelSmoothedCrossEntropyReference: target ", t[i],
                " outside [0, ", in.vocab, ")");
    const double* row = z + i * in.vocab;
    const double lse = LogSumExp(row, in.vocab);
    double smooth = 0;  // sum_j -log p_j
    for (int64_t j = 0; j < in.vocab; ++j) smooth += lse - row[j];
    const double nll = lse - row[t[i]];
    loss += (1 - smoothing) * nll + smoothing / in.vocab * smooth;
    nll_sum += nll;
  }
  return torch::tensor({loss, nll_sum}, torch::kDouble).to(torch::kFloat);
}

torch::Tensor LabelSmoothedCrossEntropyBackwardReference(const torch::Tensor& logits,
                                                         const torch::Tensor& targets,
                                                         double smoothing, int64_t pad,
                                                         double upstream) {
  const Inputs in = Read(logits, targets);
  const double* z = in.logits.data_ptr<double>();
  const int64_t* t = in.targets.data_ptr<int64_t>();
  torch::Tensor grad = torch::zeros({in.rows, in.vocab}, torch::kDouble);
  double* g = grad.data_ptr<double>();
  for (int64_t i = 0; i < in.rows; ++i) {
    if (t[i] == pad) continue;
    const double* row = z + i * in.vocab;
    const double lse = LogSumExp(row, in.vocab);
    for (int64_t j = 0; j < in.vocab; ++j) {
      // d/dz_j of (1-eps)(lse - z_t) + eps/V sum_k (lse - z_k) = p_j - (1-eps)[j == t] - eps/V.
      double v = std::exp(row[j] - lse) - smoothing / in.vocab;
      if (j == t[i]) v -= 1 - smoothing;
      g[i * in.vocab + j] = v * upstream;
    }
  }
  return grad.to(logits.scalar_type());
}

}  // namespace fathom::kernels
