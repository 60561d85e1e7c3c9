#include "core/cpu_features.h"

#include "core/error.h"

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace walle {

Isa detected_isa() {
#if defined(__x86_64__) || defined(_M_X64)
  static const Isa isa = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
      return Isa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
    return Isa::Reference;
  }();
  return isa;
#elif defined(__aarch64__) && defined(__linux__)
  // ASIMD is architecturally required on aarch64 Linux, but the kernel reports it, so ask: a
  // kernel or emulator that hides it (qemu -cpu with the feature off) gets the portable path.
  static const Isa isa = [] {
    const unsigned long hwcap = getauxval(AT_HWCAP);
    return (hwcap & HWCAP_ASIMD) && (hwcap & HWCAP_FP) ? Isa::Neon : Isa::Reference;
  }();
  return isa;
#else
  return Isa::Reference;
#endif
}

bool isa_includes(Isa have, Isa kernel) {
  if (kernel == Isa::Reference) return true;
  switch (have) {
    case Isa::Avx512: return kernel == Isa::Avx2 || kernel == Isa::Avx512;
    case Isa::Avx2: return kernel == Isa::Avx2;
    case Isa::Neon: return kernel == Isa::Neon;
    case Isa::Reference: return false;
  }
  return false;
}

Isa parse_isa(const std::string& name) {
  if (name.empty() || name == "auto") return detected_isa();
  Isa wanted;
  if (name == "reference")
    wanted = Isa::Reference;
  else if (name == "avx2")
    wanted = Isa::Avx2;
  else if (name == "avx512")
    wanted = Isa::Avx512;
  else if (name == "neon")
    wanted = Isa::Neon;
  else
    throw Error(ErrorKind::Invalid, "unknown isa '" + name + "' (expected auto, reference, avx2, avx512 or neon)");
  if (!isa_includes(detected_isa(), wanted))
    throw Error(ErrorKind::Backend, std::string("isa '") + name + "' is not supported by this processor (best: " +
                                        isa_name(detected_isa()) + ")");
  return wanted;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Reference: return "reference";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
  }
  return "?";
}

}  // namespace walle
