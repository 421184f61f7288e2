// Units of the platform and the runtime that need no processes: SAM template reading (intrinsics, Globals,
// Conditions, errors naming the key), Lambda's resource shape per memory size, API Gateway path matching, the
// codecs, and the runtime's event unwrapping.
#include <gtest/gtest.h>

#include "platform/cgroups.h"
#include "platform/front.h"
#include "platform/template.h"
#include "common/codec.h"
#include "runtime/events.h"
#include "runtime/handler.h"

using namespace mlfaas;
using platform::parse_template;
using platform::TemplateError;

namespace {

const char* kTemplate = R"(
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: prod}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
Globals:
  Function:
    Runtime: provided.al2023
    CodeUri: code
    Timeout: 10
    MemorySize: 256
    Environment:
      Variables: {SHARED: global, GREETING: overridden}
Resources:
  Classify:
    Type: AWS::Serverless::Function
    Properties:
      Handler: emotion
      MemorySize: 512
      ReservedConcurrentExecutions: 5
      Environment:
        Variables:
          TOPIC: !Ref Alerts
          GREETING: !Sub "hello from ${AWS::Region} in ${Stage}"
      Events:
        Http:
          Type: HttpApi
          Properties: {Path: /sentimentAnalysisONNX, Method: post}
        Notes:
          Type: SNS
          Properties: {Topic: !Ref Alerts}
  Other:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: other-fn
      Handler: echo
      Timeout: 1
  DevOnly:
    Type: AWS::Serverless::Function
    Condition: IsDev
    Properties: {Handler: echo}
  Alerts:
    Type: AWS::SNS::Topic
    Properties:
      Subscription:
        - Protocol: lambda
          Endpoint: !GetAtt Other.Arn
  Errors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      MetricName: Errors
      Namespace: AWS/Lambda
      Dimensions: [{Name: FunctionName, Value: !Ref Classify}]
      Statistic: Average
      Period: 300
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      AlarmActions: [!Ref Alerts]
)";

}  // namespace

TEST(SamTemplate, ResolvesGlobalsIntrinsicsAndConditions) {
  auto t = parse_template(kTemplate, "t.yaml", "/base");
  ASSERT_EQ(t.functions.size(), 2u);  // DevOnly's condition is false
  const auto* classify = t.function_by_name("Classify");
  ASSERT_NE(classify, nullptr);
  EXPECT_EQ(classify->memory_mb, 512);
  EXPECT_EQ(classify->timeout_s, 10);
  EXPECT_EQ(classify->code_dir, "/base/code");
  EXPECT_EQ(classify->reserved_concurrency, 5);
  EXPECT_EQ(classify->environment.at("TOPIC"), "arn:aws:sns:us-east-1:123456789012:Alerts");
  EXPECT_EQ(classify->environment.at("GREETING"), "hello from us-east-1 in prod");
  EXPECT_EQ(classify->environment.at("SHARED"), "global");
  ASSERT_EQ(classify->routes.size(), 1u);
  EXPECT_EQ(classify->routes[0].method, "POST");
  EXPECT_EQ(classify->routes[0].api_type, "HttpApi");
  // A function's own Timeout must not leak into Globals (yaml-cpp node assignment pitfall).
  const auto* other = t.function_by_name("arn:aws:lambda:us-east-1:123456789012:function:other-fn");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->timeout_s, 1);
  EXPECT_EQ(other->memory_mb, 256);
  EXPECT_EQ(classify->timeout_s, 10);
  // Both the SNS event and the topic's lambda subscription subscribe.
  EXPECT_EQ(classify->sns_topic_arns, std::vector<std::string>{"arn:aws:sns:us-east-1:123456789012:Alerts"});
  EXPECT_EQ(other->sns_topic_arns, std::vector<std::string>{"arn:aws:sns:us-east-1:123456789012:Alerts"});
  ASSERT_EQ(t.alarms.size(), 1u);
  EXPECT_EQ(t.alarms[0].dimensions.at("FunctionName"), "Classify");
  EXPECT_EQ(t.alarms[0].alarm_actions[0], "arn:aws:sns:us-east-1:123456789012:Alerts");
}

