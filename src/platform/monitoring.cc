#include "platform/monitoring.h"

#include <filesystem>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "platform/web/web_api.h"

namespace mlfaas::platform {

namespace fs = std::filesystem;

std::vector<alarm::Topic> alarm_topics(const Template& tpl) {
  std::vector<alarm::Topic> out;
  for (const auto& t : tpl.topics) {
    alarm::Topic topic{t.name, t.arn, {}};
    for (const auto& s : t.subscriptions) topic.subscriptions.push_back({s.protocol, s.endpoint});
    out.push_back(std::move(topic));
  }
  return out;
}

std::vector<alarm::AlarmDefinition> alarm_definitions(const Template& tpl, std::vector<std::string>& notes) {
  std::vector<alarm::AlarmDefinition> out;
  std::set<std::string> watched;
  auto is_topic = [&](const std::string& a) {
    for (const auto& t : tpl.topics)
      if (t.arn == a || t.name == a) return true;
    return false;
  };
  for (const auto& spec : tpl.alarms) {
    const std::string where = "Resources." + spec.logical_id;
    if (!spec.ns.empty() && spec.ns != "AWS/Lambda") {
      notes.push_back(where + ": Namespace " + spec.ns + " is not evaluated locally (only AWS/Lambda)");
      continue;
    }
    auto dim = spec.dimensions.find("FunctionName");
    if (dim == spec.dimensions.end()) {
      notes.push_back(where + ": no FunctionName dimension; account-wide alarms are not evaluated locally");
      continue;
    }
    const FunctionSpec* fn = tpl.function_by_name(dim->second);
    if (!fn) {
      notes.push_back(where + ": FunctionName '" + dim->second + "' is not a function of this template");
      continue;
    }
    if (!metrics::metric_from_name(spec.metric_name)) {
      notes.push_back(where + ": MetricName " + spec.metric_name + " is not recorded locally");
      continue;
    }
    alarm::AlarmDefinition d;
    try {
      d.rule.statistic = alarm::Statistic::parse(spec.statistic);
      d.rule.comparison = alarm::parse_comparison(spec.comparison_operator);
      d.rule.missing = alarm::parse_missing_data(spec.treat_missing_data);
    } catch (const std::invalid_argument& e) {
      throw TemplateError(where + ".Properties: " + e.what());
    }
    d.rule.name = spec.alarm_name;
    d.rule.period_s = spec.period_s;
    d.rule.evaluation_periods = spec.evaluation_periods;
    d.rule.datapoints_to_alarm = spec.datapoints_to_alarm > 0 ? spec.datapoints_to_alarm : spec.evaluation_periods;
    d.rule.threshold = spec.threshold;
    d.description = spec.description;
    d.metric_name = spec.metric_name;
    d.function = fn->name;
    auto keep_topics = [&](const std::vector<std::string>& in, std::vector<std::string>& kept, const char* key) {
      for (const auto& a : in) {
        if (is_topic(a)) kept.push_back(a);
        else notes.push_back(where + "." + key + ": '" + a + "' is not an SNS topic of this template, ignored");
      }
    };
    keep_topics(spec.alarm_actions, d.alarm_actions, "AlarmActions");
    keep_topics(spec.ok_actions, d.ok_actions, "OKActions");
    keep_topics(spec.insufficient_data_actions, d.insufficient_data_actions, "InsufficientDataActions");
    watched.insert(fn->name);
    out.push_back(std::move(d));
  }
  const std::string first_topic = tpl.topics.empty() ? "" : tpl.topics.front().arn;
  for (const auto& f : tpl.functions) {
    if (watched.count(f.name)) continue;
    for (auto& d : alarm::default_alarms(f.name, first_topic)) out.push_back(std::move(d));
  }
  return out;
}

Monitoring::Monitoring(const Template& tpl, MonitoringOptions options, Console& console)
    : options_(std::move(options)), console_(console) {
  std::error_code ec;
  fs::create_directories(options_.state_dir, ec);
  if (ec) throw std::runtime_error(options_.state_dir + ": cannot create the state directory: " + ec.message());
  db_path_ = (fs::path(options_.state_dir) / "metrics.db").string();
  if (options_.web_dir.empty()) options_.web_dir = web::default_web_dir();
  store_ = std::make_unique<metrics::MetricsStore>(db_path_);
  notifier_ = std::make_unique<notify::Notifier>(options_.smtp, options_.retry);
  notifier_->on_result([this](const notify::DeliveryResult& r) {
    const char* kind = r.delivery.protocol == notify::Protocol::Email ? "e-mail to" : "webhook";
    if (r.ok)
      console_.line(fmt::format("notify: {} {} delivered ({}; {} attempt{})", kind, r.delivery.endpoint,
                                r.delivery.subject, r.attempts, r.attempts == 1 ? "" : "s"));
    else
      console_.line(fmt::format("notify: {} {} failed after {} attempt{}: {}", kind, r.delivery.endpoint, r.attempts,
                                r.attempts == 1 ? "" : "s", r.error));
  });
  monitor_ = std::make_unique<alarm::Monitor>(*store_, *notifier_, alarm_topics(tpl), tpl.region, tpl.account_id);
  std::vector<std::string> notes;
  for (auto& d : alarm_definitions(tpl, notes)) {
    try {
      monitor_->add(std::move(d));
      ++alarm_count_;
    } catch (const std::invalid_argument& e) {
      notes.push_back(e.what());
    }
  }
  for (const auto& n : notes) console_.line("mlfaas: warning: " + tpl.path + ": " + n);
  ticker_ = std::thread([this] { run_alarms(); });
}

Monitoring::~Monitoring() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  // A transition published just before shutdown still gets a short chance to leave.
  notifier_->drain(std::chrono::milliseconds(2000));
  store_->flush();
}

void Monitoring::run_alarms() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, options_.tick_interval, [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    // The records of the period just completed may still sit in the store's queue: flush first so that the
    // evaluation sees them (the flush is at most one short transaction).
    try {
      store_->flush();
      auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch()).count();
      monitor_->tick(now);
    } catch (const std::exception& e) {
      console_.line(std::string("mlfaas: alarm evaluation failed: ") + e.what());
    }
    lock.lock();
  }
}

}  // namespace mlfaas::platform
