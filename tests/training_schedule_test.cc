// Learning-rate schedules against the formulas of the papers and the authors' code, written out
// here (docs/algorithms.md, "Optimisers and learning-rate schedules"), and the schedule each
// init.method implies.
#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/config_io.h"
#include "proto/config_validation.h"
#include "tests/test_util.h"
#include "trainer/lr_schedule.h"

namespace fathom::trainer {
namespace {

using proto::InitConfig;
using proto::OptimConfig;
using ::testing::HasSubstr;

OptimConfig Optim(double lr) {
  OptimConfig config;
  ResolveDefaults(&config);
  config.set_lr(static_cast<float>(lr));
  return config;
}

LrSchedule Schedule(const OptimConfig& optim, InitConfig::Method method) {
  return LrSchedule(LrScheduleOptions::FromProto(optim, method));
}

// A resolved RunConfig with one training split and a stop condition, for ValidateRunConfig.
proto::RunConfig RunConfig(InitConfig::Method method) {
  proto::RunConfig config;
  auto* split = config.mutable_data()->add_split();
  split->set_name("train");
  split->set_source("a");
  split->set_target("b");
  config.mutable_init()->set_method(method);
  config.mutable_optim()->set_max_steps(1000);
  ResolveDefaults(&config);
  return config;
}

TEST(LrScheduleTest, InverseSqrtWarmupConstantAndLinear) {
  OptimConfig config = Optim(1e-3);
  config.set_schedule(OptimConfig::INVERSE_SQRT);
  config.set_warmup_steps(100);
  const LrSchedule inv = Schedule(config, InitConfig::POST_LN);
  // lr is a float in the config: 1e-9 tolerances.
  EXPECT_NEAR(inv.At(1), 1e-5, 1e-9);
  EXPECT_NEAR(inv.At(50), 5e-4, 1e-9);
  EXPECT_NEAR(inv.At(100), 1e-3, 1e-9);
  EXPECT_NEAR(inv.At(400), 5e-4, 1e-9);  // 1e-3 * sqrt(100 / 400)
  config.set_schedule(OptimConfig::CONSTANT);
  EXPECT_NEAR(Schedule(config, InitConfig::POST_LN).At(7), 1e-3, 1e-9);
  config.set_schedule(OptimConfig::LINEAR_DECAY);
  config.set_max_steps(1100);
  const LrSchedule linear = Schedule(config, InitConfig::POST_LN);
  EXPECT_NEAR(linear.At(100), 1e-3, 1e-9);
  EXPECT_NEAR(linear.At(600), 5e-4, 1e-9);
  EXPECT_NEAR(linear.At(1100), 0.0, 1e-9);
}

TEST(LrScheduleTest, AutoKeepsInverseSqrtWithItsWarmupForTheOtherMethods) {
  const OptimConfig config = Optim(1e-3);  // schedule AUTO, warmup_steps -1
  for (auto method :
       {InitConfig::POST_LN, InitConfig::PRE_LN, InitConfig::ADMIN, InitConfig::ADMIN_CONSTANT}) {
    const LrSchedule schedule = Schedule(config, method);
    EXPECT_EQ(schedule.options().schedule, OptimConfig::INVERSE_SQRT);
    EXPECT_EQ(schedule.options().warmup_steps, 4000);
    EXPECT_NEAR(schedule.At(2000), 0.5e-3, 1e-9);
    EXPECT_NEAR(schedule.At(16000), 0.5e-3, 1e-9);  // 1e-3 * sqrt(4000 / 16000)
    EXPECT_EQ(schedule.Warning(), "");
  }
}

TEST(LrScheduleTest, TFixupDecaysFromThePeakWithoutWarmup) {
  // T-Fixup's code (layer6ai-labs/T-Fixup, inverse_sqrt_nowarmup_schedule.py, run with
  // --lr 0.0005 --decay-period 4000): after n updates the rate is lr * sqrt(P / (P + n)), so
  // update t (1-based) runs at lr * sqrt(4000 / (4000 + t - 1)).
  const double lr = Optim(5e-4).lr(), period = 4000;  // lr as the config's float holds it
  const LrSchedule schedule = Schedule(Optim(5e-4), InitConfig::T_FIXUP);
  EXPECT_EQ(schedule.options().schedule, OptimConfig::INVERSE_SQRT_NO_WARMUP);
  EXPECT_TRUE(schedule.options().implied);
  EXPECT_EQ(schedule.options().warmup_steps, 0);
  for (int64_t t : {1, 2, 100, 4001, 20000, 300000}) {
    EXPECT_NEAR(schedule.At(t), lr * std::sqrt(period / (period + t - 1)), 1e-11) << t;
  }
  EXPECT_NEAR(schedule.At(1), 5e-4, 1e-10);         // the peak at once
  EXPECT_NEAR(schedule.At(4001), 3.5355e-4, 1e-8);  // lr / sqrt(2) after P updates
  EXPECT_LT(schedule.At(300000), 0.12 * lr);        // it decays: not constant
  EXPECT_THAT(schedule.Describe(), HasSubstr("implied by init.method T_FIXUP"));
  EXPECT_EQ(schedule.Warning(), "");
}

TEST(LrScheduleTest, DtFixupDecaysAsTheSquareRootOfTheRemainingFraction) {
  // DT-Fixup (Xu et al. 2021; BorealisAI/DT-Fixup spider/config.yml: lr 5e-4, warmup_step 0,
  // anneal_max_step 30000, anneal_power 0.5; BOTOptimizer.get_anneal_lr): update t runs at
  // lr * (1 - t / T)^0.5.
  OptimConfig config = Optim(5e-4);
  const double lr = config.lr(), total = 30000;  // lr as the config's float holds it
  config.set_max_steps(30000);
  const LrSchedule schedule = Schedule(config, InitConfig::DT_FIXUP);
  EXPECT_EQ(schedule.options().schedule, OptimConfig::SQRT_DECAY);
  EXPECT_EQ(schedule.options().warmup_steps, 0);
  for (int64_t t : {1, 7500, 15000, 29999, 30000}) {
    EXPECT_NEAR(schedule.At(t), lr * std::pow(1.0 - t / total, 0.5), 1e-11) << t;
  }
  EXPECT_NEAR(schedule.At(7500), 4.3301e-4, 1e-8);  // 5e-4 * sqrt(0.75)
  EXPECT_NEAR(schedule.At(30000), 0.0, 1e-12);
  EXPECT_THAT(schedule.Describe(), HasSubstr("SQRT_DECAY (implied by init.method DT_FIXUP)"));
}

TEST(LrScheduleTest, ANamedScheduleOverridesTheSchemeAndAWarmupIsWarnedAbout) {
  OptimConfig config = Optim(1e-3);
  config.set_schedule(OptimConfig::INVERSE_SQRT);
  for (auto method : {InitConfig::T_FIXUP, InitConfig::DT_FIXUP}) {
    const LrSchedule schedule = Schedule(config, method);
    EXPECT_EQ(schedule.options().schedule, OptimConfig::INVERSE_SQRT);
    EXPECT_FALSE(schedule.options().implied);
    EXPECT_EQ(schedule.options().warmup_steps, 4000);  // -1: the schedule's own
    EXPECT_THAT(schedule.Warning(), HasSubstr("without warm-up"));
    EXPECT_THAT(schedule.Describe(), HasSubstr("(optim.schedule)"));
  }
  config.set_schedule(OptimConfig::INVERSE_SQRT_NO_WARMUP);
  config.set_decay_steps(100);
  const LrSchedule named = Schedule(config, InitConfig::ADMIN);
  EXPECT_NEAR(named.At(101), 1e-3 / std::sqrt(2.0), 1e-9);
  EXPECT_EQ(named.Warning(), "");
}

TEST(LrScheduleTest, ValidationRefusesWarmupWithAnImpliedFixupScheduleAndInverseSqrtWithout) {
  proto::RunConfig config = RunConfig(InitConfig::T_FIXUP);
  EXPECT_TRUE(ValidateRunConfig(config).ok()) << ValidateRunConfig(config);
  config.mutable_optim()->set_warmup_steps(4000);
  EXPECT_THAT(std::string(ValidateRunConfig(config).message()),
              HasSubstr("optim.warmup_steps: schedule INVERSE_SQRT_NO_WARMUP (implied by "
                        "init.method T_FIXUP) has no warm-up (got 4000)"));
  config.mutable_optim()->set_warmup_steps(0);  // explicit 0 is what the scheme means
  EXPECT_TRUE(ValidateRunConfig(config).ok());
  // Named, the warm-up is the config's choice (the trainer warns).
  config.mutable_optim()->set_schedule(OptimConfig::INVERSE_SQRT);
  config.mutable_optim()->set_warmup_steps(4000);
  EXPECT_TRUE(ValidateRunConfig(config).ok());
  // INVERSE_SQRT without warm-up used to stay at the peak forever.
  config.mutable_optim()->set_warmup_steps(0);
  EXPECT_THAT(std::string(ValidateRunConfig(config).message()),
              HasSubstr("optim.warmup_steps: INVERSE_SQRT with 0 warm-up steps never decays"));

  proto::RunConfig dt = RunConfig(InitConfig::DT_FIXUP);
  EXPECT_TRUE(ValidateRunConfig(dt).ok());
  dt.mutable_optim()->set_max_steps(0);
  dt.mutable_optim()->set_max_seconds(60);
  EXPECT_THAT(std::string(ValidateRunConfig(dt).message()),
              HasSubstr("optim.max_steps: schedule SQRT_DECAY (implied by init.method DT_FIXUP) "
                        "needs max_steps > 0"));
  dt.mutable_optim()->set_max_steps(100);
  dt.mutable_optim()->set_decay_steps(0);
  dt.mutable_optim()->set_warmup_steps(-2);
  const std::string message(ValidateRunConfig(dt).message());
  EXPECT_THAT(message, HasSubstr("optim.decay_steps: must be > 0"));
  EXPECT_THAT(message, HasSubstr("optim.warmup_steps: must be >= 0, or -1"));
}

TEST(LrScheduleTest, TheShippedSpiderConfigGetsDtFixupsSchedule) {
  auto config = LoadRunConfig(testing::SourceDir() + "/configs/spider_dt_fixup.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->init().method(), InitConfig::DT_FIXUP);
  const LrSchedule schedule = Schedule(config->optim(), config->init().method());
  EXPECT_EQ(schedule.options().schedule, OptimConfig::SQRT_DECAY);
  const double lr = config->optim().lr(), total = config->optim().max_steps();
  EXPECT_NEAR(schedule.At(5000), lr * std::pow(1.0 - 5000 / total, 0.5), 1e-12);
}

}  // namespace
}  // namespace fathom::trainer
