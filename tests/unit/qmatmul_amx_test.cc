// qmatmul_amx (the AMX-INT8 prefill for Q8_0 / Q4_0 weights) against a double-precision reference written here
// from ggml's formulas, on golden blocks written by hand and on random weights of many shapes. Skipped where this
// CPU / kernel gives no AMX; the argument checks are tested everywhere.
#include "engine/kernels/qmatmul_amx.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "engine/kernels/isa.h"
#include "engine/kernels/thread_pool.h"

// Counts allocations, to check that calls after the first allocate nothing. The replacements below pair malloc
// with free consistently; GCC cannot see that through the replaced operators and warns at every inlined delete.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
static std::atomic<long> g_allocations{0};

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace mlfaas {
namespace {

// IEEE binary16 -> float, for the reference (normal, subnormal, zero; the tests use no Inf/NaN scales).
float half_to_float(uint16_t h) {
  const int sign = h >> 15, exponent = (h >> 10) & 31, mantissa = h & 1023;
  const float magnitude = exponent == 0 ? std::ldexp(static_cast<float>(mantissa), -24)
                                        : std::ldexp(static_cast<float>(mantissa | 1024), exponent - 25);
  return sign ? -magnitude : magnitude;
}

// The activation quantizer of every level for one 32-element block (ties to even), scale kept in fp32.
float quantize_block_ref(const float* x, int8_t* q) {
  float amax = 0.0f;
  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) {
    const float scaled = x[j] * id;
    q[j] = static_cast<int8_t>(std::nearbyint(scaled));
  }
  return d;
}

// Row r, block b of W as 32 integers and a scale: element j = d * q[j].
float weight_block_ref(const QWeight& w, int r, int b, int* q) {
  const std::byte* row = w.data + static_cast<size_t>(r) * w.row_bytes;
  uint16_t d_bits = 0;
  if (w.type == QuantType::Q8_0) {
    const auto* blk = reinterpret_cast<const BlockQ8_0*>(row) + b;
    for (int j = 0; j < 32; ++j) q[j] = blk->qs[j];
    std::memcpy(&d_bits, &blk->d, 2);
  } else {
    const auto* blk = reinterpret_cast<const BlockQ4_0*>(row) + b;
    for (int j = 0; j < 16; ++j) {
      q[j] = (blk->qs[j] & 15) - 8;
      q[j + 16] = (blk->qs[j] >> 4) - 8;
    }
    std::memcpy(&d_bits, &blk->d, 2);
  }
  return half_to_float(d_bits);
}

// The reference product and, per output, the error the kernel may make.
//
// The kernel computes, per output, acc <- fma(float(isum_b), fl(d_x * d_w), acc) over the blocks b in order, with
// isum_b the exact integer block sum (float() of it is exact: |isum_b| < 2^24), d_x the same fp32 scale as here
// and d_w exact in fp32. Each block's term t_b = d_x d_w isum_b thus picks up one rounding in the scale product
// and one in the fma, and it passes through the later fma roundings: by the usual recursive-summation bound,
// |y - sum_b t_b| <= gamma_(nb+1) * sum_b |t_b| with gamma_n = n u / (1 - n u), u = 2^-24. The reference sums
// t_b in double (relative error ~1e-16, covered by the 1.01 factor).
struct Reference {
  std::vector<double> y, tolerance;  // [m, rows]
};

Reference reference_matmul(const QWeight& w, const float* x, int64_t ldx, int m) {
  const int blocks = w.k / 32;
  std::vector<int8_t> xq(static_cast<size_t>(m) * w.k);
  std::vector<float> xd(static_cast<size_t>(m) * blocks);
  for (int i = 0; i < m; ++i)
    for (int b = 0; b < blocks; ++b)
      xd[i * blocks + b] = quantize_block_ref(x + i * ldx + b * 32, &xq[static_cast<size_t>(i) * w.k + b * 32]);
  std::vector<int> wq(static_cast<size_t>(w.rows) * w.k);
  std::vector<float> wd(static_cast<size_t>(w.rows) * blocks);
  for (int r = 0; r < w.rows; ++r)
    for (int b = 0; b < blocks; ++b)
      wd[r * blocks + b] = weight_block_ref(w, r, b, &wq[static_cast<size_t>(r) * w.k + b * 32]);
  const double u = std::ldexp(1.0, -24), gamma = (blocks + 1) * u / (1 - (blocks + 1) * u);
  Reference ref;
  ref.y.resize(static_cast<size_t>(m) * w.rows);
  ref.tolerance.resize(ref.y.size());
  for (int i = 0; i < m; ++i) {
    for (int r = 0; r < w.rows; ++r) {
      double sum = 0, abs_sum = 0;
      for (int b = 0; b < blocks; ++b) {
        const int8_t* a = &xq[static_cast<size_t>(i) * w.k + b * 32];
        const int* c = &wq[static_cast<size_t>(r) * w.k + b * 32];
        int isum = 0;
        for (int j = 0; j < 32; ++j) isum += a[j] * c[j];
        const double term = static_cast<double>(xd[i * blocks + b]) * wd[r * blocks + b] * isum;
        sum += term;
        abs_sum += std::fabs(term);
      }
      ref.y[static_cast<size_t>(i) * w.rows + r] = sum;
      ref.tolerance[static_cast<size_t>(i) * w.rows + r] = 1.01 * gamma * abs_sum;
    }
  }
  return ref;
}

QWeight make_weight(QuantType type, int rows, int k, const std::vector<std::byte>& data) {
  return QWeight{type, rows, k, data.data(), static_cast<size_t>(k / 32) * quant_block_bytes(type)};
}

// Random blocks: random quants (Q8_0 includes -128, which files may hold although ggml never writes it), fp16
// scales over about 2^-10 .. 2^2, and now and then a zero scale.
std::vector<std::byte> random_weight(QuantType type, int rows, int k, std::mt19937& rng) {
  const size_t block = quant_block_bytes(type), bytes = static_cast<size_t>(rows) * (k / 32) * block;
  std::vector<std::byte> data(bytes);
  std::uniform_int_distribution<int> byte(0, 255), scale(0x1400, 0x4400), sign(0, 1), zero(0, 49);
  for (auto& b : data) b = static_cast<std::byte>(byte(rng));
  for (size_t at = 0; at < bytes; at += block) {
    const uint16_t bits = zero(rng) == 0 ? 0 : static_cast<uint16_t>(scale(rng) | (sign(rng) << 15));
    std::memcpy(&data[at], &bits, 2);
  }
  return data;
}

// Activations whose blocks differ in magnitude (1e-3 .. 1e3), with an all-zero block now and then.
std::vector<float> random_activations(int m, int64_t ldx, int k, std::mt19937& rng) {
  std::vector<float> x(static_cast<size_t>(m) * ldx, 7.0f);  // 7: the gap between k and ldx, never read
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> log_scale(-3.0f, 3.0f);
  std::uniform_int_distribution<int> zero(0, 29);
  for (int i = 0; i < m; ++i) {
    for (int b = 0; b < k / 32; ++b) {
      const float scale = zero(rng) == 0 ? 0.0f : std::pow(10.0f, log_scale(rng));
      for (int j = 0; j < 32; ++j) x[i * ldx + b * 32 + j] = scale * normal(rng);
    }
  }
  return x;
}

// qmatmul() sends Avx512Vnni prefill to qmatmul_amx() unless MLFAAS_AMX=0, read once at its first such call. This
// binary tests qmatmul_amx() directly and uses qmatmul() only as the other kernels to compare with, so it turns the
// routing off before main() runs.
const bool kAmxOffForQmatmul = ::setenv("MLFAAS_AMX", "0", 1) == 0;

#define SKIP_WITHOUT_AMX()                                                                                 \
  do {                                                                                                     \
    if (!amx_int8_usable()) {                                                                              \
      GTEST_SKIP() << "AMX-INT8 is not usable here (CPU without AMX-TILE/AMX-INT8, not x86-64 Linux, or a " \
                      "kernel older than 5.16 that cannot grant the tile data state)";                     \
    }                                                                                                      \
  } while (0)

TEST(QMatmulAmx, SupportsQ8_0AndQ4_0InBothLayoutsOnly) {
  EXPECT_TRUE(qmatmul_amx_supports(QuantType::Q8_0));
  EXPECT_TRUE(qmatmul_amx_supports(QuantType::Q4_0));
  EXPECT_TRUE(qmatmul_amx_supports(QuantType::Q8_0_X16));
  EXPECT_TRUE(qmatmul_amx_supports(QuantType::Q4_0_X16));
  EXPECT_FALSE(qmatmul_amx_supports(QuantType::F32));
  EXPECT_FALSE(qmatmul_amx_supports(QuantType::Q4_K));
  EXPECT_FALSE(qmatmul_amx_supports(QuantType::Q6_K));
  EXPECT_EQ(amx_int8_usable(), amx_int8_usable());  // asked once, answer stable
}

TEST(QMatmulAmx, RejectsBadArguments) {
  std::vector<std::byte> data(64 * sizeof(BlockQ8_0));
  std::vector<float> x(64 * 64), y(64 * 64);
  const QWeight good = make_weight(QuantType::Q8_0, 32, 64, data);
  QWeight f32 = good;
  f32.type = QuantType::F32;
  EXPECT_THROW(qmatmul_amx(f32, x.data(), 64, 2, y.data(), 64, nullptr), std::invalid_argument);
  QWeight ragged = good;
  ragged.k = 48;
  EXPECT_THROW(qmatmul_amx(ragged, x.data(), 64, 2, y.data(), 64, nullptr), std::invalid_argument);
  QWeight short_rows = good;
  short_rows.row_bytes = sizeof(BlockQ8_0);
  EXPECT_THROW(qmatmul_amx(short_rows, x.data(), 64, 2, y.data(), 64, nullptr), std::invalid_argument);
  EXPECT_THROW(qmatmul_amx(good, x.data(), 63, 2, y.data(), 64, nullptr), std::invalid_argument);
  EXPECT_THROW(qmatmul_amx(good, x.data(), 64, 2, y.data(), 31, nullptr), std::invalid_argument);
  EXPECT_THROW(qmatmul_amx(good, x.data(), 64, 0, y.data(), 64, nullptr), std::invalid_argument);
  if (!amx_int8_usable()) {
    EXPECT_THROW(qmatmul_amx(good, x.data(), 64, 2, y.data(), 64, nullptr), std::runtime_error);
  }
}

// X = 127 * identity gives d_x = 1 and q_x = 127 at one place, so Y[i, 0] = 127 * W[0, i] exactly.
std::vector<float> scaled_identity(int k) {
  std::vector<float> x(static_cast<size_t>(k) * k, 0.0f);
  for (int i = 0; i < k; ++i) x[static_cast<size_t>(i) * k + i] = 127.0f;
  return x;
}

TEST(QMatmulAmx, GoldenQ4_0Block) {
  SKIP_WITHOUT_AMX();
  // d = 0.5 (fp16 0x3800, little-endian); byte j: element j in the low nibble, element j + 16 in the high one.
  const unsigned char bytes[18] = {0x00, 0x38, 0x9F, 0x80, 0x07, 0x00, 0xFF, 0x88, 0x12, 0x34,
                                   0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0, 0x1E, 0xE1};
  const float expected[32] = {3.5f, -4.0f, -0.5f, -4.0f, 3.5f, 0.0f, -3.0f, -2.0f,  // (nibble - 8) * 0.5
                              -1.0f, 0.0f, 1.0f, 2.0f, 3.0f, -4.0f, 3.0f, -3.5f,
                              0.5f, 0.0f, -4.0f, -4.0f, 3.5f, 0.0f, -3.5f, -2.5f,
                              -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 3.5f, -3.5f, 3.0f};
  std::vector<std::byte> data(sizeof(bytes));
  std::memcpy(data.data(), bytes, sizeof(bytes));
  const QWeight w = make_weight(QuantType::Q4_0, 1, 32, data);
  const std::vector<float> x = scaled_identity(32);
  std::vector<float> y(32, -1.0f);
  qmatmul_amx(w, x.data(), 32, 32, y.data(), 1, nullptr);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 127.0f * expected[i]) << "element " << i;
}

