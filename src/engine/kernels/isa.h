#pragma once
// Instruction-set levels the kernels are compiled for, and the choice among them at run time.
#include <string>
#include <string_view>
#include <vector>

namespace mlfaas {

// Ordered: a higher level needs everything a lower one needs.
// Avx512Vnni runs the AVX-512 fp32 kernels and adds VNNI (vpdpbusd) for int8; at Avx512 and Avx2 int8 uses the
// exact AVX2 int16-widening kernel.
enum class Isa { Portable = 0, Avx2 = 1, Avx512 = 2, Avx512Vnni = 3 };

std::string_view isa_name(Isa isa);            // "portable", "avx2", "avx512", "avx512vnni"
bool cpu_supports(Isa isa);                    // compiled in for this architecture and usable on this CPU/OS
Isa best_isa();                                // the highest level cpu_supports()
std::vector<Isa> supported_isas();             // every level cpu_supports(), lowest first
// Parses "portable" | "avx2" | "avx512" | "avx512vnni"; throws std::invalid_argument naming the accepted values.
Isa parse_isa(std::string_view name);
// The level to use: `requested` if given, else $MLFAAS_ISA if set, else best_isa(). Throws
// std::runtime_error with a one-line reason when the level is unknown or this CPU lacks it.
Isa resolve_isa(const std::string& requested = "");

}  // namespace mlfaas
