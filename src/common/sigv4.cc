#include "common/sigv4.h"

#include "common/codec.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

namespace mlfaas::sigv4 {

namespace {

std::string hex(const unsigned char* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

std::string hmac(const std::string& key, const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return hex(md, sizeof md);
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) out += char(c);
    else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(uint8_t(s[i + 1])) &&
        std::isxdigit(uint8_t(s[i + 2]))) {
      out += char(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string trim_collapse(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string canonical_uri(std::string_view path, bool s3) {
  if (path.empty()) return "/";
  return s3 ? std::string(path) : uri_encode(path, true);
}

std::string canonical_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  for (const auto& [name, value] : lambda::query_pairs(query)) {
    params.emplace_back(uri_encode(url_decode(name, false), false), uri_encode(url_decode(value, false), false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) out += (out.empty() ? "" : "&") + k + "=" + v;
  return out;
}

std::string CanonicalRequest::signed_headers() const {
  std::string out;
  for (const auto& h : headers) out += (out.empty() ? "" : ";") + h.first;
  return out;
}

std::string CanonicalRequest::text() const {
  std::string canonical_headers;
  for (const auto& [name, value] : headers) canonical_headers += name + ":" + value + "\n";
  return method + "\n" + uri + "\n" + query + "\n" + canonical_headers + "\n" + signed_headers() + "\n" + payload_hash;
}

std::string signature(const CanonicalRequest& request, const std::string& secret_access_key,
                      const std::string& amz_date, const std::string& region, const std::string& service) {
  std::string date = amz_date.substr(0, 8);
  std::string scope = date + "/" + region + "/" + service + "/aws4_request";
  std::string to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + sha256_hex(request.text());
  std::string key = hmac(hmac(hmac(hmac("AWS4" + secret_access_key, date), region), service), "aws4_request");
  std::string mac = hmac(key, to_sign);
  return hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
}

std::map<std::string, std::string> sign(const std::string& method, const std::string& path, const std::string& query,
                                        const std::map<std::string, std::string>& headers, std::string_view body,
                                        const Credentials& credentials, const std::string& region,
                                        const std::string& service, std::chrono::system_clock::time_point now) {
  const std::string amz_date =
      lambda::utc_strftime(static_cast<long long>(std::chrono::system_clock::to_time_t(now)), "%Y%m%dT%H%M%SZ");

  std::map<std::string, std::string> added;
  added["X-Amz-Date"] = amz_date;
  added["X-Amz-Content-Sha256"] = sha256_hex(body);
  if (!credentials.session_token.empty()) added["X-Amz-Security-Token"] = credentials.session_token;

  std::map<std::string, std::string> to_sign;  // sorted by lower-case name, as SignedHeaders must be
  for (const auto& [name, value] : headers) to_sign[lower(name)] = trim_collapse(value);
  for (const auto& [name, value] : added) to_sign[lower(name)] = value;

  CanonicalRequest request;
  request.method = method;
  request.uri = canonical_uri(path, service == "s3");
  request.query = canonical_query(query);
  request.headers.assign(to_sign.begin(), to_sign.end());
  request.payload_hash = added["X-Amz-Content-Sha256"];
  std::string sig = signature(request, credentials.secret_access_key, amz_date, region, service);
  added["Authorization"] = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" +
                           amz_date.substr(0, 8) + "/" + region + "/" + service +
                           "/aws4_request, SignedHeaders=" + request.signed_headers() + ", Signature=" + sig;
  return added;
}

}  // namespace mlfaas::sigv4
