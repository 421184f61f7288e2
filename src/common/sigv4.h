#pragma once
// AWS Signature Version 4, both sides: the platform verifies what the AWS CLI and SDKs sign (platform/sigv4.h),
// the experiment driver signs its own calls to AWS or to `mlfaas serve`. Both build the canonical request here,
// so a client and a server of this project cannot disagree on it.
#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace mlfaas::sigv4 {

std::string sha256_hex(std::string_view data);
// RFC 3986 encoding as SigV4 wants it: everything but unreserved characters (and '/' when `keep_slash`).
std::string uri_encode(std::string_view s, bool keep_slash);
// Percent-decoding; '+' becomes a space only when `plus_is_space` (form bodies, not URIs).
std::string url_decode(std::string_view s, bool plus_is_space);
// A header value with its ends trimmed and inner runs of blanks collapsed to one space.
std::string trim_collapse(std::string_view v);

// The canonical path of a request path as it was sent (already percent-encoded): botocore encodes it once more
// for every service but S3, which signs the path as sent.
std::string canonical_uri(std::string_view path, bool s3);
// Parameters decoded, re-encoded the one canonical way and sorted.
std::string canonical_query(std::string_view query);

struct CanonicalRequest {
  std::string method;
  std::string uri;    // canonical_uri(...)
  std::string query;  // canonical_query(...)
  // The signed headers, lower-case names in SignedHeaders' order, values already joined with ',' for repeats.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_hash;  // sha256_hex(body) or "UNSIGNED-PAYLOAD"
  std::string text() const;
  std::string signed_headers() const;  // "host;x-amz-date"
};

// The hex signature of `request` made at `amz_date` ("20240102T030405Z") for the scope date/region/service.
std::string signature(const CanonicalRequest& request, const std::string& secret_access_key,
                      const std::string& amz_date, const std::string& region, const std::string& service);

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // temporary credentials (STS, SSO): sent as X-Amz-Security-Token
  bool empty() const { return access_key_id.empty() || secret_access_key.empty(); }
};

// The headers a client adds to sign a request: X-Amz-Date, X-Amz-Content-Sha256, X-Amz-Security-Token (with a
// session token) and Authorization. `headers` are the request's own headers to sign besides those (at least
// host; names in any case). `path` and `query` as they go on the wire.
std::map<std::string, std::string> sign(const std::string& method, const std::string& path, const std::string& query,
                                        const std::map<std::string, std::string>& headers, std::string_view body,
                                        const Credentials& credentials, const std::string& region,
                                        const std::string& service,
                                        std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace mlfaas::sigv4
