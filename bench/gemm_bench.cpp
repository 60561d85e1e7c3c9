// SGEMM microbenchmark (google-benchmark). Reports GFLOP/s (2*M*N*K per iteration) for
// square and model shapes, for each Isa this CPU supports, 1 and 2 threads, and B packed
// ahead of time (constant weights) or packed on the fly.
//   walle_gemm_bench --benchmark_filter=avx512 --benchmark_repetitions=5 \
//                    --benchmark_report_aggregates_only=true
// Names: sgemm/<shape>/<isa>/t<threads>/<packed_b|unpacked_b>. For the conv shape A holds
// the weights (pre-packed A in the packed variant); the "packed" flag then applies to A.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "cpu/gemm.h"

using namespace walle;
using namespace walle::cpu;

namespace {

struct Shape {
  const char* name;
  int64_t m, n, k;
  bool weights_in_a;  // conv-as-GEMM: A = weights (packable), B = im2col'd activations
};

const Shape kShapes[] = {
    {"square256", 256, 256, 256, false},
    {"square512", 512, 512, 512, false},
    {"square1024", 1024, 1024, 1024, false},
    {"square2048", 2048, 2048, 2048, false},
    {"resnet_conv_64x3136x576", 64, 3136, 576, true},
    {"pointwise_256x3136x64", 256, 3136, 64, true},  // ResNet-50's 1x1 convs (A = weights)
    {"pointwise_64x3136x256", 64, 3136, 256, true},
    {"pointwise_1024x196x256", 1024, 196, 256, true},
    {"pointwise_1280x49x320", 1280, 49, 320, true},  // MobileNetV2's last 1x1
    {"bert_linear_128x256x256", 128, 256, 256, false},
    {"bert_ffn_128x3072x768", 128, 3072, 768, false},
    {"gemv_1x1024x1024", 1, 1024, 1024, false},
    {"gemv_1x4096x1024", 1, 4096, 1024, false},
};

std::vector<float> random_vec(size_t n) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

void run(benchmark::State& state, Shape s, Isa isa, int threads, bool packed) {
  ThreadPool pool(threads);
  std::vector<float> a = random_vec(s.m * s.k), b = random_vec(s.k * s.n), c(s.m * s.n);
  GemmOperand oa, ob;
  oa.view = {a.data(), s.k, 1};
  ob.view = {b.data(), s.n, 1};
  std::unique_ptr<PackedMatrix> pw;
  if (packed) {
    if (s.weights_in_a)
      oa.packed = (pw = pack_a(s.m, s.k, oa.view, isa)).get();
    else
      ob.packed = (pw = pack_b(s.k, s.n, ob.view, isa)).get();
  }
  GemmEpilogue e;
  for (auto _ : state) {
    sgemm(s.m, s.n, s.k, oa, ob, c.data(), s.n, e, pool, isa);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * s.m * s.n * s.k;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

int register_all() {
  std::vector<Isa> isas = {Isa::Reference};
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_includes(detected_isa(), isa)) isas.push_back(isa);
  for (const Shape& s : kShapes)
    for (Isa isa : isas)
      for (int t : {1, 2})
        for (bool packed : {true, false}) {
          // The reference kernel is only a correctness path: bench it on small squares.
          if (isa == Isa::Reference && (s.m * s.n * s.k > 512LL * 512 * 512 || t == 2)) continue;
          std::string name = std::string("sgemm/") + s.name + "/" + isa_name(isa) + "/t" + std::to_string(t) +
                             (packed ? (s.weights_in_a ? "/packed_a" : "/packed_b") : "/unpacked");
          benchmark::RegisterBenchmark(name.c_str(), run, s, isa, t, packed)
              ->UseRealTime()
              ->Unit(benchmark::kMicrosecond)
              // With --benchmark_repetitions, the "_max" row's GFLOP/s is the best repetition:
              // the robust number on a machine shared with other jobs.
              ->ComputeStatistics("max",
                                  [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); });
        }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
