#include "models/checkpointing.h"

#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <mutex>
#include <optional>
#include <utility>

namespace fathom::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// LibTorch 2.4 made autocast's functions take the device type; 1.13 has only the per-device
// ones (as in trainer/autocast_scope.cc, which models/ may not include).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool AutocastEnabled(torch::DeviceType device) { return at::autocast::is_autocast_enabled(device); }
void SetAutocastEnabled(torch::DeviceType device, bool on) {
  at::autocast::set_autocast_enabled(device, on);
}
torch::ScalarType AutocastDtype(torch::DeviceType device) {
  return at::autocast::get_autocast_dtype(device);
}
void SetAutocastDtype(torch::DeviceType device, torch::ScalarType dtype) {
  at::autocast::set_autocast_dtype(device, dtype);
}
#else
bool AutocastEnabled(torch::DeviceType device) {
  return device == torch::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void SetAutocastEnabled(torch::DeviceType device, bool on) {
  if (device == torch::kCUDA) {
    at::autocast::set_enabled(on);
  } else {
    at::autocast::set_cpu_enabled(on);
  }
}
torch::ScalarType AutocastDtype(torch::DeviceType device) {
  return device == torch::kCUDA ? at::autocast::get_autocast_gpu_dtype()
                                : at::autocast::get_autocast_cpu_dtype();
}
void SetAutocastDtype(torch::DeviceType device, torch::ScalarType dtype) {
  if (device == torch::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
}
#endif

// The thread's autocast settings for the CPU and CUDA; the cast cache is always off inside a
// checkpointed layer (see CheckpointFunction::forward).
struct AutocastState {
  bool cpu_enabled = false, cuda_enabled = false;
  torch::ScalarType cpu_dtype = torch::kBFloat16, cuda_dtype = torch::kHalf;
  bool cache_enabled = true;

  static AutocastState Current() {
    AutocastState s;
    s.cpu_enabled = AutocastEnabled(torch::kCPU);
    s.cpu_dtype = AutocastDtype(torch::kCPU);
    s.cuda_enabled = AutocastEnabled(torch::kCUDA);
    s.cuda_dtype = AutocastDtype(torch::kCUDA);
    s.cache_enabled = at::autocast::is_autocast_cache_enabled();
    return s;
  }
  void Apply() const {
    SetAutocastDtype(torch::kCPU, cpu_dtype);
    SetAutocastEnabled(torch::kCPU, cpu_enabled);
    SetAutocastDtype(torch::kCUDA, cuda_dtype);
    SetAutocastEnabled(torch::kCUDA, cuda_enabled);
    at::autocast::set_autocast_cache_enabled(cache_enabled);
  }
};

// Sets `state` for its lifetime, then puts back what was there.
class AutocastStateScope {
 public:
  explicit AutocastStateScope(const AutocastState& state) : previous_(AutocastState::Current()) {
    state.Apply();
  }
  ~AutocastStateScope() { previous_.Apply(); }
  AutocastStateScope(const AutocastStateScope&) = delete;
  AutocastStateScope& operator=(const AutocastStateScope&) = delete;

 private:
  AutocastState previous_;
};

// The default generators whose draws a layer's dropout makes: the CPU generator (Fathom's CPU
// dropout draws one seed from it per call, models/dropout.h) and, for CUDA inputs, that device's
// generator (LibTorch's CUDA dropout, a Philox seed and offset). Process-wide and shared with
// LibTorch's kernels: locked as LibTorch locks them. On a CPU-only build the CUDA generator is
// never asked for (no input is on CUDA), so nothing here needs a CUDA header or guard.
struct GeneratorStates {
  torch::Tensor cpu, cuda;
  torch::Device cuda_device = torch::kCPU;

  static torch::Tensor Get(at::Generator generator) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    return generator.get_state();
  }
  static void Set(at::Generator generator, const torch::Tensor& state) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
  }
  static GeneratorStates Capture(const torch::Device& device) {
    GeneratorStates s;
    s.cpu = Get(at::globalContext().defaultGenerator(torch::kCPU));
    if (device.is_cuda()) {
      s.cuda_device = device;
      s.cuda = Get(at::globalContext().defaultGenerator(device));
    }
    return s;
  }
  void Restore() const {
    Set(at::globalContext().defaultGenerator(torch::kCPU), cpu);
    if (cuda.defined()) Set(at::globalContext().defaultGenerator(cuda_device), cuda);
  }
};

