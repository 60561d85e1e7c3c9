// Math and activation ops beyond the basic set: trigonometry, bitwise ops, and activations
// defined by a formula over existing atomic ops (ONNX operator docs give each formula).
#include <cmath>
#include <functional>
#include <map>

#include "decompose/registry.h"

namespace walle {

namespace {

template <UnaryOp U>
void unary_op(Decomposer& d) {
  d.set_output(0, d.unary(U, d.input(0)));
}
template <BinaryOp B>
void binary_op(Decomposer& d) {
  d.set_output(0, d.binary(B, d.input(0), d.input(1)));
}

double attr(Decomposer& d, const char* name, double fallback) { return d.node().attr_float(name, fallback); }
int scalar_like(Decomposer& d, double v, int x) { return d.scalar(v, d.dtype(x)); }

// IsInf: detect_positive / detect_negative pick which infinities count.
void is_inf(Decomposer& d) {
  bool pos = d.node().attr_int("detect_positive", 1) != 0, neg = d.node().attr_int("detect_negative", 1) != 0;
  int x = d.input(0);
  if (pos && neg)
    d.set_output(0, d.unary(UnaryOp::IsInf, x));
  else if (pos)
    d.set_output(0, d.unary(UnaryOp::IsPosInf, x));
  else if (neg)
    d.set_output(0, d.unary(UnaryOp::IsNegInf, x));
  else
    d.set_output(0, d.binary(BinaryOp::Less, x, x));  // never true (NaN included)
}

// Softsign: x / (1 + |x|)
void softsign(Decomposer& d) {
  int x = d.input(0);
  d.set_output(0, d.binary(BinaryOp::Div, x, d.binary(BinaryOp::Add, d.unary(UnaryOp::Abs, x), scalar_like(d, 1, x))));
}

// Selu: gamma * (x > 0 ? x : alpha * (exp(x) - 1))
void selu(Decomposer& d) {
  int x = d.input(0);
  double alpha = attr(d, "alpha", 1.67326319217681884765625), gamma = attr(d, "gamma", 1.05070102214813232421875);
  int neg = d.binary(BinaryOp::Mul, d.binary(BinaryOp::Sub, d.unary(UnaryOp::Exp, x), scalar_like(d, 1, x)),
                     scalar_like(d, alpha, x));
  int y = d.select(d.binary(BinaryOp::Greater, x, scalar_like(d, 0, x)), x, neg);
  d.set_output(0, d.binary(BinaryOp::Mul, y, scalar_like(d, gamma, x)));
}

// ThresholdedRelu: x > alpha ? x : 0
void thresholded_relu(Decomposer& d) {
  int x = d.input(0);
  int keep = d.binary(BinaryOp::Greater, x, scalar_like(d, attr(d, "alpha", 1.0), x));
  d.set_output(0, d.select(keep, x, scalar_like(d, 0, x)));
}

// Celu: max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
void celu(Decomposer& d) {
  int x = d.input(0);
  int a = scalar_like(d, attr(d, "alpha", 1.0), x), zero = scalar_like(d, 0, x);
  // expm1(x / alpha) as the doc's function body: exp - 1 in float64 then rounded once, so
  // 16-bit types keep the precision expm1 has (exp - 1 in bfloat16 loses it).
  int q = d.cast(d.binary(BinaryOp::Div, x, a), DType::F64);
  int e = d.cast(d.binary(BinaryOp::Sub, d.unary(UnaryOp::Exp, q), d.scalar(1, DType::F64)), d.dtype(x));
  int neg = d.binary(BinaryOp::Min, zero, d.binary(BinaryOp::Mul, a, e));
  d.set_output(0, d.binary(BinaryOp::Add, d.binary(BinaryOp::Max, zero, x), neg));
}

// Mish: x * tanh(softplus(x))
void mish(Decomposer& d) {
  int x = d.input(0);
  d.set_output(0, d.binary(BinaryOp::Mul, x, d.unary(UnaryOp::Tanh, d.unary(UnaryOp::Softplus, x))));
}

// Swish (opset 24): x * sigmoid(alpha * x)
void swish(Decomposer& d) {
  int x = d.input(0);
  int ax = d.binary(BinaryOp::Mul, x, scalar_like(d, attr(d, "alpha", 1.0), x));
  d.set_output(0, d.binary(BinaryOp::Mul, x, d.unary(UnaryOp::Sigmoid, ax)));
}

// Shrink: x < -lambd ? x + bias : (x > lambd ? x - bias : 0), in the input's type.
void shrink(Decomposer& d) {
  int x = d.input(0);
  double lambd = attr(d, "lambd", 0.5), bias = attr(d, "bias", 0.0);
  DType t = d.dtype(x);
  bool narrow = !dtype_is_float(t);  // compare integers in double so -lambd is exact
  int xf = narrow ? d.cast(x, DType::F64) : x;
  int lo = d.binary(BinaryOp::Less, xf, scalar_like(d, -lambd, xf));
  int hi = d.binary(BinaryOp::Greater, xf, scalar_like(d, lambd, xf));
  int b = scalar_like(d, bias, xf);
  int y =
      d.select(lo, d.binary(BinaryOp::Add, xf, b), d.select(hi, d.binary(BinaryOp::Sub, xf, b), scalar_like(d, 0, xf)));
  d.set_output(0, narrow ? d.cast(y, t) : y);
}

// Det: Laplace expansion along rows over the entries (each a tensor over the batch dims),
// memoized by the set of remaining columns: O(n 2^n) elementwise ops, for n <= 10.
void det(Decomposer& d) {
  int x = d.input(0);
  Shape s = d.shape(x);
  if (s.size() < 2 || s[s.size() - 1] != s[s.size() - 2]) d.fail("input must be [..., n, n]");
  int64_t n = s.back();
  if (n > 10) d.fail("matrices larger than 10 x 10 are not supported");
  Shape batch(s.begin(), s.end() - 2);
  std::vector<int64_t> st = contiguous_strides(s);
  std::vector<int64_t> bst(st.begin(), st.end() - 2);
  std::vector<int> e(n * n);
  for (int64_t i = 0; i < n * n; ++i)
    e[i] = d.raster({{x, i, bst, 0, contiguous_strides(batch), batch}}, d.dtype(x), batch);
  std::map<uint32_t, int> memo;  // columns left -> determinant of the bottom rows over them
  std::function<int(int64_t, uint32_t)> minor = [&](int64_t row, uint32_t cols) -> int {
    if (row == n) return d.broadcast_to(d.scalar(1, d.dtype(x)), batch);
    auto it = memo.find(cols);
    if (it != memo.end()) return it->second;
    int acc = -1, sign = 0;
    for (int64_t j = 0; j < n; ++j) {
      if (!(cols >> j & 1)) continue;
      int term = d.binary(BinaryOp::Mul, e[row * n + j], minor(row + 1, cols & ~(1u << j)));
      acc = acc < 0 ? term : d.binary(sign % 2 ? BinaryOp::Sub : BinaryOp::Add, acc, term);
      ++sign;
    }
    return memo[cols] = acc;
  };
  d.set_output(0, minor(0, (1u << n) - 1));
}

}  // namespace

void register_math_ops(CompositeRegistry& r) {
  r["Det"] = {det};
  r["Tan"] = {unary_op<UnaryOp::Tan>};
  r["Asin"] = {unary_op<UnaryOp::Asin>};
  r["Acos"] = {unary_op<UnaryOp::Acos>};
  r["Atan"] = {unary_op<UnaryOp::Atan>};
  r["Sinh"] = {unary_op<UnaryOp::Sinh>};
  r["Cosh"] = {unary_op<UnaryOp::Cosh>};
  r["Asinh"] = {unary_op<UnaryOp::Asinh>};
  r["Acosh"] = {unary_op<UnaryOp::Acosh>};
  r["Atanh"] = {unary_op<UnaryOp::Atanh>};
  r["BitwiseNot"] = {unary_op<UnaryOp::BitNot>};
  r["BitwiseAnd"] = {binary_op<BinaryOp::BitAnd>};
  r["BitwiseOr"] = {binary_op<BinaryOp::BitOr>};
  r["BitwiseXor"] = {binary_op<BinaryOp::BitXor>};
  r["IsInf"] = {is_inf};
  r["Softsign"] = {softsign};
  r["Selu"] = {selu};
  r["ThresholdedRelu"] = {thresholded_relu};
  r["Celu"] = {celu};
  r["Mish"] = {mish};
  r["Swish"] = {swish};
  r["Shrink"] = {shrink};
}

}  // namespace walle
