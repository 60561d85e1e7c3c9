// Element types. The numeric codes equal ONNX's TensorProto.DataType so the converter and
// the model file need no mapping table.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace walle {

enum class DType : int32_t {
  Undefined = 0,
  F32 = 1,
  U8 = 2,
  I8 = 3,
  U16 = 4,
  I16 = 5,
  I32 = 6,
  I64 = 7,
  String = 8,
  Bool = 9,
  F16 = 10,
  F64 = 11,
  U32 = 12,
  U64 = 13,
  BF16 = 16,
  // 8-, 4- and 2-bit types: one element per byte (the low bits), as ml_dtypes stores them;
  // only Cast and the (de)quantize ops compute on them (core/small_types.h).
  F8E4M3FN = 17,
  F8E4M3FNUZ = 18,
  F8E5M2 = 19,
  F8E5M2FNUZ = 20,
  U4 = 21,
  I4 = 22,
  F4E2M1 = 23,
  F8E8M0 = 24,
  U2 = 25,
  I2 = 26,
};

size_t dtype_size(DType t);                      // bytes per element (16 for String: a handle); throws for Undefined
const char* dtype_name(DType t);                 // numpy-style name: "float32", "int64", "bool", ...
DType dtype_from_name(const std::string& name);  // inverse of dtype_name; throws on unknown
bool dtype_is_valid(int32_t code);
bool dtype_is_float(DType t);

// IEEE half and bfloat16 are stored as raw 16-bit patterns and computed in float.
struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
inline float bf16_to_float(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t float_to_bf16(float f);  // round to nearest even, NaN preserved

}  // namespace walle
