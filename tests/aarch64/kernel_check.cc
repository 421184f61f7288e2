// The aarch64 NEON kernels against the portable ones, run under qemu by tools/check_aarch64.sh (no GoogleTest: the
// driver is cross-compiled with only the kernel sources). Exits non-zero with the first mismatch it finds.
//
//   kernel_check [--dotprod yes|no]   (the CPU qemu emulates: whether HWCAP must report ARMv8.2 dotprod)
//
// Checked on random shapes (m 1..40, n 1..100 with partial panels, k not a multiple of 4, row strides wider than
// the data, NaN / garbage in the stride padding so over-reads show, sentinels around C so stray writes show):
// - fp32 GEMM, every activation, bias / residual / NoNorm affine on and off, residual aliasing C, split panel
//   ranges (also one panel per call on a thread pool): within 1e-5 of portable, relative to max(1, |portable|);
// - int8 GEMM raw int32 sums: bit-identical to portable and to an int64 reference, for the widen kernel, the
//   dotprod kernel (when the CPU has it) and the dispatched one, on full-range u8 (255s) and +-127 weights;
// - int8 fused dequantize + epilogue: within 1e-5 of portable;
// - the level's attention head through self_attention on the pool: within 1e-5 of the portable head;
// - the quantized linears (qmatmul.h) for Q8_0, Q4_0, their row-interleaved forms Q8_0_X16 / Q4_0_X16, Q4_K, Q6_K
//   and F16, m on both sides of the direct / tiled switch, rows not a multiple of 16: within 1e-5 of portable
//   (integer block sums are exact at both levels; only the fp32 order may differ), on the pool as well;
// - the dispatch table: best_isa() is neon, parse/resolve accept it, the level's int8 path follows HWCAP.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/kernels/gemm.h"
#include "engine/kernels/gemm_kernels.h"
#include "engine/kernels/isa.h"
#include "engine/kernels/ops.h"
#include "engine/kernels/qmatmul.h"
#include "engine/kernels/thread_pool.h"

namespace mlfaas {
namespace {

std::mt19937 rng(20261122);
ThreadPool* pool = nullptr;  // 3 threads, as the engine splits panels and heads across its pool

int uniform_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
float uniform_float(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); }

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "kernel_check: FAIL: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
struct AlignedBuffer {
  explicit AlignedBuffer(size_t count)
      : data(static_cast<T*>(std::aligned_alloc(64, (count * sizeof(T) + 63) / 64 * 64))) {
    if (data == nullptr) fail("out of memory");
    std::memset(data, 0, count * sizeof(T));
  }
  ~AlignedBuffer() { std::free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  T* data;
};

constexpr float kSentinel = -12345.f;
constexpr double kTolerance = 1e-5;
double worst_fp32 = 0, worst_int8 = 0, worst_quant = 0;

// Compares the [m, n] blocks of two outputs with row stride ldc, and checks both kept the padding sentinels.
void compare_outputs(const std::vector<float>& got, const std::vector<float>& want, int m, int n, int64_t ldc,
                     const std::string& what, double* worst) {
  for (int i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float g = got[i * ldc + j], w = want[i * ldc + j];
      if (j >= n) {
        if (g != kSentinel || w != kSentinel) fail(what + ": wrote outside the output at row " + std::to_string(i));
        continue;
      }
      const double err = std::fabs(static_cast<double>(g) - w) / std::fmax(1.0, std::fabs(static_cast<double>(w)));
      if (!(err <= kTolerance)) {
        char line[160];
        std::snprintf(line, sizeof line, ": [%d, %lld] neon %.9g portable %.9g (relative error %.3g)", i,
                      static_cast<long long>(j), g, w, err);
        fail(what + line);
      }
      if (err > *worst) *worst = err;
    }
  }
}

struct Epilogue {
  std::vector<float> bias, residual, scale, shift;
  int act = kActNone;
  bool use_bias = false, use_residual = false, use_affine = false, residual_is_c = false;

