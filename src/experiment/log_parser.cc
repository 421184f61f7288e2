#include "experiment/log_parser.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>
#include <type_traits>

#include "common/error.h"

namespace mlfaas::experiment {

using nlohmann::json;

double invocation_cost_usd(int memory_mb, double billed_ms) {
  return billed_ms / 1000.0 * (memory_mb / 1024.0) * 0.0000166667 + 0.20 / 1e6;
}

double parse_iso8601_ms(const std::string& text) {
  std::tm tm{};
  int ms = 0;
  char frac[16] = {0};
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec) != 6)
    return -1;
  size_t dot = text.find('.');
  if (dot != std::string::npos && dot == 19) {
    size_t n = 0;
    while (n < 3 && dot + 1 + n < text.size() && std::isdigit(static_cast<unsigned char>(text[dot + 1 + n])))
      frac[n] = text[dot + 1 + n], ++n;
    while (n < 3) frac[n++] = '0';
    ms = std::atoi(frac);
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return double(timegm(&tm)) * 1000.0 + ms;
}

LogParser::Partial& LogParser::at(const std::string& request_id) { return by_request_[request_id]; }

namespace {

std::string field_after(const std::string& line, const std::string& key) {
  size_t p = line.find(key);
  if (p == std::string::npos) return "";
  p += key.size();
  size_t end = line.find('\t', p);
  return line.substr(p, end == std::string::npos ? std::string::npos : end - p);
}

double number_before_unit(const std::string& value) {
  return value.empty() ? 0 : std::strtod(value.c_str(), nullptr);
}

std::string json_string(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// The `llm` handler's token figures, under EMF's names or the ML_ON_FAAS line's camelCase ones.
void read_generation_fields(const json& j, InvocationRecord& r, bool camel_case) {
  auto number = [&](const char* emf_name, auto& into) {
    std::string key = emf_name;
    if (camel_case) key[0] = char(std::tolower(static_cast<unsigned char>(key[0])));
    auto it = j.find(key);
    if (it != j.end() && it->is_number()) into = static_cast<std::remove_reference_t<decltype(into)>>(it->get<double>());
  };
  number("PromptTokens", r.prompt_tokens);
  number("GeneratedTokens", r.generated_tokens);
  number("TokensPerSecond", r.tokens_per_second);
  number("TimeToFirstTokenMs", r.first_token_ms);
}

}  // namespace

void LogParser::add(const std::string& log_stream, const std::string& raw_message, const std::string& timestamp) {
  std::string message = raw_message;
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) message.pop_back();

  if (message.rfind("REPORT RequestId: ", 0) == 0) {
    std::string id = field_after(message, "REPORT RequestId: ");
    Partial& p = at(id);
    if (!p.reported) report_order_.push_back(id);
    p.reported = true;
    InvocationRecord& r = p.record;
    r.request_id = id;
    r.duration_ms = number_before_unit(field_after(message, "\tDuration: "));
    r.billed_ms = number_before_unit(field_after(message, "\tBilled Duration: "));
    r.memory_mb = int(number_before_unit(field_after(message, "\tMemory Size: ")));
    r.max_memory_mb = int(number_before_unit(field_after(message, "\tMax Memory Used: ")));
    std::string init = field_after(message, "\tInit Duration: ");
    if (!init.empty()) r.init_ms = number_before_unit(init), r.cold_start = true;
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
    json j = json::parse(message.substr(marker + 13), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return;
    std::string id = json_string(j, "lambdaRequestId");
    if (id.empty()) return;  // the INIT lines belong to no invocation
    Partial& p = at(id);
    InvocationRecord& r = p.record;
    std::string what = json_string(j, "logMessage");
    double t = parse_iso8601_ms(json_string(j, "timeStamp"));
    if (what == "Processing started") {
      p.started_epoch_ms = t;
      r.start = json_string(j, "timeStamp");
    } else if (what == "Processing completed") {
      p.completed_epoch_ms = t;
      read_generation_fields(j, r, true);
    }
    r.function = json_string(j, "functionName");
    r.instance_id = json_string(j, "functionInstanceId");
    if (auto v = json_string(j, "experimentId"); !v.empty()) r.experiment = v;
    if (auto v = json_string(j, "messageId"); !v.empty()) r.message_id = v;
    if (j.contains("batchSize") && j["batchSize"].is_number() && j["batchSize"].get<int>() > 0)
      r.batch_size = j["batchSize"].get<int>();
    if (j.contains("isColdStart") && j["isColdStart"].is_boolean() && j["isColdStart"].get<bool>()) r.cold_start = true;
    if (j.contains("cpuCount") && j["cpuCount"].is_number()) r.cpu_count = j["cpuCount"].get<int>();
    return;
  }

  if (!message.empty() && message.front() == '{' && message.find("\"_aws\"") != std::string::npos) {
    json j = json::parse(message, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return;
    std::string id = json_string(j, "RequestId");
    if (id.empty() || !j.contains("ProcessingMs") || !j["ProcessingMs"].is_number()) return;
    at(id).record.processing_ms = j["ProcessingMs"].get<double>();
    read_generation_fields(j, at(id).record, false);
    if (j.contains("StatusCode") && j["StatusCode"].is_number() && j["StatusCode"].get<int>() >= 400)
      at(id).record.status = "http-" + std::to_string(j["StatusCode"].get<int>());
    return;
  }

  if (message.rfind("Handler error: ", 0) == 0) {
    // No request id on this line: the runtime writes it inside the invocation, so the stream's open one owns it.
    // Errors are caught by REPORT's status and by the missing "Processing completed" below.
  }
}

void LogParser::add_serve_log(std::istream& in) {
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find('\t');
    if (a == std::string::npos) continue;
    size_t b = line.find('\t', a + 1);
    if (b == std::string::npos) continue;
    add(line.substr(a + 1, b - a - 1), line.substr(b + 1), line.substr(0, a));
  }
}

void LogParser::add_cloudwatch_json(const std::string& json_text) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("events") || !j["events"].is_array())
    throw std::runtime_error("not the output of `aws logs filter-log-events` (no \"events\" array)");
  for (const auto& e : j["events"]) {
    if (!e.is_object() || !e.contains("message") || !e["message"].is_string()) continue;
    std::string ts;
    if (e.contains("timestamp") && e["timestamp"].is_number()) {
      long long ms = e["timestamp"].get<long long>();
      std::time_t secs = ms / 1000;
      std::tm tm{};
      gmtime_r(&secs, &tm);
      char buf[96];
      std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                    tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
      ts = buf;
    }
    add(json_string(e, "logStreamName"), e["message"].get<std::string>(), ts);
  }
}

