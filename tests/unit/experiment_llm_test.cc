// The LLM experiment's pieces of `mlfaas experiment`: functions given as {name, handler, model} in the spec,
// ARC's question objects as batch items, the `llm` handler's token fields in the logs and the CSV, and the
// report's per-memory generation figures (tokens/s, time to first token, cost per answer and per 1,000 tokens).
#include <gtest/gtest.h>

#include <unistd.h>

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

namespace fs = std::filesystem;
using namespace mlfaas::experiment;

namespace {

fs::path temp_dir(const std::string& name) { return mlfaas::testing::fresh_temp_dir("mlfaas-experiment-llm", name); }

std::string write(const fs::path& path, const std::string& text) { return mlfaas::testing::write_text(path, text); }

const char* kLlmSpec =
    "name: llm\n"
    "dataset: {path: arc.jsonl, field: question}\n"
    "functions:\n"
    "  - name: tiny\n"
    "    handler: llm\n"
    "    model: build/bench-models/tinyllama-q4_0.gguf\n"
    "    build: bench/llm_models.sh\n"
    "    memory_mb: [1024, 3538]\n"
    "    environment: {LLM_MAX_NEW_TOKENS: \"32\"}\n"
    "  - name: masks\n"
    "    handler: fill-mask\n"
    "    model: bert\n"
    "    memory_mb: 1769\n"
    "    dataset: {path: masked.jsonl, field: text}\n"
    "max_concurrency: [1]\n"
    "batch_sizes: [1, 10]\n";

// One invocation of the `llm` handler as `mlfaas serve` logs it (the lines a real run wrote, shortened).
std::string llm_invocation(const std::string& id, bool cold, int batch, int generated, double tps, double ttft,
                           double billed_ms) {
  std::string b = std::to_string(batch), g = std::to_string(generated);
  std::ostringstream s;
  s << "2026-12-06T04:47:44.000Z\tstream-a\tML_ON_FAAS - {\"batchSize\":" << b
    << ",\"experimentId\":\"llm-x\",\"functionInstanceId\":\"inst-1\",\"functionName\":\"tiny\",\"isColdStart\":"
    << (cold ? "true" : "false") << ",\"lambdaRequestId\":\"" << id
    << "\",\"logMessage\":\"Processing started\",\"messageId\":\"1\",\"timeStamp\":\"2026-12-06T04:47:44.000Z\"}\n"
    << "2026-12-06T04:47:47.326Z\tstream-a\tML_ON_FAAS - {\"batchSize\":" << b
    << ",\"experimentId\":\"llm-x\",\"functionInstanceId\":\"inst-1\",\"functionName\":\"tiny\",\"generatedTokens\":"
    << g << ".0,\"lambdaRequestId\":\"" << id
    << "\",\"logMessage\":\"Processing completed\",\"messageId\":\"1\",\"promptTokens\":597.0,\"timeStamp\":"
       "\"2026-12-06T04:47:47.321Z\",\"timeToFirstTokenMs\":"
    << ttft << ",\"tokensPerSecond\":" << tps << "}\n"
    << "2026-12-06T04:47:47.327Z\tstream-a\t{\"BatchSize\":" << b << ",\"GeneratedTokens\":" << g
    << ".0,\"ProcessingMs\":3069.04,\"PromptTokens\":597.0,\"RequestId\":\"" << id
    << "\",\"StatusCode\":200,\"TimeToFirstTokenMs\":" << ttft << ",\"TokensPerSecond\":" << tps
    << ",\"_aws\":{\"CloudWatchMetrics\":[]}}\n"
    << "2026-12-06T04:47:47.327Z\tstream-a\tREPORT RequestId: " << id << "\tDuration: " << billed_ms - 1
    << " ms\tBilled Duration: " << billed_ms << " ms\tMemory Size: 1024 MB\tMax Memory Used: 700 MB"
    << (cold ? "\tInit Duration: 120.50 ms" : "") << "\n";
  return s.str();
}

}  // namespace

TEST(ExperimentLlmSpec, CustomFunctionsWithTheirModelsMemoryAndDatasets) {
  auto dir = temp_dir("spec");
  Spec spec = load_spec(write(dir / "s.yaml", kLlmSpec));
  ASSERT_EQ(spec.custom_functions.size(), 2u);
  EXPECT_TRUE(spec.functions.empty());
  EXPECT_TRUE(spec.memory_mb.empty());  // every function names its own
  auto configs = configurations(spec);
  ASSERT_EQ(configs.size(), 6u);  // tiny: 2 memory x 2 batches; masks: 1 x 2
  EXPECT_EQ(configs[0].id(), "tiny-m1024-c1-b1");
  EXPECT_EQ(configs[3].id(), "tiny-m3538-c1-b10");
  EXPECT_EQ(configs[5].id(), "masks-m1769-c1-b10");
  EXPECT_EQ(model_path(spec, configs[0]), "build/bench-models/tinyllama-q4_0.gguf");
  EXPECT_EQ(dataset_of(spec, configs[0]).path, "arc.jsonl");
  EXPECT_EQ(dataset_of(spec, configs[4]).path, "masked.jsonl");
  EXPECT_EQ(dataset_of(spec, configs[4]).field, "text");
  const FunctionSpec* tiny = custom_function(spec, configs[0]);
  ASSERT_NE(tiny, nullptr);
  EXPECT_EQ(tiny->handler, "llm");
  EXPECT_EQ(tiny->environment.at("LLM_MAX_NEW_TOKENS"), "32");
}