  std::string describe() const {
    return "act=" + std::to_string(act) + " bias=" + std::to_string(use_bias) + " residual=" +
           std::to_string(use_residual) + (residual_is_c ? "(=c)" : "") + " affine=" + std::to_string(use_affine);
  }
};

// Every combination comes up as `index` runs through 48 consecutive values; the next 48 alias residual and C.
Epilogue make_epilogue(int index, int m, int n, int64_t ldc) {
  Epilogue e;
  e.act = index % 6;
  e.use_residual = (index / 6) % 2;
  e.use_affine = (index / 12) % 2;
  e.use_bias = (index / 24) % 2 == 0;
  e.residual_is_c = e.use_residual && (index / 48) % 2;
  e.bias.resize(n);
  e.scale.resize(n);
  e.shift.resize(n);
  e.residual.assign(static_cast<size_t>(m) * ldc, kSentinel);
  for (float& x : e.bias) x = uniform_float(-1.f, 1.f);
  for (float& x : e.scale) x = uniform_float(0.5f, 1.5f);
  for (float& x : e.shift) x = uniform_float(-1.f, 1.f);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) e.residual[i * ldc + j] = uniform_float(-2.f, 2.f);
  }
  return e;
}

// Fills the output fields of `g` for one run; C starts as the residual when the residual aliases it.
void bind_epilogue(GemmArgs& g, const Epilogue& e, std::vector<float>& c, int64_t ldc) {
  g.c = c.data();
  g.ldc = ldc;
  g.bias = e.use_bias ? e.bias.data() : nullptr;
  g.act = e.act;
  g.residual = nullptr;
  g.ldr = ldc;
  if (e.use_residual) {
    if (e.residual_is_c) {
      c = e.residual;
      g.c = c.data();
      g.residual = c.data();
    } else {
      g.residual = e.residual.data();
    }
  }
  g.scale = e.use_affine ? e.scale.data() : nullptr;
  g.shift = e.use_affine ? e.shift.data() : nullptr;
}

// The engine runs a GEMM's N-panels as separate calls, possibly on several threads. Even `index`: two calls on the
// calling thread, split at a random panel; odd: one call per panel on the pool.
template <typename RunPanels>
void run_split(int index, int panels, RunPanels run_panels) {
  if (index % 2 == 0) {
    const int split = uniform_int(0, panels);
    run_panels(0, split);
    run_panels(split, panels);
    return;
  }
  auto one_panel = [&](int p) { run_panels(p, p + 1); };
  pool->run(panels, one_panel);
}

// ---------------------------------------------------------------- fp32

void check_fp32_case(int index, const GemmKernel& neon) {
  const int m = uniform_int(1, 40), n = uniform_int(1, 100), k = uniform_int(1, 130);
  const int64_t lda = k + uniform_int(0, 5), ldc = n + uniform_int(0, 3);
  const int nr = 16, panels = (n + nr - 1) / nr;
  const std::string shape = "fp32 m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k);

  std::vector<float> a(static_cast<size_t>(m) * lda, NAN);  // NaN past k: an over-read poisons the result
  for (int i = 0; i < m; ++i) {
    for (int kk = 0; kk < k; ++kk) a[i * lda + kk] = uniform_float(-1.f, 1.f);
  }
  AlignedBuffer<float> w(static_cast<size_t>(panels) * k * nr);
  for (int j = 0; j < n; ++j) {
    for (int kk = 0; kk < k; ++kk) {
      w.data[(static_cast<size_t>(j / nr) * k + kk) * nr + j % nr] = uniform_float(-1.f, 1.f);
    }
  }
  const Epilogue e = make_epilogue(index, m, n, ldc);

  GemmArgs g{};
  g.a = a.data();
  g.lda = lda;
  g.w = w.data;
  g.m = m;
  g.n = n;
  g.k = k;
  g.panel_begin = 0;
  g.panel_end = panels;
  std::vector<float> want(static_cast<size_t>(m) * ldc, kSentinel), got(want.size(), kSentinel);
  bind_epilogue(g, e, want, ldc);
  gemm_portable(g);

  GemmArgs h = g;
  bind_epilogue(h, e, got, ldc);
  run_split(index, panels, [&](int begin, int end) {
    GemmArgs part = h;
    part.panel_begin = begin;
    part.panel_end = end;
    neon.fn(part);
  });
  compare_outputs(got, want, m, n, ldc, shape + " " + e.describe(), &worst_fp32);
}

