// Every kernel level this CPU supports computes what a plain double-precision reference does, on awkward sizes, with
// every epilogue; the thread pool runs each chunk exactly once; a model gives the same logits at every level.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <vector>

#include "engine/kernels/gemm.h"
#include "engine/kernels/isa.h"
#include "engine/kernels/ops.h"
#include "engine/kernels/thread_pool.h"
#include "model_fixture_check.h"

namespace mlfaas {
namespace {

std::vector<float> random_vector(size_t n, std::mt19937& rng, float scale = 1.f) {
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

double reference_act(double x, int act) {
  switch (act) {
    case kActRelu: return x > 0 ? x : 0;
    case kActGeluErf: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case kActGeluTanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case kActTanh: return std::tanh(x);
    case kActSilu: return x / (1 + std::exp(-x));
    default: return x;
  }
}

struct Case {
  int m, n, k, act;
  bool residual, affine;
};

// Runs one GEMM at `isa` with `threads` and returns the largest error against the double reference, relative to
// the size of the sum (k terms of magnitude ~1).
double gemm_error(Isa isa, int threads, const Case& c, std::mt19937& rng) {
  const GemmKernel& kernel = gemm_kernel(isa);
  const int64_t lda = c.k + 3, ldc = c.n + 5, ldr = c.n + 1;  // strides wider than the rows, as stacked outputs use
  auto a = random_vector(static_cast<size_t>(c.m) * lda, rng);
  auto w = random_vector(static_cast<size_t>(c.n) * c.k, rng);
  auto bias = random_vector(c.n, rng);
  auto res = random_vector(static_cast<size_t>(c.m) * ldr, rng);
  auto scale = random_vector(c.n, rng), shift = random_vector(c.n, rng);
  WeightArena arena;
  PackedLinear layer(kernel, c.m % 2 ? &arena : nullptr, w.data(), bias.data(), c.n, c.k);
  if (c.affine) layer.set_affine(scale, shift);
  std::vector<float> out(static_cast<size_t>(c.m) * ldc, NAN);
  GemmRunner runner(kernel, threads);
  LinearPost post;
  post.act = c.act;
  if (c.residual) {
    post.residual = res.data();
    post.ldr = ldr;
  }
  runner.linear(layer, a.data(), lda, c.m, out.data(), ldc, post);
  double worst = 0;
  for (int i = 0; i < c.m; ++i) {
    for (int j = 0; j < c.n; ++j) {
      double s = bias[j];
      for (int kk = 0; kk < c.k; ++kk) s += static_cast<double>(a[i * lda + kk]) * w[static_cast<size_t>(j) * c.k + kk];
      s = reference_act(s, c.act);
      if (c.residual) s += res[i * ldr + j];
      if (c.affine) s = s * scale[j] + shift[j];
      const double err = std::fabs(out[i * ldc + j] - s) / std::sqrt(static_cast<double>(c.k));
      if (!(err == err)) return INFINITY;  // NaN: an element never written
      worst = std::max(worst, err);
    }
  }
  return worst;
}

class GemmAtIsa : public ::testing::TestWithParam<Isa> {};

TEST_P(GemmAtIsa, MatchesReferenceOnOddSizes) {
  std::mt19937 rng(1234);
  int cases = 0;
  for (int m = 1; m <= 40; ++m) {
    for (const int n : {1, 5, 16, 33, 47, 64, 100}) {
      const int k = 1 + (m * 7 + n * 3) % 97;  // 1..97: rarely a multiple of anything
      const Case c{m, n, k, (m + n) % 6, (m % 3) == 0, (n % 2) == 1};
      for (const int threads : {1, 3}) {
        const double err = gemm_error(GetParam(), threads, c, rng);
        ASSERT_LE(err, 2e-6) << "m=" << m << " n=" << n << " k=" << k << " act=" << c.act << " threads=" << threads;
        ++cases;
      }
    }
  }
  // A large case so threads really split panels (and the AVX kernels' full-width paths run).
  EXPECT_LE(gemm_error(GetParam(), 2, {37, 512, 128, kActRelu, true, true}, rng), 2e-6);
  EXPECT_LE(gemm_error(GetParam(), 2, {15, 384, 512, kActNone, false, true}, rng), 2e-6);
  EXPECT_LE(gemm_error(GetParam(), 1, {24, 3072 + 7, 64, kActGeluErf, true, false}, rng), 2e-6);
  EXPECT_GT(cases, 500);
}

std::string isa_param_name(const ::testing::TestParamInfo<Isa>& info) { return std::string(isa_name(info.param)); }

INSTANTIATE_TEST_SUITE_P(Supported, GemmAtIsa, ::testing::ValuesIn(supported_isas()), isa_param_name);

class ModelAtIsa : public ::testing::TestWithParam<Isa> {};

TEST_P(ModelAtIsa, FixturesMatchTransformers) {
  for (const char* name : {"mobilebert-tiny-cls", "bert-tiny-cls", "mobilebert-tiny-cls-layernorm"}) {
    for (const int threads : {1, 2}) {
      ModelOptions opt;
      opt.isa = std::string(isa_name(GetParam()));
      opt.threads = threads;
      auto model = Model::load(testing::fixture_dir(name), opt);
      ASSERT_EQ(model->isa(), GetParam());
      const auto res = testing::check_fixture(*model, name);
      std::printf("[ fixture  ] %-30s isa=%-8s threads=%d max|diff|=%.3g\n", name,
                  std::string(isa_name(GetParam())).c_str(), threads, res.max_diff);
      EXPECT_LE(res.max_diff, 1e-4);
      EXPECT_EQ(res.label_mismatches, 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Supported, ModelAtIsa, ::testing::ValuesIn(supported_isas()), isa_param_name);

TEST(Isa, ParsingAndRefusal) {
  EXPECT_EQ(parse_isa("portable"), Isa::Portable);
  EXPECT_EQ(parse_isa("avx2"), Isa::Avx2);
  EXPECT_EQ(parse_isa("avx512"), Isa::Avx512);
  EXPECT_EQ(parse_isa("avxvnni"), Isa::AvxVnni);
  EXPECT_EQ(parse_isa("neon"), Isa::Neon);
  EXPECT_THROW(parse_isa("sse9"), std::invalid_argument);
  const Isa all[] = {Isa::Portable, Isa::Avx2, Isa::AvxVnni, Isa::Avx512, Isa::Avx512Vnni, Isa::Neon};
  try {
    parse_isa("sse9");
  } catch (const std::invalid_argument& e) {
    for (Isa isa : all) EXPECT_NE(std::string(e.what()).find(isa_name(isa)), std::string::npos) << e.what();
  }
  for (Isa isa : all) EXPECT_EQ(parse_isa(isa_name(isa)), isa);
  EXPECT_EQ(resolve_isa("portable"), Isa::Portable);
  EXPECT_THROW(resolve_isa("bogus"), std::runtime_error);
  for (Isa isa : all) {
    if (!cpu_supports(isa)) {
      EXPECT_THROW(resolve_isa(std::string(isa_name(isa))), std::runtime_error);
      EXPECT_THROW(gemm_kernel(isa), std::runtime_error);
    }
  }
#if defined(__x86_64__)
  EXPECT_FALSE(cpu_supports(Isa::Neon));  // the aarch64 level is compiled out here
#endif
  ::setenv("MLFAAS_ISA", "portable", 1);
  EXPECT_EQ(resolve_isa(), Isa::Portable);
  ::setenv("MLFAAS_ISA", "nonsense", 1);
  EXPECT_THROW(resolve_isa(), std::runtime_error);
  ::unsetenv("MLFAAS_ISA");
  EXPECT_EQ(resolve_isa(), best_isa());
}

TEST(Isa, BestIsTheMostPreferredSupportedLevel) {
  // Levels are declared in order of preference and are not supersets of each other (AVX-512 CPUs without AVX-VNNI
  // exist), so best_isa() is simply the last supported one.
  const std::vector<Isa> supported = supported_isas();
  ASSERT_FALSE(supported.empty());
  EXPECT_EQ(supported.front(), Isa::Portable);
  EXPECT_EQ(best_isa(), supported.back());
  for (size_t i = 1; i < supported.size(); ++i) EXPECT_LT(supported[i - 1], supported[i]);
  for (Isa isa : supported) EXPECT_TRUE(cpu_supports(isa));
  if (cpu_supports(Isa::Avx512Vnni)) {
    EXPECT_EQ(best_isa(), Isa::Avx512Vnni);
  } else if (cpu_supports(Isa::Avx512)) {
    EXPECT_EQ(best_isa(), Isa::Avx512);  // AVX-512 fp32 kernels beat AVX-VNNI's AVX2 ones
  } else if (cpu_supports(Isa::AvxVnni)) {
    EXPECT_EQ(best_isa(), Isa::AvxVnni);
  }
}

TEST(ThreadPool, EveryChunkRunsOnceAcrossManyJobs) {
  for (const int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int job = 0; job < 2000; ++job) {
      const int chunks = 1 + job % 17;
      std::vector<std::atomic<int>> hits(chunks);
      auto body = [&](int c) { hits[c].fetch_add(1); };
      pool.run(chunks, body);
      for (int c = 0; c < chunks; ++c) ASSERT_EQ(hits[c].load(), 1) << "threads=" << threads << " job=" << job;
    }
  }
}

TEST(Ops, LayerNormMatchesDefinition) {
  std::mt19937 rng(7);
  const int rows = 3, width = 37;
  auto x = random_vector(rows * width, rng, 3.f);
  auto w = random_vector(width, rng), b = random_vector(width, rng);
  auto y = x;
  layer_norm_rows(y.data(), width, rows, width, w.data(), b.data(), 1e-5f);
  for (int r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int j = 0; j < width; ++j) mean += x[r * width + j];
    mean /= width;
    for (int j = 0; j < width; ++j) var += (x[r * width + j] - mean) * (x[r * width + j] - mean);
    var /= width;
    for (int j = 0; j < width; ++j) {
      const double want = (x[r * width + j] - mean) / std::sqrt(var + 1e-5) * w[j] + b[j];
      EXPECT_NEAR(y[r * width + j], want, 1e-5);
    }
  }
}

TEST(Ops, AttentionMatchesDefinitionSingleAndThreaded) {
  std::mt19937 rng(9);
  const int seq = 11, heads = 3, dh = 8, width = heads * dh, ld = 3 * width;
  auto qkv = random_vector(static_cast<size_t>(seq) * ld, rng, 2.f);
  std::vector<float> scratch(attention_scratch_floats(seq, heads, dh));
  for (const Isa isa : supported_isas()) {
   for (const int threads : {1, 3}) {
    SCOPED_TRACE(std::string(isa_name(isa)) + " threads=" + std::to_string(threads));
    ThreadPool pool(threads);
    std::vector<float> out(seq * width);
    self_attention(qkv.data(), ld, qkv.data() + width, ld, qkv.data() + 2 * width, ld, out.data(), width, seq, heads, dh,
                   gemm_kernel(isa).attention, scratch.data(), &pool);
    for (int h = 0; h < heads; ++h) {
      for (int i = 0; i < seq; ++i) {
        std::vector<double> p(seq);
        double mx = -1e300, total = 0;
        for (int j = 0; j < seq; ++j) {
          double s = 0;
          for (int d = 0; d < dh; ++d) s += qkv[i * ld + h * dh + d] * qkv[j * ld + width + h * dh + d];
          p[j] = s / std::sqrt(static_cast<double>(dh));
          mx = std::max(mx, p[j]);
        }
        for (double& v : p) total += (v = std::exp(v - mx));
        for (int d = 0; d < dh; ++d) {
          double o = 0;
          for (int j = 0; j < seq; ++j) o += p[j] / total * qkv[j * ld + 2 * width + h * dh + d];
          EXPECT_NEAR(out[i * width + h * dh + d], o, 1e-5);
        }
      }
    }
   }
  }
}

}  // namespace
}  // namespace mlfaas
