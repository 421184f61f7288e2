#pragma once
// A small client of the AWS APIs the experiment driver needs (Lambda, SNS, CloudWatch Logs, S3), signed with
// SigV4 (common/sigv4.h), over libcurl. The same calls go to AWS or, with an endpoint URL, to `mlfaas serve`
// or moto_server, which serve every service on one address.
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "common/sigv4.h"

namespace mlfaas::experiment {

// An error answer of an AWS API, with AWS's code (ResourceNotFoundException, ...) and message.
struct AwsError : std::runtime_error {
  AwsError(int status, std::string code, const std::string& message)
      : std::runtime_error(code + ": " + message), status(status), code(std::move(code)) {}
  int status;
  std::string code;
};

struct AwsSettings {
  std::string endpoint_url;  // "" = AWS's own endpoints for the region
  std::string region;
  std::string profile;       // "" = AWS_PROFILE, else "default"
};

// The standard credential chain, as the AWS CLI resolves it: an explicit profile's keys; else the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); else the profile AWS_PROFILE or "default" in
// AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) or AWS_CONFIG_FILE (~/.aws/config). Empty when none.
sigv4::Credentials resolve_credentials(const std::string& profile);
// --region, else AWS_REGION, AWS_DEFAULT_REGION, the profile's `region` in the config file; "" when none.
std::string resolve_region(const std::string& region, const std::string& profile);
// Whether `endpoint_url` names this machine (loopback): calls to it cost nothing.
bool is_local_endpoint(const std::string& endpoint_url);

class AwsClient {
 public:
  AwsClient(AwsSettings settings, sigv4::Credentials credentials);
  ~AwsClient();
  AwsClient(const AwsClient&) = delete;
  AwsClient& operator=(const AwsClient&) = delete;

  // Lambda's REST-JSON API: `path` below the endpoint, e.g. "/2015-03-31/functions". Returns the JSON answer
  // (null for an empty one). Throws AwsError.
  nlohmann::json lambda(const std::string& method, const std::string& path, const nlohmann::json& body = nullptr);
  // SNS's query API: Action=... plus `params`; returns the XML answer.
  std::string sns(const std::string& action, const std::map<std::string, std::string>& params);
  // CloudWatch Logs' JSON 1.1 API: `operation` e.g. "FilterLogEvents".
  nlohmann::json logs(const std::string& operation, const nlohmann::json& body);
  // S3, path-style: PUT of a bucket (region-aware) and of an object, DELETE of an object.
  void s3_create_bucket(const std::string& bucket);
  void s3_put_object(const std::string& bucket, const std::string& key, const std::string& bytes);
  void s3_delete_object(const std::string& bucket, const std::string& key);

  const std::string& region() const { return settings_.region; }

 private:
  struct Answer {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;  // lower-case names
  };
  Answer call(const std::string& service, const std::string& method, const std::string& path,
              const std::string& query, std::map<std::string, std::string> headers, const std::string& body);
  std::string endpoint(const std::string& service) const;

  AwsSettings settings_;
  sigv4::Credentials credentials_;
  void* curl_;  // CURL*, reused so that calls share one connection
};

// The text of the first <tag>...</tag> in `xml`, XML entities decoded ("" when absent).
std::string xml_text(const std::string& xml, const std::string& tag);

}  // namespace mlfaas::experiment
