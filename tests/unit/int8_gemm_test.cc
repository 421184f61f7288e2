// The int8 GEMM at every kernel level this CPU supports: its int32 sums equal a scalar reference exactly on awkward
// sizes (full-range u8 activations and +-127 weights, the case where AVX2's vpmaddubsw would saturate); the fused
// epilogue matches a double-precision dequantization; weight and activation quantization round-trip within half a
// step.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <cstdint>
#include <random>
#include <vector>

#include "engine/kernels/gemm.h"
#include "engine/kernels/isa.h"

namespace mlfaas {
namespace {

std::string isa_param_name(const ::testing::TestParamInfo<Isa>& info) { return std::string(isa_name(info.param)); }

struct Shape {
  int m, n, k;
};
const Shape kShapes[] = {{1, 1, 1},     {1, 33, 7},     {2, 64, 36},    {3, 31, 5},
                         {13, 65, 129}, {12, 32, 128}, {25, 97, 301}, {7, 512, 128}};

class Int8AtIsa : public ::testing::TestWithParam<Isa> {};

TEST_P(Int8AtIsa, IntegerSumsAreExact) {
  const GemmKernel& kernel = gemm_kernel(GetParam());
  std::mt19937 rng(42);
  for (const Shape& s : kShapes) {
    // Extreme weights: every row has +-max so the codes span -127..127; activations span the whole u8 range.
    std::uniform_real_distribution<float> d(-1.f, 1.f);
    std::vector<float> w(static_cast<size_t>(s.n) * s.k);
    for (float& x : w) x = d(rng);
    for (int j = 0; j < s.n; ++j) w[static_cast<size_t>(j) * s.k] = (j % 2) ? 1.f : -1.f;
    PackedLinear layer(kernel, nullptr, w.data(), nullptr, s.n, s.k, Precision::Int8);
    const int kp = layer.int8_kp();
    std::vector<uint8_t> a(static_cast<size_t>(s.m) * kp, 0);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int i = 0; i < s.m; ++i) {
      for (int k = 0; k < s.k; ++k) a[static_cast<size_t>(i) * kp + k] = (k % 3 == 0) ? 255 : byte(rng);
    }
    std::vector<int32_t> zero(s.m);
    std::vector<float> scale(s.m, 1.f);
    for (int i = 0; i < s.m; ++i) zero[i] = byte(rng);

    // Reference from the unpacked codes: q = round(w / s) as the packer does.
    std::vector<int32_t> expect(static_cast<size_t>(s.m) * s.n);
    for (int j = 0; j < s.n; ++j) {
      const float ws = layer.int8_scale()[j];
      std::vector<int> q(s.k);
      for (int k = 0; k < s.k; ++k) {
        q[k] = static_cast<int>(std::nearbyint(w[static_cast<size_t>(j) * s.k + k] * (1.f / ws)));
        ASSERT_LE(std::abs(q[k]), 127);
      }
      for (int i = 0; i < s.m; ++i) {
        int64_t acc = 0;
        for (int k = 0; k < s.k; ++k) acc += static_cast<int64_t>(a[static_cast<size_t>(i) * kp + k] - zero[i]) * q[k];
        expect[static_cast<size_t>(i) * s.n + j] = static_cast<int32_t>(acc);
      }
    }
    std::vector<int32_t> got(expect.size(), -1);
    Int8GemmArgs g{};
    g.a = a.data();
    g.lda = kp;
    g.a_zero = zero.data();
    g.a_scale = scale.data();
    g.w = layer.int8_panels();
    g.w_colsum = layer.int8_colsum();
    g.w_scale = layer.int8_scale();
    g.kp = kp;
    g.raw = got.data();
    g.out.m = s.m;
    g.out.n = s.n;
    g.out.k = s.k;
    g.out.panel_begin = 0;
    g.out.panel_end = layer.panel_count();
    kernel.int8(g);
    ASSERT_EQ(got, expect) << "m=" << s.m << " n=" << s.n << " k=" << s.k;
  }
}

TEST_P(Int8AtIsa, FusedEpilogueMatchesDequantizedReference) {
  const GemmKernel& kernel = gemm_kernel(GetParam());
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  for (const Shape& s : kShapes) {
    for (int act : {kActNone, kActRelu, kActGeluErf}) {
      for (bool extras : {false, true}) {
        std::vector<float> w(static_cast<size_t>(s.n) * s.k), a(static_cast<size_t>(s.m) * s.k), bias(s.n),
            res(static_cast<size_t>(s.m) * s.n), sc(s.n), sh(s.n);
        for (auto* v : {&w, &a, &bias, &res, &sc, &sh}) {
          for (float& x : *v) x = d(rng);
        }
        PackedLinear layer(kernel, nullptr, w.data(), bias.data(), s.n, s.k, Precision::Int8);
        if (extras) layer.set_affine(sc, sh);
        GemmRunner runner(kernel, 1, Precision::Int8);
        std::vector<float> c(static_cast<size_t>(s.m) * s.n);
        LinearPost post{.act = act};
        if (extras) {
          post.residual = res.data();
          post.ldr = s.n;
        }
        runner.linear(layer, a.data(), s.k, s.m, c.data(), s.n, post);

        // Reference: quantize exactly as the engine does, then dequantize and post-process in double.
        const int kp = layer.int8_kp();
        std::vector<uint8_t> qa(static_cast<size_t>(s.m) * kp);
        std::vector<float> as(s.m);
        std::vector<int32_t> az(s.m);
        quantize_rows_u8(a.data(), s.k, s.m, s.k, qa.data(), kp, kp, as.data(), az.data());
        for (int i = 0; i < s.m; ++i) {
          for (int j = 0; j < s.n; ++j) {
            const float ws = layer.int8_scale()[j];
            double acc = 0;
            for (int k = 0; k < s.k; ++k) {
              // The packer's own rounding (float w * (1/s)): a double division may round a near-tie the other way.
              const double q = std::nearbyint(w[static_cast<size_t>(j) * s.k + k] * (1.f / ws));
              acc += (static_cast<double>(qa[static_cast<size_t>(i) * kp + k]) - az[i]) * q;
            }
            double v = acc * as[i] * static_cast<double>(ws) + bias[j];
            if (act == kActRelu) v = v > 0 ? v : 0;
            if (act == kActGeluErf) v = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
            if (extras) v = (v + res[static_cast<size_t>(i) * s.n + j]) * sc[j] + sh[j];
            ASSERT_NEAR(c[static_cast<size_t>(i) * s.n + j], v, 1e-4 * (1 + std::fabs(v)))
                << "m=" << s.m << " n=" << s.n << " k=" << s.k << " act=" << act << " i=" << i << " j=" << j;
          }
        }
      }
    }
  }
}

TEST_P(Int8AtIsa, QuantizerGivesThePortableCodes) {
  const GemmKernel& kernel = gemm_kernel(GetParam());
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> d(-4.f, 9.f);
  for (int k : {1, 15, 16, 17, 77, 128, 515}) {
    const int m = 6, kp = (k + 3) / 4 * 4;
    std::vector<float> a(static_cast<size_t>(m) * k);
    for (float& x : a) x = d(rng);
    std::fill(a.begin() + k, a.begin() + 2 * k, 0.f);                 // all zero
    for (int j = 0; j < k; ++j) a[2 * k + j] = 0.5f * (j % 11) - 2.f;  // many exact ties after scaling
    for (int j = 0; j < k; ++j) a[3 * k + j] = std::fabs(a[3 * k + j]);  // one-sided
    std::vector<uint8_t> want(static_cast<size_t>(m) * kp, 7), got(want.size(), 9);
    std::vector<float> ws(m), gs(m);
    std::vector<int32_t> wz(m), gz(m);
    quantize_rows_u8(a.data(), k, m, k, want.data(), kp, kp, ws.data(), wz.data());
    kernel.quantize(a.data(), k, m, k, got.data(), kp, kp, gs.data(), gz.data());
    EXPECT_EQ(got, want) << "k=" << k;
    EXPECT_EQ(gs, ws) << "k=" << k;
    EXPECT_EQ(gz, wz) << "k=" << k;
  }
}

TEST_P(Int8AtIsa, DegenerateRowsQuantizeToTheZeroPoint) {
  // Rows whose 1/scale overflows, or that hold nan/inf (a damaged model's activations): all codes 0, and a nan
  // scale for non-finite rows so that fp32's inf/nan carries on; no undefined float-to-int conversion (UBSan).
  const GemmKernel& kernel = gemm_kernel(GetParam());
  const int k = 37, kp = 40, m = 4;
  std::vector<float> a(static_cast<size_t>(m) * k, 1e-40f);  // row 0: subnormal, 1/scale = inf
  for (int j = 0; j < k; ++j) a[k + j] = 0.25f * j;
  a[k + 20] = std::numeric_limits<float>::quiet_NaN();              // row 1: a nan among normal values
  for (int j = 0; j < k; ++j) a[2 * k + j] = -0.5f * j;
  a[2 * k + 3] = std::numeric_limits<float>::infinity();            // row 2: an inf
  for (int j = 0; j < k; ++j) a[3 * k + j] = j % 2 ? 1.f : -1.f;    // row 3: ordinary
  std::vector<uint8_t> want(static_cast<size_t>(m) * kp, 7), got(want.size(), 9);
  std::vector<float> ws(m), gs(m);
  std::vector<int32_t> wz(m), gz(m);
  quantize_rows_u8(a.data(), k, m, k, want.data(), kp, kp, ws.data(), wz.data());
  kernel.quantize(a.data(), k, m, k, got.data(), kp, kp, gs.data(), gz.data());
  EXPECT_EQ(got, want);
  EXPECT_EQ(gz, wz);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(wz[r], 0) << r;
    for (int j = 0; j < kp; ++j) ASSERT_EQ(want[r * kp + j], 0) << r;
  }
  EXPECT_EQ(ws[0], 1.f);
  EXPECT_TRUE(std::isnan(ws[1]) && std::isnan(gs[1]));
  EXPECT_TRUE(std::isnan(ws[2]) && std::isnan(gs[2]));
  EXPECT_EQ(gs[0], ws[0]);
  EXPECT_EQ(gs[3], ws[3]);
  EXPECT_GT(ws[3], 0.f);
}

