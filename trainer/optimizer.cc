#include "trainer/optimizer.h"

#include <cmath>

#include "kernels/kernels_built.h"
#include "kernels/multi_tensor_adam.h"
#include "trainer/fused_adam_cpu.h"

namespace fathom::trainer {

OptimizerOptions OptimizerOptions::FromProto(const proto::OptimConfig& optim) {
  OptimizerOptions options;
  options.kind = optim.optimizer();
  options.beta1 = optim.beta1();
  options.beta2 = optim.beta2();
  options.eps = optim.eps();
  options.weight_decay = optim.weight_decay();
  return options;
}

Optimizer::Optimizer(std::vector<torch::Tensor> parameters, const OptimizerOptions& options)
    : parameters_(std::move(parameters)),
      kind_(options.kind),
      beta1_(options.beta1),
      beta2_(options.beta2),
      eps_(options.eps),
      weight_decay_(options.weight_decay) {
  torch::NoGradGuard no_grad;
  for (const auto& p : parameters_) {
    // Moments in float32 even for low-precision parameters.
    exp_avg_.push_back(torch::zeros_like(p, p.options().dtype(torch::kFloat)));
    exp_avg_sq_.push_back(torch::zeros_like(p, p.options().dtype(torch::kFloat)));
  }
}

void Optimizer::ZeroGrad() {
  for (auto& p : parameters_) {
    if (p.grad().defined()) p.grad().zero_();
  }
}

AdamCoefficients Optimizer::NextCoefficients(double lr, double grad_scale) {
  ++steps_;
  const double t = static_cast<double>(steps_);
  const double bias1 = 1.0 - std::pow(beta1_, t);
  const double bias2 = 1.0 - std::pow(beta2_, t);
  // RAdam (Liu et al. 2020): use the adaptive term only once its variance is tractable.
  const double rho_inf = 2.0 / (1.0 - beta2_) - 1.0;
  const double rho_t = rho_inf - 2.0 * t * std::pow(beta2_, t) / bias2;
  const bool adaptive = kind_ != proto::OptimConfig::RADAM || rho_t > 5.0;
  double radam_rect = 1.0;
  if (kind_ == proto::OptimConfig::RADAM && adaptive) {
    radam_rect = std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                           ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
  }
  const bool decoupled = kind_ == proto::OptimConfig::ADAMW;
  AdamCoefficients c;
  c.grad_scale = static_cast<float>(grad_scale);
  c.beta1 = static_cast<float>(beta1_);
  c.beta2 = static_cast<float>(beta2_);
  c.l2 = decoupled ? 0.0f : static_cast<float>(weight_decay_);
  c.decay = decoupled ? static_cast<float>(1.0 - lr * weight_decay_) : 1.0f;
  c.bias2 = static_cast<float>(bias2);
  c.eps = static_cast<float>(eps_);
  c.step = static_cast<float>(lr * (adaptive ? radam_rect : 1.0) / bias1);
  c.adaptive = adaptive;
  return c;
}

bool Optimizer::MultiTensorAdamApplies() const {
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const torch::Tensor& p = parameters_[i];
    if (!p.grad().defined()) continue;
    const torch::Tensor& g = p.grad();
    if (!p.is_cuda() || p.device() != parameters_.front().device()) return false;
    if (p.scalar_type() != torch::kFloat && p.scalar_type() != torch::kBFloat16) return false;
    if (g.scalar_type() != p.scalar_type() || g.device() != p.device()) return false;
    if (!p.is_contiguous() || !g.is_contiguous()) return false;
  }
  return true;
}

bool Optimizer::StepsOnDevice(bool fused) const {
  return fused && kernels::CudaKernelsBuilt() && MultiTensorAdamApplies();
}

