#include "platform/metrics/metrics_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

namespace mlfaas::metrics {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void exec(sqlite3* db, const char* sql, const std::string& path) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error(path + ": metrics database: " + msg);
  }
}

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("metrics database: ") + sqlite3_errmsg(db));
    }
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); return *this; }
  Stmt& bind(int i, double v) { sqlite3_bind_double(s_, i, v); return *this; }
  Stmt& bind(int i, const std::string& v) { sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); return *this; }
  Stmt& bind_null(int i) { sqlite3_bind_null(s_, i); return *this; }
  bool step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(std::string("metrics database: ") + sqlite3_errmsg(sqlite3_db_handle(s_)));
  }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  double f64(int c) const { return sqlite3_column_double(s_, c); }
  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::string text(int c) const {
    const unsigned char* t = sqlite3_column_text(s_, c);
    return t ? reinterpret_cast<const char*>(t) : "";
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};


sqlite3* open_db(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw std::runtime_error(path + ": cannot open metrics database: " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

}  // namespace

double nearest_rank_percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  size_t idx = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return sorted[std::min(idx, sorted.size() - 1)];
}

std::optional<Metric> metric_from_name(const std::string& n) {
  if (n == "Invocations") return Metric::Invocations;
  if (n == "Errors") return Metric::Errors;
  if (n == "Throttles") return Metric::Throttles;
  if (n == "Duration") return Metric::Duration;
  if (n == "ConcurrentExecutions") return Metric::ConcurrentExecutions;
  if (n == "ColdStarts") return Metric::ColdStarts;
  if (n == "InitDuration") return Metric::InitDuration;
  return std::nullopt;
}

MetricsStore::MetricsStore(const std::string& path, Options options) : path_(path), options_(options) {
  db_ = open_db(path);
  try {
    exec(db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", path);
    exec(db_,
         "CREATE TABLE IF NOT EXISTS invocations(ts_ms INTEGER NOT NULL, function TEXT NOT NULL, request_id TEXT,"
         " duration_ms REAL, billed_ms INTEGER, init_ms REAL, memory_mb INTEGER, max_memory_mb INTEGER,"
         " error INTEGER, error_type TEXT, cost_usd REAL);"
         "CREATE INDEX IF NOT EXISTS invocations_fn_ts ON invocations(function, ts_ms);"
         "CREATE TABLE IF NOT EXISTS throttles(ts_ms INTEGER NOT NULL, function TEXT NOT NULL);"
         "CREATE INDEX IF NOT EXISTS throttles_fn_ts ON throttles(function, ts_ms);"
         "CREATE TABLE IF NOT EXISTS concurrency(ts_ms INTEGER NOT NULL, function TEXT NOT NULL, value INTEGER);"
         "CREATE INDEX IF NOT EXISTS concurrency_fn_ts ON concurrency(function, ts_ms);"
         "CREATE TABLE IF NOT EXISTS alarm_history(ts_ms INTEGER NOT NULL, alarm TEXT, old_state TEXT,"
         " new_state TEXT, reason TEXT);",
         path);
    read_db_ = open_db(path);
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
  writer_ = std::thread([this] { writer_loop(); });
}

MetricsStore::~MetricsStore() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  writer_.join();
  sqlite3_close(read_db_);
  sqlite3_close(db_);
}

void MetricsStore::record_invocation(InvocationRecord r) {
  Event e{Event::Invocation, std::move(r), 0, 0, {}, {}, {}, {}};
  std::lock_guard<std::mutex> lock(mu_);
  pending_.push_back(std::move(e));
}

void MetricsStore::record_throttle(const std::string& function, int64_t ts_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.push_back(Event{Event::Throttle, {}, ts_ms, 0, function, {}, {}, {}});
}

void MetricsStore::record_concurrency(const std::string& function, int64_t ts_ms, int64_t concurrent) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.push_back(Event{Event::Concurrency, {}, ts_ms, concurrent, function, {}, {}, {}});
}

void MetricsStore::record_alarm_transition(const std::string& alarm, int64_t ts_ms, const std::string& from,
                                           const std::string& to, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.push_back(Event{Event::Alarm, {}, ts_ms, 0, alarm, from, to, reason});
}

void MetricsStore::flush() {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t ticket = ++flush_requested_;
  cv_.notify_all();
  flushed_cv_.wait(lock, [&] { return flush_done_ >= ticket || stop_; });
}

