// mlfaas tokenize: token ids for JSONL text on stdin (or texts given as arguments), one JSON line per input line,
// in order: BERT WordPiece ({"input_ids", "token_type_ids", "attention_mask"}) or, for a Llama model (a directory
// with tokenizer.model, a GGUF file, a llama2.c directory or checkpoint), SentencePiece ({"input_ids"}, BOS first
// as HF adds it). A bad line gets {"error": ..., "line": N} and processing continues; a bad vocabulary stops everything
// (FormatError, exit 2).
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "engine/error.h"
#include "engine/formats/gguf.h"
#include "engine/formats/mlf.h"
#include "engine/llm/llama.h"
#include "engine/model.h"
#include "engine/tokenizer/sentencepiece.h"
#include "engine/tokenizer/wordpiece.h"

namespace mlfaas::cli {

namespace {

struct TokenizeOptions {
  std::string vocab;
  std::string model_dir;
  int max_length = 128;
  bool jsonl = false;
  std::vector<std::string> texts;
};

void append_ids(std::string* out, const char* key, const std::vector<int32_t>& ids) {
  out->append("\"").append(key).append("\":[");
  char buf[16];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out->push_back(',');
    auto r = std::to_chars(buf, buf + sizeof buf, ids[i]);
    out->append(buf, r.ptr);
  }
  out->push_back(']');
}

void append_encoding(std::string* out, const Encoding& enc) {
  out->push_back('{');
  append_ids(out, "input_ids", enc.input_ids);
  out->push_back(',');
  append_ids(out, "token_type_ids", enc.token_type_ids);
  out->push_back(',');
  append_ids(out, "attention_mask", enc.attention_mask);
  out->append("}\n");
}

void append_error(std::string* out, const std::string& message, size_t line) {
  out->append(nlohmann::json{{"error", message}, {"line", line}}.dump()).push_back('\n');
}

// Buffered writer: large writes, flushed per line only when a person is watching the terminal.
class Output {
 public:
  Output() : interactive_(isatty(STDOUT_FILENO) == 1) { buf_.reserve(1 << 17); }
  ~Output() { flush(); }
  std::string* buffer() { return &buf_; }
  void line_done() {
    if (interactive_ || buf_.size() >= (1 << 16)) flush();
  }
  void flush() {
    if (!buf_.empty()) std::fwrite(buf_.data(), 1, buf_.size(), stdout);
    buf_.clear();
    std::fflush(stdout);
  }

 private:
  bool interactive_;
  std::string buf_;
};

// The "text" of one JSONL line, or the reason the line cannot be used.
std::optional<std::string> text_of(std::string_view line, std::string* error) {
  nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
  if (row.is_discarded()) {
    *error = line.find_first_not_of(" \t\r") == std::string_view::npos ? "empty line" : "invalid JSON";
    return std::nullopt;
  }
  if (!row.is_object()) {
    *error = "expected a JSON object with a \"text\" string";
    return std::nullopt;
  }
  auto it = row.find("text");
  if (it == row.end() || !it->is_string()) {
    *error = "missing \"text\" string";
    return std::nullopt;
  }
  return it->get<std::string>();
}

namespace fs = std::filesystem;

// llama2.c keeps a checkpoint (*.bin) and its tokenizer (tokenizer.bin, tok512.bin, ...) side by side; the
// tokenizer file has no size of its own, so the checkpoint header's vocab_size (6th int32; negative when the
// classifier is separate) says how many tokens to read. Null when `dir` holds no tok*.bin.
std::shared_ptr<const LlamaTokenizer> llama2c_tokenizer(const fs::path& dir, fs::path checkpoint) {
  std::vector<fs::path> tokenizers, checkpoints;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec) || entry.path().extension() != ".bin") continue;
    const std::string name = entry.path().filename().string();
    (name.rfind("tok", 0) == 0 ? tokenizers : checkpoints).push_back(entry.path());
  }
  if (tokenizers.empty()) return nullptr;
  if (tokenizers.size() > 1) throw FormatError(dir.string(), "more than one llama2.c tokenizer (tok*.bin)");
  if (checkpoint.empty()) {
    if (checkpoints.size() != 1) {
      throw FormatError(dir.string(), std::to_string(checkpoints.size()) +
                                          " llama2.c checkpoints (*.bin) beside the tokenizer; name one with --model");
    }
    checkpoint = checkpoints.front();
  }
  std::ifstream in(checkpoint, std::ios::binary);
  int32_t header[7] = {};
  if (!in.read(reinterpret_cast<char*>(header), sizeof header))
    throw FormatError(checkpoint.string(), "too short for a llama2.c header (28 bytes)");
  const int64_t vocab_size = header[5] < 0 ? -int64_t(header[5]) : header[5];
  if (vocab_size <= 0 || vocab_size > (1 << 24))
    throw FormatError(checkpoint.string(),
                      "llama2.c header vocab_size " + std::to_string(header[5]) + " is implausible");
  return LlamaTokenizer::from_llama2c(tokenizers.front().string(), int(vocab_size));
}

