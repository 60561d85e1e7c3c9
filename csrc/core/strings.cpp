#include "core/strings.h"

#include <cstring>

#include "core/error.h"

namespace walle {

StringRef StringArena::add(std::string_view s) {
  if (s.empty()) return StringRef{};
  if (s.size() > block_left_) {
    // Blocks of at least 64 KiB, so that many short strings cost few allocations.
    size_t block = std::max<size_t>(s.size(), size_t{1} << 16);
    blocks_.push_back(std::make_unique<char[]>(block));
    cursor_ = blocks_.back().get();
    block_left_ = block;
  }
  std::memcpy(cursor_, s.data(), s.size());
  StringRef ref{cursor_, s.size()};
  cursor_ += s.size();
  block_left_ -= s.size();
  used_total_ += s.size();
  return ref;
}

namespace {
// Keeps two owners alive as one shared_ptr<void>.
std::shared_ptr<void> both(std::shared_ptr<void> a, std::shared_ptr<void> b) {
  return std::make_shared<std::pair<std::shared_ptr<void>, std::shared_ptr<void>>>(std::move(a), std::move(b));
}
}  // namespace

Tensor make_string_tensor(const Shape& shape, const std::vector<std::string_view>& values) {
  if (static_cast<int64_t>(values.size()) != numel(shape))
    throw Error(ErrorKind::Invalid, std::to_string(values.size()) + " strings for shape " + shape_str(shape));
  size_t total = 0;
  for (std::string_view v : values) total += v.size();
  std::shared_ptr<void> blob = aligned_alloc_shared(total);
  Tensor handles(DType::String, shape);
  char* at = static_cast<char*>(blob.get());
  StringRef* refs = handles.data_as<StringRef>();
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].empty()) continue;
    std::memcpy(at, values[i].data(), values[i].size());
    refs[i] = StringRef{at, values[i].size()};
    at += values[i].size();
  }
  return keep_alive(handles, blob);
}

Tensor keep_alive(const Tensor& t, std::shared_ptr<void> extra) {
  return Tensor(t.dtype(), t.shape(), t.data(), both(t.owner(), std::move(extra)));
}

std::shared_ptr<void> keep_all(std::vector<std::shared_ptr<void>> owners) {
  return std::make_shared<std::vector<std::shared_ptr<void>>>(std::move(owners));
}

Tensor deep_copy(const Tensor& t) {
  if (t.dtype() == DType::String) {
    std::vector<std::string_view> values(t.numel());
    for (int64_t i = 0; i < t.numel(); ++i) values[i] = string_at(t, i);
    return make_string_tensor(t.shape(), values);
  }
  Tensor copy(t.dtype(), t.shape());
  std::memcpy(copy.data(), t.data(), t.nbytes());
  return copy;
}

bool same_values(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  if (a.dtype() != DType::String) return a.nbytes() == 0 || std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    if (string_at(a, i) != string_at(b, i)) return false;
  return true;
}

}  // namespace walle