void MetricsStore::writer_loop() {
  int64_t last_prune = 0;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait_for(lock, options_.flush_interval, [this] { return stop_ || flush_requested_ > flush_done_; });
    std::vector<Event> batch;
    batch.swap(pending_);
    uint64_t ticket = flush_requested_;
    bool stopping = stop_;
    lock.unlock();
    if (!batch.empty()) {
      try {
        write_batch(batch);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "mlfaas: metrics: %s (%zu records dropped)\n", e.what(), batch.size());
      }
    }
    int64_t now = now_ms();
    if (now - last_prune > 60'000) {
      last_prune = now;
      try {
        prune(now);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "mlfaas: metrics: %s\n", e.what());
      }
    }
    lock.lock();
    flush_done_ = std::max(flush_done_, ticket);
    flushed_cv_.notify_all();
    if (stopping && pending_.empty()) return;
  }
}

void MetricsStore::write_batch(std::vector<Event>& batch) {
  exec(db_, "BEGIN", path_);
  try {
    Stmt inv(db_,
             "INSERT INTO invocations(ts_ms, function, request_id, duration_ms, billed_ms, init_ms, memory_mb,"
             " max_memory_mb, error, error_type, cost_usd) VALUES(?,?,?,?,?,?,?,?,?,?,?)");
    Stmt thr(db_, "INSERT INTO throttles(ts_ms, function) VALUES(?,?)");
    Stmt con(db_, "INSERT INTO concurrency(ts_ms, function, value) VALUES(?,?,?)");
    Stmt alm(db_, "INSERT INTO alarm_history(ts_ms, alarm, old_state, new_state, reason) VALUES(?,?,?,?,?)");
    for (const Event& e : batch) {
      switch (e.kind) {
        case Event::Invocation: {
          const InvocationRecord& r = e.inv;
          inv.bind(1, r.ts_ms).bind(2, r.function).bind(3, r.request_id).bind(4, r.duration_ms).bind(5, r.billed_ms);
          if (r.init_ms) inv.bind(6, *r.init_ms); else inv.bind_null(6);
          inv.bind(7, int64_t{r.memory_mb}).bind(8, int64_t{r.max_memory_mb}).bind(9, int64_t{r.error})
              .bind(10, r.error_type).bind(11, r.cost_usd);
          inv.step();
          inv.reset();
          break;
        }
        case Event::Throttle:
          thr.bind(1, e.ts_ms).bind(2, e.a);
          thr.step();
          thr.reset();
          break;
        case Event::Concurrency:
          con.bind(1, e.ts_ms).bind(2, e.a).bind(3, e.value);
          con.step();
          con.reset();
          break;
        case Event::Alarm:
          alm.bind(1, e.ts_ms).bind(2, e.a).bind(3, e.b).bind(4, e.c).bind(5, e.d);
          alm.step();
          alm.reset();
          break;
      }
    }
    exec(db_, "COMMIT", path_);
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void MetricsStore::prune(int64_t now) {
  int64_t cutoff = now - std::chrono::duration_cast<std::chrono::milliseconds>(options_.retention).count();
  for (const char* table : {"invocations", "throttles", "concurrency", "alarm_history"}) {
    Stmt del(db_, (std::string("DELETE FROM ") + table + " WHERE ts_ms < ?").c_str());
    del.bind(1, cutoff);
    del.step();
  }
}

std::vector<std::string> MetricsStore::functions() const {
  std::lock_guard<std::mutex> lock(read_mu_);
  Stmt s(read_db_,
         "SELECT function FROM invocations UNION SELECT function FROM throttles ORDER BY 1");
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.text(0));
  return out;
}

std::vector<Bucket> MetricsStore::series(const std::string& function, std::chrono::seconds resolution, int64_t since,
                                         int64_t until) const {
  const int64_t step = std::max<int64_t>(1000, resolution.count() * 1000);
  since = since / step * step;
  std::vector<Bucket> out;
  if (until <= since) return out;
  const size_t n = static_cast<size_t>((until - since + step - 1) / step);
  if (n > 100'000) throw std::invalid_argument("metrics: too many buckets requested");
  out.resize(n);
  std::vector<std::vector<double>> durations(n);
  std::vector<double> init_sum(n, 0);
  for (size_t i = 0; i < n; ++i) out[i].start_ms = since + static_cast<int64_t>(i) * step;
  std::lock_guard<std::mutex> lock(read_mu_);
  {
    Stmt s(read_db_,
           "SELECT ts_ms, duration_ms, init_ms, billed_ms, error, cost_usd FROM invocations"
           " WHERE function = ? AND ts_ms >= ? AND ts_ms < ?");
    s.bind(1, function).bind(2, since).bind(3, until);
    while (s.step()) {
      size_t i = static_cast<size_t>((s.i64(0) - since) / step);
      Bucket& b = out[i];
      ++b.invocations;
      durations[i].push_back(s.f64(1));
      if (!s.is_null(2)) {
        ++b.cold_starts;
        init_sum[i] += s.f64(2);
      }
      b.billed_ms += s.i64(3);
      b.errors += s.i64(4);
      b.cost_usd += s.f64(5);
    }
  }
  {
    Stmt s(read_db_, "SELECT ts_ms FROM throttles WHERE function = ? AND ts_ms >= ? AND ts_ms < ?");
    s.bind(1, function).bind(2, since).bind(3, until);
    while (s.step()) ++out[static_cast<size_t>((s.i64(0) - since) / step)].throttles;
  }
  {
    Stmt s(read_db_, "SELECT ts_ms, value FROM concurrency WHERE function = ? AND ts_ms >= ? AND ts_ms < ?");
    s.bind(1, function).bind(2, since).bind(3, until);
    while (s.step()) {
      Bucket& b = out[static_cast<size_t>((s.i64(0) - since) / step)];
      b.concurrency_max = std::max(b.concurrency_max, s.i64(1));
    }
  }
  for (size_t i = 0; i < n; ++i) {
    auto& d = durations[i];
    if (d.empty()) continue;
    std::sort(d.begin(), d.end());
    double sum = 0;
    for (double x : d) sum += x;
    Bucket& b = out[i];
    b.duration_avg = sum / static_cast<double>(d.size());
    b.duration_p50 = nearest_rank_percentile(d, 50);
    b.duration_p90 = nearest_rank_percentile(d, 90);
    b.duration_p99 = nearest_rank_percentile(d, 99);
    b.duration_max = d.back();
    if (b.cold_starts > 0) b.init_avg = init_sum[i] / static_cast<double>(b.cold_starts);
  }
  return out;
}

Totals MetricsStore::totals(const std::string& function, int64_t since) const {
  std::lock_guard<std::mutex> lock(read_mu_);
  Totals t;
  Stmt s(read_db_,
         "SELECT COUNT(*), COALESCE(SUM(error),0), COALESCE(SUM(init_ms IS NOT NULL),0), COALESCE(SUM(billed_ms),0),"
         " COALESCE(SUM(cost_usd),0), COALESCE(SUM(duration_ms),0) FROM invocations WHERE function = ? AND ts_ms >= ?");
  s.bind(1, function).bind(2, since);
  if (s.step()) {
    t.invocations = s.i64(0);
    t.errors = s.i64(1);
    t.cold_starts = s.i64(2);
    t.billed_ms = s.i64(3);
    t.cost_usd = s.f64(4);
    t.duration_sum_ms = s.f64(5);
  }
  Stmt th(read_db_, "SELECT COUNT(*) FROM throttles WHERE function = ? AND ts_ms >= ?");
  th.bind(1, function).bind(2, since);
  if (th.step()) t.throttles = th.i64(0);
  return t;
}

std::vector<double> MetricsStore::samples(const std::string& function, Metric metric, int64_t since,
                                          int64_t until) const {
  std::lock_guard<std::mutex> lock(read_mu_);
  std::vector<double> out;
  auto column = [&](const char* sql) {
    Stmt s(read_db_, sql);
    s.bind(1, function).bind(2, since).bind(3, until);
    while (s.step()) out.push_back(s.f64(0));
  };
  switch (metric) {
    case Metric::Invocations:
      column("SELECT 1.0 FROM invocations WHERE function = ? AND ts_ms >= ? AND ts_ms < ?");
      break;
    case Metric::Errors:
      column("SELECT error FROM invocations WHERE function = ? AND ts_ms >= ? AND ts_ms < ?");
      break;
    case Metric::ColdStarts:
      column("SELECT init_ms IS NOT NULL FROM invocations WHERE function = ? AND ts_ms >= ? AND ts_ms < ?");
      break;
    case Metric::Duration:
      column("SELECT duration_ms FROM invocations WHERE function = ? AND ts_ms >= ? AND ts_ms < ?");
      break;
    case Metric::InitDuration:
      column("SELECT init_ms FROM invocations WHERE function = ? AND ts_ms >= ? AND ts_ms < ? AND init_ms IS NOT NULL");
      break;
    case Metric::Throttles:
      column("SELECT 0.0 FROM invocations WHERE function = ? AND ts_ms >= ? AND ts_ms < ?"
             " UNION ALL SELECT 1.0 FROM throttles WHERE function = ?1 AND ts_ms >= ?2 AND ts_ms < ?3");
      break;
    case Metric::ConcurrentExecutions:
      column("SELECT value FROM concurrency WHERE function = ? AND ts_ms >= ? AND ts_ms < ?");
      break;
  }
  return out;
}

std::vector<double> MetricsStore::durations(const std::string& function, int64_t since) const {
  std::lock_guard<std::mutex> lock(read_mu_);
  Stmt s(read_db_, "SELECT duration_ms FROM invocations WHERE function = ? AND ts_ms >= ?");
  s.bind(1, function).bind(2, since);
  std::vector<double> out;
  while (s.step()) out.push_back(s.f64(0));
  return out;
}

std::vector<InvocationRecord> MetricsStore::recent(const std::string& function, size_t limit) const {
  std::lock_guard<std::mutex> lock(read_mu_);
  Stmt s(read_db_,
         "SELECT ts_ms, function, request_id, duration_ms, billed_ms, init_ms, memory_mb, max_memory_mb, error,"
         " error_type, cost_usd FROM invocations WHERE (?1 = '' OR function = ?1) ORDER BY ts_ms DESC LIMIT ?2");
  s.bind(1, function).bind(2, static_cast<int64_t>(limit));
  std::vector<InvocationRecord> out;
  while (s.step()) {
    InvocationRecord r;
    r.ts_ms = s.i64(0);
    r.function = s.text(1);
    r.request_id = s.text(2);
    r.duration_ms = s.f64(3);
    r.billed_ms = s.i64(4);
    if (!s.is_null(5)) r.init_ms = s.f64(5);
    r.memory_mb = static_cast<int>(s.i64(6));
    r.max_memory_mb = static_cast<int>(s.i64(7));
    r.error = s.i64(8) != 0;
    r.error_type = s.text(9);
    r.cost_usd = s.f64(10);
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

std::string render_prometheus(const MetricsStore& store) {
  static const double kBuckets[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000};
  std::string out;
  std::vector<std::pair<std::string, Totals>> all;
  for (const auto& f : store.functions()) all.emplace_back(f, store.totals(f));
  auto counter = [&](const char* name, const char* help, auto get) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (const auto& [f, t] : all) out += std::string(name) + "{function=\"" + label_value(f) + "\"} " + num(get(t)) + "\n";
  };
  counter("mlfaas_invocations_total", "Invocations of the function (Lambda Invocations).",
          [](const Totals& t) { return double(t.invocations); });
  counter("mlfaas_errors_total", "Invocations that failed (Lambda Errors).", [](const Totals& t) { return double(t.errors); });
  counter("mlfaas_throttles_total", "Requests rejected or queued by concurrency limits (Lambda Throttles).",
          [](const Totals& t) { return double(t.throttles); });
  counter("mlfaas_cold_starts_total", "Invocations that started a new instance.",
          [](const Totals& t) { return double(t.cold_starts); });
  counter("mlfaas_billed_duration_milliseconds_total", "Billed duration, INIT included on cold starts.",
          [](const Totals& t) { return double(t.billed_ms); });
  counter("mlfaas_cost_usd_total", "Cost at AWS Lambda's prices (requests + GB-seconds).",
          [](const Totals& t) { return t.cost_usd; });
  out += "# HELP mlfaas_duration_milliseconds Invocation duration (Lambda Duration).\n"
         "# TYPE mlfaas_duration_milliseconds histogram\n";
  for (const auto& [f, t] : all) {
    std::vector<double> d = store.durations(f, 0);
    std::sort(d.begin(), d.end());
    std::string lbl = "function=\"" + label_value(f) + "\"";
    for (double le : kBuckets) {
      auto count = std::upper_bound(d.begin(), d.end(), le) - d.begin();
      out += "mlfaas_duration_milliseconds_bucket{" + lbl + ",le=\"" + num(le) + "\"} " + std::to_string(count) + "\n";
    }
    out += "mlfaas_duration_milliseconds_bucket{" + lbl + ",le=\"+Inf\"} " + std::to_string(d.size()) + "\n";
    out += "mlfaas_duration_milliseconds_sum{" + lbl + "} " + num(t.duration_sum_ms) + "\n";
    out += "mlfaas_duration_milliseconds_count{" + lbl + "} " + std::to_string(d.size()) + "\n";
  }
  return out;
}

}  // namespace mlfaas::metrics
