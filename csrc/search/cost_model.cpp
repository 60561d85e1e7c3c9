#include "search/cost_model.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#include "search/measure.h"

namespace walle::search {

namespace {

double op_bytes(const AtomicOp& op, const AtomicGraph& g) {
  double bytes = static_cast<double>(numel(g.tensors[op.output].shape) * dtype_size(g.tensors[op.output].dtype));
  for (int id : op.inputs)
    if (id >= 0) bytes += static_cast<double>(numel(g.tensors[id].shape) * dtype_size(g.tensors[id].dtype));
  return bytes;
}

double op_flops(const AtomicOp& op, const AtomicGraph& g) {
  switch (op.kind) {
    case AtomicKind::MatMul: return 2.0 * op.batch * op.M * op.N * op.K;
    case AtomicKind::Conv:
      return 2.0 * op.n * op.out_c * op.out_h * op.out_w * (op.c / op.group) * op.kernel_h * op.kernel_w;
    case AtomicKind::Pool: return 1.0 * op.n * op.c * op.out_h * op.out_w * op.kernel_h * op.kernel_w;
    default: return static_cast<double>(numel(g.tensors[op.output].shape));
  }
}

int launches(const AtomicOp& op) {
  if (op.kind != AtomicKind::Raster) return 1;
  return std::max<int>(1, static_cast<int>(op.regions.size()) + (op.fill_output ? 1 : 0));
}

// A tiny graph holding one op over fresh f32 tensors of the given shapes.
AtomicGraph one_op_graph(AtomicOp& op, const std::vector<Shape>& inputs, const Shape& out) {
  AtomicGraph g;
  for (const Shape& s : inputs) op.inputs.push_back(g.add_tensor(DType::F32, s));
  op.output = g.add_tensor(DType::F32, out);
  return g;
}

Calibration measure(const Backend& backend, ThreadPool& pool) {
  Calibration c;
  AtomicOp tiny;
  tiny.kind = AtomicKind::Unary;
  tiny.unary = UnaryOp::Relu;
  tiny.origin = "calibration";
  AtomicGraph g1 = one_op_graph(tiny, {{1}}, {1});
  c.launch_us = std::max(0.5, measure_op_us(backend, tiny, g1, "", pool, 5));
  AtomicOp big = tiny;
  big.inputs.clear();
  const int64_t n = 1 << 20;
  AtomicGraph g2 = one_op_graph(big, {{n}}, {n});
  double t = std::max(1.0, measure_op_us(backend, big, g2, "", pool) - c.launch_us);
  c.bytes_per_us = 8.0 * n / t;
  AtomicOp mm;
  mm.kind = AtomicKind::MatMul;
  mm.M = mm.N = mm.K = 256;
  mm.origin = "calibration";
  AtomicGraph g3 = one_op_graph(mm, {{256, 256}, {256, 256}}, {256, 256});
  t = std::max(1.0, measure_op_us(backend, mm, g3, "", pool) - c.launch_us);
  c.flops_per_us = 2.0 * 256 * 256 * 256 / t;
  if (!backend.host_memory()) {
    double small = measure_copy_us(backend, 64), large = measure_copy_us(backend, 4 << 20);
    c.copy_latency_us = small;
    c.copy_bytes_per_us = (4 << 20) / std::max(1.0, large - small);
  }
  return c;
}

std::string key_of(const Backend& backend, ThreadPool& pool) {
  std::string key = backend.device_key() + "/threads=" + std::to_string(pool.size());
  for (char& ch : key)
    if (ch == ' ' || ch == '\t' || ch == '\n') ch = '_';
  return key;
}

}  // namespace

void append_cache_line(const std::string& path, const std::string& line) {
  // One write() of the whole line on an O_APPEND descriptor: processes tuning at the same time
  // (pytest -n, several services) append whole lines instead of interleaving their pieces.
  const std::string text = line + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;  // an unwritable cache only means measuring again next time
  [[maybe_unused]] ssize_t written = ::write(fd, text.data(), text.size());
  ::close(fd);
}

Calibration calibration(const Backend& backend, ThreadPool& pool) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  const std::string key = key_of(backend, pool), path = cache_dir() + "/calibration.txt";
  {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream s(line);
      std::string k;
      Calibration c;
      if (s >> k >> c.launch_us >> c.bytes_per_us >> c.flops_per_us >> c.copy_latency_us >> c.copy_bytes_per_us &&
          k == key)
        return c;
    }
  }
  Calibration c = measure(backend, pool);
  std::ostringstream line;
  line << key << ' ' << c.launch_us << ' ' << c.bytes_per_us << ' ' << c.flops_per_us << ' ' << c.copy_latency_us << ' '
       << c.copy_bytes_per_us;
  append_cache_line(path, line.str());
  return c;
}

double estimate_us(const Calibration& c, const AtomicOp& op, const AtomicGraph& g) {
  double flops = op_flops(op, g);
  // Only GEMM-like ops run at the calibrated GEMM rate; elementwise math is bandwidth-bound.
  double compute = (op.kind == AtomicKind::MatMul || op.kind == AtomicKind::Conv) ? flops / c.flops_per_us
                                                                                  : flops / (c.flops_per_us * 0.25);
  return c.launch_us * launches(op) + std::max(op_bytes(op, g) / c.bytes_per_us, compute);
}

double copy_us(const Calibration& c, double bytes) {
  if (c.copy_bytes_per_us <= 0) return 0;
  return c.copy_latency_us + bytes / c.copy_bytes_per_us;
}

}  // namespace walle::search
