// How `mlfaas serve` turns a template's CloudWatch alarms and SNS topics into what the alarm monitor evaluates:
// every supported field carried over, CloudWatch's defaults (DatapointsToAlarm = EvaluationPeriods), the seed's
// three alarms for functions without any, and refusals naming the alarm.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "platform/monitoring.h"
#include "platform/template.h"

using namespace mlfaas;
using platform::parse_template;
using platform::TemplateError;

namespace {

platform::Template monitor_template() {
  std::ifstream in(std::string(MLFAAS_TEST_DATA) + "/templates/monitor.yaml");
  std::stringstream text;
  text << in.rdbuf();
  return parse_template(text.str(), "monitor.yaml", ".");
}

const alarm::AlarmDefinition& find(const std::vector<alarm::AlarmDefinition>& defs, const std::string& name) {
  for (const auto& d : defs)
    if (d.rule.name == name) return d;
  throw std::runtime_error("no alarm " + name);
}

std::string with_alarm(const std::string& alarm_properties) {
  return R"(
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {Handler: echo, Runtime: provided.al2023, CodeUri: .}
  Topic:
    Type: AWS::SNS::Topic
  Watch:
    Type: AWS::CloudWatch::Alarm
    Properties:
      MetricName: Errors
      Namespace: AWS/Lambda
      Dimensions: [{Name: FunctionName, Value: !Ref Fn}]
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
)" + alarm_properties;
}

}  // namespace

TEST(MonitoringAlarms, TemplateFieldsAreCarriedOver) {
  auto tpl = monitor_template();
  std::vector<std::string> notes;
  auto defs = platform::alarm_definitions(tpl, notes);
  EXPECT_TRUE(notes.empty());

  const auto& errors = find(defs, "Flaky-Errors");
  EXPECT_EQ(errors.function, "Flaky");
  EXPECT_EQ(errors.metric_name, "Errors");
  EXPECT_EQ(errors.description, "Any error of Flaky in 2 s");
  EXPECT_EQ(errors.rule.statistic.kind, alarm::Statistic::Kind::Sum);
  EXPECT_EQ(errors.rule.period_s, 2);
  EXPECT_EQ(errors.rule.evaluation_periods, 1);
  EXPECT_EQ(errors.rule.datapoints_to_alarm, 1);
  EXPECT_EQ(errors.rule.comparison, alarm::Comparison::GreaterThan);
  EXPECT_EQ(errors.rule.missing, alarm::MissingData::Ignore);
  ASSERT_EQ(errors.alarm_actions.size(), 1u);
  EXPECT_EQ(errors.alarm_actions[0], "arn:aws:sns:us-east-1:123456789012:monitor-mail");
  EXPECT_EQ(errors.ok_actions, errors.alarm_actions);

  const auto& p99 = find(defs, "Flaky-Duration-p99");
  EXPECT_EQ(p99.rule.statistic.kind, alarm::Statistic::Kind::Percentile);
  EXPECT_DOUBLE_EQ(p99.rule.statistic.percentile, 99);
  EXPECT_EQ(p99.rule.evaluation_periods, 3);
  EXPECT_EQ(p99.rule.datapoints_to_alarm, 2);
  EXPECT_EQ(p99.rule.comparison, alarm::Comparison::GreaterThanOrEqual);
  EXPECT_EQ(p99.rule.missing, alarm::MissingData::NotBreaching);
  EXPECT_DOUBLE_EQ(p99.rule.threshold, 5000);
  EXPECT_TRUE(p99.alarm_actions.empty());

  const auto& throttles = find(defs, "Limited-Throttles");
  EXPECT_EQ(throttles.rule.datapoints_to_alarm, 1);
  EXPECT_EQ(throttles.rule.evaluation_periods, 2);
  EXPECT_EQ(throttles.alarm_actions[0], "arn:aws:sns:us-east-1:123456789012:monitor-hook");
}

