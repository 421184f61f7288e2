// The log parser on real CloudWatch output (`aws logs filter-log-events` JSON) and on mlfaas serve's log
// files, the CSV round trip, the spec loader's errors and the Power Tuning recommendation.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "temp_files.h"
#include "common/error.h"
#include "experiment/dataset.h"
#include "experiment/log_parser.h"
#include "experiment/report.h"
#include "experiment/runner.h"
#include "experiment/spec.h"
#include "experiment/svg_chart.h"

namespace fs = std::filesystem;
using namespace mlfaas::experiment;

namespace {

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path temp_dir(const std::string& name) { return mlfaas::testing::fresh_temp_dir("mlfaas-experiment-test", name); }

std::string write(const fs::path& path, const std::string& text) { return mlfaas::testing::write_text(path, text); }

}  // namespace

TEST(ExperimentLogs, ReadsCloudWatchFilterLogEvents) {
  LogParser parser;
  parser.add_cloudwatch_json(read(MLFAAS_TEST_DATA "/experiment/cloudwatch_filter_log_events.json"));
  auto records = parser.records();
  ASSERT_EQ(records.size(), 3u);

  const auto& cold = records[0];
  EXPECT_EQ(cold.request_id, "3f1b6c2e-8d4a-4c1e-9b7f-0a2d5e6f7a81");
  EXPECT_EQ(cold.function, "ml-on-faas-logreg");
  EXPECT_EQ(cold.experiment, "exp-2024-03-11");
  EXPECT_EQ(cold.message_id, "msg-1");
  EXPECT_EQ(cold.batch_size, 1000);
  EXPECT_TRUE(cold.cold_start);
  EXPECT_DOUBLE_EQ(cold.init_ms, 2398.77);
  EXPECT_DOUBLE_EQ(cold.duration_ms, 189.42);
  EXPECT_DOUBLE_EQ(cold.billed_ms, 190);
  EXPECT_EQ(cold.memory_mb, 1769);
  EXPECT_EQ(cold.max_memory_mb, 212);
  EXPECT_DOUBLE_EQ(cold.processing_ms, 187);  // no EMF line: "Processing started" -> "completed" timestamps
  EXPECT_EQ(cold.instance_id, "i-1");
  EXPECT_EQ(cold.cpu_count, 2);
  EXPECT_EQ(cold.start, "2024-03-11T10:00:02.411Z");
  EXPECT_NEAR(cold.cost_usd, 0.190 * (1769 / 1024.0) * 0.0000166667 + 0.2e-6, 1e-15);
  EXPECT_EQ(cold.status, "ok");
  EXPECT_DOUBLE_EQ(cold.model_init_ms, 2395);  // INIT lines without a request id: the instance's cold start

  // Python's logging prefix "[INFO]\t<time>\t<request id>\t" in front of the marker.
  const auto& warm = records[1];
  EXPECT_FALSE(warm.cold_start);
  EXPECT_EQ(warm.message_id, "msg-2");
  EXPECT_DOUBLE_EQ(warm.init_ms, 0);
  EXPECT_EQ(warm.model_init_ms, kUnknown);
  EXPECT_DOUBLE_EQ(warm.processing_ms, 122);
  EXPECT_EQ(records[2].instance_id, "i-2");
  EXPECT_EQ(records[2].batch_size, 100);
}

TEST(ExperimentLogs, RejectsJsonThatIsNotFilterLogEvents) {
  LogParser parser;
  EXPECT_THROW(parser.add_cloudwatch_json("{\"logGroups\": []}"), std::runtime_error);
  EXPECT_THROW(parser.add_cloudwatch_json("not json"), std::runtime_error);
}

