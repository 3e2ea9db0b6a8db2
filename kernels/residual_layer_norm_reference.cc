#include "kernels/residual_layer_norm_reference.h"

#include <cmath>
#include <vector>

namespace fathom::kernels {
namespace {

// The values of t as a contiguous float64 CPU tensor (exact for float32 and bfloat16).
torch::Tensor AsDouble(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU).to(torch::kDouble).contiguous();
}

// The rows of s = omega * x + f with their mean and 1 / sqrt(var + eps) (biased variance, as
// LayerNorm), all in double.
struct Rows {
  int64_t rows = 0, d = 0;
  std::vector<double> s, mean, rstd;
};

Rows Normalise(const torch::Tensor& x, const torch::Tensor& f, const torch::Tensor& omega,
               double eps) {
  TORCH_CHECK(x.sizes() == f.sizes(), "ResidualLayerNormReference: x ", x.sizes(), " and f ",
              f.sizes(), " differ");
  Rows r;
  r.d = x.size(-1);
  r.rows = r.d == 0 ? 0 : x.numel() / r.d;
  const torch::Tensor xd = AsDouble(x), fd = AsDouble(f);
  const torch::Tensor wd = omega.defined() ? AsDouble(omega) : torch::ones({r.d}, torch::kDouble);
  TORCH_CHECK(wd.numel() == r.d, "ResidualLayerNormReference: omega has ", wd.numel(),
              " elements, d is ", r.d);
  const double* xp = xd.data_ptr<double>();
  const double* fp = fd.data_ptr<double>();
  const double* wp = wd.data_ptr<double>();
  r.s.resize(r.rows * r.d);
  r.mean.resize(r.rows);
  r.rstd.resize(r.rows);
  for (int64_t i = 0; i < r.rows; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < r.d; ++j) {
      const double v = xp[i * r.d + j] * wp[j] + fp[i * r.d + j];
      r.s[i * r.d + j] = v;
      sum += v;
    }
    const double mean = sum / r.d;
    double squares = 0;
    for (int64_t j = 0; j < r.d; ++j)
      squares += (r.s[i * r.d + j] - mean) * (r.s[i * r.d + j] - mean);
    r.mean[i] = mean;
    r.rstd[i] = 1.0 / std::sqrt(squares / r.d + eps);
  }
  return r;
}

}  // namespace

torch::Tensor ResidualLayerNormReference(const torch::Tensor& x, const torch::Tensor& f,
                                         const torch::Tensor& omega, const torch::Tensor& gamma,
                                         const torch::Tensor& beta, double eps,
                                         torch::ScalarType out_type) {
  const Rows r = Normalise(x, f, omega, eps);
  const torch::Tensor gd = AsDouble(gamma), bd = AsDouble(beta);
  TORCH_CHECK(gd.numel() == r.d && bd.numel() == r.d,
              "ResidualLayerNormReference: gamma and beta need d elements");
  const double* gp = gd.data_ptr<double>();
  const double* bp = bd.data_ptr<double>();
  torch::Tensor y = torch::empty(x.sizes(), torch::kDouble);
  double* yp = y.data_ptr<double>();
  for (int64_t i = 0; i < r.rows; ++i)
    for (int64_t j = 0; j < r.d; ++j)
      yp[i * r.d + j] = (r.s[i * r.d + j] - r.mean[i]) * r.rstd[i] * gp[j] + bp[j];
  return y.to(out_type);
}

ResidualLayerNormGrads ResidualLayerNormBackwardReference(
    const torch::Tensor& dy, const torch::Tensor& x, const torch::Tensor& f,
    const torch::Tensor& omega, const torch::Tensor& gamma, const torch::Tensor& beta, double eps) {
  const Rows r = Normalise(x, f, omega, eps);
  TORCH_CHECK(dy.sizes() == x.sizes(), "ResidualLayerNormBackwardReference: dy ", dy.sizes(),
              " and x ", x.sizes(), " differ");
  const torch::Tensor dyd = AsDouble(dy), xd = AsDouble(x), gd = AsDouble(gamma);
  const torch::Tensor wd = omega.defined() ? AsDouble(omega) : torch::ones({r.d}, torch::kDouble);
  const double* dyp = dyd.data_ptr<double>();
  const double* xp = xd.data_ptr<double>();
  const double* gp = gd.data_ptr<double>();
  const double* wp = wd.data_ptr<double>();
  torch::Tensor ds = torch::empty(x.sizes(), torch::kDouble);
  torch::Tensor dgamma = torch::zeros({r.d}, torch::kDouble);
  torch::Tensor dbeta = torch::zeros({r.d}, torch::kDouble);
  torch::Tensor domega = torch::zeros({r.d}, torch::kDouble);
  double* dsp = ds.data_ptr<double>();
  double* dgp = dgamma.data_ptr<double>();
  double* dbp = dbeta.data_ptr<double>();
  double* dwp = domega.data_ptr<double>();
  std::vector<double> xhat(r.d);
  for (int64_t i = 0; i < r.rows; ++i) {
    // dL/ds = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma.
    double sum_g = 0, sum_gx = 0;
    for (int64_t j = 0; j < r.d; ++j) {
      xhat[j] = (r.s[i * r.d + j] - r.mean[i]) * r.rstd[i];
      const double g = dyp[i * r.d + j] * gp[j];
      sum_g += g;
      sum_gx += g * xhat[j];
      dgp[j] += dyp[i * r.d + j] * xhat[j];
      dbp[j] += dyp[i * r.d + j];
    }
    for (int64_t j = 0; j < r.d; ++j) {
      const double g = dyp[i * r.d + j] * gp[j];
      const double v = r.rstd[i] * (g - sum_g / r.d - xhat[j] * sum_gx / r.d);
      dsp[i * r.d + j] = v;
      dwp[j] += v * xp[i * r.d + j];
    }
  }
  ResidualLayerNormGrads grads;
  grads.f = ds.to(f.scalar_type());
  grads.x = (ds * wd).to(x.scalar_type());
  if (omega.defined()) grads.omega = domega.to(omega.scalar_type());
  grads.gamma = dgamma.to(gamma.scalar_type());
  grads.beta = dbeta.to(beta.scalar_type());
  return grads;
}

}  // namespace fathom::kernels
