// Raster (strided region copies: every data-movement op) and Gather, for any dtype: they only
// move bytes, so one kernel per element size serves all types (strings as 16-byte handles).
#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "cpu/kernels.h"

namespace walle::cpu {

namespace {

// A string element: a 16-byte handle (core/strings.h), moved like any other element.
struct Bytes16 {
  uint64_t lo, hi;
};

template <typename E>
void copy_region(const char* src, const Region& r, char* dst, int64_t i) {
  const E* s = reinterpret_cast<const E*>(src) + r.from.offset + i * r.from.stride[0];
  E* d = reinterpret_cast<E*>(dst) + r.to.offset + i * r.to.stride[0];
  if (r.from.stride[1] == 1 && r.to.stride[2] == 1 && r.from.stride[2] != 1) {
    // A transpose: the source is contiguous along j, the destination along k. Square tiles
    // keep both sides' cache lines in L1 while each is used 16 times, instead of one source
    // line per element (K^T in attention: ~4x faster).
    constexpr int64_t T = 16;
    for (int64_t j0 = 0; j0 < r.size[1]; j0 += T)
      for (int64_t k0 = 0; k0 < r.size[2]; k0 += T) {
        const int64_t j1 = std::min(r.size[1], j0 + T), k1 = std::min(r.size[2], k0 + T);
        for (int64_t j = j0; j < j1; ++j)
          for (int64_t k = k0; k < k1; ++k) d[j * r.to.stride[1] + k] = s[j + k * r.from.stride[2]];
      }
    return;
  }
  for (int64_t j = 0; j < r.size[1]; ++j) {
    const E* sj = s + j * r.from.stride[1];
    E* dj = d + j * r.to.stride[1];
    if (r.from.stride[2] == 1 && r.to.stride[2] == 1)
      std::memcpy(dj, sj, r.size[2] * sizeof(E));
    else
      for (int64_t k = 0; k < r.size[2]; ++k) dj[k * r.to.stride[2]] = sj[k * r.from.stride[2]];
  }
}

void fill_bytes(char* out, int64_t n, size_t elem, const std::vector<char>& value) {
  bool zero = true;
  for (char c : value) zero = zero && c == 0;
  if (zero) {
    std::memset(out, 0, n * elem);
    return;
  }
  for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * elem, value.data(), elem);
}

// The fill value encoded in the output dtype.
std::vector<char> encode_fill(double v, DType t) {
  std::vector<char> bytes(dtype_size(t));
  auto put = [&](auto x) { std::memcpy(bytes.data(), &x, sizeof(x)); };
  switch (t) {
    case DType::F32: put(static_cast<float>(v)); break;
    case DType::F64: put(v); break;
    case DType::F16: put(float_to_half(static_cast<float>(v))); break;
    case DType::BF16: put(float_to_bf16(static_cast<float>(v))); break;
    case DType::I8: put(static_cast<int8_t>(v)); break;
    case DType::U8: put(static_cast<uint8_t>(v)); break;
    case DType::I16: put(static_cast<int16_t>(v)); break;
    case DType::U16: put(static_cast<uint16_t>(v)); break;
    case DType::I32: put(static_cast<int32_t>(v)); break;
    case DType::U32: put(static_cast<uint32_t>(v)); break;
    case DType::I64: put(static_cast<int64_t>(v)); break;
    case DType::U64: put(static_cast<uint64_t>(v)); break;
    case DType::Bool: put(static_cast<bool>(v != 0)); break;
    default: break;
  }
  return bytes;
}

std::unique_ptr<Kernel> make_raster(const AtomicOp& op, const AtomicGraph& g) {
  const AtomicTensor& out = g.tensors[op.output];
  size_t elem = dtype_size(out.dtype);
  if (elem != 1 && elem != 2 && elem != 4 && elem != 8 && elem != 16)
    throw Error(ErrorKind::Unsupported,
                op.origin + ": raster has no copy for " + std::to_string(elem) + "-byte elements");
  int64_t n_out = numel(out.shape);
  std::vector<char> fill = encode_fill(op.fill, out.dtype);
  // Work items: (region, index along size[0]); lets one big transpose use every thread.
  std::vector<std::pair<int, int64_t>> items;
  int64_t per_item = 1;
  for (size_t r = 0; r < op.regions.size(); ++r)
    for (int64_t i = 0; i < op.regions[r].size[0]; ++i) items.emplace_back(static_cast<int>(r), i);
  if (!op.regions.empty()) per_item = op.regions[0].size[1] * op.regions[0].size[2];
  std::vector<Region> regions = op.regions;
  bool fill_output = op.fill_output;
  return std::make_unique<FunctionKernel>("raster", [=](const KernelIO& io, ThreadPool& pool) {
    char* dst = static_cast<char*>(io.output);
    if (fill_output) fill_bytes(dst, n_out, elem, fill);
    parallel_rows(pool, static_cast<int64_t>(items.size()), per_item, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const Region& r = regions[items[t].first];
        const char* src = static_cast<const char*>(io.inputs[r.src]);
        switch (elem) {
          case 1: copy_region<uint8_t>(src, r, dst, items[t].second); break;
          case 2: copy_region<uint16_t>(src, r, dst, items[t].second); break;
          case 4: copy_region<uint32_t>(src, r, dst, items[t].second); break;
          case 8: copy_region<uint64_t>(src, r, dst, items[t].second); break;
          default: copy_region<Bytes16>(src, r, dst, items[t].second); break;  // 16, checked below
        }
      }
    });
  });
}

