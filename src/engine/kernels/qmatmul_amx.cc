// The portable half of the AMX prefill: may this process use AMX, and are the arguments sane. No AMX or AVX-512
// instruction here (this file is built for every architecture); the kernel lives in qmatmul_amx_kernels_amx.cc.
#include "engine/kernels/qmatmul_amx.h"

#include <stdexcept>
#include <string>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace mlfaas {

namespace {

#if defined(__x86_64__) && defined(__linux__)
constexpr int kArchGetXcompPerm = 0x1022;  // arch_prctl codes from <asm/prctl.h> (Linux 5.16)
constexpr int kArchReqXcompPerm = 0x1023;
constexpr int kXfeatureXtileData = 18;  // XCR0 / XSAVE component of the 8 KiB tile data

uint64_t read_xcr0() {
  uint32_t lo = 0, hi = 0;
  // Raw xgetbv: the intrinsic would need -mxsave on this portable file.
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

bool detect_amx_int8() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool osxsave = (ecx >> 27) & 1u, f16c = (ecx >> 29) & 1u;
  if (!osxsave || !f16c) return false;  // without OSXSAVE, xgetbv itself would fault
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool avx512 = ((ebx >> 16) & 1u) && ((ebx >> 17) & 1u) && ((ebx >> 30) & 1u) && ((ebx >> 31) & 1u);
  const bool amx_tile = (edx >> 24) & 1u, amx_int8 = (edx >> 25) & 1u;
  if (!avx512 || !amx_tile || !amx_int8) return false;
  // The OS must save SSE/AVX (bits 1-2), the AVX-512 state (5-7) and both tile components (17-18).
  const uint64_t needed = (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 17) | (1u << 18);
  if ((read_xcr0() & needed) != needed) return false;
  // Linux keeps the tile data state disabled (XFD) until the process asks; older kernels say EINVAL here.
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtileData) != 0) return false;
  uint64_t permitted = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &permitted) != 0) return false;
  return (permitted >> kXfeatureXtileData) & 1u;
}
#else
bool detect_amx_int8() { return false; }
#endif

}  // namespace

bool amx_int8_usable() {
  static const bool usable = detect_amx_int8();  // a function-local static: asked once, thread-safe
  return usable;
}

bool qmatmul_amx_supports(QuantType t) {
  return t == QuantType::Q8_0 || t == QuantType::Q4_0 || t == QuantType::Q8_0_X16 || t == QuantType::Q4_0_X16;
}

void qmatmul_amx(const QWeight& w, const float* x, int64_t ldx, int m, float* y, int64_t ldy, ThreadPool* pool) {
  if (!qmatmul_amx_supports(w.type))
    throw std::invalid_argument(std::string("qmatmul_amx: weight type ") + quant_type_name(w.type) +
                                " is not Q8_0, Q4_0 or their _X16 forms");
  const int block = quant_block_elems(w.type);
  if (w.k <= 0 || w.k % block != 0 || w.rows < 0)
    throw std::invalid_argument("qmatmul_amx: weight shape [" + std::to_string(w.rows) + ", " +
                                std::to_string(w.k) + "] is not rows x (a positive multiple of 32)");
  const size_t packed_row = static_cast<size_t>(w.k / block) * quant_block_bytes(w.type);
  if (w.row_bytes < packed_row)
    throw std::invalid_argument("qmatmul_amx: row_bytes " + std::to_string(w.row_bytes) + " < " +
                                std::to_string(packed_row) + " needed for k = " + std::to_string(w.k));
  if (m < 1 || ldx < w.k || ldy < w.rows)
    throw std::invalid_argument("qmatmul_amx: m = " + std::to_string(m) + ", ldx = " + std::to_string(ldx) +
                                ", ldy = " + std::to_string(ldy) + " do not fit k = " + std::to_string(w.k) +
                                ", rows = " + std::to_string(w.rows));
  if (w.rows == 0) return;
  if (!w.data || !x || !y) throw std::invalid_argument("qmatmul_amx: null weight, input or output");
  if (!amx_int8_usable()) throw std::runtime_error("qmatmul_amx: AMX-INT8 is not available to this process");
#if defined(__x86_64__)
  qmatmul_amx_kernel(w, x, ldx, m, y, ldy, pool);
#else
  (void)pool;
#endif
}

}  // namespace mlfaas
