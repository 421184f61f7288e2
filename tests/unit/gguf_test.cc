// The GGUF reader: the tiny-llama fixture converted by llama.cpp parses with the metadata a Llama needs and
// tensors bit-equal to the safetensors original; files from the in-test writer (custom alignment, v2, every
// supported type, Q8_0/Q4_0 quantized as ggml does) read back; and every malformed file, truncation included, is
// a one-line FormatError naming the file and the problem, never a crash or a huge allocation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "engine/error.h"
#include "engine/formats/gguf.h"
#include "engine/formats/weights.h"
#include "format_fixtures.h"
#include "gguf_writer.h"

using namespace mlfaas;
using fixtures::GgufWriter;
using fixtures::put_str;
using fixtures::put_u32;
using fixtures::put_u64;

namespace {

const std::string kTiny = std::string(MLFAAS_TEST_DATA) + "/llama/tiny-llama/";

std::span<const std::byte> span_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::unique_ptr<GgufFile> parse(const std::string& bytes) { return GgufFile::open_bytes(span_of(bytes), "t.gguf"); }

std::string u32(uint32_t v) {
  std::string s;
  put_u32(s, v);
  return s;
}
std::string u64(uint64_t v) {
  std::string s;
  put_u64(s, v);
  return s;
}
std::string str(const std::string& v) {
  std::string s;
  put_str(s, v);
  return s;
}
std::string f32_bytes(size_t n) { return std::string(n * 4, '\0'); }

// A small valid file: a few metadata types and one tensor of several types; the last tensor ends the file.
GgufWriter base_writer(uint32_t alignment = 32) {
  GgufWriter w;
  w.alignment = alignment;
  if (alignment != 32) w.kv_u32("general.alignment", alignment);
  w.kv_str("general.architecture", "llama").kv_u32("llama.block_count", 2).kv_f32("f", 0.5f);
  w.kv_str_array("tokenizer.ggml.tokens", {"<unk>", "a", "b"});
  w.tensor("a", {32, 2}, 0, f32_bytes(64));
  w.tensor("q8", {64, 2}, 8, std::string(4 * 34, '\1'));
  w.tensor("q4", {32}, 2, std::string(18, '\2'));
  w.tensor("h", {5}, 1, std::string(10, '\3'));
  return w;
}

}  // namespace

