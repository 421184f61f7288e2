// mlfaas tokenize: BERT WordPiece ids for JSONL text on stdin (or texts given as arguments), one JSON line per
// input line, in order. A bad line gets {"error": ..., "line": N} and processing continues; a bad vocabulary
// stops everything (FormatError, exit 2).
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "engine/formats/mlf.h"
#include "engine/model.h"
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

void run_tokenize(const TokenizeOptions& opt) {
  if (opt.vocab.empty() == opt.model_dir.empty()) throw CliExit(2, "tokenize: give exactly one of --vocab or --model");
  if (opt.jsonl == !opt.texts.empty()) throw CliExit(2, "tokenize: give either --jsonl (stdin) or TEXT arguments");
  if (opt.max_length < 2) throw CliExit(2, "tokenize: --max-length must be at least 2 ([CLS] and [SEP])");
  // A compiled model carries its tokenizer (which keeps the mapping alive after the model goes).
  const WordPieceTokenizer tok = !opt.vocab.empty()              ? WordPieceTokenizer::from_vocab_file(opt.vocab)
                                 : is_mlf_file(opt.model_dir) ? *Model::load(opt.model_dir)->tokenizer()
                                                              : WordPieceTokenizer::from_model_dir(opt.model_dir);
  Output out;
  Encoding enc;
  if (!opt.jsonl) {
    for (const auto& text : opt.texts) {
      tok.encode(text, opt.max_length, &enc);
      append_encoding(out.buffer(), enc);
      out.line_done();
    }
    return;
  }
  std::string error;
  size_t line_no = 0;
  char* raw = nullptr;
  size_t capacity = 0;
  ssize_t got;
  while ((got = ::getline(&raw, &capacity, stdin)) != -1) {
    std::string_view line(raw, size_t(got));
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    ++line_no;
    if (auto text = text_of(line, &error)) {
      tok.encode(*text, opt.max_length, &enc);
      append_encoding(out.buffer(), enc);
    } else {
      append_error(out.buffer(), error, line_no);
    }
    out.line_done();
  }
  std::free(raw);
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto opt = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand("tokenize", "BERT WordPiece-tokenize text: {\"text\"} JSONL on stdin -> ids JSONL");
  auto* vocab = cmd->add_option("--vocab", opt->vocab, "vocab.txt (lower-cased, accents stripped)");
  cmd->add_option("--model", opt->model_dir, "model directory (vocab.txt + tokenizer_config.json) or compiled model (.mlf)")->excludes(vocab);
  cmd->add_option("--max-length", opt->max_length, "truncate to this many tokens, [CLS] and [SEP] included")
      ->capture_default_str();
  cmd->add_flag("--jsonl", opt->jsonl, "read {\"text\": ...} lines from stdin");
  cmd->add_option("text", opt->texts, "texts to tokenize (instead of --jsonl)");
  cmd->callback([opt] { run_tokenize(*opt); });
}

}  // namespace mlfaas::cli
