#include "platform/aws/logs_api.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include "platform/aws/protocol.h"

namespace mlfaas::platform::aws {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kTargetPrefix = "Logs_20140328.";
constexpr const char* kGroupPrefix = "/aws/lambda/";
constexpr size_t kMaxResponseBytes = 1u << 20;  // CloudWatch Logs: at most 1 MB of events per answer

struct Event {
  int64_t timestamp;
  std::string stream;
  std::string message;
};

struct Stream {
  std::string name;
  int64_t first = 0, last = 0;
  int64_t bytes = 0;
};

struct BadRequest : std::runtime_error {
  BadRequest(std::string t, const std::string& m) : std::runtime_error(m), type(std::move(t)) {}
  std::string type;
};

// The file's complete lines, in order.
std::vector<Event> read_events(const fs::path& file) {
  std::vector<Event> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline yet: the writer is still on it
    auto t1 = line.find('\t');
    auto t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
    if (t2 == std::string::npos) continue;
    int64_t ts = parse_iso8601_ms(std::string_view(line).substr(0, t1));
    if (ts < 0) continue;
    out.push_back({ts, line.substr(t1 + 1, t2 - t1 - 1), line.substr(t2 + 1)});
  }
  return out;
}

std::string require_string(const json& body, const char* key) {
  if (!body.contains(key) || !body[key].is_string())
    throw BadRequest("InvalidParameterException", std::string("1 validation error detected: Value null at '") + key +
                                                      "' failed to satisfy constraint: Member must not be null");
  return body[key].get<std::string>();
}

size_t token_index(const json& body, const char* key, const char* prefix) {
  if (!body.contains(key) || body[key].is_null()) return 0;
  std::string t = body[key].is_string() ? body[key].get<std::string>() : "";
  if (!t.starts_with(prefix)) throw BadRequest("InvalidParameterException", "The specified nextToken is invalid.");
  try {
    return std::stoul(t.substr(std::strlen(prefix)));
  } catch (const std::exception&) {
    throw BadRequest("InvalidParameterException", "The specified nextToken is invalid.");
  }
}

size_t limit_of(const json& body, size_t def, size_t max) {
  if (!body.contains("limit")) return def;
  if (!body["limit"].is_number_integer() || body["limit"].get<long long>() < 1 ||
      body["limit"].get<long long>() > (long long)max)
    throw BadRequest("InvalidParameterException",
                     fmt::format("1 validation error detected: Value at 'limit' failed to satisfy constraint: Member "
                                 "must have value between 1 and {}", max));
  return body["limit"].get<size_t>();
}

}  // namespace

bool matches_filter(const std::string& pattern, const std::string& message) {
  size_t i = 0;
  bool any_optional = false, optional_hit = false;
  auto first = pattern.find_first_not_of(' ');
  if (first != std::string::npos && (pattern[first] == '{' || pattern[first] == '['))
    throw std::invalid_argument("mlfaas serve reads filter patterns of terms (REPORT, \"a phrase\", ?either, "
                                "-not), not JSON or space-delimited ones");
  while (i < pattern.size()) {
    while (i < pattern.size() && pattern[i] == ' ') ++i;
    if (i >= pattern.size()) break;
    char sign = 0;
    if (pattern[i] == '?' || pattern[i] == '-') sign = pattern[i++];
    std::string term;
    if (i < pattern.size() && pattern[i] == '"') {
      auto close = pattern.find('"', i + 1);
      term = pattern.substr(i + 1, close == std::string::npos ? std::string::npos : close - i - 1);
      i = close == std::string::npos ? pattern.size() : close + 1;
    } else {
      auto end = pattern.find(' ', i);
      term = pattern.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i = end == std::string::npos ? pattern.size() : end;
    }
    if (term.empty()) continue;
    bool found = message.find(term) != std::string::npos;
    if (sign == '?') {
      any_optional = true;
      optional_hit = optional_hit || found;
    } else if (sign == '-') {
      if (found) return false;
    } else if (!found) {
      return false;
    }
  }
  return !any_optional || optional_hit;
}

LogsApi::LogsApi(std::string log_dir, std::string region, std::string account_id)
    : log_dir_(std::move(log_dir)), region_(std::move(region)), account_id_(std::move(account_id)) {}