TEST(Gguf, TinyLlamaMetadata) {
  auto g = GgufFile::open(kTiny + "model-f32.gguf");
  EXPECT_EQ(g->version(), 3u);
  EXPECT_EQ(g->alignment(), 32u);
  EXPECT_EQ(g->require_string("general.architecture"), "llama");
  EXPECT_EQ(g->require_int("llama.context_length"), 256);
  EXPECT_EQ(g->require_int("llama.embedding_length"), 64);
  EXPECT_EQ(g->require_int("llama.block_count"), 4);
  EXPECT_EQ(g->require_int("llama.feed_forward_length"), 172);
  EXPECT_EQ(g->require_int("llama.attention.head_count"), 8);
  EXPECT_EQ(g->require_int("llama.attention.head_count_kv"), 4);
  EXPECT_EQ(g->get_float("llama.rope.freq_base"), 10000.0);
  EXPECT_FLOAT_EQ(static_cast<float>(*g->get_float("llama.attention.layer_norm_rms_epsilon")), 1e-5f);
  EXPECT_EQ(g->type("llama.attention.layer_norm_rms_epsilon"), GgufType::F32);

  const auto tokens = g->get_string_array("tokenizer.ggml.tokens").value();
  const auto scores = g->get_float_array("tokenizer.ggml.scores").value();
  const auto types = g->get_int_array("tokenizer.ggml.token_type").value();
  ASSERT_EQ(tokens.size(), 1024u);
  ASSERT_EQ(scores.size(), 1024u);
  ASSERT_EQ(types.size(), 1024u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[2], "</s>");
  EXPECT_EQ(tokens[3], "<0x00>");  // byte_fallback ids 3..258
  EXPECT_EQ(tokens[258], "<0xFF>");
  EXPECT_EQ(types[1], 3);  // llama.cpp token types: 1 normal, 3 control, 6 byte
  EXPECT_EQ(types[3], 6);
  EXPECT_EQ(types[500], 1);
  EXPECT_EQ(scores[1], -1000.0f);
  EXPECT_LT(scores[600], 0.0f);
  EXPECT_EQ(g->require_int("tokenizer.ggml.bos_token_id"), 1);
  EXPECT_EQ(g->require_int("tokenizer.ggml.eos_token_id"), 2);
  EXPECT_EQ(g->get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(g->get_bool("tokenizer.ggml.add_eos_token"), false);
  const std::string tmpl = g->require_string("tokenizer.chat_template");
  EXPECT_NE(tmpl.find("<|assistant|>"), std::string::npos);
  EXPECT_FALSE(g->has("llama.rope.scaling.type"));
  EXPECT_EQ(g->get_int("llama.rope.scaling.type"), std::nullopt);
  EXPECT_EQ(g->keys().size(), 26u);
  EXPECT_EQ(g->keys().front(), "general.architecture");
}

TEST(Gguf, TinyLlamaTensorsMatchSafetensors) {
  auto g = GgufFile::open(kTiny + "model-f32.gguf");
  ASSERT_EQ(g->tensors().size(), 39u);
  g->require("token_embd.weight", {64, 1024});
  g->require("output.weight", {64, 1024});
  g->require("output_norm.weight", {64});
  for (int l = 0; l < 4; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    g->require(b + "attn_norm.weight", {64});
    g->require(b + "ffn_norm.weight", {64});
    g->require(b + "attn_q.weight", {64, 64});
    g->require(b + "attn_k.weight", {64, 32});
    g->require(b + "attn_v.weight", {64, 32});
    g->require(b + "attn_output.weight", {64, 64});
    g->require(b + "ffn_gate.weight", {64, 172});
    g->require(b + "ffn_up.weight", {64, 172});
    g->require(b + "ffn_down.weight", {172, 64});
  }
  for (const GgufTensor& t : g->tensors()) {
    EXPECT_EQ(t.type, QuantType::F32) << t.name;
    EXPECT_EQ(t.nbytes, static_cast<size_t>(t.numel()) * 4) << t.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 32, 0u) << t.name;  // the mapping is page-aligned
  }
  auto st = open_safetensors(kTiny + "model.safetensors");
  // attn_q/attn_k rows are permuted by the converter (README), the rest is bit-identical.
  const std::pair<const char*, const char*> same[] = {
      {"token_embd.weight", "model.embed_tokens.weight"},
      {"output.weight", "lm_head.weight"},
      {"output_norm.weight", "model.norm.weight"},
      {"blk.3.attn_v.weight", "model.layers.3.self_attn.v_proj.weight"},
      {"blk.0.ffn_down.weight", "model.layers.0.mlp.down_proj.weight"},
      {"blk.2.attn_norm.weight", "model.layers.2.input_layernorm.weight"},
  };
  for (const auto& [gguf_name, st_name] : same) {
    const GgufTensor* t = g->find(gguf_name);
    const TensorView& v = st->require(st_name);
    ASSERT_NE(t, nullptr) << gguf_name;
    ASSERT_EQ(t->nbytes, v.nbytes) << gguf_name;
    EXPECT_EQ(std::memcmp(t->data, v.data, v.nbytes), 0) << gguf_name;
    // ggml's dims are numpy's reversed.
    EXPECT_EQ(std::vector<int64_t>(v.shape.rbegin(), v.shape.rend()), t->dims) << gguf_name;
  }
}

TEST(Gguf, RequireNamesTheTensorAndShapes) {
  auto g = GgufFile::open(kTiny + "model-f32.gguf");
  try {
    g->require("token_embd.weight", {1024, 64});
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("token_embd.weight has shape [64, 1024], expected [1024, 64]"), std::string::npos)
        << e.what();
  }
  try {
    g->require("blk.9.attn_q.weight", {64, 64});
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor blk.9.attn_q.weight"), std::string::npos) << e.what();
  }
}

