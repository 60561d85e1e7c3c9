// Microbenchmarks of the CPU backend's non-GEMM kernels (google-benchmark), run the way a
// session runs them: the kernel variant the backend ranks first for the op (or the one named,
// as SessionOptions::force names it), planned once, then run. Reports GFLOP/s (2 * MACs) for convolutions and
// GB/s (bytes read + written) for softmax, layernorm and pooling.
//   walle_ops_bench --benchmark_filter=conv --benchmark_repetitions=5
// Names: <op>/<shape>/<algorithm or kernel>/t<threads>.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "backend/backend.h"

using namespace walle;

namespace {

void fill(Tensor& t) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < numel(t.shape()); ++i) p[i] = d(rng);
}

// A one-op graph: input tensors (constants where `constant`), one output.
struct OneOp {
  AtomicGraph g;
  AtomicOp op;
  std::vector<Tensor> data;  // every input's values, constants included

  int input(const Shape& s, bool constant) {
    int id = g.add_tensor(DType::F32, s);
    Tensor t(DType::F32, s);
    fill(t);
    if (constant) {
      g.tensors[id].storage = Storage::Constant;
      g.tensors[id].constant = t;
    } else {
      g.tensors[id].storage = Storage::Input;
    }
    data.push_back(t);
    op.inputs.push_back(id);
    return id;
  }
  void output(const Shape& s) { op.output = g.add_tensor(DType::F32, s); }
};