template <typename I>
int64_t index_at(const void* p, int64_t i) {
  return static_cast<int64_t>(static_cast<const I*>(p)[i]);
}

std::unique_ptr<Kernel> make_gather(const AtomicOp& op, const AtomicGraph& g) {
  size_t elem = dtype_size(g.tensors[op.output].dtype);
  DType index_type = g.tensors[op.inputs[1]].dtype;
  int64_t n_idx = numel(g.tensors[op.inputs[1]].shape);
  int64_t outer = op.outer, axis = op.axis_size, inner = op.inner;
  std::string origin = op.origin;
  return std::make_unique<FunctionKernel>("gather", [=](const KernelIO& io, ThreadPool& pool) {
    const char* data = static_cast<const char*>(io.inputs[0]);
    char* out = static_cast<char*>(io.output);
    std::vector<int64_t> idx(n_idx);
    for (int64_t i = 0; i < n_idx; ++i) {
      int64_t raw = index_type == DType::I32 ? index_at<int32_t>(io.inputs[1], i) : index_at<int64_t>(io.inputs[1], i);
      int64_t v = raw < 0 ? raw + axis : raw;
      if (v < 0 || v >= axis)  // checked, not trusted: a bad index must not read out of bounds
        throw Error(ErrorKind::Input, origin + ": index " + std::to_string(raw) + " is out of range [" +
                                          std::to_string(-axis) + ", " + std::to_string(axis) + ")");
      idx[i] = v;
    }
    size_t row = inner * elem;
    parallel_rows(pool, outer * n_idx, inner, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        int64_t o = t / n_idx, j = t % n_idx;
        std::memcpy(out + t * row, data + (o * axis + idx[j]) * row, row);
      }
    });
  });
}

bool int_indices(const AtomicOp& op, const AtomicGraph& g) {
  DType t = g.tensors[op.inputs[1]].dtype;
  return t == DType::I32 || t == DType::I64;
}

}  // namespace

void register_data_kernels(KernelRegistry& r) {
  r.add(AtomicKind::Raster, {"raster", Isa::Reference, nullptr, make_raster});
  r.add(AtomicKind::Gather, {"gather", Isa::Reference, int_indices, make_gather});
}

}  // namespace walle::cpu