TEST(QMatmulAmx, GoldenQ8_0Block) {
  SKIP_WITHOUT_AMX();
  // d = 0.25 (fp16 0x3400), then 32 int8 quants.
  const unsigned char bytes[34] = {0x00, 0x34, 0x01, 0xFF, 0x7F, 0x80, 0x00, 0x10, 0xF0, 0x40, 0xC0, 0x02, 0xFE,
                                   0x03, 0xFD, 0x64, 0x9C, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0xF6,
                                   0xF5, 0xF4, 0xF3, 0x20, 0xE0, 0x7E, 0x81, 0x11};
  const float expected[32] = {0.25f, -0.25f, 31.75f, -32.0f, 0.0f, 4.0f, -4.0f, 16.0f,  // q * 0.25
                              -16.0f, 0.5f, -0.5f, 0.75f, -0.75f, 25.0f, -25.0f, 1.25f,
                              1.5f, 1.75f, 2.0f, 2.25f, 2.5f, 2.75f, 3.0f, -2.5f,
                              -2.75f, -3.0f, -3.25f, 8.0f, -8.0f, 31.5f, -31.75f, 4.25f};
  std::vector<std::byte> data(sizeof(bytes));
  std::memcpy(data.data(), bytes, sizeof(bytes));
  const QWeight w = make_weight(QuantType::Q8_0, 1, 32, data);
  const std::vector<float> x = scaled_identity(32);
  std::vector<float> y(32, -1.0f);
  qmatmul_amx(w, x.data(), 32, 32, y.data(), 1, nullptr);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 127.0f * expected[i]) << "element " << i;
}

