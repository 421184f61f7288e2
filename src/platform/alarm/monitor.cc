#include "platform/alarm/monitor.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "common/codec.h"
#include "platform/metrics/metrics_store.h"
#include "platform/notify/notifier.h"

namespace mlfaas::alarm {
namespace {

const char* comparison_name(Comparison c) {
  switch (c) {
    case Comparison::GreaterThanOrEqual: return "GreaterThanOrEqualToThreshold";
    case Comparison::GreaterThan: return "GreaterThanThreshold";
    case Comparison::LessThan: return "LessThanThreshold";
    case Comparison::LessThanOrEqual: return "LessThanOrEqualToThreshold";
  }
  return "?";
}

const char* comparison_symbol(Comparison c) {
  switch (c) {
    case Comparison::GreaterThanOrEqual: return ">=";
    case Comparison::GreaterThan: return ">";
    case Comparison::LessThan: return "<";
    case Comparison::LessThanOrEqual: return "<=";
  }
  return "?";
}

const char* missing_name(MissingData m) {
  switch (m) {
    case MissingData::Missing: return "missing";
    case MissingData::NotBreaching: return "notBreaching";
    case MissingData::Breaching: return "breaching";
    case MissingData::Ignore: return "ignore";
  }
  return "?";
}

std::string region_name(const std::string& region) {
  static const std::map<std::string, std::string> kNames = {
      {"us-east-1", "US East (N. Virginia)"}, {"us-east-2", "US East (Ohio)"},
      {"us-west-1", "US West (N. California)"}, {"us-west-2", "US West (Oregon)"},
      {"eu-west-1", "EU (Ireland)"}, {"eu-central-1", "EU (Frankfurt)"}, {"eu-south-1", "EU (Milan)"},
      {"ap-southeast-1", "Asia Pacific (Singapore)"}, {"ap-northeast-1", "Asia Pacific (Tokyo)"}};
  auto it = kNames.find(region);
  return it == kNames.end() ? region : it->second;
}

std::string iso_utc(int64_t ms) { return lambda::iso8601_ms(ms, "+0000"); }

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

std::vector<AlarmDefinition> default_alarms(const std::string& function, const std::string& topic) {
  struct Spec {
    const char* metric;
    double threshold;
  };
  const Spec specs[] = {{"ConcurrentExecutions", 500}, {"Throttles", 0}, {"Errors", 0}};
  std::vector<AlarmDefinition> out;
  for (const Spec& s : specs) {
    AlarmDefinition d;
    d.rule.name = function + "-" + s.metric;
    d.rule.statistic = Statistic::parse("Average");
    d.rule.period_s = 300;
    d.rule.evaluation_periods = 1;
    d.rule.datapoints_to_alarm = 1;
    d.rule.threshold = s.threshold;
    d.rule.comparison = Comparison::GreaterThan;
    d.description = std::string(s.metric) + " > " + fmt(s.threshold) + " (5-minute average), the seed's alarm";
    d.metric_name = s.metric;
    d.function = function;
    if (!topic.empty()) {
      d.alarm_actions = {topic};
      d.ok_actions = {topic};
    }
    out.push_back(std::move(d));
  }
  return out;
}

Monitor::Monitor(metrics::MetricsStore& store, notify::Notifier& notifier, std::vector<Topic> topics,
                 std::string region, std::string account)
    : store_(store), notifier_(notifier), topics_(std::move(topics)), region_(std::move(region)),
      account_(std::move(account)) {}

const Topic* Monitor::find_topic(const std::string& key) const {
  for (const Topic& t : topics_) {
    if (t.name == key || t.arn == key) return &t;
  }
  return nullptr;
}

void Monitor::add(AlarmDefinition def) {
  if (!metrics::metric_from_name(def.metric_name)) {
    throw std::invalid_argument("alarm '" + def.rule.name + "': unsupported MetricName '" + def.metric_name +
                                "' (expected Invocations, Errors, Throttles, Duration, ConcurrentExecutions)");
  }
  for (const auto* list : {&def.alarm_actions, &def.ok_actions, &def.insufficient_data_actions}) {
    for (const auto& a : *list) {
      if (find_topic(a) == nullptr) throw std::invalid_argument("alarm '" + def.rule.name + "': action '" + a + "' is not a topic of the template");
    }
  }
  if (def.rule.period_s < 1) throw std::invalid_argument("alarm '" + def.rule.name + "': Period must be at least 1 second");
  std::lock_guard<std::mutex> lock(mu_);
  Entry e;
  e.status.name = def.rule.name;
  e.status.reason = "Unchecked: Initial alarm creation";
  e.def = std::move(def);
  alarms_.push_back(std::move(e));
}

void Monitor::tick(int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  for (Entry& e : alarms_) {
    const AlarmRule& r = e.def.rule;
    const int64_t period = int64_t{r.period_s} * 1000;
    const int64_t newest_end = now_ms / period * period;  // end of the newest complete period
    if (newest_end == e.last_period_end) continue;
    e.last_period_end = newest_end;
    if (e.status.since_ms == 0) e.status.since_ms = now_ms;
    const metrics::Metric metric = *metrics::metric_from_name(e.def.metric_name);
    std::vector<std::optional<double>> points;
    const int range = r.evaluation_range();
    for (int i = range - 1; i >= 0; --i) {
      int64_t end = newest_end - int64_t{i} * period;
      points.push_back(r.statistic.apply(store_.samples(e.def.function, metric, end - period, end)));
    }
    State old = e.status.state;
    State now_state = evaluate(r, points, old);
    if (points.back()) {
      e.status.last_value = *points.back();
      e.status.has_value = true;
    } else {
      e.status.has_value = false;
    }
    if (now_state == old) continue;
    std::string recent;
    for (int i = 0; i < r.evaluation_periods && i < range; ++i) {
      const auto& p = points[points.size() - 1 - i];
      if (!recent.empty()) recent += ", ";
      recent += p ? fmt(*p) : "missing";
    }
    e.status.reason = "Threshold Crossed: recent datapoints [" + recent + "] (newest first) evaluated with " +
                      std::to_string(r.datapoints_to_alarm) + " of " + std::to_string(r.evaluation_periods) + ", " +
                      r.statistic.name() + " " + comparison_symbol(r.comparison) + " " + fmt(r.threshold) +
                      ", TreatMissingData " + missing_name(r.missing);
    e.status.state = now_state;
    e.status.since_ms = now_ms;
    store_.record_alarm_transition(r.name, now_ms, state_name(old), state_name(now_state), e.status.reason);
    std::fprintf(stderr, "alarm %s: %s -> %s (%s)\n", r.name.c_str(), state_name(old), state_name(now_state),
                 e.status.reason.c_str());
    publish(e, old, now_ms);
  }
}

void Monitor::publish(const Entry& e, State old_state, int64_t now_ms) {
  const std::vector<std::string>* actions = nullptr;
  switch (e.status.state) {
    case State::Alarm: actions = &e.def.alarm_actions; break;
    case State::Ok: actions = &e.def.ok_actions; break;
    case State::InsufficientData: actions = &e.def.insufficient_data_actions; break;
  }
  const std::string message = alarm_message(e.def, state_name(old_state), state_name(e.status.state), e.status.reason,
                                            now_ms, region_, account_);
  const std::string subj = subject(e.def.rule.name, state_name(e.status.state), region_);
  for (const std::string& a : *actions) {
    const Topic* t = find_topic(a);
    if (t == nullptr) continue;
    for (const Subscription& s : t->subscriptions) {
      notify::Delivery d;
      if (s.protocol == "email" || s.protocol == "email-json") {
        d.protocol = notify::Protocol::Email;
      } else if (s.protocol == "http" || s.protocol == "https") {
        d.protocol = notify::Protocol::Http;
      } else {
        continue;  // lambda/sqs subscribers are the platform's business
      }
      d.endpoint = s.endpoint;
      d.topic_arn = t->arn;
      d.subject = subj;
      // Mail readers get the JSON indented (short lines); webhooks get CloudWatch's compact form.
      d.message = d.protocol == notify::Protocol::Email
                      ? subj + "\n\n" + e.def.description + "\n" + e.status.reason + "\n\n" +
                            nlohmann::json::parse(message).dump(2)
                      : message;
      notifier_.enqueue(std::move(d));
    }
  }
}

std::vector<AlarmStatus> Monitor::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<AlarmStatus> out;
  for (const Entry& e : alarms_) out.push_back(e.status);
  return out;
}

std::string Monitor::subject(const std::string& alarm, const std::string& new_state, const std::string& region) {
  return new_state + ": \"" + alarm + "\" in " + region_name(region);
}

std::string Monitor::alarm_message(const AlarmDefinition& def, const std::string& old_state,
                                   const std::string& new_state, const std::string& reason, int64_t ts_ms,
                                   const std::string& region, const std::string& account) {
  const AlarmRule& r = def.rule;
  nlohmann::ordered_json trigger = {
      {"MetricName", def.metric_name},
      {"Namespace", "AWS/Lambda"},
      {"StatisticType", r.statistic.kind == Statistic::Kind::Percentile ? "ExtendedStatistic" : "Statistic"},
      {"Statistic", r.statistic.kind == Statistic::Kind::Percentile ? r.statistic.name() : [&] {
         std::string n = r.statistic.name();
         for (char& c : n) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
         return n;
       }()},
      {"Unit", nullptr},
      {"Dimensions", nlohmann::json::array({{{"value", def.function}, {"name", "FunctionName"}}})},
      {"Period", r.period_s},
      {"EvaluationPeriods", r.evaluation_periods},
      {"DatapointsToAlarm", r.datapoints_to_alarm},
      {"ComparisonOperator", comparison_name(r.comparison)},
      {"Threshold", r.threshold},
      {"TreatMissingData", missing_name(r.missing)},
      {"EvaluateLowSampleCountPercentile", ""}};
  nlohmann::ordered_json j = {
      {"AlarmName", r.name},
      {"AlarmDescription", def.description},
      {"AWSAccountId", account},
      {"AlarmConfigurationUpdatedTimestamp", iso_utc(ts_ms)},
      {"NewStateValue", new_state},
      {"NewStateReason", reason},
      {"StateChangeTime", iso_utc(ts_ms)},
      {"Region", region_name(region)},
      {"AlarmArn", "arn:aws:cloudwatch:" + region + ":" + account + ":alarm:" + r.name},
      {"OldStateValue", old_state},
      {"OKActions", def.ok_actions},
      {"AlarmActions", def.alarm_actions},
      {"InsufficientDataActions", def.insufficient_data_actions},
      {"Trigger", trigger}};
  return j.dump();
}

}  // namespace mlfaas::alarm
