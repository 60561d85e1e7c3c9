// Processor features that select CPU kernels at run time.
#pragma once
#include <string>

namespace walle {

// Instruction-set levels, ordered: a higher level implies the lower ones.
enum class Isa { Reference = 0, Avx2 = 1, Avx512 = 2 };

// The best level this processor supports (AVX2 needs FMA too; AVX-512 needs F, BW, DQ, VL).
Isa detected_isa();

// Parses "reference" | "avx2" | "avx512" | "auto" (auto = detected_isa()); throws walle::Error.
Isa parse_isa(const std::string& name);
const char* isa_name(Isa isa);

}  // namespace walle
