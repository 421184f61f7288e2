#include "platform/aws/lambda_api.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/codec.h"
#include "platform/aws/protocol.h"
#include "platform/front.h"

namespace mlfaas::platform::aws {

using nlohmann::json;

namespace {

constexpr const char* kFunctions = "/2015-03-31/functions";
constexpr const char* kConcurrencyPut = "/2017-10-31/functions/";
constexpr const char* kConcurrencyGet = "/2019-09-30/functions/";
constexpr const char* kCodeDownload = "/_mlfaas/code/";
constexpr size_t kEnvironmentLimit = 4096;  // Lambda: 4 KB of environment variables in all

[[noreturn]] void invalid(const std::string& message) {
  throw ApiError(http::status::bad_request, "InvalidParameterValueException", message);
}

// A constraint of the service model broken (AWS answers these before its own checks).
[[noreturn]] void validation(const std::string& value, const std::string& field, const std::string& constraint) {
  throw ApiError(http::status::bad_request, "ValidationException",
                 "1 validation error detected: Value '" + value + "' at '" + field +
                     "' failed to satisfy constraint: " + constraint);
}

int int_in(const json& body, const char* key, const std::string& field, int lo, int hi) {
  const json& v = body.at(key);
  if (!v.is_number_integer()) invalid(std::string(key) + " must be an integer");
  long long n = v.get<long long>();
  if (n < lo) validation(std::to_string(n), field, fmt::format("Member must have value greater than or equal to {}", lo));
  if (n > hi) validation(std::to_string(n), field, fmt::format("Member must have value less than or equal to {}", hi));
  return int(n);
}

std::string string_of(const json& body, const char* key) {
  const json& v = body.at(key);
  if (!v.is_string()) invalid(std::string(key) + " must be a string");
  return v.get<std::string>();
}

bool valid_name(const std::string& name) {
  static const std::regex pattern("[a-zA-Z0-9_-]{1,64}");
  return std::regex_match(name, pattern);
}

// The fields CreateFunction and UpdateFunctionConfiguration share, checked as Lambda checks them.
void apply_configuration(const json& body, FunctionSpec& spec, StoredFunction* stored) {
  if (body.contains("MemorySize")) {
    // The service model allows up to 32768 (capacity providers); a function's own limit is 10240.
    spec.memory_mb = int_in(body, "MemorySize", "memorySize", 128, 32768);
    if (spec.memory_mb > 10240)
      invalid(fmt::format("MemorySize value {} is not valid: it must be between 128 MB and 10240 MB",
                          spec.memory_mb));
  }
  if (body.contains("Timeout")) spec.timeout_s = int_in(body, "Timeout", "timeout", 1, 900);
  if (body.contains("EphemeralStorage")) {
    const json& e = body["EphemeralStorage"];
    if (!e.is_object() || !e.contains("Size")) invalid("EphemeralStorage needs Size");
    spec.ephemeral_mb = int_in(e, "Size", "ephemeralStorage.size", 512, 10240);
  }
  if (body.contains("Handler")) {
    std::string handler = string_of(body, "Handler");
    if (handler.size() > 128) validation(handler, "handler", "Member must have length less than or equal to 128");
    spec.handler = handler;
  }
  if (body.contains("Runtime")) {
    std::string runtime = string_of(body, "Runtime");
    if (runtime != "provided.al2023" && runtime != "provided.al2" && runtime != "provided")
      invalid("The runtime parameter of " + runtime +
              " is not supported by mlfaas serve: functions run a custom runtime's bootstrap "
              "(provided.al2023, provided.al2 or provided)");
    spec.runtime = runtime;
  }
  if (body.contains("Architectures")) {
    const json& a = body["Architectures"];
    if (!a.is_array() || a.size() != 1 || !a[0].is_string() || (a[0] != "x86_64" && a[0] != "arm64"))
      invalid("Architectures must be [\"x86_64\"] or [\"arm64\"]");
    spec.architecture = a[0].get<std::string>();
  }
  if (body.contains("Environment")) {
    const json& e = body["Environment"];
    std::map<std::string, std::string> vars;
    if (!e.is_object()) invalid("Environment must be an object with Variables");
    if (e.contains("Variables") && !e["Variables"].is_null()) {
      if (!e["Variables"].is_object()) invalid("Environment.Variables must be a map of strings");
      static const std::regex key_pattern("[a-zA-Z]([a-zA-Z0-9_])+");
      static const std::set<std::string> reserved = {
          "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
          "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
          "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
          "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
          "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"};
      std::string used_reserved;
      size_t size = 0;
      for (auto& [k, v] : e["Variables"].items()) {
        if (!v.is_string()) invalid("Environment.Variables." + k + " must be a string");
        if (!std::regex_match(k, key_pattern))
          validation(k, "environment.variables", "Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+");
        if (reserved.count(k)) used_reserved += (used_reserved.empty() ? "" : ", ") + k;
        size += k.size() + v.get<std::string>().size();
        vars[k] = v.get<std::string>();
      }
      if (!used_reserved.empty())
        invalid("Lambda was unable to configure your environment variables because the environment variables you "
                "have provided contains reserved keys that are currently not supported for modification. Reserved "
                "keys used in this request: " + used_reserved);
      if (size > kEnvironmentLimit)
        invalid(fmt::format("Lambda was unable to configure your environment variables because the environment "
                            "variables you have provided exceeded the 4KB limit. String measured: {} bytes", size));
    }
    spec.environment = std::move(vars);
  }
  if (stored && body.contains("Role")) {
    std::string role = string_of(body, "Role");
    static const std::regex role_pattern("arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+");
    if (!std::regex_match(role, role_pattern))
      validation(role, "role", "Member must satisfy regular expression pattern: "
                               "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+");
    stored->role = role;
  }
  if (stored && body.contains("Description")) stored->description = string_of(body, "Description");
}

json parse_body(const std::string& body) {
  if (body.empty()) return json::object();
  json j = json::parse(body, nullptr, false);
  if (!j.is_object())
    throw ApiError(http::status::bad_request, "InvalidRequestContentException",
                   "Could not parse request body into json: the body is not a JSON object");
  return j;
}

}  // namespace

LambdaApi::LambdaApi(Platform& platform, FunctionStore& store)
    : platform_(platform), store_(store), started_ms_(unix_ms_now()) {
  std::vector<std::string> warnings;
  for (StoredFunction& fn : store_.load(warnings)) {
    std::string name = fn.spec.name;
    if (platform_.function(name)) {
      warnings.push_back("function " + name + " of the Lambda API's state is shadowed by the template's");
      continue;
    }
    fn.spec.arn = fmt::format("arn:aws:lambda:{}:{}:function:{}", platform_.tpl().region, platform_.tpl().account_id,
                              name);
    try {
      platform_.add_function(fn.spec);
      stored_[name] = std::move(fn);
    } catch (const std::exception& e) {
      warnings.push_back("function " + name + ": " + e.what());
    }
  }
  for (const auto& w : warnings) platform_.console().line("mlfaas: warning: " + w);
}

bool LambdaApi::handles(const std::string& path) {
  if (path.ends_with("/invocations")) return false;
  return path == kFunctions || path.starts_with(std::string(kFunctions) + "/") ||
         (path.starts_with(kConcurrencyPut) && path.ends_with("/concurrency")) ||
         (path.starts_with(kConcurrencyGet) && path.ends_with("/concurrency")) || path.starts_with(kCodeDownload);
}

void LambdaApi::save(const std::string& name) {
  auto it = stored_.find(name);
  Function* fn = platform_.function(name);
  if (it == stored_.end() || !fn) return;
  StoredFunction& s = it->second;
  std::string code_dir = s.spec.code_dir;
  s.spec = fn->spec;
  s.spec.code_dir = code_dir;
  s.last_modified_ms = unix_ms_now();
  s.revision_id = lambda::random_uuid();
  store_.save(s);
}

void LambdaApi::handle(Request&& req, ExchangePtr ex) {
  std::string target(req.target());
  auto q = target.find('?');
  std::string path = target.substr(0, q);
  auto query = parse_form(q == std::string::npos ? "" : target.substr(q + 1));
  if (path.size() > 1 && path.back() == '/') path.pop_back();
  const http::verb method = req.method();
  Response res;
  try {
    if (path.starts_with(kCodeDownload)) return ex->respond(code_download(path.substr(std::strlen(kCodeDownload))));
    json body = parse_body(req.body());
    if (path == kFunctions) {
      if (method == http::verb::get) return ex->respond(list(query));
      if (method == http::verb::post) return ex->respond(create(body));
      throw ApiError(http::status::method_not_allowed, "MethodNotAllowed", "use GET or POST");
    }
    // /2015-03-31/functions/{name}[/configuration|/code|/policy[/{sid}]], /20xx/functions/{name}/concurrency
    std::string rest = path.substr(path.find("/functions/") + 11);
    std::string name = url_decode(rest.substr(0, rest.find('/')), false);
    std::string sub = rest.find('/') == std::string::npos ? "" : rest.substr(rest.find('/') + 1);
    Function* fn = platform_.function(name);
    if (!fn)
      throw ApiError(http::status::not_found, "ResourceNotFoundException",
                     fmt::format("Function not found: arn:aws:lambda:{}:{}:function:{}", platform_.tpl().region,
                                 platform_.tpl().account_id, name));
    if (sub.empty() && method == http::verb::get) return ex->respond(get(*fn, false));
    if (sub.empty() && method == http::verb::delete_) return ex->respond(remove(*fn));
    if (sub == "configuration" && method == http::verb::get) return ex->respond(get(*fn, true));
    if (sub == "configuration" && method == http::verb::put) return ex->respond(update_configuration(*fn, body));
    if (sub == "code" && method == http::verb::put) return ex->respond(update_code(*fn, body));
    if (sub == "concurrency") return ex->respond(concurrency(*fn, method, body));
    if (sub == "policy" || sub.starts_with("policy/"))
      return ex->respond(policy(*fn, method, sub == "policy" ? "" : url_decode(sub.substr(7), false), body));
    throw ApiError(http::status::not_found, "UnknownOperationException", "Unknown operation " + target);
  } catch (const ApiError& e) {
    res = rest_json_error(e.status, e.type, e.what());
  } catch (const std::exception& e) {
    res = rest_json_error(http::status::internal_server_error, "ServiceException", e.what());
  }
  ex->respond(std::move(res));
}

json LambdaApi::configuration(const Function& fn, const char* state, const char* update_status) const {
  const FunctionSpec& s = fn.spec;
  auto it = stored_.find(s.name);
  const StoredFunction* st = it == stored_.end() ? nullptr : &it->second;
  json c = {{"FunctionName", s.name},
            {"FunctionArn", s.arn},
            {"Runtime", s.runtime.empty() ? "provided.al2023" : s.runtime},
            {"Role", st ? st->role : fmt::format("arn:aws:iam::{}:role/mlfaas-template", platform_.tpl().account_id)},
            {"Handler", s.handler},
            {"CodeSize", st ? st->code_size : 0},
            {"Description", st ? st->description : ""},
            {"Timeout", s.timeout_s},
            {"MemorySize", s.memory_mb},
            {"LastModified", lambda_timestamp(st ? st->last_modified_ms : started_ms_)},
            {"CodeSha256", st ? st->code_sha256 : ""},
            {"Version", "$LATEST"},
            {"TracingConfig", {{"Mode", "PassThrough"}}},
            {"RevisionId", st ? st->revision_id : ""},
            {"State", state},
            {"PackageType", st ? st->package_type : "Zip"},
            {"Architectures", json::array({s.architecture})},
            {"EphemeralStorage", {{"Size", s.ephemeral_mb}}},
            {"SnapStart", {{"ApplyOn", "None"}, {"OptimizationStatus", "Off"}}},
            {"LoggingConfig", {{"LogFormat", "Text"}, {"LogGroup", "/aws/lambda/" + s.name}}}};
  if (std::string(state) == "Pending") {
    c["StateReason"] = "The function is being created.";
    c["StateReasonCode"] = "Creating";
  }
  if (update_status) {
    c["LastUpdateStatus"] = update_status;
    if (std::string(update_status) == "InProgress") {
      c["LastUpdateStatusReason"] = "The function is being created.";
      c["LastUpdateStatusReasonCode"] = "Creating";
    }
  }
  if (!s.environment.empty()) c["Environment"] = {{"Variables", s.environment}};
  if (s.package_type == "Image") {
    c.erase("Runtime");
    c.erase("Handler");
    json image_config = json::object();
    if (!s.image_entrypoint.empty()) image_config["EntryPoint"] = s.image_entrypoint;
    if (!s.image_command.empty()) image_config["Command"] = s.image_command;
    if (!s.image_working_dir.empty()) image_config["WorkingDirectory"] = s.image_working_dir;
    c["ImageConfigResponse"] = {{"ImageConfig", image_config}};
  }
  return c;
}

std::string LambdaApi::read_code(const json& code, const std::string& package_type) {
  if (!code.is_object()) invalid("Code must be an object");
  if (package_type == "Image") {
    if (!code.contains("ImageUri") || !code["ImageUri"].is_string() || code["ImageUri"].get<std::string>().empty())
      invalid("ImageUri is required for a function whose PackageType is Image");
    if (code.contains("ZipFile") || code.contains("S3Bucket"))
      invalid("Please don't provide ZipFile or S3Bucket/S3Key for a function whose PackageType is Image");
    return "";  // the platform unpacks the image (oci_image.h)
  }
  if (code.contains("ImageUri")) invalid("Please provide ImageUri only for a function whose PackageType is Image");
  if (code.contains("ZipFile")) {
    if (code.contains("S3Bucket")) invalid("Please provide either ZipFile or S3Bucket/S3Key, not both");
    if (!code["ZipFile"].is_string()) invalid("ZipFile must be base64 text");
    const std::string& text = code["ZipFile"].get_ref<const std::string&>();
    auto zip = lambda::base64_decode(text);
    if (!zip) invalid("Could not decode ZipFile: it is not valid base64");
    if (zip->size() > kDirectUploadLimit)
      throw ApiError(http::status::payload_too_large, "RequestEntityTooLargeException",
                     fmt::format("Request must be smaller than {} bytes for the CreateFunction operation "
                                 "(a zip over {} bytes must come from S3: Code.S3Bucket/S3Key)",
                                 kDirectUploadLimit, kDirectUploadLimit));
    return std::move(*zip);
  }
  if (code.contains("S3Bucket") || code.contains("S3Key")) {
    if (!code.contains("S3Bucket") || !code.contains("S3Key") || !code["S3Bucket"].is_string() ||
        !code["S3Key"].is_string())
      invalid("Please provide both S3Bucket and S3Key");
    if (!s3_reader) invalid("S3 is not served here");
    return s3_reader(code["S3Bucket"].get<std::string>(), code["S3Key"].get<std::string>());
  }
  invalid("Please provide a source for function code: ZipFile, S3Bucket/S3Key or ImageUri");
}

Response LambdaApi::create(const json& body) {
  if (!body.contains("FunctionName") || !body["FunctionName"].is_string())
    validation("null", "functionName", "Member must not be null");
  std::string name = body["FunctionName"].get<std::string>();
  if (!valid_name(name))
    validation(name, "functionName", "Member must satisfy regular expression pattern: [a-zA-Z0-9-_]+ "
                                     "and have length between 1 and 64");
  if (!body.contains("Role")) validation("null", "role", "Member must not be null");
  std::string package_type = body.value("PackageType", "Zip");
  if (package_type != "Zip" && package_type != "Image")
    validation(package_type, "packageType", "Member must satisfy enum value set: [Zip, Image]");
  if (platform_.function(name))
    throw ApiError(http::status::conflict, "ResourceConflictException", "Function already exist: " + name);
  StoredFunction st;
  st.package_type = package_type;
  FunctionSpec& spec = st.spec;
  spec.name = spec.logical_id = name;
  spec.arn = fmt::format("arn:aws:lambda:{}:{}:function:{}", platform_.tpl().region, platform_.tpl().account_id, name);
  spec.runtime = "";
  apply_configuration(body, spec, &st);
  if (package_type == "Zip" && (spec.runtime.empty() || spec.handler.empty()))
    invalid("Runtime and Handler are mandatory parameters for functions created with deployment packages.");
  if (!body.contains("Code")) validation("null", "code", "Member must not be null");
  std::string zip = read_code(body["Code"], package_type);
  if (package_type == "Image") {
    spec.package_type = "Image";
    spec.image_uri = body["Code"]["ImageUri"].get<std::string>();
    // Lambda's ImageConfig overrides the image's own ENTRYPOINT, CMD and WORKDIR.
    const json image_config = body.value("ImageConfig", json::object());
    auto strings = [&](const char* key) {
      std::vector<std::string> out;
      if (image_config.contains(key) && image_config[key].is_array())
        for (const auto& v : image_config[key])
          if (v.is_string()) out.push_back(v.get<std::string>());
      return out;
    };
    spec.image_entrypoint = strings("EntryPoint");
    spec.image_command = strings("Command");
    spec.image_working_dir = image_config.value("WorkingDirectory", "");
    spec.code_dir = (std::filesystem::path(store_.dir()) / name).string();
    std::filesystem::create_directories(spec.code_dir);
  } else {
    store_.install_code(st, zip);
  }
  st.last_modified_ms = unix_ms_now();
  st.revision_id = lambda::random_uuid();
  try {
    Function& fn = platform_.add_function(spec);
    if (fn.image) st.code_sha256 = fn.image->manifest_digest.substr(fn.image->manifest_digest.find(':') + 1);
    st.spec = fn.spec;
    store_.save(st);
    stored_[name] = std::move(st);
    Response res = make_response(http::status::created, dump(configuration(fn, "Pending", nullptr)));
    res.set("x-amzn-RequestId", lambda::random_uuid());
    return res;
  } catch (const std::invalid_argument& e) {
    store_.remove(name);
    throw ApiError(http::status::conflict, "ResourceConflictException", e.what());
  } catch (const TemplateError& e) {  // the image cannot be unpacked or run here
    store_.remove(name);
    std::string why = e.what();
    if (auto colon = why.find("ImageUri: "); colon != std::string::npos) why = why.substr(colon + 10);
    invalid("ImageUri " + spec.image_uri + ": " + why);
  }
}

Response LambdaApi::get(Function& fn, bool configuration_only) {
  json c = configuration(fn, "Active", "Successful");
  if (configuration_only) return make_response(http::status::ok, dump(c));
  json out = {{"Configuration", c},
              {"Code", fn.spec.package_type == "Image"
                           ? json{{"RepositoryType", "ECR"}, {"ImageUri", fn.spec.image_uri},
                                  {"ResolvedImageUri", fn.spec.image_uri}}
                           : json{{"RepositoryType", "S3"},
                                  {"Location", public_base_url + kCodeDownload + fn.spec.name + ".zip"}}}};
  if (fn.spec.reserved_concurrency)
    out["Concurrency"] = {{"ReservedConcurrentExecutions", *fn.spec.reserved_concurrency}};
  return make_response(http::status::ok, dump(out));
}

Response LambdaApi::update_configuration(Function& fn, const json& body) {
  FunctionSpec spec = fn.spec;
  auto it = stored_.find(fn.spec.name);
  StoredFunction scratch;
  apply_configuration(body, spec, it == stored_.end() ? &scratch : &it->second);
  platform_.reconfigure(fn, spec);
  save(fn.spec.name);
  return make_response(http::status::ok, dump(configuration(fn, "Active", "InProgress")));
}

Response LambdaApi::update_code(Function& fn, const json& body) {
  auto it = stored_.find(fn.spec.name);
  if (it == stored_.end())
    throw ApiError(http::status::conflict, "ResourceConflictException",
                   fn.spec.name + " is defined by the template (" + platform_.tpl().path +
                       "): change its CodeUri there");
  json code = body;
  code.erase("FunctionName");
  code.erase("Publish");
  code.erase("DryRun");
  code.erase("RevisionId");
  code.erase("Architectures");
  if (body.contains("Architectures")) apply_configuration({{"Architectures", body["Architectures"]}}, it->second.spec, nullptr);
  if (it->second.package_type == "Image")
    invalid("mlfaas serve cannot replace an image function's code yet: delete the function and create it again "
            "with the new ImageUri");
  std::string zip = read_code(code, it->second.package_type);
  if (body.value("DryRun", false)) return make_response(http::status::ok, dump(configuration(fn, "Active", "Successful")));
  std::string old_code = it->second.spec.code_dir;
  store_.install_code(it->second, zip);
  FunctionSpec spec = fn.spec;
  spec.code_dir = it->second.spec.code_dir;
  spec.architecture = it->second.spec.architecture;
  platform_.reconfigure(fn, spec);
  save(fn.spec.name);
  store_.remove_code(old_code);
  return make_response(http::status::ok, dump(configuration(fn, "Active", "InProgress")));
}

Response LambdaApi::remove(Function& fn) {
  std::string name = fn.spec.name;
  if (!stored_.count(name))
    throw ApiError(http::status::conflict, "ResourceConflictException",
                   name + " is defined by the template (" + platform_.tpl().path + "): remove it there");
  platform_.remove_function(fn);
  stored_.erase(name);
  store_.remove(name);
  Response res = make_response(http::status::no_content, "", "");
  res.set("x-amzn-RequestId", lambda::random_uuid());
  return res;
}

Response LambdaApi::list(const std::map<std::string, std::string>& query) {
  size_t start = 0, max_items = 50;
  if (auto m = query.find("Marker"); m != query.end()) {
    try {
      start = std::stoul(m->second);
    } catch (const std::exception&) {
      invalid("Invalid Marker: " + m->second);
    }
  }
  if (auto m = query.find("MaxItems"); m != query.end()) {
    try {
      max_items = std::stoul(m->second);
    } catch (const std::exception&) {
      max_items = 0;
    }
    if (max_items < 1 || max_items > 10000)
      validation(m->second, "maxItems", "Member must have value between 1 and 10000");
  }
  std::vector<Function*> all;
  for (auto& f : platform_.functions()) all.push_back(f.get());
  std::sort(all.begin(), all.end(), [](Function* a, Function* b) { return a->spec.name < b->spec.name; });
  json functions = json::array();
  for (size_t i = start; i < all.size() && functions.size() < max_items; ++i)
    functions.push_back(configuration(*all[i], "Active", "Successful"));
  json out = {{"Functions", functions}};
  if (start + functions.size() < all.size()) out["NextMarker"] = std::to_string(start + functions.size());
  return make_response(http::status::ok, dump(out));
}

Response LambdaApi::concurrency(Function& fn, http::verb method, const json& body) {
  if (method == http::verb::get) {
    json out = json::object();
    if (fn.spec.reserved_concurrency) out["ReservedConcurrentExecutions"] = *fn.spec.reserved_concurrency;
    return make_response(http::status::ok, dump(out));
  }
  if (method == http::verb::put) {
    if (!body.contains("ReservedConcurrentExecutions"))
      validation("null", "reservedConcurrentExecutions", "Member must not be null");
    int n = int_in(body, "ReservedConcurrentExecutions", "reservedConcurrentExecutions", 0, 1 << 30);
    try {
      platform_.set_reserved_concurrency(fn, n);
    } catch (const std::invalid_argument& e) {
      invalid(e.what());
    }
    save(fn.spec.name);
    return make_response(http::status::ok, dump(json{{"ReservedConcurrentExecutions", n}}));
  }
  if (method == http::verb::delete_) {
    platform_.set_reserved_concurrency(fn, std::nullopt);
    save(fn.spec.name);
    Response res = make_response(http::status::no_content, "", "");
    res.set("x-amzn-RequestId", lambda::random_uuid());
    return res;
  }
  throw ApiError(http::status::method_not_allowed, "MethodNotAllowed", "use GET, PUT or DELETE");
}

Response LambdaApi::policy(Function& fn, http::verb method, const std::string& statement_id, const json& body) {
  auto it = stored_.find(fn.spec.name);
  json& statements = it != stored_.end() ? it->second.policy : template_policy_[fn.spec.name];
  if (!statements.is_array()) statements = json::array();
  auto policy_document = [&] {
    return json{{"Version", "2012-10-17"}, {"Id", "default"}, {"Statement", statements}};
  };
  if (method == http::verb::get) {
    if (statements.empty())
      throw ApiError(http::status::not_found, "ResourceNotFoundException", "The resource you requested does not exist.");
    return make_response(http::status::ok,
                         dump(json{{"Policy", dump(policy_document())},
                                   {"RevisionId", it != stored_.end() ? it->second.revision_id : ""}}));
  }
  if (method == http::verb::post && statement_id.empty()) {
    for (const char* key : {"StatementId", "Action", "Principal"})
      if (!body.contains(key) || !body[key].is_string())
        validation("null", std::string(1, char(std::tolower(key[0]))) + (key + 1), "Member must not be null");
    std::string sid = body["StatementId"].get<std::string>();
    for (const auto& s : statements)
      if (s.value("Sid", "") == sid)
        throw ApiError(http::status::conflict, "ResourceConflictException",
                       "The statement id (" + sid + ") provided already exists. Please provide a new statement id, "
                       "or remove the existing statement.");
    std::string principal = body["Principal"].get<std::string>();
    json statement = {{"Sid", sid},
                      {"Effect", "Allow"},
                      {"Principal", principal.find('.') != std::string::npos ? json{{"Service", principal}}
                                                                             : json{{"AWS", principal}}},
                      {"Action", body["Action"]},
                      {"Resource", fn.spec.arn}};
    if (body.contains("SourceArn"))
      statement["Condition"] = {{"ArnLike", {{"AWS:SourceArn", body["SourceArn"]}}}};
    statements.push_back(statement);
    save(fn.spec.name);
    return make_response(http::status::created, dump(json{{"Statement", dump(statement)}}));
  }
  if (method == http::verb::delete_ && !statement_id.empty()) {
    for (auto s = statements.begin(); s != statements.end(); ++s)
      if (s->value("Sid", "") == statement_id) {
        statements.erase(s);
        save(fn.spec.name);
        return make_response(http::status::no_content, "", "");
      }
    throw ApiError(http::status::not_found, "ResourceNotFoundException",
                   "Statement " + statement_id + " is not found in resource policy.");
  }
  throw ApiError(http::status::method_not_allowed, "MethodNotAllowed", "use GET, POST or DELETE");
}

Response LambdaApi::code_download(const std::string& file) {
  std::string name = file.ends_with(".zip") ? file.substr(0, file.size() - 4) : file;
  if (!stored_.count(name))
    throw ApiError(http::status::not_found, "ResourceNotFoundException", "No code stored for " + name);
  std::ifstream in(store_.zip_path(name), std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return make_response(http::status::ok, bytes.str(), "application/zip");
}

}  // namespace mlfaas::platform::aws
