#include "experiment/log_parser.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <type_traits>

#include "common/codec.h"
#include "common/error.h"

namespace mlfaas::experiment {

using nlohmann::json;

double compute_cost_usd(int memory_mb, double billed_ms) {
  return billed_ms / 1000.0 * (memory_mb / 1024.0) * kUsdPerGbSecond;
}

double invocation_cost_usd(int memory_mb, double billed_ms) {
  return compute_cost_usd(memory_mb, billed_ms) + kUsdPerRequest;
}

double parse_iso8601_ms(const std::string& text) {
  std::tm tm{};
  char separator = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &separator,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 7 ||
      consumed != 19 || (separator != 'T' && separator != ' '))
    return -1;
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return -1;
  size_t i = 19;
  int ms = 0;
  if (i < text.size() && text[i] == '.') {
    int digits = 0;
    for (++i; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, ++digits)
      if (digits < 3) ms = ms * 10 + (text[i] - '0');
    if (digits == 0) return -1;
    for (; digits < 3; ++digits) ms *= 10;
  }
  std::string zone = text.substr(i);
  if (!zone.empty() && zone != "Z" && zone != "+00:00") return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return double(timegm(&tm)) * 1000.0 + ms;
}

namespace {

std::string iso8601(double epoch_ms) { return lambda::iso8601_ms(std::llround(epoch_ms)); }

std::string field_after(const std::string& line, const std::string& key) {
  size_t p = line.find(key);
  if (p == std::string::npos) return "";
  p += key.size();
  size_t end = line.find('\t', p);
  return line.substr(p, end == std::string::npos ? std::string::npos : end - p);
}

// "189.42 ms" / "212 MB" of a REPORT line; an absent field is `fallback`, an unreadable one an error.
double report_number(const std::string& line, const std::string& key, const char* unit, double fallback) {
  std::string value = field_after(line, "\t" + key + ": ");
  if (value.empty()) return fallback;
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
  std::string number = value;
  std::string suffix = std::string(" ") + unit;
  if (number.size() > suffix.size() && number.compare(number.size() - suffix.size(), suffix.size(), suffix) == 0)
    number.resize(number.size() - suffix.size());
  char* end = nullptr;
  double v = std::strtod(number.c_str(), &end);
  if (number.empty() || *end != '\0' || !std::isfinite(v) || v < 0)
    throw std::runtime_error("REPORT " + key + " \"" + value + "\" is not a number of " + unit);
  return v;
}

// Seed B's wrapper writes every ML_ON_FAAS value as a string ("100", "True", "None"); our runtime writes
// numbers, booleans and null. Both read here; null, "None" and "NA" are "not logged".
bool absent(const json& v) {
  if (v.is_null()) return true;
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return s.empty() || s == "None" || s == "NA" || s == "null";
}

std::optional<long long> whole_number(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || absent(*it)) return std::nullopt;
  if (it->is_number_integer()) return it->get<long long>();
  if (it->is_number_float() && std::floor(it->get<double>()) == it->get<double>())
    return static_cast<long long>(it->get<double>());
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0])) && *end == '\0') return v;
  }
  throw std::runtime_error(std::string("ML_ON_FAAS ") + key + " " + it->dump() + " is not a whole number");
}

std::optional<double> real_number(const json& j, const char* key, const char* what) {
  auto it = j.find(key);
  if (it == j.end() || absent(*it)) return std::nullopt;
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (!s.empty() && *end == '\0' && std::isfinite(v)) return v;
  }
  throw std::runtime_error(std::string(what) + " " + key + " " + it->dump() + " is not a number");
}

std::optional<bool> boolean(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || absent(*it)) return std::nullopt;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    if (s == "True" || s == "true") return true;
    if (s == "False" || s == "false") return false;
  }
  throw std::runtime_error(std::string("ML_ON_FAAS ") + key + " " + it->dump() + " is not true or false");
}

std::string text(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || absent(*it)) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<long long>());
  throw std::runtime_error(std::string("ML_ON_FAAS ") + key + " " + it->dump() + " is not a string");
}