TEST(Gguf, TypedGettersConvertOrNameTheKey) {
  GgufWriter w;
  w.kv_raw("u8", 0, std::string(1, '\xff')).kv_raw("i8", 1, std::string(1, '\xfe')).kv_i32("i32", -7);
  w.kv_u64("u64.big", 1ull << 63).kv_u64("u64.small", 12345).kv_raw("f64", 12, [] {
    std::string s(8, '\0');
    const double d = 0.125;
    std::memcpy(s.data(), &d, 8);
    return s;
  }());
  w.kv_bool("yes", true).kv_str("s", "hello").kv_i32_array("ints", {3, -1}).kv_f32_array("floats", {1.5f, 2.5f});
  w.kv_raw("u16s", 9, u32(2) + u64(2) + std::string("\x01\x00\xff\xff", 4));
  w.kv_raw("empty", 9, u32(8) + u64(0));
  const std::string bytes = w.bytes();
  auto g = parse(bytes);
  EXPECT_EQ(g->tensors().size(), 0u);
  EXPECT_EQ(g->get_int("u8"), 255);
  EXPECT_EQ(g->get_int("i8"), -2);
  EXPECT_EQ(g->get_int("i32"), -7);
  EXPECT_EQ(g->get_int("u64.small"), 12345);
  EXPECT_EQ(g->get_float("u64.small"), 12345.0);
  EXPECT_EQ(g->get_float("f64"), 0.125);
  EXPECT_EQ(g->get_bool("yes"), true);
  EXPECT_EQ(g->get_string("s"), "hello");
  EXPECT_EQ(g->get_int_array("ints"), (std::vector<int64_t>{3, -1}));
  EXPECT_EQ(g->get_float_array("floats"), (std::vector<float>{1.5f, 2.5f}));
  EXPECT_EQ(g->get_float_array("ints"), (std::vector<float>{3.0f, -1.0f}));
  EXPECT_EQ(g->get_int_array("u16s"), (std::vector<int64_t>{1, 65535}));
  EXPECT_EQ(g->get_string_array("empty"), std::vector<std::string>{});
  EXPECT_EQ(g->type("ints"), GgufType::Array);
  EXPECT_EQ(g->type("missing"), std::nullopt);
  EXPECT_EQ(g->get_string("missing"), std::nullopt);

  auto expect_error = [](auto&& call, const std::string& needle) {
    try {
      call();
      ADD_FAILURE() << "no error, expected " << needle;
    } catch (const FormatError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("t.gguf: ", 0), 0u) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([&] { g->get_int("u64.big"); }, "'u64.big' value 9223372036854775808 does not fit");
  expect_error([&] { g->get_int("s"); }, "metadata key 's' is string, expected an integer");
  expect_error([&] { g->get_string("i32"); }, "metadata key 'i32' is i32, expected string");
  expect_error([&] { g->get_bool("u8"); }, "'u8' is u8, expected bool");
  expect_error([&] { g->get_float("yes"); }, "'yes' is bool, expected a number");
  expect_error([&] { g->get_string_array("ints"); }, "'ints' is an array of i32, expected an array of string");
  expect_error([&] { g->get_int_array("floats"); }, "'floats' is an array of f32, expected an array of integers");
  expect_error([&] { g->get_int("ints"); }, "is an array of i32, expected an integer");
  expect_error([&] { g->require_int("llama.block_count"); }, "missing metadata key llama.block_count");
  expect_error([&] { g->require_string("general.architecture"); }, "missing metadata key general.architecture");
}

TEST(Gguf, WriterFilesReadBack) {
  for (uint32_t version : {2u, 3u}) {
    for (uint32_t alignment : {32u, 64u, 1u}) {
      GgufWriter w = base_writer(alignment);
      w.version = version;
      const std::string bytes = w.bytes();
      auto g = parse(bytes);
      EXPECT_EQ(g->version(), version);
      EXPECT_EQ(g->alignment(), alignment);
      ASSERT_EQ(g->tensors().size(), 4u);
      const GgufTensor& q8 = g->require("q8", {64, 2});
      EXPECT_EQ(q8.type, QuantType::Q8_0);
      EXPECT_EQ(q8.nbytes, 4u * 34);
      EXPECT_EQ(q8.numel(), 128);
      EXPECT_EQ(q8.data[0], std::byte{1});
      EXPECT_EQ(g->require("q4", {32}).nbytes, 18u);
      EXPECT_EQ(g->require("h", {5}).nbytes, 10u);
      EXPECT_EQ(g->require("h", {5}).type, QuantType::F16);
      EXPECT_EQ(static_cast<size_t>(q8.data - reinterpret_cast<const std::byte*>(bytes.data())) % alignment, 0u);
      EXPECT_EQ(g->tensors().back().data + g->tensors().back().nbytes,
                reinterpret_cast<const std::byte*>(bytes.data()) + bytes.size());
    }
  }
}

TEST(Gguf, EveryEngineTypeReadsWithItsBlockSize) {
  const std::pair<QuantType, int64_t> types[] = {{QuantType::F32, 256 * 4}, {QuantType::F16, 512}, {QuantType::BF16, 512},
                                                 {QuantType::Q8_0, 8 * 34},  {QuantType::Q4_0, 8 * 18}, {QuantType::Q4_K, 144},
                                                 {QuantType::Q6_K, 210}};
  GgufWriter w;
  for (const auto& [type, nbytes] : types) {
    w.tensor(quant_type_name(type), {256}, static_cast<uint32_t>(type), std::string(static_cast<size_t>(nbytes), '\7'));
  }
  const std::string bytes = w.bytes();
  auto g = parse(bytes);
  for (const auto& [type, nbytes] : types) {
    const GgufTensor& t = g->require(quant_type_name(type), {256});
    EXPECT_EQ(t.type, type);
    EXPECT_EQ(t.nbytes, static_cast<size_t>(nbytes)) << quant_type_name(type);
  }
}

TEST(Gguf, QuantTypeNames) {
  EXPECT_STREQ(quant_type_name(QuantType::Q4_K), "Q4_K");
  EXPECT_STREQ(quant_type_name(QuantType::BF16), "BF16");
  EXPECT_STREQ(quant_type_name(static_cast<QuantType>(13)), "?");
  for (uint32_t id : {0u, 1u, 2u, 8u, 12u, 14u, 30u}) EXPECT_TRUE(quant_type_known(id)) << id;
  for (uint32_t id : {3u, 4u, 13u, 15u, 29u, 31u, 39u, 1000u, 0xffffffffu}) EXPECT_FALSE(quant_type_known(id)) << id;
}

// The writer's Q8_0/Q4_0 blocks, read through the reader and decoded with quant_blocks.h's formulas, give the
// values back within the quantization step. Q8_0: rounding to the nearest q costs d/2, and storing d as fp16
// (relative error 2^-11) adds at most 127 * d * 2^-11 < 0.07 d. Q4_0: the same d/2, except the value opposite the
// largest one, clamped from q = 16 to 15, which costs a whole d; fp16 adds at most 8 * d * 2^-11.
TEST(Gguf, QuantizedWriterRoundTrips) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(4 * 64);
  for (float& v : x) v = normal(rng);
  x[40] = 3.0f;
  x[41] = -3.0f;  // the clamped case of Q4_0
  GgufWriter w;
  w.tensor("q8", {64, 4}, 8, fixtures::quantize_q8_0(x));
  w.tensor("q4", {64, 4}, 2, fixtures::quantize_q4_0(x));
  const std::string bytes = w.bytes();
  auto g = parse(bytes);
  const GgufTensor& q8 = g->require("q8", {64, 4});
  const GgufTensor& q4 = g->require("q4", {64, 4});
  ASSERT_EQ(q8.nbytes, 8 * sizeof(BlockQ8_0));
  ASSERT_EQ(q4.nbytes, 8 * sizeof(BlockQ4_0));
  for (size_t b = 0; b < 8; ++b) {
    BlockQ8_0 blk8;
    BlockQ4_0 blk4;
    std::memcpy(&blk8, q8.data + b * sizeof blk8, sizeof blk8);
    std::memcpy(&blk4, q4.data + b * sizeof blk4, sizeof blk4);
    const float d8 = f16_to_f32(blk8.d), d4 = f16_to_f32(blk4.d);
    for (int j = 0; j < 32; ++j) {
      const float want = x[b * 32 + j];
      EXPECT_NEAR(d8 * blk8.qs[j], want, 0.57f * d8) << b << " " << j;
      const int q = j < 16 ? (blk4.qs[j] & 15) : (blk4.qs[j - 16] >> 4);
      EXPECT_NEAR(d4 * (q - 8), want, 1.01f * std::fabs(d4)) << b << " " << j;
    }
  }
}

