// Whole ops through a Session on the CPU backend at the processor's best level (AVX2/AVX-512
// or NEON) against the "cpu-reference" backend: convolutions (im2col GEMM, 1x1, Winograd,
// depthwise, grouped, strided, fused bias + activation + residual), pooling, Gemm, Softmax,
// LayerNormalization, reductions and broadcast elementwise ops, over awkward sizes. Each case
// also checks that the optimized kernel named after the level ran (the plan report's profile).
// Standalone (no gtest): exit code 1 on any failure; the last line is "N passed, N failed".
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "runtime/session.h"

using namespace walle;

namespace {

using walle_test::check;

Tensor random_tensor(const Shape& shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t(DType::F32, shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = d(rng);
  return t;
}

Attribute ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::Ints;
  a.ints = std::move(v);
  return a;
}
Attribute integer(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::Int;
  a.i = v;
  return a;
}
Attribute real(double v) {
  Attribute a;
  a.kind = Attribute::Kind::Float;
  a.f = v;
  return a;
}

// A one-input graph under construction: nodes are appended, the last output is the result.
struct GraphBuilder {
  Graph g;
  int next = 0;
  explicit GraphBuilder(const Shape& input) { g.inputs.push_back(ValueInfo{"x", DType::F32, input}); }
  std::string weight(const Shape& shape, float lo = -1.f, float hi = 1.f) {
    const std::string name = "w" + std::to_string(next++);
    g.initializers[name] = random_tensor(shape, 100 + next, lo, hi);
    return name;
  }
  std::string node(const std::string& op, std::vector<std::string> inputs,
                   std::map<std::string, Attribute> attrs = {}) {
    const std::string out = "v" + std::to_string(next++);
    g.nodes.push_back(Node{op, out, std::move(inputs), {out}, std::move(attrs)});
    return out;
  }
  std::shared_ptr<Model> finish(const std::string& out) {
    g.outputs.push_back(ValueInfo{out, DType::F32, {}});
    auto m = std::make_shared<Model>();
    m->graph = g;
    return m;
  }
};

struct RunResult {
  std::vector<float> y;
  std::vector<PlannedOp> plan;
};

RunResult run(const std::shared_ptr<Model>& model, const Tensor& x, const std::string& backend, int threads,
              const std::map<std::string, std::string>& force = {}) {
  SessionOptions o;
  o.backend = backend;
  o.threads = threads;
  o.profile = true;
  if (backend != "cpu-reference") o.force = force;
  Session s(model, o);
  std::vector<Value> out = s.run({Value::tensor(x)});
  const Tensor& y = out.at(0).tensors.at(0);
  RunResult r;
  r.y.assign(y.data_as<float>(), y.data_as<float>() + y.numel());
  r.plan = s.plan_report();
  return r;
}

// Runs `model` on both backends and compares. A kernel whose name contains `kernel` (or
// "-blocked") and ends with the level's name ("...-neon") must have run on the optimized backend.
void expect_same(const std::string& what, const std::shared_ptr<Model>& model, const Shape& input,
                 const std::string& kernel, float tol = 1e-4f, const std::map<std::string, std::string>& force = {}) {
  const Tensor x = random_tensor(input, 7);
  try {
    for (int threads : {1, 2}) {
      const RunResult got = run(model, x, "cpu", threads, force), want = run(model, x, "cpu-reference", 1);
      bool same = got.y.size() == want.y.size();
      size_t bad = 0;
      for (size_t i = 0; same && i < got.y.size(); ++i)
        if (!(std::fabs(got.y[i] - want.y[i]) <= tol * (1.f + std::fabs(want.y[i])))) same = false, bad = i;
      check(same,
            what + " (" + std::to_string(threads) + " threads): " +
                (got.y.size() == want.y.size() ? "index " + std::to_string(bad) + " " + std::to_string(got.y[bad]) +
                                                     " vs " + std::to_string(want.y[bad])
                                               : "sizes differ"));
      std::string ran;
      bool found = false;
      for (const PlannedOp& op : got.plan) {
        ran += op.kernel + " ";
        const std::string suffix = std::string("-") + isa_name(detected_isa());
        const bool ends = op.kernel.size() > suffix.size() &&
                          op.kernel.compare(op.kernel.size() - suffix.size(), suffix.size(), suffix) == 0;
        // AVX-512 runs convolutions and pooling on the channel-blocked layout instead (its own kernels).
        const bool named =
            op.kernel.find(kernel) != std::string::npos || op.kernel.find("-blocked") != std::string::npos;
        if (named && ends && op.runs > 0) found = true;
      }
      check(found, what + ": expected kernel '" + kernel + "' to run, plan has: " + ran);
    }
  } catch (const Error& e) { check(false, what + ": " + e.what()); }
}

std::shared_ptr<Model> conv_model(const Shape& x, int64_t out_c, int64_t k, int64_t stride, int64_t pad, int64_t group,
                                  const std::string& activation, bool residual) {
  GraphBuilder b(x);
  const std::string w = b.weight({out_c, x[1] / group, k, k}, -0.5f, 0.5f), bias = b.weight({out_c});
  std::string y = b.node("Conv", {"x", w, bias},
                         {{"kernel_shape", ints({k, k})},
                          {"strides", ints({stride, stride})},
                          {"pads", ints({pad, pad, pad, pad})},
                          {"group", integer(group)}});
  if (residual) {
    const std::string w2 = b.weight({out_c, x[1] / group, k, k}, -0.5f, 0.5f);
    y = b.node("Add", {y, b.node("Conv", {"x", w2},
                                 {{"kernel_shape", ints({k, k})},
                                  {"strides", ints({stride, stride})},
                                  {"pads", ints({pad, pad, pad, pad})},
                                  {"group", integer(group)}})});
  }
  if (activation == "Clip") {
    Tensor lo(DType::F32, {}), hi(DType::F32, {});
    lo.data_as<float>()[0] = 0.f, hi.data_as<float>()[0] = 0.5f;
    b.g.initializers["lo"] = lo, b.g.initializers["hi"] = hi;
    y = b.node("Clip", {y, "lo", "hi"});
  } else if (!activation.empty()) {
    y = b.node(activation, {y});
  }
  return b.finish(y);
}

void test_convolutions(const std::string& isa) {
  struct Case {
    const char* name;
    Shape x;
    int64_t out_c, k, stride, pad, group;
    const char* activation;
    bool residual;
    const char* kernel;
  };
  const Case cases[] = {
      {"3x3 s1 7 -> 17 channels 9x11", {1, 7, 9, 11}, 17, 3, 1, 1, 1, "Relu", false, "f32-conv-"},
      {"3x3 s1 16 -> 33 channels 14x14", {1, 16, 14, 14}, 33, 3, 1, 1, 1, "", false, "f32-conv-"},
      {"3x3 s2 3 -> 13 channels 17x17 (stem)", {1, 3, 17, 17}, 13, 3, 2, 1, 1, "Clip", false, "f32-conv-im2col-gemm"},
      {"1x1 24 -> 7 channels 5x7", {1, 24, 5, 7}, 7, 1, 1, 0, 1, "Sigmoid", false, "f32-conv-1x1-gemm"},
      {"1x1 17 -> 40 channels 13x13 + residual", {2, 17, 13, 13}, 40, 1, 1, 0, 1, "Relu", true, "f32-conv-1x1-gemm"},
      {"5x5 s1 pad 2, 4 -> 9 channels 7x7", {1, 4, 7, 7}, 9, 5, 1, 2, 1, "", false, "f32-conv-"},
      {"depthwise 3x3 s1, 17 channels 15x9", {1, 17, 15, 9}, 17, 3, 1, 1, 17, "Relu", false, "f32-conv-depthwise"},
      {"depthwise 3x3 s2, 8 channels 17x17", {1, 8, 17, 17}, 8, 3, 2, 1, 8, "Clip", false, "f32-conv-depthwise"},
      {"depthwise 3x3 s1 + residual, 16 channels 7x6",
       {1, 16, 7, 6},
       16,
       3,
       1,
       1,
       16,
       "Sigmoid",
       true,
       "f32-conv-depthwise"},
      {"depthwise 3x3 s2, 6 channels 3x3", {1, 6, 3, 3}, 6, 3, 2, 1, 6, "", false, "f32-conv-depthwise"},
      {"depthwise 3x3 s2, 4 channels 30x30", {1, 4, 30, 30}, 4, 3, 2, 1, 4, "Relu", false, "f32-conv-depthwise"},
      {"depthwise 5x5 s1, 5 channels 9x9", {1, 5, 9, 9}, 5, 5, 1, 2, 5, "", false, "f32-conv-depthwise"},
      {"grouped 3x3, 8 -> 12 channels in 4 groups", {1, 8, 9, 9}, 12, 3, 1, 1, 4, "", false, "f32-conv-"},
  };
  for (const Case& c : cases)
    expect_same(std::string("Conv ") + c.name,
                conv_model(c.x, c.out_c, c.k, c.stride, c.pad, c.group, c.activation, c.residual), c.x,
                std::string(c.kernel), 2e-4f);
  // Winograd on NCHW, forced (the cost estimate leaves small layers to im2col).
  expect_same("Conv 3x3 Winograd F(4,3), 12 -> 20 channels 10x13",
              conv_model({1, 12, 10, 13}, 20, 3, 1, 1, 1, "Relu", false), {1, 12, 10, 13},
              "f32-conv-winograd-f43-" + isa, 5e-4f, {{"layout", "nchw"}, {"Conv", "winograd-f43"}});
  expect_same("Conv 3x3 Winograd F(2,3), 9 -> 7 channels 7x7", conv_model({1, 9, 7, 7}, 7, 3, 1, 1, 1, "", false),
              {1, 9, 7, 7}, "f32-conv-winograd-f23-" + isa, 5e-4f, {{"layout", "nchw"}, {"Conv", "winograd-f23"}});
}

void test_pooling(const std::string& isa) {
  for (const char* op : {"MaxPool", "AveragePool"})
    for (int64_t stride : {1, 2}) {
      const Shape x{1, 5, 17, 13};
      GraphBuilder b(x);
      const std::string y =
          b.node(op, {"x"},
                 {{"kernel_shape", ints({3, 3})}, {"strides", ints({stride, stride})}, {"pads", ints({1, 1, 1, 1})}});
      const std::string kernel = std::string(op) == "MaxPool" ? "f32-maxpool-" : "f32-avgpool-";
      expect_same(std::string(op) + " 3x3 stride " + std::to_string(stride), b.finish(y), x, kernel + isa);
    }
}

void test_rows_and_matmul(const std::string& isa) {
  {
    const Shape x{3, 17, 1023};
    GraphBuilder b(x);
    expect_same("Softmax over 1023", b.finish(b.node("Softmax", {"x"}, {{"axis", integer(-1)}})), x,
                "f32-softmax-" + isa);
  }
  {
    const Shape x{7, 33};
    GraphBuilder b(x);
    const std::string s = b.weight({33}), bias = b.weight({33});
    expect_same(
        "LayerNormalization over 33",
        b.finish(b.node("LayerNormalization", {"x", s, bias}, {{"axis", integer(-1)}, {"epsilon", real(1e-5)}})), x,
        "f32-layernorm-" + isa);
  }
  {
    const Shape x{17, 31};
    GraphBuilder b(x);
    const std::string w = b.weight({31, 23}), bias = b.weight({23});
    expect_same("Gemm 17x31 * 31x23 + bias, Gelu", b.finish(b.node("Gelu", {b.node("Gemm", {"x", w, bias})})), x,
                "f32-matmul-");
  }
  {
    const Shape x{2, 7, 1023};
    GraphBuilder b(x);
    Tensor axes(DType::I64, {1});
    axes.data_as<int64_t>()[0] = 2;
    b.g.initializers["axes"] = axes;
    expect_same("ReduceMean over 1023", b.finish(b.node("ReduceMean", {"x", "axes"})), x, "f32-reduce-" + isa);
  }
  {
    const Shape x{4, 17};
    GraphBuilder b(x);
    const std::string w = b.weight({17});
    expect_same("broadcast Mul then Tanh", b.finish(b.node("Tanh", {b.node("Mul", {"x", w})})), x, "f32-binary-" + isa);
  }
}

}  // namespace

int main() {
  const std::string isa = isa_name(detected_isa());
#if defined(__aarch64__)
  // Every aarch64 Linux processor (and qemu-aarch64) reports ASIMD: NEON must be what runs.
  check(detected_isa() == Isa::Neon, "aarch64 detects neon, got " + isa);
#endif
  if (detected_isa() == Isa::Reference) {
    std::printf("no SIMD level on this processor: nothing to compare\n");
    return walle_test::report();
  }
  test_convolutions(isa);
  test_pooling(isa);
  test_rows_and_matmul(isa);
  return walle_test::report();
}
