#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "platform/metrics/metrics_store.h"
#include "platform/web/web_api.h"
#include "test_process.h"

using namespace mlfaas;

TEST(WebApi, FindAssetMapsPagesAndRefusesEscapes) {
  std::string dir = mlfaas::testing::temp_dir("web");
  for (const char* f : {"index.html", "dashboard.html", "app.css", "app.js"}) std::ofstream(dir + "/" + f) << "x";
  std::ofstream(dir + "/../secret.html") << "no";
  EXPECT_EQ(web::find_asset(dir, "/")->path, dir + "/index.html");
  EXPECT_EQ(web::find_asset(dir, "/?x=1")->path, dir + "/index.html");
  EXPECT_EQ(web::find_asset(dir, "/dashboard")->path, dir + "/dashboard.html");
  EXPECT_EQ(web::find_asset(dir, "/app.css")->content_type, "text/css; charset=utf-8");
  EXPECT_EQ(web::find_asset(dir, "/app.js")->content_type, "text/javascript; charset=utf-8");
  EXPECT_FALSE(web::find_asset(dir, "/../secret.html"));
  EXPECT_FALSE(web::find_asset(dir, "/%2e%2e/secret.html"));
  EXPECT_FALSE(web::find_asset(dir, "//etc/passwd"));
  EXPECT_FALSE(web::find_asset(dir, "/missing.html"));
  EXPECT_FALSE(web::find_asset(dir, "/app.exe"));
}

TEST(WebApi, DashboardJsonHasSeriesAlarmsAndRecentInvocations) {
  std::string dir = mlfaas::testing::temp_dir("web");
  metrics::MetricsStore store(dir + "/m.db");
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  metrics::InvocationRecord r;
  r.ts_ms = now - 5000;
  r.function = "emotion";
  r.request_id = "abc";
  r.duration_ms = 12.5;
  r.billed_ms = 21;
  r.init_ms = 8.2;
  r.memory_mb = 512;
  r.max_memory_mb = 61;
  r.cost_usd = 1.9e-7;
  store.record_invocation(r);
  store.flush();
  alarm::AlarmStatus a;
  a.name = "emotion-Errors";
  a.state = alarm::State::Ok;
  auto j = nlohmann::json::parse(web::dashboard_json(store, {{"emotion", 512, 30, "emotion"}}, {a}, now, 60));
  ASSERT_EQ(j["functions"].size(), 1u);
  EXPECT_EQ(j["functions"][0]["totals"]["invocations"], 1);
  EXPECT_EQ(j["functions"][0]["totals"]["cold_starts"], 1);
  EXPECT_GE(j["functions"][0]["series"].size(), 60u);  // 60 whole seconds, plus the partial one at the start
  EXPECT_LE(j["functions"][0]["series"].size(), 61u);
  EXPECT_EQ(j["alarms"][0]["state"], "OK");
  EXPECT_EQ(j["recent"][0]["request_id"], "abc");
  EXPECT_EQ(j["recent"][0]["max_memory_mb"], 61);
  EXPECT_DOUBLE_EQ(j["recent"][0]["init_ms"].get<double>(), 8.2);
  auto info = nlohmann::json::parse(web::info_json({{"emotion", 512, 30, "emotion"}}, {{"POST", "/sentimentAnalysisONNX", "emotion"}}));
  EXPECT_EQ(info["routes"][0]["path"], "/sentimentAnalysisONNX");
}
