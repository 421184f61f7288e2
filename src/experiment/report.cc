#include "experiment/report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "experiment/svg_chart.h"

namespace mlfaas::experiment {

namespace fs = std::filesystem;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string fmt(double v, int decimals = 1) {
  if (!std::isfinite(v)) return "–";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string usd(double v) {
  if (!std::isfinite(v)) return "–";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3g", v * 1e6);
  return std::string(buf) + " µ$";
}

}  // namespace

std::vector<ConfigurationStats> summarise(const std::vector<InvocationRecord>& records) {
  using Key = std::tuple<std::string, int, int, int>;
  std::map<Key, std::vector<const InvocationRecord*>> groups;
  for (const auto& r : records)
    if (r.status == "ok") groups[{r.function, r.memory_mb, r.max_concurrency, r.batch_size}].push_back(&r);
  std::vector<ConfigurationStats> out;
  for (const auto& [key, rows] : groups) {
    ConfigurationStats s;
    std::tie(s.function, s.memory_mb, s.max_concurrency, s.batch) = key;
    std::vector<double> warm_proc, warm_billed, cold_total, model_init;
    std::set<std::string> instances;
    std::map<int, int> cpu_votes;
    double billed = 0, cost = 0, compute_cost = 0;
    for (const auto* r : rows) {
      ++s.invocations;
      instances.insert(r->instance_id);
      if (r->cpu_count > 0) ++cpu_votes[r->cpu_count];
      billed += r->billed_ms;
      cost += r->cost_usd;
      compute_cost += compute_cost_usd(r->memory_mb, r->billed_ms);
      s.max_memory_mb = std::max(s.max_memory_mb, r->max_memory_mb);
      if (r->cold_start) ++s.cold_starts, cold_total.push_back(r->init_ms + r->duration_ms);
      if (r->cold_start && r->model_init_ms >= 0) model_init.push_back(r->model_init_ms);
      else warm_billed.push_back(r->billed_ms);
      if (!r->cold_start && r->processing_ms >= 0) warm_proc.push_back(r->processing_ms);
    }
    s.instances = int(instances.size());
    if (!cpu_votes.empty())
      s.cpu_count = std::max_element(cpu_votes.begin(), cpu_votes.end(),
                                     [](auto& a, auto& b) { return a.second < b.second; })->first;
    s.warm_processing_ms = median(warm_proc);
    s.warm_billed_ms = median(warm_billed);
    s.warm_billed = warm_billed;
    s.cold_model_init_ms = median(model_init);
    s.cold_total_ms = median(cold_total);
    s.mean_billed_ms = billed / s.invocations;
    s.mean_cost_usd = cost / s.invocations;
    s.mean_compute_cost_usd = compute_cost / s.invocations;
    out.push_back(s);
  }
  return out;
}

std::vector<Recommendation> recommend(const std::vector<ConfigurationStats>& stats) {
  std::map<std::tuple<std::string, int, int>, std::vector<const ConfigurationStats*>> groups;
  for (const auto& s : stats) groups[{s.function, s.batch, s.max_concurrency}].push_back(&s);
  std::vector<Recommendation> out;
  for (const auto& [key, rows] : groups) {
    Recommendation r;
    std::tie(r.function, r.batch, r.max_concurrency) = key;
    double max_cost = 0, max_time = 0;
    for (const auto* s : rows) max_cost = std::max(max_cost, s->mean_cost_usd), max_time = std::max(max_time, s->mean_billed_ms);
    const ConfigurationStats *cheapest = rows[0], *fastest = rows[0], *balanced = rows[0];
    auto score = [&](const ConfigurationStats* s) {
      return 0.5 * s->mean_cost_usd / std::max(max_cost, 1e-300) + 0.5 * s->mean_billed_ms / std::max(max_time, 1e-300);
    };
    for (const auto* s : rows) {  // ties go to the smaller memory size (rows are sorted by memory)
      if (s->mean_cost_usd < cheapest->mean_cost_usd) cheapest = s;
      if (s->mean_billed_ms < fastest->mean_billed_ms) fastest = s;
      if (score(s) < score(balanced)) balanced = s;
    }
    r.cheapest_mb = cheapest->memory_mb, r.fastest_mb = fastest->memory_mb, r.balanced_mb = balanced->memory_mb;
    out.push_back(r);
  }
  return out;
}

std::vector<GenerationStats> summarise_generation(const std::vector<InvocationRecord>& records) {
  using Key = std::tuple<std::string, int, int>;
  std::map<Key, std::vector<const InvocationRecord*>> groups;
  std::set<std::string> generating;  // functions that generated text; the others (fill-mask) get the cost columns
  for (const auto& r : records)
    if (r.status == "ok") {
      groups[{r.function, r.memory_mb, r.batch_size}].push_back(&r);
      if (r.generated_tokens > 0) generating.insert(r.function);
    }
  std::vector<GenerationStats> out;
  if (generating.empty()) return out;
  for (const auto& [key, rows] : groups) {
    GenerationStats g;
    std::tie(g.function, g.memory_mb, g.batch) = key;
    std::vector<double> init, first_token, tokens_per_second;
    double cost = 0;
    for (const auto* r : rows) {
      ++g.invocations;
      g.answers += std::max(1, r->batch_size);
      g.generated_tokens += r->generated_tokens;
      g.max_memory_mb = std::max(g.max_memory_mb, r->max_memory_mb);
      cost += r->cost_usd;
      if (r->cold_start) init.push_back(r->init_ms);
      else if (r->generated_tokens > 0)
        first_token.push_back(r->first_token_ms), tokens_per_second.push_back(r->tokens_per_second);
    }
    g.cold_init_ms = median(init);
    g.warm_first_token_ms = median(first_token);
    g.warm_tokens_per_second = median(tokens_per_second);
    g.cost_per_answer_usd = cost / g.answers;
    g.cost_per_1k_tokens_usd = g.generated_tokens > 0 ? cost / double(g.generated_tokens) * 1000 : kNaN;
    out.push_back(g);
  }
  return out;
}

namespace {

// Dollars as µ$ below a tenth of a cent and as $ above (an LLM answer can cost either).
std::string usd_readable(double v) {
  if (!std::isfinite(v) || v < 1e-3) return usd(v);
  char buf[48];
  std::snprintf(buf, sizeof buf, "$%.4f", v);
  return buf;
}

// The report's text-generation section (empty when no invocation generated tokens): a table per memory size
// and charts of decode speed and cost per 1,000 tokens over memory, one chart per batch size.
std::string generation_section(const std::vector<InvocationRecord>& records) {
  auto stats = summarise_generation(records);
  if (stats.empty()) return "";
  std::set<std::string> functions;
  std::set<int> memory, batches;
  for (const auto& g : stats) {
    memory.insert(g.memory_mb), batches.insert(g.batch);
    if (g.generated_tokens > 0) functions.insert(g.function);
  }
  std::vector<std::string> memory_labels;
  for (int m : memory) memory_labels.push_back(std::to_string(m));
  auto find_g = [&](const std::string& f, int m, int b) -> const GenerationStats* {
    for (const auto& g : stats)
      if (g.function == f && g.memory_mb == m && g.batch == b) return &g;
    return nullptr;
  };

  std::ostringstream h;
  h << "<h2>Text generation</h2><p class=\"note\">Per function, memory size and batch (questions per "
       "invocation): decode tokens/s and time to first token are the engine's own figures (the <code>llm</code> "
       "handler's <code>TokensPerSecond</code> and <code>TimeToFirstTokenMs</code>), medians over warm "
       "invocations; for a batch the time to first token is its first answer's. Cost per answer = the "
       "configuration's whole bill (cold starts included) over the questions answered; cost per 1,000 tokens = the "
       "same bill over the tokens generated.</p><div class=\"charts\">";
  for (int b : batches) {
    svg::Chart speed{"Decode tokens/s, batch " + std::to_string(b), "memory size (MB)", "tokens/s", memory_labels,
                     {}, false};
    svg::Chart cost{"Cost per 1,000 generated tokens, batch " + std::to_string(b), "memory size (MB)",
                    "µ$ per 1,000 tokens", memory_labels, {}, true};
    for (const auto& f : functions) {
      svg::Series s{f, {}, {}}, c{f, {}, {}};
      for (int m : memory) {
        const GenerationStats* g = find_g(f, m, b);
        s.values.push_back(g ? g->warm_tokens_per_second : kNaN);
        c.values.push_back(g ? g->cost_per_1k_tokens_usd * 1e6 : kNaN);
      }
      speed.series.push_back(s), cost.series.push_back(c);
    }
    h << svg::line_chart(speed) << svg::line_chart(cost);
  }
  h << "</div><table><tr><th class=\"l\">function</th><th>memory MB</th><th>batch</th><th>invocations</th>"
       "<th>answers</th><th>tokens generated</th><th>Init Duration ms (median)</th><th>time to first token ms "
       "(warm median)</th><th>decode tokens/s (warm median)</th><th>cost per answer</th><th>cost per 1,000 tokens"
       "</th><th>max memory MB</th></tr>";
  for (const auto& g : stats)
    h << "<tr><td class=\"l\">" << svg::html_escape(g.function) << "</td><td>" << g.memory_mb << "</td><td>"
      << g.batch << "</td><td>" << g.invocations << "</td><td>" << g.answers << "</td><td>" << g.generated_tokens
      << "</td><td>" << fmt(g.cold_init_ms, 0) << "</td><td>" << fmt(g.warm_first_token_ms, 1) << "</td><td>"
      << fmt(g.warm_tokens_per_second, 1) << "</td><td>" << usd_readable(g.cost_per_answer_usd) << "</td><td>"
      << usd_readable(g.cost_per_1k_tokens_usd) << "</td><td>" << g.max_memory_mb << "</td></tr>";
  h << "</table>";
  return h.str();
}

struct Axes {
  std::vector<std::string> functions;
  std::vector<int> memory, concurrency, batches;
};

Axes axes_of(const std::vector<ConfigurationStats>& stats) {
  std::set<std::string> f;
  std::set<int> m, c, b;
  for (const auto& s : stats) f.insert(s.function), m.insert(s.memory_mb), c.insert(s.max_concurrency), b.insert(s.batch);
  return {{f.begin(), f.end()}, {m.begin(), m.end()}, {c.begin(), c.end()}, {b.begin(), b.end()}};
}

const ConfigurationStats* find(const std::vector<ConfigurationStats>& stats, const std::string& f, int m, int c, int b) {
  for (const auto& s : stats)
    if (s.function == f && s.memory_mb == m && s.max_concurrency == c && s.batch == b) return &s;
  return nullptr;
}

std::vector<std::string> memory_labels(const Axes& a) {
  std::vector<std::string> out;
  for (int m : a.memory) out.push_back(std::to_string(m));
  return out;
}

// Seed B's figures: the billed duration of every warm invocation per memory size, as box and violin plots
// (its scripts/plot.py, box.py and violin.py), one pair per function and batch size.
void write_distributions(std::ostream& h, const std::vector<ConfigurationStats>& stats, const Axes& a, int reference_c) {
  h << "<h2>Billed duration per memory size: distributions</h2><p class=\"note\">Every warm invocation's billed "
       "duration at maximum concurrency " << reference_c << ", per memory size, as seed B plotted them. Box: "
       "quartiles and median, whiskers to the furthest value within 1.5 IQR, circles beyond. Violin: kernel density "
       "(Scott's bandwidth) cut at the smallest and largest value, with the quartiles and the median (white dot).</p>";
  for (int b : a.batches) {
    h << "<div class=\"charts\">";
    for (const auto& f : a.functions) {
      svg::DistributionChart d{f + ", batch " + std::to_string(b), "memory size (MB)", "billed ms", {}, {}};
      svg::DistributionChart v = d;
      d.title += " (box)";
      v.title += " (violin)";
      for (int m : a.memory) {
        const auto* st = find(stats, f, m, reference_c, b);
        d.categories.push_back(std::to_string(m));
        d.values.push_back(st ? st->warm_billed : std::vector<double>{});
      }
      v.categories = d.categories, v.values = d.values;
      h << svg::box_plot(d) << svg::violin_plot(v);
    }
    h << "</div>";
  }
}

}  // namespace

std::string write_report(const std::string& run_dir) {
  std::vector<InvocationRecord> records;
  fs::path results = fs::path(run_dir) / "results";
  std::vector<fs::path> files;
  if (fs::is_directory(results))
    for (const auto& e : fs::directory_iterator(results))
      if (e.path().extension() == ".csv") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto rows = read_csv(f.string());
    records.insert(records.end(), rows.begin(), rows.end());
  }
  if (records.empty())
    throw std::runtime_error(run_dir + ": no results (run `mlfaas experiment run SPEC.yaml --out " + run_dir + "` first)");
  auto stats = summarise(records);
  Axes a = axes_of(stats);
  std::string experiment = records.front().experiment;
  int reference_c = a.concurrency.front();  // the figures over memory use the lowest concurrency: no contention

