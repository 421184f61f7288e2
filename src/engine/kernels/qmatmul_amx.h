#pragma once
// Prefill (m > 1) for Q8_0 / Q4_0 weights, in rows or row-interleaved (_X16), on Intel AMX (Sapphire Rapids and later): the integer block products run
// on the tile unit with TDPBSSD (s8 x s8 -> s32), one 32-element block per instruction, so every block's integer
// sum is exact and separate and is then scaled in fp32 with AVX-512. Results equal qmatmul()'s other levels to
// float rounding: the activations are quantized the same way and the integer block sums are identical.
//
// Layout: the weights are the A operand (16 weight rows x 32 bytes of one block, row-major, so unpacking a block of
// the row types is a copy or a nibble split; a block of an _X16 group, 16 rows x 4 bytes per 64-byte quad, is an
// 8 x 16 transpose of dwords, after a nibble split for Q4_0_X16 or an XOR back to signed codes for Q8_0_X16) and the
// quantized activations are the B operand, packed once per call into the VNNI tile layout (16 rows of X per tile).
// A panel of 32 weight rows is two _X16 groups; only the unpacking differs between the four types. A thread takes a panel of 32 weight rows at a time,
// unpacks all its blocks once, and runs every 16-row group of X over it; each 16 x 16 block of outputs stays in
// AVX-512 registers across the whole k, and the tile unit works three blocks ahead of the scaling. While it computes a
// panel it prefetches the next one, so the weights stream from memory once per call.
//
// Threads and state: AMX tile registers are per thread; each chunk of work loads its own tile configuration and
// releases the tiles when done, so pool workers leave no tile state behind. Scratch, all thread_local and grown
// once to the largest call, then reused (no allocation per call after warm-up): the packed activations of the
// calling thread (m x k bytes + scales) and each worker's unpacked panel (32 x k bytes + scales).
#include <cstdint>

#include "engine/kernels/qmatmul.h"

namespace mlfaas {

// True when this CPU has AMX-TILE, AMX-INT8 and the AVX-512 subsets the epilogue uses, and the OS let this process
// use the tile data state (Linux >= 5.16: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), asked once per
// process; thread-safe). False on any other CPU, OS or architecture; never faults.
bool amx_int8_usable();

// Whether qmatmul_amx() implements weights of type `t` (Q8_0, Q4_0, Q8_0_X16 and Q4_0_X16).
bool qmatmul_amx_supports(QuantType t);

// Y[i, r] = sum_j X[i, j] W[r, j] for i < m, r < w.rows; Y is overwritten (never past w.rows: an _X16 weight's
// padding rows are not outputs). X and Y are fp32 with row strides ldx
// (>= w.k) and ldy (>= w.rows). W is used in place and never written (it may be a read-only mapping). Rows of W are
// split across `pool` (null: the calling thread alone). Works for any m >= 1 but pays for 16 rows of X at a time,
// so it is meant for m >= 16.
//
// Numerics: each 32-element block of each row of X is quantized as ggml's quantize_row_q8_0_ref does, with the
// scale kept in fp32: d = amax / 127, id = d ? 1 / d : 0, q = x * id rounded to nearest, ties to even (as qmatmul.cc's quantizer and ggml's vectorized quantize_row_q8_0). Then, for every output,
//   acc = 0; for b = 0, 1, ..., k/32 - 1: acc = fma(float(isum_b), fl(d_x[i, b] * d_w[r, b]), acc);  y = acc
// where isum_b is the exact int32 sum of the block's 32 products (|isum_b| <= 32 * 128 * 127 < 2^24, so float()
// is exact) and d_w is the block's fp16 scale widened to fp32. This is the order ggml's vec_dot_q8_0_q8_0 uses.
// An _X16 weight holds the same blocks as its row form, so it gives the same Y bit for bit; so do the _X16
// kernels of qmatmul()'s levels that fuse their multiply-adds (x16_groups in qmatmul_kernels.inc: same
// quantizer, same order, same fma; not the portable level, which rounds the product before adding).
//
// Throws std::invalid_argument for an unsupported type or inconsistent shapes, std::runtime_error when
// !amx_int8_usable().
void qmatmul_amx(const QWeight& w, const float* x, int64_t ldx, int m, float* y, int64_t ldy, ThreadPool* pool);

// The kernel behind qmatmul_amx(), in qmatmul_amx_kernels_amx.cc (built on x86-64 only): arguments already
// checked and AMX already granted. Not for other callers.
void qmatmul_amx_kernel(const QWeight& w, const float* x, int64_t ldx, int m, float* y, int64_t ldy,
                        ThreadPool* pool);

}  // namespace mlfaas