// ---------------------------------------------------------------- int8

struct Int8Case {
  int m, n, k, kp, panels;
  int64_t lda;
  std::vector<uint8_t> a;
  std::vector<int32_t> zero;
  std::vector<float> a_scale, w_scale;
  std::vector<int8_t> codes;  // [n, k]
  std::vector<int32_t> colsum;
  std::vector<int32_t> reference;  // [m, n], int64-accumulated
  std::string shape;
};

// Packs `codes` in the shared int8 layout of gemm_kernels.h.
void pack_int8(const Int8Case& c, int8_t* panels) {
  for (int j = 0; j < c.n; ++j) {
    for (int kk = 0; kk < c.k; ++kk) {
      const size_t at = (static_cast<size_t>(j / kInt8Nr) * c.kp + kk / 4 * 4) * kInt8Nr + (j % kInt8Nr) * 4 + kk % 4;
      panels[at] = c.codes[static_cast<size_t>(j) * c.k + kk];
    }
  }
}

Int8Case make_int8_case(int max_k) {
  Int8Case c;
  c.m = uniform_int(1, 40);
  c.n = uniform_int(1, 100);
  c.k = uniform_int(1, max_k);
  c.kp = (c.k + 3) / 4 * 4;
  c.panels = (c.n + kInt8Nr - 1) / kInt8Nr;
  c.lda = c.kp + 4 * uniform_int(0, 4);
  c.shape = "int8 m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k);
  // Zero in k..kp as the contract says; garbage past kp, which no kernel may read.
  c.a.assign(static_cast<size_t>(c.m) * c.lda, 0xA5);
  for (int i = 0; i < c.m; ++i) {
    for (int kk = 0; kk < c.kp; ++kk) c.a[i * c.lda + kk] = kk >= c.k ? 0 : (kk % 5 == 0 ? 255 : uniform_int(0, 255));
  }
  c.zero.resize(c.m);
  c.a_scale.resize(c.m);
  for (int i = 0; i < c.m; ++i) {
    c.zero[i] = uniform_int(0, 255);
    c.a_scale[i] = uniform_float(1e-3f, 2e-2f);
  }
  c.codes.resize(static_cast<size_t>(c.n) * c.k);
  c.colsum.assign(c.n, 0);
  c.w_scale.resize(c.n);
  for (int j = 0; j < c.n; ++j) {
    for (int kk = 0; kk < c.k; ++kk) {
      const int q = kk % 7 == 0 ? (j % 2 ? 127 : -127) : uniform_int(-127, 127);
      c.codes[static_cast<size_t>(j) * c.k + kk] = static_cast<int8_t>(q);
      c.colsum[j] += q;
    }
    c.w_scale[j] = uniform_float(1e-3f, 2e-2f);
  }
  c.reference.resize(static_cast<size_t>(c.m) * c.n);
  for (int i = 0; i < c.m; ++i) {
    for (int j = 0; j < c.n; ++j) {
      int64_t acc = 0;
      for (int kk = 0; kk < c.k; ++kk) {
        acc += (static_cast<int64_t>(c.a[i * c.lda + kk]) - c.zero[i]) * c.codes[static_cast<size_t>(j) * c.k + kk];
      }
      c.reference[static_cast<size_t>(i) * c.n + j] = static_cast<int32_t>(acc);
    }
  }
  return c;
}

