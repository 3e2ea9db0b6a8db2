// The devices and dtypes a test runs on, the CTranslate2 way: a parameterised suite instantiated
// with DeviceDtypes() runs on the CPU in float32 and bfloat16 everywhere, and on CUDA in float32,
// bfloat16 (and float16 where asked) when LibTorch sees a GPU. A machine without one never
// lists the CUDA cases, so they cannot fail there, and a GPU machine cannot skip them.
#ifndef FATHOM_TESTS_DEVICE_MATRIX_H_
#define FATHOM_TESTS_DEVICE_MATRIX_H_

#include <torch/cuda.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fathom::testing {

struct DeviceDtype {
  torch::Device device;
  torch::ScalarType dtype;
};

// CPU {fp32, bf16}; with a visible GPU also CUDA {fp32, bf16} and, with `fp16`, CUDA fp16
// (LibTorch has no float16 matrix multiply on the CPU).
inline std::vector<DeviceDtype> DeviceDtypes(bool fp16 = false) {
  std::vector<DeviceDtype> cases = {{torch::kCPU, torch::kFloat}, {torch::kCPU, torch::kBFloat16}};
  if (torch::cuda::is_available()) {
    const torch::Device gpu(torch::kCUDA, 0);
    cases.push_back({gpu, torch::kFloat});
    cases.push_back({gpu, torch::kBFloat16});
    if (fp16) cases.push_back({gpu, torch::kHalf});
  }
  return cases;
}

// "cpu_float32", "cuda_bfloat16": test names say where they ran.
inline std::string DeviceDtypeName(const ::testing::TestParamInfo<DeviceDtype>& info) {
  const char* dtype = info.param.dtype == torch::kFloat      ? "float32"
                      : info.param.dtype == torch::kBFloat16 ? "bfloat16"
                      : info.param.dtype == torch::kHalf     ? "float16"
                                                             : "other";
  return std::string(info.param.device.is_cuda() ? "cuda_" : "cpu_") + dtype;
}

// A relative tolerance for comparing results computed in `dtype` with each other, since
// different summation orders (padded against unpadded rows, one step against the whole sequence)
// round differently: about a dozen units in the last place of its mantissa (float32 24 bits,
// bfloat16 8, float16 11) after a few layers. Measured: a 2+2-layer bfloat16 model's logits for a
// row alone and in a padded batch differ by up to 0.042 (1 + |logit|) on the CPU.
inline double Tolerance(torch::ScalarType dtype) {
  return dtype == torch::kBFloat16 ? 5e-2 : dtype == torch::kHalf ? 6e-3 : 1e-4;
}

}  // namespace fathom::testing

#endif  // FATHOM_TESTS_DEVICE_MATRIX_H_