// Activation quantization rounds halfway cases to even, as every other level does: with amax = 127 the scale is
// 1, and a one-hot Q8_0 weight (d = 1) reads back each rounded activation.
TEST(QMatmulAmx, ActivationsRoundHalfToEven) {
  SKIP_WITHOUT_AMX();
  const float x[32] = {127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, -1.5f, 126.5f, -126.5f, 0.49999997f, -3.4999998f,
                       64.5f, -64.5f, 3.5f, -3.5f, 0.0f};
  const float expected[32] = {127, 2, -2, 0, 0, 2, -2, 126, -126, 0, -3, 64, -64, 4, -4, 0};
  std::vector<std::byte> data(32 * sizeof(BlockQ8_0));
  for (int r = 0; r < 32; ++r) {
    auto* blk = reinterpret_cast<BlockQ8_0*>(data.data()) + r;
    blk->d = 0x3C00;  // 1.0
    std::memset(blk->qs, 0, 32);
    blk->qs[r] = 1;
  }
  const QWeight w = make_weight(QuantType::Q8_0, 32, 32, data);
  std::vector<float> y(32, -1.0f);
  qmatmul_amx(w, x, 32, 1, y.data(), 32, nullptr);
  for (int r = 0; r < 32; ++r) EXPECT_EQ(y[r], expected[r]) << "element " << r;
}