  std::ostringstream h;
  h << "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mlfaas experiment report</title><style>"
       "body{font-family:sans-serif;margin:24px;color:#222;max-width:1250px}h1{font-size:22px}h2{font-size:18px;"
       "margin-top:28px;border-bottom:1px solid #ccc}table{border-collapse:collapse;font-size:12px;margin:8px 0}"
       "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}"
       ".charts{display:flex;flex-wrap:wrap;gap:12px}.note{color:#555;font-size:13px}</style></head><body>";
  h << "<h1>mlfaas experiment report</h1><p class=\"note\">Run directory <code>" << svg::html_escape(run_dir)
    << "</code>: " << records.size() << " invocations, " << stats.size() << " configurations, functions ";
  for (size_t i = 0; i < a.functions.size(); ++i) h << (i ? ", " : "") << svg::html_escape(a.functions[i]);
  h << ". Durations are the platform's REPORT values; cost is AWS's x86_64 price ($0.0000166667 per GB-s of "
       "billed duration + $0.20 per million requests; seed B plotted the first part alone, billed ms × price). "
       "Figures over memory use maximum concurrency "
    << reference_c << ".</p>";

  h << "<h2>Recommended memory size</h2><p class=\"note\">As AWS Lambda Power Tuning: cheapest = lowest mean cost per "
       "invocation; fastest = lowest mean billed duration; balanced = lowest 0.5·cost/max cost + 0.5·duration/max "
       "duration over the memory sizes tried (cold starts included).</p><table><tr><th class=\"l\">function</th>"
       "<th>batch</th><th>max concurrency</th><th>cheapest (MB)</th><th>fastest (MB)</th><th>balanced (MB)</th></tr>";
  for (const auto& r : recommend(stats))
    h << "<tr><td class=\"l\">" << svg::html_escape(r.function) << "</td><td>" << r.batch << "</td><td>"
      << r.max_concurrency << "</td><td>" << r.cheapest_mb << "</td><td>" << r.fastest_mb << "</td><td>"
      << r.balanced_mb << "</td></tr>";
  h << "</table>";

