#include "core/small_types.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

namespace walle {

namespace {

struct MiniFloat {  // sign, exponent and mantissa bits of one float8/float4 layout
  int exp_bits, man_bits, bias;
  bool has_inf;  // e5m2 only: exponent all ones, mantissa 0
  bool fnuz;     // no negative zero; 0x80 is the one NaN
};

MiniFloat layout(DType t) {
  switch (t) {
    case DType::F8E4M3FN: return {4, 3, 7, false, false};
    case DType::F8E4M3FNUZ: return {4, 3, 8, false, true};
    case DType::F8E5M2: return {5, 2, 15, true, false};
    case DType::F8E5M2FNUZ: return {5, 2, 16, false, true};
    default: return {2, 1, 1, false, false};  // F4E2M1: no inf, no NaN
  }
}

int total_bits(DType t) { return t == DType::F4E2M1 ? 4 : 8; }

bool is_nan_code(DType t, uint32_t code) {
  MiniFloat f = layout(t);
  if (t == DType::F4E2M1) return false;
  if (f.fnuz) return code == 0x80;
  uint32_t mag = code & 0x7f, exp = mag >> f.man_bits, man = mag & ((1u << f.man_bits) - 1);
  uint32_t all = (1u << f.exp_bits) - 1;
  if (f.has_inf) return exp == all && man != 0;
  return exp == all && man == (1u << f.man_bits) - 1;  // e4m3fn: S.1111.111
}

double decode_minifloat(DType t, uint32_t code) {
  MiniFloat f = layout(t);
  int bits = total_bits(t);
  uint32_t sign = (code >> (bits - 1)) & 1, mag = code & ((1u << (bits - 1)) - 1);
  if (is_nan_code(t, code)) return std::numeric_limits<double>::quiet_NaN();
  uint32_t exp = mag >> f.man_bits, man = mag & ((1u << f.man_bits) - 1);
  if (f.has_inf && exp == (1u << f.exp_bits) - 1) return sign ? -INFINITY : INFINITY;
  double v = exp == 0 ? std::ldexp(man, 1 - f.bias - f.man_bits)
                      : std::ldexp((1u << f.man_bits) | man, static_cast<int>(exp) - f.bias - f.man_bits);
  return sign ? -v : v;
}

// The non-negative finite values of a layout, ascending, with their codes.
const std::vector<std::pair<double, uint8_t>>& grid(DType t) {
  static std::array<std::vector<std::pair<double, uint8_t>>, 32> cache;
  auto& g = cache[static_cast<int>(t)];
  if (g.empty()) {
    uint32_t half = 1u << (total_bits(t) - 1);
    for (uint32_t c = 0; c < half; ++c) {
      double v = decode_minifloat(t, c);
      if (std::isfinite(v)) g.push_back({v, static_cast<uint8_t>(c)});
    }
    std::sort(g.begin(), g.end());
  }
  return g;
}

uint8_t nan_code(DType t) {
  MiniFloat f = layout(t);
  if (f.fnuz) return 0x80;
  if (f.has_inf) return 0x7f;
  return t == DType::F4E2M1 ? 0x7 : 0x7f;
}

uint8_t encode_minifloat(DType t, double x, bool saturate) {
  MiniFloat f = layout(t);
  int bits = total_bits(t);
  uint8_t sign_bit = static_cast<uint8_t>(1u << (bits - 1));
  if (std::isnan(x)) return t == DType::F4E2M1 ? 0x8 : nan_code(t);  // float4 has no NaN: the reference gives -0
  bool neg = std::signbit(x);
  double a = std::fabs(x);
  const auto& g = grid(t);
  uint8_t max_code = g.back().second;
  auto with_sign = [&](uint8_t code) -> uint8_t {
    if (!neg || (f.fnuz && code == 0)) return code;
    return static_cast<uint8_t>(code | sign_bit);
  };
  uint8_t inf_code = static_cast<uint8_t>(((1u << f.exp_bits) - 1) << f.man_bits);
  auto overflow = [&]() -> uint8_t {
    if (saturate || t == DType::F4E2M1) return with_sign(max_code);
    if (f.has_inf) return with_sign(inf_code);
    return nan_code(t);
  };
  if (std::isinf(a)) {
    if (f.has_inf && !saturate) return with_sign(inf_code);
    return saturate || t == DType::F4E2M1 ? with_sign(max_code) : nan_code(t);
  }
  double top = g.back().first, ulp = top - g[g.size() - 2].first;
  // Past the largest finite value by more than half an ulp it rounds beyond it; exactly half an
  // ulp is a tie, which goes to the even mantissa: E4M3FN's 464 rounds down to 448 (0x7E is even,
  // as ml_dtypes and the Cast spec's RNE have it), E5M2's 61440 up to infinity (0x7B is odd).
  if (a > top + ulp / 2) return overflow();
  if (a > top) return a == top + ulp / 2 && (max_code & 1) ? overflow() : with_sign(max_code);
  auto hi = std::lower_bound(g.begin(), g.end(), std::make_pair(a, uint8_t{0}));
  if (hi->first == a) return with_sign(hi->second);
  auto lo = hi - 1;
  double dl = a - lo->first, dh = hi->first - a;
  uint8_t code = dl < dh ? lo->second : (dh < dl ? hi->second : ((lo->second & 1) ? hi->second : lo->second));
  return with_sign(code);
}

uint8_t encode_e8m0(double x, bool saturate, int round) {
  if (std::isnan(x) || x < 0) return 0xff;
  if (std::isinf(x)) return saturate ? 0xfe : 0xff;
  if (x == 0) return 0;
  int e;
  double m = std::frexp(x, &e);  // x = m * 2^e, m in [0.5, 1)
  m *= 2;
  --e;  // m in [1, 2)
  if (m > 1 && (round == 0 || (round == 2 && m >= 1.5))) ++e;
  int code = e + 127;
  if (code < 0) return 0;
  if (code > 254) return saturate ? 0xfe : 0xff;
  return static_cast<uint8_t>(code);
}

}  // namespace

bool dtype_is_small(DType t) { return static_cast<int>(t) >= 17 && static_cast<int>(t) <= 26; }

double small_to_double(DType t, uint8_t b) {
  switch (t) {
    case DType::U4: return b & 0xf;
    case DType::I4: return static_cast<int8_t>(static_cast<uint8_t>(b << 4)) >> 4;
    case DType::U2: return b & 0x3;
    case DType::I2: return static_cast<int8_t>(static_cast<uint8_t>(b << 6)) >> 6;
    case DType::F8E8M0: return b == 0xff ? std::numeric_limits<double>::quiet_NaN() : std::ldexp(1.0, b - 127);
    default: return decode_minifloat(t, t == DType::F4E2M1 ? (b & 0xf) : b);
  }
}

uint8_t double_to_small(DType t, double x, bool saturate, int e8m0_round) {
  switch (t) {
    case DType::U4:
    case DType::I4:
    case DType::U2:
    case DType::I2: {
      if (std::isnan(x)) return 0;
      double r = std::nearbyint(std::clamp(x, -1e18, 1e18));
      int64_t v = static_cast<int64_t>(r);
      int bits = (t == DType::U4 || t == DType::I4) ? 4 : 2;
      return static_cast<uint8_t>(v & ((1 << bits) - 1));  // wraps, like the reference
    }
    case DType::F8E8M0: return encode_e8m0(x, saturate, e8m0_round);
    default: return encode_minifloat(t, x, saturate);
  }
}

}  // namespace walle
