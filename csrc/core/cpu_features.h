// Processor features that select CPU kernels at run time.
#pragma once
#include <string>

namespace walle {

// Instruction-set levels. Reference (portable C++) runs everywhere; the others form one family
// per architecture, ordered within it: on x86 Avx512 implies Avx2; on aarch64 Neon (Advanced
// SIMD with FMA, which every aarch64 processor has). Compare levels with isa_includes, not <.
enum class Isa { Reference = 0, Avx2 = 1, Avx512 = 2, Neon = 3 };

// The best level this processor supports (x86: AVX2 needs FMA too; AVX-512 needs F, BW, DQ,
// VL; aarch64: getauxval(AT_HWCAP) reports ASIMD).
Isa detected_isa();

// Whether a session running at level `have` may use a kernel built for level `kernel`:
// Reference kernels always, others only from the same family at the same or a lower level.
bool isa_includes(Isa have, Isa kernel);

// Parses "reference" | "avx2" | "avx512" | "neon" | "auto" (auto = detected_isa()); throws
// walle::Error for an unknown name or a level this processor lacks.
Isa parse_isa(const std::string& name);
const char* isa_name(Isa isa);

}  // namespace walle
