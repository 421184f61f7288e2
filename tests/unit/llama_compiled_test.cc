// Compiled Llama models (.mlf, LlamaModel::compile / load_compiled): a compiled file must behave exactly as its
// source loaded with the same precision - logits bit for bit, greedy ids, tokenizer ids and chat renderings - while
// its weights are views into the file's mapping; damaged files are refused with one FormatError line.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/formats/mlf.h"
#include "engine/llm/llama.h"
#include "engine/llm/llama_impl.h"
#include "engine/model.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/sentencepiece.h"
#include "format_fixtures.h"

namespace mlfaas {
namespace {

using nlohmann::json;

const std::string kLlama = std::string(MLFAAS_TEST_DATA) + "/llama/";
const std::string kTiny = kLlama + "tiny-llama";
const std::string kTinyGguf = kLlama + "tiny-llama/model-f32.gguf";
const std::string kStories = std::string(MLFAAS_TEST_DATA) + "/../../models/stories260K";

std::vector<json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<json> rows;
  std::string line;
  while (std::getline(in, line)) rows.push_back(json::parse(line));
  return rows;
}

// Greedy ids after `prompt` and the logits of every step, bit for bit.
struct Greedy {
  std::vector<int32_t> ids;
  std::vector<float> logits;
};

Greedy greedy(std::shared_ptr<const LlamaModel> model, std::vector<int32_t> prompt, int steps) {
  LlamaSession session(model, {.threads = 2, .context = 64});
  Greedy run;
  std::span<const float> logits = session.forward(prompt);
  for (int i = 0; i < steps; ++i) {
    run.logits.insert(run.logits.end(), logits.begin(), logits.end());
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    run.ids.push_back(next);
    logits = session.forward(std::span<const int32_t>(&next, 1));
  }
  return run;
}

// Every weight of a compiled model lies inside its file's mapping and the model owns no weight memory.
void expect_weights_in_file(const LlamaModel& model) {
  const LlamaModel::Impl& m = model.impl();
  ASSERT_NE(m.mlf, nullptr);
  EXPECT_TRUE(m.owned.empty());
  const MlfEntry& first = m.mlf->entries().front();
  const std::byte* begin = first.data;  // entries lie in table order, the weights after the metadata
  const std::byte* end = m.mlf->entries().back().data + m.mlf->entries().back().size;
  auto inside = [&](const QWeight& w) { return w.data >= begin && w.data + qweight_bytes(w) <= end; };
  EXPECT_TRUE(inside(m.embedding));
  EXPECT_TRUE(inside(m.lm_head));
  for (const auto& l : m.layers) {
    for (const QWeight* w : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) EXPECT_TRUE(inside(*w));
  }
}

struct Case {
  std::string name, source, precision;
};

class LlamaCompiled : public ::testing::TestWithParam<Case> {};

// In the row layout a compiled file holds the source's weights byte for byte (the interleaved default:
// LlamaCompiledX16).
TEST_P(LlamaCompiled, SameLogitsAndGreedyIdsAsTheSource) {
  const Case& c = GetParam();
  fixtures::TempDir dir;
  const std::string out = dir / "model.mlf";
  const LlamaCompileResult r =
      LlamaModel::compile(c.source, {.isa = "", .precision = c.precision}, out, LlamaWeightLayout::Rows);
  EXPECT_FALSE(r.interleaved);
  EXPECT_EQ(r.bytes, std::filesystem::file_size(out));
  const auto source = LlamaModel::load(c.source, {.isa = "", .precision = c.precision});
  const auto compiled = LlamaModel::load(out);
  expect_weights_in_file(*compiled);
  EXPECT_EQ(compiled->config().format, "mlf");
  EXPECT_EQ(compiled->weight_type(), source->weight_type());
  EXPECT_EQ(compiled->config().rotary, source->config().rotary);
  EXPECT_EQ(compiled->generation_defaults().eos_token_ids, source->generation_defaults().eos_token_ids);
  EXPECT_EQ(compiled->generation_defaults().max_new_tokens, source->generation_defaults().max_new_tokens);

  const std::vector<int32_t> prompt = source->tokenizer()->encode("Once upon a time, a little");
  const Greedy want = greedy(source, prompt, 16);
  const Greedy got = greedy(compiled, prompt, 16);
  EXPECT_EQ(got.ids, want.ids);
  ASSERT_EQ(got.logits.size(), want.logits.size());
  EXPECT_EQ(std::memcmp(got.logits.data(), want.logits.data(), got.logits.size() * sizeof(float)), 0)
      << "logits differ from the source's";

  // Asking the compiled file for its own precision is a no-op (not a refused re-encoding).
  if (!c.precision.empty()) {
    const auto again = LlamaModel::load(out, {.isa = "", .precision = c.precision});
    EXPECT_EQ(greedy(again, prompt, 4).ids, std::vector<int32_t>(want.ids.begin(), want.ids.begin() + 4));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sources, LlamaCompiled,
    ::testing::Values(Case{"tiny_hf_f32", kTiny, "f32"}, Case{"tiny_hf_q8_0", kTiny, "q8_0"},
                      Case{"tiny_hf_q4_0", kTiny, "q4_0"}, Case{"tiny_hf_as_is", kTiny, ""},
                      Case{"tiny_gguf_f32", kTinyGguf, "f32"}, Case{"tiny_gguf_q8_0", kTinyGguf, "q8_0"},
                      Case{"tiny_gguf_q4_0", kTinyGguf, "q4_0"}, Case{"stories_f32", kStories, "f32"},
                      Case{"stories_q8_0", kStories, "q8_0"}, Case{"stories_q4_0", kStories, "q4_0"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// The default layout: Q8_0 / Q4_0 linears (and an untied head) are stored 16-row interleaved, the embedding and
// float weights keep their rows, the weights are still views into the file, and the model computes what the
// row-layout file computes - the same integer block sums, so the same greedy ids and logits up to the fp32 order
// of the block sums.
class LlamaCompiledX16 : public ::testing::TestWithParam<Case> {};

// max |got - want| over max |want| for the logits of step `step` (vectors of `vocab`).
double relative_difference(const Greedy& got, const Greedy& want, size_t vocab, size_t step) {
  double diff = 0, scale = 0;
  for (size_t i = step * vocab; i < (step + 1) * vocab; ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(got.logits[i]) - want.logits[i]));
    scale = std::max(scale, std::abs(static_cast<double>(want.logits[i])));
  }
  return diff / scale;
}

TEST_P(LlamaCompiledX16, InterleavedLinearsComputeWhatTheRowLayoutDoes) {
  const Case& c = GetParam();
  fixtures::TempDir dir;
  const LlamaOptions options{.isa = "", .precision = c.precision};
  const LlamaCompileResult r = LlamaModel::compile(c.source, options, dir / "x16.mlf");
  LlamaModel::compile(c.source, options, dir / "rows.mlf", LlamaWeightLayout::Rows);
  EXPECT_TRUE(r.interleaved);

  const auto file = MlfFile::open(dir / "x16.mlf");
  const auto rows_file = MlfFile::open(dir / "rows.mlf");
  int interleaved = 0;
  size_t padding = 0;
  for (const MlfEntry& e : file->entries()) {
    const MlfEntry& row_form = *rows_file->find(e.name);
    const bool linear = e.name.find("_norm") == std::string_view::npos &&
                        (e.name.rfind("blk.", 0) == 0 || e.name == "output.weight");
    if (linear && (row_form.type == MlfType::Q8_0 || row_form.type == MlfType::Q4_0)) {
      EXPECT_EQ(e.type, row_form.type == MlfType::Q8_0 ? MlfType::Q8_0_X16 : MlfType::Q4_0_X16) << e.name;
      EXPECT_EQ(e.dims, row_form.dims) << e.name;
      EXPECT_EQ(e.size, x16_weight_bytes(e.type == MlfType::Q8_0_X16 ? QuantType::Q8_0_X16 : QuantType::Q4_0_X16,
                                         e.dims[0], e.dims[1]))
          << e.name;
      padding += e.size - row_form.size;
      ++interleaved;
    } else {
      EXPECT_EQ(e.type, row_form.type) << e.name;  // the embedding, norms, float linears, metadata
      EXPECT_TRUE(e.text() == row_form.text()) << e.name;
    }
  }
  EXPECT_GE(interleaved, 7) << "too few interleaved linears";
  EXPECT_NE(file->find("token_embd.weight")->type, MlfType::Q8_0_X16);
  EXPECT_NE(file->find("token_embd.weight")->type, MlfType::Q4_0_X16);

  const auto x16 = LlamaModel::load(dir / "x16.mlf");
  const auto rows = LlamaModel::load(dir / "rows.mlf");
  expect_weights_in_file(*x16);
  EXPECT_EQ(x16->weight_type(), rows->weight_type());  // the precision, whatever the layout
  EXPECT_TRUE(x16->interleaved_weights());
  EXPECT_FALSE(rows->interleaved_weights());
  EXPECT_EQ(x16->weight_bytes() - rows->weight_bytes(), padding);  // the zero rows completing the last groups

  const std::vector<int32_t> prompt = rows->tokenizer()->encode("Once upon a time, a little");
  const Greedy want = greedy(rows, prompt, 16);
  const Greedy got = greedy(x16, prompt, 16);
  EXPECT_EQ(got.ids, want.ids);
  ASSERT_EQ(got.logits.size(), want.logits.size());
  // The prompt's last position: only the fp32 order of the block sums differs.
  const size_t vocab = static_cast<size_t>(rows->config().vocab_size);
  EXPECT_LE(relative_difference(got, want, vocab, 0), 1e-5);
  // Later steps carry those ~1e-7 differences in the KV cache and the hidden state, where one may tip an
  // activation's rounding to its int8 code (a step of d = max|x| / 127) and move the logits by about a percent:
  // stories q4_0 at the avx2 and portable levels, 0.013 at step 15 - as much as the row-layout file alone moves
  // there between the avx512vnni and avx2 kernels. A wrong layout would move them by 100%.
  for (size_t step = 1; step < got.ids.size(); ++step) EXPECT_LE(relative_difference(got, want, vocab, step), 0.05);

  // Asking an interleaved file for its own precision is a no-op; for another one, refused as for any quantized file.
  const auto again = LlamaModel::load(dir / "x16.mlf", options);
  EXPECT_EQ(greedy(again, prompt, 4).ids, std::vector<int32_t>(want.ids.begin(), want.ids.begin() + 4));
  EXPECT_THROW(LlamaModel::load(dir / "x16.mlf", {.isa = "", .precision = "f16"}), FormatError);

  // Recompiling: the interleaved file as it is, or back to rows - the row-layout file's weights byte for byte.
  LlamaModel::compile(dir / "x16.mlf", {}, dir / "x16_again.mlf");
  LlamaModel::compile(dir / "x16.mlf", {}, dir / "rows_again.mlf", LlamaWeightLayout::Rows);
  const auto x16_again = MlfFile::open(dir / "x16_again.mlf");
  const auto rows_again = MlfFile::open(dir / "rows_again.mlf");
  for (const MlfEntry& e : file->entries()) {
    if (e.name == "llama/source_format") continue;
    EXPECT_TRUE(x16_again->find(e.name)->text() == e.text()) << e.name;
    EXPECT_EQ(rows_again->find(e.name)->type, rows_file->find(e.name)->type) << e.name;
    EXPECT_TRUE(rows_again->find(e.name)->text() == rows_file->find(e.name)->text()) << e.name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sources, LlamaCompiledX16,
    ::testing::Values(Case{"tiny_gguf_q8_0", kTinyGguf, "q8_0"}, Case{"tiny_gguf_q4_0", kTinyGguf, "q4_0"},
                      Case{"tiny_hf_q4_0", kTiny, "q4_0"}, Case{"stories_q8_0", kStories, "q8_0"},
                      Case{"stories_q4_0", kStories, "q4_0"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// A quantized source (here a row-layout .mlf, as a Q8_0 GGUF would be) is interleaved too, with no --precision.
TEST(LlamaCompiledX16Source, QuantizedSourceIsInterleavedAsItIs) {
  fixtures::TempDir dir;
  LlamaModel::compile(kTinyGguf, {.isa = "", .precision = "q8_0"}, dir / "rows.mlf", LlamaWeightLayout::Rows);
  const LlamaCompileResult r = LlamaModel::compile(dir / "rows.mlf", {}, dir / "x16.mlf");
  EXPECT_TRUE(r.interleaved);
  EXPECT_EQ(r.weight_type, QuantType::Q8_0);
  EXPECT_EQ(MlfFile::open(dir / "x16.mlf")->find("blk.0.attn_q.weight")->type, MlfType::Q8_0_X16);
  const auto rows = LlamaModel::load(dir / "rows.mlf");
  const auto x16 = LlamaModel::load(dir / "x16.mlf");
  EXPECT_EQ(greedy(x16, {1, 400, 500}, 8).ids, greedy(rows, {1, 400, 500}, 8).ids);
}

TEST(LlamaCompiledTokenizer, AllFixtureRowsAndChatRenderingsIdentical) {
  fixtures::TempDir dir;
  const std::string out = dir / "tiny.mlf";
  LlamaModel::compile(kTiny, {}, out);
  const auto compiled = LlamaModel::load(out);
  const auto source = LlamaTokenizer::from_model_file(kTiny + "/tokenizer.model");
  const LlamaTokenizer& tok = *compiled->tokenizer();
  const auto rows = read_jsonl(kLlama + "tokenizer_expected.jsonl");
  ASSERT_EQ(rows.size(), 400u);
  size_t same = 0;
  for (const json& row : rows) {
    const auto expected = row["input_ids"].get<std::vector<int32_t>>();
    const auto ids = tok.encode(row["text"].get<std::string>());
    EXPECT_EQ(ids, expected) << row["text"].dump();
    EXPECT_EQ(tok.decode(expected), row["decoded"].get<std::string>()) << row["text"].dump();
    same += ids == expected;
  }
  EXPECT_EQ(same, 400u);
  EXPECT_EQ(tok.vocab().pieces, source->vocab().pieces);
  EXPECT_EQ(tok.vocab().scores, source->vocab().scores);
  EXPECT_EQ(tok.vocab().kinds, source->vocab().kinds);

  ASSERT_FALSE(compiled->chat_template().empty());
  EXPECT_EQ(compiled->chat_template(), source->vocab().chat_template);
  const ChatTemplate from_mlf(compiled->chat_template()), from_source(source->vocab().chat_template);
  size_t chats = 0;
  for (const json& row : read_jsonl(kTiny + "/expected.jsonl")) {
    if (row["kind"] != "chat") continue;
    std::vector<ChatMessage> messages;
    for (const json& m : row["messages"]) messages.push_back({m["role"], m["content"]});
    const std::string rendered = from_mlf.render(messages, true, tok.piece(tok.bos_id()), tok.piece(tok.eos_id()));
    EXPECT_EQ(rendered, from_source.render(messages, true, "<s>", "</s>"));
    EXPECT_EQ(rendered, row["rendered"].get<std::string>());
    EXPECT_EQ(tok.encode(rendered, false), row["input_ids"].get<std::vector<int32_t>>());
    ++chats;
  }
  EXPECT_EQ(chats, 5u);
}

TEST(LlamaCompiledTokenizer, Llama2cRulesSurviveCompilation) {
  fixtures::TempDir dir;
  LlamaModel::compile(kStories, {.isa = "", .precision = "q4_0"}, dir / "s.mlf");
  const auto compiled = LlamaModel::load(dir / "s.mlf");
  const auto source = LlamaModel::load(kStories);
  EXPECT_TRUE(compiled->tokenizer()->vocab().llama2c_rules);
  for (const char* text : {"", "Once upon a time", "Lily and Tom's big dog ran. 123 ü"}) {
    EXPECT_EQ(compiled->tokenizer()->encode(text), source->tokenizer()->encode(text)) << text;
  }
}

// ---- damaged files ----

constexpr size_t kHeader = 128, kRecord = 64;

uint64_t fnv1a(const std::string& bytes, size_t from, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
  for (size_t i = from; i < from + n; ++i) {
    h ^= static_cast<uint8_t>(bytes[i]);
    h *= 0x100000001b3ull;
  }
  return h;
}

template <typename T>
T get(const std::string& b, size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

// The table record of entry `name` in file bytes `b`.
size_t record_of(const std::string& b, const std::string& name) {
  const uint32_t count = get<uint32_t>(b, 20);
  const uint64_t names = get<uint64_t>(b, 32);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t r = kHeader + i * kRecord;
    if (b.compare(names + get<uint32_t>(b, r + 16), get<uint32_t>(b, r + 20), name) == 0) return r;
  }
  throw std::runtime_error("no entry " + name);
}

void fix_checksum(std::string* b) {
  const uint32_t count = get<uint32_t>(*b, 20);
  const uint64_t names = get<uint64_t>(*b, 32), names_size = get<uint64_t>(*b, 40);
  const uint64_t sum = fnv1a(*b, names, names_size, fnv1a(*b, kHeader, count * kRecord));
  std::memcpy(b->data() + 56, &sum, sizeof sum);
}

class LlamaCompiledDamage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fixtures::TempDir();
    LlamaModel::compile(kStories, {.isa = "", .precision = "q4_0"}, *dir_ / "good.mlf");
    good_ = new std::string(fixtures::read_file(*dir_ / "good.mlf"));
  }
  static void TearDownTestSuite() {
    delete good_;
    delete dir_;
  }
  // The one-line FormatError that loading `bytes` gives.
  static std::string error_of(const std::string& bytes) {
    const std::string path = fixtures::write_file(*dir_ / "bad.mlf", bytes);
    try {
      LlamaModel::load(path);
    } catch (const FormatError& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      EXPECT_EQ(what.rfind(path, 0), 0u) << what;
      return what;
    }
    ADD_FAILURE() << "loaded a damaged file";
    return "";
  }
  static fixtures::TempDir* dir_;
  static std::string* good_;
};
fixtures::TempDir* LlamaCompiledDamage::dir_ = nullptr;
std::string* LlamaCompiledDamage::good_ = nullptr;

TEST_F(LlamaCompiledDamage, Truncated) {
  EXPECT_NE(error_of(good_->substr(0, good_->size() / 2)).find("truncated"), std::string::npos);
  EXPECT_NE(error_of(good_->substr(0, 100)).find("truncated"), std::string::npos);
}

TEST_F(LlamaCompiledDamage, ChecksumMismatch) {
  std::string b = *good_;
  b[kHeader + 3] ^= 1;  // an entry's offset
  EXPECT_NE(error_of(b).find("checksum"), std::string::npos);
}

TEST_F(LlamaCompiledDamage, WrongArchitectureEntry) {
  std::string b = *good_;
  const size_t r = record_of(b, "meta/architecture");
  b[get<uint64_t>(b, r) + 4] = 'x';  // "llamx": data bytes, outside the checksum
  EXPECT_NE(error_of(b).find("architecture"), std::string::npos);
}

TEST_F(LlamaCompiledDamage, WeightSizeDisagreesWithItsType) {
  // (Q4_0 would fit: with whole groups of 16 rows both layouts take the same bytes, so it loads as damaged data.)
  for (MlfType other : {MlfType::Q8_0_X16, MlfType::Q8_0}) {
    std::string b = *good_;
    const size_t r = record_of(b, "blk.0.attn_q.weight");
    ASSERT_EQ(static_cast<MlfType>(b[r + 24]), MlfType::Q4_0_X16);  // the default layout
    b[r + 24] = static_cast<char>(other);
    fix_checksum(&b);
    const std::string e = error_of(b);
    EXPECT_NE(e.find("blk.0.attn_q.weight"), std::string::npos) << e;
    EXPECT_NE(e.find("do not hold"), std::string::npos) << e;
  }
}

TEST_F(LlamaCompiledDamage, UnknownWeightType) {
  std::string b = *good_;
  b[record_of(b, "blk.0.attn_q.weight") + 24] = 13;  // the type after q4_0_x16
  fix_checksum(&b);
  EXPECT_NE(error_of(b).find("entry 'blk.0.attn_q.weight': unknown type 13"), std::string::npos);
}

// An interleaved entry holds whole groups of 16 rows: the row layout's size (no padding rows) is refused.
TEST_F(LlamaCompiledDamage, InterleavedWeightWithoutItsPaddingRows) {
  std::string b = *good_;
  const size_t r = record_of(b, "blk.0.ffn_gate.weight");
  ASSERT_EQ(static_cast<MlfType>(b[r + 24]), MlfType::Q4_0_X16);
  const int64_t rows = get<int64_t>(b, r + 32), k = get<int64_t>(b, r + 40);
  ASSERT_NE(rows % 16, 0) << "the fixture's FFN should have a partial group";
  const uint64_t unpadded = static_cast<uint64_t>(rows) * quant_row_bytes(QuantType::Q4_0, k);
  ASSERT_LT(unpadded, get<uint64_t>(b, r + 8));
  std::memcpy(b.data() + r + 8, &unpadded, 8);
  fix_checksum(&b);
  const std::string e = error_of(b);
  EXPECT_NE(e.find("entry 'blk.0.ffn_gate.weight': " + std::to_string(unpadded) + " bytes do not hold [" +
                   std::to_string(rows) + ", " + std::to_string(k) + "] q4_0_x16"),
            std::string::npos)
      << e;
}

TEST_F(LlamaCompiledDamage, InterleavedWeightNot2D) {
  std::string b = *good_;
  const size_t r = record_of(b, "blk.0.attn_q.weight");
  const int64_t rows = get<int64_t>(b, r + 32), k = get<int64_t>(b, r + 40), one = 1;
  const uint8_t rank = 3;
  std::memcpy(b.data() + r + 25, &rank, 1);  // [rows, 1, k]: the same element count
  std::memcpy(b.data() + r + 40, &one, 8);
  std::memcpy(b.data() + r + 48, &k, 8);
  fix_checksum(&b);
  const std::string e = error_of(b);
  EXPECT_NE(e.find("entry 'blk.0.attn_q.weight': [" + std::to_string(rows) + ", 1, " + std::to_string(k) +
                   "] q4_0_x16 is not 2-D"),
            std::string::npos)
      << e;
}

// Cut inside an interleaved weight, with the header's size made to agree: the entry (the first in the table to
// reach past the cut) overruns.
TEST_F(LlamaCompiledDamage, TruncatedInsideAnInterleavedWeight) {
  std::string b = *good_;
  const size_t r = record_of(b, "blk.0.attn_q.weight");
  ASSERT_EQ(static_cast<MlfType>(b[r + 24]), MlfType::Q4_0_X16);
  const uint64_t cut = get<uint64_t>(b, r) + get<uint64_t>(b, r + 8) / 2;
  b.resize(cut);
  std::memcpy(b.data() + 48, &cut, 8);
  EXPECT_NE(error_of(b).find("entry 'blk.0.attn_q.weight': data outside the file"), std::string::npos);
}

TEST_F(LlamaCompiledDamage, WeightDimsNotWholeBlocks) {
  std::string b = *good_;
  const size_t r = record_of(b, "blk.0.attn_q.weight");
  const int64_t rows = get<int64_t>(b, r + 32), k = get<int64_t>(b, r + 40);
  const int64_t bad_rows = rows * 2, bad_k = k / 2 + 1;
  std::memcpy(b.data() + r + 32, &bad_rows, 8);
  std::memcpy(b.data() + r + 40, &bad_k, 8);
  fix_checksum(&b);
  EXPECT_NE(error_of(b).find("whole blocks"), std::string::npos);
}

TEST_F(LlamaCompiledDamage, WeightOfAnotherShape) {
  std::string b = *good_;
  const size_t r = record_of(b, "blk.0.attn_q.weight");
  const int64_t rows = get<int64_t>(b, r + 32), k = get<int64_t>(b, r + 40);
  const int64_t rows2 = rows / 2, k2 = k * 2;  // same bytes, other shape
  std::memcpy(b.data() + r + 32, &rows2, 8);
  std::memcpy(b.data() + r + 40, &k2, 8);
  fix_checksum(&b);
  EXPECT_NE(error_of(b).find("blk.0.attn_q.weight"), std::string::npos);
}

TEST_F(LlamaCompiledDamage, TokenizerKindsShorterThanTheVocabulary) {
  std::string b = *good_;
  const size_t r = record_of(b, "tokenizer/kinds");
  const uint64_t zero = 0;
  const uint8_t rank = 2;
  std::memcpy(b.data() + r + 8, &zero, 8);  // size 0 ...
  std::memcpy(b.data() + r + 25, &rank, 1);
  std::memcpy(b.data() + r + 40, &zero, 8);  // ... as dims [n, 0]: consistent, but holds no kind
  fix_checksum(&b);
  EXPECT_NE(error_of(b).find("tokenizer/kinds"), std::string::npos);
}

TEST(LlamaCompiledArchitecture, BertAndLlamaLoadersRefuseEachOther) {
  fixtures::TempDir dir;
  const std::string llama = dir / "llama.mlf";
  LlamaModel::compile(kStories, {}, llama);
  try {
    Model::load(llama);
    ADD_FAILURE() << "the BERT loader took a Llama file";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("Llama model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mlfaas generate"), std::string::npos) << e.what();
  }
  // A BERT-family .mlf from the fuzz seeds (compiled by this mlfaas).
  const std::string bert = std::string(MLFAAS_TEST_DATA) + "/../fuzz/corpus/mlf/bert_fp32.mlf";
  try {
    LlamaModel::load(bert);
    ADD_FAILURE() << "the Llama loader took a BERT file";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("BERT"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mlfaas predict"), std::string::npos) << e.what();
  }
}

TEST(LlamaCompiledPrecision, QuantizedSourcesKeepTheirTypes) {
  fixtures::TempDir dir;
  LlamaModel::compile(kTinyGguf, {.isa = "", .precision = "q4_0"}, dir / "q4.mlf");
  // Re-encoding the quantized file is refused, at compile as at load.
  EXPECT_THROW(LlamaModel::compile(dir / "q4.mlf", {.isa = "", .precision = "q8_0"}, dir / "q8.mlf"), FormatError);
  EXPECT_THROW(LlamaModel::load(dir / "q4.mlf", {.isa = "", .precision = "q8_0"}), FormatError);
  // Compiling a compiled file as it is gives the same weights.
  LlamaModel::compile(dir / "q4.mlf", {}, dir / "again.mlf");
  EXPECT_EQ(LlamaModel::load(dir / "again.mlf")->weight_type(), QuantType::Q4_0);
  // An f32 file re-encodes at load like its source.
  LlamaModel::compile(kTinyGguf, {}, dir / "f32.mlf");
  const auto from_mlf = LlamaModel::load(dir / "f32.mlf", {.isa = "", .precision = "q8_0"});
  const auto from_gguf = LlamaModel::load(kTinyGguf, {.isa = "", .precision = "q8_0"});
  EXPECT_EQ(greedy(from_mlf, {1, 400, 500}, 8).logits, greedy(from_gguf, {1, 400, 500}, 8).logits);
}

}  // namespace
}  // namespace mlfaas
