// Notification delivery against real servers: aiosmtpd (SMTP) and an HTTP endpoint that fails before accepting.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>

#include "platform/notify/notifier.h"
#include "test_process.h"

using namespace mlfaas::notify;
using namespace mlfaas::testing;
using namespace std::chrono_literals;

namespace {
const std::string kTools = std::string(MLFAAS_TEST_DATA) + "/../tools/";

RetryPolicy fast_retry(int attempts) {
  RetryPolicy r;
  r.max_attempts = attempts;
  r.first_backoff = 50ms;
  r.http_timeout_s = 5;
  return r;
}
}  // namespace

TEST(Notifier, EmailArrivesAtRealSmtpServer) {
  std::string dir = temp_dir("smtp");
  ChildProcess smtp({"/usr/bin/python3", kTools + "smtp_sink.py", "--mbox", dir + "/mbox", "--port-file", dir + "/port"});
  std::string port = wait_for_file(dir + "/port", 20s);
  ASSERT_FALSE(port.empty()) << "aiosmtpd did not start (is python3-aiosmtpd installed?)";

  SmtpConfig smtp_cfg;
  smtp_cfg.url = "smtp://127.0.0.1:" + port;
  smtp_cfg.from = "alarms@mlfaas.test";
  Notifier n(smtp_cfg, fast_retry(3));
  std::atomic<int> ok{0};
  n.on_result([&](const DeliveryResult& r) { ok += r.ok; });
  Delivery d;
  d.protocol = Protocol::Email;
  d.endpoint = "oncall@example.com";
  d.topic_arn = "arn:aws:sns:us-east-1:000000000000:alarms";
  d.subject = "ALARM: \"emotion-errors\" in US East (N. Virginia)";
  d.message = "Alarm emotion-errors went to ALARM.\n.\nA line that starts with a dot.";
  n.enqueue(d);
  ASSERT_TRUE(n.drain(20s));
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(n.delivered(), 1u);
  std::string mbox = wait_for_file(dir + "/mbox", 10s);
  mbox.erase(std::remove(mbox.begin(), mbox.end(), '\r'), mbox.end());
  EXPECT_NE(mbox.find("Subject: ALARM: \"emotion-errors\" in US East (N. Virginia)"), std::string::npos) << mbox;
  EXPECT_NE(mbox.find("To: oncall@example.com"), std::string::npos);
  EXPECT_NE(mbox.find("\n.\nA line that starts with a dot."), std::string::npos) << "dot-stuffing broke the body";
}

// SMTP servers refuse lines over 998 characters (aiosmtpd answers "500 Line too long"); an SNS message may be one
// long line of JSON, so such a body goes quoted-printable and must decode to the same text.
TEST(Notifier, LongLinesAreMailedQuotedPrintable) {
  std::string dir = temp_dir("smtp-long");
  ChildProcess smtp({"/usr/bin/python3", kTools + "smtp_sink.py", "--mbox", dir + "/mbox", "--port-file", dir + "/port"});
  std::string port = wait_for_file(dir + "/port", 20s);
  ASSERT_FALSE(port.empty()) << "aiosmtpd did not start (is python3-aiosmtpd installed?)";
  SmtpConfig smtp_cfg;
  smtp_cfg.url = "smtp://127.0.0.1:" + port;
  Notifier n(smtp_cfg, fast_retry(2));
  Delivery d;
  d.protocol = Protocol::Email;
  d.endpoint = "oncall@example.com";
  d.subject = "long";
  std::string line;
  for (int i = 0; i < 300; ++i) line += "{\"k\":" + std::to_string(i) + "} ";
  d.message = "first line\n" + line + "= caf\xc3\xa9 \nlast line";
  n.enqueue(d);
  ASSERT_TRUE(n.drain(20s));
  ASSERT_EQ(n.delivered(), 1u);
  std::string mbox = wait_for_file(dir + "/mbox", 10s);
  mbox.erase(std::remove(mbox.begin(), mbox.end(), '\r'), mbox.end());
  ASSERT_NE(mbox.find("Content-Transfer-Encoding: quoted-printable"), std::string::npos) << mbox;
  std::string body = mbox.substr(mbox.find("\n\n") + 2);
  std::string decoded;
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '=' && i + 1 < body.size() && body[i + 1] == '\n') {
      ++i;  // soft line break
    } else if (body[i] == '=' && i + 2 < body.size()) {
      decoded += char(std::stoi(body.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      decoded += body[i];
    }
  }
  EXPECT_NE(decoded.find(d.message), std::string::npos) << decoded.substr(0, 300);
  size_t longest = 0, run = 0;
  for (char c : mbox) longest = std::max(longest, run = c == '\n' ? 0 : run + 1);
  EXPECT_LE(longest, 76u);
}