Int8GemmArgs int8_args(const Int8Case& c, const int8_t* panels) {
  Int8GemmArgs g{};
  g.a = c.a.data();
  g.lda = c.lda;
  g.a_zero = c.zero.data();
  g.a_scale = c.a_scale.data();
  g.w = panels;
  g.w_colsum = c.colsum.data();
  g.w_scale = c.w_scale.data();
  g.kp = c.kp;
  g.out.m = c.m;
  g.out.n = c.n;
  g.out.k = c.k;
  g.out.panel_begin = 0;
  g.out.panel_end = c.panels;
  return g;
}

void check_int8_raw(const Int8Case& c, const int8_t* panels, void (*kernel)(const Int8GemmArgs&), const char* name) {
  std::vector<int32_t> got(c.reference.size(), INT32_MIN);
  Int8GemmArgs g = int8_args(c, panels);
  g.raw = got.data();
  run_split(uniform_int(0, 1), c.panels, [&](int begin, int end) {
    Int8GemmArgs part = g;
    part.out.panel_begin = begin;
    part.out.panel_end = end;
    kernel(part);
  });
  for (size_t at = 0; at < got.size(); ++at) {
    if (got[at] != c.reference[at]) {
      fail(c.shape + " raw sums, " + name + ": [" + std::to_string(at / c.n) + ", " + std::to_string(at % c.n) +
           "] got " + std::to_string(got[at]) + ", exact " + std::to_string(c.reference[at]));
    }
  }
}

void check_int8_case(int index, const GemmKernel& neon, bool dotprod) {
  const Int8Case c = make_int8_case(index % 4 == 0 ? 400 : 70);
  AlignedBuffer<int8_t> panels(static_cast<size_t>(c.panels) * c.kp * kInt8Nr);
  pack_int8(c, panels.data);

  check_int8_raw(c, panels.data, &gemm_s8_portable, "portable");
  check_int8_raw(c, panels.data, &gemm_s8_neon_widen, "neon widen");
  if (dotprod) check_int8_raw(c, panels.data, &gemm_s8_neon_dotprod, "neon dotprod");
  check_int8_raw(c, panels.data, neon.int8, "dispatched neon");

  const int64_t ldc = c.n + uniform_int(0, 3);
  const Epilogue e = make_epilogue(index, c.m, c.n, ldc);
  std::vector<float> want(static_cast<size_t>(c.m) * ldc, kSentinel), got(want.size(), kSentinel);
  Int8GemmArgs g = int8_args(c, panels.data);
  bind_epilogue(g.out, e, want, ldc);
  gemm_s8_portable(g);
  for (auto [kernel, name] : {std::pair{&gemm_s8_neon_widen, "widen"}, std::pair{&gemm_s8_neon_dotprod, "dotprod"}}) {
    if (kernel == &gemm_s8_neon_dotprod && !dotprod) continue;
    std::fill(got.begin(), got.end(), kSentinel);
    Int8GemmArgs h = int8_args(c, panels.data);
    bind_epilogue(h.out, e, got, ldc);
    kernel(h);
    compare_outputs(got, want, c.m, c.n, ldc, c.shape + " dequantized, " + name + " " + e.describe(), &worst_int8);
  }
}

// ---------------------------------------------------------------- attention

// The level's attention through self_attention on the pool (heads in parallel) against the portable head, serial.
void check_attention_case(const GemmKernel& neon) {
  const int seq = uniform_int(1, 40), heads = uniform_int(1, 4);
  const int head_dim = std::vector<int>{4, 8, 13, 16, 32, 64}[uniform_int(0, 5)];
  const int width = heads * head_dim;
  const int64_t ld = 3 * width + uniform_int(0, 3);  // q, k, v side by side, as the fused QKV projection leaves them
  std::vector<float> qkv(static_cast<size_t>(seq) * ld);
  for (float& x : qkv) x = uniform_float(-2.f, 2.f);
  const int64_t ldo = width + uniform_int(0, 3);
  std::vector<float> want(static_cast<size_t>(seq) * ldo, kSentinel), got(want.size(), kSentinel);
  std::vector<float> scratch(attention_scratch_floats(seq, heads, head_dim));
  self_attention(qkv.data(), ld, qkv.data() + width, ld, qkv.data() + 2 * width, ld, want.data(), ldo, seq, heads,
                 head_dim, &attention_head_portable, scratch.data(), nullptr);
  self_attention(qkv.data(), ld, qkv.data() + width, ld, qkv.data() + 2 * width, ld, got.data(), ldo, seq, heads,
                 head_dim, neon.attention, scratch.data(), pool);
  compare_outputs(got, want, seq, width, ldo,
                  "attention seq=" + std::to_string(seq) + " heads=" + std::to_string(heads) +
                      " head_dim=" + std::to_string(head_dim),
                  &worst_fp32);
}

