#include "platform/aws/sns_api.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "common/codec.h"
#include "platform/aws/function_store.h"
#include "platform/aws/protocol.h"
#include "platform/monitoring.h"

namespace mlfaas::platform::aws {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kMessageLimit = 256 * 1024;  // SNS: 256 KB per message, and per PublishBatch request
constexpr size_t kBatchLimit = 10;
constexpr size_t kListPage = 100;

[[noreturn]] void refuse(http::status status, const std::string& code, const std::string& message) {
  throw ApiError(status, code, message);
}
[[noreturn]] void invalid_parameter(const std::string& message) {
  refuse(http::status::bad_request, "InvalidParameter", "Invalid parameter: " + message);
}
[[noreturn]] void topic_not_found() { refuse(http::status::not_found, "NotFound", "Topic does not exist"); }

std::string member(const std::string& inner) { return "<member>" + inner + "</member>"; }
std::string element(const std::string& name, const std::string& value) {
  return "<" + name + ">" + xml_escape(value) + "</" + name + ">";
}

// MessageAttributes.entry.N.Name / .Value.DataType / .Value.StringValue, as Lambda's event carries them.
json message_attributes(const std::map<std::string, std::string>& form, const std::string& prefix) {
  json out = json::object();
  for (int n = 1;; ++n) {
    std::string base = fmt::format("{}MessageAttributes.entry.{}.", prefix, n);
    auto name = form.find(base + "Name");
    if (name == form.end()) break;
    auto type = form.find(base + "Value.DataType");
    auto value = form.find(base + "Value.StringValue");
    auto binary = form.find(base + "Value.BinaryValue");
    out[name->second] = {{"Type", type == form.end() ? "String" : type->second},
                         {"Value", value != form.end() ? value->second : binary != form.end() ? binary->second : ""}};
  }
  return out;
}

}  // namespace

SnsApi::SnsApi(Platform& platform, std::string state_file, Monitoring* monitoring)
    : platform_(platform), state_file_(std::move(state_file)), monitoring_(monitoring) {
  for (const auto& t : platform_.tpl().topics) topics_[t.arn] = Topic{t.name, t.arn, true, {}};
  std::ifstream in(state_file_);
  if (!in) return;
  json saved = json::parse(in, nullptr, false);
  if (!saved.is_array()) {
    platform_.console().line("mlfaas: warning: " + state_file_ + ": not a JSON array, SNS state ignored");
    return;
  }
  for (const auto& t : saved) {
    if (!t.is_object() || !t.contains("TopicArn") || !t["TopicArn"].is_string()) continue;
    Topic& topic = topics_[t["TopicArn"].get<std::string>()];
    if (topic.arn.empty()) topic = Topic{t.value("Name", ""), t["TopicArn"].get<std::string>(), false, {}};
    for (const auto& s : t.value("Subscriptions", json::array()))
      topic.subscriptions.push_back({s.value("SubscriptionArn", ""), s.value("Protocol", ""), s.value("Endpoint", "")});
  }
}

void SnsApi::save() const {
  json out = json::array();
  for (const auto& [arn, t] : topics_) {
    if (t.from_template && t.subscriptions.empty()) continue;
    json subs = json::array();
    for (const auto& s : t.subscriptions)
      subs.push_back({{"SubscriptionArn", s.arn}, {"Protocol", s.protocol}, {"Endpoint", s.endpoint}});
    out.push_back({{"Name", t.name}, {"TopicArn", t.arn}, {"Subscriptions", subs}});
  }
  fs::create_directories(fs::path(state_file_).parent_path());
  std::string tmp = state_file_ + ".tmp";
  {
    std::ofstream f(tmp);
    f << out.dump(2) << "\n";
  }
  fs::rename(tmp, state_file_);
}

SnsApi::Topic* SnsApi::topic(const std::string& arn_or_name) {
  auto it = topics_.find(arn_or_name);
  if (it != topics_.end()) return &it->second;
  for (auto& [arn, t] : topics_)  // the template's topics may be named by TopicName (serve has always allowed it)
    if (t.from_template && t.name == arn_or_name) return &t;
  return nullptr;
}

