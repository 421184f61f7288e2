// Table-driven check of the alarm state machine against the examples in CloudWatch's documentation
// ("How alarm state is evaluated when data is missing"): evaluation range of 5 datapoints, 3-of-3 and 2-of-3.
#include <gtest/gtest.h>

#include <array>

#include "platform/alarm/alarm_rules.h"

using namespace mlfaas::alarm;

namespace {

// "0 - X - X": 0 = not breaching, X = breaching, - = missing; oldest first.
std::vector<std::optional<double>> points(const std::string& s) {
  std::vector<std::optional<double>> out;
  for (char c : s) {
    if (c == '0') out.push_back(0.0);
    else if (c == 'X') out.push_back(1.0);
    else if (c == '-') out.push_back(std::nullopt);
  }
  return out;
}

AlarmRule rule(int m, int n, MissingData missing) {
  AlarmRule r;
  r.evaluation_periods = n;
  r.datapoints_to_alarm = m;
  r.threshold = 0.5;
  r.comparison = Comparison::GreaterThan;
  r.missing = missing;
  return r;
}

constexpr const char* kRetain = "retain";

struct Row {
  const char* points;
  const char* missing;       // TreatMissingData = missing
  const char* ignore;        // ignore
  const char* breaching;     // breaching
  const char* not_breaching; // notBreaching
};

void check(int m, int n, const Row& row) {
  const std::pair<MissingData, const char*> cases[] = {{MissingData::Missing, row.missing},
                                                       {MissingData::Ignore, row.ignore},
                                                       {MissingData::Breaching, row.breaching},
                                                       {MissingData::NotBreaching, row.not_breaching}};
  for (const auto& [policy, want] : cases) {
    for (State current : {State::Ok, State::Alarm, State::InsufficientData}) {
      State got = evaluate(rule(m, n, policy), points(row.points), current);
      std::string expected = std::string(want) == kRetain ? state_name(current) : want;
      EXPECT_EQ(state_name(got), expected) << m << " of " << n << " '" << row.points << "' policy "
                                           << static_cast<int>(policy) << " from " << state_name(current);
    }
  }
}

}  // namespace

TEST(AlarmRules, DocumentedTableThreeOfThree) {
  const Row rows[] = {
      {"0 - X - X", "OK", "OK", "OK", "OK"},
      {"0 - - - -", "OK", "OK", "OK", "OK"},
      {"- - - - -", "INSUFFICIENT_DATA", kRetain, "ALARM", "OK"},
      {"0 X X - X", "ALARM", "ALARM", "ALARM", "ALARM"},
      {"- - - - X", "INSUFFICIENT_DATA", kRetain, "ALARM", "OK"},
      {"X - - - -", "ALARM", kRetain, "ALARM", "OK"},
  };
  for (const Row& r : rows) check(3, 3, r);
}

TEST(AlarmRules, DocumentedTableTwoOfThree) {
  const Row rows[] = {
      {"0 - X - X", "ALARM", "ALARM", "ALARM", "ALARM"},
      {"0 0 X 0 X", "ALARM", "ALARM", "ALARM", "ALARM"},
      {"0 - X - -", "OK", "OK", "ALARM", "OK"},
      {"- - - - 0", "OK", "OK", "ALARM", "OK"},
      {"- - - - X", "INSUFFICIENT_DATA", kRetain, "ALARM", "OK"},
  };
  for (const Row& r : rows) check(2, 3, r);
}

TEST(AlarmRules, FullDataUsesMostRecentN) {
  // 1 of 1 (the seed's alarms): only the newest datapoint matters.
  EXPECT_EQ(evaluate(rule(1, 1, MissingData::Missing), points("X X 0"), State::Alarm), State::Ok);
  EXPECT_EQ(evaluate(rule(1, 1, MissingData::Missing), points("0 0 X"), State::Ok), State::Alarm);
  // 3 of 5 with a full range of 7
  EXPECT_EQ(evaluate(rule(3, 5, MissingData::Missing), points("X X X 0 0 X X"), State::Ok), State::Alarm);
  EXPECT_EQ(evaluate(rule(3, 5, MissingData::Missing), points("X X 0 0 X 0 X"), State::Ok), State::Ok);
}

TEST(AlarmRules, ComparisonOperators) {
  AlarmRule r = rule(1, 1, MissingData::Missing);
  r.threshold = 5;
  const std::pair<Comparison, std::array<bool, 3>> cases[] = {
      // value 4, 5, 6
      {Comparison::GreaterThanOrEqual, {false, true, true}},
      {Comparison::GreaterThan, {false, false, true}},
      {Comparison::LessThan, {true, false, false}},
      {Comparison::LessThanOrEqual, {true, true, false}},
  };
  for (const auto& [cmp, want] : cases) {
    r.comparison = cmp;
    for (int i = 0; i < 3; ++i) EXPECT_EQ(r.breaches(4.0 + i), want[i]);
  }
  EXPECT_EQ(parse_comparison("LessThanOrEqualToThreshold"), Comparison::LessThanOrEqual);
  EXPECT_THROW(parse_comparison("LessThanLowerOrGreaterThanUpperThreshold"), std::invalid_argument);
  EXPECT_EQ(parse_missing_data("notBreaching"), MissingData::NotBreaching);
  EXPECT_THROW(parse_missing_data("NotBreaching"), std::invalid_argument);
}

TEST(AlarmRules, Statistics) {
  std::vector<double> v = {5, 1, 4, 2, 3};
  EXPECT_EQ(*Statistic::parse("SampleCount").apply(v), 5);
  EXPECT_EQ(*Statistic::parse("Sum").apply(v), 15);
  EXPECT_EQ(*Statistic::parse("Average").apply(v), 3);
  EXPECT_EQ(*Statistic::parse("Minimum").apply(v), 1);
  EXPECT_EQ(*Statistic::parse("Maximum").apply(v), 5);
  EXPECT_EQ(*Statistic::parse("p50").apply(v), 3);
  EXPECT_EQ(*Statistic::parse("p99").apply(v), 5);
  EXPECT_EQ(*Statistic::parse("p20").apply(v), 1);
  EXPECT_FALSE(Statistic::parse("Average").apply({}).has_value());
  EXPECT_EQ(Statistic::parse("p99.9").name(), "p99.9");
  EXPECT_THROW(Statistic::parse("p101"), std::invalid_argument);
  EXPECT_THROW(Statistic::parse("Median"), std::invalid_argument);
}
