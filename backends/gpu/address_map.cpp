#include "gpu/address_map.h"

#include "core/error.h"

namespace walle::gpu {

char* AddressMap::add(void* handle, size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  uintptr_t base = next_;
  // 4 KiB-aligned ranges with a gap, so one-past-the-end of a buffer never lands in the next.
  next_ += ((bytes + 4095) / 4096 + 1) * 4096;
  ranges_[base] = {handle, bytes};
  return reinterpret_cast<char*>(base);
}

void AddressMap::remove(const void* base) {
  std::lock_guard<std::mutex> lock(mutex_);
  ranges_.erase(reinterpret_cast<uintptr_t>(base));
}

std::pair<void*, size_t> AddressMap::resolve(const void* address) const {
  std::lock_guard<std::mutex> lock(mutex_);
  uintptr_t a = reinterpret_cast<uintptr_t>(address);
  auto it = ranges_.upper_bound(a);
  if (it != ranges_.begin()) {
    --it;
    size_t offset = a - it->first;
    if (offset <= it->second.second) return {it->second.first, offset};
  }
  throw Error(ErrorKind::Backend, "internal: an address that is not device memory reached a device kernel");
}

}  // namespace walle::gpu