// Seed B's wrapper builds its line with str.format, so a logMessage holding quotes is not valid JSON. Its
// fields are `"key": "value"` strings, logMessage last; read them that way when the JSON parser refuses.
json wrapper_fields(const std::string& body) {
  json j = json::object();
  const std::string message_key = "\"logMessage\": \"";
  size_t message = body.find(message_key);
  std::string head = body.substr(0, message);
  for (size_t p = head.find('"'); p != std::string::npos; p = head.find('"', p)) {
    size_t key_end = head.find('"', p + 1);
    if (key_end == std::string::npos || head.compare(key_end + 1, 3, ": \"") != 0) break;
    size_t value_end = head.find('"', key_end + 4);
    if (value_end == std::string::npos) break;
    j[head.substr(p + 1, key_end - p - 1)] = head.substr(key_end + 4, value_end - key_end - 4);
    p = value_end + 1;
  }
  size_t close = body.rfind("\"}");
  if (message != std::string::npos && close != std::string::npos && close >= message + message_key.size())
    j["logMessage"] = body.substr(message + message_key.size(), close - message - message_key.size());
  return j;
}

double time_of(const json& j) {
  std::string t = text(j, "timeStamp");
  if (t.empty()) return -1;
  double ms = parse_iso8601_ms(t);
  if (ms < 0) throw std::runtime_error("ML_ON_FAAS timeStamp \"" + t + "\" is not a time");
  return ms;
}

// The `llm` handler's token figures, under EMF's names or the ML_ON_FAAS line's camelCase ones.
void read_generation_fields(const json& j, InvocationRecord& r, bool camel_case) {
  auto number = [&](const char* emf_name, auto& into) {
    std::string key = emf_name;
    if (camel_case) key[0] = char(std::tolower(static_cast<unsigned char>(key[0])));
    if (auto v = real_number(j, key.c_str(), camel_case ? "ML_ON_FAAS" : "EMF"))
      into = static_cast<std::remove_reference_t<decltype(into)>>(*v);
  };
  number("PromptTokens", r.prompt_tokens);
  number("GeneratedTokens", r.generated_tokens);
  number("TokensPerSecond", r.tokens_per_second);
  number("TimeToFirstTokenMs", r.first_token_ms);
}

}  // namespace

LogParser::Partial& LogParser::at(const std::string& request_id) { return by_request_[request_id]; }

void LogParser::add_ml_on_faas(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) j = wrapper_fields(body);
  if (!j.contains("logMessage") && !j.contains("lambdaRequestId"))
    throw std::runtime_error("ML_ON_FAAS line is neither JSON nor seed B's wrapper format");
  std::string what = text(j, "logMessage");
  double t = time_of(j);
  std::string id = text(j, "lambdaRequestId");
  if (id.empty()) {
    // Our bootstrap's INIT lines belong to no invocation: they go to the instance's cold invocation.
    std::string instance = text(j, "functionInstanceId");
    if (instance.empty()) return;
    if (what == "Initialization started") init_by_instance_[instance].started_epoch_ms = t;
    else if (what == "Initialization completed") init_by_instance_[instance].completed_epoch_ms = t;
    return;
  }
  Partial& p = at(id);
  InvocationRecord& r = p.record;
  if (what == "Processing started") {
    p.started_epoch_ms = t;
    if (t >= 0) r.start = iso8601(t);
  } else if (what == "Processing completed") {
    p.completed_epoch_ms = t;
    read_generation_fields(j, r, true);
  } else if (what == "Initialization started") {
    p.init_started_epoch_ms = t;
  } else if (what == "Initialization completed") {
    p.init_completed_epoch_ms = t;
  }
  if (auto v = text(j, "functionName"); !v.empty()) r.function = v;
  if (auto v = text(j, "functionInstanceId"); !v.empty()) r.instance_id = v;
  if (auto v = text(j, "experimentId"); !v.empty()) r.experiment = v;
  if (auto v = text(j, "messageId"); !v.empty()) r.message_id = v;
  // Our runtime knows the batch only once the event is parsed (it logs 0 before); seed B logs it on every line.
  if (auto v = whole_number(j, "batchSize")) {
    bool completed = what == "Processing completed";
    if (completed || (!p.batch_from_completed && *v > 0)) r.batch_size = int(*v);
    p.batch_from_completed = p.batch_from_completed || completed;
  }
  if (auto v = boolean(j, "isColdStart"); v && *v) r.cold_start = true;
  if (auto v = whole_number(j, "cpuCount")) r.cpu_count = int(*v);
}

