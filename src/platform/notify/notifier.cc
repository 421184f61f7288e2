#include "platform/notify/notifier.h"

#include "common/codec.h"

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace mlfaas::notify {
namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

bool is_ascii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// RFC 2047 encoded-word for non-ASCII header values; header injection is prevented by dropping CR/LF.
std::string header_value(std::string v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](char c) { return c == '\r' || c == '\n'; }), v.end());
  return is_ascii(v) ? v : "=?UTF-8?B?" + lambda::base64_encode(v) + "?=";
}

std::string rfc5322_date() { return lambda::utc_strftime(std::time(nullptr), "%a, %d %b %Y %H:%M:%S +0000"); }

// Normalises line endings to CRLF as SMTP requires.
std::string crlf(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) out += '\r';
    out += s[i];
  }
  return out;
}

struct Upload {
  const std::string* data;
  size_t pos = 0;
};

size_t read_upload(char* buf, size_t size, size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  size_t len = std::min(size * n, u->data->size() - u->pos);
  std::memcpy(buf, u->data->data() + u->pos, len);
  u->pos += len;
  return len;
}

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

std::string sns_notification_body(const Delivery& d, const std::string& message_id, const std::string& timestamp) {
  nlohmann::ordered_json j;
  j["Type"] = "Notification";
  j["MessageId"] = message_id;
  j["TopicArn"] = d.topic_arn;
  if (!d.subject.empty()) j["Subject"] = d.subject;
  j["Message"] = d.message;
  j["Timestamp"] = timestamp;
  j["SignatureVersion"] = "1";
  j["Signature"] = "";  // not signed by the local platform
  j["SigningCertURL"] = "";
  j["UnsubscribeURL"] = "";
  return j.dump();
}

Notifier::Notifier(SmtpConfig smtp, RetryPolicy retry, size_t max_queue)
    : smtp_(std::move(smtp)), retry_(retry), max_queue_(std::max<size_t>(1, max_queue)) {
  static CurlGlobal global;
  worker_ = std::thread([this] { run(); });
}

Notifier::~Notifier() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void Notifier::on_result(std::function<void(const DeliveryResult&)> callback) {
  std::lock_guard<std::mutex> lock(mu_);
  callback_ = std::move(callback);
}

void Notifier::enqueue(Delivery d) {
  if (d.message_id.empty()) d.message_id = lambda::random_uuid();
  std::function<void(const DeliveryResult&)> cb;
  DeliveryResult dropped;
  bool drop = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= max_queue_) {
      dropped.delivery = std::move(queue_.front().delivery);
      dropped.attempts = queue_.front().attempts;
      dropped.error = "dropped: notification queue full";
      queue_.pop_front();
      ++failed_;
      drop = true;
      cb = callback_;
    }
    queue_.push_back({std::move(d), 0, std::chrono::steady_clock::now(), {}});
  }
  cv_.notify_all();
  if (drop && cb) cb(dropped);
}

bool Notifier::drain(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [this] { return queue_.empty() && !busy_; });
}

uint64_t Notifier::delivered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return delivered_;
}

uint64_t Notifier::failed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_;
}

void Notifier::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (queue_.empty()) {
      idle_cv_.notify_all();
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      continue;
    }
    // The earliest-due delivery goes next, so one endpoint's back-off never holds up the others.
    auto it = std::min_element(queue_.begin(), queue_.end(),
                               [](const Pending& a, const Pending& b) { return a.due < b.due; });
    auto now = std::chrono::steady_clock::now();
    if (it->due > now) {
      cv_.wait_until(lock, it->due);
      continue;
    }
    Pending p = std::move(*it);
    queue_.erase(it);
    busy_ = true;
    lock.unlock();

    std::string error;
    bool ok = send_once(p.delivery, &error);
    ++p.attempts;

    lock.lock();
    busy_ = false;
    if (!ok && p.attempts < retry_.max_attempts && !stop_) {
      double factor = 1;
      for (int i = 1; i < p.attempts; ++i) factor *= retry_.factor;
      auto backoff = std::chrono::milliseconds(static_cast<long long>(retry_.first_backoff.count() * factor));
      p.due = std::chrono::steady_clock::now() + std::min(backoff, retry_.max_backoff);
      p.last_error = error;
      queue_.push_back(std::move(p));
      continue;
    }
    (ok ? delivered_ : failed_) += 1;
    auto cb = callback_;
    DeliveryResult result{std::move(p.delivery), ok, p.attempts, ok ? std::string() : error};
    lock.unlock();
    if (cb) cb(result);
    lock.lock();
  }
  idle_cv_.notify_all();
}