// ---------------------------------------------------------------- quantized linears

// A random [rows, k] weight of `type`: Q8_0 / Q4_0 / F16 through the reference quantizer (their _X16 forms
// interleaved from it), the k-quants as random bytes with small fp16 super-block scales.
std::vector<std::byte> random_qweight(QuantType type, int rows, int k, QWeight* w) {
  const QuantType base = quant_type_base(type);
  const size_t row_bytes = quant_row_bytes(base, k);
  std::vector<std::byte> rows_data(row_bytes * rows);
  if (base == QuantType::Q4_K || base == QuantType::Q6_K) {
    for (std::byte& b : rows_data) b = static_cast<std::byte>(uniform_int(0, 255));
    const uint16_t d = 0x1C00;  // about 2^-8
    for (size_t off = 0; off < rows_data.size(); off += quant_block_bytes(base)) {
      std::memcpy(rows_data.data() + off + (base == QuantType::Q6_K ? 208 : 0), &d, 2);
      if (base == QuantType::Q4_K) std::memcpy(rows_data.data() + off + 2, &d, 2);
    }
  } else {
    std::vector<float> row(k);
    for (int r = 0; r < rows; ++r) {
      for (float& v : row) v = uniform_float(-1.f, 1.f);
      quantize_row(base, row.data(), k, rows_data.data() + r * row_bytes);
    }
  }
  *w = QWeight{base, rows, k, rows_data.data(), row_bytes};
  if (!quant_type_x16(type)) return rows_data;
  std::vector<std::byte> packed(x16_weight_bytes(type, rows, k));
  *w = interleave_x16(*w, packed.data());
  return packed;
}

void check_qmatmul_case(QuantType type, int rows, int k, int m) {
  QWeight w;
  const std::vector<std::byte> data = random_qweight(type, rows, k, &w);
  const int64_t ldx = k + 3, ldy = rows + 2;
  std::vector<float> x(static_cast<size_t>(m) * ldx);
  for (float& v : x) v = uniform_float(-2.f, 2.f);
  QMatmulScratch scratch(m, k);
  std::vector<float> want(static_cast<size_t>(m) * ldy, kSentinel), got(want.size(), kSentinel),
      pooled(want.size(), kSentinel);
  qmatmul(Isa::Portable, w, x.data(), ldx, m, want.data(), ldy, &scratch, nullptr);
  qmatmul(Isa::Neon, w, x.data(), ldx, m, got.data(), ldy, &scratch, nullptr);
  qmatmul(Isa::Neon, w, x.data(), ldx, m, pooled.data(), ldy, &scratch, pool);
  const std::string shape = std::string(quant_type_name(type)) + " rows=" + std::to_string(rows) +
                            " k=" + std::to_string(k) + " m=" + std::to_string(m);
  compare_outputs(got, want, m, rows, ldy, "qmatmul " + shape, &worst_quant);
  if (pooled != got) fail("qmatmul " + shape + ": the pool's result differs from one thread's");
}