TEST(Notifier, WebhookRetriedWithBackoffAndGetsSnsShapedBody) {
  std::string dir = temp_dir("hook");
  ChildProcess hook({"/usr/bin/python3", kTools + "webhook_sink.py", "--out", dir + "/posts", "--port-file",
                     dir + "/port", "--fail-first", "2"});
  std::string port = wait_for_file(dir + "/port", 20s);
  ASSERT_FALSE(port.empty());
  Notifier n(SmtpConfig{}, fast_retry(4));
  std::vector<DeliveryResult> results;
  std::mutex mu;
  n.on_result([&](const DeliveryResult& r) {
    std::lock_guard<std::mutex> lock(mu);
    results.push_back(r);
  });
  Delivery d;
  d.protocol = Protocol::Http;
  d.endpoint = "http://127.0.0.1:" + port + "/alarms";
  d.topic_arn = "arn:aws:sns:us-east-1:000000000000:alarms";
  d.subject = "OK: \"emotion-throttles\"";
  d.message = R"({"AlarmName":"emotion-throttles","NewStateValue":"OK"})";
  auto t0 = std::chrono::steady_clock::now();
  n.enqueue(d);
  ASSERT_TRUE(n.drain(30s));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok) << results[0].error;
  EXPECT_EQ(results[0].attempts, 3);
  EXPECT_GE(elapsed, 150ms) << "retries did not back off (50 ms, then 100 ms)";

  std::istringstream posts(read_file(dir + "/posts"));
  std::string line;
  std::vector<nlohmann::json> got;
  while (std::getline(posts, line)) got.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2]["status"], 200);
  EXPECT_EQ(got[2]["path"], "/alarms");
  EXPECT_EQ(got[2]["headers"]["x-amz-sns-message-type"], "Notification");
  EXPECT_EQ(got[2]["headers"]["x-amz-sns-topic-arn"], d.topic_arn);
  auto body = nlohmann::json::parse(got[2]["body"].get<std::string>());
  EXPECT_EQ(body["Type"], "Notification");
  EXPECT_EQ(body["TopicArn"], d.topic_arn);
  EXPECT_EQ(body["Subject"], d.subject);
  EXPECT_EQ(body["Message"], d.message);
  EXPECT_EQ(body["MessageId"].get<std::string>().size(), 36u);
  EXPECT_EQ(body["MessageId"], got[2]["headers"]["x-amz-sns-message-id"]);
}

TEST(Notifier, GivesUpAfterMaxAttemptsAndReportsError) {
  Notifier n(SmtpConfig{}, fast_retry(2));
  std::vector<DeliveryResult> results;
  std::mutex mu;
  n.on_result([&](const DeliveryResult& r) {
    std::lock_guard<std::mutex> lock(mu);
    results.push_back(r);
  });
  Delivery d;
  d.endpoint = "http://127.0.0.1:9/nothing-listens-here";
  n.enqueue(d);
  ASSERT_TRUE(n.drain(20s));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].ok);
  EXPECT_EQ(results[0].attempts, 2);
  EXPECT_NE(results[0].error.find("127.0.0.1:9"), std::string::npos) << results[0].error;
  EXPECT_EQ(n.failed(), 1u);
}

TEST(Notifier, EnqueueNeverBlocksAndBoundsTheQueue) {
  RetryPolicy r = fast_retry(1);
  Notifier n(SmtpConfig{}, r, /*max_queue=*/4);
  Delivery d;
  d.endpoint = "http://127.0.0.1:9/x";
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) n.enqueue(d);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 200ms);
  ASSERT_TRUE(n.drain(30s));
  EXPECT_EQ(n.delivered() + n.failed(), 100u);  // each either tried or reported as dropped
}