TEST(MonitoringAlarms, FunctionsWithoutAlarmsGetTheSeedsThreeOnTheFirstTopic) {
  auto tpl = monitor_template();
  std::vector<std::string> notes;
  auto defs = platform::alarm_definitions(tpl, notes);
  EXPECT_EQ(defs.size(), 3u + 3u);  // Flaky 2, Limited 1, Echo the default 3
  for (const char* metric : {"ConcurrentExecutions", "Throttles", "Errors"}) {
    const auto& d = find(defs, std::string("Echo-") + metric);
    EXPECT_EQ(d.function, "Echo");
    EXPECT_EQ(d.rule.period_s, 300);
    EXPECT_EQ(d.rule.statistic.kind, alarm::Statistic::Kind::Average);
    ASSERT_EQ(d.alarm_actions.size(), 1u);
    EXPECT_EQ(d.alarm_actions[0], "arn:aws:sns:us-east-1:123456789012:monitor-mail");
  }
  EXPECT_DOUBLE_EQ(find(defs, "Echo-ConcurrentExecutions").rule.threshold, 500);
}

TEST(MonitoringAlarms, TopicsKeepEmailAndHttpSubscribers) {
  auto topics = platform::alarm_topics(monitor_template());
  ASSERT_EQ(topics.size(), 2u);
  EXPECT_EQ(topics[0].name, "monitor-mail");
  ASSERT_EQ(topics[0].subscriptions.size(), 1u);
  EXPECT_EQ(topics[0].subscriptions[0].protocol, "email");
  EXPECT_EQ(topics[0].subscriptions[0].endpoint, "oncall@example.com");
  ASSERT_EQ(topics[1].subscriptions.size(), 1u);  // from the AWS::SNS::Subscription resource
  EXPECT_EQ(topics[1].subscriptions[0].protocol, "http");
}

TEST(MonitoringAlarms, DatapointsToAlarmDefaultsToEvaluationPeriods) {
  auto tpl = parse_template(with_alarm("      EvaluationPeriods: 4\n      Period: 60\n"), "t.yaml", ".");
  std::vector<std::string> notes;
  auto defs = platform::alarm_definitions(tpl, notes);
  const auto& d = find(defs, "Watch");
  EXPECT_EQ(d.rule.evaluation_periods, 4);
  EXPECT_EQ(d.rule.datapoints_to_alarm, 4);
  EXPECT_EQ(d.rule.missing, alarm::MissingData::Missing);
  EXPECT_EQ(d.rule.statistic.kind, alarm::Statistic::Kind::Average);
}

TEST(MonitoringAlarms, InsufficientDataActionsAreKept) {
  auto tpl = parse_template(with_alarm("      InsufficientDataActions: [!Ref Topic]\n"), "t.yaml", ".");
  std::vector<std::string> notes;
  auto defs = platform::alarm_definitions(tpl, notes);
  ASSERT_EQ(find(defs, "Watch").insufficient_data_actions.size(), 1u);
}

TEST(MonitoringAlarms, RefusalsNameTheAlarm) {
  auto refused = [](const std::string& props) -> std::string {
    try {
      auto tpl = parse_template(with_alarm(props), "t.yaml", ".");
      std::vector<std::string> notes;
      platform::alarm_definitions(tpl, notes);
    } catch (const TemplateError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(refused("      Statistic: Median\n").find("Resources.Watch"), std::string::npos);
  EXPECT_NE(refused("      TreatMissingData: sometimes\n").find("Resources.Watch"), std::string::npos);
  EXPECT_NE(refused("      Statistic: Sum\n      ExtendedStatistic: p90\n").find("ExtendedStatistic"), std::string::npos);
  EXPECT_NE(refused("      EvaluationPeriods: 2\n      DatapointsToAlarm: 3\n").find("DatapointsToAlarm"),
            std::string::npos);
  EXPECT_EQ(refused("      Statistic: p99.9\n"), "");  // CloudWatch takes percentiles in ExtendedStatistic; so do we
}

TEST(MonitoringAlarms, AlarmsThePlatformCannotEvaluateAreSkippedWithANote) {
  auto tpl = parse_template(with_alarm("").replace(with_alarm("").find("AWS/Lambda"), 10, "AWS/EC2"), "t.yaml", ".");
  std::vector<std::string> notes;
  auto defs = platform::alarm_definitions(tpl, notes);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("AWS/EC2"), std::string::npos);
  // Fn then has no alarm of its own, so it gets the seed's three.
  EXPECT_EQ(defs.size(), 3u);
}