void SnsApi::handle(Request&& req, ExchangePtr ex) {
  auto form = parse_form(req.body());
  const std::string action = form["Action"];
  Response res;
  try {
    if (action == "CreateTopic") res = create_topic(form);
    else if (action == "DeleteTopic") res = delete_topic(form);
    else if (action == "ListTopics") res = list_topics(form);
    else if (action == "Subscribe") res = subscribe(form);
    else if (action == "Unsubscribe") res = unsubscribe(form);
    else if (action == "ListSubscriptions") res = list_subscriptions(form, false);
    else if (action == "ListSubscriptionsByTopic") res = list_subscriptions(form, true);
    else if (action == "Publish") res = publish(form);
    else if (action == "PublishBatch") res = publish_batch(form);
    else
      refuse(http::status::bad_request, "InvalidAction",
             "mlfaas serves the SNS actions CreateTopic, DeleteTopic, ListTopics, Subscribe, Unsubscribe, "
             "ListSubscriptions(ByTopic), Publish and PublishBatch, not '" + action + "'");
  } catch (const ApiError& e) {
    res = sns_error(e.status, e.type, e.what());
  }
  ex->respond(std::move(res));
}

Response SnsApi::create_topic(std::map<std::string, std::string>& form) {
  const std::string& name = form["Name"];
  static const std::regex pattern("[A-Za-z0-9_-]{1,256}");
  if (!std::regex_match(name, pattern))
    invalid_parameter("Topic Name");  // SNS's words; FIFO topics (.fifo) are not served
  std::string arn = fmt::format("arn:aws:sns:{}:{}:{}", platform_.tpl().region, platform_.tpl().account_id, name);
  if (!topics_.count(arn)) {  // CreateTopic is idempotent
    topics_[arn] = Topic{name, arn, false, {}};
    save();
  }
  return sns_result("CreateTopic", element("TopicArn", arn));
}

Response SnsApi::delete_topic(std::map<std::string, std::string>& form) {
  Topic* t = topic(form["TopicArn"]);
  if (t && t->from_template)
    refuse(http::status::bad_request, "InvalidParameter",
           "Invalid parameter: TopicArn: " + t->arn + " is defined by the template; remove it there");
  if (t) {  // deleting a topic that does not exist succeeds, as on SNS
    topics_.erase(t->arn);
    save();
  }
  return sns_result("DeleteTopic", "");
}

Response SnsApi::list_topics(std::map<std::string, std::string>& form) {
  size_t start = 0;
  if (!form["NextToken"].empty()) {
    try {
      start = std::stoul(form["NextToken"]);
    } catch (const std::exception&) {
      invalid_parameter("NextToken");
    }
  }
  std::string members;
  size_t i = 0, shown = 0;
  for (const auto& [arn, t] : topics_) {
    if (i++ < start) continue;
    if (shown == kListPage) break;
    members += member(element("TopicArn", arn));
    ++shown;
  }
  std::string next = start + shown < topics_.size() ? element("NextToken", std::to_string(start + shown)) : "";
  return sns_result("ListTopics", "<Topics>" + members + "</Topics>" + next);
}

Response SnsApi::subscribe(std::map<std::string, std::string>& form) {
  Topic* t = topic(form["TopicArn"]);
  if (!t) topic_not_found();
  const std::string protocol = form["Protocol"], endpoint = form["Endpoint"];
  static const std::set<std::string> served = {"lambda", "email", "email-json", "http", "https"};
  if (!served.count(protocol))
    invalid_parameter("Invalid protocol type: " + protocol + " (mlfaas serve delivers to lambda, email, "
                      "email-json, http and https)");
  if (protocol == "lambda" && !endpoint.starts_with("arn:aws:lambda:"))
    invalid_parameter("Lambda endpoint ARN");
  if ((protocol == "http" || protocol == "https") && !endpoint.starts_with(protocol + "://"))
    invalid_parameter("Endpoint must match the specified protocol");
  for (const auto& s : t->subscriptions)
    if (s.protocol == protocol && s.endpoint == endpoint)
      return sns_result("Subscribe", element("SubscriptionArn", s.arn));
  Subscription sub{t->arn + ":" + lambda::random_uuid(), protocol, endpoint};
  t->subscriptions.push_back(sub);
  save();
  return sns_result("Subscribe", element("SubscriptionArn", sub.arn));
}

