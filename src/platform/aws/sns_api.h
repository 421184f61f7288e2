#pragma once
// SNS's query API (form-encoded POST /, XML answers): CreateTopic, DeleteTopic, ListTopics, Subscribe,
// Unsubscribe, ListSubscriptions, ListSubscriptionsByTopic, Publish and PublishBatch. The template's topics and
// subscriptions are served as they are; topics and subscriptions made here are kept in one JSON file (they
// outlive a restart) and may also subscribe functions to the template's topics. Publish delivers the message as
// Lambda's SNS event, asynchronously, to every subscribed function (Lambda's event queue and retries), and to
// e-mail and HTTP(S) subscribers through the monitoring's notifier.
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "platform/http_server.h"
#include "platform/platform.h"

namespace mlfaas::platform {
class Monitoring;
}

namespace mlfaas::platform::aws {

class SnsApi {
 public:
  // `state_file` holds what CreateTopic and Subscribe made; `monitoring` (may be null) mails and posts.
  SnsApi(Platform& platform, std::string state_file, Monitoring* monitoring);
  void handle(Request&& req, ExchangePtr ex);

 private:
  struct Subscription {
    std::string arn, protocol, endpoint;
  };
  struct Topic {
    std::string name, arn;
    bool from_template = false;
    std::vector<Subscription> subscriptions;  // made through Subscribe
  };
  Response create_topic(std::map<std::string, std::string>& form);
  Response delete_topic(std::map<std::string, std::string>& form);
  Response list_topics(std::map<std::string, std::string>& form);
  Response subscribe(std::map<std::string, std::string>& form);
  Response unsubscribe(std::map<std::string, std::string>& form);
  Response list_subscriptions(std::map<std::string, std::string>& form, bool by_topic);
  Response publish(std::map<std::string, std::string>& form);
  Response publish_batch(std::map<std::string, std::string>& form);
  Topic* topic(const std::string& arn_or_name);
  // Delivers one message; returns its MessageId. Throws ApiError for a message SNS would refuse.
  std::string deliver(Topic& topic, const std::string& message, const std::string& subject,
                      const std::string& structure, const nlohmann::json& attributes);
  void save() const;

  Platform& platform_;
  std::string state_file_;
  Monitoring* monitoring_;
  std::map<std::string, Topic> topics_;  // by ARN
};

}  // namespace mlfaas::platform::aws
