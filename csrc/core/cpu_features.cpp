#include "core/cpu_features.h"

#include "core/error.h"

namespace walle {

Isa detected_isa() {
#if defined(__x86_64__) || defined(_M_X64)
  static const Isa isa = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
      return Isa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
    return Isa::Reference;
  }();
  return isa;
#else
  return Isa::Reference;
#endif
}

Isa parse_isa(const std::string& name) {
  if (name.empty() || name == "auto") return detected_isa();
  Isa wanted;
  if (name == "reference") wanted = Isa::Reference;
  else if (name == "avx2") wanted = Isa::Avx2;
  else if (name == "avx512") wanted = Isa::Avx512;
  else throw Error(ErrorKind::Invalid, "unknown isa '" + name + "' (expected auto, reference, avx2 or avx512)");
  if (static_cast<int>(wanted) > static_cast<int>(detected_isa()))
    throw Error(ErrorKind::Backend, std::string("isa '") + name + "' is not supported by this processor (best: " +
                                        isa_name(detected_isa()) + ")");
  return wanted;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Reference: return "reference";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

}  // namespace walle
