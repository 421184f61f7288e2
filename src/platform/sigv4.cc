#include "platform/sigv4.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <sstream>
#include <vector>

#include "common/sigv4.h"

namespace mlfaas::platform {

namespace {

using sigv4::trim_collapse;

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
  sigv4::CanonicalRequest canonical;
  canonical.method = std::string(req.method_string());
  canonical.uri = sigv4::canonical_uri(target.substr(0, q), false);
  canonical.query = q == std::string::npos ? "" : sigv4::canonical_query(target.substr(q + 1));
  std::stringstream sh(signed_headers);
  for (std::string name; std::getline(sh, name, ';');) {
    std::string values;
    for (const auto& field : req)
      if (boost::beast::iequals(field.name_string(), name))
        values += (values.empty() ? "" : ",") + trim_collapse(std::string_view(field.value().data(), field.value().size()));
    canonical.headers.emplace_back(name, values);
  }
  // The signature covers the hash of the body, so the hash must be that of the body received: trusting the
  // header would let a captured signature carry any other body. UNSIGNED-PAYLOAD is allowed by AWS only on
  // operations marked with Smithy's `aws.auth#unsignedPayload` (S3 uploads and the like), never on Lambda's
  // Invoke or SNS, whose SDKs always sign the payload.
  std::string payload_hash = sigv4::sha256_hex(req.body());
  std::string claimed_hash(req["X-Amz-Content-Sha256"]);
  if (claimed_hash == "UNSIGNED-PAYLOAD") return "UNSIGNED-PAYLOAD is not accepted by this operation";
  if (!claimed_hash.empty() && claimed_hash != payload_hash) return "X-Amz-Content-Sha256 does not match the body";
  canonical.payload_hash = payload_hash;
  std::string sig = sigv4::signature(canonical, creds.secret_access_key, amz_date, scope[2], scope[3]);
  if (sig.size() != signature.size() || CRYPTO_memcmp(sig.data(), signature.data(), sig.size()) != 0)
    return "signature does not match";
  return "";
}

}  // namespace mlfaas::platform
