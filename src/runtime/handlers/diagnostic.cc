// Diagnostic handlers: small functions with a known resource footprint, used by the platform's tests and by
// anyone checking what a memory size really gives (CPU quota, visible CPUs, memory limit, timeout, crashes).
// They are not ML; each reads its parameters from the request JSON and reports what it measured.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "runtime/handler.h"
#include "runtime/runtime_log.h"
#include "runtime/sentences.h"

namespace mlfaas::runtime {

using nlohmann::json;

namespace {

long long number_field(const json& input, const char* key, long long fallback, long long max) {
  if (!input.is_object() || !input.contains(key)) return fallback;
  const auto& v = input[key];
  if (!v.is_number_integer() && !v.is_number_unsigned())
    throw BadRequest("Invalid request", std::string("\"") + key + "\" must be an integer");
  long long n = v.get<long long>();
  if (n < 0 || n > max)
    throw BadRequest("Invalid request", std::string("\"") + key + "\" must be within 0.." + std::to_string(max));
  return n;
}

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Lets tests give INIT a known length (to see Init Duration) without a model.
void simulated_init() {
  if (const char* ms = std::getenv("MLFAAS_DIAG_INIT_MS"))
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoll(ms)));
}

template <class F>
struct Lambda final : Handler {
  explicit Lambda(F f) : fn(std::move(f)) { simulated_init(); }
  json handle(const json& input, const Context& ctx) override { return fn(input, ctx); }
  F fn;
};

template <class F>
HandlerFactory factory(F f) {
  return [f](const HandlerSetup&) -> std::unique_ptr<Handler> { return std::make_unique<Lambda<F>>(f); };
}

json echo(const json& input, const Context&) { return input; }

json sentences(const json& input, const Context&) {
  auto in = extract_sentences(input);
  return {{"sentences", in.sentences}, {"count", in.sentences.size()}, {"is_batch", in.is_batch}};
}

json sleep_ms(const json& input, const Context&) {
  long long ms = number_field(input, "ms", 100, 3'600'000);
  double t0 = now_ms();
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return {{"slept_ms", now_ms() - t0}};
}

// A serial chain of integer operations: its run time is pure CPU time, so wall time / CPU time shows the
// quota the instance gets.
json burn(const json& input, const Context&) {
  long long iterations = number_field(input, "iterations", 100'000'000, 1'000'000'000'000LL);
  double t0 = now_ms(), c0 = thread_cpu_ms();
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (long long i = 0; i < iterations; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  double wall = now_ms() - t0, cpu = thread_cpu_ms() - c0;
  return {{"iterations", iterations}, {"wall_ms", wall}, {"cpu_ms", cpu}, {"checksum", x & 0xFFFF}};
}

json alloc(const json& input, const Context&) {
  long long mb = number_field(input, "mb", 64, 1 << 20);
  size_t bytes = size_t(mb) << 20;
  char* block = static_cast<char*>(std::malloc(bytes ? bytes : 1));
  if (!block) throw std::runtime_error("malloc of " + std::to_string(mb) + " MB failed");
  // Touch every page so the memory is really resident (and charged to the instance's cgroup).
  long page = sysconf(_SC_PAGESIZE);
  unsigned sum = 0;
  for (size_t off = 0; off < bytes; off += size_t(page)) block[off] = char(off >> 12);
  for (size_t off = 0; off < bytes; off += size_t(page)) sum += uint8_t(block[off]);
  std::free(block);
  return {{"allocated_mb", mb}, {"checksum", sum}};
}

json crash(const json& input, const Context&) {
  std::string mode = input.is_object() ? input.value("mode", "abort") : "abort";
  if (mode == "none") return {{"crashed", false}};  // lets tests see the same function succeed
  if (mode == "exit") std::_Exit(int(number_field(input, "code", 1, 255)));
  if (mode == "segv") ::raise(SIGSEGV);
  std::abort();
}

json fail(const json& input, const Context&) {
  throw std::runtime_error(input.is_object() ? input.value("message", "requested failure") : "requested failure");
}

// Streams {"chunks": N} pieces "chunk i\n" {"interval_ms"} apart, then fails if {"fail": true}: the error
// then travels in the stream's trailers.
json stream_chunks(const json& input, const Context& ctx) {
  long long n = number_field(input, "chunks", 3, 100000);
  long long interval = number_field(input, "interval_ms", 0, 10000);
  bool fail_after = input.is_object() && input.value("fail", false);
  if (!ctx.stream) return {{"streamed", false}};
  for (long long i = 0; i < n; ++i) {
    if (i > 0 && interval > 0) std::this_thread::sleep_for(std::chrono::milliseconds(interval));
    if (!ctx.stream->write("chunk " + std::to_string(i) + "\n")) break;
  }
  if (fail_after) throw std::runtime_error("failed after streaming");
  return nullptr;
}

json nproc(const json&, const Context& ctx) {
  return {{"nproc", visible_cpu_count()},
          {"usable_cpus", usable_cpu_count()},
          {"online", sysconf(_SC_NPROCESSORS_ONLN)},
          {"memory_mb", ctx.memory_mb},
          {"pid", ::getpid()}};
}

}  // namespace

void register_diagnostic_handlers(HandlerRegistry& r) {
  r.add("echo", "diagnostic: returns the request unchanged", factory(echo));
  r.add("sentences", "diagnostic: validates {sentence|text|batch} like the text handlers, returns the inputs",
        factory(sentences));
  r.add("sleep", "diagnostic: sleeps {\"ms\": N} milliseconds", factory(sleep_ms));
  r.add("burn", "diagnostic: CPU-bound loop of {\"iterations\": N}; reports wall and CPU ms", factory(burn));
  r.add("alloc", "diagnostic: allocates and touches {\"mb\": N} MiB", factory(alloc));
  r.add("crash", "diagnostic: kills its process ({\"mode\": abort|segv|exit|none})", factory(crash));
  r.add("fail", "diagnostic: throws, so the invocation ends on /error", factory(fail));
  r.add("stream", "diagnostic: streams {\"chunks\": N} lines {\"interval_ms\"} apart, failing after if {\"fail\"}",
        factory(stream_chunks));
  r.add("nproc", "diagnostic: reports the CPUs visible to the instance", factory(nproc));
}

}  // namespace mlfaas::runtime
