// Run-time choice of the kernel level: what the CPU (and OS) supports, optionally lowered by MLFAAS_ISA.
#include <cstdlib>
#include <stdexcept>
#include <string>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "engine/kernels/gemm.h"
#include "engine/kernels/isa.h"

namespace mlfaas {

namespace {
#if defined(__x86_64__)
// AVX-VNNI is CPUID leaf 7, sub-leaf 1, EAX bit 4. Asked directly because clang's __builtin_cpu_supports does not
// know "avxvnni" (GCC 12's does); it uses the ymm state that the AVX2 check already confirmed the OS saves.
bool cpuid_avx_vnni() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
  return (eax >> 4) & 1u;
}
#endif
}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Portable: return "portable";
    case Isa::Avx2: return "avx2";
    case Isa::AvxVnni: return "avxvnni";
    case Isa::Avx512: return "avx512";
    case Isa::Avx512Vnni: return "avx512vnni";
    case Isa::Neon: return "neon";
  }
  return "?";
}

bool cpu_supports(Isa isa) {
  switch (isa) {
    case Isa::Portable: return true;
#if defined(__x86_64__)
    // libgcc's cpu model also checks XGETBV, so a level is reported only when the OS saves its registers.
    case Isa::Avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::AvxVnni: return cpu_supports(Isa::Avx2) && cpuid_avx_vnni();
    case Isa::Avx512:
      return cpu_supports(Isa::Avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    case Isa::Avx512Vnni: return cpu_supports(Isa::Avx512) && __builtin_cpu_supports("avx512vnni");
#endif
#if defined(__aarch64__)
    case Isa::Neon: return true;  // Advanced SIMD is mandatory in ARMv8-A
#endif
    default: return false;
  }
}

Isa best_isa() {
  for (Isa isa : {Isa::Avx512Vnni, Isa::Avx512, Isa::AvxVnni, Isa::Avx2, Isa::Neon}) {
    if (cpu_supports(isa)) return isa;
  }
  return Isa::Portable;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::AvxVnni, Isa::Avx512, Isa::Avx512Vnni, Isa::Neon}) {
    if (cpu_supports(isa)) out.push_back(isa);
  }
  return out;
}

Isa parse_isa(std::string_view name) {
  for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::AvxVnni, Isa::Avx512, Isa::Avx512Vnni, Isa::Neon}) {
    if (name == isa_name(isa)) return isa;
  }
  throw std::invalid_argument("unknown ISA level '" + std::string(name) +
                              "' (expected portable, avx2, avxvnni, avx512, avx512vnni or neon)");
}

Isa resolve_isa(const std::string& requested) {
  std::string name = requested;
  std::string source = "requested ISA";
  if (name.empty()) {
    const char* env = std::getenv("MLFAAS_ISA");
    if (env == nullptr || *env == '\0') return best_isa();
    name = env;
    source = "MLFAAS_ISA";
  }
  Isa isa;
  try {
    isa = parse_isa(name);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(source + ": " + e.what());
  }
  if (!cpu_supports(isa)) {
    throw std::runtime_error(source + "=" + name + ": this CPU does not support it (best available: " +
                             std::string(isa_name(best_isa())) + ")");
  }
  return isa;
}

const GemmKernel& gemm_kernel(Isa isa) {
  if (!cpu_supports(isa)) {
    throw std::runtime_error("ISA level " + std::string(isa_name(isa)) + " is not supported by this CPU");
  }
  static const GemmKernel kPortable{Isa::Portable, 16, &gemm_portable, &attention_head_portable, &gemm_s8_portable,
                                   &quantize_rows_u8, &gemm_portable};
#if defined(__x86_64__)
  static const GemmKernel kAvx2{Isa::Avx2, 16, &gemm_avx2, &attention_head_avx2, &gemm_s8_avx2,
                              &quantize_rows_u8_avx2, &gemm_avx2};
  static const GemmKernel kAvxVnni{Isa::AvxVnni, 16, &gemm_avx2, &attention_head_avx2, &gemm_s8_avxvnni,
                                   &quantize_rows_u8_avx2, &gemm_avx2};
  static const GemmKernel kAvx512{Isa::Avx512, 32, &gemm_avx512, &attention_head_avx512, &gemm_s8_avx2,
                                 &quantize_rows_u8_avx512, &gemm_avx2};
  static const GemmKernel kAvx512Vnni{Isa::Avx512Vnni, 32, &gemm_avx512, &attention_head_avx512,
                                      &gemm_s8_avx512vnni, &quantize_rows_u8_avx512, &gemm_avx2};
  if (isa == Isa::Avx512Vnni) return kAvx512Vnni;
  if (isa == Isa::Avx512) return kAvx512;
  if (isa == Isa::AvxVnni) return kAvxVnni;
  if (isa == Isa::Avx2) return kAvx2;
#endif
#if defined(__aarch64__)
  // The portable attention head is already NEON code here: its 16-byte generic vectors are q registers and GCC
  // fuses its multiply-adds (fmla); a *_neon.cc copy compiled to the same instructions.
  static const GemmKernel kNeon{Isa::Neon, 16, &gemm_neon, &attention_head_portable, &gemm_s8_neon,
                                &quantize_rows_u8, &gemm_neon};
  if (isa == Isa::Neon) return kNeon;
#endif
  return kPortable;
}

}  // namespace mlfaas