struct BadFile {
  const char* label;
  std::string bytes;
  const char* problem;  // expected in the message
};

std::vector<BadFile> bad_files() {
  std::vector<BadFile> cases;
  auto add = [&](const char* label, std::string bytes, const char* problem) { cases.push_back({label, std::move(bytes), problem}); };
  auto with = [](auto&& edit) {
    GgufWriter w;
    edit(w);
    return w.bytes();
  };
  const std::string good = base_writer().bytes();
  const uint64_t kHuge = 1ull << 60;

  add("empty", "", "not a GGUF file (0 bytes)");
  add("bad magic", "GGUX" + good.substr(4), "magic 'GGUX', expected 'GGUF'");
  add("safetensors", std::string("\x10\0\0\0\0\0\0\0{}", 10), "not a GGUF file");
  add("version 1", "GGUF" + u32(1) + good.substr(8), "GGUF version 1 is not supported");
  add("version 99", "GGUF" + u32(99) + good.substr(8), "unsupported GGUF version 99");
  add("version 0", "GGUF" + u32(0) + good.substr(8), "unsupported GGUF version 0");
  add("big-endian v3", "GGUF" + u32(0x03000000) + good.substr(8), "big-endian GGUF file");
  add("big-endian v2", "GGUF" + u32(0x02000000) + good.substr(8), "big-endian GGUF file");
  add("huge metadata count", with([](GgufWriter& w) { w.n_kv_override = 1ull << 62; }), "metadata count 4611686018427387904");
  add("huge tensor count", with([](GgufWriter& w) { w.n_tensors_override = ~0ull; }), "tensor count 18446744073709551615");
  add("tensor count beyond the infos", with([](GgufWriter& w) { w.kv_u32("a", 1); w.n_tensors_override = 1; }),
      "tensor '' has 0 dimensions");
  add("huge string length", with([&](GgufWriter& w) { w.kv_raw("s", 8, u64(kHuge) + "abc"); }),
      "metadata key 's' has length 1152921504606846976");
  add("huge key length", with([&](GgufWriter& w) { w.kv_bytes(u64(kHuge) + "key" + u32(4) + u32(1)); }),
      "metadata entry 0 key has length 1152921504606846976");
  add("huge array count", with([&](GgufWriter& w) { w.kv_raw("arr", 9, u32(4) + u64(kHuge) + u32(1)); }),
      "'arr' claims 1152921504606846976 u32 values");
  add("huge string array count", with([&](GgufWriter& w) { w.kv_raw("arr", 9, u32(8) + u64(kHuge) + str("x")); }),
      "'arr' claims 1152921504606846976 strings");
  add("huge string in array", with([&](GgufWriter& w) { w.kv_raw("arr", 9, u32(8) + u64(2) + str("x") + u64(kHuge)); }),
      "'arr' element 1 has length 1152921504606846976");
  add("bad value type", with([](GgufWriter& w) { w.kv_raw("k", 13, u32(0)); }), "'k' has invalid value type 13");
  add("bad array type", with([](GgufWriter& w) { w.kv_raw("k", 9, u32(77) + u64(0)); }), "array of invalid value type 77");
  add("array of arrays", with([](GgufWriter& w) { w.kv_raw("k", 9, u32(9) + u64(1) + u32(4) + u64(0)); }),
      "'k' is an array of arrays, which is not supported");
  add("bool 2", with([](GgufWriter& w) { w.kv_raw("b", 7, std::string(1, '\2')); }), "'b' holds a bool of value 2");
  add("empty key", with([](GgufWriter& w) { w.kv_u32("", 1); }), "metadata entry 0 has an empty key");
  add("duplicate key", with([](GgufWriter& w) { w.kv_u32("k", 1).kv_str("k", "x"); }), "metadata key 'k' appears twice");
  add("alignment u64", with([](GgufWriter& w) { w.kv_u64("general.alignment", 32); }),
      "'general.alignment' is u64, expected u32");
  add("alignment 0", with([](GgufWriter& w) { w.kv_u32("general.alignment", 0); }), "general.alignment 0 is not a power of two");
  add("alignment 48", with([](GgufWriter& w) { w.kv_u32("general.alignment", 48); }), "general.alignment 48 is not a power of two");
  add("type Q5_K", with([](GgufWriter& w) { w.tensor("w", {256}, 13, std::string(176, '\0')); }),
      "tensor 'w' has type 13 (Q5_K), which this engine does not read");
  add("type IQ4_NL", with([](GgufWriter& w) { w.tensor("w", {32}, 20, std::string(18, '\0')); }), "type 20 (IQ4_NL)");
  add("removed type 4", with([](GgufWriter& w) { w.tensor("w", {32}, 4, std::string(20, '\0')); }),
      "tensor 'w' has type 4 (not a ggml type)");
  add("type 1000", with([](GgufWriter& w) { w.tensor("w", {32}, 1000, f32_bytes(32)); }), "type 1000 (not a ggml type)");
  add("5 dims", with([](GgufWriter& w) { w.tensor("w", {1, 1, 1, 1, 1}, 0, f32_bytes(1)); }),
      "tensor 'w' has 5 dimensions (1 to 4 supported)");
  add("0 dims", with([](GgufWriter& w) { w.tensor("w", {}, 0, f32_bytes(1)); }), "tensor 'w' has 0 dimensions");
  add("zero dim", with([](GgufWriter& w) { w.tensor("w", {4, 0}, 0, ""); }), "tensor 'w' dimension 1 is 0");
  add("negative dim", with([](GgufWriter& w) { w.tensor("w", {-4}, 0, ""); }), "tensor 'w' dimension 0 is -4");
  add("dims overflow", with([](GgufWriter& w) { w.tensor("w", {1ll << 32, 1ll << 32}, 0, ""); }),
      "tensor 'w' has too many elements");
  add("bytes overflow", with([](GgufWriter& w) { w.tensor("w", {1ll << 62}, 0, ""); }), "tensor 'w' is too large");
  add("Q8_0 row of 48", with([](GgufWriter& w) { w.tensor("w", {48, 2}, 8, std::string(102, '\0')); }),
      "tensor 'w' of type Q8_0 has rows of 48 elements, not a multiple of the block size 32");
  add("Q4_K row of 128", with([](GgufWriter& w) { w.tensor("w", {128}, 12, std::string(72, '\0')); }),
      "not a multiple of the block size 256");
  add("unaligned offset", with([](GgufWriter& w) { w.tensor("w", {8}, 0, f32_bytes(8), 4); }),
      "tensor 'w' offset 4 is not a multiple of the alignment 32");
  add("offset out of file", with([](GgufWriter& w) { w.tensor("w", {8}, 0, f32_bytes(8), 1ull << 40); }),
      "tensor 'w' data [1099511627776, ...) lies outside the file");
  add("offset near 2^64", with([](GgufWriter& w) { w.tensor("w", {8}, 0, f32_bytes(8), ~0ull << 5); }), "lies outside the file");
  add("data cut short", with([](GgufWriter& w) { w.tensor("a", {8}, 0, f32_bytes(8)).tensor("w", {64}, 0, f32_bytes(8)); }),
      "tensor 'w' data [32, 288) lies outside the file (data section is 64 bytes)");
  add("overlapping tensors", with([](GgufWriter& w) { w.tensor("a", {16}, 0, f32_bytes(16)).tensor("b", {8}, 0, f32_bytes(8), 32); }),
      "tensors 'a' and 'b' overlap in the data section");
  add("duplicate tensor", with([](GgufWriter& w) { w.tensor("w", {8}, 0, f32_bytes(8)).tensor("w", {8}, 0, f32_bytes(8)); }),
      "tensor 'w' appears twice");
  add("newline in name", with([](GgufWriter& w) { w.tensor("a\nb", {8}, 0, f32_bytes(8), 4); }), "tensor 'a\\x0ab' offset 4");
  return cases;
}

