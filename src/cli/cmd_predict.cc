// mlfaas predict: run a model on texts (command line) or JSONL lines ({"text"} or {"input_ids"}), one JSON line out
// per input (input_ids win over text when a line has both). A bad input line yields {"error", "line"} and processing goes on; a bad model is exit 2.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "engine/error.h"
#include "engine/model.h"

#include "engine/tokenizer/wordpiece.h"

namespace mlfaas::cli {

namespace {

using json = nlohmann::ordered_json;  // keys in insertion order: labels as the model lists them

// The float's shortest round-trip decimal, as a double that prints the same digits (not 0.10000000149011612).
double tidy(float f) {
  if (!std::isfinite(f)) return f;
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, f);
  return std::strtod(std::string(buf, res.ptr).c_str(), nullptr);
}

json float_array(const float* v, size_t n) {
  json a = json::array();
  for (size_t i = 0; i < n; ++i) a.push_back(tidy(v[i]));
  return a;
}

std::vector<float> softmax(const float* v, size_t n) {
  std::vector<float> p(v, v + n);
  const float mx = *std::max_element(p.begin(), p.end());
  double total = 0;
  for (float& x : p) total += (x = std::exp(x - mx));
  for (float& x : p) x = static_cast<float>(x / total);
  return p;
}

struct Options {
  std::string model;
  int threads = 1;
  std::string precision;  // "" = the model's own
  bool jsonl = false;
  bool full = false;
  int top_k = 5;
  int max_length = 0;
  std::vector<std::string> texts;
};

class Predictor {
 public:
  explicit Predictor(const Options& opt) : opt_(opt) {
    ModelOptions mo;
    mo.threads = opt.threads;
    mo.precision = opt.precision;
    model_ = Model::load(opt.model, mo);
    max_length_ = opt.max_length > 0 ? std::min(opt.max_length, model_->max_tokens()) : model_->max_tokens();
    tokenizer_ = model_->tokenizer();
    mask_id_ = tokenizer_->mask_id();
  }

  // One input -> one output object; InputError for a bad input.
  json run_text(const std::string& text) {
    tokenizer_->encode(text, max_length_, &encoding_);
    return run_ids(encoding_.input_ids, encoding_.token_type_ids);
  }

  json run_ids(const std::vector<int32_t>& ids, const std::vector<int32_t>& types) {
    const TokenIds seq{ids, types};
    switch (model_->task()) {
      case ModelTask::Classification: {
        const std::vector<float> logits = model_->classify(seq);
        const std::vector<float> probs = softmax(logits.data(), logits.size());
        const auto& labels = model_->config().labels;
        json p = json::object();
        for (size_t i = 0; i < labels.size(); ++i) p[labels[i]] = tidy(probs[i]);
        const size_t best = std::max_element(logits.begin(), logits.end()) - logits.begin();
        return {{"label", labels[best]}, {"probabilities", p}, {"logits", float_array(logits.data(), logits.size())}};
      }
      case ModelTask::MaskedLM: {
        std::vector<int> positions;
        for (size_t i = 0; i < ids.size(); ++i) {
          if (mask_id_ >= 0 && ids[i] == mask_id_) positions.push_back(static_cast<int>(i));
        }
        json masks = json::array();
        if (positions.empty()) {
          model_->validate(seq);
          return {{"masks", masks}};
        }
        const std::vector<float> logits = model_->masked_lm_logits(seq, positions);
        const int V = model_->config().vocab_size;
        const int k = std::min(opt_.top_k, V);
        for (size_t m = 0; m < positions.size(); ++m) {
          const std::vector<float> probs = softmax(logits.data() + m * V, V);
          std::vector<int> order(V);
          for (int i = 0; i < V; ++i) order[i] = i;
          std::partial_sort(order.begin(), order.begin() + k, order.end(),
                            [&](int a, int b) { return probs[a] > probs[b]; });
          json top_ids = json::array(), tokens = json::array(), scores = json::array();
          for (int i = 0; i < k; ++i) {
            top_ids.push_back(order[i]);
            tokens.push_back(token(order[i]));
            scores.push_back(tidy(probs[order[i]]));
          }
          masks.push_back({{"position", positions[m]}, {"ids", top_ids}, {"tokens", tokens}, {"scores", scores}});
        }
        return {{"masks", masks}};
      }
      case ModelTask::Base: {
        std::vector<float> hidden, pooled;
        model_->hidden_states(seq, &hidden, &pooled);
        const int H = model_->config().hidden_size;
        json out = {{"cls", float_array(hidden.data(), H)}};
        if (!pooled.empty()) out["pooler_output"] = float_array(pooled.data(), pooled.size());
        if (opt_.full) {
          json rows = json::array();
          for (size_t r = 0; r < ids.size(); ++r) rows.push_back(float_array(hidden.data() + r * H, H));
          out["last_hidden_state"] = rows;
        }
        return out;
      }
    }
    return {};
  }