TEST(ExperimentLlmSpec, ErrorsNameTheKey) {
  auto dir = temp_dir("errors");
  auto error_of = [&](const std::string& yaml) -> std::string {
    try {
      load_spec(write(dir / "s.yaml", yaml));
    } catch (const mlfaas::FormatError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  const std::string head = "name: x\ndataset: {path: d.jsonl, field: text}\nbatch_sizes: 1\nmax_concurrency: 1\n";
  EXPECT_NE(error_of(head + "functions: [{name: a, handler: llm}]\nmemory_mb: 256\n").find("functions[0].model: is required"),
            std::string::npos);
  EXPECT_NE(error_of(head + "functions: [{name: a, handler: llm, model: m, colour: red}]\nmemory_mb: 256\n")
                .find("functions[0].colour: unknown key"),
            std::string::npos);
  EXPECT_NE(error_of(head + "functions: [{name: a, handler: llm, model: m, memory_mb: [64]}]\n")
                .find("functions[0].memory_mb[0]: must be within 128..10240, got 64"),
            std::string::npos);
  EXPECT_NE(error_of(head + "functions: [{name: a, handler: llm, model: m}]\n").find("memory_mb: is required"),
            std::string::npos);
  EXPECT_NE(error_of(head + "functions: [{name: a, handler: llm, model: m}, {name: a, handler: llm, model: n}]\n"
                            "memory_mb: 256\n")
                .find("the name 'a' is used twice"),
            std::string::npos);
  EXPECT_NE(error_of(head + "functions: [{name: 'a b', handler: llm, model: m}]\nmemory_mb: 256\n")
                .find("functions[0].name: may hold only"),
            std::string::npos);
  EXPECT_NE(error_of(head + "functions: [{name: a, handler: llm, model: m, dataset: {path: p}}]\nmemory_mb: 256\n")
                .find("functions[0].dataset: needs exactly one of column"),
            std::string::npos);
  EXPECT_NE(error_of(head + "functions: [{name: a, handler: llm, model: m, environment: [1]}]\nmemory_mb: 256\n")
                .find("functions[0].environment: must be a mapping"),
            std::string::npos);
}

TEST(ExperimentLlmRun, MissingModelNamesTheCommandThatWritesIt) {
  auto dir = temp_dir("missing");
  write(dir / "arc.jsonl", "{\"question\": {\"stem\": \"Why?\", \"choices\": []}}\n");
  write(dir / "masked.jsonl", "{\"text\": \"a [MASK].\"}\n");
  std::string spec = kLlmSpec;
  spec.replace(spec.find("arc.jsonl"), 9, (dir / "arc.jsonl").string());
  const std::string model = "build/bench-models/tinyllama-q4_0.gguf";
  spec.replace(spec.find(model), model.size(), (dir / "absent.gguf").string());
  RunOptions options;
  options.spec_path = write(dir / "s.yaml", spec);
  options.run_dir = (dir / "run").string();
  try {
    run_experiment(options);
    FAIL() << "a missing model was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "absent.gguf").string() + ": model missing; write it with "
                                                                      "`bench/llm_models.sh`")
        << e.what();
  }
}

TEST(ExperimentLlmDataset, JsonlObjectsAreItemsAsTheyAre) {
  auto dir = temp_dir("items");
  std::string path = write(dir / "arc.jsonl",
                           "{\"id\": \"q1\", \"question\": {\"stem\": \"Which gas?\", \"choices\": [{\"label\": \"A\", "
                           "\"text\": \"CO2\"}]}}\n{\"id\": \"q2\", \"question\": \"plain text\"}\n");
  auto items = load_items({path, "", "question"});
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["stem"], "Which gas?");
  EXPECT_EQ(items[0]["choices"][0]["text"], "CO2");
  EXPECT_EQ(items[1], "plain text");
  EXPECT_THROW(load_texts({path, "", "question"}), mlfaas::FormatError);  // the classic handlers take strings only
  EXPECT_THROW(load_items({write(dir / "bad.jsonl", "{\"question\": 3}\n"), "", "question"}), mlfaas::FormatError);
}