void LogParser::add(const std::string& log_stream, const std::string& raw_message, const std::string& timestamp) {
  std::string message = raw_message;
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.pop_back();

  if (message.rfind("REPORT RequestId: ", 0) == 0) {
    std::string id = field_after(message, "REPORT RequestId: ");
    while (!id.empty() && std::isspace(static_cast<unsigned char>(id.back()))) id.pop_back();
    if (id.empty()) throw std::runtime_error("REPORT line without a RequestId");
    Partial& p = at(id);
    if (!p.reported) report_order_.push_back(id);
    p.reported = true;
    InvocationRecord& r = p.record;
    r.request_id = id;
    r.duration_ms = report_number(message, "Duration", "ms", 0);
    r.billed_ms = report_number(message, "Billed Duration", "ms", 0);
    r.memory_mb = int(report_number(message, "Memory Size", "MB", 0));
    r.max_memory_mb = int(report_number(message, "Max Memory Used", "MB", 0));
    double init = report_number(message, "Init Duration", "ms", -1);
    if (init >= 0) r.init_ms = init, r.cold_start = true;
    std::string status = field_after(message, "\tStatus: ");
    if (!status.empty() && status != "success") r.status = status;
    if (r.instance_id.empty()) r.instance_id = log_stream;
    if (r.start.empty()) r.start = timestamp;
    r.cost_usd = invocation_cost_usd(r.memory_mb, r.billed_ms);
    return;
  }

  // Python's logging on AWS prefixes "[INFO]\t<time>\t<request id>\t"; the marker may sit anywhere in the line.
  size_t marker = message.find("ML_ON_FAAS - ");
  if (marker != std::string::npos) {
    add_ml_on_faas(message.substr(marker + 13));
    return;
  }

  if (!message.empty() && message.front() == '{' && message.find("\"_aws\"") != std::string::npos) {
    json j = json::parse(message, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw std::runtime_error("EMF line is not JSON");
    std::string id = j.contains("RequestId") && j["RequestId"].is_string() ? j["RequestId"].get<std::string>() : "";
    if (id.empty()) return;
    InvocationRecord& r = at(id).record;
    if (auto v = real_number(j, "ProcessingMs", "EMF")) r.processing_ms = *v;
    if (auto v = real_number(j, "InitMs", "EMF")) r.model_init_ms = *v;
    read_generation_fields(j, r, false);
    if (auto code = real_number(j, "StatusCode", "EMF"); code && *code >= 400)
      r.status = "http-" + std::to_string(int(*code));
  }
  // "Handler error: ..." lines carry no request id; errors show as REPORT's status and a missing "completed".
}

namespace {

// Runs `add_one(line)` per line, prefixing what it throws with the line number.
template <typename F>
void each_line(std::istream& in, F add_one) {
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    try {
      add_one(line);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error("line " + std::to_string(number) + ": " + e.what());
    }
  }
}

bool is_serve_line(const std::string& line) {
  size_t a = line.find('\t');
  return a != std::string::npos && line.find('\t', a + 1) != std::string::npos &&
         line.find('T') < a && parse_iso8601_ms(line.substr(0, a)) >= 0;
}

// The text output joins a page's messages with tabs; a message without a trailing newline therefore shares its
// line with the next one. These starts split them again (a REPORT line's own fields follow "\t<Name>: ").
const char* const kMessageStarts[] = {"ML_ON_FAAS - ", "REPORT RequestId: ", "START RequestId: ", "END RequestId: ",
                                      "INIT_START ", "[INFO]", "[ERROR]", "[WARNING]", "[DEBUG]", "{\"_aws\""};

std::vector<std::string> split_messages(const std::string& line) {
  std::vector<std::string> out;
  size_t begin = line.find_first_not_of('\t');
  while (begin != std::string::npos) {
    size_t cut = std::string::npos, next = std::string::npos;
    for (size_t tab = line.find('\t', begin); tab != std::string::npos && next == std::string::npos;
         tab = line.find('\t', tab + 1)) {
      size_t start = line.find_first_not_of('\t', tab);
      if (start == std::string::npos) break;
      for (const char* s : kMessageStarts)
        if (line.compare(start, std::strlen(s), s) == 0) cut = tab, next = start;
    }
    out.push_back(line.substr(begin, cut == std::string::npos ? std::string::npos : cut - begin));
    begin = next;
  }
  return out;
}

}  // namespace

const char* log_format_name(LogFormat format) {
  switch (format) {
    case LogFormat::kServe: return "mlfaas serve log";
    case LogFormat::kCloudWatchJson: return "CloudWatch Logs JSON";
    case LogFormat::kMessageText: return "CloudWatch Logs messages as text";
  }
  return "?";
}

