#pragma once
// Linear layers with weights packed once at load into the layout of the chosen GEMM microkernel, and the driver
// that runs them (row blocking is the kernel's; N-panels are split across threads when the work is big enough).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "engine/kernels/gemm_kernels.h"
#include "engine/kernels/isa.h"
#include "engine/kernels/thread_pool.h"

namespace mlfaas {

struct GemmKernel {
  Isa isa;
  int nr;  // panel width the kernel expects
  void (*fn)(const GemmArgs&);
  AttentionHeadFn attention;  // the same level's attention kernel
  void (*int8)(const Int8GemmArgs&);  // the level's int8 GEMM (one weight layout for all levels, see gemm_kernels.h)
  // The level's activation quantizer: every level produces the same codes.
  void (*quantize)(const float* a, int64_t lda, int m, int k, uint8_t* q, int64_t ldq, int kp, float* scale,
                   int32_t* zero);
  // The level's fp32 kernel for 16-column panels, for compiled models packed for a 16-wide level (every level
  // has one: AVX-512 CPUs run the AVX2 kernel). Null means `fn` when nr == 16.
  void (*fn16)(const GemmArgs&) = nullptr;
};

enum class Precision { Fp32, Int8 };
std::string_view precision_name(Precision p);  // "fp32", "int8"
Precision parse_precision(std::string_view name);  // throws std::invalid_argument

// The kernel for `isa`; throws std::runtime_error when this CPU lacks it.
const GemmKernel& gemm_kernel(Isa isa);

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float[], FreeDeleter>;
AlignedFloats alloc_aligned_floats(size_t count);  // 64-byte aligned, zero-filled

// Memory for a model's packed weights: large 2 MiB-aligned chunks advised as transparent huge pages. At batch 1
// every forward pass streams all weights from DRAM; with 4 KiB pages that costs a TLB walk every 4 KiB (and the
// hardware prefetchers stop at each page boundary) - huge pages made the 24-layer MobileBERT ~15% faster.
class WeightArena {
 public:
  float* allocate(size_t count);  // 64-byte aligned, zero-filled, valid while the arena lives

 private:
  struct ChunkFree {
    void operator()(void* p) const { std::free(p); }
  };
  std::vector<std::unique_ptr<void, ChunkFree>> owned_;
  float* next_ = nullptr;
  size_t left_ = 0;  // floats
};

// A packed linear's memory, wherever it lives (an arena, the layer itself, or a compiled model's mapping).
struct PackedLinearParts {
  int out = 0, in = 0;
  bool int8 = false;
  int nr = 0;  // panel width: the fp32 kernel's nr, or kInt8Nr
  int kp = 0;  // int8: K padded to a multiple of 4; fp32: in
  int panel_count = 0;
  const void* panels = nullptr;   // panel_count * kp * nr floats (fp32) or bytes (int8), 64-byte aligned
  const float* bias = nullptr;    // [out] or null
  const float* scale = nullptr;   // [out] fused affine, or null (then shift is null too)
  const float* shift = nullptr;
  const float* wscale = nullptr;  // int8: per-output-channel weight scale [out]
  const int32_t* colsum = nullptr;  // int8: per-output-channel code sum [out]
  size_t panel_bytes() const { return static_cast<size_t>(panel_count) * kp * nr * (int8 ? 1 : sizeof(float)); }
};

// y = x · Wᵀ + b for a torch Linear weight W [out, in]. Optionally carries a per-output affine (scale, shift) to
// fuse a following NoNorm.
//
// Precision::Int8 stores W quantized instead of the fp32 panels: symmetric int8 per output channel (scale =
// max|w| / 127, codes -127..127), packed in the int8 layout of gemm_kernels.h, with each column's code sum for the
// activation zero-point correction. GemmRunner quantizes the input rows at run time (u8, per row).
//
// Memory: a layer built with an arena keeps everything there; without one it owns its memory; a view (a compiled
// model) points into memory someone else keeps alive. Layers move, never copy.
class PackedLinear {
 public:
  PackedLinear() = default;
  // w: [out, in] row-major; bias: [out] or null.
  PackedLinear(const GemmKernel& kernel, WeightArena* arena, const float* w, const float* bias, int out, int in,
               Precision precision = Precision::Fp32);
  // A layer over memory that outlives it (parts as another layer's parts() described them).
  static PackedLinear view(const PackedLinearParts& parts);
  PackedLinear(PackedLinear&&) = default;
  PackedLinear& operator=(PackedLinear&&) = default;

