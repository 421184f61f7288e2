#include "platform/template.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace mlfaas::platform {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& problem) {
  throw TemplateError(where + ": " + problem);
}

enum class Kind { Function, Topic, Other };

struct ResourceInfo {
  Kind kind = Kind::Other;
  std::string type;
  std::string name;  // physical name
  std::string arn;
};

class Parser {
 public:
  Parser(Template& t, const std::string& base_dir) : t_(t), base_dir_(base_dir) {}

  void run(const YAML::Node& root) {
    if (!root.IsMap()) fail("(document)", "a SAM template must be a YAML mapping");
    static const std::set<std::string> known_top = {"AWSTemplateFormatVersion", "Transform", "Description",
                                                    "Parameters", "Globals", "Resources", "Outputs", "Metadata",
                                                    "Conditions"};
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      if (!known_top.count(key)) warn(key, "unsupported top-level section, ignored");
    }
    if (root["Parameters"]) read_parameters(root["Parameters"]);
    if (root["Conditions"]) {
      if (!root["Conditions"].IsMap()) fail("Conditions", "must be a mapping");
      conditions_ = root["Conditions"];
    }
    const YAML::Node resources = root["Resources"];
    if (!resources) fail("Resources", "missing (a template needs at least one resource)");
    if (!resources.IsMap()) fail("Resources", "must be a mapping of logical ids to resources");
    if (root["Globals"]) read_globals(root["Globals"]);

