#pragma once
// Linear layers with weights packed once at load into the layout of the chosen GEMM microkernel, and the driver
// that runs them (row blocking is the kernel's; N-panels are split across threads when the work is big enough).
#include <cstdint>
#include <cstdlib>
#include <memory>
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
};

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
class PackedLinear {
 public:
  PackedLinear() = default;
  // w: [out, in] row-major; bias: [out] or null. Panels come from `arena` when given, else are owned.
  PackedLinear(const GemmKernel& kernel, WeightArena* arena, const float* w, const float* bias, int out, int in);

  int out() const { return out_; }
  int in() const { return in_; }
  const float* panels() const { return panels_; }
  const float* bias() const { return bias_.empty() ? nullptr : bias_.data(); }
  const float* scale() const { return scale_.empty() ? nullptr : scale_.data(); }
  const float* shift() const { return shift_.empty() ? nullptr : shift_.data(); }
  void set_affine(std::vector<float> scale, std::vector<float> shift);
  int panel_count() const { return panel_count_; }

 private:
  int out_ = 0, in_ = 0, panel_count_ = 0;
  AlignedFloats owned_;
  const float* panels_ = nullptr;
  std::vector<float> bias_, scale_, shift_;
};

// Row-stacks several Linears that read the same input into one (e.g. Q, K and V), so one GEMM pass does all.
// Each part keeps its own bias and (if any) affine; parts without an affine get the identity.
PackedLinear stack_linears(const GemmKernel& kernel, WeightArena* arena, const std::vector<const float*>& weights,
                           const std::vector<const float*>& biases, const std::vector<int>& outs, int in,
                           const std::vector<const float*>& scales = {}, const std::vector<const float*>& shifts = {});

struct LinearPost {
  int act = kActNone;
  const float* residual = nullptr;  // [m, ldr]
  int64_t ldr = 0;
  bool apply_affine = true;  // use the layer's fused affine if it has one
};

// Runs linears with one kernel and a thread pool.
class GemmRunner {
 public:
  GemmRunner(const GemmKernel& kernel, int threads) : kernel_(kernel), pool_(threads) {}
  const GemmKernel& kernel() const { return kernel_; }
  ThreadPool& pool() { return pool_; }
  WeightArena& arena() { return arena_; }
  int threads() const { return pool_.threads(); }

  // c[m, out] = post(a[m, in] · Wᵀ + b)
  void linear(const PackedLinear& layer, const float* a, int64_t lda, int m, float* c, int64_t ldc,
              const LinearPost& post = {});

 private:
  void linear_rows(const PackedLinear& layer, const float* a, int64_t lda, int m, float* c, int64_t ldc,
                   const LinearPost& post);

  const GemmKernel& kernel_;
  ThreadPool pool_;
  WeightArena arena_;
};

}  // namespace mlfaas
