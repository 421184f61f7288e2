#pragma once
// The subset of an AWS SAM template that `mlfaas serve` runs: functions (with their HttpApi/Api/SNS events),
// SNS topics and CloudWatch alarms. CloudFormation intrinsics (!Ref, !GetAtt, !Sub) are resolved for the cases
// these resources use. Invalid templates throw TemplateError naming the key; unsupported keys become warnings.
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mlfaas::platform {

struct TemplateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Route {
  std::string api_type;  // "HttpApi" (payload format 2.0) or "Api" (REST, format 1.0)
  std::string method;    // upper case, or "ANY"
  std::string path;      // may hold {param} and {proxy+} segments
};

struct FunctionSpec {
  std::string logical_id;
  std::string name;        // FunctionName, else the logical id
  std::string arn;
  std::string code_dir;    // CodeUri resolved against the template's directory (Zip packages)
  std::string handler;     // Zip: Handler; Image: ImageConfig.Command[0], else the image's own Cmd (set at start)
  std::string runtime;
  std::string architecture = "x86_64";
  int memory_mb = 128;
  int timeout_s = 3;
  int ephemeral_mb = 512;  // EphemeralStorage.Size: the size of the instance's private /tmp
  std::optional<int> reserved_concurrency;
  std::map<std::string, std::string> environment;
  std::vector<Route> routes;
  std::vector<std::string> sns_topic_arns;
  // FunctionUrlConfig.InvokeMode RESPONSE_STREAM: the function's HTTP routes pass a streamed answer on as it
  // arrives (chunked), instead of buffering it.
  bool response_stream = false;
  // The resource's Metadata says `OpenAICompatible: true`: an `llm` function that serve's /v1/completions and
  // /v1/chat/completions reach (docs/LLM.md, "OpenAI-compatible routes"). SAM ignores the key on AWS.
  bool openai_compatible = false;
  // PackageType: Image. `image_uri` is ImageUri as oci_image.h's parse_image_reference takes it (oci:DIR[:TAG],
  // oci-archive:FILE[:TAG] or a path), relative paths resolved against the template's directory; ImageConfig's
  // EntryPoint, Command and WorkingDirectory replace the image's own when given.
  std::string package_type = "Zip";
  std::string image_uri;
  std::vector<std::string> image_entrypoint;
  std::vector<std::string> image_command;
  std::string image_working_dir;
};

struct Subscription {
  std::string protocol;  // lambda, email, http, https, ...
  std::string endpoint;
};

struct TopicSpec {
  std::string logical_id;
  std::string name;
  std::string arn;
  std::vector<Subscription> subscriptions;
};

// Kept as read for the alarm evaluator: CloudWatch's fields, intrinsics resolved.
struct AlarmSpec {
  std::string logical_id;
  std::string alarm_name;
  std::string metric_name;
  std::string ns;
  std::string statistic = "Average";  // Statistic, or ExtendedStatistic (p90, p99.9) when that was given
  std::string description;
  int period_s = 300;
  int evaluation_periods = 1;
  int datapoints_to_alarm = 0;  // 0: not given, CloudWatch then uses EvaluationPeriods
  double threshold = 0;
  std::string comparison_operator;
  std::string treat_missing_data = "missing";
  std::map<std::string, std::string> dimensions;
  std::vector<std::string> alarm_actions;
  std::vector<std::string> ok_actions;
  std::vector<std::string> insufficient_data_actions;
};

struct Template {
  std::string path;
  std::string region = "us-east-1";
  std::string account_id = "123456789012";
  std::string stack_name = "mlfaas";
  std::vector<FunctionSpec> functions;
  std::vector<TopicSpec> topics;
  std::vector<AlarmSpec> alarms;
  std::vector<std::string> warnings;

  const FunctionSpec* function_by_name(const std::string& name_or_arn) const;
  const TopicSpec* topic_by_arn(const std::string& arn) const;
};

Template load_template(const std::string& path);
// `base_dir` resolves relative CodeUri values.
Template parse_template(const std::string& yaml_text, const std::string& path, const std::string& base_dir);

}  // namespace mlfaas::platform