  auto per_memory_chart = [&](const std::string& title, const std::string& y, bool log, int batch, auto value) {
    svg::Chart c{title, "memory size (MB)", y, memory_labels(a), {}, log};
    for (const auto& f : a.functions) {
      svg::Series s{f, {}, {}};
      for (int m : a.memory) {
        const auto* st = find(stats, f, m, reference_c, batch);
        s.values.push_back(st ? value(*st) : kNaN);
      }
      c.series.push_back(s);
    }
    return svg::line_chart(c);
  };

  h << "<h2>Hot (warm) runtime vs memory</h2><p class=\"note\">Median billed duration of warm invocations.</p>"
       "<div class=\"charts\">";
  for (int b : a.batches)
    h << per_memory_chart("Warm billed duration, batch " + std::to_string(b), "ms per invocation", true, b,
                          [](const ConfigurationStats& s) { return s.warm_billed_ms; });
  h << "</div>";
  write_distributions(h, stats, a, reference_c);

  h << "<h2>Cost per request vs memory</h2><p class=\"note\">Mean cost of one invocation (one SNS message), "
       "cold starts included, in micro-dollars: with the request fee ($0.20 per million) as the bill has it, and "
       "without it (billed ms × price per ms, as seed B plotted), which shows the memory sizes' own difference "
       "when invocations are short.</p><div class=\"charts\">";
  for (int b : a.batches) {
    h << per_memory_chart("Cost per invocation incl. request fee, batch " + std::to_string(b), "µ$ per invocation",
                          true, b, [](const ConfigurationStats& s) { return s.mean_cost_usd * 1e6; });
    h << per_memory_chart("Compute cost per invocation (billed ms × price), batch " + std::to_string(b),
                          "µ$ per invocation", true, b,
                          [](const ConfigurationStats& s) { return s.mean_compute_cost_usd * 1e6; });
  }
  h << "</div>";

