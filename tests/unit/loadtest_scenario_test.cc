// Scenario definitions and the command-line spellings of durations and waits.
#include <gtest/gtest.h>

#include <stdexcept>

#include "loadtest/scenario.h"

using namespace mlfaas::loadtest;

TEST(LoadtestScenario, SeedATableThree) {
  const auto bursty = builtin_scenario("bursty");
  ASSERT_TRUE(bursty);
  EXPECT_EQ(bursty->users, 3);
  EXPECT_DOUBLE_EQ(bursty->ramp_up_s(), 3);
  EXPECT_DOUBLE_EQ(bursty->run_time_s, 120);
  EXPECT_DOUBLE_EQ(bursty->wait_min_s, 5);
  EXPECT_DOUBLE_EQ(bursty->wait_max_s, 10);
  const auto medium = builtin_scenario("medium");
  ASSERT_TRUE(medium);
  EXPECT_EQ(medium->users, 50);
  EXPECT_DOUBLE_EQ(medium->ramp_up_s(), 25);
  EXPECT_DOUBLE_EQ(medium->run_time_s, 120);
  EXPECT_DOUBLE_EQ(medium->wait_min_s, 3);
  EXPECT_DOUBLE_EQ(medium->wait_max_s, 5);
  const auto heavy = builtin_scenario("heavy");
  ASSERT_TRUE(heavy);
  EXPECT_EQ(heavy->users, 100);
  EXPECT_DOUBLE_EQ(heavy->ramp_up_s(), 50);
  EXPECT_DOUBLE_EQ(heavy->run_time_s, 60);
  EXPECT_DOUBLE_EQ(heavy->wait_min_s, 1);
  EXPECT_DOUBLE_EQ(heavy->wait_max_s, 3);
  EXPECT_EQ(heavy->model, LoadModel::kClosed);
  EXPECT_FALSE(builtin_scenario("Heavy"));
  EXPECT_FALSE(builtin_scenario(""));
  EXPECT_EQ(builtin_scenario_names().size(), 3u);
}

TEST(LoadtestScenario, TimeScaleKeepsTheShape) {
  auto heavy = *builtin_scenario("heavy");
  heavy.scale_time(0.1);
  EXPECT_EQ(heavy.users, 100);
  EXPECT_NEAR(heavy.ramp_up_s(), 5, 1e-9);
  EXPECT_NEAR(heavy.run_time_s, 6, 1e-9);
  EXPECT_NEAR(heavy.wait_min_s, 0.1, 1e-9);
  EXPECT_NEAR(heavy.wait_max_s, 0.3, 1e-9);
  EXPECT_THROW(heavy.scale_time(0), std::invalid_argument);
  EXPECT_THROW(heavy.scale_time(-1), std::invalid_argument);
}

TEST(LoadtestScenario, Durations) {
  EXPECT_DOUBLE_EQ(parse_duration("90"), 90);
  EXPECT_DOUBLE_EQ(parse_duration("2.5"), 2.5);
  EXPECT_DOUBLE_EQ(parse_duration("90s"), 90);
  EXPECT_DOUBLE_EQ(parse_duration("2m"), 120);
  EXPECT_DOUBLE_EQ(parse_duration("1h30m"), 5400);
  EXPECT_DOUBLE_EQ(parse_duration("1h2m3s"), 3723);
  EXPECT_DOUBLE_EQ(parse_duration("500ms"), 0.5);
  EXPECT_DOUBLE_EQ(parse_duration("1m500ms"), 60.5);
  for (const char* bad : {"", "s", "5x", "m5", "1.2.3s", "-5s", "5 s", "1d"})
    EXPECT_THROW(parse_duration(bad), std::invalid_argument) << bad;
}

TEST(LoadtestScenario, Waits) {
  EXPECT_EQ(parse_wait("1,3"), (std::pair<double, double>{1, 3}));
  EXPECT_EQ(parse_wait("0.5,0.5"), (std::pair<double, double>{0.5, 0.5}));
  EXPECT_EQ(parse_wait("2"), (std::pair<double, double>{2, 2}));
  EXPECT_EQ(parse_wait("100ms,1s"), (std::pair<double, double>{0.1, 1}));
  EXPECT_THROW(parse_wait("3,1"), std::invalid_argument);
  EXPECT_THROW(parse_wait("1,"), std::invalid_argument);
  EXPECT_THROW(parse_wait("a,b"), std::invalid_argument);
}

TEST(LoadtestScenario, Validation) {
  Scenario s;
  s.users = 10, s.spawn_rate = 1, s.run_time_s = 5, s.wait_min_s = 1, s.wait_max_s = 2;
  EXPECT_NO_THROW(s.validate());
  auto bad = s;
  bad.users = 0;
  EXPECT_THROW(bad.validate(), std::invalid_argument);
  bad = s;
  bad.run_time_s = 0;
  EXPECT_THROW(bad.validate(), std::invalid_argument);
  bad = s;
  bad.spawn_rate = 0;
  EXPECT_THROW(bad.validate(), std::invalid_argument);
  Scenario open;
  open.model = LoadModel::kOpen;
  open.rate = 100, open.connections = 4, open.run_time_s = 1;
  EXPECT_NO_THROW(open.validate());
  open.connections = 0;
  EXPECT_THROW(open.validate(), std::invalid_argument);
}

TEST(LoadtestScenario, LocustDurations) {
  EXPECT_EQ(format_locust_duration(120), "2m");
  EXPECT_EQ(format_locust_duration(60), "1m");
  EXPECT_EQ(format_locust_duration(90), "90s");
  EXPECT_EQ(format_locust_duration(7200), "2h");
  EXPECT_EQ(format_locust_duration(0.2), "1s");
}
