// A dense, contiguous (row-major) tensor that shares ownership of its bytes.
//
// Strided views are not tensors: they live in the Raster op's regions. A Tensor may point
// into memory it does not own (a mapped model file, a numpy array): `owner` keeps that
// memory alive for as long as the tensor is.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace walle {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& shape);
std::string shape_str(const Shape& shape);           // "[1, 3, 224, 224]"
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
  template <typename T> T* data_as() const { return static_cast<T*>(data_); }
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

// 64-byte aligned allocation shared by tensors and the session arena.
std::shared_ptr<void> aligned_alloc_shared(size_t bytes);

}  // namespace walle
