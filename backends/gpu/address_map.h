// Device memory behind host-looking addresses. The session computes every tensor's address as
// "arena base + offset", the same for every backend; OpenCL and Vulkan buffers are handles, not
// pointers, so each buffer gets a made-up address range here and kernels turn an address back
// into (handle, byte offset). The ranges sit in unmapped address space: a bug that reads one on
// the host faults at once instead of silently reading other memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>

namespace walle::gpu {

class AddressMap {
 public:
  // Reserves an address range for `handle` of `bytes` and returns its base.
  char* add(void* handle, size_t bytes);
  void remove(const void* base);
  // (handle, byte offset) of an address inside a reserved range; throws Error(Backend) otherwise.
  std::pair<void*, size_t> resolve(const void* address) const;

 private:
  mutable std::mutex mutex_;
  std::map<uintptr_t, std::pair<void*, size_t>> ranges_;  // base -> (handle, bytes)
  uintptr_t next_ = uintptr_t{0x6000} << 32;
};

}  // namespace walle::gpu