std::vector<InvocationRecord> LogParser::records() const {
  std::vector<InvocationRecord> out;
  for (const auto& id : report_order_) {
    const Partial& p = by_request_.at(id);
    InvocationRecord r = p.record;
    if (r.processing_ms < 0 && p.started_epoch_ms >= 0 && p.completed_epoch_ms >= 0)
      r.processing_ms = p.completed_epoch_ms - p.started_epoch_ms;
    if (r.status == "ok" && p.started_epoch_ms >= 0 && p.completed_epoch_ms < 0) r.status = "error";
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

constexpr const char* kHeader =
    "experiment,function,memory_mb,max_concurrency,batch_size,start,cold_start,init_ms,processing_ms,duration_ms,"
    "billed_ms,max_memory_mb,cost_usd,instance_id,cpu_count,request_id,message_id,status";
// Text generation's columns follow; a CSV written before they existed reads with zeros in them.
constexpr const char* kGenerationColumns = ",prompt_tokens,generated_tokens,tokens_per_second,first_token_ms";

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
  char nums[256];
  std::snprintf(nums, sizeof nums, "%.3f,%.3f,%.3f,%.0f,%d,%.10g", r.init_ms, r.processing_ms, r.duration_ms,
                r.billed_ms, r.max_memory_mb, r.cost_usd);
  out << csv_field(r.experiment) << ',' << csv_field(r.function) << ',' << r.memory_mb << ',' << r.max_concurrency
      << ',' << r.batch_size << ',' << csv_field(r.start) << ',' << (r.cold_start ? "cold" : "warm") << ',' << nums
      << ',' << csv_field(r.instance_id) << ',' << r.cpu_count << ',' << csv_field(r.request_id) << ','
      << csv_field(r.message_id) << ',' << csv_field(r.status);
  std::snprintf(nums, sizeof nums, ",%d,%d,%.3f,%.3f", r.prompt_tokens, r.generated_tokens, r.tokens_per_second,
                r.first_token_ms);
  out << nums << "\n";
}

std::vector<InvocationRecord> read_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FormatError(path, "cannot read");
  std::string line;
  if (!std::getline(in, line) || (line != kHeader && line != std::string(kHeader) + kGenerationColumns))
    throw FormatError(path, "not an experiment CSV (unexpected header)");
  const size_t columns = line == kHeader ? 18 : 22;
  std::vector<InvocationRecord> out;
  size_t number = 1;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    auto f = split_csv_line(line);
    if (f.size() != columns)
      throw FormatError(path, "line " + std::to_string(number) + ": expected " + std::to_string(columns) + " fields");
    try {
      InvocationRecord r;
      r.experiment = f[0], r.function = f[1], r.memory_mb = std::stoi(f[2]), r.max_concurrency = std::stoi(f[3]);
      r.batch_size = std::stoi(f[4]), r.start = f[5], r.cold_start = f[6] == "cold", r.init_ms = std::stod(f[7]);
      r.processing_ms = std::stod(f[8]), r.duration_ms = std::stod(f[9]), r.billed_ms = std::stod(f[10]);
      r.max_memory_mb = std::stoi(f[11]), r.cost_usd = std::stod(f[12]), r.instance_id = f[13];
      r.cpu_count = std::stoi(f[14]), r.request_id = f[15], r.message_id = f[16], r.status = f[17];
      if (columns == 22) {
        r.prompt_tokens = std::stoi(f[18]), r.generated_tokens = std::stoi(f[19]);
        r.tokens_per_second = std::stod(f[20]), r.first_token_ms = std::stod(f[21]);
      }
      out.push_back(std::move(r));
    } catch (const std::exception&) {
      throw FormatError(path, "line " + std::to_string(number) + ": a number field is not a number");
    }
  }
  return out;
}

}  // namespace mlfaas::experiment
