// models/flops.h: the FLOPs of a training step, the formula the progress line's MFU and
// bench/train_gpu.py share.
#include <gtest/gtest.h>

#include "models/flops.h"

namespace fathom::models {
namespace {

ModelOptions Shape(int64_t encoder_layers, int64_t decoder_layers) {
  ModelOptions options;
  options.encoder_layers = encoder_layers;
  options.decoder_layers = decoder_layers;
  options.d_model = 64;
  options.ffn_dim = 256;
  options.target_vocab = 1000;
  return options;
}

LengthSums ThreeExamples() {
  LengthSums sums;
  sums.Add(5, 7);
  sums.Add(9, 3);
  sums.Add(12, 10);
  return sums;
}

TEST(FlopsTest, MatchesBenchTrainGpuOnTheSameBatch) {
  // bench/train_gpu.py's train_flops on s = [5, 9, 12], t = [7, 3, 10], d 64, f 256, V 1000,
  // 3 encoder and 2 decoder layers, computed with that script.
  EXPECT_DOUBLE_EQ(TrainingFlops(Shape(3, 2), ThreeExamples()), 47993856.0);
}

TEST(FlopsTest, EachTermByHand) {
  // One example, s = 2, t = 1, d 64, f 256, V 1000.
  LengthSums one;
  one.Add(2, 1);
  const double d = 64, f = 256, v = 1000, s = 2, t = 1;
  const double encoder = (8 * d * d + 4 * d * f) * s + 4 * d * s * s;
  const double decoder =
      (12 * d * d + 4 * d * f) * t + 4 * d * d * s + 2 * d * t * (t + 1) + 4 * d * t * s;
  const double output = 2 * d * v * t;
  EXPECT_DOUBLE_EQ(TrainingFlops(Shape(1, 0), one), 3 * (encoder + output));
  EXPECT_DOUBLE_EQ(TrainingFlops(Shape(0, 1), one), 3 * (decoder + output));
  // Relation-aware encoder layers add q.r_k and a.r_v: 4 d s^2 each.
  ModelOptions relational = Shape(1, 0);
  relational.num_relations = 33;
  EXPECT_DOUBLE_EQ(TrainingFlops(relational, one), 3 * (encoder + 4 * d * s * s + output));
}

TEST(FlopsTest, SumsAddUpAcrossBatches) {
  LengthSums a, b;
  a.Add(5, 7);
  b.Add(9, 3);
  b.Add(12, 10);
  a += b;
  EXPECT_DOUBLE_EQ(TrainingFlops(Shape(3, 2), a), TrainingFlops(Shape(3, 2), ThreeExamples()));
}

TEST(FlopsTest, PeaksByDeviceName) {
  EXPECT_DOUBLE_EQ(PeakBf16Tflops("NVIDIA H200"), 989.4);
  EXPECT_DOUBLE_EQ(PeakBf16Tflops("NVIDIA H200 NVL"), 835.5);
  EXPECT_DOUBLE_EQ(PeakBf16Tflops("NVIDIA H100 PCIe"), 756.5);
  EXPECT_DOUBLE_EQ(PeakBf16Tflops("NVIDIA A100-SXM4-80GB"), 312.0);
  EXPECT_DOUBLE_EQ(PeakBf16Tflops("cpu"), 0.0);
}

}  // namespace
}  // namespace fathom::models
