#pragma once
// Delivery of SNS-style notifications (alarm state changes) to e-mail over SMTP and to HTTP(S) webhooks.
// Deliveries are queued and sent by a background thread with retries and exponential back-off, so callers on the
// invocation path never wait on a mail server or a slow webhook.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace mlfaas::notify {

struct SmtpConfig {
  std::string url = "smtp://127.0.0.1:25";  // smtp://HOST:PORT, or smtps://HOST:PORT for implicit TLS
  bool starttls = false;                     // require STARTTLS on smtp://
  bool verify_tls = true;
  std::string username, password;           // empty: no AUTH
  std::string from = "mlfaas-alarms@localhost";
  long timeout_s = 10;
};

struct RetryPolicy {
  int max_attempts = 4;
  std::chrono::milliseconds first_backoff{500};
  double factor = 2.0;
  std::chrono::milliseconds max_backoff{30000};
  long http_timeout_s = 10;
};

enum class Protocol { Email, Http };

struct Delivery {
  Protocol protocol = Protocol::Http;
  std::string endpoint;   // e-mail address, or http(s):// URL
  std::string topic_arn;
  std::string subject;
  std::string message;    // the SNS Message (for alarms: CloudWatch's alarm JSON)
  std::string message_id; // set by enqueue() when empty; kept across retries, as SNS does
};

struct DeliveryResult {
  Delivery delivery;
  bool ok = false;
  int attempts = 0;
  std::string error;  // last error when !ok
};

// The JSON body SNS posts to HTTP(S) subscribers for a Notification (signature fields are left out: nothing
// here signs messages; the SignatureVersion field says so).
std::string sns_notification_body(const Delivery& d, const std::string& message_id, const std::string& timestamp_iso);

class Notifier {
 public:
  Notifier(SmtpConfig smtp, RetryPolicy retry, size_t max_queue = 10000);
  ~Notifier();  // stops the worker; pending deliveries get until `drain` deadline only if drain() was called
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Never blocks on the network. When the queue is full the oldest pending delivery is dropped (and reported).
  void enqueue(Delivery d);
  // Waits up to `timeout` for the queue to empty (used at shutdown and in tests). True when everything was tried.
  bool drain(std::chrono::milliseconds timeout);
  // Called (on the worker thread) after each delivery finished, successfully or not.
  void on_result(std::function<void(const DeliveryResult&)> callback);

  uint64_t delivered() const;
  uint64_t failed() const;

 private:
  bool send_once(const Delivery& d, std::string* error);
  bool send_email(const Delivery& d, std::string* error);
  bool send_http(const Delivery& d, std::string* error);
  void run();

  SmtpConfig smtp_;
  RetryPolicy retry_;
  size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  struct Pending {
    Delivery delivery;
    int attempts = 0;
    std::chrono::steady_clock::time_point due;
    std::string last_error;
  };
  std::deque<Pending> queue_;
  bool busy_ = false;
  bool stop_ = false;
  uint64_t delivered_ = 0, failed_ = 0;
  std::function<void(const DeliveryResult&)> callback_;
  std::thread worker_;
};

}  // namespace mlfaas::notify