void Optimizer::Step(double lr, const torch::Tensor& grad_scale, const torch::Tensor& found_inf,
                     bool fused) {
  torch::NoGradGuard no_grad;
  if (StepsOnDevice(fused)) {
    std::vector<torch::Tensor> params, grads, exp_avg, exp_avg_sq;
    for (size_t i = 0; i < parameters_.size(); ++i) {
      if (!parameters_[i].grad().defined()) continue;
      params.push_back(parameters_[i]);
      grads.push_back(parameters_[i].grad());
      exp_avg.push_back(exp_avg_[i]);
      exp_avg_sq.push_back(exp_avg_sq_[i]);
    }
    if (params.empty()) return;
    const AdamCoefficients c = NextCoefficients(lr, 1.0);
    kernels::AdamHyper hyper;
    hyper.beta1 = c.beta1;
    hyper.beta2 = c.beta2;
    hyper.eps = c.eps;
    hyper.l2 = c.l2;
    hyper.decay = c.decay;
    hyper.bias2 = c.bias2;
    hyper.step = c.step;
    hyper.adaptive = c.adaptive;
    kernels::MultiTensorAdam(params, grads, exp_avg, exp_avg_sq,
                             grad_scale.to(torch::kFloat).reshape({1}),
                             found_inf.to(torch::kFloat).reshape({1}), hyper);
    return;
  }
  // The host reads the decision and the factor: free on the CPU, a wait for the device on CUDA
  // (fused_kernels false is the path the fused kernel is compared with).
  if (found_inf.item<double>() != 0) return;
  Step(lr, grad_scale.item<double>());
}

void Optimizer::Step(double lr, double grad_scale) {
  torch::NoGradGuard no_grad;
  const AdamCoefficients c = NextCoefficients(lr, grad_scale);
  const bool decoupled = kind_ == proto::OptimConfig::ADAMW;
  const double bias2 = 1.0 - std::pow(beta2_, static_cast<double>(steps_));  // as c.bias2, float64
  for (size_t i = 0; i < parameters_.size(); ++i) {
    torch::Tensor& p = parameters_[i];
    if (!p.grad().defined()) continue;
    if (FusedAdamApplies(p, p.grad(), exp_avg_[i], exp_avg_sq_[i])) {
      FusedAdamCpu(p, p.grad(), exp_avg_[i], exp_avg_sq_[i], c);
      continue;
    }
    // Other devices and dtypes: the same update as LibTorch ops (float32 master arithmetic).
    torch::Tensor grad = p.grad().to(torch::kFloat);
    if (grad_scale != 1.0) grad = grad * grad_scale;
    torch::Tensor master = p.scalar_type() == torch::kFloat ? p : p.to(torch::kFloat);
    if (decoupled) {
      if (weight_decay_ != 0.0) master.mul_(c.decay);
    } else if (weight_decay_ != 0.0) {
      grad = grad.add(master, weight_decay_);  // L2, as Adam and RAdam define it
    }
    exp_avg_[i].mul_(beta1_).add_(grad, 1.0 - beta1_);
    exp_avg_sq_[i].mul_(beta2_).addcmul_(grad, grad, 1.0 - beta2_);
    if (!c.adaptive) {
      master.add_(exp_avg_[i], -c.step);
    } else {
      torch::Tensor denom = (exp_avg_sq_[i] / bias2).sqrt_().add_(eps_);
      master.addcdiv_(exp_avg_[i], denom, -c.step);
    }
    if (master.data_ptr() != p.data_ptr()) p.copy_(master);
  }
}

std::vector<std::pair<std::string, torch::Tensor>> Optimizer::State() const {
  std::vector<std::pair<std::string, torch::Tensor>> state;
  state.emplace_back("steps", torch::tensor({steps_}, torch::kLong));
  for (size_t i = 0; i < parameters_.size(); ++i) {
    state.emplace_back("exp_avg." + std::to_string(i), exp_avg_[i]);
    state.emplace_back("exp_avg_sq." + std::to_string(i), exp_avg_sq_[i]);
  }
  return state;
}

void Optimizer::LoadState(const std::vector<std::pair<std::string, torch::Tensor>>& state) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(state.size() == 1 + 2 * parameters_.size(), "optimizer state has ", state.size(),
              " tensors, expected ", 1 + 2 * parameters_.size());
  for (const auto& [name, tensor] : state) {
    if (name == "steps") {
      steps_ = tensor.item<int64_t>();
      continue;
    }
    const size_t dot = name.find('.');
    const size_t index = std::stoul(name.substr(dot + 1));
    TORCH_CHECK(index < parameters_.size(), "optimizer state ", name, " has no parameter");
    torch::Tensor& target = name.rfind("exp_avg_sq", 0) == 0 ? exp_avg_sq_[index] : exp_avg_[index];
    TORCH_CHECK(target.sizes() == tensor.sizes(), "optimizer state ", name, " has shape ",
                tensor.sizes(), ", the parameter ", target.sizes());
    target.copy_(tensor);
  }
}

}  // namespace fathom::trainer