LogFormat detect_log_format(const std::string& text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) throw std::runtime_error("empty file");
  if (text[first] == '{' || text[first] == '[') {
    json j = json::parse(text, nullptr, false);
    if (!j.is_discarded()) {
      if (j.is_object() && j.contains("events") && j["events"].is_array()) return LogFormat::kCloudWatchJson;
      throw std::runtime_error("JSON without an \"events\" array (not the output of `aws logs filter-log-events`)");
    }
  }
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) break;
  if (is_serve_line(line)) return LogFormat::kServe;
  if (text.find("REPORT RequestId: ") != std::string::npos || text.find("ML_ON_FAAS - ") != std::string::npos)
    return LogFormat::kMessageText;
  throw std::runtime_error(
      "not a log this command reads: no REPORT or ML_ON_FAAS line (expected an `mlfaas serve` log, the JSON of "
      "`aws logs filter-log-events`, or its `--query 'events[].message' --output text`)");
}

void LogParser::add_serve_log(std::istream& in) {
  each_line(in, [this](std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t a = line.find('\t');
    if (a == std::string::npos) return;
    size_t b = line.find('\t', a + 1);
    if (b == std::string::npos) return;
    add(line.substr(a + 1, b - a - 1), line.substr(b + 1), line.substr(0, a));
  });
}

void LogParser::add_message_text(std::istream& in) {
  each_line(in, [this](std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    for (const auto& message : split_messages(line)) add("", message, "");
  });
}

void LogParser::add_cloudwatch_json(const std::string& json_text) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("events") || !j["events"].is_array())
    throw std::runtime_error("not the output of `aws logs filter-log-events` (no \"events\" array)");
  size_t number = 0;
  for (const auto& e : j["events"]) {
    ++number;
    if (!e.is_object() || !e.contains("message") || !e["message"].is_string()) continue;
    std::string ts;
    if (e.contains("timestamp") && e["timestamp"].is_number()) ts = iso8601(e["timestamp"].get<double>());
    std::string stream = e.contains("logStreamName") && e["logStreamName"].is_string()
                             ? e["logStreamName"].get<std::string>() : "";
    try {
      add(stream, e["message"].get<std::string>(), ts);
    } catch (const std::runtime_error& err) {
      throw std::runtime_error("event " + std::to_string(number) + ": " + err.what());
    }
  }
}

void LogParser::add_file(const std::string& path, std::optional<LogFormat> format) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path, "cannot read");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string content = buffer.str();
  try {
    LogFormat f = format ? *format : detect_log_format(content);
    std::istringstream lines(content);
    switch (f) {
      case LogFormat::kServe: add_serve_log(lines); break;
      case LogFormat::kCloudWatchJson: add_cloudwatch_json(content); break;
      case LogFormat::kMessageText: add_message_text(lines); break;
    }
  } catch (const FormatError&) {
    throw;
  } catch (const std::runtime_error& e) {
    throw FormatError(path, e.what());
  }
}

std::vector<InvocationRecord> LogParser::records() const {
  std::vector<InvocationRecord> out;
  for (const auto& id : report_order_) {
    const Partial& p = by_request_.at(id);
    InvocationRecord r = p.record;
    if (r.processing_ms < 0 && p.started_epoch_ms >= 0 && p.completed_epoch_ms >= 0)
      r.processing_ms = p.completed_epoch_ms - p.started_epoch_ms;
    if (r.model_init_ms < 0 && p.init_started_epoch_ms >= 0 && p.init_completed_epoch_ms >= 0)
      r.model_init_ms = p.init_completed_epoch_ms - p.init_started_epoch_ms;
    if (r.model_init_ms < 0 && r.cold_start) {
      auto it = init_by_instance_.find(r.instance_id);
      if (it != init_by_instance_.end() && it->second.started_epoch_ms >= 0 && it->second.completed_epoch_ms >= 0)
        r.model_init_ms = it->second.completed_epoch_ms - it->second.started_epoch_ms;
    }
    if (r.status == "ok" && p.started_epoch_ms >= 0 && p.completed_epoch_ms < 0) r.status = "error";
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

constexpr const char* kHeader =
    "experiment,function,memory_mb,max_concurrency,batch_size,start,cold_start,init_ms,model_init_ms,processing_ms,"
    "duration_ms,billed_ms,max_memory_mb,cost_usd,instance_id,cpu_count,request_id,message_id,status";
// Text generation's columns follow.
constexpr const char* kGenerationColumns = ",prompt_tokens,generated_tokens,tokens_per_second,first_token_ms";

// Unknown (negative) values are empty fields, as pandas and R read missing values.
std::string known_int(int v) { return v < 0 ? "" : std::to_string(v); }
std::string known_ms(double v) {
  if (v < 0) return "";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}
int int_or_unknown(const std::string& f) { return f.empty() ? kUnknown : std::stoi(f); }
double ms_or_unknown(const std::string& f) { return f.empty() ? kUnknown : std::stod(f); }

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') field += '"', ++i;
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"') quoted = true;
    else if (c == ',') out.push_back(std::move(field)), field.clear();
    else field += c;
  }
  out.push_back(std::move(field));
  return out;
}

}  // namespace

