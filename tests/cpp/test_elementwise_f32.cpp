// The float32 elementwise/reduce/softmax/layer-norm tables of every SIMD level this processor
// has (AVX2, AVX-512 or NEON) against the portable table, over awkward lengths (1, 3, 4, 7,
// 17, 1023: vector bodies and every tail) and the stride patterns broadcasting produces.
// Standalone (no gtest): exit code 1 on any failure; the last line is "N passed, N failed".
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "core/cpu_features.h"
#include "cpu/elementwise_f32.h"

using namespace walle;
using namespace walle::cpu;

namespace {

using walle_test::check;

const int64_t kLengths[] = {1, 3, 4, 7, 16, 17, 63, 1023};

std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -4.f, float hi = 4.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Largest |a - b| / (atol + rtol |b|) over the arrays; <= 1 passes. NaN must match NaN.
bool close(const std::vector<float>& a, const std::vector<float>& b, float atol, float rtol, std::string* where) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(b[i]) != std::isnan(a[i]) ||
        (!std::isnan(b[i]) && std::fabs(a[i] - b[i]) > atol + rtol * std::fabs(b[i]))) {
      *where = "index " + std::to_string(i) + ": " + std::to_string(a[i]) + " vs reference " + std::to_string(b[i]);
      return false;
    }
  }
  return true;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::string& what,
                  float atol = 1e-6f, float rtol = 1e-5f) {
  std::string where;
  check(close(got, want, atol, rtol, &where), what + (where.empty() ? "" : " at " + where));
}

void test_unary(Isa isa, const ElementwiseF32& t, const ElementwiseF32& ref) {
  const UnaryOp ops[] = {UnaryOp::Relu,        UnaryOp::Clip,       UnaryOp::Sigmoid,  UnaryOp::Tanh,
                         UnaryOp::Exp,         UnaryOp::Erf,        UnaryOp::Gelu,     UnaryOp::Silu,
                         UnaryOp::Neg,         UnaryOp::Abs,        UnaryOp::Sqrt,     UnaryOp::Rsqrt,
                         UnaryOp::Square,      UnaryOp::Reciprocal, UnaryOp::Identity, UnaryOp::LeakyRelu,
                         UnaryOp::HardSigmoid, UnaryOp::HardSwish,  UnaryOp::Log,      UnaryOp::Softplus};
  for (UnaryOp op : ops)
    for (int64_t n : kLengths) {
      const bool positive = op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt || op == UnaryOp::Log;
      // Wide inputs reach exp's clamps and the tanh/erf branch points (0.25, 0.02).
      std::vector<float> x = random_vec(n, 11 + n, positive ? 0.01f : -90.f, positive ? 50.f : 90.f);
      if (n >= 7) x[1] = 0.01f, x[2] = -0.2f, x[3] = 0.f, x[4] = -0.f;
      if (n >= 7 && !positive) x[5] = std::nanf("");
      std::vector<float> got(n, -7.f), want(n, -7.f);
      t.unary(op, x.data(), got.data(), n, 0.2f, 0.6f);
      ref.unary(op, x.data(), want.data(), n, 0.2f, 0.6f);
      expect_close(
          got, want,
          std::string(isa_name(isa)) + " unary op " + std::to_string(static_cast<int>(op)) + " n=" + std::to_string(n),
          2e-6f, 4e-6f);
    }
}

void test_binary(Isa isa, const ElementwiseF32& t, const ElementwiseF32& ref) {
  const BinaryOp ops[] = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul,   BinaryOp::Div,
                          BinaryOp::Max, BinaryOp::Min, BinaryOp::PRelu, BinaryOp::Pow};
  const int64_t strides[][2] = {{1, 1}, {1, 0}, {0, 1}, {2, 1}, {1, 3}};
  for (BinaryOp op : ops)
    for (int64_t n : kLengths)
      for (const auto& s : strides) {
        std::vector<float> a = random_vec(n * 3 + 1, 3 + n, 0.1f, 4.f), b = random_vec(n * 3 + 1, 5 + n);
        if (op != BinaryOp::Pow) a = random_vec(n * 3 + 1, 3 + n);
        if (n >= 7) a[2] = std::nanf("");
        std::vector<float> got(n, -7.f), want(n, -7.f);
        t.binary(op, a.data(), s[0], b.data(), s[1], got.data(), n);
        ref.binary(op, a.data(), s[0], b.data(), s[1], want.data(), n);
        expect_close(got, want,
                     std::string(isa_name(isa)) + " binary op " + std::to_string(static_cast<int>(op)) +
                         " n=" + std::to_string(n) + " strides " + std::to_string(s[0]) + "," + std::to_string(s[1]));
      }
}

