#include "search/measure.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

namespace walle::search {

namespace {

double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

size_t bytes_of(const AtomicTensor& t) { return static_cast<size_t>(numel(t.shape)) * dtype_size(t.dtype); }

}  // namespace

double measure_op_us(const Backend& backend, const AtomicOp& op, const AtomicGraph& graph, const std::string& algorithm,
                     ThreadPool& pool, int reps) {
  std::unique_ptr<Kernel> kernel = backend.make_variant(op, graph, algorithm);
  kernel->plan(op, graph);
  std::vector<std::shared_ptr<void>> buffers;
  KernelIO io;
  for (int id : op.inputs) {
    if (id < 0) {
      io.inputs.push_back(nullptr);
      continue;
    }
    const AtomicTensor& t = graph.tensors[id];
    size_t bytes = bytes_of(t);
    buffers.push_back(backend.allocate(bytes));
    std::vector<char> host(bytes, 0);
    if (graph.is_constant(id)) std::memcpy(host.data(), graph.tensors[graph.root(id)].constant.data(), bytes);
    backend.copy_in(buffers.back().get(), host.data(), bytes);
    io.inputs.push_back(buffers.back().get());
  }
  buffers.push_back(backend.allocate(bytes_of(graph.tensors[op.output])));
  io.output = buffers.back().get();
  if (size_t scratch = kernel->scratch_bytes()) {
    buffers.push_back(backend.allocate(scratch));
    io.scratch = buffers.back().get();
  }
  double t_warm = now_us();
  kernel->run(io, pool);  // warm-up: first-touch, lazy pipeline creation, caches
  backend.sync();
  // A slow op (tens of ms) is measured once: its noise is small relative to its time, and
  // repeating it would make tuning slow on CPU-emulated devices.
  if (now_us() - t_warm > 20000) reps = 1;
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    double t0 = now_us();
    kernel->run(io, pool);
    backend.sync();
    times.push_back(now_us() - t0);
  }
  return median(times);
}

double measure_copy_us(const Backend& backend, size_t bytes, int reps) {
  std::shared_ptr<void> dev = backend.allocate(bytes);
  std::vector<char> host(bytes, 1);
  std::vector<double> times;
  for (int r = 0; r < reps + 1; ++r) {
    double t0 = now_us();
    backend.copy_in(dev.get(), host.data(), bytes);
    backend.copy_out(host.data(), dev.get(), bytes);
    backend.sync();
    if (r > 0) times.push_back((now_us() - t0) / 2);
  }
  return median(times);
}

}  // namespace walle::search