TEST(Gguf, MalformedFilesAreFormatErrors) {
  for (const BadFile& c : bad_files()) {
    SCOPED_TRACE(c.label);
    try {
      parse(c.bytes);
      ADD_FAILURE() << "accepted";
    } catch (const FormatError& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("t.gguf: ", 0), 0u) << what;
      EXPECT_NE(what.find(c.problem), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
}

// Every prefix of a valid file is refused: the last tensor's data ends the file, so nothing shorter is complete.
TEST(Gguf, EveryTruncationIsAFormatError) {
  const std::string good = base_writer().bytes();
  ASSERT_NO_THROW(parse(good));
  for (size_t n = 0; n < good.size(); ++n) {
    // A copy of exactly n bytes, so ASan sees any read past the cut.
    std::string cut = good.substr(0, n);
    EXPECT_THROW(parse(cut), FormatError) << n;
  }
}

TEST(Gguf, TinyLlamaTruncatedAnywhereIsAFormatError) {
  const std::string good = fixtures::read_file(kTiny + "model-f32.gguf");
  ASSERT_NO_THROW(parse(good));
  // The header (metadata, tensor infos: the first 24,950 bytes) densely, the data section sparsely.
  std::vector<size_t> cuts;
  for (size_t n = 0; n < 25000; n += 7) cuts.push_back(n);
  for (size_t n = 25000; n < good.size(); n += 4099) cuts.push_back(n);
  cuts.push_back(good.size() - 1);
  for (size_t n : cuts) {
    std::string cut = good.substr(0, n);
    try {
      parse(cut);
      ADD_FAILURE() << "accepted a cut at " << n;
    } catch (const FormatError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("t.gguf: ", 0), 0u) << e.what();
    }
  }
}

TEST(Gguf, OpenNamesAMissingFile) {
  try {
    GgufFile::open(kTiny + "no-such.gguf");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("no-such.gguf: file not found"), std::string::npos) << e.what();
  }
}

