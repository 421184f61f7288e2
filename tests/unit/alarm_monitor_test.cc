// The alarm monitor over a real metrics store, publishing to a real HTTP endpoint through the notifier.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "platform/alarm/monitor.h"
#include "platform/metrics/metrics_store.h"
#include "platform/notify/notifier.h"
#include "test_process.h"

using namespace mlfaas;
using namespace std::chrono_literals;

namespace {
const std::string kTools = std::string(MLFAAS_TEST_DATA) + "/../tools/";

int64_t recent_second() {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return (now - 120'000) / 1000 * 1000;
}

metrics::InvocationRecord inv(int64_t ts, bool error) {
  metrics::InvocationRecord r;
  r.ts_ms = ts;
  r.function = "emotion";
  r.duration_ms = 5;
  r.error = error;
  return r;
}

std::vector<nlohmann::json> posts(const std::string& path) {
  std::istringstream in(mlfaas::testing::read_file(path));
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}
}  // namespace

TEST(AlarmMonitor, ErrorsAlarmFiresAndRecoversWithWebhookNotifications) {
  std::string dir = mlfaas::testing::temp_dir("monitor");
  mlfaas::testing::ChildProcess hook({"/usr/bin/python3", kTools + "webhook_sink.py", "--out", dir + "/posts",
                                      "--port-file", dir + "/port"});
  std::string port = mlfaas::testing::wait_for_file(dir + "/port", 20s);
  ASSERT_FALSE(port.empty());

  metrics::MetricsStore store(dir + "/m.db");
  notify::RetryPolicy retry;
  retry.first_backoff = 50ms;
  notify::Notifier notifier(notify::SmtpConfig{}, retry);
  alarm::Topic topic{"alarms", "arn:aws:sns:us-east-1:000000000000:alarms", {{"http", "http://127.0.0.1:" + port + "/sns"}}};
  alarm::Monitor monitor(store, notifier, {topic});
  for (auto def : alarm::default_alarms("emotion", "alarms")) {
    def.rule.period_s = 1;  // the seed's alarms with a 1-second period, so the test runs in no time
    monitor.add(def);
  }
  const int64_t t0 = recent_second();
  store.record_invocation(inv(t0 + 100, false));
  store.record_invocation(inv(t0 + 200, true));
  store.flush();
  monitor.tick(t0 + 1000);
  auto st = monitor.status();
  ASSERT_EQ(st.size(), 3u);
  EXPECT_EQ(st[0].name, "emotion-ConcurrentExecutions");
  EXPECT_EQ(st[0].state, alarm::State::InsufficientData);  // no concurrency samples
  EXPECT_EQ(st[1].state, alarm::State::Ok);                // Throttles: 0 per invocation
  EXPECT_EQ(st[2].state, alarm::State::Alarm);             // Errors average 0.5 > 0

  store.record_invocation(inv(t0 + 1500, false));
  store.flush();
  monitor.tick(t0 + 1500);  // same period: no new evaluation
  EXPECT_EQ(monitor.status()[2].state, alarm::State::Alarm);
  monitor.tick(t0 + 2000);
  EXPECT_EQ(monitor.status()[2].state, alarm::State::Ok);
  ASSERT_TRUE(notifier.drain(20s));

  auto got = posts(dir + "/posts");
  // Throttles INSUFFICIENT_DATA -> OK, Errors -> ALARM, Errors -> OK (the OK action also notifies)
  std::vector<std::string> transitions;
  for (const auto& p : got) {
    auto body = nlohmann::json::parse(p["body"].get<std::string>());
    auto msg = nlohmann::json::parse(body["Message"].get<std::string>());
    EXPECT_EQ(body["TopicArn"], topic.arn);
    EXPECT_EQ(body["Subject"], msg["NewStateValue"].get<std::string>() + ": \"" + msg["AlarmName"].get<std::string>() +
                                   "\" in US East (N. Virginia)");
    EXPECT_EQ(msg["Trigger"]["Namespace"], "AWS/Lambda");
    EXPECT_EQ(msg["Trigger"]["Dimensions"][0]["value"], "emotion");
    transitions.push_back(msg["AlarmName"].get<std::string>() + ":" + msg["OldStateValue"].get<std::string>() + "->" +
                          msg["NewStateValue"].get<std::string>());
  }
  std::sort(transitions.begin(), transitions.end());
  EXPECT_EQ(transitions, (std::vector<std::string>{"emotion-Errors:ALARM->OK", "emotion-Errors:INSUFFICIENT_DATA->ALARM",
                                                   "emotion-Throttles:INSUFFICIENT_DATA->OK"}));
}

TEST(AlarmMonitor, RejectsUnknownMetricAndTopic) {
  std::string dir = mlfaas::testing::temp_dir("monitor");
  metrics::MetricsStore store(dir + "/m.db");
  notify::Notifier notifier(notify::SmtpConfig{}, notify::RetryPolicy{});
  alarm::Monitor monitor(store, notifier, {});
  alarm::AlarmDefinition d;
  d.rule.name = "x";
  d.metric_name = "CPUUtilization";
  EXPECT_THROW(monitor.add(d), std::invalid_argument);
  d.metric_name = "Errors";
  d.alarm_actions = {"nope"};
  EXPECT_THROW(monitor.add(d), std::invalid_argument);
}
