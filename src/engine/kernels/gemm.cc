#include "engine/kernels/gemm.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <cstring>
#include <sys/mman.h>
#include <new>
#include <stdexcept>

namespace mlfaas {

AlignedFloats alloc_aligned_floats(size_t count) {
  const size_t bytes = ((count * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes == 0 ? 64 : bytes);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, bytes == 0 ? 64 : bytes);
  return AlignedFloats(static_cast<float*>(p));
}

float* WeightArena::allocate(size_t count) {
  constexpr size_t kHugePage = size_t{2} << 20;
  constexpr size_t kChunkFloats = (size_t{16} << 20) / sizeof(float);
  count = (count + 15) / 16 * 16;  // keep every block 64-byte aligned
  if (count > left_) {
    const size_t floats = std::max(count, kChunkFloats);
    const size_t bytes = (floats * sizeof(float) + kHugePage - 1) / kHugePage * kHugePage;
    void* p = std::aligned_alloc(kHugePage, bytes);
    if (p == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: without THP it is plain memory
#endif
    owned_.emplace_back(p);
    next_ = static_cast<float*>(p);
    left_ = bytes / sizeof(float);
  }
  float* out = next_;
  next_ += count;
  left_ -= count;
  std::memset(out, 0, count * sizeof(float));
  return out;
}

std::string_view precision_name(Precision p) { return p == Precision::Int8 ? "int8" : "fp32"; }

Precision parse_precision(std::string_view name) {
  if (name == "fp32") return Precision::Fp32;
  if (name == "int8") return Precision::Int8;
  throw std::invalid_argument("unknown precision '" + std::string(name) + "' (expected fp32 or int8)");
}

namespace {
constexpr int kRowChunk = 128;  // 64..unbounded measured alike on batch 32; 128 keeps A chunks L2-sized
}  // namespace

float* PackedLinear::allocate(size_t count) {
  if (arena_ != nullptr) return arena_->allocate(count);
  owned_.push_back(alloc_aligned_floats(count));
  return owned_.back().get();
}

PackedLinear::PackedLinear(const GemmKernel& kernel, WeightArena* arena, const float* w, const float* bias, int out,
                           int in, Precision precision)
    : arena_(arena) {
  p_.out = out;
  p_.in = in;
  if (bias != nullptr) {
    float* b = allocate(out);
    std::memcpy(b, bias, sizeof(float) * out);
    p_.bias = b;
  }
  if (precision == Precision::Int8) {
    if (in > kInt8MaxK) {
      throw std::invalid_argument("int8 linear layers take at most " + std::to_string(kInt8MaxK) + " inputs, not " +
                                  std::to_string(in) + " (use fp32)");
    }
    p_.int8 = true;
    p_.nr = kInt8Nr;
    p_.kp = (in + 3) / 4 * 4;
    p_.panel_count = (out + kInt8Nr - 1) / kInt8Nr;
    int8_t* dst = reinterpret_cast<int8_t*>(allocate(p_.panel_bytes() / sizeof(float)));
    p_.panels = dst;
    // int32 sums kept in float-sized slots of the same memory
    int32_t* colsum = reinterpret_cast<int32_t*>(allocate(out));
    float* wscale = allocate(out);
    p_.colsum = colsum;
    p_.wscale = wscale;
    for (int n = 0; n < out; ++n) {
      const float* row = w + static_cast<int64_t>(n) * in;
      float amax = 0.f;
      for (int k = 0; k < in; ++k) amax = std::max(amax, std::fabs(row[k]));
      const float s = amax / 127.f;
      const float inv = s > 0.f ? 1.f / s : 0.f;
      int32_t sum = 0;
      int8_t* panel = dst + static_cast<int64_t>(n / kInt8Nr) * p_.kp * kInt8Nr + (n % kInt8Nr) * 4;
      for (int k = 0; k < in; ++k) {
        const int q = static_cast<int>(std::clamp(std::nearbyint(row[k] * inv), -127.f, 127.f));
        panel[static_cast<int64_t>(k / 4) * kInt8PanelGroupBytes + k % 4] = static_cast<int8_t>(q);
        sum += q;
      }
      colsum[n] = sum;
      wscale[n] = s;
    }
    return;
  }
  const int nr = kernel.nr;
  p_.nr = nr;
  p_.kp = in;
  p_.panel_count = (out + nr - 1) / nr;
  float* dst = allocate(static_cast<size_t>(p_.panel_count) * nr * in);
  p_.panels = dst;
  for (int p = 0; p < p_.panel_count; ++p) {
    for (int k = 0; k < in; ++k) {
      for (int j = 0; j < nr; ++j) {
        const int n = p * nr + j;
        *dst++ = n < out ? w[static_cast<int64_t>(n) * in + k] : 0.f;
      }
    }
  }
}

PackedLinear PackedLinear::view(const PackedLinearParts& parts) {
  PackedLinear layer;
  layer.p_ = parts;
  return layer;
}

void PackedLinear::set_affine(std::span<const float> scale, std::span<const float> shift) {
  if (static_cast<int>(scale.size()) != p_.out || static_cast<int>(shift.size()) != p_.out) {
    throw std::logic_error("PackedLinear::set_affine: size mismatch");
  }
  float* sc = allocate(p_.out);
  float* sh = allocate(p_.out);
  std::memcpy(sc, scale.data(), sizeof(float) * p_.out);
  std::memcpy(sh, shift.data(), sizeof(float) * p_.out);
  p_.scale = sc;
  p_.shift = sh;
}

PackedLinear stack_linears(const GemmKernel& kernel, WeightArena* arena, const std::vector<const float*>& weights,
                           const std::vector<const float*>& biases, const std::vector<int>& outs, int in,
                           const std::vector<const float*>& scales, const std::vector<const float*>& shifts,
                           Precision precision) {
  int total = 0;
  for (int o : outs) total += o;
  std::vector<float> w(static_cast<size_t>(total) * in), b(total, 0.f);
  bool any_affine = false;
  std::vector<float> sc(total, 1.f), sh(total, 0.f);
  int row = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    std::memcpy(w.data() + static_cast<size_t>(row) * in, weights[i], sizeof(float) * outs[i] * in);
    if (biases[i]) std::memcpy(b.data() + row, biases[i], sizeof(float) * outs[i]);
    if (i < scales.size() && scales[i]) {
      any_affine = true;
      std::memcpy(sc.data() + row, scales[i], sizeof(float) * outs[i]);
      std::memcpy(sh.data() + row, shifts[i], sizeof(float) * outs[i]);
    }
    row += outs[i];
  }
  PackedLinear packed(kernel, arena, w.data(), b.data(), total, in, precision);
  if (any_affine) packed.set_affine(sc, sh);
  return packed;
}

void GemmRunner::linear(const PackedLinear& layer, const float* a, int64_t lda, int m, float* c, int64_t ldc,
                        const LinearPost& post) {
  // Many rows (a batch of sentences): go in row chunks so a chunk of A stays in L2 while the weight panels pass.
  for (int row0 = 0; row0 < m; row0 += kRowChunk) {
    LinearPost part = post;
    if (part.residual) part.residual += row0 * part.ldr;
    const int rows = std::min(kRowChunk, m - row0);
    if (layer.is_int8()) {
      linear_rows_int8(layer, a + row0 * lda, lda, rows, c + row0 * ldc, ldc, part);
    } else {
      linear_rows(layer, a + row0 * lda, lda, rows, c + row0 * ldc, ldc, part);
    }
  }
}

namespace {

// The output side of a GEMM call (everything but A and W), shared by the fp32 and int8 paths.
GemmArgs output_args(const PackedLinear& layer, int m, float* c, int64_t ldc, const LinearPost& post) {
  GemmArgs o{};
  o.m = m;
  o.n = layer.out();
  o.k = layer.in();
  o.c = c;
  o.ldc = ldc;
  o.bias = layer.bias();
  o.act = post.act;
  o.residual = post.residual;
  o.ldr = post.ldr;
  if (post.apply_affine) {
    o.scale = layer.scale();
    o.shift = layer.shift();
  }
  return o;
}

// Runs kernel(args) over all of the layer's N-panels, split across the pool when each chunk is real work (a
// hand-off costs about a microsecond): at least `macs_per_chunk` multiply-adds per chunk, up to 4 chunks per thread
// so a late worker's share is picked up by the others. `out(args)` is the GemmArgs whose panel range is set.
template <typename Args, typename Kernel, typename Out>
void run_panels(ThreadPool& pool, const PackedLinear& layer, int m, int64_t macs_per_chunk, Args args, Kernel kernel,
                Out out) {
  const int panels = layer.panel_count();
  const int64_t macs = static_cast<int64_t>(m) * layer.out() * layer.in();
  const int64_t chunks =
      pool.threads() == 1 ? 1 : std::min<int64_t>({panels, 4 * pool.threads(), macs / macs_per_chunk});
  if (chunks <= 1) {
    out(args).panel_begin = 0;
    out(args).panel_end = panels;
    kernel(args);
    return;
  }
  const int parts = static_cast<int>(chunks);
  auto body = [&](int part) {
    Args mine = args;
    out(mine).panel_begin = static_cast<int>(static_cast<int64_t>(panels) * part / parts);
    out(mine).panel_end = static_cast<int>(static_cast<int64_t>(panels) * (part + 1) / parts);
    kernel(mine);
  };
  pool.run(parts, body);
}

}  // namespace

void GemmRunner::linear_rows_int8(const PackedLinear& layer, const float* a, int64_t lda, int m, float* c,
                                  int64_t ldc, const LinearPost& post) {
  const int kp = layer.int8_kp();
  if (qa_.size() < static_cast<size_t>(kRowChunk) * kp) qa_.resize(static_cast<size_t>(kRowChunk) * kp);
  if (qa_scale_.size() < static_cast<size_t>(kRowChunk)) {
    qa_scale_.resize(kRowChunk);
    qa_zero_.resize(kRowChunk);
  }
  kernel_.quantize(a, lda, m, layer.in(), qa_.data(), kp, kp, qa_scale_.data(), qa_zero_.data());
  Int8GemmArgs g{};
  g.a = qa_.data();
  g.lda = kp;
  g.a_zero = qa_zero_.data();
  g.a_scale = qa_scale_.data();
  g.w = layer.int8_panels();
  g.w_colsum = layer.int8_colsum();
  g.w_scale = layer.int8_scale();
  g.kp = kp;
  g.out = output_args(layer, m, c, ldc, post);
  // int8 multiply-adds are ~4x cheaper than fp32's, so a chunk needs 4x as many.
  run_panels(pool_, layer, m, 131072, g, kernel_.int8, [](Int8GemmArgs& x) -> GemmArgs& { return x.out; });
}

void GemmRunner::linear_rows(const PackedLinear& layer, const float* a, int64_t lda, int m, float* c, int64_t ldc,
                             const LinearPost& post) {
  GemmArgs g = output_args(layer, m, c, ldc, post);
  g.a = a;
  g.lda = lda;
  g.w = layer.panels();
  // A compiled model may hold 16-wide panels under a 32-wide level (see GemmKernel::fn16).
  void (*fn)(const GemmArgs&) = layer.nr() == kernel_.nr ? kernel_.fn : layer.nr() == 16 ? kernel_.fn16 : nullptr;
  if (fn == nullptr) {
    throw std::logic_error("no " + std::string(isa_name(kernel_.isa)) + " kernel for " + std::to_string(layer.nr()) +
                           "-column panels");
  }
  run_panels(pool_, layer, m, 32768, g, fn, [](GemmArgs& x) -> GemmArgs& { return x; });
}

}  // namespace mlfaas
