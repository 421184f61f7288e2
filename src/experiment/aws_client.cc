#include "experiment/aws_client.h"

#include <curl/curl.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

namespace mlfaas::experiment {

using nlohmann::json;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string home_file(const char* override_env, const char* relative) {
  if (std::string p = env(override_env); !p.empty()) return p;
  return env("HOME") + "/" + relative;
}

std::string trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t\r\n"));
  s.erase(s.find_last_not_of(" \t\r\n") + 1);
  return s;
}

// key = value pairs of section `section` in an INI file such as ~/.aws/credentials.
std::map<std::string, std::string> ini_section(const std::string& path, const std::string& section) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line, current;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      current = trim(line.substr(1, line.size() - 2));
      continue;
    }
    auto eq = line.find('=');
    if (current == section && eq != std::string::npos) out[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return out;
}

std::string profile_name(const std::string& profile) {
  if (!profile.empty()) return profile;
  if (std::string p = env("AWS_PROFILE"); !p.empty()) return p;
  return "default";
}

// ~/.aws/config names profiles "[profile NAME]", except "[default]".
std::map<std::string, std::string> config_section(const std::string& profile) {
  std::string path = home_file("AWS_CONFIG_FILE", ".aws/config");
  return ini_section(path, profile == "default" ? "default" : "profile " + profile);
}

sigv4::Credentials profile_credentials(const std::string& profile) {
  for (auto section : {ini_section(home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"), profile),
                       config_section(profile)}) {
    sigv4::Credentials c{section["aws_access_key_id"], section["aws_secret_access_key"],
                         section["aws_session_token"]};
    if (!c.empty()) return c;
  }
  return {};
}

size_t append_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t append_header(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = trim(line.substr(colon + 1));
  }
  return size * n;
}

std::string form_encode(const std::map<std::string, std::string>& params) {
  std::string out;
  for (const auto& [k, v] : params)
    out += (out.empty() ? "" : "&") + sigv4::uri_encode(k, false) + "=" + sigv4::uri_encode(v, false);
  return out;
}

bool retryable(long status, const std::string& code) {
  return status == 429 || status >= 500 || code == "TooManyRequestsException" || code == "Throttling" ||
         code == "ThrottlingException" || code == "ThrottledException";
}

}  // namespace