void write_csv_header(std::ostream& out) { out << kHeader << kGenerationColumns << "\n"; }

void write_csv_row(std::ostream& out, const InvocationRecord& r) {
  char nums[160];
  std::snprintf(nums, sizeof nums, "%.3f,%.0f,%d,%.10g", r.duration_ms, r.billed_ms, r.max_memory_mb, r.cost_usd);
  out << csv_field(r.experiment) << ',' << csv_field(r.function) << ',' << r.memory_mb << ','
      << (r.max_concurrency > 0 ? std::to_string(r.max_concurrency) : "") << ',' << known_int(r.batch_size) << ','
      << csv_field(r.start) << ',' << (r.cold_start ? "cold" : "warm") << ',' << known_ms(r.init_ms) << ','
      << known_ms(r.model_init_ms) << ',' << known_ms(r.processing_ms) << ',' << nums << ','
      << csv_field(r.instance_id) << ',' << known_int(r.cpu_count) << ',' << csv_field(r.request_id) << ','
      << csv_field(r.message_id) << ',' << csv_field(r.status);
  std::snprintf(nums, sizeof nums, ",%d,%d,%.3f,%.3f", r.prompt_tokens, r.generated_tokens, r.tokens_per_second,
                r.first_token_ms);
  out << nums << "\n";
}

std::vector<InvocationRecord> read_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FormatError(path, "cannot read");
  std::string line;
  // By column name, so that results of earlier versions (without model_init_ms or the generation columns)
  // still read: what they lack is unknown (model_init_ms) or 0 (tokens).
  if (!std::getline(in, line)) throw FormatError(path, "not an experiment CSV (empty)");
  std::map<std::string, size_t> column;
  for (const auto& name : split_csv_line(line)) column.emplace(name, column.size());
  for (const auto& name : split_csv_line(kHeader))
    if (name != "model_init_ms" && !column.count(name))
      throw FormatError(path, "not an experiment CSV (no column " + name + ")");
  std::vector<InvocationRecord> out;
  size_t number = 1;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    auto f = split_csv_line(line);
    if (f.size() != column.size())
      throw FormatError(path, "line " + std::to_string(number) + ": expected " + std::to_string(column.size()) +
                                  " fields");
    auto field = [&](const char* name) -> const std::string& {
      static const std::string none;
      auto it = column.find(name);
      return it == column.end() ? none : f[it->second];
    };
    auto number_or_zero = [&](const char* name) { return field(name).empty() ? 0.0 : std::stod(field(name)); };
    try {
      InvocationRecord r;
      r.experiment = field("experiment"), r.function = field("function");
      r.memory_mb = std::stoi(field("memory_mb")), r.max_concurrency = int(number_or_zero("max_concurrency"));
      r.batch_size = int_or_unknown(field("batch_size")), r.start = field("start");
      r.cold_start = field("cold_start") == "cold";
      r.init_ms = number_or_zero("init_ms"), r.model_init_ms = ms_or_unknown(field("model_init_ms"));
      r.processing_ms = ms_or_unknown(field("processing_ms"));
      r.duration_ms = std::stod(field("duration_ms")), r.billed_ms = std::stod(field("billed_ms"));
      r.max_memory_mb = std::stoi(field("max_memory_mb")), r.cost_usd = std::stod(field("cost_usd"));
      r.instance_id = field("instance_id"), r.cpu_count = int_or_unknown(field("cpu_count"));
      r.request_id = field("request_id"), r.message_id = field("message_id"), r.status = field("status");
      r.prompt_tokens = int(number_or_zero("prompt_tokens")), r.generated_tokens = int(number_or_zero("generated_tokens"));
      r.tokens_per_second = number_or_zero("tokens_per_second"), r.first_token_ms = number_or_zero("first_token_ms");
      out.push_back(std::move(r));
    } catch (const std::exception&) {
      throw FormatError(path, "line " + std::to_string(number) + ": a number field is not a number");
    }
  }
  return out;
}

}  // namespace mlfaas::experiment