// The fuzz seeds (tools/make_gguf_corpus.py) are what their names say: bad_*.gguf refused, the other *.gguf read,
// so the fuzzer starts from both sides of every check. (Reproducers libFuzzer adds have no .gguf suffix.)
TEST(Gguf, FuzzSeedsAreWhatTheirNamesSay) {
  const std::filesystem::path corpus = std::filesystem::path(MLFAAS_TEST_DATA) / ".." / "fuzz" / "corpus" / "gguf";
  int good = 0, bad = 0;
  for (const auto& entry : std::filesystem::directory_iterator(corpus)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".gguf") continue;
    const std::string bytes = fixtures::read_file(entry.path().string());
    if (name.rfind("bad_", 0) == 0) {
      EXPECT_THROW(parse(bytes), FormatError) << name;
      ++bad;
    } else {
      EXPECT_NO_THROW(parse(bytes)) << name;
      ++good;
    }
  }
  EXPECT_GE(good, 5);
  EXPECT_GE(bad, 10);
  const std::string shrunk_bytes = fixtures::read_file((corpus / "tiny_llama_shrunk.gguf").string());  // outlives the views
  auto shrunk = parse(shrunk_bytes);
  EXPECT_EQ(shrunk->tensors().size(), 39u);
  EXPECT_EQ(shrunk->get_string_array("tokenizer.ggml.tokens")->size(), 1024u);
}
