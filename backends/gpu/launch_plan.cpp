// Atomic op -> kernel launches (see launch_plan.h). Parameter layouts mirror kernels.inc.
#include "gpu/launch_plan.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>

namespace walle::gpu {

namespace {

constexpr int64_t kMaxIndex = std::numeric_limits<int32_t>::max();

int32_t bits(float f) {
  int32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

const AtomicTensor& tensor(const AtomicGraph& g, int id) { return g.tensors[id]; }
DType dtype_of(const AtomicGraph& g, int id) { return g.tensors[id].dtype; }

// Kernels index with 32-bit ints (GLSL has no portable 64-bit ints): bigger tensors stay on the CPU.
bool small_enough(const AtomicOp& op, const AtomicGraph& g) {
  if (numel(g.tensors[op.output].shape) > kMaxIndex) return false;
  for (int id : op.inputs)
    if (id >= 0 && numel(g.tensors[id].shape) > kMaxIndex) return false;
  return true;
}

// Work-group shape from an algorithm suffix "wg64" or "wg8x8".
void parse_wg(const std::string& algorithm, int local[3]) {
  size_t at = algorithm.find("wg");
  if (at == std::string::npos) return;
  std::string s = algorithm.substr(at + 2);
  size_t x = s.find('x');
  local[0] = std::stoi(s.substr(0, x));
  local[1] = x == std::string::npos ? 1 : std::stoi(s.substr(x + 1));
  local[2] = 1;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// Broadcast layout of kernels.inc's wl_bcast: rank, dims[6], per-input strides[6], collapsed.
bool broadcast_layout(const Shape& out, const std::vector<Shape>& ins, std::vector<int32_t>* params) {
  const size_t rank = out.size();
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides(ins.size());
  for (size_t d = 0; d < rank; ++d) {
    if (out[d] == 1) continue;  // size-1 dims add nothing
    dims.push_back(out[d]);
    for (size_t i = 0; i < ins.size(); ++i) {
      int64_t offset = static_cast<int64_t>(rank) - static_cast<int64_t>(ins[i].size());
      int64_t stride = 0;
      int64_t k = static_cast<int64_t>(d) - offset;
      if (k >= 0 && ins[i][k] != 1) {
        stride = 1;
        for (size_t q = k + 1; q < ins[i].size(); ++q) stride *= ins[i][q];
      }
      strides[i].push_back(stride);
    }
  }
  // Merge dim d into d-1 where every input walks them as one (contiguous or both broadcast).
  for (size_t d = dims.size(); d-- > 1;) {
    bool merge = true;
    for (auto& s : strides) merge = merge && s[d - 1] == s[d] * dims[d];
    if (!merge) continue;
    dims[d - 1] *= dims[d];
    dims.erase(dims.begin() + d);
    for (auto& s : strides) {
      s[d - 1] = s[d];
      s.erase(s.begin() + d);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    for (auto& s : strides) s.push_back(0);
  }
  if (dims.size() > 6) return false;
  params->push_back(static_cast<int32_t>(dims.size()));
  for (size_t d = 0; d < 6; ++d) params->push_back(d < dims.size() ? static_cast<int32_t>(dims[d]) : 1);
  for (size_t i = 0; i < 3; ++i)
    for (size_t d = 0; d < 6; ++d)
      params->push_back(i < strides.size() && d < strides[i].size() ? static_cast<int32_t>(strides[i][d]) : 0);
  return true;
}

// The fill value as the output dtype's bit pattern, split in two 32-bit words.
bool fill_bits(double v, DType t, int32_t* lo, int32_t* hi) {
  uint64_t b = 0;
  switch (t) {
    case DType::F32: {
      float f = static_cast<float>(v);
      std::memcpy(&b, &f, 4);
      break;
    }
    case DType::F64: std::memcpy(&b, &v, 8); break;
    case DType::F16: b = float_to_half(static_cast<float>(v)); break;
    case DType::BF16: b = float_to_bf16(static_cast<float>(v)); break;
    case DType::I8:
    case DType::I16:
    case DType::I32:
    case DType::I64: b = static_cast<uint64_t>(static_cast<int64_t>(v)); break;
    case DType::U8:
    case DType::U16:
    case DType::U32:
    case DType::U64: b = static_cast<uint64_t>(v); break;
    case DType::Bool: b = v != 0; break;
    default: return false;
  }
  size_t size = dtype_size(t);
  if (size < 8) b &= (uint64_t{1} << (8 * size)) - 1;
  *lo = static_cast<int32_t>(b & 0xffffffffu);
  *hi = static_cast<int32_t>(b >> 32);
  return true;
}

std::string plan_raster(const AtomicOp& op, const AtomicGraph& g, const Capabilities& caps, std::vector<Launch>* out) {
  const AtomicTensor& y = tensor(g, op.output);
  size_t elem = dtype_size(y.dtype);
  if (elem != 4 && elem != 8 && !(caps.small_types && (elem == 1 || elem == 2)))
    return std::to_string(elem) + "-byte elements are not supported on this device";
  std::string suffix = "_" + std::to_string(elem);
  if (op.fill_output) {
    Launch l;
    l.entry = "fill" + suffix;
    l.global[0] = numel(y.shape);
    l.slots[1] = kOutput;
    int32_t lo, hi;
    if (!fill_bits(op.fill, y.dtype, &lo, &hi)) return "no fill encoding for this dtype";
    l.params = {static_cast<int32_t>(numel(y.shape)), lo, hi};
    out->push_back(l);
  }
  for (const Region& r : op.regions) {
    if (r.size[0] * r.size[1] * r.size[2] == 0) continue;
    Launch l;
    l.entry = "raster" + suffix;
    l.global[0] = r.size[2];
    l.global[1] = r.size[1];
    l.global[2] = r.size[0];
    l.local[0] = r.size[2] >= 64 ? 64 : (r.size[2] >= 8 ? 8 : 1);
    l.local[1] = l.local[0] == 64 ? 1 : (l.local[0] == 8 ? 8 : 64);
    l.slots[0] = r.src;
    l.slots[1] = kOutput;
    for (int64_t v : {r.size[2], r.size[1], r.size[0], r.from.offset, r.from.stride[0], r.from.stride[1],
                      r.from.stride[2], r.to.offset, r.to.stride[0], r.to.stride[1], r.to.stride[2]}) {
      if (v > kMaxIndex || v < -kMaxIndex) return "a region too large for 32-bit indexing";
      l.params.push_back(static_cast<int32_t>(v));
    }
    out->push_back(l);
  }
  return "";
}

Launch elementwise(const std::string& entry, int64_t n) {
  Launch l;
  l.entry = entry;
  l.global[0] = n;
  return l;
}

std::string plan_binary_select(const AtomicOp& op, const AtomicGraph& g, const Capabilities& caps,
                               std::vector<Launch>* out) {
  const AtomicTensor& y = tensor(g, op.output);
  int64_t n = numel(y.shape);
  std::vector<Shape> shapes;
  for (int id : op.inputs) shapes.push_back(tensor(g, id).shape);
  Launch l;
  if (op.kind == AtomicKind::Binary) {
    if (dtype_of(g, op.inputs[0]) != DType::F32 || dtype_of(g, op.inputs[1]) != DType::F32)
      return "only float32 Binary runs on this device";
    bool compare = binary_is_comparison(op.binary);
    if (compare && !caps.small_types) return "bool results are not supported on this device";
    if (!binary_on_device(op.binary)) return std::string("Binary ") + binary_name(op.binary) + " has no device kernel";
    l = elementwise(compare ? "compare_f32" : "binary_f32", n);
    l.steps = 2 * 6;  // two wl_bcast walks over at most 6 dimensions
    l.slots[0] = 0;
    l.slots[1] = 1;
    l.slots[2] = kOutput;
    l.params = {static_cast<int32_t>(n), static_cast<int32_t>(op.binary)};
  } else {
    if (!caps.small_types) return "bool conditions are not supported on this device";
    if (dtype_size(y.dtype) != 4) return "Select of non-4-byte elements";
    l = elementwise("select_4", n);
    l.steps = 3 * 6;
    l.slots[0] = 0;
    l.slots[1] = 1;
    l.slots[2] = 2;
    l.slots[3] = kOutput;
    l.params = {static_cast<int32_t>(n), 4};
  }
  if (!broadcast_layout(y.shape, shapes, &l.params)) return "broadcast over more than 6 dimensions";
  out->push_back(l);
  return "";
}

std::string plan_reduce(const AtomicOp& op, const AtomicGraph& g, std::vector<Launch>* out) {
  if (dtype_of(g, op.inputs[0]) != DType::F32) return "only float32 Reduce runs on this device";
  if (op.reduce_size < 1) return "empty reductions";
  bool arg = op.reduce == ReduceOp::ArgMax || op.reduce == ReduceOp::ArgMin;
  Launch l = elementwise(arg ? "argreduce_f32" : "reduce_f32", op.outer * op.inner);
  l.slots[0] = 0;
  l.slots[1] = kOutput;
  l.params = {static_cast<int32_t>(op.outer), static_cast<int32_t>(op.reduce_size), static_cast<int32_t>(op.inner),
              static_cast<int32_t>(op.reduce), op.select_last_index ? 1 : 0};
  l.steps = (op.reduce == ReduceOp::LogSumExp ? 2 : 1) * op.reduce_size;
  out->push_back(l);
  return "";
}

int optional_input(const AtomicOp& op, size_t k) {
  return k < op.inputs.size() && op.inputs[k] >= 0 ? static_cast<int>(k) : kUnused;
}

std::string plan_matmul(const AtomicOp& op, const AtomicGraph& g, const std::string& algorithm,
                        std::vector<Launch>* out) {
  for (int id : op.inputs)
    if (id >= 0 && dtype_of(g, id) != DType::F32) return "only float32 MatMul runs on this device";
  if (op.batch_shape.size() > 4) return "more than 4 batch dimensions";
  if (op.batch_shape.empty() && op.batch != 1) return "batch without a batch shape";
  bool tile4 = starts_with(algorithm, "gemm-t4");
  Launch l;
  l.entry = tile4 ? "matmul_f32_t4" : "matmul_f32";
  l.global[0] = tile4 ? (op.N + 3) / 4 : op.N;
  l.global[1] = tile4 ? (op.M + 3) / 4 : op.M;
  l.global[2] = op.batch;
  l.local[0] = 8;
  l.local[1] = 8;
  parse_wg(algorithm, l.local);
  l.slots[0] = 0;
  l.slots[1] = 1;
  l.slots[2] = optional_input(op, 2);
  l.slots[3] = optional_input(op, 3);
  l.slots[4] = kOutput;
  l.params = {static_cast<int32_t>(op.M),
              static_cast<int32_t>(op.N),
              static_cast<int32_t>(op.K),
              op.trans_a ? 1 : 0,
              op.trans_b ? 1 : 0,
              static_cast<int32_t>(op.activation),
              bits(op.alpha),
              bits(op.beta),
              l.slots[2] != kUnused ? 1 : 0,
              l.slots[3] != kUnused ? 1 : 0,
              static_cast<int32_t>(op.batch_shape.size())};
  for (size_t d = 0; d < 4; ++d)
    l.params.push_back(d < op.batch_shape.size() ? static_cast<int32_t>(op.batch_shape[d]) : 1);
  for (const auto* s : {&op.a_batch_strides, &op.b_batch_strides})
    for (size_t d = 0; d < 4; ++d) l.params.push_back(d < s->size() ? static_cast<int32_t>((*s)[d]) : 0);
  // the K loop, the batch walks, and gemm-t4's store loops (its fixed 4-wide loops unroll)
  l.steps = op.K + 2 * 4 + (tile4 ? 4 + 16 : 0);
  out->push_back(l);
  return "";
}

std::string plan_conv(const AtomicOp& op, const AtomicGraph& g, const std::string& algorithm,
                      std::vector<Launch>* out) {
  for (int id : op.inputs)
    if (id >= 0 && dtype_of(g, id) != DType::F32) return "only float32 Conv runs on this device";
  bool oc4 = starts_with(algorithm, "conv-oc4");
  if (oc4 && (op.out_c / op.group) % 4 != 0) return "conv-oc4 needs output channels per group in fours";
  Launch l;
  l.entry = oc4 ? "conv_f32_oc4" : "conv_f32";
  l.global[0] = op.out_h * op.out_w;
  l.global[1] = oc4 ? op.out_c / 4 : op.out_c;
  l.global[2] = op.n;
  parse_wg(algorithm, l.local);
  l.slots[0] = 0;
  l.slots[1] = 1;
  l.slots[2] = optional_input(op, 2);
  l.slots[3] = optional_input(op, 3);
  l.slots[4] = kOutput;
  for (int64_t v : {op.n, op.c, op.h, op.w, op.out_c, op.out_h, op.out_w, op.kernel_h, op.kernel_w, op.stride_h,
                    op.stride_w, op.dilation_h, op.dilation_w, op.pad_top, op.pad_left, op.group})
    l.params.push_back(static_cast<int32_t>(v));
  l.params.insert(l.params.end(), {static_cast<int32_t>(op.activation), bits(op.alpha), bits(op.beta),
                                   l.slots[2] != kUnused ? 1 : 0, l.slots[3] != kUnused ? 1 : 0});
  const int64_t cin_g = op.c / op.group;
  l.steps = cin_g * op.kernel_h * (op.kernel_w + 1) + cin_g;
  out->push_back(l);
  return "";
}

std::string plan_pool(const AtomicOp& op, const AtomicGraph& g, std::vector<Launch>* out) {
  if (dtype_of(g, op.output) != DType::F32) return "only float32 Pool runs on this device";
  Launch l;
  l.entry = "pool_f32";
  l.global[0] = op.out_h * op.out_w;
  l.global[1] = op.c;
  l.global[2] = op.n;
  l.slots[0] = 0;
  l.slots[1] = kOutput;
  for (int64_t v : {op.n, op.c, op.h, op.w, op.out_h, op.out_w, op.kernel_h, op.kernel_w, op.stride_h, op.stride_w,
                    op.dilation_h, op.dilation_w, op.pad_top, op.pad_left})
    l.params.push_back(static_cast<int32_t>(v));
  l.params.push_back(op.max_pool ? 1 : 0);
  l.params.push_back(op.count_include_pad ? 1 : 0);
  l.steps = op.kernel_h * (op.kernel_w + 1);
  out->push_back(l);
  return "";
}

std::string plan_gather(const AtomicOp& op, const AtomicGraph& g, std::vector<Launch>* out) {
  // Constant indices are checked here, once; indices computed at run time are checked by the
  // kernel, which sets the status word on a bad one so the CPU rerun reports it.
  const bool constant = g.is_constant(op.inputs[1]);
  const DType idx_type = dtype_of(g, op.inputs[1]);
  if (idx_type != DType::I32 && idx_type != DType::I64) return "Gather indices must be int32 or int64";
  if (constant)
    for (int64_t v : g.tensors[g.root(op.inputs[1])].constant.to_int64_vector())
      if (v < -op.axis_size || v >= op.axis_size) return "Gather index out of range (reported by the CPU kernel)";
  size_t elem = dtype_size(dtype_of(g, op.output));
  if (elem != 4 && elem != 8) return std::to_string(elem) + "-byte Gather";
  const int64_t n_idx = numel(tensor(g, op.inputs[1]).shape);
  Launch l;
  l.entry = std::string(constant ? "gather_" : "gather_checked_") + std::to_string(elem);
  l.global[0] = op.inner;
  l.global[1] = n_idx;
  l.global[2] = op.outer;
  l.slots[0] = 0;
  l.slots[1] = 1;
  l.slots[2] = kOutput;
  if (!constant) l.slots[5] = kStatus;
  l.params = {static_cast<int32_t>(op.outer), static_cast<int32_t>(op.axis_size), static_cast<int32_t>(op.inner),
              static_cast<int32_t>(n_idx), idx_type == DType::I64 ? 1 : 0};
  out->push_back(l);
  return "";
}

int cast_code(DType t, const Capabilities& caps) {
  switch (t) {
    case DType::F32: return 0;
    case DType::I32: return 1;
    case DType::I64: return 2;
    case DType::Bool: return caps.small_types ? 3 : -1;
    default: return -1;
  }
}

std::string plan_cast(const AtomicOp& op, const AtomicGraph& g, const Capabilities& caps, std::vector<Launch>* out) {
  int from = cast_code(dtype_of(g, op.inputs[0]), caps), to = cast_code(op.cast_to, caps);
  if (from < 0 || to < 0)
    return std::string("Cast ") + dtype_name(dtype_of(g, op.inputs[0])) + " -> " + dtype_name(op.cast_to);
  // Float -> int64 saturates at the int32 range on the device; that differs only beyond 2^31.
  int64_t n = numel(tensor(g, op.output).shape);
  Launch l = elementwise("cast", n);
  l.slots[0] = 0;
  l.slots[1] = kOutput;
  l.params = {static_cast<int32_t>(n), from, to};
  out->push_back(l);
  return "";
}

// 1-D work-group size for a grid of n items: 64, or smaller for tiny grids.
int wg_for(int64_t n) { return n >= 64 ? 64 : (n >= 8 ? 8 : 1); }

// Copies n elements of `elem` bytes from input slot `src` to the output: one raster region.
Launch flat_copy(size_t elem, int64_t n, int src) {
  Launch l;
  l.entry = "raster_" + std::to_string(elem);
  l.global[0] = n;
  l.local[0] = wg_for(n);
  l.slots[0] = src;
  l.slots[1] = kOutput;
  // sizes (n, 1, 1), from and to: offset 0, strides (0, 0, 1)
  l.params = {static_cast<int32_t>(n), 1, 1, 0, 0, 0, 1, 0, 0, 0, 1};
  return l;
}

// Constant tuples are resolved here (offsets in the parameters) up to this many; more go the
// run-time way, so a parameter buffer stays small and its int32 positions never overflow.
constexpr int64_t kMaxConstantTuples = int64_t{1} << 22;

std::string plan_scatter(const AtomicOp& op, const AtomicGraph& g, const Capabilities& caps, std::vector<Launch>* out) {
  const DType t = dtype_of(g, op.output);
  const size_t elem = dtype_size(t);
  if (dtype_of(g, op.inputs[1]) != DType::I64) return "Scatter indices must be int64";
  std::string suffix;  // element size for plain writes, arithmetic type for reductions
  if (op.accumulate) {
    if (op.binary != BinaryOp::Add && op.binary != BinaryOp::Mul && op.binary != BinaryOp::Max &&
        op.binary != BinaryOp::Min)
      return std::string("Scatter reduction ") + binary_name(op.binary) + " has no device kernel";
    if (t == DType::F32)
      suffix = "f32";
    else if (t == DType::I32)
      suffix = "i32";
    else
      return std::string("Scatter reductions on ") + dtype_name(t) + " (device arithmetic is float32 and int32)";
  } else {
    if (elem != 4 && elem != 8 && !(caps.small_types && (elem == 1 || elem == 2)))
      return std::to_string(elem) + "-byte elements are not supported on this device";
    suffix = std::to_string(elem);
  }
  const int64_t n_out = numel(tensor(g, op.output).shape), inner = op.inner;
  const int64_t q = static_cast<int64_t>(op.scatter_dims.size());
  const int64_t count = q ? numel(tensor(g, op.inputs[1]).shape) / q : 0;
  if (n_out > 0) out->push_back(flat_copy(elem, n_out, 0));
  if (count == 0 || inner == 0 || n_out == 0) return "";

  if (g.is_constant(op.inputs[1]) && count <= kMaxConstantTuples) {
    // Tuples known now: checked once here, resolved to rows, and grouped by row so that each
    // output element is written by one work item (no races, and the CPU's order within a row).
    const int64_t* idx = g.tensors[g.root(op.inputs[1])].constant.data_as<int64_t>();
    std::map<int64_t, std::vector<int32_t>> by_row;  // row -> tuples in index order
    for (int64_t k = 0; k < count; ++k) {
      int64_t row = 0;
      for (int64_t j = 0; j < q; ++j) {
        int64_t dim = op.scatter_dims[j], v = idx[k * q + j];
        if (v < 0) v += dim;
        if (v < 0 || v >= dim) return "Scatter index out of range (reported by the CPU kernel)";
        row = row * dim + v;
      }
      by_row[row].push_back(static_cast<int32_t>(k));
    }
    const int64_t n = static_cast<int64_t>(by_row.size());
    Launch l;
    l.global[0] = inner * n;
    l.local[0] = wg_for(l.global[0]);
    l.slots[2] = 2;
    l.slots[3] = kOutput;
    l.params = {static_cast<int32_t>(inner), static_cast<int32_t>(n)};
    if (!op.accumulate) {  // reduction none: only the last write to a row survives
      l.entry = "scatter_rows_" + suffix;
      for (const auto& [row, tuples] : by_row)
        l.params.insert(l.params.end(), {static_cast<int32_t>(row), tuples.back()});
    } else {
      l.entry = "scatter_groups_" + suffix;
      l.params.push_back(static_cast<int32_t>(op.binary));
      int32_t start = 0;
      for (const auto& [row, tuples] : by_row) {
        l.params.push_back(start);
        start += static_cast<int32_t>(tuples.size());
        l.steps = std::max<int64_t>(l.steps, static_cast<int64_t>(tuples.size()));
      }
      l.params.push_back(start);
      for (const auto& [row, tuples] : by_row) l.params.push_back(static_cast<int32_t>(row));
      for (const auto& [row, tuples] : by_row) l.params.insert(l.params.end(), tuples.begin(), tuples.end());
    }
    out->push_back(l);
    return "";
  }
  // Tuples computed at run time: one work item per column walks them all in order and checks
  // each index (status word set on a bad one: the CPU rerun reports it). Serial in the tuples,
  // because with duplicates only index order gives the CPU's (and ONNX's) answer.
  Launch l;
  l.entry = "scatter_serial_" + suffix;
  l.global[0] = inner;
  l.local[0] = wg_for(inner);
  l.slots[1] = 1;
  l.slots[2] = 2;
  l.slots[3] = kOutput;
  l.slots[5] = kStatus;
  l.params = {static_cast<int32_t>(inner), static_cast<int32_t>(count), static_cast<int32_t>(q),
              static_cast<int32_t>(op.binary)};
  for (int64_t dim : op.scatter_dims) l.params.push_back(static_cast<int32_t>(dim));
  l.steps = count * (q + 1);
  out->push_back(l);
  return "";
}

// Comparisons a TopK kernel makes in all (select: k scans of each column; rank: every element
// against its column, at worst). Past kMaxTopKWork a sort on the CPU wins by far: the variant
// is refused (and with both refused the op stays on the CPU).
constexpr int64_t kMaxTopKWork = int64_t{1} << 31;
int64_t topk_work(const AtomicOp& op, bool rank) {
  return op.outer * op.inner * op.reduce_size * (rank ? op.reduce_size : op.k);
}

// TopK's comparisons run on float32 and int32 (the types the device compares exactly).
std::string plan_topk(const AtomicOp& op, const AtomicGraph& g, const std::string& algorithm,
                      std::vector<Launch>* out) {
  DType t = dtype_of(g, op.inputs[0]);
  std::string type = t == DType::F32 ? "f32" : (t == DType::I32 ? "i32" : "");
  if (type.empty()) return std::string("TopK on ") + dtype_name(t) + " (device comparisons are float32 and int32)";
  if (op.reduce_size < 1 || op.k < 0 || op.k > op.reduce_size) return "TopK with k outside [0, axis length]";
  const int64_t cols = op.outer * op.inner;
  bool rank = starts_with(algorithm, "topk-rank");
  if (topk_work(op, rank) > kMaxTopKWork)
    return "TopK of " + std::to_string(op.k) + " in " + std::to_string(op.reduce_size) +
           " too large for the per-column kernels";
  Launch l;
  l.entry = (rank ? "topk_rank_" : "topk_select_") + type;
  l.global[0] = rank ? cols * op.reduce_size : cols;
  l.local[0] = wg_for(l.global[0]);
  l.slots[0] = 0;
  l.slots[1] = kOutput;
  l.params = {static_cast<int32_t>(op.outer), static_cast<int32_t>(op.reduce_size), static_cast<int32_t>(op.inner),
              static_cast<int32_t>(op.k), op.largest ? 1 : 0};
  l.steps = rank ? op.reduce_size : op.k * (op.reduce_size + 1);
  if (op.k == 0) return "";  // an empty output: nothing to launch
  out->push_back(l);
  return "";
}

// Fused softmax / layer norm over rows (runtime/fuse_patterns.cpp forms them when supported).
std::string plan_fused(const AtomicOp& op, const AtomicGraph& g, const std::string& algorithm,
                       std::vector<Launch>* out) {
  if (op.fused != FusedOp::Softmax && op.fused != FusedOp::LayerNorm) return "this fused pattern has no device kernel";
  if (dtype_of(g, op.output) != DType::F32) return "only float32 fused ops run on this device";
  for (int id : op.inputs)
    if (id >= 0 && dtype_of(g, id) != DType::F32) return "only float32 fused ops run on this device";
  if (op.reduce_size < 1) return "empty rows";
  bool wg = starts_with(algorithm, "fused-wg64");
  bool softmax = op.fused == FusedOp::Softmax;
  Launch l;
  l.entry = std::string(softmax ? "softmax_f32" : "layernorm_f32") + (wg ? "_wg" : "_row");
  // _wg: one work-group of exactly 64 per row (the kernels' shared arrays are sized for it)
  l.global[0] = wg ? op.outer * 64 : op.outer;
  l.local[0] = wg ? 64 : wg_for(op.outer);
  l.params = {static_cast<int32_t>(op.outer), static_cast<int32_t>(op.reduce_size)};
  l.slots[0] = 0;
  if (softmax) {
    l.slots[1] = kOutput;
  } else {
    l.slots[1] = optional_input(op, 1);
    l.slots[2] = optional_input(op, 2);
    l.slots[3] = kOutput;
    l.params.insert(l.params.end(), {bits(op.alpha), l.slots[1] != kUnused ? 1 : 0, l.slots[2] != kUnused ? 1 : 0});
  }
  l.steps = wg ? 3 * ((op.reduce_size + 63) / 64) + 2 * 6 : 3 * op.reduce_size;
  if (op.outer > 0) out->push_back(l);
  return "";
}

// Random: Bernoulli draws only. Uniform draws have no inputs, so the decomposer folds them into
// constants when the plan is made and they never reach a device.
std::string plan_random(const AtomicOp& op, const AtomicGraph& g, const Capabilities& caps, std::vector<Launch>* out) {
  if (!op.bernoulli) return "uniform draws (folded into constants when the plan is made)";
  if (op.seed < 0) return "unseeded draws (the CPU seeds each run from the OS)";
  if (!caps.float64) return "no float64 arithmetic on this device (the draws are doubles)";
  DType in = dtype_of(g, op.inputs[0]), y = dtype_of(g, op.output);
  int in_code = in == DType::F32 ? 0 : (in == DType::F64 ? 1 : -1);
  int out_code = -1;
  switch (y) {
    case DType::F32: out_code = 0; break;
    case DType::F64: out_code = 1; break;
    case DType::I32: out_code = 2; break;
    case DType::I64: out_code = 3; break;
    case DType::Bool:
    case DType::U8: out_code = caps.small_types ? 4 : -1; break;
    default: break;
  }
  if (in_code < 0 || out_code < 0) return std::string("Bernoulli ") + dtype_name(in) + " -> " + dtype_name(y);
  const int64_t n = numel(tensor(g, op.output).shape);
  if (n == 0) return "";
  Launch l;
  l.entry = "random_bernoulli";
  l.local[0] = 1;  // one work item: MT19937 is one sequential stream
  l.slots[0] = 0;
  l.slots[1] = kOutput;
  l.slots[5] = kStatus;
  l.params = {static_cast<int32_t>(n), static_cast<int32_t>(static_cast<uint32_t>(op.seed)), in_code, out_code};
  // The MT19937 loops: seeding, two draws and a share of a twist per element. llvmpipe counted
  // about 9 iterations per element (measured: its limit cut the stream at element 7178), so
  // the bound is 12; the kernel also probes the limit (WL_LOOP_PROBE) in case that is short.
  l.steps = 624 + 12 * n;
  out->push_back(l);
  return "";
}

std::string plan_variant(const AtomicOp& op, const AtomicGraph& g, const Capabilities& caps,
                         const std::string& algorithm, std::vector<Launch>* out);

// The variants of `op`, best guess first, before checking that the device can run them.
std::vector<std::string> candidates(const AtomicOp& op, const Capabilities& caps) {
  std::vector<std::string> out;
  if (op.kind == AtomicKind::MatMul) {
    // Tiled first when the product is big enough to fill the 4x4 tiles.
    std::vector<std::string> kinds =
        op.M * op.N >= 256 ? std::vector<std::string>{"gemm-t4", "gemm"} : std::vector<std::string>{"gemm", "gemm-t4"};
    for (const std::string& k : kinds)
      for (const char* wg : {"wg8x8", "wg16x4", "wg64"}) out.push_back(k + "/" + wg);
  } else if (op.kind == AtomicKind::Conv) {
    bool oc4 = (op.out_c / op.group) % 4 == 0;
    std::vector<std::string> kinds =
        oc4 ? std::vector<std::string>{"conv-oc4", "conv-direct"} : std::vector<std::string>{"conv-direct"};
    for (const std::string& k : kinds)
      for (int wg : {64, 128, 32})
        if (wg <= caps.max_work_group) out.push_back(k + "/wg" + std::to_string(wg));
  } else if (op.kind == AtomicKind::TopK) {
    // select: k scans of the column by one work item; rank: every element counts its
    // predecessors (n steps, all in parallel). Select wins for small k.
    if (op.k <= 8)
      out = {"topk-select", "topk-rank"};
    else
      out = {"topk-rank", "topk-select"};
  } else if (op.kind == AtomicKind::Fused) {
    // A work item per row unless a few long rows would leave most of a GPU idle. (Measured on
    // PoCL and lavapipe, whose few cores any row count fills: row was fastest but for
    // 64 x 4096 and 128 x 768, where the two were within 20%; both are 5-40x faster than the
    // decomposed ops.)
    if (op.outer < 256 && op.reduce_size >= 512)
      out = {"fused-wg64", "fused-row"};
    else
      out = {"fused-row", "fused-wg64"};
  } else {
    out.push_back("");
  }
  return out;
}

}  // namespace

// The candidates the device can run (a variant may be refused: too much work for TopK, too
// many loop iterations for llvmpipe), or the first candidate when none can (plan_launches then
// gives the reason).
std::vector<std::string> algorithms(const AtomicOp& op, const AtomicGraph& g, const Capabilities& caps) {
  std::vector<std::string> all = candidates(op, caps), out;
  if (all.size() == 1) return all;
  std::vector<Launch> launches;
  for (const std::string& a : all)
    if (plan_variant(op, g, caps, a, &launches).empty()) out.push_back(a);
  if (out.empty()) out.push_back(all.front());
  return out;
}

bool checked(const std::vector<Launch>& launches) {
  for (const Launch& l : launches)
    for (int s : l.slots)
      if (s == kStatus) return true;
  return false;
}

std::string plan_launches(const AtomicOp& op, const AtomicGraph& g, const Capabilities& caps,
                          const std::string& algorithm, std::vector<Launch>* out) {
  if (!algorithm.empty()) return plan_variant(op, g, caps, algorithm, out);
  // The first variant the device can run, else every variant's reason.
  std::string reasons;
  for (const std::string& a : candidates(op, caps)) {
    std::string why = plan_variant(op, g, caps, a, out);
    if (why.empty()) return "";
    reasons += (reasons.empty() ? "" : "; ") + (a.empty() ? why : a + ": " + why);
  }
  return reasons;
}

namespace {

std::string plan_variant(const AtomicOp& op, const AtomicGraph& g, const Capabilities& caps,
                         const std::string& algorithm, std::vector<Launch>* out) {
  out->clear();
  if (!small_enough(op, g)) return "tensors beyond 2^31 elements";
  // A string element is a host pointer (core/strings.h): string tensors stay in host memory,
  // so every op that touches one runs on the CPU.
  bool strings = dtype_of(g, op.output) == DType::String;
  for (int id : op.inputs) strings = strings || (id >= 0 && dtype_of(g, id) == DType::String);
  if (strings) return "string tensors stay on the CPU";
  std::string why;
  switch (op.kind) {
    case AtomicKind::Raster: why = plan_raster(op, g, caps, out); break;
    case AtomicKind::Unary:
      if (dtype_of(g, op.inputs[0]) != DType::F32 || dtype_of(g, op.output) != DType::F32)
        return "only float32 Unary runs on this device";
      if (!unary_on_device(op.unary)) return std::string("Unary ") + unary_name(op.unary) + " has no device kernel";
      {
        Launch l = elementwise("unary_f32", numel(tensor(g, op.output).shape));
        l.slots[0] = 0;
        l.slots[1] = kOutput;
        l.params = {static_cast<int32_t>(l.global[0]), static_cast<int32_t>(op.unary), bits(op.alpha), bits(op.beta)};
        out->push_back(l);
      }
      break;
    case AtomicKind::Binary:
    case AtomicKind::Select: why = plan_binary_select(op, g, caps, out); break;
    case AtomicKind::Reduce: why = plan_reduce(op, g, out); break;
    case AtomicKind::MatMul: why = plan_matmul(op, g, algorithm, out); break;
    case AtomicKind::Conv: why = plan_conv(op, g, algorithm, out); break;
    case AtomicKind::Pool: why = plan_pool(op, g, out); break;
    case AtomicKind::Gather: why = plan_gather(op, g, out); break;
    case AtomicKind::Cast: why = plan_cast(op, g, caps, out); break;
    case AtomicKind::Scatter: why = plan_scatter(op, g, caps, out); break;
    case AtomicKind::TopK: why = plan_topk(op, g, algorithm, out); break;
    case AtomicKind::Random: why = plan_random(op, g, caps, out); break;
    case AtomicKind::Fused: why = plan_fused(op, g, algorithm, out); break;
    default:  // a kind added to atomic.h without device kernels stays on the CPU
      return std::string(atomic_kind_name(op.kind)) + " has no device kernel";
  }
  for (Launch& l : *out) {
    for (int d = 0; d < 3; ++d) {
      if (l.local[d] < 1) l.local[d] = 1;
      if (l.global[d] > kMaxIndex && why.empty()) why = "a grid too large for 32-bit indexing";
    }
    if (caps.max_loop_steps > 0 && l.steps > caps.max_loop_steps && why.empty())
      why = "kernel loops of " + std::to_string(l.steps) + " iterations (this device cuts loops at " +
            std::to_string(caps.max_loop_steps) + ")";
  }
  if (!why.empty()) out->clear();
  return why;
}

}  // namespace

}  // namespace walle::gpu
