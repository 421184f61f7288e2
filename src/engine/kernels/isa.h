#pragma once
// Instruction-set levels the kernels are compiled for, and the choice among them at run time.
#include <string>
#include <string_view>
#include <vector>

namespace mlfaas {

// Two chains above Portable, one per architecture, each ordered: a higher level needs everything a lower one of
// the same chain needs. x86-64: Avx2 < Avx512 < Avx512Vnni. aarch64: Neon (the ARMv8.0 baseline, so always there).
// Levels of different chains are never compared: a CPU supports one chain only.
// Avx512Vnni runs the AVX-512 fp32 kernels and adds VNNI (vpdpbusd) for int8; at Avx512 and Avx2 int8 uses the
// exact AVX2 int16-widening kernel. Neon's int8 kernel uses sdot when the CPU has ARMv8.2 dotprod (a run-time
// choice inside the level, see gemm_kernels.h).
enum class Isa { Portable = 0, Avx2 = 1, Avx512 = 2, Avx512Vnni = 3, Neon = 4 };

std::string_view isa_name(Isa isa);            // "portable", "avx2", "avx512", "avx512vnni", "neon"
bool cpu_supports(Isa isa);                    // compiled in for this architecture and usable on this CPU/OS
Isa best_isa();                                // the highest level cpu_supports()
std::vector<Isa> supported_isas();             // every level cpu_supports(), lowest first
// Parses "portable" | "avx2" | "avx512" | "avx512vnni" | "neon"; throws std::invalid_argument naming the
// accepted values.
Isa parse_isa(std::string_view name);
// The level to use: `requested` if given, else $MLFAAS_ISA if set, else best_isa(). Throws
// std::runtime_error with a one-line reason when the level is unknown or this CPU lacks it.
Isa resolve_isa(const std::string& requested = "");

}  // namespace mlfaas
