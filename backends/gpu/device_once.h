// The process-wide device of a backend, opened on first use, or the reason it cannot be.
#pragma once
#include <mutex>
#include <string>

#include "core/error.h"

namespace walle::gpu {

// `Device` has open(), which throws walle::Error when the driver or device is missing. The
// failure is remembered, so every later use reports the same reason without retrying.
template <typename Device>
Device& open_device_once() {
  static Device* dev = nullptr;
  static std::string failure;
  static std::once_flag once;
  std::call_once(once, [] {
    // Never freed, not even after a failed open: drivers dislike teardown at process exit
    // and a half-opened device's destructor could call into a half-initialized driver.
    auto* d = new Device();
    try {
      d->open();
      dev = d;
    } catch (const Error& e) { failure = e.what(); }
  });
  if (!dev) throw Error(ErrorKind::Backend, failure);
  return *dev;
}

}  // namespace walle::gpu