TEST(ExperimentLogs, ReadsServeLogWithEmfAndFailedInvocation) {
  std::istringstream log(
      "2026-01-01T00:00:00.000Z\t2026/01/01/[$LATEST]a\tSTART RequestId: r1 Version: $LATEST\n"
      "2026-01-01T00:00:00.001Z\t2026/01/01/[$LATEST]a\tML_ON_FAAS - {\"timeStamp\": \"2026-01-01T00:00:00.001Z\", "
      "\"functionName\": \"kmeans\", \"functionInstanceId\": \"inst-a\", \"experimentId\": null, \"messageId\": null, "
      "\"batchSize\": 0, \"isColdStart\": true, \"lambdaRequestId\": \"r1\", \"lambdaMemorySize\": 512, \"cpuCount\": 2, "
      "\"logMessage\": \"Processing started\"}\n"
      "2026-01-01T00:00:00.009Z\t2026/01/01/[$LATEST]a\tML_ON_FAAS - {\"timeStamp\": \"2026-01-01T00:00:00.009Z\", "
      "\"functionName\": \"kmeans\", \"functionInstanceId\": \"inst-a\", \"experimentId\": \"e\", \"messageId\": \"1\", "
      "\"batchSize\": 10, \"isColdStart\": true, \"lambdaRequestId\": \"r1\", \"lambdaMemorySize\": 512, \"cpuCount\": 2, "
      "\"logMessage\": \"Processing completed\"}\n"
      "2026-01-01T00:00:00.009Z\t2026/01/01/[$LATEST]a\t{\"_aws\": {}, \"ProcessingMs\": 7.25, \"InitMs\": 15.5, \"RequestId\": \"r1\", \"StatusCode\": 200}\n"
      "2026-01-01T00:00:00.010Z\t2026/01/01/[$LATEST]a\tREPORT RequestId: r1\tDuration: 9.50 ms\tBilled Duration: 31 ms\t"
      "Memory Size: 512 MB\tMax Memory Used: 20 MB\tInit Duration: 21.00 ms\n"
      "2026-01-01T00:00:01.000Z\t2026/01/01/[$LATEST]a\tML_ON_FAAS - {\"timeStamp\": \"2026-01-01T00:00:01.000Z\", "
      "\"functionName\": \"kmeans\", \"functionInstanceId\": \"inst-a\", \"lambdaRequestId\": \"r2\", "
      "\"logMessage\": \"Processing started\"}\n"
      "2026-01-01T00:00:01.100Z\t2026/01/01/[$LATEST]a\tREPORT RequestId: r2\tDuration: 100.00 ms\tBilled Duration: 100 ms\t"
      "Memory Size: 512 MB\tMax Memory Used: 20 MB\n"
      "2026-01-01T00:00:01.100Z\t2026/01/01/[$LATEST]a\tREPORT RequestId: r3\tDuration: 60000.00 ms\tBilled Duration: "
      "60000 ms\tMemory Size: 512 MB\tMax Memory Used: 20 MB\tStatus: timeout\n");
  LogParser parser;
  parser.add_serve_log(log);
  auto r = parser.records();
  ASSERT_EQ(r.size(), 3u);
  EXPECT_DOUBLE_EQ(r[0].processing_ms, 7.25);  // the EMF value wins over timestamps
  EXPECT_DOUBLE_EQ(r[0].model_init_ms, 15.5);  // EMF InitMs: the bootstrap's own INIT (model load)
  EXPECT_EQ(r[0].batch_size, 10);
  EXPECT_EQ(r[0].status, "ok");
  EXPECT_EQ(r[1].status, "error");  // started, never completed
  EXPECT_EQ(r[2].status, "timeout");
  EXPECT_EQ(r[2].instance_id, "2026/01/01/[$LATEST]a");  // no ML_ON_FAAS line: the log stream names the instance
}

