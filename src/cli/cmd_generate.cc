// mlfaas generate: text from a Llama-family model (HF directory, GGUF file, llama2.c checkpoint or compiled .mlf).
// With --prompt or --messages the text streams to stdout as it is generated and a llama.cpp-style timing line goes
// to stderr; with --jsonl each stdin line {"prompt"} | {"messages"} | {"input_ids"} (plus optional sampling fields)
// gets one JSON line back, a bad line {"error"} while the rest go on.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "engine/error.h"
#include "engine/formats/mapped_file.h"
#include "engine/llm/generate.h"
#include "engine/llm/llama.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/sentencepiece.h"

namespace mlfaas::cli {

namespace {

using nlohmann::json;

struct Options {
  std::string model;
  int threads = 1;
  std::string isa;
  std::string precision;
  int context = 0;
  std::optional<std::string> prompt;
  std::optional<std::string> messages;
  bool jsonl = false;
  int max_new_tokens = 256;
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  std::string chat_template_file;
};

std::vector<ChatMessage> parse_messages(const json& j) {
  if (!j.is_array() || j.empty()) throw InputError("\"messages\" must be a non-empty array of {\"role\", \"content\"}");
  std::vector<ChatMessage> out;
  for (const json& m : j) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string()) {
      throw InputError("each message must be an object with string \"role\" and \"content\"");
    }
    out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  return out;
}

class Generator {
 public:
  explicit Generator(const Options& opt) : opt_(opt) {
    const auto t0 = std::chrono::steady_clock::now();
    model_ = LlamaModel::load(opt.model, {.isa = opt.isa, .precision = opt.precision});
    session_ = std::make_unique<LlamaSession>(model_, SessionOptions{.threads = opt.threads, .context = opt.context});
    load_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!opt.chat_template_file.empty()) template_source_ = read_text_file(opt.chat_template_file);
  }

  double load_ms() const { return load_ms_; }
  const LlamaTokenizer& tokenizer() const { return *model_->tokenizer(); }

  std::vector<int32_t> prompt_ids(const std::string& prompt) const { return tokenizer().encode(prompt); }

  // HF 4.36 apply_chat_template: render with add_generation_prompt, then tokenize the text without adding
  // special tokens (the template writes its own).
  std::vector<int32_t> chat_ids(const std::vector<ChatMessage>& messages) {
    if (!chat_template_) {
      const std::string& source = template_source_.empty() ? model_->chat_template() : template_source_;
      if (source.empty()) {
        throw CliExit(2, "generate: " + opt_.model + " has no chat template; pass --chat-template FILE");
      }
      try {
        chat_template_ = std::make_unique<ChatTemplate>(source);
      } catch (const ChatTemplateError& e) {
        throw CliExit(2, std::string("generate: chat template: ") + e.what());
      }
    }
    const LlamaTokenizer& tok = tokenizer();
    std::string rendered;
    try {
      rendered = chat_template_->render(messages, true, tok.piece(tok.bos_id()), tok.piece(tok.eos_id()));
    } catch (const ChatTemplateError& e) {
      throw InputError(std::string("chat template: ") + e.what());
    }
    return tok.encode(rendered, false);
  }

  GenerateResult run(const GenerateRequest& request, const TextCallback& on_text = {}) {
    return generate(*session_, request, on_text);
  }

 private:
  const Options& opt_;
  std::shared_ptr<const LlamaModel> model_;
  std::unique_ptr<LlamaSession> session_;
  std::string template_source_;
  std::unique_ptr<ChatTemplate> chat_template_;
  double load_ms_ = 0;
};

GenerateRequest base_request(const Options& opt) {
  GenerateRequest r;
  r.max_new_tokens = opt.max_new_tokens;
  r.sampling = {.temperature = opt.temperature, .top_k = opt.top_k, .top_p = opt.top_p, .seed = opt.seed};
  r.stop = opt.stop;
  r.ignore_eos = opt.ignore_eos;
  return r;
}

// A JSONL line's request; InputError when the line is unusable.
GenerateRequest line_request(const std::string& line, const Options& opt, Generator& gen) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded()) throw InputError("not valid JSON");
  if (!j.is_object()) throw InputError("expected a JSON object with \"prompt\", \"messages\" or \"input_ids\"");
  GenerateRequest r = base_request(opt);
  r.sampling = {};
  try {
    const int sources = j.contains("prompt") + j.contains("messages") + j.contains("input_ids");
    if (sources != 1) throw InputError("give exactly one of \"prompt\", \"messages\" or \"input_ids\"");
    if (j.contains("prompt")) {
      if (!j["prompt"].is_string()) throw InputError("\"prompt\" must be a string");
      r.prompt_ids = gen.prompt_ids(j["prompt"].get<std::string>());
    } else if (j.contains("messages")) {
      r.prompt_ids = gen.chat_ids(parse_messages(j["messages"]));
    } else {
      r.prompt_ids = j["input_ids"].get<std::vector<int32_t>>();
    }
    if (j.contains("max_new_tokens")) r.max_new_tokens = j["max_new_tokens"].get<int>();
    if (j.contains("temperature")) r.sampling.temperature = j["temperature"].get<float>();
    if (j.contains("top_k")) r.sampling.top_k = j["top_k"].get<int>();
    if (j.contains("top_p")) r.sampling.top_p = j["top_p"].get<float>();
    if (j.contains("seed")) r.sampling.seed = j["seed"].get<uint64_t>();
    if (j.contains("ignore_eos")) r.ignore_eos = j["ignore_eos"].get<bool>();
    if (j.contains("stop")) {
      r.stop = j["stop"].is_string() ? std::vector<std::string>{j["stop"].get<std::string>()}
                                     : j["stop"].get<std::vector<std::string>>();
    }
  } catch (const json::exception& e) {
    throw InputError(std::string("bad field type: ") + e.what());
  }
  if (r.sampling.temperature < 0) throw InputError("temperature must not be negative");
  return r;
}