bool Notifier::send_once(const Delivery& d, std::string* error) {
  return d.protocol == Protocol::Email ? send_email(d, error) : send_http(d, error);
}

namespace {

bool has_long_line(const std::string& text) {
  size_t run = 0;
  for (char ch : text) {
    run = ch == '\n' ? 0 : run + 1;
    if (run > 998) return true;  // RFC 5321's limit; servers refuse longer lines
  }
  return false;
}

// RFC 2045 quoted-printable: keeps every line of the message under 77 characters, whatever the text holds.
std::string quoted_printable(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  size_t col = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char ch = static_cast<unsigned char>(text[i]);
    if (ch == '\n') {
      out += '\n';
      col = 0;
      continue;
    }
    bool at_line_end = i + 1 == text.size() || text[i + 1] == '\n';
    std::string piece;
    if ((ch >= 33 && ch <= 126 && ch != '=') || ((ch == ' ' || ch == '\t') && !at_line_end)) piece = char(ch);
    else piece = {'=', hex[ch >> 4], hex[ch & 15]};
    if (col + piece.size() > 75) {
      out += "=\n";
      col = 0;
    }
    out += piece;
    col += piece.size();
  }
  return out;
}

}  // namespace

bool Notifier::send_email(const Delivery& d, std::string* error) {
  CURL* c = curl_easy_init();
  if (c == nullptr) {
    *error = "cannot initialise libcurl";
    return false;
  }
  std::string body = crlf("Date: " + rfc5322_date() + "\nFrom: " + header_value(smtp_.from) +
                          "\nTo: " + header_value(d.endpoint) + "\nSubject: " + header_value(d.subject) +
                          "\nMessage-ID: <" + lambda::random_uuid() + "@mlfaas>\nMIME-Version: 1.0\n"
                          "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: " +
                          (has_long_line(d.message) ? "quoted-printable\n\n" + quoted_printable(d.message)
                                                    : "8bit\n\n" + d.message) +
                          "\n");
  Upload upload{&body};
  std::string from = "<" + smtp_.from + ">";
  curl_slist* rcpt = curl_slist_append(nullptr, ("<" + d.endpoint + ">").c_str());
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, smtp_.url.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, read_upload);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, smtp_.timeout_s);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  if (smtp_.starttls) curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (!smtp_.verify_tls) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!smtp_.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, smtp_.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, smtp_.password.c_str());
  }
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(rcpt);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) {
    *error = "smtp to " + d.endpoint + " via " + smtp_.url + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return false;
  }
  return true;
}

bool Notifier::send_http(const Delivery& d, std::string* error) {
  CURL* c = curl_easy_init();
  if (c == nullptr) {
    *error = "cannot initialise libcurl";
    return false;
  }
  const std::string message_id = d.message_id.empty() ? lambda::random_uuid() : d.message_id;
  const std::string body = sns_notification_body(d, message_id, lambda::iso8601_now());
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: text/plain; charset=UTF-8");
  headers = curl_slist_append(headers, "x-amz-sns-message-type: Notification");
  headers = curl_slist_append(headers, ("x-amz-sns-message-id: " + message_id).c_str());
  headers = curl_slist_append(headers, ("x-amz-sns-topic-arn: " + header_value(d.topic_arn)).c_str());
  headers = curl_slist_append(headers, "User-Agent: Amazon Simple Notification Service Agent");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, d.endpoint.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT, retry_.http_timeout_s);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) {
    *error = "POST " + d.endpoint + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return false;
  }
  if (status < 200 || status >= 300) {
    *error = "POST " + d.endpoint + ": HTTP " + std::to_string(status);
    return false;
  }
  return true;
}

}  // namespace mlfaas::notify