    // First pass: names and ARNs, so that !Ref and !GetAtt resolve whatever the order of resources.
    for (const auto& kv : resources) {
      std::string id = kv.first.as<std::string>();
      std::string where = "Resources." + id;
      const YAML::Node& res = kv.second;
      if (!res.IsMap()) fail(where, "must be a mapping with Type and Properties");
      if (!res["Type"] || !res["Type"].IsScalar()) fail(where + ".Type", "missing");
      ResourceInfo info;
      info.type = res["Type"].as<std::string>();
      if (res["Condition"] && !condition(str(res["Condition"], where + ".Condition"), where + ".Condition")) {
        skipped_.insert(id);
        continue;
      }
      const YAML::Node props = res["Properties"];
      if (props && !props.IsMap() && !props.IsNull()) fail(where + ".Properties", "must be a mapping");
      if (info.type == "AWS::Serverless::Function") {
        info.kind = Kind::Function;
        info.name = plain_name(props, "FunctionName", id);
        info.arn = "arn:aws:lambda:" + t_.region + ":" + t_.account_id + ":function:" + info.name;
      } else if (info.type == "AWS::SNS::Topic") {
        info.kind = Kind::Topic;
        info.name = plain_name(props, "TopicName", id);
        info.arn = "arn:aws:sns:" + t_.region + ":" + t_.account_id + ":" + info.name;
      }
      resources_[id] = info;
    }
    for (const auto& kv : resources) {
      std::string id = kv.first.as<std::string>();
      if (skipped_.count(id)) continue;
      const ResourceInfo& info = resources_[id];
      const YAML::Node props = kv.second["Properties"];
      std::string where = "Resources." + id;
      if (info.type == "AWS::Serverless::Function") {
        read_function(id, props, where);
        const YAML::Node metadata = kv.second["Metadata"];
        if (metadata && metadata.IsMap() && metadata["OpenAICompatible"]) {
          std::string flag = str(metadata["OpenAICompatible"], where + ".Metadata.OpenAICompatible");
          if (flag != "true" && flag != "false")
            fail(where + ".Metadata.OpenAICompatible", "must be true or false, got '" + flag + "'");
          t_.functions.back().openai_compatible = flag == "true";
        }
      } else if (info.type == "AWS::SNS::Topic") read_topic(id, props, where);
      else if (info.type == "AWS::SNS::Subscription") read_subscription(props, where);
      else if (info.type == "AWS::CloudWatch::Alarm") read_alarm(id, props, where);
      else if (info.type == "AWS::Lambda::Permission" || info.type == "AWS::Serverless::HttpApi" ||
               info.type == "AWS::Serverless::Api")
        warn(where, info.type + " has no local effect (routes come from the functions' events), ignored");
      else warn(where, "resource type " + info.type + " is not supported locally, ignored");
    }
    for (const auto& [fn, topic] : lambda_subscriptions_) attach_lambda(fn, topic);
  }

 private:
  Template& t_;
  std::string base_dir_;
  std::map<std::string, ResourceInfo> resources_;
  std::map<std::string, std::string> parameters_;
  YAML::Node globals_function_;
  std::vector<std::pair<std::string, std::string>> lambda_subscriptions_;  // function arn, topic arn

  YAML::Node conditions_;
  std::set<std::string> skipped_;  // resources whose Condition is false

  // Fn::Equals / Not / And / Or and Condition references: enough for parameter-driven optional resources.
  std::set<std::string> evaluating_;  // conditions on the current evaluation path (catches cycles)

  bool condition(const std::string& name, const std::string& where) {
    if (!conditions_ || !conditions_[name]) fail(where, "unknown condition '" + name + "'");
    if (!evaluating_.insert(name).second) fail("Conditions." + name, "refers to itself");
    bool value = evaluate(conditions_[name], "Conditions." + name);
    evaluating_.erase(name);
    return value;
  }

  bool evaluate(const YAML::Node& n, const std::string& where) {
    std::string fn;
    YAML::Node args;
    const std::string& tag = n.Tag();
    if (tag == "!Equals" || tag == "!Not" || tag == "!And" || tag == "!Or" || tag == "!Condition") {
      fn = tag.substr(1);
      args = n;
    } else if (n.IsMap() && n.size() == 1) {
      auto kv = *n.begin();
      fn = kv.first.as<std::string>();
      if (fn.starts_with("Fn::")) fn = fn.substr(4);
      args = kv.second;
    }
    if (fn == "Condition") {
      if (!args.IsScalar()) fail(where, "Condition needs the name of a condition");
      return condition(args.Scalar(), where);
    }
    if (fn == "Equals" && args.IsSequence() && args.size() == 2) return str(args[0], where) == str(args[1], where);
    if (fn == "Not" && args.IsSequence() && args.size() == 1) return !evaluate(args[0], where);
    if ((fn == "And" || fn == "Or") && args.IsSequence()) {
      bool all = true, any = false;
      for (size_t i = 0; i < args.size(); ++i) {
        bool v = evaluate(args[i], where);
        all = all && v;
        any = any || v;
      }
      return fn == "And" ? all : any;
    }
    fail(where, "unsupported condition (Equals, Not, And, Or and Condition are supported)");
  }

  void warn(const std::string& where, const std::string& what) { t_.warnings.push_back(where + ": " + what); }

  std::string plain_name(const YAML::Node& props, const char* key, const std::string& fallback) {
    std::string name = fallback;
    std::string where = std::string("Resources.") + fallback + ".Properties." + key;
    if (props && props.IsMap() && props[key]) {
      if (!props[key].IsScalar() || is_intrinsic_tag(props[key])) fail(where, "must be a plain string here");
      name = props[key].as<std::string>();
    }
    // Lambda and SNS names: letters, digits, '-' and '_' (they also name log files here).
    bool ok = !name.empty() && name.size() <= 256;
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
    if (!ok) fail(props && props.IsMap() && props[key] ? where : "Resources." + fallback,
                  "'" + name + "' is not a valid name (letters, digits, - and _ only)");
    return name;
  }

  static bool is_intrinsic_tag(const YAML::Node& n) {
    const std::string& tag = n.Tag();
    return tag.size() > 1 && tag[0] == '!';
  }

  void read_parameters(const YAML::Node& params) {
    if (!params.IsMap()) fail("Parameters", "must be a mapping");
    for (const auto& kv : params) {
      std::string name = kv.first.as<std::string>();
      if (kv.second.IsMap() && kv.second["Default"] && kv.second["Default"].IsScalar())
        parameters_[name] = kv.second["Default"].as<std::string>();
      else warn("Parameters." + name, "no Default; a !Ref to it will fail");
    }
  }

  void read_globals(const YAML::Node& globals) {
    if (!globals.IsMap()) fail("Globals", "must be a mapping");
    for (const auto& kv : globals) {
      std::string key = kv.first.as<std::string>();
      if (key == "Function") {
        if (!kv.second.IsMap()) fail("Globals.Function", "must be a mapping");
        globals_function_ = kv.second;
      } else {
        warn("Globals." + key, "ignored locally");
      }
    }
  }

  // ---- intrinsic functions ----

  std::string ref(const std::string& name, const std::string& where) {
    if (name == "AWS::Region") return t_.region;
    if (name == "AWS::AccountId") return t_.account_id;
    if (name == "AWS::StackName") return t_.stack_name;
    if (name == "AWS::Partition") return "aws";
    if (name == "AWS::URLSuffix") return "amazonaws.com";
    if (auto p = parameters_.find(name); p != parameters_.end()) return p->second;
    auto r = resources_.find(name);
    if (r == resources_.end()) fail(where, "!Ref to unknown resource or parameter '" + name + "'");
    if (r->second.kind == Kind::Function) return r->second.name;
    if (r->second.kind == Kind::Topic) return r->second.arn;
    fail(where, "!Ref to " + r->second.type + " '" + name + "' is not supported locally");
  }

  std::string get_att(const std::string& resource, const std::string& attribute, const std::string& where) {
    auto r = resources_.find(resource);
    if (r == resources_.end()) fail(where, "!GetAtt of unknown resource '" + resource + "'");
    if (r->second.kind == Kind::Function && attribute == "Arn") return r->second.arn;
    if (r->second.kind == Kind::Topic && attribute == "TopicArn") return r->second.arn;
    if (r->second.kind == Kind::Topic && attribute == "TopicName") return r->second.name;
    fail(where, "!GetAtt " + resource + "." + attribute + " is not supported locally");
  }

  std::string sub(const std::string& text, const std::map<std::string, std::string>& vars,
                  const std::string& where) {
    std::string out;
    for (size_t i = 0; i < text.size();) {
      if (text.compare(i, 3, "${!") == 0) {  // ${!Literal} is an escaped ${Literal}
        out += "${";
        i += 3;
      } else if (text.compare(i, 2, "${") == 0) {
        size_t end = text.find('}', i);
        if (end == std::string::npos) fail(where, "!Sub has an unterminated ${");
        std::string name = text.substr(i + 2, end - i - 2);
        if (auto v = vars.find(name); v != vars.end()) out += v->second;
        else if (auto dot = name.find('.'); dot != std::string::npos && !name.starts_with("AWS::"))
          out += get_att(name.substr(0, dot), name.substr(dot + 1), where);
        else out += ref(name, where);
        i = end + 1;
      } else {
        out += text[i++];
      }
    }
    return out;
  }

  // A scalar property, with !Ref / !GetAtt / !Sub / !Join (short or long form) resolved.
  std::string str(const YAML::Node& n, const std::string& where) {
    if (!n || n.IsNull()) fail(where, "missing value");
    const std::string& tag = n.Tag();
    if (tag == "!Ref") return ref(n.as<std::string>(), where);
    if (tag == "!GetAtt") return get_att_node(n, where);
    if (tag == "!Sub") return sub_node(n, where);
    if (tag == "!Join") return join_node(n, where);
    if (is_intrinsic_tag(n) && tag != "!") fail(where, tag + " is not supported locally");
    if (n.IsMap() && n.size() == 1) {
      auto kv = *n.begin();
      std::string fn = kv.first.as<std::string>();
      if (fn == "Ref") return ref(str(kv.second, where), where);
      if (fn == "Fn::GetAtt") return get_att_node(kv.second, where);
      if (fn == "Fn::Sub") return sub_node(kv.second, where);
      if (fn == "Fn::Join") return join_node(kv.second, where);
      if (fn.starts_with("Fn::")) fail(where, fn + " is not supported locally");
    }
    if (!n.IsScalar()) fail(where, "must be a string");
    return n.as<std::string>();
  }

  std::string get_att_node(const YAML::Node& n, const std::string& where) {
    if (n.IsScalar()) {
      std::string s = n.as<std::string>();
      auto dot = s.find('.');
      if (dot == std::string::npos) fail(where, "!GetAtt needs Resource.Attribute");
      return get_att(s.substr(0, dot), s.substr(dot + 1), where);
    }
    if (n.IsSequence() && n.size() == 2) return get_att(str(n[0], where), str(n[1], where), where);
    fail(where, "!GetAtt needs Resource.Attribute or [Resource, Attribute]");
  }

  std::string sub_node(const YAML::Node& n, const std::string& where) {
    if (n.IsScalar()) return sub(n.as<std::string>(), {}, where);
    if (n.IsSequence() && n.size() == 2 && n[1].IsMap()) {
      std::map<std::string, std::string> vars;
      for (const auto& kv : n[1]) vars[kv.first.as<std::string>()] = str(kv.second, where);
      return sub(str(n[0], where), vars, where);
    }
    fail(where, "!Sub needs a string or [string, {variables}]");
  }

  std::string join_node(const YAML::Node& n, const std::string& where) {
    if (!n.IsSequence() || n.size() != 2 || !n[1].IsSequence()) fail(where, "!Join needs [delimiter, [values]]");
    std::string delim = str(n[0], where), out;
    for (size_t i = 0; i < n[1].size(); ++i) out += (i ? delim : "") + str(n[1][i], where);
    return out;
  }

  long long integer(const YAML::Node& n, const std::string& where, long long lo, long long hi) {
    std::string s = str(n, where);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != s.size()) fail(where, "must be an integer, got '" + s + "'");
    if (v < lo || v > hi)
      fail(where, "must be within " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + s);
    return v;
  }

  // ---- resources ----

  void read_function(const std::string& id, const YAML::Node& own, const std::string& where) {
    FunctionSpec f;
    f.logical_id = id;
    f.name = resources_[id].name;
    f.arn = resources_[id].arn;
    // Globals.Function supplies defaults; the function's own properties win (Environment variables merge).
    // (Never assign one YAML::Node to another: yaml-cpp then overwrites the node referred to, here Globals.)
    std::map<std::string, std::pair<YAML::Node, std::string>> props;
    auto put = [&props](const std::string& key, const YAML::Node& node, const std::string& path) {
      props.erase(key);
      props.emplace(key, std::make_pair(node, path));
    };
    if (globals_function_)
      for (const auto& kv : globals_function_)
        put(kv.first.as<std::string>(), kv.second, "Globals.Function." + kv.first.as<std::string>());
    // Environment variables of Globals and of the function merge (the function's win), as in SAM.
    if (globals_function_ && globals_function_["Environment"] && own && own.IsMap() && own["Environment"])
      read_environment(globals_function_["Environment"], "Globals.Function.Environment", f);
    if (own && own.IsMap())
      for (const auto& kv : own) put(kv.first.as<std::string>(), kv.second, where + ".Properties." + kv.first.as<std::string>());

    static const std::set<std::string> ignored_locally = {
        "Description", "Policies", "Role", "Tags", "Tracing", "AutoPublishAlias", "DeploymentPreference",
        "FunctionUrlConfig", "LoggingConfig", "RuntimeManagementConfig", "PackageType", "Layers",
        "EphemeralStorage", "SnapStart", "VpcConfig", "DeadLetterQueue", "EventInvokeConfig", "KmsKeyArn"};
    for (const auto& [key, value] : props) {
      const auto& [node, path] = value;
      if (key == "FunctionName") continue;
      if (key == "CodeUri") {
        if (!node.IsScalar()) fail(path, "must be a local directory (S3 locations are not supported locally)");
        fs::path p(str(node, path));
        // Absolute: the instance sandbox bind-mounts it, and LAMBDA_TASK_ROOT is absolute on Lambda.
        f.code_dir = fs::absolute(p.is_absolute() ? p : fs::path(base_dir_) / p).lexically_normal().string();
        if (f.code_dir.size() > 1 && f.code_dir.back() == '/') f.code_dir.pop_back();
      } else if (key == "Handler") {
        f.handler = str(node, path);
      } else if (key == "Runtime") {
        f.runtime = str(node, path);
        if (f.runtime != "provided.al2023" && f.runtime != "provided.al2" && f.runtime != "provided")
          fail(path, "'" + f.runtime + "' is not supported: mlfaas serve runs custom runtimes "
                     "(provided.al2023, provided.al2)");
      } else if (key == "MemorySize") {
        f.memory_mb = int(integer(node, path, 128, 10240));
      } else if (key == "Timeout") {
        f.timeout_s = int(integer(node, path, 1, 900));
      } else if (key == "EphemeralStorage") {
        if (!node.IsMap() || !node["Size"]) fail(path, "must be a map with Size (MB, 512 to 10240)");
        f.ephemeral_mb = int(integer(node["Size"], path + ".Size", 512, 10240));
      } else if (key == "ReservedConcurrentExecutions") {
        f.reserved_concurrency = int(integer(node, path, 0, 1'000'000));
      } else if (key == "Architectures") {
        if (!node.IsSequence() || node.size() != 1) fail(path, "must list exactly one architecture");
        f.architecture = str(node[0], path + "[0]");
        if (f.architecture != "x86_64" && f.architecture != "arm64")
          fail(path + "[0]", "must be x86_64 or arm64, got '" + f.architecture + "'");
      } else if (key == "Environment") {
        read_environment(node, path, f);
      } else if (key == "Events") {
        continue;  // below, after the function's own name is known
      } else if (key == "FunctionUrlConfig") {
        if (!node.IsMap()) fail(path, "must be a map");
        if (node["InvokeMode"]) {
          std::string mode = str(node["InvokeMode"], path + ".InvokeMode");
          if (mode != "BUFFERED" && mode != "RESPONSE_STREAM")
            fail(path + ".InvokeMode", "must be BUFFERED or RESPONSE_STREAM, got '" + mode + "'");
          f.response_stream = mode == "RESPONSE_STREAM";
        }
      } else if (key == "PackageType") {
        f.package_type = str(node, path);
        if (f.package_type != "Zip" && f.package_type != "Image")
          fail(path, "must be Zip or Image, got '" + f.package_type + "'");
      } else if (key == "ImageUri") {
        std::string uri = str(node, path);
        // A local path is taken against the template's directory, as CodeUri is; skopeo's transport prefix stays.
        std::string prefix = uri.starts_with("oci-archive:") ? "oci-archive:" : uri.starts_with("oci:") ? "oci:" : "";
        std::string rest = uri.substr(prefix.size());
        if (!rest.empty() && rest.front() != '/' && uri.find("://") == std::string::npos &&
            uri.find(".dkr.ecr.") == std::string::npos)
          rest = fs::absolute(fs::path(base_dir_) / rest).lexically_normal().string();
        f.image_uri = prefix + rest;
      } else if (key == "ImageConfig") {
        if (!node.IsMap()) fail(path, "must be a map of EntryPoint, Command, WorkingDirectory");
        for (const auto& kv : node) {
          std::string k = kv.first.as<std::string>();
          if (k == "EntryPoint" || k == "Command") {
            if (!kv.second.IsSequence()) fail(path + "." + k, "must be a list of strings");
            auto& list = k == "EntryPoint" ? f.image_entrypoint : f.image_command;
            for (size_t i = 0; i < kv.second.size(); ++i)
              list.push_back(str(kv.second[i], path + "." + k + "[" + std::to_string(i) + "]"));
          } else if (k == "WorkingDirectory") {
            f.image_working_dir = str(kv.second, path + "." + k);
          } else {
            warn(path + "." + k, "unsupported, ignored");
          }
        }
      } else if (ignored_locally.count(key)) {
        if (key == "Layers" || key == "VpcConfig") warn(path, "ignored locally");
      } else {
        warn(path, "unsupported property, ignored");
      }
    }
    if (f.package_type == "Image") {
      // An image brings its own runtime and names its handler in its Cmd (or ImageConfig.Command); SAM leaves
      // Runtime, Handler and CodeUri unused for it.
      if (f.image_uri.empty()) fail(where + ".Properties.ImageUri", "missing (PackageType: Image needs the image)");
      if (!f.image_command.empty()) f.handler = f.image_command.front();
      f.runtime.clear();
      f.code_dir.clear();
    } else {
      if (f.handler.empty()) fail(where + ".Properties.Handler", "missing");
      if (f.runtime.empty()) fail(where + ".Properties.Runtime", "missing");
      if (f.code_dir.empty()) fail(where + ".Properties.CodeUri", "missing");
      if (!f.image_uri.empty()) warn(where + ".Properties.ImageUri", "ignored for PackageType: Zip");
    }
    if (props.count("Events")) read_events(props["Events"].first, props["Events"].second, f);
    t_.functions.push_back(std::move(f));
  }

  void read_environment(const YAML::Node& node, const std::string& path, FunctionSpec& f) {
    if (!node.IsMap()) fail(path, "must be a mapping with Variables");
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      if (key != "Variables") {
        warn(path + "." + key, "unsupported, ignored");
        continue;
      }
      if (!kv.second.IsMap()) fail(path + ".Variables", "must be a mapping of names to strings");
      for (const auto& var : kv.second) {
        std::string name = var.first.as<std::string>();
        f.environment[name] = str(var.second, path + ".Variables." + name);
      }
    }
  }

  void read_events(const YAML::Node& events, const std::string& path, FunctionSpec& f) {
    if (!events.IsMap()) fail(path, "must be a mapping of event names to events");
    for (const auto& kv : events) {
      std::string where = path + "." + kv.first.as<std::string>();
      const YAML::Node& ev = kv.second;
      if (!ev.IsMap() || !ev["Type"]) fail(where + ".Type", "missing");
      std::string type = str(ev["Type"], where + ".Type");
      YAML::Node props = ev["Properties"];
      if (type == "HttpApi" || type == "Api") {
        Route r;
        r.api_type = type;
        if (props && props.IsMap() && props["Path"]) r.path = str(props["Path"], where + ".Properties.Path");
        else if (type == "Api") fail(where + ".Properties.Path", "missing");
        else r.path = "$default";
        if (props && props.IsMap() && props["Method"]) r.method = str(props["Method"], where + ".Properties.Method");
        else if (type == "Api") fail(where + ".Properties.Method", "missing");
        else r.method = "ANY";
        for (auto& c : r.method) c = char(std::toupper(static_cast<unsigned char>(c)));
        if (r.method == "X-AMAZON-APIGATEWAY-ANY-METHOD") r.method = "ANY";
        if (r.path != "$default" && r.path.front() != '/') fail(where + ".Properties.Path", "must start with /");
        f.routes.push_back(r);
      } else if (type == "SNS") {
        if (!props || !props.IsMap() || !props["Topic"]) fail(where + ".Properties.Topic", "missing");
        std::string arn = str(props["Topic"], where + ".Properties.Topic");
        f.sns_topic_arns.push_back(arn);
      } else {
        warn(where, "event type " + type + " is not supported locally, ignored");
      }
    }
  }

  void read_topic(const std::string& id, const YAML::Node& props, const std::string& where) {
    TopicSpec topic{id, resources_[id].name, resources_[id].arn, {}};
    if (props && props.IsMap()) {
      for (const auto& kv : props) {
        std::string key = kv.first.as<std::string>();
        std::string path = where + ".Properties." + key;
        if (key == "TopicName" || key == "DisplayName" || key == "Tags") continue;
        if (key == "Subscription") {
          if (!kv.second.IsSequence()) fail(path, "must be a list of {Protocol, Endpoint}");
          for (size_t i = 0; i < kv.second.size(); ++i) {
            std::string p = path + "[" + std::to_string(i) + "]";
            const YAML::Node& s = kv.second[i];
            if (!s.IsMap() || !s["Protocol"]) fail(p + ".Protocol", "missing");
            if (!s["Endpoint"]) fail(p + ".Endpoint", "missing");
            Subscription sub{str(s["Protocol"], p + ".Protocol"), str(s["Endpoint"], p + ".Endpoint")};
            if (sub.protocol == "lambda") lambda_subscriptions_.push_back({sub.endpoint, topic.arn});
            topic.subscriptions.push_back(sub);
          }
        } else {
          warn(path, "unsupported property, ignored");
        }
      }
    }
    t_.topics.push_back(std::move(topic));
  }

  void read_subscription(const YAML::Node& props, const std::string& where) {
    if (!props || !props.IsMap()) fail(where + ".Properties", "missing");
    for (const char* key : {"TopicArn", "Protocol", "Endpoint"})
      if (!props[key]) fail(where + ".Properties." + key, "missing");
    std::string topic_arn = str(props["TopicArn"], where + ".Properties.TopicArn");
    Subscription sub{str(props["Protocol"], where + ".Properties.Protocol"),
                     str(props["Endpoint"], where + ".Properties.Endpoint")};
    pending_subscriptions_.push_back({topic_arn, sub, where});
  }

  void read_alarm(const std::string& id, const YAML::Node& props, const std::string& where) {
    if (!props || !props.IsMap()) fail(where + ".Properties", "missing");
    AlarmSpec a;
    a.logical_id = id;
    a.alarm_name = id;
    auto p = [&](const char* key) { return where + ".Properties." + key; };
    bool has_statistic = false;
    for (const auto& kv : props) {
      std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (key == "AlarmName") a.alarm_name = str(v, p("AlarmName"));
      else if (key == "MetricName") a.metric_name = str(v, p("MetricName"));
      else if (key == "Namespace") a.ns = str(v, p("Namespace"));
      else if (key == "Statistic" || key == "ExtendedStatistic") {
        if (has_statistic) fail(p(key.c_str()), "give either Statistic or ExtendedStatistic, not both");
        has_statistic = true;
        a.statistic = str(v, p(key.c_str()));
      }
      else if (key == "Period") a.period_s = int(integer(v, p("Period"), 1, 86400 * 7));
      else if (key == "EvaluationPeriods") a.evaluation_periods = int(integer(v, p("EvaluationPeriods"), 1, 1440));
      else if (key == "DatapointsToAlarm") a.datapoints_to_alarm = int(integer(v, p("DatapointsToAlarm"), 1, 1440));
      else if (key == "Threshold") {
        std::string s = str(v, p("Threshold"));
        try {
          size_t used = 0;
          a.threshold = std::stod(s, &used);
          if (used != s.size()) throw std::invalid_argument(s);
        } catch (const std::exception&) {
          fail(p("Threshold"), "must be a number, got '" + s + "'");
        }
      } else if (key == "ComparisonOperator") a.comparison_operator = str(v, p("ComparisonOperator"));
      else if (key == "TreatMissingData") a.treat_missing_data = str(v, p("TreatMissingData"));
      else if (key == "Dimensions") {
        if (!v.IsSequence()) fail(p("Dimensions"), "must be a list of {Name, Value}");
        for (size_t i = 0; i < v.size(); ++i) {
          std::string dp = p("Dimensions") + "[" + std::to_string(i) + "]";
          if (!v[i].IsMap() || !v[i]["Name"] || !v[i]["Value"]) fail(dp, "needs Name and Value");
          a.dimensions[str(v[i]["Name"], dp + ".Name")] = str(v[i]["Value"], dp + ".Value");
        }
      } else if (key == "AlarmActions" || key == "OKActions" || key == "InsufficientDataActions") {
        if (!v.IsSequence()) fail(p(key.c_str()), "must be a list");
        auto& out = key == "AlarmActions" ? a.alarm_actions : key == "OKActions" ? a.ok_actions
                                                                                 : a.insufficient_data_actions;
        for (size_t i = 0; i < v.size(); ++i) out.push_back(str(v[i], p(key.c_str()) + "[" + std::to_string(i) + "]"));
      } else if (key == "AlarmDescription") {
        a.description = str(v, p("AlarmDescription"));
      } else if (key == "ActionsEnabled" || key == "Unit") {
        continue;
      } else {
        warn(p(key.c_str()), "unsupported alarm property, ignored");
      }
    }
    if (a.metric_name.empty()) fail(p("MetricName"), "missing");
    if (a.comparison_operator.empty()) fail(p("ComparisonOperator"), "missing");
    if (a.datapoints_to_alarm == 0) a.datapoints_to_alarm = a.evaluation_periods;
    if (a.datapoints_to_alarm > a.evaluation_periods)
      fail(p("DatapointsToAlarm"), "must not exceed EvaluationPeriods (" + std::to_string(a.evaluation_periods) + ")");
    static const std::set<std::string> ops = {"GreaterThanThreshold", "GreaterThanOrEqualToThreshold",
                                              "LessThanThreshold", "LessThanOrEqualToThreshold"};
    if (!ops.count(a.comparison_operator))
      fail(p("ComparisonOperator"), "unsupported operator '" + a.comparison_operator + "'");
    t_.alarms.push_back(std::move(a));
  }

  void attach_lambda(const std::string& function_arn, const std::string& topic_arn) {
    for (auto& f : t_.functions)
      if (f.arn == function_arn || f.name == function_arn) {
        if (std::find(f.sns_topic_arns.begin(), f.sns_topic_arns.end(), topic_arn) == f.sns_topic_arns.end())
          f.sns_topic_arns.push_back(topic_arn);
        return;
      }
    t_.warnings.push_back("SNS subscription of " + topic_arn + " to " + function_arn +
                          ": no such function in this template, ignored");
  }

 public:
  struct PendingSubscription {
    std::string topic_arn;
    Subscription sub;
    std::string where;
  };
  std::vector<PendingSubscription> pending_subscriptions_;

  void finish() {
    for (const auto& p : pending_subscriptions_) {
      TopicSpec* topic = nullptr;
      for (auto& t : t_.topics)
        if (t.arn == p.topic_arn) topic = &t;
      if (!topic) fail(p.where + ".Properties.TopicArn", "no topic " + p.topic_arn + " in this template");
      topic->subscriptions.push_back(p.sub);
      if (p.sub.protocol == "lambda") attach_lambda(p.sub.endpoint, p.topic_arn);
    }
    // Every SNS event of a function is a subscription of its topic.
    for (const auto& f : t_.functions)
      for (const auto& arn : f.sns_topic_arns)
        if (!t_.topic_by_arn(arn))
          fail("Resources." + f.logical_id + ".Properties.Events", "SNS topic " + arn + " is not in this template");
  }
};

}  // namespace