sigv4::Credentials resolve_credentials(const std::string& profile) {
  if (!profile.empty()) return profile_credentials(profile);
  sigv4::Credentials c{env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")};
  if (!c.empty()) return c;
  return profile_credentials(profile_name(profile));
}

std::string resolve_region(const std::string& region, const std::string& profile) {
  if (!region.empty()) return region;
  if (std::string r = env("AWS_REGION"); !r.empty()) return r;
  if (std::string r = env("AWS_DEFAULT_REGION"); !r.empty()) return r;
  return config_section(profile_name(profile))["region"];
}

bool is_local_endpoint(const std::string& endpoint_url) {
  if (endpoint_url.empty()) return false;
  std::string host = endpoint_url.substr(endpoint_url.find("://") == std::string::npos ? 0 : endpoint_url.find("://") + 3);
  host = host.substr(0, host.find('/'));
  if (!host.empty() && host[0] == '[') host = host.substr(1, host.find(']') - 1);
  else host = host.substr(0, host.find(':'));
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

std::string xml_text(const std::string& xml, const std::string& tag) {
  auto start = xml.find("<" + tag + ">");
  if (start == std::string::npos) return "";
  start += tag.size() + 2;
  auto end = xml.find("</" + tag + ">", start);
  std::string raw = xml.substr(start, end == std::string::npos ? std::string::npos : end - start);
  std::string out;
  static const std::pair<const char*, char> entities[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'},
                                                           {"&quot;", '"'}, {"&apos;", '\''}};
  for (size_t i = 0; i < raw.size(); ++i) {
    bool replaced = false;
    if (raw[i] == '&')
      for (const auto& [name, c] : entities)
        if (raw.compare(i, std::strlen(name), name) == 0) {
          out += c;
          i += std::strlen(name) - 1;
          replaced = true;
          break;
        }
    if (!replaced) out += raw[i];
  }
  return out;
}

AwsClient::AwsClient(AwsSettings settings, sigv4::Credentials credentials)
    : settings_(std::move(settings)), credentials_(std::move(credentials)), curl_(curl_easy_init()) {
  if (!curl_) throw std::runtime_error("libcurl could not start");
  while (!settings_.endpoint_url.empty() && settings_.endpoint_url.back() == '/') settings_.endpoint_url.pop_back();
}

AwsClient::~AwsClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

std::string AwsClient::endpoint(const std::string& service) const {
  if (!settings_.endpoint_url.empty()) return settings_.endpoint_url;
  return "https://" + service + "." + settings_.region + ".amazonaws.com";
}

AwsClient::Answer AwsClient::call(const std::string& service, const std::string& method, const std::string& path,
                                  const std::string& query, std::map<std::string, std::string> headers,
                                  const std::string& body) {
  std::string base = endpoint(service);
  std::string host = base.substr(base.find("://") + 3);
  headers["Host"] = host;
  std::string url = base + path + (query.empty() ? "" : "?" + query);
  CURL* curl = static_cast<CURL*>(curl_);
  std::string last_problem;
  for (int attempt = 0; attempt < 7; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200 << std::min(attempt, 5)));
    // Signed per attempt: a retry after a throttle may come minutes later.
    auto all = headers;
    for (auto& [k, v] : sigv4::sign(method, path, query, headers, body, credentials_, settings_.region, service))
      all[k] = v;
    curl_slist* list = nullptr;
    for (const auto& [k, v] : all)
      if (k != "Host") list = curl_slist_append(list, (k + ": " + v).c_str());
    list = curl_slist_append(list, "Expect:");
    Answer answer;
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    if (method != "GET" && method != "DELETE") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, append_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &answer.headers);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(list);
    if (rc != CURLE_OK) {
      last_problem = service + " " + url + ": " + curl_easy_strerror(rc);
      continue;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
    if (answer.status < 300) return answer;
    // The error's code: Lambda and Logs send it in x-amzn-ErrorType and/or the JSON body, SNS and S3 in XML.
    std::string code = answer.headers["x-amzn-errortype"], message;
    code = code.substr(0, code.find(':'));
    if (auto j = json::parse(answer.body, nullptr, false); j.is_object()) {
      if (code.empty()) code = j.value("__type", j.value("Type", j.value("code", "")));
      code = code.substr(code.find('#') == std::string::npos ? 0 : code.find('#') + 1);
      message = j.value("message", j.value("Message", ""));
    } else {
      if (code.empty()) code = xml_text(answer.body, "Code");
      message = xml_text(answer.body, "Message");
    }
    if (code.empty()) code = "HTTP" + std::to_string(answer.status);
    if (message.empty()) message = answer.body.substr(0, 300);
    if (!retryable(answer.status, code) || attempt == 6)
      throw AwsError(int(answer.status), code, service + " " + method + " " + path + ": " + message);
    last_problem = code + ": " + message;
  }
  throw std::runtime_error(last_problem);
}

json AwsClient::lambda(const std::string& method, const std::string& path, const json& body) {
  std::string text = body.is_null() ? "" : body.dump();
  std::map<std::string, std::string> headers;
  if (!text.empty()) headers["Content-Type"] = "application/json";
  Answer a = call("lambda", method, path, "", headers, text);
  return a.body.empty() ? json(nullptr) : json::parse(a.body, nullptr, false);
}

std::string AwsClient::sns(const std::string& action, const std::map<std::string, std::string>& params) {
  auto all = params;
  all["Action"] = action;
  all["Version"] = "2010-03-31";
  return call("sns", "POST", "/", "", {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}},
              form_encode(all))
      .body;
}

json AwsClient::logs(const std::string& operation, const json& body) {
  Answer a = call("logs", "POST", "/", "",
                  {{"Content-Type", "application/x-amz-json-1.1"}, {"X-Amz-Target", "Logs_20140328." + operation}},
                  body.dump());
  return json::parse(a.body, nullptr, false);
}

void AwsClient::s3_create_bucket(const std::string& bucket) {
  std::string body;
  if (settings_.region != "us-east-1")
    body = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>" +
           settings_.region + "</LocationConstraint></CreateBucketConfiguration>";
  try {
    call("s3", "PUT", "/" + sigv4::uri_encode(bucket, false), "", {}, body);
  } catch (const AwsError& e) {
    if (e.code != "BucketAlreadyOwnedByYou") throw;
  }
}

void AwsClient::s3_put_object(const std::string& bucket, const std::string& key, const std::string& bytes) {
  call("s3", "PUT", "/" + sigv4::uri_encode(bucket, false) + "/" + sigv4::uri_encode(key, true), "",
       {{"Content-Type", "application/zip"}}, bytes);
}

void AwsClient::s3_delete_object(const std::string& bucket, const std::string& key) {
  call("s3", "DELETE", "/" + sigv4::uri_encode(bucket, false) + "/" + sigv4::uri_encode(key, true), "", {}, "");
}

}  // namespace mlfaas::experiment