  json run_line(const std::string& line) {
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error&) {
      throw InputError("not valid JSON");
    }
    if (!j.is_object()) throw InputError("expected a JSON object with \"text\" or \"input_ids\"");
    if (auto ids = j.find("input_ids"); ids != j.end()) {
      std::vector<int32_t> input_ids, types;
      try {
        input_ids = ids->get<std::vector<int32_t>>();
        if (auto tt = j.find("token_type_ids"); tt != j.end()) types = tt->get<std::vector<int32_t>>();
      } catch (const json::exception&) {
        throw InputError("\"input_ids\" and \"token_type_ids\" must be arrays of integers");
      }
      return run_ids(input_ids, types);
    }
    if (auto t = j.find("text"); t != j.end()) {
      if (!t->is_string()) throw InputError("\"text\" must be a string");
      return run_text(t->get<std::string>());
    }
    throw InputError("expected a JSON object with \"text\" or \"input_ids\"");
  }

 private:
  std::string token(int id) const { return std::string(tokenizer_->id_to_token(id)); }

  std::shared_ptr<const WordPieceTokenizer> tokenizer_;
  Encoding encoding_;
  const Options& opt_;
  std::unique_ptr<Model> model_;
  int max_length_ = 0;
  int32_t mask_id_ = -1;
};

void emit(const json& j) {
  const std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void run(const Options& opt) {
  if (!opt.precision.empty() && opt.precision != "fp32" && opt.precision != "int8") throw CliExit(2, "predict: unknown --precision '" + opt.precision + "' (fp32 or int8)");
  if (opt.jsonl == !opt.texts.empty()) throw CliExit(2, "predict: give either --jsonl (inputs on stdin) or TEXT arguments");
  std::unique_ptr<Predictor> predictor;
  try {
    predictor = std::make_unique<Predictor>(opt);
  } catch (const FormatError&) {
    throw;
  } catch (const std::runtime_error& e) {  // e.g. MLFAAS_ISA naming a level this CPU lacks
    throw CliExit(2, std::string("predict: ") + e.what());
  }
  if (!opt.jsonl) {
    int failed = 0;
    for (const std::string& text : opt.texts) {
      try {
        emit(predictor->run_text(text));
      } catch (const InputError& e) {
        emit({{"error", e.what()}});
        ++failed;
      }
    }
    if (failed) throw CliExit(1, "");
    return;
  }
  std::string line;
  int64_t number = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    try {
      emit(predictor->run_line(line));
    } catch (const InputError& e) {
      emit({{"error", e.what()}, {"line", number}});
    }
  }
}

}  // namespace

void register_predict(CLI::App& app) {
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("predict", "Run a model on texts or JSONL inputs, one JSON line per input");
  cmd->add_option("--model", opt->model,
                  "Model directory (config.json + model.safetensors or pytorch_model.bin), or a compiled model "
                  "(FILE.mlf from `mlfaas compile`)")
      ->required();
  cmd->add_option("--threads", opt->threads, "Threads per request, including the caller's")
      ->check(CLI::Range(1, 255));
  cmd->add_option("--precision", opt->precision,
                  "fp32, or int8 (dynamic quantization of the encoder's linears); default: fp32 for a directory, the "
                  "compiled precision for a .mlf")
      ->check(CLI::IsMember({"fp32", "int8"}));
  cmd->add_flag("--jsonl", opt->jsonl, "Read {\"text\"} or {\"input_ids\"[, \"token_type_ids\"]} lines from stdin");
  cmd->add_flag("--full", opt->full, "Base models: also print the whole last hidden state");
  cmd->add_option("--top-k", opt->top_k, "Masked LM: candidates per [MASK]")->check(CLI::Range(1, 1000));
  cmd->add_option("--max-length", opt->max_length, "Truncate texts to this many tokens (default: the model's maximum)")
      ->check(CLI::Range(2, 1 << 20));
  cmd->add_option("text", opt->texts, "Texts to run");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace mlfaas::cli
