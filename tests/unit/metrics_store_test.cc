#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "platform/metrics/metrics_store.h"
#include "test_process.h"

using namespace mlfaas::metrics;
using namespace std::chrono_literals;

namespace {
// Recent timestamps: records older than the retention window are pruned on the writer's first pass.
int64_t recent_minute() {
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return (now - 10 * 60'000) / 60'000 * 60'000;
}

InvocationRecord inv(int64_t ts, double dur, bool err = false, std::optional<double> init = std::nullopt) {
  InvocationRecord r;
  r.ts_ms = ts;
  r.function = "emotion";
  r.request_id = "r" + std::to_string(ts);
  r.duration_ms = dur;
  r.billed_ms = static_cast<int64_t>(std::ceil(dur + init.value_or(0)));
  r.init_ms = init;
  r.memory_mb = 512;
  r.max_memory_mb = 60;
  r.error = err;
  r.cost_usd = 2e-7;
  return r;
}
}  // namespace

TEST(MetricsStore, SeriesPerSecondAndPerMinute) {
  std::string dir = mlfaas::testing::temp_dir("metrics");
  MetricsStore store(dir + "/m.db");
  const int64_t t0 = recent_minute();
  for (int i = 1; i <= 100; ++i) store.record_invocation(inv(t0 + 10 * i, i, i % 10 == 0, i == 1 ? std::optional<double>(8.5) : std::nullopt));
  store.record_invocation(inv(t0 + 1500, 7));
  store.record_throttle("emotion", t0 + 1600);
  store.record_concurrency("emotion", t0 + 100, 3);
  store.record_concurrency("emotion", t0 + 200, 5);
  store.flush();
  auto s = store.series("emotion", 1s, t0, t0 + 3000);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].invocations, 99);  // i = 1..99 land in [t0, t0+1000)
  EXPECT_EQ(s[1].invocations, 2);   // i = 100 and the one at +1500
  EXPECT_EQ(s[2].invocations, 0);
  EXPECT_EQ(s[0].errors, 9);
  EXPECT_EQ(s[0].cold_starts, 1);
  EXPECT_DOUBLE_EQ(s[0].init_avg, 8.5);
  EXPECT_DOUBLE_EQ(s[0].duration_p50, 50);
  EXPECT_DOUBLE_EQ(s[0].duration_p90, 90);
  EXPECT_DOUBLE_EQ(s[0].duration_p99, 99);
  EXPECT_DOUBLE_EQ(s[0].duration_max, 99);
  EXPECT_DOUBLE_EQ(s[0].duration_avg, 50);
  EXPECT_EQ(s[0].concurrency_max, 5);
  EXPECT_EQ(s[1].throttles, 1);
  auto m = store.series("emotion", 60s, t0, t0 + 60'000);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].invocations, 101);
  EXPECT_EQ(m[0].throttles, 1);

  // CloudWatch-style samples: Errors 0/1 per invocation, Throttles 0 per invocation + 1 per throttle
  auto errors = store.samples("emotion", Metric::Errors, t0, t0 + 60'000);
  EXPECT_EQ(errors.size(), 101u);
  auto throttles = store.samples("emotion", Metric::Throttles, t0 + 1000, t0 + 2000);
  ASSERT_EQ(throttles.size(), 3u);
  EXPECT_TRUE(store.samples("emotion", Metric::Invocations, t0 + 5000, t0 + 6000).empty());
}

TEST(MetricsStore, SurvivesRestart) {
  std::string dir = mlfaas::testing::temp_dir("metrics");
  {
    MetricsStore store(dir + "/m.db");
    const int64_t t0 = recent_minute();
    for (int i = 0; i < 50; ++i) store.record_invocation(inv(t0 + i, 3));
  }  // destructor flushes
  MetricsStore again(dir + "/m.db");
  Totals t = again.totals("emotion");
  EXPECT_EQ(t.invocations, 50);
  EXPECT_EQ(again.functions(), std::vector<std::string>{"emotion"});
  EXPECT_EQ(again.recent("emotion", 5).size(), 5u);
}

TEST(MetricsStore, KillNineLosesAtMostTheLastSecond) {
  std::string dir = mlfaas::testing::temp_dir("metrics");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    MetricsStore store(dir + "/m.db");
    const int64_t t0 = recent_minute();
    for (int64_t i = 1;; ++i) {
      store.record_invocation(inv(t0 + i, 1));
      if (write(fds[1], &i, sizeof i) != sizeof i) _exit(1);
      usleep(2000);
    }
  }
  close(fds[1]);
  int64_t last = 0, v;
  auto until = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < until && read(fds[0], &v, sizeof v) == sizeof v) last = v;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  while (read(fds[0], &v, sizeof v) == sizeof v) last = v;
  close(fds[0]);
  ASSERT_GT(last, 50);
  MetricsStore store(dir + "/m.db");
  int64_t kept = store.totals("emotion").invocations;
  // One record every ~2 ms: a second's worth is ~500 records. The flush interval is 200 ms.
  EXPECT_GE(kept, last - 500) << "recorded " << last << ", kept " << kept;
  EXPECT_LE(kept, last);
}

TEST(MetricsStore, PrometheusTextParsesWithTheReferenceParser) {
  std::string dir = mlfaas::testing::temp_dir("metrics");
  MetricsStore store(dir + "/m.db");
  const int64_t t0 = recent_minute();
  for (int i = 0; i < 20; ++i) store.record_invocation(inv(t0 + i, i * 7.5, i == 3));
  InvocationRecord other = inv(t0 + 5000, 1);
  other.function = "kmeans \"quoted\"";
  store.record_invocation(other);
  store.record_throttle("emotion", t0 + 2000);
  store.flush();
  std::string text = render_prometheus(store);
  std::ofstream(dir + "/metrics.txt") << text;
  std::string script =
      "import sys\n"
      "from prometheus_client.parser import text_string_to_metric_families\n"
      "fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}\n"
      "inv = [s for s in fams['mlfaas_invocations'].samples if s.labels['function'] == 'emotion'][0]\n"
      "assert inv.value == 20, inv\n"
      "assert fams['mlfaas_duration_milliseconds'].type == 'histogram'\n"
      "cnt = [s for s in fams['mlfaas_duration_milliseconds'].samples if s.name.endswith('_count') and s.labels['function'] == 'emotion'][0]\n"
      "assert cnt.value == 20, cnt\n"
      "thr = [s for s in fams['mlfaas_throttles'].samples if s.labels['function'] == 'emotion'][0]\n"
      "assert thr.value == 1\n"
      "assert any(s.labels['function'] == 'kmeans \"quoted\"' for s in fams['mlfaas_invocations'].samples)\n"
      "print('ok', len(fams))\n";
  std::ofstream(dir + "/check.py") << script;
  std::string cmd = "/usr/bin/python3 " + dir + "/check.py " + dir + "/metrics.txt";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << text;
}

TEST(MetricsStore, RetentionBoundsTheDatabase) {
  std::string dir = mlfaas::testing::temp_dir("metrics");
  MetricsStore::Options o;
  o.retention = std::chrono::hours(1);
  MetricsStore store(dir + "/m.db", o);
  const int64_t t0 = recent_minute();
  store.record_invocation(inv(t0 - 2 * 3600'000, 1));  // two hours old: outside retention
  store.record_invocation(inv(t0, 1));
  store.flush();
  store.flush();  // the first pass of the writer prunes
  EXPECT_EQ(store.totals("emotion").invocations, 1);
}
