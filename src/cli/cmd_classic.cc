// `mlfaas classic predict --model DIR [--jsonl]`: runs one classic-ML model over stdin, one text per line,
// and prints one JSON prediction per line (scripts and tools/check_classic.py use it).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "engine/classic/model.h"

namespace mlfaas::cli {
namespace {

struct ClassicOptions {
  std::string model;
  bool jsonl = false;
};

// With --jsonl a line is a JSON string or an object with a "text" field; otherwise the line is the text.
std::string line_text(const std::string& line, bool jsonl, size_t line_no) {
  if (!jsonl) return line;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error&) {
    throw CliExit(2, "stdin: line " + std::to_string(line_no) + ": not valid JSON");
  }
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("text") && j["text"].is_string()) return j["text"].get<std::string>();
  throw CliExit(2, "stdin: line " + std::to_string(line_no) + ": expected a JSON string or {\"text\": ...}");
}

void run_predict(const ClassicOptions& opt) {
  const auto model = classic::Model::load(opt.model);
  constexpr size_t kBatch = 1000;
  std::vector<std::string> texts;
  std::string line;
  size_t line_no = 0;
  auto flush = [&] {
    std::vector<std::string_view> views(texts.begin(), texts.end());
    std::string out;
    for (const auto& p : model.predict_batch(views)) {
      out += model.to_json(p).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      out += '\n';
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    texts.clear();
  };
  while (std::getline(std::cin, line)) {
    ++line_no;
    texts.push_back(line_text(line, opt.jsonl, line_no));
    if (texts.size() == kBatch) flush();
  }
  flush();
  std::fflush(stdout);
}

}  // namespace

void register_classic(CLI::App& app) {
  auto* cmd = app.add_subcommand("classic", "Classic-ML models (KMeans, GMM, PCA, LogReg, SVM, RandomForest)");
  cmd->require_subcommand(1);
  auto opt = std::make_shared<ClassicOptions>();
  auto* predict = cmd->add_subcommand("predict", "Predict for each stdin line; prints one JSON result per line");
  predict->add_option("--model", opt->model, "model directory (holding model.json) or model.json")->required();
  predict->add_flag("--jsonl", opt->jsonl, "stdin lines are JSON strings or {\"text\": ...} objects");
  predict->callback([opt] { run_predict(*opt); });
}

}  // namespace mlfaas::cli