TEST(SamTemplate, ErrorsNameTheKey) {
  auto error_of = [](const std::string& yaml) {
    try {
      parse_template(yaml, "t.yaml", ".");
    } catch (const TemplateError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::string fn = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n"
                   "      CodeUri: .\n      Runtime: provided.al2023\n";
  EXPECT_EQ(error_of(fn + "      Handler: x\n      MemorySize: 64\n"),
            "t.yaml: Resources.F.Properties.MemorySize: must be within 128..10240, got 64");
  EXPECT_EQ(error_of(fn), "t.yaml: Resources.F.Properties.Handler: missing");
  EXPECT_NE(error_of(fn + "      Handler: x\n      Timeout: !GetAtt Nope.Arn\n").find(
                "Resources.F.Properties.Timeout: !GetAtt of unknown resource 'Nope'"),
            std::string::npos);
  EXPECT_NE(error_of("Resources: [").find("invalid YAML"), std::string::npos);
  EXPECT_EQ(error_of(fn + "      Handler: x\n      FunctionName: ../escape\n"),
            "t.yaml: Resources.F.Properties.FunctionName: '../escape' is not a valid name (letters, digits, - and _ "
            "only)");
  EXPECT_NE(error_of("- a\n- b\n").find("must be a YAML mapping"), std::string::npos);
  EXPECT_EQ(error_of(fn + "      Handler: x\n      EphemeralStorage:\n        Size: 256\n"),
            "t.yaml: Resources.F.Properties.EphemeralStorage.Size: must be within 512..10240, got 256");
}

// EphemeralStorage sizes the instance's private /tmp (512 MB unless given, as on Lambda).
TEST(SamTemplate, EphemeralStorageSizesTmp) {
  std::string fn = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n"
                   "      CodeUri: .\n      Runtime: provided.al2023\n      Handler: x\n";
  EXPECT_EQ(parse_template(fn, "t.yaml", ".").functions.at(0).ephemeral_mb, 512);
  auto t = parse_template(fn + "      EphemeralStorage:\n        Size: 2048\n", "t.yaml", ".");
  EXPECT_EQ(t.functions.at(0).ephemeral_mb, 2048);
  EXPECT_TRUE(t.warnings.empty()) << t.warnings.front();
}

TEST(SamTemplate, WarnsAboutUnsupportedKeys) {
  auto t = parse_template("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n"
                          "      CodeUri: .\n      Runtime: provided.al2023\n      Handler: x\n      Shiny: 1\n"
                          "  Q:\n    Type: AWS::SQS::Queue\n",
                          "t.yaml", ".");
  ASSERT_EQ(t.warnings.size(), 2u);
  EXPECT_EQ(t.warnings[0], "Resources.F.Properties.Shiny: unsupported property, ignored");
}

TEST(ResourceShape, FollowsLambda) {
  auto s = platform::lambda_shape(512, 2);
  EXPECT_NEAR(s.vcpus, 512 / 1769.0, 1e-9);
  EXPECT_EQ(s.visible_cpus, 2);
  EXPECT_FALSE(s.quota_capped);
  EXPECT_EQ(platform::lambda_shape(3008, 16).visible_cpus, 2);
  EXPECT_EQ(platform::lambda_shape(3009, 16).visible_cpus, 3);
  EXPECT_EQ(platform::lambda_shape(7076, 16).visible_cpus, 4);
  EXPECT_EQ(platform::lambda_shape(8845, 16).visible_cpus, 5);
  EXPECT_EQ(platform::lambda_shape(10240, 16).visible_cpus, 6);
  EXPECT_NEAR(platform::lambda_shape(10240, 16).vcpus, 10240 / 1769.0, 1e-9);
  auto capped = platform::lambda_shape(10240, 2);
  EXPECT_EQ(capped.vcpus, 2);
  EXPECT_EQ(capped.visible_cpus, 2);
  EXPECT_TRUE(capped.quota_capped);
}

TEST(Routes, MatchApiGatewayPaths) {
  std::map<std::string, std::string> p;
  EXPECT_TRUE(platform::match_route_path("/items/{id}", "/items/42", p));
  EXPECT_EQ(p["id"], "42");
  EXPECT_FALSE(platform::match_route_path("/items/{id}", "/items", p));
  EXPECT_FALSE(platform::match_route_path("/items/{id}", "/items/1/2", p));
  EXPECT_TRUE(platform::match_route_path("/files/{proxy+}", "/files/a/b/c", p));
  EXPECT_EQ(p["proxy"], "a/b/c");
  EXPECT_EQ(platform::url_decode("a%3Ab+c", true), "a:b c");
  EXPECT_EQ(platform::url_decode("100%", false), "100%");
}

TEST(Codec, Base64AndUtf8) {
  for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", std::string("\0\xff\x10", 3)})
    EXPECT_EQ(lambda::base64_decode(lambda::base64_encode(s)).value(), s);
  EXPECT_FALSE(lambda::base64_decode("a$==").has_value());
  EXPECT_TRUE(lambda::is_valid_utf8("h\xc3\xa9llo \xf0\x9f\x98\x80"));
  EXPECT_FALSE(lambda::is_valid_utf8("\xff"));
  EXPECT_FALSE(lambda::is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(lambda::is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(lambda::is_valid_utf8("\xe2\x82"));          // truncated
  EXPECT_EQ(lambda::random_uuid().size(), 36u);
}

namespace {
std::unique_ptr<runtime::Handler> sentences_handler() {
  const auto* factory = runtime::HandlerRegistry::builtin().find("sentences");
  return (*factory)(runtime::HandlerSetup{});
}
nlohmann::json run(const std::string& event, int* status = nullptr) {
  auto handler = sentences_handler();
  runtime::Context ctx;
  auto out = runtime::process_event(*handler, event, ctx);
  if (status) *status = out.status_code;
  return nlohmann::json::parse(out.response);
}
}  // namespace

TEST(RuntimeEvents, HttpApiBodiesAndBadInput) {
  int status = 0;
  auto ok = run(R"({"version":"2.0","requestContext":{"http":{"method":"POST"}},"body":"{\"sentence\":\"hi\"}"})", &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(ok["statusCode"], 200);
  EXPECT_EQ(ok["headers"]["Access-Control-Allow-Origin"], "*");
  EXPECT_EQ(nlohmann::json::parse(ok["body"].get<std::string>())["sentences"][0], "hi");

  std::string invalid_utf8 = lambda::base64_encode("{\"sentence\":\"\xff\"}");
  auto bad = run(R"({"version":"2.0","requestContext":{"http":{"method":"POST"}},"isBase64Encoded":true,"body":")" +
                     invalid_utf8 + "\"}",
                 &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(bad["statusCode"], 400);
  EXPECT_EQ(nlohmann::json::parse(bad["body"].get<std::string>())["error"], "Invalid UTF-8");

  auto rest = run(R"({"httpMethod":"POST","requestContext":{},"body":"{\"sentence\": 5}"})", &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(nlohmann::json::parse(rest["body"].get<std::string>())["error"], "Invalid sentence");

  auto preflight = run(R"({"httpMethod":"OPTIONS","requestContext":{}})", &status);
  EXPECT_EQ(preflight["statusCode"], 200);
}

TEST(RuntimeEvents, SnsAndDirect) {
  auto handler = sentences_handler();
  runtime::Context ctx;
  std::string sns = R"({"Records":[{"EventSource":"aws:sns","Sns":{"Message":"{\"ExperimentId\":\"e1\",\"MessageId\":7,\"Batch\":[\"a\",\"b\",\"c\"]}"}}]})";
  auto out = runtime::process_event(*handler, sns, ctx);
  EXPECT_EQ(out.kind, runtime::EventKind::Sns);
  EXPECT_EQ(out.batch_size, 3u);
  EXPECT_EQ(ctx.experiment_id, "e1");
  EXPECT_EQ(ctx.message_id, "7");
  EXPECT_EQ(nlohmann::json::parse(out.response)["results"][0]["count"], 3);

  int status = 0;
  EXPECT_EQ(run(R"({"text":"direct"})", &status)["sentences"][0], "direct");
  EXPECT_EQ(status, 200);
  run(R"({"batch":[]})", &status);
  EXPECT_EQ(status, 400);
  run("not json", &status);
  EXPECT_EQ(status, 400);
}

