// What the kernels' tests share (header-only: they link only kernels/ and LibTorch).
#ifndef FATHOM_TESTS_KERNELS_TEST_UTIL_H_
#define FATHOM_TESTS_KERNELS_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace fathom::testing {

// max |a - b| / (atol + rtol |b|) <= 1, reported with the worst element.
inline void ExpectClose(const torch::Tensor& actual, const torch::Tensor& expected, double rtol,
                        double atol, const std::string& what) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const torch::Tensor a = actual.detach().cpu().to(torch::kDouble);
  const torch::Tensor b = expected.detach().cpu().to(torch::kDouble);
  const torch::Tensor ratio = (a - b).abs() / (atol + rtol * b.abs());
  const int64_t worst = ratio.reshape({-1}).argmax().item<int64_t>();
  EXPECT_LE(ratio.max().item<double>(), 1.0)
      << what << ": element " << worst << " is " << a.reshape({-1})[worst].item<double>()
      << ", expected " << b.reshape({-1})[worst].item<double>();
}

}  // namespace fathom::testing

#endif  // FATHOM_TESTS_KERNELS_TEST_UTIL_H_