// Seed B's own files: its wrapper.py writes every value as a string and "YYYY-MM-DD HH:MM:SS.mmm" times, loads the
// model lazily inside the first invocation ("Initialization started/completed" with that request's id), and its
// 5_get_logs.sh stores `filter-log-events --query 'events[].message' --output text` with leading tabs removed.
TEST(ExperimentLogs, ReadsSeedBTextFiles) {
  const std::string path = MLFAAS_TEST_DATA "/experiment/seed_b_get_logs_text.log";
  EXPECT_EQ(detect_log_format(read(path)), LogFormat::kMessageText);
  LogParser parser;
  parser.add_file(path);
  auto r = parser.records();
  ASSERT_EQ(r.size(), 3u);

  EXPECT_EQ(r[0].request_id, "8f3c2a1e-5b7d-4c9e-a1f2-3b4c5d6e7f80");
  EXPECT_EQ(r[0].function, "logistic-regression");
  EXPECT_EQ(r[0].experiment, "3f9a1c5e");
  EXPECT_EQ(r[0].message_id, "1");
  EXPECT_EQ(r[0].batch_size, 100);
  EXPECT_EQ(r[0].cpu_count, 2);
  EXPECT_TRUE(r[0].cold_start);
  EXPECT_EQ(r[0].start, "2024-05-15T19:04:11.338Z");
  EXPECT_DOUBLE_EQ(r[0].init_ms, 735.10);         // the platform's INIT (Python imports)
  EXPECT_DOUBLE_EQ(r[0].model_init_ms, 1236);     // the wrapper's lazy model load in the first invocation
  EXPECT_DOUBLE_EQ(r[0].processing_ms, 33);       // "Processing started" -> "completed", model load excluded
  EXPECT_DOUBLE_EQ(r[0].duration_ms, 1275.43);
  EXPECT_DOUBLE_EQ(r[0].billed_ms, 2011);
  EXPECT_EQ(r[0].memory_mb, 1024);
  EXPECT_EQ(r[0].max_memory_mb, 187);
  EXPECT_EQ(r[0].instance_id, "6f1d2c3b-4a59-4e8f-9d21-0c7b8e5a4f10");
  EXPECT_EQ(r[0].status, "ok");

  EXPECT_FALSE(r[1].cold_start);  // isColdStart "False"
  EXPECT_DOUBLE_EQ(r[1].init_ms, 0);
  EXPECT_EQ(r[1].model_init_ms, kUnknown);
  EXPECT_DOUBLE_EQ(r[1].processing_ms, 28);
  EXPECT_EQ(r[1].instance_id, r[0].instance_id);

  EXPECT_TRUE(r[2].cold_start);
  EXPECT_DOUBLE_EQ(r[2].model_init_ms, 1292);
  EXPECT_DOUBLE_EQ(r[2].processing_ms, 41);
  EXPECT_EQ(r[2].message_id, "3");
  EXPECT_NE(r[2].instance_id, r[0].instance_id);

  // The CSV marks what the logs lack with empty fields, never zeros.
  std::ostringstream csv;
  write_csv_row(csv, r[1]);
  EXPECT_NE(csv.str().find(",warm,0.000,,28.000,30.120,31,188,"), std::string::npos) << csv.str();
}

TEST(ExperimentLogs, UnreadableValuesAreErrorsAbsentOnesUnknown) {
  fs::path dir = temp_dir("seedb");
  const std::string head = "ML_ON_FAAS - {\"timeStamp\": \"2024-05-15 19:04:11.338\", \"functionInstanceId\": \"i\", "
                           "\"lambdaRequestId\": \"r1\", ";
  const std::string report = "REPORT RequestId: r1\tDuration: 3.00 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\t"
                             "Max Memory Used: 40 MB\t\n";
  auto error_of = [&](const std::string& text) -> std::string {
    LogParser parser;
    try {
      parser.add_file(write(dir / "bad.log", text));
    } catch (const mlfaas::FormatError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of(head + "\"batchSize\": \"ten\", \"logMessage\": \"Processing started\"}\n" + report)
                .find("bad.log: line 1: ML_ON_FAAS batchSize \"ten\" is not a whole number"),
            std::string::npos);
  EXPECT_NE(error_of(head + "\"isColdStart\": \"maybe\", \"logMessage\": \"x\"}\n").find("isColdStart"),
            std::string::npos);
  EXPECT_NE(error_of("ML_ON_FAAS - {\"timeStamp\": \"15/05/2024\", \"lambdaRequestId\": \"r1\", \"logMessage\": "
                     "\"Processing started\"}\n").find("timeStamp \"15/05/2024\" is not a time"),
            std::string::npos);
  EXPECT_NE(error_of("START RequestId: r1\n" + std::string("REPORT RequestId: r1\tDuration: fast ms\n"))
                .find("line 2: REPORT Duration \"fast ms\" is not a number of ms"),
            std::string::npos);
  EXPECT_NE(error_of("hello\nworld\n").find("no REPORT or ML_ON_FAAS line"), std::string::npos);
  EXPECT_NE(error_of("{\"logGroups\": []}").find("without an \"events\" array"), std::string::npos);

  // cpuCount "None" (os.cpu_count() can say so), no batchSize, a logMessage with quotes (not JSON), and two
  // messages sharing a line (the text output joins messages that lack a newline with a tab).
  LogParser parser;
  parser.add_file(write(dir / "ok.log", head + "\"cpuCount\": \"None\", \"logMessage\": \"Received event: "
                                               "{\"Records\": []}\"}\n" +
                                            head + "\"logMessage\": \"Processing started\"}\t" + report));
  auto r = parser.records();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].cpu_count, kUnknown);
  EXPECT_EQ(r[0].batch_size, kUnknown);
  EXPECT_EQ(r[0].status, "error");  // started, never completed
  EXPECT_EQ(r[0].memory_mb, 128);
  std::ostringstream csv;
  write_csv_row(csv, r[0]);
  EXPECT_NE(csv.str().find(",128,,,2024-05-15T19:04:11.338Z,warm,0.000,,,3.000,3,40,"), std::string::npos)
      << csv.str();
  fs::remove_all(dir);
}

