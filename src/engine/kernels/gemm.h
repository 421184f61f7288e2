#pragma once
// Linear layers with weights packed once at load into the layout of the chosen GEMM microkernel, and the driver
// that runs them (row blocking is the kernel's; N-panels are split across threads when the work is big enough).
#include <cstdint>
#include <cstdlib>
#include <memory>
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

// y = x · Wᵀ + b for a torch Linear weight W [out, in]. Optionally carries a per-output affine (scale, shift) to
// fuse a following NoNorm.
//
// Precision::Int8 stores W quantized instead of the fp32 panels: symmetric int8 per output channel (scale =
// max|w| / 127, codes -127..127), packed in the int8 layout of gemm_kernels.h, with each column's code sum for the
// activation zero-point correction. GemmRunner quantizes the input rows at run time (u8, per row).
class PackedLinear {
 public:
  PackedLinear() = default;
  // w: [out, in] row-major; bias: [out] or null. Panels come from `arena` when given, else are owned.
  PackedLinear(const GemmKernel& kernel, WeightArena* arena, const float* w, const float* bias, int out, int in,
               Precision precision = Precision::Fp32);

  bool is_int8() const { return int8_panels_ != nullptr; }
  const int8_t* int8_panels() const { return int8_panels_; }
  const int32_t* int8_colsum() const { return colsum_.data(); }
  const float* int8_scale() const { return wscale_.data(); }
  int int8_kp() const { return kp_; }

  int out() const { return out_; }
  int in() const { return in_; }
  const float* panels() const { return panels_; }
  const float* bias() const { return bias_.empty() ? nullptr : bias_.data(); }
  const float* scale() const { return scale_.empty() ? nullptr : scale_.data(); }
  const float* shift() const { return shift_.empty() ? nullptr : shift_.data(); }
  void set_affine(std::vector<float> scale, std::vector<float> shift);
  int panel_count() const { return panel_count_; }

 private:
  int out_ = 0, in_ = 0, panel_count_ = 0, kp_ = 0;
  AlignedFloats owned_;
  const float* panels_ = nullptr;
  const int8_t* int8_panels_ = nullptr;
  std::vector<int32_t> colsum_;
  std::vector<float> wscale_;
  std::vector<float> bias_, scale_, shift_;
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