void test_reduce(Isa isa, const ElementwiseF32& t, const ElementwiseF32& ref) {
  const ReduceOp ops[] = {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min, ReduceOp::SumSquare};
  const int64_t shapes[][3] = {{1, 1, 1}, {1, 7, 1},  {3, 17, 1},    {2, 1023, 1}, {2, 5, 3},
                               {1, 7, 4}, {3, 4, 17}, {1, 33, 1023}, {4, 1, 7}};
  for (ReduceOp op : ops)
    for (const auto& s : shapes) {
      const int64_t outer = s[0], R = s[1], inner = s[2];
      std::vector<float> x = random_vec(outer * R * inner, 17 + R);
      std::vector<float> got(outer * inner, -7.f), want(outer * inner, -7.f);
      t.reduce(op, x.data(), outer, R, inner, got.data());
      ref.reduce(op, x.data(), outer, R, inner, want.data());
      expect_close(got, want,
                   std::string(isa_name(isa)) + " reduce op " + std::to_string(static_cast<int>(op)) + " " +
                       std::to_string(outer) + "x" + std::to_string(R) + "x" + std::to_string(inner),
                   1e-4f, 1e-5f);
    }
}

void test_rows(Isa isa, const ElementwiseF32& t, const ElementwiseF32& ref) {
  for (int64_t R : kLengths)
    for (int64_t rows : {1, 3}) {
      const std::string shape = std::to_string(rows) + "x" + std::to_string(R);
      std::vector<float> x = random_vec(rows * R, 23 + R, -8.f, 8.f);
      if (R >= 7) x[R / 2] = -3.4e38f;  // a masked score (flushed to 0, not a denormal)
      std::vector<float> got(rows * R), want(rows * R);
      t.softmax(x.data(), rows, R, got.data());
      ref.softmax(x.data(), rows, R, want.data());
      expect_close(got, want, std::string(isa_name(isa)) + " softmax " + shape, 1e-7f, 1e-5f);
      if (R >= 7) check(got[R / 2] == want[R / 2], std::string(isa_name(isa)) + " softmax of a masked score " + shape);

      std::vector<uint8_t> cond(R);
      for (int64_t i = 0; i < R; ++i) cond[i] = (i * 7) % 3 != 0;
      t.masked_softmax(x.data(), cond.data(), 0, rows, R, rows, 0.125f, -1e4f, got.data());
      ref.masked_softmax(x.data(), cond.data(), 0, rows, R, rows, 0.125f, -1e4f, want.data());
      expect_close(got, want, std::string(isa_name(isa)) + " masked softmax " + shape, 1e-7f, 1e-5f);
      t.masked_softmax(x.data(), nullptr, 0, rows, R, 1, 0.5f, 0.f, got.data());
      ref.masked_softmax(x.data(), nullptr, 0, rows, R, 1, 0.5f, 0.f, want.data());
      expect_close(got, want, std::string(isa_name(isa)) + " scaled softmax " + shape, 1e-7f, 1e-5f);

      x = random_vec(rows * R, 37 + R, -3.f, 5.f);
      const std::vector<float> scale = random_vec(R, 29), bias = random_vec(R, 31);
      for (int variant = 0; variant < 3; ++variant) {
        const float* sp = variant >= 1 ? scale.data() : nullptr;
        const float* bp = variant == 2 ? bias.data() : nullptr;
        t.layernorm(x.data(), rows, R, sp, bp, 1e-5f, got.data());
        ref.layernorm(x.data(), rows, R, sp, bp, 1e-5f, want.data());
        expect_close(got, want,
                     std::string(isa_name(isa)) + " layernorm variant " + std::to_string(variant) + " " + shape, 1e-4f,
                     1e-4f);
      }
    }
}

}  // namespace

int main() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_includes(detected_isa(), isa)) isas.push_back(isa);
#if defined(__aarch64__)
  check(detected_isa() == Isa::Neon, std::string("aarch64 detects neon, got ") + isa_name(detected_isa()));
#endif
  const ElementwiseF32& ref = elementwise_f32_reference();
  for (Isa isa : isas) {
    const ElementwiseF32& t = elementwise_f32(isa);
    check(&t != &ref, std::string(isa_name(isa)) + " has its own table");
    test_unary(isa, t, ref);
    test_binary(isa, t, ref);
    test_reduce(isa, t, ref);
    test_rows(isa, t, ref);
  }
  return walle_test::report();
}