bool LogsApi::handles(const Request& req) {
  return req.method() == http::verb::post && std::string(req["X-Amz-Target"]).starts_with(kTargetPrefix);
}

Response LogsApi::handle(const Request& req) const {
  std::string action = std::string(req["X-Amz-Target"]).substr(std::strlen(kTargetPrefix));
  auto ok = [](const json& j) { return make_response(http::status::ok, dump(j), "application/x-amz-json-1.1"); };
  auto group_file = [this](const std::string& group) -> fs::path {
    if (!group.starts_with(kGroupPrefix) || group.find('/', std::strlen(kGroupPrefix)) != std::string::npos)
      return {};
    fs::path p = fs::path(log_dir_) / (group.substr(std::strlen(kGroupPrefix)) + ".log");
    return fs::exists(p) ? p : fs::path{};
  };
  auto group_arn = [this](const std::string& group) {
    return fmt::format("arn:aws:logs:{}:{}:log-group:{}", region_, account_id_, group);
  };
  try {
    json body = json::parse(req.body().empty() ? "{}" : req.body(), nullptr, false);
    if (!body.is_object()) throw BadRequest("SerializationException", "the body is not a JSON object");

    if (action == "DescribeLogGroups") {
      std::string prefix = body.value("logGroupNamePrefix", "");
      std::vector<std::pair<std::string, fs::path>> groups;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(log_dir_, ec))
        if (e.path().extension() == ".log") {
          std::string group = kGroupPrefix + e.path().stem().string();
          if (group.starts_with(prefix)) groups.emplace_back(group, e.path());
        }
      std::sort(groups.begin(), groups.end());
      size_t start = token_index(body, "nextToken", "g/"), limit = limit_of(body, 50, 50);
      json out = json::array();
      for (size_t i = start; i < groups.size() && out.size() < limit; ++i) {
        auto events = read_events(groups[i].second);
        std::error_code size_ec;
        out.push_back({{"logGroupName", groups[i].first},
                       {"creationTime", events.empty() ? unix_ms_now() : events.front().timestamp},
                       {"metricFilterCount", 0},
                       {"arn", group_arn(groups[i].first) + ":*"},
                       {"logGroupArn", group_arn(groups[i].first)},
                       {"storedBytes", int64_t(fs::file_size(groups[i].second, size_ec))},
                       {"logGroupClass", "STANDARD"}});
      }
      json answer = {{"logGroups", out}};
      if (start + out.size() < groups.size()) answer["nextToken"] = "g/" + std::to_string(start + out.size());
      return ok(answer);
    }

    std::string group = require_string(body, "logGroupName");
    fs::path file = group_file(group);
    if (file.empty()) throw BadRequest("ResourceNotFoundException", "The specified log group does not exist.");
    std::vector<Event> events = read_events(file);

    if (action == "DescribeLogStreams") {
      std::map<std::string, Stream> streams;
      for (const auto& e : events) {
        Stream& s = streams[e.stream];
        if (s.name.empty()) s = {e.stream, e.timestamp, e.timestamp, 0};
        s.last = e.timestamp;
        s.bytes += int64_t(e.message.size());
      }
      std::string prefix = body.value("logStreamNamePrefix", "");
      std::string order = body.value("orderBy", "LogStreamName");
      if (order != "LogStreamName" && order != "LastEventTime")
        throw BadRequest("InvalidParameterException", "orderBy must be LogStreamName or LastEventTime");
      if (order == "LastEventTime" && !prefix.empty())
        throw BadRequest("InvalidParameterException",
                         "Cannot order by LastEventTime with a logStreamNamePrefix.");
      std::vector<Stream> list;
      for (auto& [name, s] : streams)
        if (name.starts_with(prefix)) list.push_back(s);
      if (order == "LastEventTime")
        std::stable_sort(list.begin(), list.end(), [](const Stream& a, const Stream& b) { return a.last < b.last; });
      if (body.value("descending", false)) std::reverse(list.begin(), list.end());
      size_t start = token_index(body, "nextToken", "s/"), limit = limit_of(body, 50, 50);
      json out = json::array();
      for (size_t i = start; i < list.size() && out.size() < limit; ++i)
        out.push_back({{"logStreamName", list[i].name},
                       {"creationTime", list[i].first},
                       {"firstEventTimestamp", list[i].first},
                       {"lastEventTimestamp", list[i].last},
                       {"lastIngestionTime", list[i].last},
                       {"uploadSequenceToken", "1"},
                       {"arn", group_arn(group) + ":log-stream:" + list[i].name},
                       {"storedBytes", 0}});
      json answer = {{"logStreams", out}};
      if (start + out.size() < list.size()) answer["nextToken"] = "s/" + std::to_string(start + out.size());
      return ok(answer);
    }

    int64_t start_time = body.value("startTime", int64_t(0));
    int64_t end_time = body.value("endTime", std::numeric_limits<int64_t>::max());
    auto in_time = [&](const Event& e) { return e.timestamp >= start_time && e.timestamp < end_time; };

    if (action == "GetLogEvents") {
      std::string stream = require_string(body, "logStreamName");
      std::vector<const Event*> selected;
      for (const auto& e : events)
        if (e.stream == stream && in_time(e)) selected.push_back(&e);
      bool stream_known = std::any_of(events.begin(), events.end(), [&](const Event& e) { return e.stream == stream; });
      if (!stream_known) throw BadRequest("ResourceNotFoundException", "The specified log stream does not exist.");
      size_t limit = limit_of(body, 10000, 10000), begin = 0, end = 0;
      std::string token = body.value("nextToken", "");
      if (token.starts_with("b/")) {  // the page before this position
        end = std::min(token_index(body, "nextToken", "b/"), selected.size());
        begin = end > limit ? end - limit : 0;
      } else if (token.starts_with("f/") || body.value("startFromHead", false)) {
        begin = std::min(token.empty() ? 0 : token_index(body, "nextToken", "f/"), selected.size());
        end = std::min(begin + limit, selected.size());
      } else {  // the newest events, as CloudWatch answers by default
        end = selected.size();
        begin = end > limit ? end - limit : 0;
      }
      json out = json::array();
      for (size_t i = begin; i < end; ++i)
        out.push_back({{"timestamp", selected[i]->timestamp},
                       {"message", selected[i]->message},
                       {"ingestionTime", selected[i]->timestamp}});
      return ok({{"events", out}, {"nextForwardToken", "f/" + std::to_string(end)},
                 {"nextBackwardToken", "b/" + std::to_string(begin)}});
    }

    if (action == "FilterLogEvents") {
      std::string pattern = body.value("filterPattern", "");
      std::string prefix = body.value("logStreamNamePrefix", "");
      std::set<std::string> names;
      if (body.contains("logStreamNames") && body["logStreamNames"].is_array()) {
        if (!prefix.empty())
          throw BadRequest("InvalidParameterException",
                           "logStreamNames and logStreamNamePrefix are mutually exclusive");
        for (const auto& n : body["logStreamNames"])
          if (n.is_string()) names.insert(n.get<std::string>());
      }
      size_t start = token_index(body, "nextToken", "e/"), limit = limit_of(body, 10000, 10000);
      json out = json::array();
      std::set<std::string> searched;
      size_t bytes = 0, i = start;
      for (; i < events.size() && out.size() < limit && bytes < kMaxResponseBytes; ++i) {
        const Event& e = events[i];
        if (!e.stream.starts_with(prefix) || (!names.empty() && !names.count(e.stream)) || !in_time(e)) continue;
        searched.insert(e.stream);
        bool hit;
        try {
          hit = matches_filter(pattern, e.message);
        } catch (const std::invalid_argument& why) {
          throw BadRequest("InvalidParameterException", why.what());
        }
        if (!hit) continue;
        bytes += e.message.size() + 100;
        out.push_back({{"logStreamName", e.stream},
                       {"timestamp", e.timestamp},
                       {"message", e.message},
                       {"ingestionTime", e.timestamp},
                       {"eventId", fmt::format("{:020d}{:016d}", e.timestamp, i)}});
      }
      json searched_streams = json::array();
      for (const auto& s : searched) searched_streams.push_back({{"logStreamName", s}, {"searchedCompletely", true}});
      json answer = {{"events", out}, {"searchedLogStreams", searched_streams}};
      if (i < events.size()) answer["nextToken"] = "e/" + std::to_string(i);
      return ok(answer);
    }
    throw BadRequest("UnknownOperationException", "mlfaas serve does not serve Logs action " + action);
  } catch (const BadRequest& e) {
    return json11_error(http::status::bad_request, e.type, e.what());
  }
}

}  // namespace mlfaas::platform::aws
