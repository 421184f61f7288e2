// safetensors reading and fp16/bf16 -> fp32 conversion, against the fixtures and against the compiler's own
// half-precision arithmetic.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine/error.h"
#include "engine/formats/weights.h"
#include "format_fixtures.h"

using namespace mlfaas;
using fixtures::kModels;
using fixtures::TempDir;

namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// float -> bfloat16 with round-to-nearest-even, what torch's .to(torch.bfloat16) does for finite values.
uint16_t to_bf16(float f) {
  const uint32_t u = bits_of(f);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

std::vector<float> as_f32(const WeightFile& w, const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  // f32_into takes the shape as an initializer list; the fixtures have rank 1 or 2.
  if (t.shape.size() == 1) w.f32_into(t.name, {t.shape[0]}, out.data());
  else w.f32_into(t.name, {t.shape[0], t.shape[1]}, out.data());
  return out;
}

}  // namespace

#ifdef __FLT16_MAX__
TEST(Weights, F16ToF32MatchesCompilerForEveryBitPattern) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    _Float16 x;
    std::memcpy(&x, &bits, 2);
    const float want = static_cast<float>(x);
    const float got = f16_to_f32(bits);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << std::hex << h;
    } else {
      ASSERT_EQ(bits_of(got), bits_of(want)) << std::hex << h;
    }
  }
}
#endif

TEST(Weights, Bf16ToF32IsTheHighHalf) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xc040), -3.0f);
  EXPECT_EQ(bits_of(bf16_to_f32(0x0001)), 0x00010000u);  // subnormal kept exactly
  EXPECT_TRUE(std::isinf(bf16_to_f32(0x7f80)));
}

TEST(Weights, ReadsFixtureTensors) {
  auto w = open_safetensors(kModels + "bert-tiny-cls/model.safetensors");
  const TensorView& emb = w->require("bert.embeddings.word_embeddings.weight");
  EXPECT_EQ(emb.dtype, DType::F32);
  EXPECT_EQ(emb.shape, (std::vector<int64_t>{2500, 64}));
  EXPECT_EQ(emb.nbytes, 2500u * 64u * 4u);
  EXPECT_EQ(w->find("no.such.tensor"), nullptr);
  // 2 layers x 16 + embeddings 5 + pooler 2 + classifier 2
  EXPECT_EQ(w->tensors().size(), 41u);
}

TEST(Weights, F16AndBf16FixturesAreTheF32WeightsRounded) {
  auto f32 = open_safetensors(kModels + "bert-tiny-cls/model.safetensors");
  auto f16 = open_safetensors(kModels + "bert-tiny-cls-f16/model.safetensors");
  auto bf16 = open_safetensors(kModels + "bert-tiny-cls-bf16/model.safetensors");
  ASSERT_EQ(f16->tensors().size(), f32->tensors().size());
  ASSERT_EQ(bf16->tensors().size(), f32->tensors().size());
  for (const TensorView& t : f32->tensors()) {
    const std::vector<float> ref = as_f32(*f32, t);
    const TensorView& h = f16->require(t.name);
    const TensorView& b = bf16->require(t.name);
    ASSERT_EQ(h.dtype, DType::F16) << t.name;
    ASSERT_EQ(b.dtype, DType::BF16) << t.name;
    const std::vector<float> from_h = as_f32(*f16, h);
    const std::vector<float> from_b = as_f32(*bf16, b);
    for (size_t i = 0; i < ref.size(); ++i) {
#ifdef __FLT16_MAX__
      ASSERT_EQ(from_h[i], static_cast<float>(static_cast<_Float16>(ref[i]))) << t.name << "[" << i << "]";
#else
      ASSERT_NEAR(from_h[i], ref[i], std::abs(ref[i]) * 0x1p-11f + 0x1p-24f) << t.name << "[" << i << "]";
#endif
      ASSERT_EQ(from_b[i], bf16_to_f32(to_bf16(ref[i]))) << t.name << "[" << i << "]";
    }
  }
}

TEST(Weights, InMemoryReaderSeesTheSameTensors) {
  const std::string bytes = fixtures::read_file(kModels + "bert-tiny-cls-bf16/model.safetensors");
  auto mem = open_safetensors_bytes(std::as_bytes(std::span(bytes.data(), bytes.size())), "mem.safetensors");
  auto file = open_safetensors(kModels + "bert-tiny-cls-bf16/model.safetensors");
  ASSERT_EQ(mem->tensors().size(), file->tensors().size());
  for (const TensorView& t : file->tensors()) {
    const TensorView& m = mem->require(t.name);
    EXPECT_EQ(m.shape, t.shape);
    EXPECT_EQ(m.nbytes, t.nbytes);
    EXPECT_EQ(std::memcmp(m.data, t.data, t.nbytes), 0) << t.name;
    // Views point into the caller's bytes at the same layout as into the mapping.
    EXPECT_EQ(m.data - mem->tensors().front().data, t.data - file->tensors().front().data) << t.name;
    EXPECT_GE(reinterpret_cast<const char*>(m.data), bytes.data());
    EXPECT_LE(reinterpret_cast<const char*>(m.data) + m.nbytes, bytes.data() + bytes.size());
  }
}

TEST(Weights, EmptyTensorsAndAllDtypes) {
  TempDir tmp;
  const auto path = fixtures::write_file(
      tmp / "mixed.safetensors",
      fixtures::safetensors(R"({"__metadata__": {"format": "pt"},)"
                            R"( "e": {"dtype": "F32", "shape": [0, 4], "data_offsets": [0, 0]},)"
                            R"( "i": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]},)"
                            R"( "u": {"dtype": "U8", "shape": [], "data_offsets": [8, 9]}})",
                            fixtures::raw(std::vector<int32_t>{-1, 5}) + "\x07"));
  auto w = open_safetensors(path);
  EXPECT_EQ(w->require("e").nbytes, 0u);
  EXPECT_EQ(w->require("e").numel(), 0);
  EXPECT_EQ(w->f32("e", {0, 4}).size(), 0u);
  EXPECT_EQ(w->require("i").dtype, DType::I32);
  int32_t second;
  std::memcpy(&second, w->require("i").data + 4, 4);
  EXPECT_EQ(second, 5);
  EXPECT_EQ(w->require("u").numel(), 1);  // a scalar
  EXPECT_EQ(static_cast<int>(w->require("u").data[0]), 7);
}

TEST(Weights, DtypeNamesAndSizes) {
  EXPECT_EQ(dtype_name(DType::BF16), "BF16");
  EXPECT_EQ(dtype_name(DType::Bool), "BOOL");
  EXPECT_EQ(dtype_size(DType::F64), 8u);
  EXPECT_EQ(dtype_size(DType::F16), 2u);
  EXPECT_EQ(dtype_size(DType::U8), 1u);
  EXPECT_EQ(shape_string({2500, 64}), "[2500, 64]");
  EXPECT_EQ(shape_string({}), "[]");
}

TEST(Weights, ModelDirectoryAndFilePaths) {
  auto dir = open_model_weights(kModels + "bert-tiny-base");
  EXPECT_EQ(dir->path(), kModels + "bert-tiny-base/model.safetensors");
  auto file = open_model_weights(kModels + "bert-tiny-base/model.safetensors");
  EXPECT_EQ(file->tensors().size(), dir->tensors().size());
}