Response SnsApi::unsubscribe(std::map<std::string, std::string>& form) {
  const std::string& arn = form["SubscriptionArn"];
  for (auto& [topic_arn, t] : topics_)
    for (auto s = t.subscriptions.begin(); s != t.subscriptions.end(); ++s)
      if (s->arn == arn) {
        t.subscriptions.erase(s);
        save();
        return sns_result("Unsubscribe", "");
      }
  refuse(http::status::not_found, "NotFound", "Subscription does not exist");
}

Response SnsApi::list_subscriptions(std::map<std::string, std::string>& form, bool by_topic) {
  Topic* only = nullptr;
  if (by_topic && !(only = topic(form["TopicArn"]))) topic_not_found();
  std::string members;
  auto add = [&](const std::string& sub_arn, const std::string& protocol, const std::string& endpoint,
                 const std::string& topic_arn) {
    members += member(element("SubscriptionArn", sub_arn) + element("Owner", platform_.tpl().account_id) +
                      element("Protocol", protocol) + element("Endpoint", endpoint) + element("TopicArn", topic_arn));
  };
  for (auto& [arn, t] : topics_) {
    if (only && only != &t) continue;
    if (t.from_template) {
      for (const auto& s : platform_.tpl().topic_by_arn(arn)->subscriptions)
        add(arn + ":template", s.protocol, s.endpoint, arn);
      for (Function* f : platform_.subscribers(arn)) add(arn + ":template", "lambda", f->spec.arn, arn);
    }
    for (const auto& s : t.subscriptions) add(s.arn, s.protocol, s.endpoint, arn);
  }
  return sns_result(by_topic ? "ListSubscriptionsByTopic" : "ListSubscriptions",
                    "<Subscriptions>" + members + "</Subscriptions>");
}

std::string SnsApi::deliver(Topic& topic, const std::string& message, const std::string& subject,
                            const std::string& structure, const json& attributes) {
  if (message.empty()) invalid_parameter("Empty message");
  if (message.size() > kMessageLimit) invalid_parameter("Message too long");
  // MessageStructure=json: one message per protocol, "default" for the others.
  json per_protocol;
  if (structure == "json") {
    per_protocol = json::parse(message, nullptr, false);
    if (!per_protocol.is_object() || !per_protocol.contains("default") || !per_protocol["default"].is_string())
      invalid_parameter("Message Structure - No default entry in JSON message body");
  }
  auto message_for = [&](const std::string& protocol) {
    if (per_protocol.is_null()) return message;
    const json& m = per_protocol.contains(protocol) && per_protocol[protocol].is_string() ? per_protocol[protocol]
                                                                                          : per_protocol["default"];
    return m.get<std::string>();
  };
  std::string message_id = lambda::random_uuid();
  std::string timestamp = lambda::iso8601_now();
  auto event_for = [&](const std::string& subscription_arn) {
    json record = {{"EventSource", "aws:sns"},
                   {"EventVersion", "1.0"},
                   {"EventSubscriptionArn", subscription_arn},
                   {"Sns",
                    {{"Type", "Notification"},
                     {"MessageId", message_id},
                     {"TopicArn", topic.arn},
                     {"Subject", subject.empty() ? json(nullptr) : json(subject)},
                     {"Message", message_for("lambda")},
                     {"Timestamp", timestamp},
                     {"SignatureVersion", "1"},
                     {"Signature", ""},
                     {"SigningCertUrl", ""},
                     {"UnsubscribeUrl", ""},
                     {"MessageAttributes", attributes}}}};
    return dump(json{{"Records", json::array({record})}});
  };
  auto to_function = [&](Function* fn, const std::string& subscription_arn) {
    auto inv = std::make_shared<Invocation>();
    inv->request_id = lambda::random_uuid();
    inv->payload = event_for(subscription_arn);
    inv->async = true;
    inv->source = "sns:" + topic.name;
    if (platform_.invoke(*fn, inv) == Platform::Admission::Throttled)
      platform_.console().line(fmt::format("mlfaas: {}: event queue full, SNS message {} dropped", fn->spec.name,
                                           message_id));
  };
  auto to_notifier = [&](const std::string& protocol, const std::string& endpoint) {
    if (!monitoring_) return;
    notify::Delivery d;
    if (protocol == "email" || protocol == "email-json") d.protocol = notify::Protocol::Email;
    else if (protocol == "http" || protocol == "https") d.protocol = notify::Protocol::Http;
    else return;
    d.endpoint = endpoint;
    d.topic_arn = topic.arn;
    d.subject = subject.empty() ? "AWS Notification Message" : subject;
    d.message = message_for(protocol);
    monitoring_->notifier().enqueue(std::move(d));  // queued: Publish never waits on them
  };

  std::set<Function*> reached;
  if (topic.from_template) {
    for (Function* fn : platform_.subscribers(topic.arn))
      if (reached.insert(fn).second) to_function(fn, topic.arn + ":" + lambda::random_uuid());
    for (const auto& s : platform_.tpl().topic_by_arn(topic.arn)->subscriptions) to_notifier(s.protocol, s.endpoint);
  }
  for (const auto& s : topic.subscriptions) {
    if (s.protocol != "lambda") {
      to_notifier(s.protocol, s.endpoint);
      continue;
    }
    Function* fn = platform_.function(s.endpoint);
    if (!fn) {
      platform_.console().line(fmt::format("mlfaas: SNS {}: subscribed function {} does not exist, message {} not "
                                           "delivered to it", topic.name, s.endpoint, message_id));
      continue;
    }
    if (reached.insert(fn).second) to_function(fn, s.arn);
  }
  return message_id;
}