void run_op(benchmark::State& state, OneOp& o, int threads, const char* algo, double work, bool bytes) {
  auto backend = make_backend("cpu");
  std::unique_ptr<Kernel> k = backend->make_variant(o.op, o.g, algo ? algo : "");
  k->plan(o.op, o.g);
  state.SetLabel(k->name());
  ThreadPool pool(threads);
  std::shared_ptr<void> scratch = backend->allocate(std::max<size_t>(k->scratch_bytes(), 64));
  Tensor out(DType::F32, o.g.tensors[o.op.output].shape);
  KernelIO io;
  for (const Tensor& t : o.data) io.inputs.push_back(t.data());
  io.output = out.data();
  io.scratch = scratch.get();
  for (auto _ : state) {
    k->run(io, pool);
    benchmark::ClobberMemory();
  }
  state.counters[bytes ? "GB/s" : "GFLOP/s"] =
      benchmark::Counter(work * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

struct ConvShape {
  const char* name;
  int64_t c, h, w, oc, k, stride, pad, group;
};

const ConvShape kConvs[] = {
    {"resnet_3x3_64x56x56", 64, 56, 56, 64, 3, 1, 1, 1},
    {"resnet_3x3_128x28x28", 128, 28, 28, 128, 3, 1, 1, 1},
    {"resnet_3x3_256x14x14", 256, 14, 14, 256, 3, 1, 1, 1},
    {"resnet_3x3_512x7x7", 512, 7, 7, 512, 3, 1, 1, 1},
    {"resnet_3x3_s2_128x56x56", 128, 56, 56, 128, 3, 2, 1, 1},
    {"resnet_stem_7x7_s2", 3, 224, 224, 64, 7, 2, 3, 1},
    {"resnet_1x1_256to64x56x56", 256, 56, 56, 64, 1, 1, 0, 1},
    {"resnet_1x1_64to256x56x56", 64, 56, 56, 256, 1, 1, 0, 1},
    {"resnet_1x1_64to64x56x56", 64, 56, 56, 64, 1, 1, 0, 1},
    {"resnet_1x1_1024to256x14x14", 1024, 14, 14, 256, 1, 1, 0, 1},
    {"resnet_1x1_512to2048x7x7", 512, 7, 7, 2048, 1, 1, 0, 1},
    {"resnet_1x1_s2_256to512x56x56", 256, 56, 56, 512, 1, 2, 0, 1},
    {"depthwise_3x3_144x56x56", 144, 56, 56, 144, 3, 1, 1, 144},
    {"depthwise_3x3_s2_96x112x112", 96, 112, 112, 96, 3, 2, 1, 96},
    {"depthwise_3x3_576x14x14", 576, 14, 14, 576, 3, 1, 1, 576},
    {"mobilenet_1x1_16to96x112x112", 16, 112, 112, 96, 1, 1, 0, 1},
    {"mobilenet_1x1_144to24x56x56", 144, 56, 56, 24, 1, 1, 0, 1},
    {"mobilenet_1x1_576to96x14x14", 576, 14, 14, 96, 1, 1, 0, 1},
};

void conv(benchmark::State& state, ConvShape s, int threads, const char* algo) {
  OneOp o;
  o.op.kind = AtomicKind::Conv;
  o.op.c = s.c, o.op.h = s.h, o.op.w = s.w, o.op.out_c = s.oc, o.op.group = s.group;
  o.op.kernel_h = o.op.kernel_w = s.k;
  o.op.stride_h = o.op.stride_w = s.stride;
  o.op.pad_top = o.op.pad_left = s.pad;
  o.op.out_h = (s.h + 2 * s.pad - s.k) / s.stride + 1;
  o.op.out_w = (s.w + 2 * s.pad - s.k) / s.stride + 1;
  // "blocked*": the channel-blocked layout (ops/atomic.h), input blocked unless it has < 16
  // channels; "blocked" lets the backend choose, "blocked-direct" / "blocked-winograd" force.
  const bool blocked = algo && std::string(algo).rfind("blocked", 0) == 0;
  const int64_t b = kChannelBlock, cb = (s.c + b - 1) / b, ocb = (s.oc + b - 1) / b;
  o.op.blocked_output = blocked;
  o.op.blocked_input = blocked && s.c >= b;
  o.input(o.op.blocked_input ? Shape{1, cb, s.h, s.w, b} : Shape{1, s.c, s.h, s.w}, false);
  o.input({s.oc, s.c / s.group, s.k, s.k}, true);
  o.input({s.oc}, true);
  o.output(blocked ? Shape{1, ocb, o.op.out_h, o.op.out_w, b} : Shape{1, s.oc, o.op.out_h, o.op.out_w});
  if (blocked && std::string(algo) == "blocked") algo = nullptr;
  const double macs = 1.0 * s.oc * o.op.out_h * o.op.out_w * (s.c / s.group) * s.k * s.k;
  run_op(state, o, threads, algo, 2 * macs, false);
}

void softmax(benchmark::State& state, int64_t rows, int64_t R, int threads) {
  OneOp o;
  o.op.kind = AtomicKind::Fused;
  o.op.fused = FusedOp::Softmax;
  o.op.outer = rows, o.op.reduce_size = R;
  o.input({rows, R}, false);
  o.output({rows, R});
  run_op(state, o, threads, nullptr, 8.0 * rows * R, true);
}

void layernorm(benchmark::State& state, int64_t rows, int64_t R, int threads) {
  OneOp o;
  o.op.kind = AtomicKind::Fused;
  o.op.fused = FusedOp::LayerNorm;
  o.op.outer = rows, o.op.reduce_size = R;
  o.op.alpha = 1e-5f;
  o.input({rows, R}, false);
  o.input({R}, true);
  o.input({R}, true);
  o.output({rows, R});
  run_op(state, o, threads, nullptr, 8.0 * rows * R, true);
}

void maxpool(benchmark::State& state, int threads) {
  OneOp o;
  o.op.kind = AtomicKind::Pool;
  o.op.max_pool = true;
  o.op.c = 64, o.op.h = 112, o.op.w = 112, o.op.out_c = 64;
  o.op.kernel_h = o.op.kernel_w = 3;
  o.op.stride_h = o.op.stride_w = 2;
  o.op.pad_top = o.op.pad_left = 1;
  o.op.out_h = o.op.out_w = 56;
  o.input({1, 64, 112, 112}, false);
  o.output({1, 64, 56, 56});
  run_op(state, o, threads, nullptr, 4.0 * 64 * (112 * 112 + 56 * 56), true);
}

int register_all() {
  auto reg = [](const std::string& name, auto fn) {
    benchmark::RegisterBenchmark(name.c_str(), fn)->UseRealTime()->Unit(benchmark::kMicrosecond);
  };
  for (int t : {1, 2}) {
    const std::string tn = "/t" + std::to_string(t);
    for (const ConvShape& s : kConvs) {
      const bool winograd = s.k == 3 && s.stride == 1 && s.group == 1;
      for (const char* algo : {"auto", "im2col", "im2col-t", "winograd-f23", "winograd-f43", "blocked",
                               "blocked-direct", "blocked-winograd"}) {
        if (std::string(algo).find("winograd") != std::string::npos && !winograd) continue;
        if (std::string(algo) == "blocked-direct" && !winograd) continue;
        if (std::string(algo).rfind("im2col", 0) == 0 && s.group > 1) continue;
        const char* forced = std::string(algo) == "auto" ? nullptr : algo;
        reg(std::string("conv/") + s.name + "/" + algo + tn,
            [s, t, forced](benchmark::State& st) { conv(st, s, t, forced); });
      }
    }
    for (auto [rows, R] : {std::pair<int64_t, int64_t>{512, 128}, {128, 1024}, {4096, 17}})
      reg("softmax/" + std::to_string(rows) + "x" + std::to_string(R) + tn,
          [rows = rows, R = R, t](benchmark::State& st) { softmax(st, rows, R, t); });
    for (auto [rows, R] : {std::pair<int64_t, int64_t>{128, 256}, {128, 768}, {1024, 1023}})
      reg("layernorm/" + std::to_string(rows) + "x" + std::to_string(R) + tn,
          [rows = rows, R = R, t](benchmark::State& st) { layernorm(st, rows, R, t); });
    reg("maxpool/3x3_s2_64x112x112" + tn, [t](benchmark::State& st) { maxpool(st, t); });
  }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
