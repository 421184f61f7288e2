#pragma once
// Evaluates CloudWatch-style alarms over the metrics store and publishes state changes to SNS topics (e-mail and
// HTTP(S) subscribers through the Notifier). Alarms are evaluated on complete periods only, so a datapoint is final
// when it is judged; the platform calls tick() about once a second.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "platform/alarm/alarm_rules.h"

namespace mlfaas::metrics {
class MetricsStore;
}
namespace mlfaas::notify {
class Notifier;
}

namespace mlfaas::alarm {

struct Subscription {
  std::string protocol;  // "email", "http", "https" (others are kept but not delivered by the monitor)
  std::string endpoint;
};

struct Topic {
  std::string name;
  std::string arn;
  std::vector<Subscription> subscriptions;
};

struct AlarmDefinition {
  AlarmRule rule;
  std::string description;
  std::string metric_name;  // AWS/Lambda metric: Errors, Throttles, ConcurrentExecutions, Duration, ...
  std::string function;     // Dimensions FunctionName
  std::vector<std::string> alarm_actions;  // topic ARNs or names
  std::vector<std::string> ok_actions;
  std::vector<std::string> insufficient_data_actions;
};

// The seed's three alarms for a function without alarms of its own: ConcurrentExecutions > 500, Throttles > 0,
// Errors > 0, each the 5-minute Average, 1 of 1, notifying `topic` on ALARM and OK.
std::vector<AlarmDefinition> default_alarms(const std::string& function, const std::string& topic);

struct AlarmStatus {
  std::string name;
  State state = State::InsufficientData;
  std::string reason;
  int64_t since_ms = 0;
  double last_value = 0;
  bool has_value = false;
};

class Monitor {
 public:
  Monitor(metrics::MetricsStore& store, notify::Notifier& notifier, std::vector<Topic> topics,
          std::string region = "us-east-1", std::string account = "000000000000");
  // Throws std::invalid_argument naming the alarm for an unknown metric or action topic.
  void add(AlarmDefinition def);
  // Evaluates every alarm whose newest complete period changed since the last call.
  void tick(int64_t now_ms);
  std::vector<AlarmStatus> status() const;

  // The JSON CloudWatch publishes to SNS for an alarm state change, and its e-mail subject.
  static std::string alarm_message(const AlarmDefinition& def, const std::string& old_state, const std::string& new_state,
                                   const std::string& reason, int64_t ts_ms, const std::string& region,
                                   const std::string& account);
  static std::string subject(const std::string& alarm, const std::string& new_state, const std::string& region);

 private:
  struct Entry {
    AlarmDefinition def;
    AlarmStatus status;
    int64_t last_period_end = 0;
  };
  void publish(const Entry& e, State old_state, int64_t now_ms);
  const Topic* find_topic(const std::string& name_or_arn) const;

  metrics::MetricsStore& store_;
  notify::Notifier& notifier_;
  std::vector<Topic> topics_;
  std::string region_, account_;
  mutable std::mutex mu_;
  std::vector<Entry> alarms_;
};

}  // namespace mlfaas::alarm