json result_json(const GenerateRequest& request, const GenerateResult& result, double load_ms) {
  json out = {{"prompt_ids", request.prompt_ids},
              {"generated_ids", result.generated_ids},
              {"text", result.text},
              {"finish_reason", result.finish_reason}};
  if (request.sampling.temperature > 0) out["seed"] = result.seed;
  out["timings"] = {{"prompt_tokens", result.timings.prompt_tokens},
                    {"prefill_ms", result.timings.prefill_ms},
                    {"generated_tokens", result.timings.generated_tokens},
                    {"decode_ms", result.timings.decode_ms},
                    {"load_ms", load_ms}};
  return out;
}

void print_timings(double load_ms, const GenerateTimings& t) {
  const int runs = std::max(0, t.generated_tokens - 1);  // forward passes after the prompt's
  auto per_second = [](int n, double ms) { return ms > 0 ? n * 1000.0 / ms : 0.0; };
  std::fprintf(stderr,
               "mlfaas generate: load %.2f ms | prompt eval %d tokens, %.2f ms, %.2f tokens/s | eval %d runs, %.2f ms, "
               "%.2f tokens/s\n",
               load_ms, t.prompt_tokens, t.prefill_ms, per_second(t.prompt_tokens, t.prefill_ms), runs, t.decode_ms,
               per_second(runs, t.decode_ms));
}

void run(const Options& opt) {
  const int modes = opt.prompt.has_value() + opt.messages.has_value() + opt.jsonl;
  if (modes != 1) throw CliExit(2, "generate: give exactly one of --prompt, --messages or --jsonl");
  std::unique_ptr<Generator> gen;
  try {
    gen = std::make_unique<Generator>(opt);
  } catch (const FormatError&) {
    throw;
  } catch (const std::runtime_error& e) {  // an ISA level this CPU lacks, a context beyond the model's
    throw CliExit(2, std::string("generate: ") + e.what());
  }
  if (opt.jsonl) {
    std::string line;
    int64_t number = 0;
    while (std::getline(std::cin, line)) {
      ++number;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      json out;
      try {
        const GenerateRequest request = line_request(line, opt, *gen);
        out = result_json(request, gen->run(request), gen->load_ms());
      } catch (const InputError& e) {
        out = {{"error", e.what()}, {"line", number}};
      }
      std::string text = out.dump(-1, ' ', false, json::error_handler_t::replace);
      text.push_back('\n');
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    }
    return;
  }
  GenerateRequest request = base_request(opt);
  try {
    if (opt.prompt) {
      request.prompt_ids = gen->prompt_ids(*opt.prompt);
    } else {
      json j = json::parse(*opt.messages, nullptr, false);
      if (j.is_discarded()) throw InputError("--messages is not valid JSON");
      request.prompt_ids = gen->chat_ids(parse_messages(j));
    }
    const GenerateResult result = gen->run(request, [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::fputc('\n', stdout);
    std::fflush(stdout);
    print_timings(gen->load_ms(), result.timings);
  } catch (const InputError& e) {
    throw CliExit(2, std::string("generate: ") + e.what());
  }
}

}  // namespace

void register_generate(CLI::App& app) {
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("generate", "Generate text with a Llama-family model (HF directory, GGUF, llama2.c, compiled .mlf)");
  cmd->add_option("--model", opt->model,
                  "A Hugging Face Llama directory, a GGUF file, a llama2.c checkpoint (directory or .bin), or a .mlf "
                  "from `mlfaas compile`")
      ->required();
  cmd->add_option("--threads", opt->threads, "Threads, including the caller's")->check(CLI::Range(1, 255));
  cmd->add_option("--isa", opt->isa, "Kernel level (portable, avx2, avxvnni, avx512, avx512vnni, neon); default: best");
  cmd->add_option("--precision", opt->precision, "Re-encode float weights at load: f32, f16, q8_0 or q4_0")
      ->check(CLI::IsMember({"f32", "f16", "q8_0", "q4_0"}));
  cmd->add_option("--context", opt->context, "KV cache positions (default: the model's, at most 4096)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--prompt", opt->prompt, "Prompt text (BOS added as the tokenizer does)");
  cmd->add_option("--messages", opt->messages,
                  "Chat messages as JSON [{\"role\":..., \"content\":...}], rendered with the chat template");
  cmd->add_flag("--jsonl", opt->jsonl,
                "Read {\"prompt\"} | {\"messages\"} | {\"input_ids\"} lines (optional max_new_tokens, temperature, "
                "top_k, top_p, seed, ignore_eos, stop) from stdin; one JSON line out per line");
  cmd->add_option("--max-new-tokens", opt->max_new_tokens, "Most tokens to generate")->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--temperature", opt->temperature, "0 = greedy (default); > 0 samples")
      ->check(CLI::Range(0.0f, 100.0f));
  cmd->add_option("--top-k", opt->top_k, "Sample among the k most likely tokens (0 = off)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--top-p", opt->top_p, "Nucleus sampling mass (1 = off)")->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--seed", opt->seed, "Sampling seed (default: random, printed back in --jsonl output)");
  cmd->add_option("--stop", opt->stop, "Stop before this string (repeatable)");
  cmd->add_flag("--ignore-eos", opt->ignore_eos, "Do not stop at the end-of-sequence token");
  cmd->add_option("--chat-template", opt->chat_template_file, "Jinja chat template file (instead of the model's)")
      ->check(CLI::ExistingFile);
  cmd->callback([opt] { run(*opt); });
}

}  // namespace mlfaas::cli