  const PackedLinearParts& parts() const { return p_; }
  bool is_int8() const { return p_.int8; }
  const int8_t* int8_panels() const { return p_.int8 ? static_cast<const int8_t*>(p_.panels) : nullptr; }
  const int32_t* int8_colsum() const { return p_.colsum; }
  const float* int8_scale() const { return p_.wscale; }
  int int8_kp() const { return p_.kp; }

  int out() const { return p_.out; }
  int in() const { return p_.in; }
  int nr() const { return p_.nr; }
  const float* panels() const { return p_.int8 ? nullptr : static_cast<const float*>(p_.panels); }
  const float* bias() const { return p_.bias; }
  const float* scale() const { return p_.scale; }
  const float* shift() const { return p_.shift; }
  // Copies the affine into the layer's memory.
  void set_affine(std::span<const float> scale, std::span<const float> shift);
  int panel_count() const { return p_.panel_count; }

 private:
  // Memory for `count` floats: from the arena, else owned by this layer.
  float* allocate(size_t count);

  PackedLinearParts p_;
  WeightArena* arena_ = nullptr;
  std::vector<AlignedFloats> owned_;
};

// Row-stacks several Linears that read the same input into one (e.g. Q, K and V), so one GEMM pass does all.
// Each part keeps its own bias and (if any) affine; parts without an affine get the identity.
PackedLinear stack_linears(const GemmKernel& kernel, WeightArena* arena, const std::vector<const float*>& weights,
                           const std::vector<const float*>& biases, const std::vector<int>& outs, int in,
                           const std::vector<const float*>& scales = {}, const std::vector<const float*>& shifts = {},
                           Precision precision = Precision::Fp32);

struct LinearPost {
  int act = kActNone;
  const float* residual = nullptr;  // [m, ldr]
  int64_t ldr = 0;
  bool apply_affine = true;  // use the layer's fused affine if it has one
};

// Runs linears with one kernel and a thread pool.
class GemmRunner {
 public:
  GemmRunner(const GemmKernel& kernel, int threads, Precision precision = Precision::Fp32)
      : kernel_(kernel), pool_(threads), precision_(precision) {}
  const GemmKernel& kernel() const { return kernel_; }
  // The precision networks build their encoder linears in (heads stay fp32: one row, negligible time).
  Precision precision() const { return precision_; }
  ThreadPool& pool() { return pool_; }
  WeightArena& arena() { return arena_; }
  int threads() const { return pool_.threads(); }

  // c[m, out] = post(a[m, in] · Wᵀ + b)
  void linear(const PackedLinear& layer, const float* a, int64_t lda, int m, float* c, int64_t ldc,
              const LinearPost& post = {});

 private:
  void linear_rows(const PackedLinear& layer, const float* a, int64_t lda, int m, float* c, int64_t ldc,
                   const LinearPost& post);

  void linear_rows_int8(const PackedLinear& layer, const float* a, int64_t lda, int m, float* c, int64_t ldc,
                        const LinearPost& post);

  const GemmKernel& kernel_;
  ThreadPool pool_;
  Precision precision_;
  WeightArena arena_;
  // Quantized input rows of the current int8 linear; grown on first use to the largest layer seen, then reused.
  std::vector<uint8_t> qa_;
  std::vector<float> qa_scale_;
  std::vector<int32_t> qa_zero_;
};

}  // namespace mlfaas