// The Llama tokenizer of `path` (a directory with tokenizer.model, a .gguf file, a llama2.c directory or
// checkpoint), or null when it is not a Llama model (a BERT folder or compiled model).
std::shared_ptr<const LlamaTokenizer> llama_tokenizer_at(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) {
    const fs::path model = p / "tokenizer.model";
    if (fs::is_regular_file(model, ec)) return LlamaTokenizer::from_model_file(model.string());
    if (fs::exists(p / "vocab.txt", ec)) return nullptr;
    return llama2c_tokenizer(p, {});
  }
  if (p.extension() == ".gguf") return LlamaTokenizer::from_gguf(*GgufFile::open(path));
  if (p.extension() == ".bin" && fs::is_regular_file(p, ec) && p.filename().string().rfind("tok", 0) != 0) {
    return llama2c_tokenizer(p.has_parent_path() ? p.parent_path() : fs::path("."), p);
  }
  return nullptr;
}

void append_llama_ids(std::string* out, const std::vector<int32_t>& ids) {
  out->push_back('{');
  append_ids(out, "input_ids", ids);
  out->append("}\n");
}

// Feeds each input text (the TEXT arguments, or the "text" of each stdin JSONL line) to encode(text, line_no),
// which appends that input's output line; a JSONL line without a usable text gets its error object instead. One
// line out per line in.
template <typename Encode>
void for_each_input(const TokenizeOptions& opt, Output& out, Encode encode) {
  size_t line_no = 0;
  if (!opt.jsonl) {
    for (const auto& text : opt.texts) {
      encode(text, ++line_no);
      out.line_done();
    }
    return;
  }
  std::string error;
  char* raw = nullptr;
  size_t capacity = 0;
  ssize_t got;
  while ((got = ::getline(&raw, &capacity, stdin)) != -1) {
    std::string_view line(raw, size_t(got));
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    ++line_no;
    if (auto text = text_of(line, &error)) {
      encode(*text, line_no);
    } else {
      append_error(out.buffer(), error, line_no);
    }
    out.line_done();
  }
  std::free(raw);
}

// Llama models: {"input_ids"} per line; text that is not valid UTF-8 is that line's error.
void run_llama_tokenize(const LlamaTokenizer& tok, const TokenizeOptions& opt) {
  Output out;
  for_each_input(opt, out, [&](const std::string& text, size_t line_no) {
    try {
      append_llama_ids(out.buffer(), tok.encode(text));
    } catch (const InputError& e) {
      append_error(out.buffer(), e.what(), line_no);
    }
  });
}

void run_tokenize(const TokenizeOptions& opt) {
  if (opt.vocab.empty() == opt.model_dir.empty()) throw CliExit(2, "tokenize: give exactly one of --vocab or --model");
  if (opt.jsonl == !opt.texts.empty()) throw CliExit(2, "tokenize: give either --jsonl (stdin) or TEXT arguments");
  if (!opt.model_dir.empty() && !is_mlf_file(opt.model_dir)) {
    if (auto llama = llama_tokenizer_at(opt.model_dir)) return run_llama_tokenize(*llama, opt);
  } else if (!opt.model_dir.empty() && MlfFile::open(opt.model_dir)->architecture() == "llama") {
    return run_llama_tokenize(*LlamaModel::load(opt.model_dir)->tokenizer(), opt);  // maps, reads no weight
  }
  if (opt.max_length < 2) throw CliExit(2, "tokenize: --max-length must be at least 2 ([CLS] and [SEP])");
  // A compiled model carries its tokenizer (which keeps the mapping alive after the model goes).
  const WordPieceTokenizer tok = !opt.vocab.empty()              ? WordPieceTokenizer::from_vocab_file(opt.vocab)
                                 : is_mlf_file(opt.model_dir) ? *Model::load(opt.model_dir)->tokenizer()
                                                              : WordPieceTokenizer::from_model_dir(opt.model_dir);
  Output out;
  Encoding enc;
  for_each_input(opt, out, [&](const std::string& text, size_t) {
    tok.encode(text, opt.max_length, &enc);
    append_encoding(out.buffer(), enc);
  });
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto opt = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand(
      "tokenize", "Tokenize text (BERT WordPiece or Llama SentencePiece): {\"text\"} JSONL on stdin -> ids JSONL");
  auto* vocab = cmd->add_option("--vocab", opt->vocab, "vocab.txt (lower-cased, accents stripped)");
  cmd->add_option("--model", opt->model_dir,
                  "BERT: directory (vocab.txt + tokenizer_config.json) or compiled model (.mlf); Llama: directory "
                  "with tokenizer.model, .gguf file, llama2.c directory or checkpoint (*.bin beside tok*.bin), or "
                  "compiled model (.mlf)")
      ->excludes(vocab);
  cmd->add_option("--max-length", opt->max_length, "BERT: truncate to this many tokens, [CLS] and [SEP] included")
      ->capture_default_str();
  cmd->add_flag("--jsonl", opt->jsonl, "read {\"text\": ...} lines from stdin");
  cmd->add_option("text", opt->texts, "texts to tokenize (instead of --jsonl)");
  cmd->callback([opt] { run_tokenize(*opt); });
}

}  // namespace mlfaas::cli