// Sets the generators to `saved` for its lifetime, then back to where they were, so the
// recomputation's draws leave the sequence of the rest of training untouched.
class GeneratorScope {
 public:
  explicit GeneratorScope(const GeneratorStates& saved)
      : current_(GeneratorStates::Capture(saved.cuda.defined() ? saved.cuda_device
                                                               : torch::Device(torch::kCPU))) {
    saved.Restore();
  }
  ~GeneratorScope() { current_.Restore(); }
  GeneratorScope(const GeneratorScope&) = delete;
  GeneratorScope& operator=(const GeneratorScope&) = delete;

 private:
  GeneratorStates current_;
};

// What backward needs besides the saved inputs, held by the autograd node as an IValue capsule.
struct CheckpointState : torch::CustomClassHolder {
  CheckpointedLayerFn layer;
  GeneratorStates generators;
  AutocastState autocast;
  bool x_requires_grad = false, memory_requires_grad = false;
};

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  // Runs with grad mode off (Function::apply turns it off): nothing inside the layer is kept.
  // memory is an optional: apply() takes an undefined tensor for a missing input only that way.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const c10::optional<torch::Tensor>& memory,
                               c10::intrusive_ptr<CheckpointState> state) {
    // Dropout: rather than making each dropout call deterministic per layer (a seed derived from
    // a layer counter would change the masks of unchecked training and tie them to call order),
    // the generators' states are saved here and restored around the recomputation, as PyTorch's
    // checkpoint does: the same draws in the same order give the same masks, on the CPU (one
    // 64-bit seed per Dropout call) and on CUDA (Philox seed and offset), and training with and
    // without checkpointing draws the same sequence.
    state->generators = GeneratorStates::Capture(x.device());
    state->autocast = AutocastState::Current();
    // Autocast's cast cache keeps the low-precision copy of a weight for reuse within the
    // autocast region. A copy made here, under no-grad, has no graph back to the weight; if the
    // recomputation found it in the cache, the weight would silently get no gradient. So the
    // cache is off inside checkpointed layers, in the forward and in the recomputation alike (the
    // casts themselves are the same, so values do not change).
    state->autocast.cache_enabled = false;
    state->x_requires_grad = x.requires_grad();
    const torch::Tensor m = memory.value_or(torch::Tensor());
    state->memory_requires_grad = m.defined() && m.requires_grad();
    ctx->save_for_backward(m.defined() ? variable_list{x, m} : variable_list{x});
    ctx->saved_data["state"] = c10::IValue::make_capsule(state);
    AutocastStateScope autocast(state->autocast);
    return state->layer(x, m);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const auto state =
        c10::static_intrusive_pointer_cast<CheckpointState>(ctx->saved_data["state"].toCapsule());
    // Leaves of a graph of their own: the recomputation's backward stops at them and leaves the
    // inputs' gradients in their .grad, which this node then passes on to the layers before.
    torch::Tensor x = saved[0].detach().requires_grad_(state->x_requires_grad);
    torch::Tensor memory;
    if (saved.size() > 1) memory = saved[1].detach().requires_grad_(state->memory_requires_grad);
    torch::Tensor output;
    {
      GeneratorScope generators(state->generators);
      AutocastStateScope autocast(state->autocast);
      torch::AutoGradMode grad_mode(true);
      output = state->layer(x, memory);
    }
    if (!grad_outputs[0].defined() || !output.requires_grad()) {
      return {torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
    // A reentrant backward: it accumulates into the parameters' .grad through their own
    // AccumulateGrad nodes, as the plain backward does, so their hooks (gradient buckets) fire
    // once each, in the same order.
    torch::autograd::backward({output}, {grad_outputs[0]});
    return {x.grad(), memory.defined() ? memory.grad() : torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor CheckpointedLayer(CheckpointedLayerFn layer, const torch::Tensor& x,
                                const torch::Tensor& memory) {
  auto state = c10::make_intrusive<CheckpointState>();
  state->layer = std::move(layer);
  c10::optional<torch::Tensor> m;
  if (memory.defined()) m = memory;
  return CheckpointFunction::apply(x, m, std::move(state));
}

}  // namespace fathom::models