Response SnsApi::publish(std::map<std::string, std::string>& form) {
  Topic* t = topic(form.count("TopicArn") ? form["TopicArn"] : form["TargetArn"]);
  if (!t) topic_not_found();
  if (!form.count("Message")) invalid_parameter("Empty message");
  std::string id = deliver(*t, form["Message"], form["Subject"], form["MessageStructure"], message_attributes(form, ""));
  return sns_result("Publish", element("MessageId", id));
}

Response SnsApi::publish_batch(std::map<std::string, std::string>& form) {
  Topic* t = topic(form["TopicArn"]);
  if (!t) topic_not_found();
  struct Entry {
    std::string prefix, id;
  };
  std::vector<Entry> entries;
  std::set<std::string> ids;
  size_t total = 0;
  for (int n = 1;; ++n) {
    std::string prefix = fmt::format("PublishBatchRequestEntries.member.{}.", n);
    if (!form.count(prefix + "Id")) break;
    entries.push_back({prefix, form[prefix + "Id"]});
    total += form[prefix + "Message"].size();
    if (!ids.insert(entries.back().id).second)
      refuse(http::status::bad_request, "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have "
                                                                    "the same Id.");
  }
  if (entries.empty())
    refuse(http::status::bad_request, "EmptyBatchRequest", "The batch request doesn't contain any entries.");
  if (entries.size() > kBatchLimit)
    refuse(http::status::bad_request, "TooManyEntriesInBatchRequest",
           fmt::format("The batch request contains more entries than permissible ({}).", kBatchLimit));
  if (total > kMessageLimit)
    refuse(http::status::bad_request, "BatchRequestTooLong",
           "The length of all the messages put together is more than the limit.");
  std::string successful, failed;
  for (const auto& e : entries) {
    try {
      std::string id = deliver(*t, form[e.prefix + "Message"], form[e.prefix + "Subject"],
                               form[e.prefix + "MessageStructure"], message_attributes(form, e.prefix));
      successful += member(element("Id", e.id) + element("MessageId", id));
    } catch (const ApiError& why) {
      failed += member(element("Id", e.id) + element("Code", why.type) + element("Message", why.what()) +
                       element("SenderFault", "true"));
    }
  }
  return sns_result("PublishBatch", "<Successful>" + successful + "</Successful><Failed>" + failed + "</Failed>");
}

}  // namespace mlfaas::platform::aws
