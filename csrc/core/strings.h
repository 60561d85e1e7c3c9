// String tensors. An element of a DType::String tensor is a StringRef: a 16-byte, trivially
// copyable handle {pointer, size} to UTF-8 bytes stored elsewhere. Every kernel that only
// moves elements (Raster, Gather, Select, Scatter, in-place concat) therefore moves strings
// unchanged, as 16-byte elements; only kernels that read or make text know what they are.
//
// Who owns the bytes a handle points to:
//   - model constants: the loaded model's weights (the mapped file);
//   - run inputs: the input tensor's own blob (make_string_tensor copies Python strings once);
//   - strings made by kernels: the run's StringArena (KernelIO::strings), which the session
//     hands to every string output (keep_alive), so outputs stay valid after the run;
//   - constants folded at plan time: an arena owned by the folded constant itself.
// A zeroed handle {nullptr, 0} is the empty string, so zero-filled tensors hold "".
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace walle {

struct StringRef {
  const char* data = nullptr;
  uint64_t size = 0;
  std::string_view view() const { return size ? std::string_view(data, size) : std::string_view(); }
};
static_assert(sizeof(StringRef) == 16, "the String dtype's element size is 16 bytes");

// Append-only storage for strings made during one run (or one plan-time evaluation).
// Addresses never move; everything is freed with the arena. Not thread-safe: kernels that
// make strings add them from one thread.
class StringArena {
 public:
  StringRef add(std::string_view s);
  size_t bytes() const { return used_total_; }

 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t block_left_ = 0;
  char* cursor_ = nullptr;
  size_t used_total_ = 0;
};

// A string tensor owning copies of `values` (one blob for the bytes, one for the handles).
Tensor make_string_tensor(const Shape& shape, const std::vector<std::string_view>& values);
// The same tensor, additionally keeping `extra` alive (the bytes its handles point to).
Tensor keep_alive(const Tensor& t, std::shared_ptr<void> extra);
// One owner keeping all of `owners` alive.
std::shared_ptr<void> keep_all(std::vector<std::shared_ptr<void>> owners);
// A copy that owns all of its bytes (for a string tensor, the strings too).
Tensor deep_copy(const Tensor& t);
// Equal dtype, shape and values (strings compared by content).
bool same_values(const Tensor& a, const Tensor& b);
// The i-th element of a string tensor.
inline std::string_view string_at(const Tensor& t, int64_t i) { return t.data_as<StringRef>()[i].view(); }

}  // namespace walle