TEST(ExperimentLlmLogs, TokenFieldsFromServeLogsAndTheCsv) {
  LogParser parser;
  std::istringstream log(llm_invocation("r1", true, 10, 320, 3.75, 5955.25, 150000) +
                         llm_invocation("r2", false, 10, 300, 4.5, 4000.5, 120000));
  parser.add_serve_log(log);
  auto records = parser.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].prompt_tokens, 597);
  EXPECT_EQ(records[0].generated_tokens, 320);
  EXPECT_DOUBLE_EQ(records[0].tokens_per_second, 3.75);
  EXPECT_DOUBLE_EQ(records[0].first_token_ms, 5955.25);
  EXPECT_EQ(records[1].generated_tokens, 300);
  EXPECT_EQ(records[1].status, "ok");

  // Only the ML_ON_FAAS line (CloudWatch output of a runtime without EMF): the same fields.
  LogParser ml_only;
  std::string lines = llm_invocation("r3", false, 1, 32, 6.5, 700, 9000), kept;
  std::istringstream in(lines);
  for (std::string line; std::getline(in, line);)
    if (line.find("\"_aws\"") == std::string::npos) kept += line + "\n";
  std::istringstream kept_in(kept);
  ml_only.add_serve_log(kept_in);
  ASSERT_EQ(ml_only.records().size(), 1u);
  EXPECT_EQ(ml_only.records()[0].generated_tokens, 32);
  EXPECT_DOUBLE_EQ(ml_only.records()[0].first_token_ms, 700);

  auto dir = temp_dir("csv");
  {
    std::ofstream out(dir / "r.csv");
    write_csv_header(out);
    for (const auto& r : records) write_csv_row(out, r);
  }
  auto back = read_csv((dir / "r.csv").string());
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].generated_tokens, 320);
  EXPECT_EQ(back[0].prompt_tokens, 597);
  EXPECT_DOUBLE_EQ(back[0].tokens_per_second, 3.75);
  EXPECT_DOUBLE_EQ(back[0].first_token_ms, 5955.25);

  // A run directory written before the token columns existed still reads (zeros in them).
  std::string old = write(dir / "old.csv",
                          "experiment,function,memory_mb,max_concurrency,batch_size,start,cold_start,init_ms,"
                          "processing_ms,duration_ms,billed_ms,max_memory_mb,cost_usd,instance_id,cpu_count,"
                          "request_id,message_id,status\n"
                          "e,kmeans,256,1,100,2026-01-01T00:00:00.000Z,warm,0,1,2,2,30,1e-07,i,2,r,1,ok\n");
  auto old_rows = read_csv(old);
  ASSERT_EQ(old_rows.size(), 1u);
  EXPECT_EQ(old_rows[0].function, "kmeans");
  EXPECT_EQ(old_rows[0].generated_tokens, 0);
}

TEST(ExperimentLlmReport, GenerationFiguresPerMemorySize) {
  LogParser parser;
  std::istringstream log(llm_invocation("r1", true, 10, 320, 3.0, 6000, 150000) +
                         llm_invocation("r2", false, 10, 300, 4.0, 4000, 120000) +
                         llm_invocation("r3", false, 10, 280, 5.0, 5000, 100000));
  parser.add_serve_log(log);
  auto records = parser.records();
  auto stats = summarise_generation(records);
  ASSERT_EQ(stats.size(), 1u);
  const GenerationStats& g = stats[0];
  EXPECT_EQ(g.memory_mb, 1024);
  EXPECT_EQ(g.batch, 10);
  EXPECT_EQ(g.invocations, 3);
  EXPECT_EQ(g.answers, 30);
  EXPECT_EQ(g.generated_tokens, 900);
  EXPECT_DOUBLE_EQ(g.cold_init_ms, 120.5);
  EXPECT_DOUBLE_EQ(g.warm_first_token_ms, 4500);  // warm invocations only
  EXPECT_DOUBLE_EQ(g.warm_tokens_per_second, 4.5);
  double bill = invocation_cost_usd(1024, 150000) + invocation_cost_usd(1024, 120000) + invocation_cost_usd(1024, 100000);
  EXPECT_NEAR(g.cost_per_answer_usd, bill / 30, 1e-15);
  EXPECT_NEAR(g.cost_per_1k_tokens_usd, bill / 900 * 1000, 1e-15);

  // Functions that generate nothing (fill-mask) get no section of their own when alone.
  for (auto& r : records) r.generated_tokens = 0;
  EXPECT_TRUE(summarise_generation(records).empty());

  // The report renders the section from a run directory.
  auto dir = temp_dir("report");
  fs::create_directories(dir / "results");
  {
    std::ofstream out(dir / "results" / "tiny-m1024-c1-b10.csv");
    write_csv_header(out);
    for (const auto& r : parser.records()) {
      InvocationRecord copy = r;
      copy.function = "tiny", copy.max_concurrency = 1;
      write_csv_row(out, copy);
    }
  }
  std::string html_path = write_report(dir.string());
  std::ifstream in(html_path);
  std::stringstream html;
  html << in.rdbuf();
  EXPECT_NE(html.str().find("<h2>Text generation</h2>"), std::string::npos);
  EXPECT_NE(html.str().find("Decode tokens/s, batch 10"), std::string::npos);
  EXPECT_NE(html.str().find("cost per 1,000 tokens"), std::string::npos);
}
