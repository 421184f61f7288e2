// The Llama forward pass and generation against the HF reference fixtures (tests/data/llama/README.md):
// last-position logits within 1e-4 of transformers' fp32 (the fixtures' own fp32-vs-f64 spread is <= 1e-5, so
// 1e-4 leaves 10x room for our different summation order while still catching any wrong op, which moves logits by
// 1e-2 or more), and greedy continuations identical (the smallest top1-top2 gap along them is 2.8e-4 for
// tiny-llama and 0.018 for stories260K, above the 1e-4 drift, so exact equality is a fair demand).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/formats/gguf.h"
#include "engine/formats/weights.h"
#include "engine/llm/generate.h"
#include "engine/llm/llama.h"
#include "engine/tokenizer/sentencepiece.h"
#include "format_fixtures.h"
#include "gguf_writer.h"

namespace mlfaas {
namespace {

using nlohmann::json;

const std::string kLlama = std::string(MLFAAS_TEST_DATA) + "/llama/";
const std::string kTiny = kLlama + "tiny-llama";
const std::string kTinyGguf = kLlama + "tiny-llama/model-f32.gguf";
const std::string kTinyF16 = kLlama + "tiny-llama-f16";
const std::string kStories = std::string(MLFAAS_TEST_DATA) + "/../../models/stories260K";

std::vector<json> read_rows(const std::string& path, bool model_rows_only = false) {
  std::ifstream in(path);
  std::vector<json> rows;
  std::string line;
  while (std::getline(in, line)) {
    json row = json::parse(line);
    const std::string kind = row.value("kind", "text");
    if (model_rows_only && kind != "text" && kind != "chat") continue;
    rows.push_back(std::move(row));
  }
  return rows;
}

float max_abs_diff(std::span<const float> got, const json& want) {
  EXPECT_EQ(got.size(), want.size());
  float worst = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    worst = std::max(worst, std::fabs(got[i] - want[i].get<float>()));
  }
  return worst;
}

int32_t argmax(std::span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// Greedy decoding with the KV cache, EOS ignored (as the fixtures' rows, none of which reach EOS early).
std::vector<int32_t> greedy(LlamaSession& session, const std::vector<int32_t>& prompt, int steps) {
  session.reset();
  std::span<const float> logits = session.forward(prompt);
  std::vector<int32_t> out;
  for (int i = 0; i < steps; ++i) {
    out.push_back(argmax(logits));
    if (i + 1 < steps) logits = session.forward(std::span<const int32_t>(&out.back(), 1));
  }
  return out;
}

void check_fixture(const std::string& model_path, const std::string& fixture, int steps, int threads = 2,
                   const std::string& isa = "") {
  auto model = LlamaModel::load(model_path, {.isa = isa, .precision = ""});
  LlamaSession session(model, {.threads = threads});
  const std::vector<json> rows = read_rows(fixture, true);
  ASSERT_FALSE(rows.empty());
  float worst = 0;
  for (const json& row : rows) {
    const auto ids = row["input_ids"].get<std::vector<int32_t>>();
    session.reset();
    const float diff = max_abs_diff(session.forward(ids), row["last_logits"]);
    worst = std::max(worst, diff);
    EXPECT_LE(diff, 1e-4f) << model_path << " prompt " << row.value("prompt", row.dump().substr(0, 60));
    if (steps > 0) {
      EXPECT_EQ(greedy(session, ids, steps), row["greedy_new_ids"].get<std::vector<int32_t>>())
          << model_path << " prompt " << row.value("prompt", "(chat)");
    }
  }
  std::printf("%s%s%s: %zu rows, max |logit diff| %.3g\n", model_path.c_str(), isa.empty() ? "" : " at ", isa.c_str(),
              rows.size(), worst);
}

TEST(LlamaModel, HfF32MatchesTransformers) { check_fixture(kTiny, kTiny + "/expected.jsonl", 24); }

TEST(LlamaModel, GgufF32MatchesTransformers) { check_fixture(kTinyGguf, kTiny + "/expected.jsonl", 24); }

// A directory holding one GGUF file (a package's model/) loads that file; with two it is refused, naming both kinds.
TEST(LlamaModel, DirectoryWithOneGgufLoadsIt) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / "one-gguf";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::create_symlink(fs::absolute(kTinyGguf), dir / "tiny.gguf");
  check_fixture(dir.string(), kTiny + "/expected.jsonl", 24);
  fs::create_symlink(fs::absolute(kTinyGguf), dir / "other.gguf");
  try {
    LlamaModel::load(dir.string());
    FAIL() << "two GGUF files loaded";
  } catch (const mlfaas::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("exactly one *.gguf"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// The same for the one compiled .mlf (a function shipping the compiled model): the directory loads it as the file.
TEST(LlamaModel, DirectoryWithOneMlfLoadsIt) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / "one-mlf";
  fs::remove_all(dir);
  fs::create_directories(dir);
  LlamaModel::compile(kTinyGguf, {}, (dir / "tiny.mlf").string());
  const auto from_dir = LlamaModel::load(dir.string());
  EXPECT_EQ(from_dir->config().format, "mlf");
  check_fixture(dir.string(), kTiny + "/expected.jsonl", 24);
  fs::copy_file(dir / "tiny.mlf", dir / "other.mlf");
  try {
    LlamaModel::load(dir.string());
    FAIL() << "two .mlf files loaded";
  } catch (const mlfaas::FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("exactly one compiled *.mlf"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(LlamaModel, HfF16MatchesUpcastReference) { check_fixture(kTinyF16, kTinyF16 + "/expected.jsonl", 0); }

TEST(LlamaModel, Stories260KMatchesTransformers) { check_fixture(kStories, kLlama + "stories260K_expected.jsonl", 32); }

TEST(LlamaModel, ConfigAndDefaults) {
  auto model = LlamaModel::load(kTiny);
  const LlamaConfig& c = model->config();
  EXPECT_EQ(c.format, "hf");
  EXPECT_EQ(c.vocab_size, 1024);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.rotary, RotaryLayout::HalfSplit);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(model->weight_type(), QuantType::F32);
  // Every parameter once, fp32: embedding and head 2 x 1024 x 64, per layer q,o 64x64, k,v 32x64, gate,up,down
  // 172x64 and two norms of 64, the final norm.
  const size_t params = 2 * 1024 * 64 + 4 * (2 * 64 * 64 + 2 * 32 * 64 + 3 * 172 * 64 + 2 * 64) + 64;
  EXPECT_EQ(model->weight_bytes(), params * 4);
  EXPECT_EQ(model->generation_defaults().eos_token_ids, std::vector<int>{2});
  LlamaSession session(model);
  EXPECT_EQ(session.context(), 256);
}

// Chunked prefill (the session's kPrefillChunk split, and a caller feeding pieces) gives the one-shot logits.
TEST(LlamaModel, PrefillInPiecesEqualsOneShot) {
  auto model = LlamaModel::load(kTiny);
  LlamaSession one(model, {.threads = 2}), pieces(model, {.threads = 1});
  const auto rows = read_rows(kTiny + "/expected.jsonl", true);
  std::vector<int32_t> longest;
  for (const auto& row : rows) {
    auto ids = row["input_ids"].get<std::vector<int32_t>>();
    if (ids.size() > longest.size()) longest = ids;
  }
  ASSERT_GT(longest.size(), 100u);
  const auto ref = one.forward(longest);
  const std::vector<float> expected(ref.begin(), ref.end());
  std::span<const float> got;
  size_t done = 0;
  for (size_t piece : {1u, 7u, 50u}) {
    got = pieces.forward(std::span<const int32_t>(longest.data() + done, piece));
    done += piece;
  }
  got = pieces.forward(std::span<const int32_t>(longest.data() + done, longest.size() - done));
  EXPECT_EQ(pieces.pos(), static_cast<int>(longest.size()));
  float worst = 0;
  for (size_t i = 0; i < expected.size(); ++i) worst = std::max(worst, std::fabs(got[i] - expected[i]));
  EXPECT_LE(worst, 1e-5f);
}

TEST(LlamaModel, PrefillAcrossChunkBoundaryEqualsTokenByToken) {
  auto model = LlamaModel::load(kStories);
  const int n = LlamaSession::kPrefillChunk + 44;
  std::vector<int32_t> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = (i * 37 + 11) % model->config().vocab_size;
  ids[0] = 1;
  LlamaSession chunked(model, {.threads = 2}), stepwise(model);
  const auto a = chunked.forward(ids);
  std::span<const float> b;
  for (int i = 0; i < n; ++i) b = stepwise.forward(std::span<const int32_t>(&ids[i], 1));
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  EXPECT_LE(worst, 1e-4f);
}

TEST(LlamaModel, EveryKernelLevelGivesTheSameGreedyIds) {
  for (Isa isa : supported_isas()) {
    SCOPED_TRACE(std::string(isa_name(isa)));
    check_fixture(kTiny, kTiny + "/expected.jsonl", 24, 2, std::string(isa_name(isa)));
  }
}

// Re-encoding the fp32 weights: how long the greedy continuation stays with fp32's. The random tiny-llama is
// chaotic (each relative weight error comes out ~16x larger in the logits: f16's 3e-4 gives 8e-3, q4_0's ~8% gives
// ~3) and its top-2 gaps go down to 3e-4, so its floors are loose; the trained stories260K is the meaningful row.
// The table is the information.
struct PrecisionFloor {
  const char* precision;
  double tiny_prefix, stories_prefix;  // mean agreeing greedy prefix must reach these
};

void precision_table(const std::string& path, const std::string& fixture, int steps, bool stories) {
  const auto rows = read_rows(fixture, true);
  std::printf("%s\nprecision  weight_bytes  mean_agreeing_prefix/%d  tokens_equal  max|logit diff|\n", path.c_str(),
              steps);
  for (const PrecisionFloor& p :
       {PrecisionFloor{"f16", 20, 30}, PrecisionFloor{"q8_0", 8, 16}, PrecisionFloor{"q4_0", 0.5, 4}}) {
    auto model = LlamaModel::load(path, {.isa = "", .precision = p.precision});
    LlamaSession session(model, {.threads = 2});
    double prefix_sum = 0;
    int equal = 0, total = 0;
    float worst = 0;
    for (const auto& row : rows) {
      const auto ids = row["input_ids"].get<std::vector<int32_t>>();
      session.reset();
      worst = std::max(worst, max_abs_diff(session.forward(ids), row["last_logits"]));
      const auto want = row["greedy_new_ids"].get<std::vector<int32_t>>();
      const auto got = greedy(session, ids, steps);
      size_t prefix = 0;
      while (prefix < got.size() && got[prefix] == want[prefix]) ++prefix;
      prefix_sum += prefix;
      for (size_t i = 0; i < got.size(); ++i) equal += got[i] == want[i];
      total += static_cast<int>(got.size());
    }
    const double mean_prefix = prefix_sum / rows.size();
    std::printf("%-9s  %12zu  %23.1f  %11.0f%%  %15.3g\n", p.precision, model->weight_bytes(), mean_prefix,
                100.0 * equal / total, worst);
    const std::string name = p.precision;
    EXPECT_EQ(model->weight_type(), name == "f16"    ? QuantType::F16
                                    : name == "q8_0" ? QuantType::Q8_0
                                                     : QuantType::Q4_0);
    EXPECT_GE(mean_prefix, stories ? p.stories_prefix : p.tiny_prefix) << path << " " << name;
  }
}

TEST(LlamaModel, QuantizedPrecisionAgreesWithF32) {
  precision_table(kTiny, kTiny + "/expected.jsonl", 24, false);
  precision_table(kStories, kLlama + "stories260K_expected.jsonl", 32, true);
}

TEST(LlamaModel, ForwardRefusesBadInputAndKeepsItsState) {
  auto model = LlamaModel::load(kTiny);
  LlamaSession session(model, {.context = 16});
  EXPECT_EQ(session.context(), 16);
  std::vector<int32_t> ids = {1, 5, 9};
  session.forward(ids);
  EXPECT_THROW(session.forward(std::vector<int32_t>{}), InputError);
  EXPECT_THROW(session.forward(std::vector<int32_t>{1024}), InputError);
  EXPECT_THROW(session.forward(std::vector<int32_t>{-1}), InputError);
  EXPECT_THROW(session.forward(std::vector<int32_t>(14, 3)), InputError);
  EXPECT_EQ(session.pos(), 3);
  session.truncate(1);
  EXPECT_EQ(session.pos(), 1);
  EXPECT_THROW(session.truncate(2), InputError);
  session.reset();
  try {
    session.forward(std::vector<int32_t>(17, 3));
    FAIL() << "a prompt longer than the context ran";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "prompt of 17 tokens does not fit the context of 16");
  }
  EXPECT_THROW(LlamaSession(model, {.context = 257}), InputError);
}

// A copy of tiny-llama with one file changed, to check the loader's refusals.
class BrokenCopy {
 public:
  BrokenCopy() {
    for (const auto& entry : std::filesystem::directory_iterator(kTiny)) {
      if (entry.path().extension() == ".gguf") continue;
      std::filesystem::copy_file(entry.path(), dir_ / entry.path().filename().string());
    }
  }
  std::string path() const {
    const std::string any = dir_ / "x";
    return any.substr(0, any.size() - 2);
  }
  std::string file(const std::string& name) const { return dir_ / name; }

 private:
  fixtures::TempDir dir_;
};

std::string load_error(const std::string& path) {
  try {
    LlamaModel::load(path);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "(loaded)";
}

TEST(LlamaModel, LoaderRefusals) {
  {
    BrokenCopy copy;
    std::string config = fixtures::read_file(copy.file("config.json"));
    config.replace(config.find("\"rope_scaling\": null"), 20,
                   "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}");
    fixtures::write_file(copy.file("config.json"), config);
    const std::string error = load_error(copy.path());
    EXPECT_NE(error.find("config.json: rope_scaling"), std::string::npos) << error;
  }
  {
    BrokenCopy copy;
    std::string config = fixtures::read_file(copy.file("config.json"));
    config.replace(config.find("\"num_key_value_heads\": 4"), 24, "\"num_key_value_heads\": 3");
    fixtures::write_file(copy.file("config.json"), config);
    EXPECT_NE(load_error(copy.path()).find("not a multiple of num_key_value_heads"), std::string::npos);
  }
  {
    BrokenCopy copy;
    std::string config = fixtures::read_file(copy.file("config.json"));
    config.replace(config.find("\"intermediate_size\": 172"), 24, "\"intermediate_size\": 170");
    fixtures::write_file(copy.file("config.json"), config);
    const std::string error = load_error(copy.path());
    EXPECT_NE(error.find("model.safetensors: tensor model.layers.0.mlp.gate_proj.weight has shape [172, 64], "
                         "expected [170, 64]"),
              std::string::npos)
        << error;
  }
  {
    BrokenCopy copy;
    std::filesystem::remove(copy.file("model.safetensors"));
    EXPECT_NE(load_error(copy.path()).find("model.safetensors"), std::string::npos);
  }
  {
    // Tied: the head is the embedding matrix (HF ignores a lm_head.weight in the file), counted once.
    BrokenCopy copy;
    std::string config = fixtures::read_file(copy.file("config.json"));
    config.replace(config.find("\"tie_word_embeddings\": false"), 28, "\"tie_word_embeddings\": true");
    fixtures::write_file(copy.file("config.json"), config);
    auto tied = LlamaModel::load(copy.path());
    EXPECT_TRUE(tied->config().tie_word_embeddings);
    EXPECT_EQ(tied->weight_bytes(), LlamaModel::load(kTiny)->weight_bytes() - 1024 * 64 * 4);
    LlamaSession session(tied);
    EXPECT_EQ(session.forward(std::vector<int32_t>{1}).size(), 1024u);
  }
  EXPECT_NE(load_error(kLlama + "no-such-model").find("no such file"), std::string::npos);
  EXPECT_THROW(LlamaModel::load(kTiny, {.isa = "", .precision = "q5_1"}), std::invalid_argument);
}

// tiny-llama's safetensors rewritten with every tensor rounded to bf16, once stored as BF16 and once as F32: the
// BF16 weights are used in place (as TinyLlama-1.1B-Chat ships them) and give the F32 run's logits up to summation
// order.
TEST(LlamaModel, Bf16WeightsRunInPlace) {
  fixtures::TempDir bf16_dir, f32_dir;
  auto source = open_safetensors(kTiny + "/model.safetensors");
  nlohmann::json bf16_header = nlohmann::json::object(), f32_header = nlohmann::json::object();
  std::string bf16_data, f32_data;
  for (const TensorView& t : source->tensors()) {
    const auto* values = reinterpret_cast<const float*>(t.data);
    const size_t n = static_cast<size_t>(t.numel());
    bf16_header[t.name] = {
        {"dtype", "BF16"}, {"shape", t.shape}, {"data_offsets", {bf16_data.size(), bf16_data.size() + 2 * n}}};
    f32_header[t.name] = {
        {"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {f32_data.size(), f32_data.size() + 4 * n}}};
    for (size_t i = 0; i < n; ++i) {
      uint32_t bits;
      std::memcpy(&bits, &values[i], 4);
      const uint16_t bf16 = static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);  // nearest even
      bf16_data.append(reinterpret_cast<const char*>(&bf16), 2);
      const uint32_t rounded = static_cast<uint32_t>(bf16) << 16;
      f32_data.append(reinterpret_cast<const char*>(&rounded), 4);
    }
  }
  for (const auto* dir : {&bf16_dir, &f32_dir}) {
    for (const char* name : {"config.json", "generation_config.json", "tokenizer.model", "tokenizer_config.json"}) {
      std::filesystem::copy_file(kTiny + "/" + name, *dir / name);
    }
  }
  fixtures::write_file(bf16_dir / "model.safetensors", fixtures::safetensors(bf16_header.dump(), bf16_data));
  fixtures::write_file(f32_dir / "model.safetensors", fixtures::safetensors(f32_header.dump(), f32_data));
  auto bf16 = LlamaModel::load(bf16_dir / "");
  auto f32 = LlamaModel::load(f32_dir / "");
  EXPECT_EQ(bf16->weight_type(), QuantType::BF16);
  EXPECT_EQ(bf16->weight_bytes() * 2, f32->weight_bytes() + (4 * 2 * 64 + 64) * 4);  // norms are fp32 in both
  LlamaSession a(bf16), b(f32);
  float worst = 0;
  for (const auto& row : read_rows(kTiny + "/expected.jsonl", true)) {
    const auto ids = row["input_ids"].get<std::vector<int32_t>>();
    a.reset();
    b.reset();
    const auto la = a.forward(ids);
    const std::vector<float> first(la.begin(), la.end());
    const auto lb = b.forward(ids);
    for (size_t i = 0; i < first.size(); ++i) worst = std::max(worst, std::fabs(first[i] - lb[i]));
  }
  EXPECT_LE(worst, 1e-4f);
}

// tiny-llama's F32 GGUF written again with its 2-D weights in `layer_type` (ggml type id; 8 = Q8_0, 2 = Q4_0)
// where the row length allows and output.weight in Q8_0 - what --precision does to the F32 file - leaving out the
// tensor `drop` and overriding general.architecture when asked.
std::string rewrite_tiny_gguf(const std::string& out, uint32_t layer_type, const std::string& drop = "",
                              const std::string& architecture = "llama") {
  auto g = GgufFile::open(kTinyGguf);
  fixtures::GgufWriter w;
  for (const std::string& key : g->keys()) {
    switch (*g->type(key)) {
      case GgufType::String:
        w.kv_str(key, key == "general.architecture" ? architecture : *g->get_string(key));
        break;
      case GgufType::Array:
        try {
          w.kv_str_array(key, *g->get_string_array(key));
        } catch (const FormatError&) {
          try {
            const auto v = *g->get_int_array(key);
            w.kv_i32_array(key, std::vector<int32_t>(v.begin(), v.end()));
          } catch (const FormatError&) {
            w.kv_f32_array(key, *g->get_float_array(key));
          }
        }
        break;
      case GgufType::F32:
      case GgufType::F64:
        w.kv_f32(key, static_cast<float>(*g->get_float(key)));
        break;
      case GgufType::Bool:
        w.kv_bool(key, *g->get_bool(key));
        break;
      default:
        w.kv_u32(key, static_cast<uint32_t>(*g->get_int(key)));
        break;
    }
  }
  for (const GgufTensor& t : g->tensors()) {
    if (t.name == drop) continue;
    const auto* f = reinterpret_cast<const float*>(t.data);
    const std::vector<float> values(f, f + t.numel());
    const bool quantize = t.dims.size() == 2 && t.dims[0] % 32 == 0 && t.name != "token_embd.weight";
    const uint32_t type = !quantize ? 0 : t.name == "output.weight" ? 8 : layer_type;
    if (type == 0) {
      w.tensor_f32(t.name, t.dims, values);
    } else {
      w.tensor(t.name, t.dims, type, type == 8 ? fixtures::quantize_q8_0(values) : fixtures::quantize_q4_0(values));
    }
  }
  return fixtures::write_file(out, w.bytes());
}

// A quantized GGUF runs its blocks in place, and gives exactly what re-encoding the F32 file at load gives.
TEST(LlamaModel, QuantizedGgufEqualsPrecisionOption) {
  fixtures::TempDir dir;
  const auto rows = read_rows(kTiny + "/expected.jsonl", true);
  for (const auto& [type, precision] : {std::pair<uint32_t, std::string>{8, "q8_0"}, {2, "q4_0"}}) {
    auto file = LlamaModel::load(rewrite_tiny_gguf(dir / (precision + ".gguf"), type));
    auto reencoded = LlamaModel::load(kTinyGguf, {.isa = "", .precision = precision});
    EXPECT_EQ(file->weight_type(), reencoded->weight_type());
    EXPECT_EQ(file->weight_bytes(), reencoded->weight_bytes());
    LlamaSession a(file), b(reencoded);
    for (size_t i = 0; i < rows.size(); i += 6) {
      const auto ids = rows[i]["input_ids"].get<std::vector<int32_t>>();
      const auto la = a.forward(ids);
      const std::vector<float> first(la.begin(), la.end());
      const auto lb = b.forward(ids);
      EXPECT_TRUE(std::equal(first.begin(), first.end(), lb.begin())) << precision << " row " << i;
      a.reset();
      b.reset();
    }
    EXPECT_THROW(LlamaModel::load(dir / (precision + ".gguf"), {.isa = "", .precision = "f16"}), FormatError);
  }
}

TEST(LlamaModel, GgufRefusals) {
  fixtures::TempDir dir;
  const std::string missing = rewrite_tiny_gguf(dir / "missing.gguf", 8, "blk.1.ffn_up.weight");
  EXPECT_EQ(load_error(missing), missing + ": missing tensor blk.1.ffn_up.weight");
  const std::string other = rewrite_tiny_gguf(dir / "other.gguf", 8, "", "mamba");
  EXPECT_NE(load_error(other).find(other + ": general.architecture 'mamba' is not supported"), std::string::npos);
}

// --- generate() ---

TEST(LlamaGenerate, GreedyMatchesTransformersTextAndIds) {
  auto model = LlamaModel::load(kTiny);
  LlamaSession session(model, {.threads = 2});
  for (const auto& row : read_rows(kTiny + "/expected.jsonl", true)) {
    GenerateRequest request;
    request.prompt_ids = row["input_ids"].get<std::vector<int32_t>>();
    request.max_new_tokens = 24;
    std::string streamed;
    const GenerateResult result = generate(session, request, [&](std::string_view piece) {
      streamed += piece;
      return true;
    });
    EXPECT_EQ(result.generated_ids, row["greedy_new_ids"].get<std::vector<int32_t>>());
    // The text continues the prompt's: HF's decode of prompt + new ids starts with decode(prompt).
    const std::string prompt_text = model->tokenizer()->decode(request.prompt_ids);
    EXPECT_EQ(prompt_text + result.text, row["greedy_full_text"].get<std::string>());
    EXPECT_EQ(streamed, result.text);
    EXPECT_EQ(result.finish_reason, "length");
    EXPECT_EQ(result.timings.prompt_tokens, static_cast<int>(request.prompt_ids.size()));
    EXPECT_EQ(result.timings.generated_tokens, 24);
  }
}

TEST(LlamaGenerate, StopsAtStopStringsEosContextAndCancel) {
  auto model = LlamaModel::load(kStories);
  const auto row = read_rows(kLlama + "stories260K_expected.jsonl").front();  // "" -> "Once upon a time, ..."
  const std::string text = row["greedy_text"].get<std::string>();
  LlamaSession session(model);
  GenerateRequest request;
  request.prompt_ids = row["input_ids"].get<std::vector<int32_t>>();
  request.max_new_tokens = 32;
  request.ignore_eos = true;

  request.stop = {"little", "time,"};  // "time," comes first
  std::string streamed;
  auto collect = [&](std::string_view piece) {
    streamed += piece;
    return true;
  };
  GenerateResult result = generate(session, request, collect);
  EXPECT_EQ(result.finish_reason, "stop");
  EXPECT_EQ(result.text, text.substr(0, text.find("time,")));
  EXPECT_EQ(streamed, result.text);

  request.stop = {};
  LlamaSession small(model, {.context = 8});
  result = generate(small, request);
  EXPECT_EQ(result.finish_reason, "context");
  EXPECT_EQ(result.generated_ids.size(), 8u);  // 7 cached after the prompt's one, plus the last sampled
  EXPECT_EQ(std::vector<int32_t>(row["greedy_new_ids"].begin(), row["greedy_new_ids"].begin() + 8),
            result.generated_ids);

  int calls = 0;
  result = generate(session, request, [&](std::string_view) { return ++calls < 3; });
  EXPECT_EQ(result.finish_reason, "cancelled");
  EXPECT_EQ(calls, 3);

  request.prompt_ids = std::vector<int32_t>(600, 5);
  EXPECT_THROW(generate(session, request), InputError);
  request.prompt_ids = {};
  EXPECT_THROW(generate(session, request), InputError);
}

TEST(LlamaGenerate, SamplingIsReproducibleFromItsSeed) {
  auto model = LlamaModel::load(kStories);
  LlamaSession session(model);
  GenerateRequest request;
  request.prompt_ids = {1};
  request.max_new_tokens = 40;
  request.ignore_eos = true;
  request.sampling = {.temperature = 0.8f, .top_k = 40, .top_p = 0.9f, .seed = 42};
  const GenerateResult a = generate(session, request);
  const GenerateResult b = generate(session, request);
  EXPECT_EQ(a.generated_ids, b.generated_ids);
  EXPECT_EQ(a.seed, 42u);
  request.sampling.seed = 43;
  const GenerateResult c = generate(session, request);
  EXPECT_NE(a.generated_ids, c.generated_ids);
  // top_k 1 is greedy whatever the seed.
  request.sampling = {.temperature = 1.5f, .top_k = 1, .top_p = 1.0f, .seed = 7};
  const auto row = read_rows(kLlama + "stories260K_expected.jsonl").front();
  request.max_new_tokens = 32;
  EXPECT_EQ(generate(session, request).generated_ids, row["greedy_new_ids"].get<std::vector<int32_t>>());
  // A tiny top_p keeps only the most likely token: greedy too.
  request.sampling = {.temperature = 1.0f, .top_k = 0, .top_p = 1e-6f, .seed = 9};
  EXPECT_EQ(generate(session, request).generated_ids, row["greedy_new_ids"].get<std::vector<int32_t>>());
}

// The first sampled token over 600 seeds: the draws follow softmax(logits / T), top-k and top-p keep exactly HF's
// sets. Deterministic (fixed seeds); the frequency bound is 5 binomial standard deviations.
TEST(LlamaGenerate, SamplingFollowsTheWarpedDistribution) {
  auto model = LlamaModel::load(kStories);
  LlamaSession session(model);
  const std::vector<int32_t> prompt = {1, 317, 269, 274, 287};  // "Lily and Tom"
  const auto ref = session.forward(prompt);
  const std::vector<float> logits(ref.begin(), ref.end());
  const float temperature = 1.5f;
  std::vector<double> p(logits.size());
  const float top = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp((logits[i] - top) / temperature);
  for (double& x : p) x /= sum;
  std::vector<int32_t> order(p.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
  // HF TopPLogitsWarper(0.6): drop the tokens whose ascending cumulative mass is <= 0.4.
  std::set<int32_t> nucleus;
  double ascending = 0;
  for (size_t i = order.size(); i-- > 0;) {
    ascending += p[order[i]];
    if (ascending > 1 - 0.6 || i == 0) nucleus.insert(order[i]);
  }
  std::printf("top probabilities %.3f %.3f %.3f %.3f, nucleus of %zu\n", p[order[0]], p[order[1]], p[order[2]],
              p[order[3]], nucleus.size());
  ASSERT_GT(nucleus.size(), 1u);
  ASSERT_LT(nucleus.size(), 20u);

  GenerateRequest request;
  request.prompt_ids = prompt;
  request.max_new_tokens = 1;
  const int draws = 600;
  std::map<int32_t, int> plain, top3, nucleus_counts;
  for (int seed = 0; seed < draws; ++seed) {
    request.sampling = {.temperature = temperature, .top_k = 0, .top_p = 1.0f, .seed = static_cast<uint64_t>(seed)};
    ++plain[generate(session, request).generated_ids[0]];
    request.sampling.top_k = 3;
    ++top3[generate(session, request).generated_ids[0]];
    request.sampling.top_k = 0;
    request.sampling.top_p = 0.6f;
    ++nucleus_counts[generate(session, request).generated_ids[0]];
  }
  for (int32_t id : {order[0], order[1], order[2]}) {
    const double expected = draws * p[id], sigma = std::sqrt(draws * p[id] * (1 - p[id]));
    EXPECT_NEAR(plain[id], expected, 5 * sigma + 1) << "token " << id;
  }
  for (const auto& [id, n] : top3) EXPECT_TRUE(id == order[0] || id == order[1] || id == order[2]) << id;
  EXPECT_EQ(top3.size(), 3u);
  for (const auto& [id, n] : nucleus_counts) EXPECT_TRUE(nucleus.count(id)) << id;
  const double p3 = p[order[0]] + p[order[1]] + p[order[2]];
  const double share = top3[order[0]] / static_cast<double>(draws), want = p[order[0]] / p3;
  EXPECT_NEAR(share, want, 5 * std::sqrt(want * (1 - want) / draws) + 1e-3);
}

}  // namespace
}  // namespace mlfaas
