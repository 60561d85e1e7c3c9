// One-element definitions of every Unary and Binary op for any compute type. They are the
// reference semantics (ONNX operator docs); the vectorized float loops must agree with them.
// Anonymous namespace: each instruction-set translation unit gets its own copy.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "ops/atomic.h"

namespace walle::cpu {
namespace {

template <typename T>
T unary_scalar(UnaryOp op, T x, float alpha, float beta) {
  using D = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const D v = static_cast<D>(x);
  switch (op) {
    case UnaryOp::Identity: return x;
    case UnaryOp::Neg: return static_cast<T>(-x);
    case UnaryOp::Abs:
      if constexpr (std::is_unsigned_v<T>)
        return x;
      else
        return x < 0 ? static_cast<T>(-x) : x;
    case UnaryOp::Relu: return x < T(0) ? T(0) : x;  // NaN falls through: NaN out, as ORT and numpy
    case UnaryOp::Sigmoid: return static_cast<T>(1 / (1 + std::exp(-v)));
    case UnaryOp::Tanh: return static_cast<T>(std::tanh(v));
    case UnaryOp::Exp: return static_cast<T>(std::exp(v));
    case UnaryOp::Log: return static_cast<T>(std::log(v));
    case UnaryOp::Sqrt: return static_cast<T>(std::sqrt(v));
    case UnaryOp::Rsqrt: return static_cast<T>(1 / std::sqrt(v));
    case UnaryOp::Reciprocal: return static_cast<T>(1 / v);
    case UnaryOp::Erf: return static_cast<T>(std::erf(v));
    case UnaryOp::Gelu: return static_cast<T>(0.5 * v * (1 + std::erf(v / std::sqrt(D(2)))));
    case UnaryOp::Floor: return static_cast<T>(std::floor(v));
    case UnaryOp::Ceil: return static_cast<T>(std::ceil(v));
    case UnaryOp::Round: return static_cast<T>(std::nearbyint(v));  // half to even
    case UnaryOp::Sin: return static_cast<T>(std::sin(v));
    case UnaryOp::Cos: return static_cast<T>(std::cos(v));
    case UnaryOp::Not: return static_cast<T>(!x);
    case UnaryOp::Sign: return v != v ? x : static_cast<T>(v > 0 ? 1 : (v < 0 ? -1 : 0));  // Sign(NaN) = NaN
    case UnaryOp::Softplus: return static_cast<T>(std::log1p(std::exp(v)));
    case UnaryOp::LeakyRelu: return static_cast<T>(v >= 0 ? v : v * alpha);
    case UnaryOp::Elu: return static_cast<T>(v >= 0 ? v : alpha * (std::exp(v) - 1));
    case UnaryOp::Clip: return static_cast<T>(v < alpha ? alpha : (v > beta ? beta : v));
    // Clamps written with comparisons, not fmax/fmin (which return the number and drop a NaN).
    case UnaryOp::HardSigmoid: {
      D t = alpha * v + beta;
      return static_cast<T>(t < 0 ? D(0) : (t > 1 ? D(1) : t));
    }
    case UnaryOp::HardSwish: {
      D t = v / 6 + D(0.5);
      return static_cast<T>(v * (t < 0 ? D(0) : (t > 1 ? D(1) : t)));
    }
    case UnaryOp::Silu: return static_cast<T>(v / (1 + std::exp(-v)));
    case UnaryOp::Square: return static_cast<T>(x * x);
    case UnaryOp::IsNaN: return static_cast<T>(std::isnan(v));
    case UnaryOp::IsInf: return static_cast<T>(std::isinf(v));
    case UnaryOp::IsPosInf: return static_cast<T>(std::isinf(v) && v > 0);
    case UnaryOp::IsNegInf: return static_cast<T>(std::isinf(v) && v < 0);
    case UnaryOp::Tan: return static_cast<T>(std::tan(v));
    case UnaryOp::Asin: return static_cast<T>(std::asin(v));
    case UnaryOp::Acos: return static_cast<T>(std::acos(v));
    case UnaryOp::Atan: return static_cast<T>(std::atan(v));
    case UnaryOp::Sinh: return static_cast<T>(std::sinh(v));
    case UnaryOp::Cosh: return static_cast<T>(std::cosh(v));
    case UnaryOp::Asinh: return static_cast<T>(std::asinh(v));
    case UnaryOp::Acosh: return static_cast<T>(std::acosh(v));
    case UnaryOp::Atanh: return static_cast<T>(std::atanh(v));
    case UnaryOp::BitNot:
      if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
        return static_cast<T>(~x);
      else
        return x;
  }
  return x;
}

template <typename T>
T binary_scalar(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return static_cast<T>(a + b);
    case BinaryOp::Sub: return static_cast<T>(a - b);
    case BinaryOp::Mul: return static_cast<T>(a * b);
    case BinaryOp::Div:
      if constexpr (std::is_integral_v<T>)
        return b == 0 ? T(0) : static_cast<T>(a / b);  // ORT: no trap
      else
        return a / b;
    case BinaryOp::Pow: return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
    case BinaryOp::Max:
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
      }
      return a > b ? a : b;
    case BinaryOp::Min:
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
      }
      return a < b ? a : b;
    case BinaryOp::Mod:
      if constexpr (std::is_integral_v<T>) {
        if (b == 0) return T(0);
        T r = static_cast<T>(a % b);
        if constexpr (std::is_signed_v<T>)
          if (r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
        return r;
      } else {
        T r = std::fmod(a, b);
        if (r != 0 && ((r < 0) != (b < 0))) r += b;
        return r;
      }
    case BinaryOp::FMod:
      if constexpr (std::is_integral_v<T>)
        return b == 0 ? T(0) : static_cast<T>(a % b);
      else
        return std::fmod(a, b);
    case BinaryOp::PRelu: return a >= T(0) ? a : static_cast<T>(a * b);
    // Shifting by the bit width or more (or a negative amount) is UB in C++; ONNX shifts every
    // bit out: 0, or -1 for a negative value shifted right (arithmetic shift).
    case BinaryOp::BitShiftLeft:
      if constexpr (std::is_integral_v<T>)
        return (b < T(0) || b >= T(8 * sizeof(T))) ? T(0) : static_cast<T>(a << b);
      else
        return a;
    case BinaryOp::BitShiftRight:
      if constexpr (std::is_integral_v<T>)
        return (b < T(0) || b >= T(8 * sizeof(T))) ? (a < T(0) ? T(-1) : T(0)) : static_cast<T>(a >> b);
      else
        return a;
    case BinaryOp::BitAnd:
      if constexpr (std::is_integral_v<T>)
        return static_cast<T>(a & b);
      else
        return a;
    case BinaryOp::BitOr:
      if constexpr (std::is_integral_v<T>)
        return static_cast<T>(a | b);
      else
        return a;
    case BinaryOp::BitXor:
      if constexpr (std::is_integral_v<T>)
        return static_cast<T>(a ^ b);
      else
        return a;
    default: return a;  // comparisons are handled by compare_scalar
  }
}

template <typename T>
bool compare_scalar(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Equal: return a == b;
    case BinaryOp::Less: return a < b;
    case BinaryOp::Greater: return a > b;
    case BinaryOp::LessEqual: return a <= b;
    case BinaryOp::GreaterEqual: return a >= b;
    case BinaryOp::And: return a && b;
    case BinaryOp::Or: return a || b;
    case BinaryOp::Xor: return static_cast<bool>(a) != static_cast<bool>(b);
    default: return false;
  }
}

}  // namespace
}  // namespace walle::cpu
