// Tokenizer throughput on EmoContext train text (turn1 + " " + turn2 + " " + turn3 per row), one thread,
// max_length 128, best of N passes. Run from the repository root (the defaults are relative to it) or pass
// --data / --vocab. Not a test: bench/tokenizer.sh runs it next to Hugging Face's tokenizers.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"
#include "engine/tokenizer/wordpiece.h"

namespace {

struct Options {
  std::string data = "../shared/data/emocontext/train.txt";
  std::string vocab = "tests/data/vocab/bert-base-uncased.txt";
  int passes = 3;
  int max_length = 128;
  bool json = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "tokenizer_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--data") o.data = value();
    else if (a == "--vocab") o.vocab = value();
    else if (a == "--passes") o.passes = std::atoi(value().c_str());
    else if (a == "--max-length") o.max_length = std::atoi(value().c_str());
    else if (a == "--json") o.json = true;
    else {
      std::fprintf(stderr,
                   "usage: tokenizer_bench [--data EMOCONTEXT_TSV] [--vocab VOCAB_TXT] [--passes N] "
                   "[--max-length N] [--json]\n");
      std::exit(a == "--help" ? 0 : 2);
    }
  }
  return o;
}

// Same text the Hugging Face peer measures (bench.mjs --emocontext): non-empty lines after the header,
// columns 1..3 joined by a space.
std::vector<std::string> read_emocontext(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr,
                 "tokenizer_bench: %s not found - the EmoContext data lives in ../shared/data/emocontext/ next "
                 "to the repository (see the data README); pass --data FILE otherwise\n",
                 path.c_str());
    std::exit(1);
  }
  std::vector<std::string> texts;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (header) {
      header = false;
      continue;
    }
    std::string text;
    size_t start = 0;
    for (int col = 0; col < 4; ++col) {
      size_t tab = line.find('\t', start);
      std::string_view field = std::string_view(line).substr(start, tab == std::string::npos ? std::string::npos : tab - start);
      if (col >= 1) {
        if (col > 1) text += ' ';
        text += field;
      }
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    texts.push_back(std::move(text));
  }
  return texts;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse(argc, argv);
  std::vector<std::string> texts = read_emocontext(opt.data);
  size_t bytes = 0;
  for (const auto& t : texts) bytes += t.size();
  try {
    auto tok = mlfaas::WordPieceTokenizer::from_vocab_file(opt.vocab);
    std::vector<std::string_view> views(texts.begin(), texts.end());
    std::vector<mlfaas::Encoding> out;
    tok.encode_batch(views, opt.max_length, &out);  // warm-up: caches, page faults, output capacity
    double best = 1e30;
    size_t tokens = 0;
    for (int pass = 0; pass < opt.passes; ++pass) {
      auto t0 = std::chrono::steady_clock::now();
      tok.encode_batch(views, opt.max_length, &out);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (s < best) best = s;
    }
    for (const auto& e : out) tokens += e.input_ids.size();
    double mb_s = double(bytes) / best / 1e6;
    double us_text = best / double(texts.size()) * 1e6;
    if (opt.json)
      std::printf("{\"texts\":%zu,\"bytes\":%zu,\"tokens\":%zu,\"seconds\":%.6f,\"MB_per_s\":%.3f,\"us_per_text\":%.3f}\n",
                  texts.size(), bytes, tokens, best, mb_s, us_text);
    else
      std::printf("%zu texts, %zu bytes, %zu tokens: best of %d %.4f s, %.2f MB/s, %.3f us/text\n", texts.size(),
                  bytes, tokens, opt.passes, best, mb_s, us_text);
  } catch (const mlfaas::FormatError& e) {
    std::fprintf(stderr, "tokenizer_bench: %s\n", e.what());
    return 2;
  }
  return 0;
}
