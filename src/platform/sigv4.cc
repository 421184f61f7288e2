#include "platform/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <sstream>
#include <vector>

#include "platform/front.h"

namespace mlfaas::platform {

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

std::string sha256_hex(const std::string& data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  return hex(md, sizeof md);
}

std::string hmac(const std::string& key, const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

// RFC 3986 encoding as SigV4 wants it: everything but unreserved characters (and '/' in paths).
std::string uri_encode(const std::string& s, bool keep_slash) {
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

// The value of `key=` inside the Authorization header's comma-separated list.
std::string auth_field(const std::string& auth, const std::string& key) {
  auto pos = auth.find(key + "=");
  if (pos == std::string::npos) return "";
  pos += key.size() + 1;
  auto end = auth.find(',', pos);
  std::string v = auth.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
  return trim_collapse(v);
}

}  // namespace

std::string verify_sigv4(const Request& req, const Credentials& creds) {
  std::string auth(req[http::field::authorization]);
  if (!auth.starts_with("AWS4-HMAC-SHA256 ")) return "missing AWS Signature Version 4 Authorization header";
  std::string credential = auth_field(auth, "Credential");
  std::string signed_headers = auth_field(auth, "SignedHeaders");
  std::string signature = auth_field(auth, "Signature");
  std::vector<std::string> scope;
  std::stringstream cs(credential);
  for (std::string part; std::getline(cs, part, '/');) scope.push_back(part);
  if (scope.size() != 5 || scope[4] != "aws4_request") return "malformed Credential";
  if (scope[0] != creds.access_key_id) return "unknown access key id";
  std::string amz_date(req["X-Amz-Date"]);
  if (amz_date.size() != 16 || amz_date.compare(0, 8, scope[1]) != 0) return "missing or inconsistent X-Amz-Date";
  std::tm tm{};
  if (!strptime(amz_date.c_str(), "%Y%m%dT%H%M%SZ", &tm)) return "malformed X-Amz-Date";
  if (std::abs(std::difftime(std::time(nullptr), timegm(&tm))) > 15 * 60) return "signature expired";

  std::string target(req.target());
  auto q = target.find('?');
  std::string path = target.substr(0, q), query = q == std::string::npos ? "" : target.substr(q + 1);
  // botocore signs the already-encoded path encoded once more (all services but S3).
  std::string canonical_uri = uri_encode(path.empty() ? "/" : path, true);
  std::vector<std::pair<std::string, std::string>> params;
  std::stringstream qs(query);
  for (std::string pair; std::getline(qs, pair, '&');) {
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    params.emplace_back(uri_encode(url_decode(pair.substr(0, eq), false), false),
                        eq == std::string::npos ? "" : uri_encode(url_decode(pair.substr(eq + 1), false), false));
  }
  std::sort(params.begin(), params.end());
  std::string canonical_query;
  for (const auto& [k, v] : params) canonical_query += (canonical_query.empty() ? "" : "&") + k + "=" + v;
  std::string canonical_headers;
  std::stringstream sh(signed_headers);
  for (std::string name; std::getline(sh, name, ';');) {
    std::string values;
    for (const auto& field : req)
      if (boost::beast::iequals(field.name_string(), name))
        values += (values.empty() ? "" : ",") + trim_collapse(std::string_view(field.value().data(), field.value().size()));
    canonical_headers += name + ":" + values + "\n";
  }
  // The signature covers the hash of the body, so the hash must be that of the body received: trusting the
  // header would let a captured signature carry any other body. UNSIGNED-PAYLOAD is allowed by AWS only on
  // operations marked with Smithy's `aws.auth#unsignedPayload` (S3 uploads and the like), never on Lambda's
  // Invoke or SNS, whose SDKs always sign the payload.
  std::string payload_hash = sha256_hex(req.body());
  std::string claimed_hash(req["X-Amz-Content-Sha256"]);
  if (claimed_hash == "UNSIGNED-PAYLOAD") return "UNSIGNED-PAYLOAD is not accepted by this operation";
  if (!claimed_hash.empty() && claimed_hash != payload_hash) return "X-Amz-Content-Sha256 does not match the body";
  std::string canonical = std::string(req.method_string()) + "\n" + canonical_uri + "\n" + canonical_query + "\n" +
                          canonical_headers + "\n" + signed_headers + "\n" + payload_hash;
  std::string scope_text = scope[1] + "/" + scope[2] + "/" + scope[3] + "/aws4_request";
  std::string to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope_text + "\n" + sha256_hex(canonical);
  std::string key = hmac(hmac(hmac(hmac("AWS4" + creds.secret_access_key, scope[1]), scope[2]), scope[3]),
                         "aws4_request");
  std::string sig = hex(reinterpret_cast<const unsigned char*>(hmac(key, to_sign).data()), 32);
  if (sig.size() != signature.size() || CRYPTO_memcmp(sig.data(), signature.data(), sig.size()) != 0)
    return "signature does not match";
  return "";
}

}  // namespace mlfaas::platform