const FunctionSpec* Template::function_by_name(const std::string& name_or_arn) const {
  // The Invoke API accepts a name, a full ARN or a partial ARN (account:function:name), optionally qualified.
  std::string name = name_or_arn;
  if (auto pos = name.find("function:"); pos != std::string::npos) name = name.substr(pos + 9);
  if (auto colon = name.find(':'); colon != std::string::npos) name = name.substr(0, colon);
  for (const auto& f : functions)
    if (f.name == name) return &f;
  return nullptr;
}

const TopicSpec* Template::topic_by_arn(const std::string& arn) const {
  for (const auto& t : topics)
    if (t.arn == arn || t.name == arn) return &t;
  return nullptr;
}

Template parse_template(const std::string& yaml_text, const std::string& path, const std::string& base_dir) {
  Template t;
  t.path = path;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw TemplateError(path + ": invalid YAML: " + e.what());
  }
  try {
    Parser parser(t, base_dir);
    parser.run(root);
    parser.finish();
  } catch (const YAML::Exception& e) {
    throw TemplateError(path + ": " + e.what());
  } catch (const TemplateError& e) {
    throw TemplateError(path + ": " + e.what());
  }
  std::set<std::string> names;
  for (const auto& f : t.functions)
    if (!names.insert(f.name).second) throw TemplateError(path + ": Resources." + f.logical_id + ": duplicate function name " + f.name);
  if (t.functions.empty()) t.warnings.push_back("Resources: no AWS::Serverless::Function, nothing to serve");
  return t;
}

Template load_template(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TemplateError(path + ": cannot open the template");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string base = fs::path(path).parent_path().string();
  return parse_template(ss.str(), path, base.empty() ? "." : base);
}

}  // namespace mlfaas::platform
