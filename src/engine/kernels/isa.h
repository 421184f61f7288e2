#pragma once
// Instruction-set levels the kernels are compiled for, and the choice among them at run time.
#include <string>
#include <string_view>
#include <vector>

namespace mlfaas {

// Levels by architecture, declared in order of preference: best_isa() is the last one cpu_supports(). x86-64:
// Avx2, AvxVnni, Avx512, Avx512Vnni. These are not supersets of each other: every x86 level needs AVX2 + FMA, but
// AVX-512 CPUs without AVX-VNNI exist (Skylake-X, Zen 4) and so do AVX-VNNI CPUs without AVX-512 (Alder Lake and
// later client Intel), so each level checks its own features. aarch64: Neon (the ARMv8.0 baseline, so always
// there). A CPU supports levels of one architecture only.
// AvxVnni runs the AVX2 fp32 kernels and the 256-bit VEX vpdpbusd for int8; Avx512Vnni runs the AVX-512 fp32
// kernels and the 512-bit vpdpbusd; at Avx512 and Avx2 int8 uses the exact AVX2 int16-widening kernel. Neon's int8
// kernel uses sdot when the CPU has ARMv8.2 dotprod (a run-time choice inside the level, see gemm_kernels.h).
enum class Isa { Portable = 0, Avx2 = 1, AvxVnni = 2, Avx512 = 3, Avx512Vnni = 4, Neon = 5 };

std::string_view isa_name(Isa isa);  // "portable", "avx2", "avxvnni", "avx512", "avx512vnni", "neon"
bool cpu_supports(Isa isa);          // compiled in for this architecture and usable on this CPU/OS
Isa best_isa();                      // the most preferred level cpu_supports()
std::vector<Isa> supported_isas();   // every level cpu_supports(), in declaration order
// Parses "portable" | "avx2" | "avxvnni" | "avx512" | "avx512vnni" | "neon"; throws std::invalid_argument naming
// the accepted values.
Isa parse_isa(std::string_view name);
// The level to use: `requested` if given, else $MLFAAS_ISA if set, else best_isa(). Throws
// std::runtime_error with a one-line reason when the level is unknown or this CPU lacks it.
Isa resolve_isa(const std::string& requested = "");

}  // namespace mlfaas
