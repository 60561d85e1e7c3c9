// A dense, contiguous (row-major) tensor that shares ownership of its bytes.
//
// Strided views are not tensors: they live in the Raster op's regions. A Tensor may point
// into memory it does not own (a mapped model file, a numpy array): `owner` keeps that
// memory alive for as long as the tensor is.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace walle {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& shape);
// Limits on every shape Walle plans or allocates (model files, planned intermediates): a
// dimension holds at most 2^40 elements and a tensor at most 2^48, so element counts, strides
// and byte sizes (16 bytes per string handle) never overflow int64 arithmetic.
constexpr int64_t kMaxDim = int64_t{1} << 40;
constexpr int64_t kMaxElements = int64_t{1} << 48;
// The element count of `shape`, or -1 when a dimension is negative or a limit is exceeded
// (computed without overflow).
int64_t checked_numel(const Shape& shape);
std::string shape_str(const Shape& shape);                    // "[1, 3, 224, 224]"
std::vector<int64_t> contiguous_strides(const Shape& shape);  // in elements
// Numpy-style broadcast of two shapes; throws walle::Error naming `what` if incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& what);

class Tensor {
 public:
  Tensor() = default;
  // Allocates zeroed, 64-byte aligned storage.
  Tensor(DType dtype, Shape shape);
  // Wraps existing memory; `owner` keeps it alive.
  Tensor(DType dtype, Shape shape, void* data, std::shared_ptr<void> owner);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const { return walle::numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool defined() const { return dtype_ != DType::Undefined; }

  void* data() const { return data_; }
  template <typename T>
  T* data_as() const {
    return static_cast<T*>(data_);
  }
  const std::shared_ptr<void>& owner() const { return owner_; }

  // Same bytes, another shape of equal element count.
  Tensor reshaped(Shape shape) const;
  // Values of an integer tensor (any int dtype) as int64; used for shape-like inputs.
  std::vector<int64_t> to_int64_vector() const;
  // Values of a floating or integer tensor as double (scalars for attributes like Pad value).
  double scalar_as_double(int64_t index = 0) const;

 private:
  DType dtype_ = DType::Undefined;
  Shape shape_;
  void* data_ = nullptr;
  std::shared_ptr<void> owner_;
};

// 64-byte aligned memory, freed with std::free. A block of 2 MiB or more is aligned to 2 MiB
// and its whole 2 MiB pages are marked for transparent huge pages before anything touches
// them: the session arena and large packed weights are swept by every run, and on 4 KiB
// pages each sweep takes a TLB miss every 4 KiB (1 thread, one process, plain loop:
// MobileNetV2 4.66 -> 4.47 ms, ResNet-50 42.9 -> 39.5 ms). Null when out of memory.
void* aligned_alloc_large(size_t bytes);

// aligned_alloc_large owned by a shared_ptr (tensors, the session arena); throws when out of memory.
std::shared_ptr<void> aligned_alloc_shared(size_t bytes);

// A std::vector allocator on aligned_alloc_large, for kernels' packed weights.
template <typename T>
struct LargeAllocator {
  using value_type = T;
  LargeAllocator() = default;
  template <typename U>
  LargeAllocator(const LargeAllocator<U>&) {}
  T* allocate(size_t n) {
    void* p = aligned_alloc_large(n * sizeof(T));
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <typename U>
  bool operator==(const LargeAllocator<U>&) const {
    return true;
  }
};

}  // namespace walle
