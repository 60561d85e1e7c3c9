// Conversions between float and the sub-16-bit types of ONNX (Cast operator doc, "float 8"
// and "4 bit" sections): float8 e4m3fn / e4m3fnuz / e5m2 / e5m2fnuz / e8m0, float4 e2m1 and
// the 4- and 2-bit integers. Each element is one byte holding the type's bit pattern.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace walle {

bool dtype_is_small(DType t);  // one of the types above
double small_to_double(DType t, uint8_t bits);
// Round to nearest even. saturate: out-of-range values (and infinities, for the types without
// them) clamp to the largest finite value instead of becoming NaN/inf. e8m0_round: 0 up,
// 1 down, 2 nearest (Cast's round_mode for float8e8m0). Integer types wrap like a C cast.
uint8_t double_to_small(DType t, double x, bool saturate, int e8m0_round = 0);

}  // namespace walle
