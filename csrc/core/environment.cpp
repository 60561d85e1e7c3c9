#include "core/environment.h"

#include <sys/stat.h>

#include <cstdlib>

namespace walle {

bool profile_requested_by_environment() {
  const char* env = std::getenv("WALLE_PROFILE");
  return env && std::string(env) == "1";
}

std::string cache_dir() {
  std::string dir;
  if (const char* d = std::getenv("WALLE_CACHE_DIR"); d && *d)
    dir = d;
  else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    dir = std::string(x) + "/walle";
  else if (const char* h = std::getenv("HOME"); h && *h)
    dir = std::string(h) + "/.cache/walle";
  else
    dir = "/tmp/walle-cache";
  for (size_t i = 1; i <= dir.size(); ++i)  // mkdir -p
    if (i == dir.size() || dir[i] == '/') ::mkdir(dir.substr(0, i).c_str(), 0755);
  return dir;
}

}  // namespace walle
