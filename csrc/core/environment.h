// The environment variables the engine reads, all here (so that no kernel or backend reads one:
// choices go through SessionOptions). README lists them.
//   WALLE_PROFILE=1    time every kernel of every run (as SessionOptions::profile)
//   WALLE_CACHE_DIR    where calibrations and tune-mode measurements are kept; else
//                      $XDG_CACHE_HOME/walle, else ~/.cache/walle
#pragma once
#include <string>

namespace walle {

bool profile_requested_by_environment();

// The cache folder, created if missing (a failure surfaces as a cache that is not written).
std::string cache_dir();

}  // namespace walle