namespace {

TEST(SamTemplate, ImageFunctionsTakeImageUriAndImageConfig) {
  auto t = parse_template(R"(
Globals:
  Function:
    Runtime: provided.al2023
Resources:
  Img:
    Type: AWS::Serverless::Function
    Metadata: {DockerTag: latest, DockerContext: ., Dockerfile: Dockerfile}
    Properties:
      PackageType: Image
      ImageUri: oci:images/emotion:v1
      ImageConfig:
        Command: [emotion]
        EntryPoint: [/var/runtime/bootstrap]
        WorkingDirectory: /var/task
  Archive:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      ImageUri: oci-archive:/srv/emotion.tar
)", "t.yaml", "/base");
  ASSERT_EQ(t.functions.size(), 2u);
  const auto& img = t.functions[0];
  EXPECT_EQ(img.package_type, "Image");
  EXPECT_EQ(img.image_uri, "oci:/base/images/emotion:v1");  // relative to the template, as CodeUri
  EXPECT_EQ(img.handler, "emotion");                        // Command's first word
  EXPECT_EQ(img.image_entrypoint, std::vector<std::string>{"/var/runtime/bootstrap"});
  EXPECT_EQ(img.image_working_dir, "/var/task");
  EXPECT_TRUE(img.code_dir.empty());
  EXPECT_EQ(t.functions[1].image_uri, "oci-archive:/srv/emotion.tar");
  EXPECT_TRUE(t.functions[1].handler.empty());  // the image's own Cmd decides, at start
  EXPECT_TRUE(t.warnings.empty()) << t.warnings.front();

  const std::string head = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n";
  try {
    parse_template(head + "      PackageType: Image\n", "t.yaml", "/base");
    ADD_FAILURE() << "an Image function without ImageUri was accepted";
  } catch (const TemplateError& e) {
    EXPECT_NE(std::string(e.what()).find("Resources.F.Properties.ImageUri: missing (PackageType: Image needs the image)"),
              std::string::npos) << e.what();
  }
  try {
    parse_template(head + "      PackageType: Jar\n      ImageUri: x\n", "t.yaml", "/base");
    ADD_FAILURE() << "PackageType: Jar was accepted";
  } catch (const TemplateError& e) {
    EXPECT_NE(std::string(e.what()).find("Resources.F.Properties.PackageType: must be Zip or Image, got 'Jar'"),
              std::string::npos) << e.what();
  }
}

}  // namespace