TEST(ExperimentLogs, DetectsEachFormat) {
  EXPECT_EQ(detect_log_format(read(MLFAAS_TEST_DATA "/experiment/cloudwatch_filter_log_events.json")),
            LogFormat::kCloudWatchJson);
  EXPECT_EQ(detect_log_format("2026-01-01T00:00:00.000Z\t2026/01/01/[$LATEST]a\tSTART RequestId: r1\n"),
            LogFormat::kServe);
  EXPECT_EQ(detect_log_format("START RequestId: r1 Version: $LATEST\nREPORT RequestId: r1\tDuration: 1 ms\n"),
            LogFormat::kMessageText);
  EXPECT_DOUBLE_EQ(parse_iso8601_ms("2024-05-15 19:04:11.338"), parse_iso8601_ms("2024-05-15T19:04:11.338Z"));
  EXPECT_LT(parse_iso8601_ms("2024-05-15 19:04"), 0);
}

TEST(ExperimentLogs, CsvRoundTrip) {
  fs::path dir = temp_dir("csv");
  InvocationRecord r;
  r.experiment = "exp,1";
  r.function = "random-forest";
  r.memory_mb = 1769, r.max_concurrency = 2, r.batch_size = 100, r.cold_start = true;
  r.init_ms = 12.5, r.processing_ms = 3.25, r.duration_ms = 4.5, r.billed_ms = 18, r.max_memory_mb = 77;
  r.cost_usd = invocation_cost_usd(1769, 18);
  r.instance_id = "abc", r.cpu_count = 2, r.request_id = "req \"q\"", r.message_id = "7";
  std::ostringstream out;
  write_csv_header(out);
  write_csv_row(out, r);
  auto back = read_csv(write(dir / "r.csv", out.str()));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].experiment, "exp,1");
  EXPECT_EQ(back[0].request_id, "req \"q\"");
  EXPECT_TRUE(back[0].cold_start);
  EXPECT_DOUBLE_EQ(back[0].billed_ms, 18);
  EXPECT_NEAR(back[0].cost_usd, r.cost_usd, 1e-15);
  EXPECT_THROW(read_csv(write(dir / "bad.csv", "a,b\n1,2\n")), mlfaas::FormatError);
  // Results of an earlier version (no model_init_ms, no token columns) still read, by column name.
  auto old_rows = read_csv(write(dir / "old.csv",
      "experiment,function,memory_mb,max_concurrency,batch_size,start,cold_start,init_ms,processing_ms,duration_ms,"
      "billed_ms,max_memory_mb,cost_usd,instance_id,cpu_count,request_id,message_id,status\n"
      "e,kmeans,512,1,10,2026-01-01T00:00:00.000Z,cold,21.000,7.250,9.500,31,20,2.7e-07,i,2,r1,1,ok\n"));
  ASSERT_EQ(old_rows.size(), 1u);
  EXPECT_EQ(old_rows[0].model_init_ms, kUnknown);
  EXPECT_DOUBLE_EQ(old_rows[0].processing_ms, 7.25);
  EXPECT_EQ(old_rows[0].cpu_count, 2);
  EXPECT_EQ(old_rows[0].generated_tokens, 0);
  fs::remove_all(dir);
}

