#pragma once
// What `mlfaas serve` watches its functions with: the metrics store (<state dir>/metrics.db), the template's
// CloudWatch alarms (or the seed's three per function), the notifier that mails and posts their state changes,
// and the thread that evaluates the alarms about once a second. Nothing here runs on the platform's event loop
// except queueing a record, so invocations never wait on SQLite, a mail server or a webhook.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "platform/alarm/monitor.h"
#include "platform/logs.h"
#include "platform/metrics/metrics_store.h"
#include "platform/notify/notifier.h"
#include "platform/template.h"

namespace mlfaas::platform {

struct MonitoringOptions {
  std::string state_dir = ".mlfaas";  // metrics.db lives here
  std::string web_dir;                // assets of / and /dashboard; empty: next to the executable
  notify::SmtpConfig smtp;
  notify::RetryPolicy retry;
  std::chrono::milliseconds tick_interval{1000};
};

// The template's topics as the alarm monitor and the notifier see them (e-mail/http(s) subscribers).
std::vector<alarm::Topic> alarm_topics(const Template& tpl);

// The template's AWS::CloudWatch::Alarm resources on AWS/Lambda metrics of its functions, plus the seed's three
// alarms for each function that has none. Alarms the platform cannot evaluate (another namespace, no FunctionName
// dimension, an unknown function) are skipped with a note in `notes`. Throws TemplateError naming the alarm for a
// value CloudWatch would refuse (a statistic, operator or missing-data policy it does not know).
std::vector<alarm::AlarmDefinition> alarm_definitions(const Template& tpl, std::vector<std::string>& notes);

class Monitoring {
 public:
  // Opens (or creates) the metrics database and starts the notifier and the alarm thread. Throws
  // std::runtime_error when the state directory or database cannot be used.
  Monitoring(const Template& tpl, MonitoringOptions options, Console& console);
  ~Monitoring();  // stops the alarm thread, gives pending notifications a moment, flushes the metrics
  Monitoring(const Monitoring&) = delete;
  Monitoring& operator=(const Monitoring&) = delete;

  metrics::MetricsStore& store() { return *store_; }
  notify::Notifier& notifier() { return *notifier_; }
  std::vector<alarm::AlarmStatus> alarm_status() const { return monitor_->status(); }
  const std::string& web_dir() const { return options_.web_dir; }
  const std::string& database_path() const { return db_path_; }
  size_t alarm_count() const { return alarm_count_; }

 private:
  void run_alarms();

  MonitoringOptions options_;
  Console& console_;
  std::string db_path_;
  size_t alarm_count_ = 0;
  std::unique_ptr<metrics::MetricsStore> store_;
  std::unique_ptr<notify::Notifier> notifier_;
  std::unique_ptr<alarm::Monitor> monitor_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread ticker_;
};

}  // namespace mlfaas::platform
