#pragma once
// Functions made through the Lambda API, kept on disk so that they outlive a restart of serve:
// <dir>/<name>/config.json (the configuration and the API's metadata), <dir>/<name>/code.zip (the package as
// uploaded, served as GetFunction's Code.Location) and <dir>/<name>/code-<id>/ (it unpacked; a new one per
// UpdateFunctionCode, so instances still running the old code keep their directory until they stop).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "platform/aws/protocol.h"
#include "platform/template.h"

namespace mlfaas::platform::aws {

// Lambda's limits on code (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
constexpr size_t kDirectUploadLimit = 50u * 1024 * 1024;  // a zip in the request (Code.ZipFile)
constexpr size_t kUnzippedLimit = 262'144'000;            // 250 MB unzipped, the function's whole code

struct StoredFunction {
  FunctionSpec spec;  // reserved_concurrency included; code_dir is the unpacked code
  std::string role;
  std::string description;
  std::string package_type = "Zip";
  std::string code_sha256;  // base64 of the zip's SHA-256, as Lambda reports it
  int64_t code_size = 0;    // bytes of the zip
  int64_t last_modified_ms = 0;
  std::string revision_id;
  nlohmann::json policy = nlohmann::json::array();  // AddPermission's statements
};

class FunctionStore {
 public:
  explicit FunctionStore(const std::string& dir);
  const std::string& dir() const { return dir_; }
  // Every stored function; one that cannot be read is skipped with a line in `warnings`.
  std::vector<StoredFunction> load(std::vector<std::string>& warnings) const;
  void save(const StoredFunction& fn) const;  // atomic (write, then rename)
  // Checks and unpacks `zip` as the new code of `fn` (code_dir, code_sha256, code_size set; the previous code
  // directory is left for remove_code). Throws ApiError (InvalidParameterValueException) for a zip that is not
  // one, holds paths outside its root, or unpacks to more than kUnzippedLimit.
  void install_code(StoredFunction& fn, const std::string& zip) const;
  void remove_code(const std::string& code_dir) const;  // a previous code directory, once unused
  std::string zip_path(const std::string& name) const;
  void remove(const std::string& name) const;

 private:
  std::string dir_;
};

nlohmann::json to_json(const StoredFunction& fn);
StoredFunction stored_function_from_json(const nlohmann::json& j);

}  // namespace mlfaas::platform::aws