TEST(ExperimentSpec, ErrorsNameTheKey) {
  fs::path dir = temp_dir("spec");
  auto expect_error = [&](const std::string& yaml, const std::string& needle) {
    try {
      load_spec(write(dir / "s.yaml", yaml));
      ADD_FAILURE() << "accepted: " << yaml;
    } catch (const mlfaas::FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string ok_tail = "functions: [kmeans]\nmemory_mb: [512]\nmax_concurrency: 1\nbatch_sizes: [10]\n";
  expect_error("dataset: {path: d.csv, column: Text}\n" + ok_tail, "name: is required");
  expect_error("name: x\ndataset: {path: d.csv}\n" + ok_tail, "dataset: needs exactly one of column");
  expect_error("name: x\ndataset: {path: d.csv, column: Text}\nfunctions: [bert]\nmemory_mb: [512]\n"
               "max_concurrency: 1\nbatch_sizes: [10]\n", "functions[0]: unknown function 'bert'");
  expect_error("name: x\ndataset: {path: d.csv, column: Text}\nfunctions: [kmeans]\nmemory_mb: [512, 99999]\n"
               "max_concurrency: 1\nbatch_sizes: [10]\n", "memory_mb[1]: must be within 128..10240");
  expect_error("name: x\ndataset: {path: d.csv, column: Text}\n" + ok_tail + "mesages: 3\n", "mesages: unknown key");
  expect_error("name: x\ndataset: {path: d.csv, column: Text}\n" + ok_tail + "messages: many\n", "messages: must be an integer");

  Spec spec = load_spec(write(dir / "s.yaml", "name: x\ndataset: {path: d.jsonl, field: text}\nfunctions: all\n"
                                              "memory_mb: [256, 512]\nmax_concurrency: [1, 2]\nbatch_sizes: 5\n"));
  EXPECT_EQ(spec.functions.size(), 6u);
  auto configs = configurations(spec);
  EXPECT_EQ(configs.size(), 6u * 2 * 2);
  EXPECT_EQ(configs[0].id(), "kmeans-m256-c1-b5");
  fs::remove_all(dir);
}

TEST(ExperimentDataset, CsvColumnWithQuotesAndJsonlField) {
  fs::path dir = temp_dir("data");
  auto texts = load_texts({write(dir / "d.csv", "Emotion,Text\njoy,\"hello, \"\"world\"\"\nagain\"\nsad,plain\nx,\n"), "Text", ""});
  ASSERT_EQ(texts.size(), 2u);
  EXPECT_EQ(texts[0], "hello, \"world\"\nagain");
  EXPECT_EQ(texts[1], "plain");
  auto lines = load_texts({write(dir / "d.jsonl", "{\"text\": \"a\"}\n\n{\"text\": \"b\", \"x\": 1}\n"), "", "text"});
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "b"}));
  EXPECT_THROW(load_texts({(dir / "missing.csv").string(), "Text", ""}), mlfaas::FormatError);
  EXPECT_THROW(load_texts({(dir / "d.csv").string(), "Body", ""}), mlfaas::FormatError);
  EXPECT_THROW(load_texts({write(dir / "bad.jsonl", "{\"text\": 1}\n"), "", "text"}), mlfaas::FormatError);
  // The committed subset has 500 rows with a Text column.
  EXPECT_EQ(load_texts({MLFAAS_TEST_DATA "/classic/subset.csv", "Text", ""}).size(), 500u);
  fs::remove_all(dir);
}

TEST(ExperimentReport, PowerTuningRecommendation) {
  auto stat = [](int memory, double ms) {
    ConfigurationStats s;
    s.function = "f", s.memory_mb = memory, s.max_concurrency = 1, s.batch = 100;
    s.mean_billed_ms = ms;
    s.mean_cost_usd = invocation_cost_usd(memory, ms);
    return s;
  };
  // Time falls about as 1/memory up to 1769 MB and then stays, so cost doubles at 3538 MB.
  std::vector<ConfigurationStats> stats = {stat(256, 700), stat(512, 350), stat(1024, 170), stat(1769, 102),
                                           stat(3538, 100)};
  auto rec = recommend(stats);
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0].fastest_mb, 3538);
  EXPECT_EQ(rec[0].cheapest_mb, 1024);
  EXPECT_EQ(rec[0].balanced_mb, 1769);
}

TEST(ExperimentReport, DistributionsAndLogFloor) {
  namespace svg = mlfaas::experiment::svg;
  EXPECT_DOUBLE_EQ(svg::quantile({1, 2, 3, 4}, 0.25), 1.75);  // numpy.percentile(..., 25)
  EXPECT_DOUBLE_EQ(svg::quantile({1, 2, 3, 4}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(svg::quantile({7}, 0.75), 7);

  // A log-scale floor at least 2x below the smallest value: 1.05 over a floor of 1 would be an empty bar.
  svg::Chart bars{"t", "x", "y", {"a", "b"}, {{"s", {1.05, 50}, {}}}, true};
  std::string chart = svg::bar_chart(bars);
  EXPECT_NE(chart.find(">0.10</text>"), std::string::npos);

  svg::DistributionChart d{"billed", "memory", "ms", {"128", "256"}, {{10, 11, 12, 13, 90}, {5, 5, 5}}};
  std::string box = svg::box_plot(d), violin = svg::violin_plot(d);
  EXPECT_NE(box.find("128: n=5, median 12, quartiles 11-13, range 10-90"), std::string::npos) << box;
  EXPECT_NE(box.find("<circle"), std::string::npos);  // 90 is beyond 1.5 IQR: drawn as an outlier
  EXPECT_NE(violin.find("<path"), std::string::npos);
  EXPECT_NE(violin.find("256: n=3, median 5.00"), std::string::npos);
}
