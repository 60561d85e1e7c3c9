// Calls a generic lambda with a value of the C++ type that stores a DType.
// Half and bfloat16 are stored as Half/BFloat16 and computed in float (see Compute<T>).
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "core/error.h"

namespace walle::cpu {

template <typename T>
struct Compute {
  using type = T;
  static T load(T v) { return v; }
  static T store(T v) { return v; }
};
template <>
struct Compute<Half> {
  using type = float;
  static float load(Half v) { return half_to_float(v.bits); }
  static Half store(float v) { return Half{float_to_half(v)}; }
};
template <>
struct Compute<BFloat16> {
  using type = float;
  static float load(BFloat16 v) { return bf16_to_float(v.bits); }
  static BFloat16 store(float v) { return BFloat16{float_to_bf16(v)}; }
};

// fn(T{}) for every numeric dtype and bool.
template <typename Fn>
auto visit_dtype(DType t, Fn&& fn) {
  switch (t) {
    case DType::F32: return fn(float{});
    case DType::F64: return fn(double{});
    case DType::F16: return fn(Half{});
    case DType::BF16: return fn(BFloat16{});
    case DType::I8: return fn(int8_t{});
    case DType::U8: return fn(uint8_t{});
    case DType::I16: return fn(int16_t{});
    case DType::U16: return fn(uint16_t{});
    case DType::I32: return fn(int32_t{});
    case DType::U32: return fn(uint32_t{});
    case DType::I64: return fn(int64_t{});
    case DType::U64: return fn(uint64_t{});
    case DType::Bool: return fn(bool{});
    default: throw Error(ErrorKind::Unsupported, std::string("no CPU kernel for data type ") + dtype_name(t));
  }
}

}  // namespace walle::cpu
