#include "core/tensor.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <cstdlib>
#include <limits>
#include <cstring>
#include <sstream>

#include "core/error.h"

namespace walle {

int64_t numel(const Shape& shape) {
  // Saturates instead of overflowing (a hostile shape before it is checked): the result then
  // fails every limit and size comparison it meets.
  int64_t n = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n)) return std::numeric_limits<int64_t>::max();
  return n;
}

int64_t checked_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || d > kMaxDim) return -1;
    if (d != 0 && n > kMaxElements / d) return -1;
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)  // saturating, as numel
    if (__builtin_mul_overflow(strides[i + 1], shape[i + 1], &strides[i]))
      strides[i] = std::numeric_limits<int64_t>::max();
  return strides;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& what) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(ErrorKind::Invalid, what + ": shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void* aligned_alloc_large(size_t bytes) {
  constexpr size_t kHugePage = size_t{2} << 20;
  const size_t rounded = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
  if (bytes < kHugePage) return std::aligned_alloc(64, rounded);
  void* p = nullptr;
  if (posix_memalign(&p, kHugePage, rounded) != 0) return nullptr;
#if defined(__linux__)
  // Only the whole huge pages: a partial one at the end would be backed by 2 MiB all the same.
  ::madvise(p, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);  // a hint: without THP it does nothing
#endif
  return p;
}

std::shared_ptr<void> aligned_alloc_shared(size_t bytes) {
  void* p = aligned_alloc_large(bytes);
  if (!p) throw Error(ErrorKind::Invalid, "out of memory allocating " + std::to_string(bytes) + " bytes");
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  for (int64_t d : shape_)
    if (d < 0) throw Error(ErrorKind::Invalid, "negative dimension in shape " + shape_str(shape_));
  if (checked_numel(shape_) < 0)
    throw Error(ErrorKind::Invalid,
                "shape " + shape_str(shape_) + " exceeds the limits (2^40 per dimension, 2^48 elements)");
  size_t bytes = nbytes();
  owner_ = aligned_alloc_shared(bytes);
  data_ = owner_.get();
  std::memset(data_, 0, bytes);
}

Tensor::Tensor(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner)
    : dtype_(dtype), shape_(std::move(shape)), data_(data), owner_(std::move(owner)) {}

Tensor Tensor::reshaped(Shape shape) const {
  if (walle::numel(shape) != numel())
    throw Error(ErrorKind::Invalid, "cannot reshape " + shape_str(shape_) + " to " + shape_str(shape));
  return Tensor(dtype_, std::move(shape), data_, owner_);
}

namespace {
template <typename T>
std::vector<int64_t> widen(const void* p, int64_t n) {
  const T* v = static_cast<const T*>(p);
  return std::vector<int64_t>(v, v + n);
}
}  // namespace

std::vector<int64_t> Tensor::to_int64_vector() const {
  int64_t n = numel();
  switch (dtype_) {
    case DType::I64: return widen<int64_t>(data_, n);
    case DType::I32: return widen<int32_t>(data_, n);
    case DType::I16: return widen<int16_t>(data_, n);
    case DType::I8: return widen<int8_t>(data_, n);
    case DType::U8: return widen<uint8_t>(data_, n);
    case DType::U16: return widen<uint16_t>(data_, n);
    case DType::U32: return widen<uint32_t>(data_, n);
    case DType::U64: return widen<uint64_t>(data_, n);
    case DType::Bool: return widen<bool>(data_, n);
    default: throw Error(ErrorKind::Invalid, std::string("expected an integer tensor, got ") + dtype_name(dtype_));
  }
}

double Tensor::scalar_as_double(int64_t i) const {
  if (i >= numel()) throw Error(ErrorKind::Invalid, "scalar index out of range");
  switch (dtype_) {
    case DType::F32: return data_as<float>()[i];
    case DType::F64: return data_as<double>()[i];
    case DType::F16: return half_to_float(data_as<uint16_t>()[i]);
    case DType::BF16: return bf16_to_float(data_as<uint16_t>()[i]);
    default: return static_cast<double>(to_int64_vector()[i]);
  }
}

}  // namespace walle
