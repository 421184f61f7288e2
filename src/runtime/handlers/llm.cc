// The `llm` handler: text generation with any Llama-family model the engine loads (docs/LLM.md, "The llm
// function"). The model is loaded during INIT into one LlamaModel and one LlamaSession (a Lambda instance handles
// one event at a time). Requests: {"prompt"}, {"messages"} (the chat template applied as transformers 4.36's
// apply_chat_template does), or the study's SNS message {"ExperimentId", "MessageId", "Batch": [questions]}, each
// question asked after the study's system prompt; sampling fields override the function's defaults, which are the
// study's (max_new_tokens 256, temperature 0.7, top_k 50, top_p 0.95) unless its environment says otherwise. With
// "stream": true (or LLM_STREAM=1) a single request's text is streamed as it is generated.
#include <algorithm>
#include <cstdlib>
#include <optional>
#include <set>
#include <string_view>

#include "engine/error.h"
#include "engine/llm/generate.h"
#include "engine/llm/llama.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/sentencepiece.h"
#include "runtime/handler.h"
#include "runtime/runtime_log.h"

namespace mlfaas::runtime {

using nlohmann::json;

namespace {

// The study's function (RickTimmer/ml-on-faas-benchmark, functions/tiny-llama/handler.py).
constexpr const char* kStudySystemPrompt = "You are a chatbot trying to answer a multiple choice question.";

// transformers 4.36 falls back to LlamaTokenizer.default_chat_template when a model has none (TinyLLama-v0,
// llama2.c checkpoints), with use_default_system_prompt False: Llama 2's [INST] / <<SYS>> format.
constexpr const char* kLlamaDefaultTemplate =
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
    "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif "
    "%}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
    "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if "
    "message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] "
    "== 'system' %}{{ '<<SYS>>\\n' + content.strip() + '\\n<</SYS>>\\n\\n' }}{% elif message['role'] == "
    "'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : "";
}

// An environment override, refused at INIT when it is not a number: a misconfigured function should not start.
template <typename T>
T env_number(const char* name, T fallback) {
  std::string text = env(name);
  if (text.empty()) return fallback;
  try {
    size_t used = 0;
    double v = std::stod(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
    return static_cast<T>(v);
  } catch (const std::exception&) {
    throw std::runtime_error(std::string(name) + " must be a number, got '" + text + "'");
  }
}

struct Defaults {
  int max_new_tokens = 256;
  float temperature = 0.7f;
  int top_k = 50;
  float top_p = 0.95f;
  std::string system_prompt = kStudySystemPrompt;
  bool stream = false;
};

Defaults defaults_from_env() {
  Defaults d;
  d.max_new_tokens = env_number("LLM_MAX_NEW_TOKENS", d.max_new_tokens);
  d.temperature = env_number("LLM_TEMPERATURE", d.temperature);
  d.top_k = env_number("LLM_TOP_K", d.top_k);
  d.top_p = env_number("LLM_TOP_P", d.top_p);
  if (const char* s = std::getenv("LLM_SYSTEM_PROMPT")) d.system_prompt = s;  // "" = no system message
  d.stream = env("LLM_STREAM") == "1";
  return d;
}

BadRequest bad(const std::string& details) { return BadRequest("Invalid request", details); }

const std::set<std::string, std::less<>> kSamplingFields = {"max_new_tokens", "temperature", "top_k",     "top_p",
                                                             "seed",           "stop",        "ignore_eos", "stream",
                                                             "stream_format"};

// One question of a batch: a string, or an ARC row / question object formatted as the ARC README suggests
// (stem, then "label. text" per choice).
std::string question_text(const json& item) {
  if (item.is_string()) return item.get<std::string>();
  const json* q = &item;
  if (q->is_object() && q->contains("question") && (*q)["question"].is_object()) q = &(*q)["question"];
  if (q->is_object() && q->contains("stem") && (*q)["stem"].is_string()) {
    std::string text = (*q)["stem"].get<std::string>();
    if (q->contains("choices") && (*q)["choices"].is_array()) {
      for (const json& c : (*q)["choices"]) {
        if (!c.is_object() || !c.contains("label") || !c.contains("text") || !c["label"].is_string() ||
            !c["text"].is_string())
          throw bad("each choice must be {\"label\": string, \"text\": string}");
        text += "\n" + c["label"].get<std::string>() + ". " + c["text"].get<std::string>();
      }
    }
    return text;
  }
  throw bad("each \"Batch\" item must be a question string or an ARC question {\"stem\", \"choices\"}");
}

class LlmHandler final : public Handler {
 public:
  explicit LlmHandler(const HandlerSetup& setup)
      : dir_(resolve_model_dir(setup, "stories260K", /*compiled_ok=*/true)),
        defaults_(defaults_from_env()),
        model_(LlamaModel::load(dir_)),
        session_(model_, SessionOptions{.threads = env_number("LLM_THREADS", usable_cpu_count()),
                                        .context = env_number("LLM_CONTEXT", 0)}),
        tokenizer_(model_->tokenizer()) {
    const std::string& source = model_->chat_template().empty() ? kLlamaDefaultTemplate : model_->chat_template();
    try {
      chat_template_.emplace(source);
    } catch (const ChatTemplateError& e) {
      throw std::runtime_error(dir_ + ": chat template: " + e.what());
    }
  }

  json handle(const json& input, const Context& ctx) override {
    metrics_ = {};
    if (!input.is_object())
      throw bad("expected a JSON object with \"prompt\", \"messages\" or \"Batch\"");
    if (input.contains("Batch")) return handle_batch(input);
    for (const auto& [key, _] : input.items())
      if (key != "prompt" && key != "messages" && !kSamplingFields.contains(key))
        throw bad("unknown field \"" + key + "\"");
    if (input.contains("prompt") == input.contains("messages"))
      throw bad("give exactly one of \"prompt\" or \"messages\"");
    GenerateRequest request = sampling(input);
    if (input.contains("prompt")) {
      if (!input["prompt"].is_string()) throw bad("\"prompt\" must be a string");
      std::string prompt = input["prompt"].get<std::string>();
      if (prompt.empty()) throw bad("\"prompt\" must not be empty");
      request.prompt_ids = encode(prompt, true);
    } else {
      request.prompt_ids = chat_ids(parse_messages(input["messages"]));
    }
    bool stream = defaults_.stream;
    if (input.contains("stream")) stream = input["stream"].get<bool>();
    ResponseStream* out = stream ? ctx.stream : nullptr;
    if (input.contains("stream_format")) {
      const json& f = input["stream_format"];
      if (!f.is_string() || (f != "text" && f != "ndjson")) throw bad("\"stream_format\" must be \"text\" or \"ndjson\"");
      request_ndjson_ = f == "ndjson";
    } else {
      request_ndjson_ = false;
    }
    json answer = run(request, out);
    return out ? json() : answer;
  }

  std::string model_name() const override { return dir_; }
  std::vector<ExtraMetric> last_metrics() const override { return metrics_; }

 private:
  json handle_batch(const json& input) {
    for (const auto& [key, _] : input.items())
      if (key != "Batch" && key != "ExperimentId" && key != "MessageId" && !kSamplingFields.contains(key))
        throw bad("unknown field \"" + key + "\"");
    if (input.contains("stream")) throw bad("a \"Batch\" is answered as a whole; \"stream\" applies to one prompt");
    const json& batch = input["Batch"];
    if (!batch.is_array() || batch.empty()) throw bad("\"Batch\" must be a non-empty array of questions");
    GenerateRequest base = sampling(input);
    // Every item is checked before any is run, so a bad item costs no generation.
    std::vector<GenerateRequest> requests;
    for (const json& item : batch) {
      std::vector<ChatMessage> messages;
      if (!defaults_.system_prompt.empty()) messages.push_back({"system", defaults_.system_prompt});
      std::string question = question_text(item);
      if (question.empty()) throw bad("a question must not be empty");
      messages.push_back({"user", std::move(question)});
      requests.push_back(base);
      requests.back().prompt_ids = chat_ids(messages);
    }
    json answers = json::array();
    Totals totals;
    for (const auto& r : requests) answers.push_back(run(r, nullptr, &totals));
    set_metrics(totals);
    return answers;
  }

  GenerateRequest sampling(const json& input) const {
    GenerateRequest r;
    r.max_new_tokens = defaults_.max_new_tokens;
    r.sampling = {.temperature = defaults_.temperature, .top_k = defaults_.top_k, .top_p = defaults_.top_p,
                  .seed = std::nullopt};
    auto number = [&](const char* key) -> const json* {
      if (!input.contains(key)) return nullptr;
      if (!input[key].is_number()) throw bad(std::string("\"") + key + "\" must be a number");
      return &input[key];
    };
    auto integer = [&](const char* key) -> const json* {
      const json* v = number(key);
      if (v && !v->is_number_integer()) throw bad(std::string("\"") + key + "\" must be an integer");
      return v;
    };
    if (const json* v = integer("max_new_tokens")) {
      if (v->get<int64_t>() < 1 || v->get<int64_t>() > session_.context())
        throw bad("\"max_new_tokens\" must be between 1 and the context (" + std::to_string(session_.context()) + ")");
      r.max_new_tokens = v->get<int>();
    }
    if (const json* v = number("temperature")) {
      if (v->get<double>() < 0 || v->get<double>() > 100) throw bad("\"temperature\" must be between 0 and 100");
      r.sampling.temperature = v->get<float>();
    }
    if (const json* v = integer("top_k")) {
      if (v->get<int64_t>() < 0 || v->get<int64_t>() > (1 << 30)) throw bad("\"top_k\" must not be negative");
      r.sampling.top_k = v->get<int>();
    }
    if (const json* v = number("top_p")) {
      if (!(v->get<double>() > 0 && v->get<double>() <= 1)) throw bad("\"top_p\" must be in (0, 1]");
      r.sampling.top_p = v->get<float>();
    }
    if (const json* v = integer("seed")) {
      if (!v->is_number_unsigned() && v->get<int64_t>() < 0) throw bad("\"seed\" must not be negative");
      r.sampling.seed = v->get<uint64_t>();
    }
    if (input.contains("stop")) {
      const json& stop = input["stop"];
      if (stop.is_string()) {
        r.stop = {stop.get<std::string>()};
      } else if (stop.is_array() && std::all_of(stop.begin(), stop.end(), [](const json& s) { return s.is_string(); })) {
        r.stop = stop.get<std::vector<std::string>>();
      } else {
        throw bad("\"stop\" must be a string or an array of strings");
      }
      for (const auto& s : r.stop)
        if (s.empty()) throw bad("a stop string must not be empty");
    }
    if (input.contains("ignore_eos")) {
      if (!input["ignore_eos"].is_boolean()) throw bad("\"ignore_eos\" must be true or false");
      r.ignore_eos = input["ignore_eos"].get<bool>();
    }
    if (input.contains("stream") && !input["stream"].is_boolean()) throw bad("\"stream\" must be true or false");
    return r;
  }

  std::vector<ChatMessage> parse_messages(const json& j) const {
    if (!j.is_array() || j.empty()) throw bad("\"messages\" must be a non-empty array of {\"role\", \"content\"}");
    std::vector<ChatMessage> out;
    for (const json& m : j) {
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
          !m["content"].is_string() || m.size() != 2)
        throw bad("each message must be {\"role\": string, \"content\": string}");
      out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    }
    return out;
  }

  std::vector<int32_t> encode(const std::string& text, bool add_special_tokens) const {
    try {
      return tokenizer_->encode(text, add_special_tokens);
    } catch (const InputError& e) {
      throw bad(e.what());
    }
  }

  // HF 4.36 apply_chat_template: render with add_generation_prompt, then tokenize without adding special tokens.
  std::vector<int32_t> chat_ids(const std::vector<ChatMessage>& messages) const {
    std::string rendered;
    try {
      rendered = chat_template_->render(messages, true, tokenizer_->piece(tokenizer_->bos_id()),
                                        tokenizer_->piece(tokenizer_->eos_id()));
    } catch (const ChatTemplateError& e) {
      throw bad(std::string("chat template: ") + e.what());
    }
    if (rendered.empty()) throw bad("the messages render to an empty prompt");
    return encode(rendered, false);
  }

  struct Totals {
    int prompt_tokens = 0;
    int generated_tokens = 0;
    double decode_ms = 0;
    double first_token_ms = 0;  // of the first answer
    int answers = 0;
  };

  json run(const GenerateRequest& request, ResponseStream* stream, Totals* totals = nullptr) {
    if (request.prompt_ids.empty()) throw bad("the prompt is empty after tokenization");
    if (int(request.prompt_ids.size()) >= session_.context())
      throw bad("prompt of " + std::to_string(request.prompt_ids.size()) + " tokens does not fit the context of " +
                std::to_string(session_.context()));
    TextCallback on_text;
    if (stream) {
      stream->write("");  // the headers leave now; the text as it is generated
      // ndjson: {"text": piece} lines, then the answer without its text (finish_reason, usage, timings), for
      // callers that must know how the generation ended (the platform's OpenAI-compatible routes).
      if (request_ndjson_)
        on_text = [stream](std::string_view piece) { return stream->write(json{{"text", piece}}.dump() + "\n"); };
      else
        on_text = [stream](std::string_view piece) { return stream->write(piece); };
    }
    GenerateResult result;
    try {
      result = generate(session_, request, on_text);
    } catch (const InputError& e) {
      throw bad(e.what());
    }
    const GenerateTimings& t = result.timings;
    json answer = {{"generated_text", result.text},
                   {"finish_reason", result.finish_reason},
                   {"usage",
                    {{"prompt_tokens", t.prompt_tokens},
                     {"completion_tokens", int(result.generated_ids.size())},
                     {"total_tokens", t.prompt_tokens + int(result.generated_ids.size())}}},
                   {"timings",
                    {{"prefill_ms", t.prefill_ms},
                     {"first_token_ms", t.first_token_ms},
                     {"decode_ms", t.decode_ms},
                     {"tokens_per_second", tokens_per_second(t)}}}};
    if (request.sampling.temperature > 0) answer["seed"] = result.seed;
    if (stream && request_ndjson_) {
      json tail = answer;
      tail.erase("generated_text");
      stream->write(tail.dump() + "\n");
    }
    Totals one;
    Totals& sum = totals ? *totals : one;
    if (sum.answers++ == 0) sum.first_token_ms = t.first_token_ms;
    sum.prompt_tokens += t.prompt_tokens;
    sum.generated_tokens += int(result.generated_ids.size());
    sum.decode_ms += t.decode_ms;
    if (!totals) set_metrics(one);
    return answer;
  }

  // Decode speed: the tokens after the first over the time spent producing them (the first comes from prefill).
  static double tokens_per_second(const GenerateTimings& t) {
    int runs = std::max(0, t.generated_tokens - 1);
    return t.decode_ms > 0 ? runs * 1000.0 / t.decode_ms : 0.0;
  }

  void set_metrics(const Totals& t) {
    double decode_runs = std::max(0, t.generated_tokens - t.answers);
    metrics_ = {{"PromptTokens", "Count", double(t.prompt_tokens)},
                {"GeneratedTokens", "Count", double(t.generated_tokens)},
                {"TokensPerSecond", "Count/Second", t.decode_ms > 0 ? decode_runs * 1000.0 / t.decode_ms : 0.0},
                {"TimeToFirstTokenMs", "Milliseconds", t.first_token_ms}};
  }

  std::string dir_;
  Defaults defaults_;
  std::shared_ptr<const LlamaModel> model_;
  LlamaSession session_;
  std::shared_ptr<const LlamaTokenizer> tokenizer_;
  std::optional<ChatTemplate> chat_template_;
  std::vector<ExtraMetric> metrics_;
  bool request_ndjson_ = false;
};

}  // namespace

void register_llm_handler(HandlerRegistry& r) {
  r.add("llm", "text generation with a Llama-family model: {\"prompt\"}, {\"messages\"} or the study's SNS batch",
        [](const HandlerSetup& setup) -> std::unique_ptr<Handler> { return std::make_unique<LlmHandler>(setup); });
}

}  // namespace mlfaas::runtime