  int big_batch = a.batches.back();
  h << "<h2>Cold vs warm per request, with instances used</h2><p class=\"note\">Batch " << big_batch
    << ". Cold = median Init Duration + Duration of cold starts; warm = median Duration of warm invocations; the "
       "number above a cold bar is how many instances served the configuration.</p><div class=\"charts\">";
  for (const auto& f : a.functions) {
    svg::Chart c{f + ": cold vs warm (batch " + std::to_string(big_batch) + ")", "memory MB / max concurrency",
                 "ms per invocation", {}, {{"cold", {}, {}}, {"warm", {}, {}}}, true};
    for (int m : a.memory)
      for (int cc : a.concurrency) {
        const auto* st = find(stats, f, m, cc, big_batch);
        if (!st) continue;
        c.categories.push_back(std::to_string(m) + "/" + std::to_string(cc));
        c.series[0].values.push_back(st->cold_total_ms);
        c.series[0].labels.push_back(std::to_string(st->instances));
        c.series[1].values.push_back(st->warm_billed_ms);
        c.series[1].labels.push_back("");
      }
    h << svg::bar_chart(c);
  }
  h << "</div>";

  h << "<h2>vCPUs per memory size</h2><p class=\"note\">Lambda's CPU share is MemorySize / 1769 vCPU (at most 6); "
       "the visible CPUs are what the function's <code>cpuCount</code> reported (Lambda shows 2 up to 3008 MB).</p>";
  {
    svg::Chart c{"vCPUs per memory size", "memory size (MB)", "vCPUs", memory_labels(a),
                 {{"CPU share", {}, {}}, {"visible CPUs", {}, {}}}, false};
    for (int m : a.memory) {
      c.series[0].values.push_back(std::min(6.0, m / 1769.0));
      c.series[0].labels.push_back(fmt(std::min(6.0, m / 1769.0), 2));
      int cpus = 0;
      for (const auto& s : stats)
        if (s.memory_mb == m) cpus = std::max(cpus, s.cpu_count);
      c.series[1].values.push_back(cpus ? cpus : kNaN);
      c.series[1].labels.push_back(cpus ? std::to_string(cpus) : "");
    }
    h << svg::bar_chart(c);
  }

