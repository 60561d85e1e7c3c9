#include "core/dtype.h"

#include <cmath>

#include "core/error.h"

namespace walle {

namespace {
struct DTypeInfo {
  DType type;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kTypes[] = {
    {DType::F32, "float32", 4},
    {DType::U8, "uint8", 1},
    {DType::I8, "int8", 1},
    {DType::U16, "uint16", 2},
    {DType::I16, "int16", 2},
    {DType::I32, "int32", 4},
    {DType::I64, "int64", 8},
    {DType::Bool, "bool", 1},
    {DType::F16, "float16", 2},
    {DType::F64, "float64", 8},
    {DType::U32, "uint32", 4},
    {DType::U64, "uint64", 8},
    {DType::BF16, "bfloat16", 2},
    // A 16-byte handle to UTF-8 bytes stored elsewhere (core/strings.h).
    {DType::String, "string", 16},
    {DType::F8E4M3FN, "float8_e4m3fn", 1},
    {DType::F8E4M3FNUZ, "float8_e4m3fnuz", 1},
    {DType::F8E5M2, "float8_e5m2", 1},
    {DType::F8E5M2FNUZ, "float8_e5m2fnuz", 1},
    {DType::U4, "uint4", 1},
    {DType::I4, "int4", 1},
    {DType::F4E2M1, "float4_e2m1fn", 1},
    {DType::F8E8M0, "float8_e8m0fnu", 1},
    {DType::U2, "uint2", 1},
    {DType::I2, "int2", 1},
};
const DTypeInfo* find(DType t) {
  for (const auto& info : kTypes)
    if (info.type == t) return &info;
  return nullptr;
}
}  // namespace

size_t dtype_size(DType t) {
  const DTypeInfo* info = find(t);
  if (!info)
    throw Error(ErrorKind::Unsupported,
                "data type code " + std::to_string(static_cast<int>(t)) + " has no fixed element size");
  return info->size;
}

const char* dtype_name(DType t) {
  const DTypeInfo* info = find(t);
  return info ? info->name : "undefined";
}

DType dtype_from_name(const std::string& name) {
  for (const auto& info : kTypes)
    if (name == info.name) return info.type;
  throw Error(ErrorKind::Unsupported, "unsupported data type '" + name + "'");
}

bool dtype_is_valid(int32_t code) { return find(static_cast<DType>(code)) != nullptr; }

bool dtype_is_float(DType t) { return t == DType::F32 || t == DType::F64 || t == DType::F16 || t == DType::BF16; }

float half_to_float(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float value;
  if (exp == 0)
    value = std::ldexp(static_cast<float>(mant), -24);  // subnormal
  else if (exp == 31)
    value = mant ? NAN : INFINITY;
  else
    value = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  return sign ? -value : value;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t exp = (x >> 23) & 0xff;
  uint32_t mant = x & 0x7fffff;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (mant ? 0x200 : 0));
  int32_t e = static_cast<int32_t>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00);  // overflow to inf
  if (e <= 0) {                                              // subnormal or zero
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;  // may carry into exponent: correct
  return static_cast<uint16_t>(half);
}

uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fff + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}

}  // namespace walle
