#pragma once
// The Lambda control plane (rest-json, 2015-03-31): CreateFunction, GetFunction, GetFunctionConfiguration,
// UpdateFunctionConfiguration, UpdateFunctionCode, Put/Get/DeleteFunctionConcurrency, AddPermission / GetPolicy /
// RemovePermission, ListFunctions, DeleteFunction, answered with the shapes of botocore's service model. Functions
// made here run exactly like the template's (they join the Platform) and are kept by a FunctionStore, so they
// outlive a restart. Template functions are listed and may be reconfigured (not persisted: template.yaml stays
// their source), but not deleted or given new code. The Invoke API itself stays in front.cc.
#include <functional>
#include <map>
#include <set>
#include <string>

#include "platform/aws/function_store.h"
#include "platform/http_server.h"
#include "platform/platform.h"

namespace mlfaas::platform::aws {

class LambdaApi {
 public:
  // Registers the functions `store` holds with `platform` (a stored function whose name the template took is
  // skipped, with a warning on the console).
  LambdaApi(Platform& platform, FunctionStore& store);
  // Whether `path` is one of this API's (the Invoke API's /invocations paths are not).
  static bool handles(const std::string& path);
  void handle(Request&& req, ExchangePtr ex);
  // Reads Code.S3Bucket/S3Key; throws ApiError with Lambda's message for a missing bucket or key.
  std::function<std::string(const std::string& bucket, const std::string& key)> s3_reader;
  // The host:port clients reach serve at, for GetFunction's Code.Location.
  std::string public_base_url;

 private:
  Response create(const nlohmann::json& body);
  Response get(Function& fn, bool configuration_only);
  Response update_configuration(Function& fn, const nlohmann::json& body);
  Response update_code(Function& fn, const nlohmann::json& body);
  Response remove(Function& fn);
  Response list(const std::map<std::string, std::string>& query);
  Response concurrency(Function& fn, http::verb method, const nlohmann::json& body);
  Response policy(Function& fn, http::verb method, const std::string& statement_id, const nlohmann::json& body);
  Response code_download(const std::string& name);
  nlohmann::json configuration(const Function& fn, const char* state, const char* update_status) const;
  std::string read_code(const nlohmann::json& code, const std::string& package_type);
  void save(const std::string& name);

  Platform& platform_;
  FunctionStore& store_;
  std::map<std::string, StoredFunction> stored_;  // by name; template functions have none
  std::map<std::string, nlohmann::json> template_policy_;
  int64_t started_ms_;
};

}  // namespace mlfaas::platform::aws