TEST_P(Int8AtIsa, ThreadsSplitPanelsNotSums) {
  // Big enough that the runner splits the output panels across threads: results must be bit-identical.
  const GemmKernel& kernel = gemm_kernel(GetParam());
  std::mt19937 rng(19);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  const int m = 12, n = 515, k = 514;
  std::vector<float> w(static_cast<size_t>(n) * k), a(static_cast<size_t>(m) * k), bias(n);
  for (auto* v : {&w, &a, &bias}) {
    for (float& x : *v) x = d(rng);
  }
  PackedLinear layer(kernel, nullptr, w.data(), bias.data(), n, k, Precision::Int8);
  std::vector<float> one(static_cast<size_t>(m) * n), three(one.size());
  GemmRunner r1(kernel, 1, Precision::Int8), r3(kernel, 3, Precision::Int8);
  r1.linear(layer, a.data(), k, m, one.data(), n, {.act = kActRelu});
  r3.linear(layer, a.data(), k, m, three.data(), n, {.act = kActRelu});
  EXPECT_EQ(one, three);
}

INSTANTIATE_TEST_SUITE_P(Supported, Int8AtIsa, ::testing::ValuesIn(supported_isas()), isa_param_name);

TEST(Int8Quantization, RoundTripsWithinHalfAStep) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-3.f, 5.f);
  const int m = 5, k = 77, kp = 80;
  std::vector<float> a(static_cast<size_t>(m) * k);
  for (float& x : a) x = d(rng);
  std::fill(a.begin() + k, a.begin() + 2 * k, 0.f);  // an all-zero row
  std::vector<uint8_t> q(static_cast<size_t>(m) * kp, 99);
  std::vector<float> scale(m);
  std::vector<int32_t> zero(m);
  quantize_rows_u8(a.data(), k, m, k, q.data(), kp, kp, scale.data(), zero.data());
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < k; ++j) {
      const float back = (static_cast<int>(q[i * kp + j]) - zero[i]) * scale[i];
      EXPECT_NEAR(back, a[i * k + j], 0.5f * scale[i] + 1e-6f) << i << "," << j;
    }
    for (int j = k; j < kp; ++j) EXPECT_EQ(q[i * kp + j], 0) << "padding must be zero";
  }
  EXPECT_EQ(zero[1], 0);
}

TEST(Int8Quantization, PrecisionNames) {
  EXPECT_EQ(parse_precision("int8"), Precision::Int8);
  EXPECT_EQ(parse_precision("fp32"), Precision::Fp32);
  EXPECT_THROW(parse_precision("int4"), std::invalid_argument);
  EXPECT_EQ(parse_isa("avx512vnni"), Isa::Avx512Vnni);
  EXPECT_EQ(parse_isa("avxvnni"), Isa::AvxVnni);
}

}  // namespace
}  // namespace mlfaas