void check_against_reference(QuantType type) {
  std::mt19937 rng(type == QuantType::Q8_0 ? 8 : 4);
  auto pool1 = std::make_unique<ThreadPool>(1);
  auto pool2 = std::make_unique<ThreadPool>(2);
  for (int k : {32, 64, 96, 160, 224, 2048, 5632}) {  // 1 to 7 blocks: every entry into the pipelined block loop
    for (int rows : {16, 48, 100, 256}) {
      const std::vector<std::byte> data = random_weight(type, rows, k, rng);
      const QWeight w = make_weight(type, rows, k, data);
      for (int m : {1, 3, 16, 17, 33, 128}) {
        const int64_t ldx = k + 3, ldy = rows + 5;  // strides wider than the rows: the gaps stay untouched
        const std::vector<float> x = random_activations(m, ldx, k, rng);
        const Reference ref = reference_matmul(w, x.data(), ldx, m);
        for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), pool1.get(), pool2.get()}) {
          SCOPED_TRACE(testing::Message() << "k " << k << " rows " << rows << " m " << m << " threads "
                                          << (pool ? pool->threads() : 0));
          std::vector<float> y(static_cast<size_t>(m) * ldy, -7.0f);
          qmatmul_amx(w, x.data(), ldx, m, y.data(), ldy, pool);
          int failures = 0;
          for (int i = 0; i < m && failures < 5; ++i) {
            for (int r = 0; r < rows && failures < 5; ++r) {
              const size_t at = static_cast<size_t>(i) * rows + r;
              const double got = y[i * ldy + r];
              if (!(std::fabs(got - ref.y[at]) <= ref.tolerance[at])) {
                ADD_FAILURE() << "Y[" << i << ", " << r << "] = " << got << ", reference " << ref.y[at]
                              << " +- " << ref.tolerance[at];
                ++failures;
              }
            }
            for (int64_t r = rows; r < ldy; ++r) {
              if (y[i * ldy + r] != -7.0f) {
                ADD_FAILURE() << "wrote into the stride gap of row " << i;
                ++failures;
                break;
              }
            }
          }
          if (failures) return;
        }
      }
    }
  }
}