void check_qmatmul() {
  const QuantType types[] = {QuantType::Q8_0,     QuantType::Q4_0, QuantType::Q8_0_X16, QuantType::Q4_0_X16,
                             QuantType::Q4_K,     QuantType::Q6_K, QuantType::F16};
  const int shapes[][2] = {{37, 256}, {70, 512}, {130, 1280}, {16, 32}};
  for (QuantType type : types) {
    for (const auto& shape : shapes) {
      if (shape[1] % quant_block_elems(type) != 0) continue;
      for (int m : {1, 2, 3, 7, 20}) check_qmatmul_case(type, shape[0], shape[1], m);
    }
  }
}

// ---------------------------------------------------------------- dispatch

void check_dispatch(bool expect_dotprod) {
  if (!cpu_supports(Isa::Neon)) fail("cpu_supports(neon) is false on aarch64");
  if (best_isa() != Isa::Neon) fail("best_isa() is " + std::string(isa_name(best_isa())) + ", not neon");
  if (parse_isa("neon") != Isa::Neon || isa_name(Isa::Neon) != "neon") fail("parse_isa / isa_name disagree on neon");
  if (cpu_supports(Isa::Avx2)) fail("cpu_supports(avx2) is true on aarch64");
  bool refused = false;
  try {
    gemm_kernel(Isa::Avx2);
  } catch (const std::runtime_error&) {
    refused = true;
  }
  if (!refused) fail("gemm_kernel(avx2) did not refuse on aarch64");
  setenv("MLFAAS_ISA", "neon", 1);
  if (resolve_isa() != Isa::Neon) fail("MLFAAS_ISA=neon did not resolve to neon");
  setenv("MLFAAS_ISA", "portable", 1);
  if (resolve_isa() != Isa::Portable) fail("MLFAAS_ISA=portable did not resolve to portable");
  unsetenv("MLFAAS_ISA");
  const GemmKernel& neon = gemm_kernel(Isa::Neon);
  if (neon.isa != Isa::Neon || neon.nr != 16 || neon.fn != &gemm_neon || neon.int8 != &gemm_s8_neon ||
      neon.quantize != &quantize_rows_u8 || neon.attention == nullptr || neon.fn16 != &gemm_neon) {
    fail("gemm_kernel(neon) does not hold the NEON kernels");
  }
  if (neon_has_dotprod() != expect_dotprod) {
    fail(std::string("HWCAP says dotprod ") + (neon_has_dotprod() ? "present" : "absent") + ", the emulated CPU " +
         (expect_dotprod ? "has it" : "lacks it"));
  }
}

}  // namespace
}  // namespace mlfaas

int main(int argc, char** argv) {
  using namespace mlfaas;
  int expect_dotprod = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--dotprod" && i + 1 < argc) {
      const std::string v = argv[++i];
      if (v != "yes" && v != "no") fail("--dotprod takes yes or no");
      expect_dotprod = v == "yes";
    } else {
      fail("usage: kernel_check [--dotprod yes|no]");
    }
  }
  const bool dotprod = neon_has_dotprod();
  check_dispatch(expect_dotprod == -1 ? dotprod : expect_dotprod == 1);
  const GemmKernel& neon = gemm_kernel(Isa::Neon);
  ThreadPool threads(3);
  pool = &threads;
  constexpr int kAttentionCases = 40;
  for (int i = 0; i < kAttentionCases; ++i) check_attention_case(neon);
  constexpr int kFp32Cases = 480, kInt8Cases = 480;  // ten passes over the 48 epilogue combinations each
  for (int i = 0; i < kFp32Cases; ++i) check_fp32_case(i, neon);
  for (int i = 0; i < kInt8Cases; ++i) check_int8_case(i, neon, dotprod);
  check_qmatmul();
  std::printf("kernel_check: OK: %d fp32, %d int8 and %d attention cases, int8 paths: widen%s; quantized linears "
              "(q8_0, q4_0, their x16 forms, q4_K, q6_K, f16); max relative error fp32 and attention %.3g, int8 "
              "dequantized %.3g, quantized linears %.3g\n",
              kFp32Cases, kInt8Cases, kAttentionCases, dotprod ? " + dotprod (dispatched)" : " (dispatched)",
              worst_fp32, worst_int8, worst_quant);
  return 0;
}