  h << generation_section(records);

  h << "<h2>All configurations</h2><table><tr><th class=\"l\">function</th><th>memory MB</th><th>max conc.</th>"
       "<th>batch</th><th>invocations</th><th>cold starts</th><th>instances</th><th>vCPUs seen</th>"
       "<th>warm processing ms (median)</th><th>warm billed ms (median)</th><th>cold init+duration ms (median)</th>"
       "<th>model init ms (median, cold)</th><th>mean billed ms</th><th>mean cost</th><th>mean cost without request "
       "fee</th><th>max memory MB</th></tr>";
  for (const auto& s : stats)
    h << "<tr><td class=\"l\">" << svg::html_escape(s.function) << "</td><td>" << s.memory_mb << "</td><td>"
      << s.max_concurrency << "</td><td>" << s.batch << "</td><td>" << s.invocations << "</td><td>" << s.cold_starts
      << "</td><td>" << s.instances << "</td><td>" << (s.cpu_count > 0 ? std::to_string(s.cpu_count) : "–") << "</td><td>" << fmt(s.warm_processing_ms, 2)
      << "</td><td>" << fmt(s.warm_billed_ms, 0) << "</td><td>" << fmt(s.cold_total_ms, 1) << "</td><td>"
      << fmt(s.cold_model_init_ms, 1) << "</td><td>" << fmt(s.mean_billed_ms, 1) << "</td><td>"
      << usd(s.mean_cost_usd) << "</td><td>" << usd(s.mean_compute_cost_usd) << "</td><td>" << s.max_memory_mb
      << "</td></tr>";
  h << "</table><p class=\"note\">Experiment " << svg::html_escape(experiment)
    << "; generated by <code>mlfaas experiment report</code>.</p></body></html>\n";

  fs::path out = fs::path(run_dir) / "report.html";
  std::ofstream f(out, std::ios::trunc);
  f << h.str();
  if (!f) throw std::runtime_error(out.string() + ": cannot write");
  return out.string();
}

}  // namespace mlfaas::experiment