TEST(QMatmulAmx, Q8_0MatchesReference) {
  SKIP_WITHOUT_AMX();
  check_against_reference(QuantType::Q8_0);
}

TEST(QMatmulAmx, Q4_0MatchesReference) {
  SKIP_WITHOUT_AMX();
  check_against_reference(QuantType::Q4_0);
}

// Tile state is per thread: a thread that never used AMX before (not the pool's, not the main thread) configures
// its own tiles and gets the same result, while a pool that already ran AMX work keeps working afterwards.
TEST(QMatmulAmx, FreshThreadsConfigureTheirOwnTiles) {
  SKIP_WITHOUT_AMX();
  std::mt19937 rng(17);
  const std::vector<std::byte> data = random_weight(QuantType::Q4_0, 96, 256, rng);
  const QWeight w = make_weight(QuantType::Q4_0, 96, 256, data);
  const std::vector<float> x = random_activations(40, 256, 256, rng);
  std::vector<float> y_main(40 * 96), y_thread(40 * 96, 0.0f);
  ThreadPool pool(2);
  qmatmul_amx(w, x.data(), 256, 40, y_main.data(), 96, &pool);
  std::thread([&] { qmatmul_amx(w, x.data(), 256, 40, y_thread.data(), 96, nullptr); }).join();
  EXPECT_EQ(y_main, y_thread);
  std::vector<float> y_again(40 * 96, 0.0f);
  qmatmul_amx(w, x.data(), 256, 40, y_again.data(), 96, &pool);
  EXPECT_EQ(y_main, y_again);
}

// Scratch grows once per thread: after a first call of a given size, calls of that size or smaller allocate
// nothing on the calling thread. A pool worker sizes its own scratch the first time it gets a chunk, which the
// pool's dynamic scheduling may delay past any warm-up (a busy machine), so each worker may allocate once more.
TEST(QMatmulAmx, NoAllocationAfterWarmUp) {
  SKIP_WITHOUT_AMX();
  std::mt19937 rng(29);
  const std::vector<std::byte> data = random_weight(QuantType::Q8_0, 256, 2048, rng);
  const QWeight w = make_weight(QuantType::Q8_0, 256, 2048, data);
  const std::vector<float> x = random_activations(64, 2048, 2048, rng);
  std::vector<float> y(64 * 256);
  qmatmul_amx(w, x.data(), 2048, 64, y.data(), 256, nullptr);
  long before = g_allocations.load();
  for (int i = 0; i < 3; ++i) {
    qmatmul_amx(w, x.data(), 2048, 64, y.data(), 256, nullptr);
    qmatmul_amx(w, x.data(), 2048, 17, y.data(), 256, nullptr);
  }
  EXPECT_EQ(g_allocations.load(), before);

  ThreadPool pool(2);  // constructed before counting: its own allocations are not the kernel's
  qmatmul_amx(w, x.data(), 2048, 64, y.data(), 256, &pool);
  before = g_allocations.load();
  for (int i = 0; i < 5; ++i) qmatmul_amx(w, x.data(), 2048, 64, y.data(), 256, &pool);
  EXPECT_LE(g_allocations.load() - before, pool.threads() - 1);
}

