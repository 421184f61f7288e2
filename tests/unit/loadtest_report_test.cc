// Locust-compatible CSV (headers exactly Locust 2.x's), the HTML report and the emitted Locust file.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "loadtest/html_report.h"
#include "loadtest/locust_csv.h"
#include "loadtest/locustfile.h"
#include "loadtest/summary.h"

using namespace mlfaas::loadtest;

namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    EXPECT_FALSE(line.empty()) << "empty line";  // rows end in \r\n, like Python's csv module
    if (line.empty()) continue;
    EXPECT_EQ(line.back(), '\r');
    line.pop_back();
    out.push_back(line);
  }
  return out;
}

RunResult sample_result() {
  RunResult r;
  r.scenario = *builtin_scenario("heavy");
  r.url = "http://127.0.0.1:9";
  r.name = "/sentimentAnalysisONNX";
  r.start_unix_time = 1'700'000'000;
  r.duration_s = 2;
  IntervalStats second;
  for (int i = 1; i <= 100; ++i) second.record(i * 1000, 80);  // 1..100 ms
  second.record_failure(250'000, FailureCause::kStatus, "HTTPError: 500 Internal Server Error");
  second.record_failure(30'000'000, FailureCause::kTimeout, "Timeout: no response within 30 s");
  second.record_failure(1'000, FailureCause::kConnection, "ConnectionError: connect: Connection refused, twice");
  TimePoint p;
  p.elapsed_s = 1;
  p.unix_time = 1'700'000'001;
  p.users = 3;
  p.requests = second.requests;
  p.failures = second.failures;
  p.current_rps = 103;
  p.total_requests = 103;
  p.total_failures = 3;
  p.total_median_ms = 52;
  p.total_mean_ms = 293.3;
  p.total_min_ms = 1;
  p.total_max_ms = 30000;
  p.total_avg_content = 77.66;
  p.total_percentiles_ms.fill(52);
  r.timeline.push_back(p);
  r.total.merge(second);
  return r;
}

}  // namespace

TEST(LoadtestCsv, StatsFileHasLocustsColumnsAndRows) {
  const auto rows = lines(locust_stats_csv(sample_result()));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0],
            "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
            "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
            "99.99%,100%");
  EXPECT_EQ(rows[1].substr(0, 44), "POST,/sentimentAnalysisONNX,103,3,51,342.728");
  EXPECT_EQ(rows[2].substr(0, 19), ",Aggregated,103,3,5");
  // Min/max as Python floats, then content size, rates and percentiles (99.99% and 100% are the timeout).
  EXPECT_NE(rows[1].find(",1.0,30000.0,"), std::string::npos) << rows[1];
  EXPECT_NE(rows[1].find(",51.5,1.5,"), std::string::npos) << rows[1];  // 103 requests / 2 s, 3 / 2 s
  EXPECT_EQ(rows[1].substr(rows[1].size() - 12), ",30000,30000") << rows[1];
}

TEST(LoadtestCsv, HistoryFileHasLocustsColumns) {
  const auto rows = lines(locust_stats_history_csv(sample_result()));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0],
            "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,"
            "Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,"
            "Total Min Response Time,Total Max Response Time,Total Average Content Size");
  EXPECT_EQ(
      rows[1],
      "1700000001,3,,Aggregated,103.000000,0.000000,52,52,52,52,52,52,52,52,52,52,52,103,3,52,293.3,1.0,30000.0,77.66");
}

TEST(LoadtestCsv, FailuresFileGroupsByErrorAndQuotesLikePython) {
  const auto rows = lines(locust_failures_csv(sample_result()));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], "Method,Name,Error,Occurrences");
  EXPECT_EQ(rows[1], "POST,/sentimentAnalysisONNX,\"ConnectionError: connect: Connection refused, twice\",1");
  EXPECT_EQ(rows[2], "POST,/sentimentAnalysisONNX,HTTPError: 500 Internal Server Error,1");
  EXPECT_EQ(rows[3], "POST,/sentimentAnalysisONNX,Timeout: no response within 30 s,1");
  EXPECT_EQ(lines(locust_exceptions_csv())[0], "Count,Message,Traceback,Nodes");
}

TEST(LoadtestCsv, PythonFormatting) {
  EXPECT_EQ(python_float(12), "12.0");
  EXPECT_EQ(python_float(0.1), "0.1");
  EXPECT_EQ(python_float(120.25), "120.25");
  EXPECT_EQ(python_float(1e20), "1e+20");
  EXPECT_EQ(csv_field("a\"b"), "\"a\"\"b\"");
  EXPECT_EQ(csv_field("plain"), "plain");
}

TEST(LoadtestCsv, EmptyRunWritesNA) {
  RunResult r;
  r.name = "/x";
  const auto rows = lines(locust_stats_csv(r));
  EXPECT_EQ(rows[1], "POST,/x,0,0,0,0.0,0,0.0,0.0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A");
}

TEST(LoadtestSummary, TableHasTableFourColumnsAndFailuresByCause) {
  const auto r = sample_result();
  const std::string table = summary_table(r);
  for (const char* column :
       {"# Requests", "# Fails", "Average", "Min", "Max", "Median", "95%ile", "99%ile", "Requests/s"})
    EXPECT_NE(table.find(column), std::string::npos) << column;
  EXPECT_NE(table.find("51.50"), std::string::npos) << table;
  const std::string failures = failure_summary(r);
  EXPECT_NE(failures.find("HTTP status"), std::string::npos);
  EXPECT_NE(failures.find("timeout"), std::string::npos);
  EXPECT_NE(failures.find("connection error"), std::string::npos);
  EXPECT_NE(failures.find("3 of 103"), std::string::npos) << failures;
}

TEST(LoadtestHtml, SelfContainedWithCharts) {
  const std::string html = html_report(sample_result());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<style>"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  size_t charts = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) ++charts;
  EXPECT_EQ(charts, 3u);
  EXPECT_NE(html.find("Requests and failures per second"), std::string::npos);
  EXPECT_NE(html.find("<th class=\"num\">99%ile (ms)</th>"), std::string::npos);
  EXPECT_NE(html.find("Response time percentiles per second"), std::string::npos);
  EXPECT_NE(html.find("Users"), std::string::npos);
  EXPECT_NE(html.find("ConnectionError: connect: Connection refused, twice"), std::string::npos);
}

TEST(LoadtestHtml, EscapesText) {
  auto r = sample_result();
  r.name = "/<script>";
  const std::string html = html_report(r);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("/&lt;script&gt;"), std::string::npos);
}

TEST(LoadtestLocustfile, ClosedScenario) {
  LocustfileSpec spec{
      *builtin_scenario("medium"), "/sentimentAnalysisONNX", "text", {"a \"quoted\" one", "b"}, "http://h:1"};
  const std::string file = locustfile(spec);
  EXPECT_NE(file.find("wait_time = between(3, 5)"), std::string::npos) << file;
  EXPECT_NE(file.find("self.client.post(\"/sentimentAnalysisONNX\", json={\"text\": random.choice(SENTENCES)})"),
            std::string::npos)
      << file;
  EXPECT_NE(file.find("\"a \\\"quoted\\\" one\","), std::string::npos);
  EXPECT_EQ(locust_command(spec, "f.py"), "locust -f f.py --headless -u 50 -r 2 -t 2m --host http://h:1 --csv PREFIX");
}