// The row-interleaved form (interleave_x16) of the same weights gives the same Y bit for bit: the same blocks, so
// the same integer block sums, scaled in the same order. So does qmatmul()'s own _X16 kernel (x16_groups) at the
// levels that fuse the multiply-add (the AVX-512 VNNI level with AMX off, see kAmxOffForQmatmul, and AVX2): same
// activation codes, isum_b exact, fl(d_w * d_x) the same product, one fma per block in block order from 0. (The
// portable level rounds d * isum before adding, so it only meets the reference bound; qmatmul_test checks that.)
// Rows not a multiple of 16 or 32 leave a padded group and a half-empty panel; nothing is written past w.rows.
TEST(QMatmulAmx, InterleavedWeightsGiveTheSameResultsBitForBit) {
  SKIP_WITHOUT_AMX();
  ASSERT_TRUE(kAmxOffForQmatmul);
  struct Shape {
    int rows, k;
  };
  const Shape shapes[] = {{33, 32}, {33, 2048}, {70, 96}, {70, 160}, {2048, 2048}};
  std::vector<Isa> generic;
  for (Isa isa : {Isa::Avx512Vnni, Isa::Avx2}) {
    if (cpu_supports(isa)) generic.push_back(isa);
  }
  ThreadPool pool2(2), pool3(3);
  for (QuantType type : {QuantType::Q8_0, QuantType::Q4_0}) {
    std::mt19937 rng(type == QuantType::Q8_0 ? 88 : 44);
    for (const Shape& shape : shapes) {
      const std::vector<std::byte> data = random_weight(type, shape.rows, shape.k, rng);
      const QWeight rows_form = make_weight(type, shape.rows, shape.k, data);
      std::vector<std::byte> packed(x16_weight_bytes(quant_type_interleaved(type), shape.rows, shape.k));
      const QWeight x16 = interleave_x16(rows_form, packed.data());
      for (int m : {16, 17, 40, 128}) {
        SCOPED_TRACE(testing::Message() << quant_type_name(type) << " rows " << shape.rows << " k " << shape.k
                                        << " m " << m);
        const int64_t ldx = shape.k + 5, ldy = shape.rows + 3;
        const std::vector<float> x = random_activations(m, ldx, shape.k, rng);
        std::vector<float> want(static_cast<size_t>(m) * ldy, -7.0f);
        qmatmul_amx(rows_form, x.data(), ldx, m, want.data(), ldy, nullptr);
        for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool2, &pool3}) {
          std::vector<float> got(want.size(), -7.0f);
          qmatmul_amx(x16, x.data(), ldx, m, got.data(), ldy, pool);
          ASSERT_EQ(got, want) << "X16 on AMX, threads " << (pool ? pool->threads() : 1);  // gaps stay -7 too
          std::vector<float> rows_threads(want.size(), -7.0f);
          qmatmul_amx(rows_form, x.data(), ldx, m, rows_threads.data(), ldy, pool);
          ASSERT_EQ(rows_threads, want) << "rows on AMX, threads " << (pool ? pool->threads() : 1);
        }
        QMatmulScratch scratch(m, shape.k);
        for (Isa isa : generic) {
          std::vector<float> got(want.size(), -7.0f);
          qmatmul(isa, x16, x.data(), ldx, m, got.data(), ldy, &scratch, &pool2);
          ASSERT_EQ(got, want) << "qmatmul's x16 kernel at " << isa_name(isa);
        }
      }
    }
  }
}

// m well past one pass of the accumulators and not a multiple of 16.
TEST(QMatmulAmx, ManyRowsOfX) {
  SKIP_WITHOUT_AMX();
  std::mt19937 rng(31);
  const std::vector<std::byte> data = random_weight(QuantType::Q4_0, 40, 1024, rng);
  const QWeight w = make_weight(QuantType::Q4_0, 40, 1024, data);
  const int m = 300;
  const std::vector<float> x = random_activations(m, 1024, 1024, rng);
  const Reference ref = reference_matmul(w, x.data(), 1024, m);
  std::vector<float> y(static_cast<size_t>(m) * 40);
  ThreadPool pool(2);
  qmatmul_amx(w, x.data(), 1024, m, y.data(), 40, &pool);
  for (size_t at = 0; at < y.size(); ++at)
    ASSERT_LE(std::fabs(y[at] - ref.y[at]), ref.tolerance[at]) << "Y[" << at / 40 << ", " << at % 40 << "]";
}

}  // namespace
}  // namespace mlfaas
