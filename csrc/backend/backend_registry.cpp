// Which backends this build has, which this machine can run, and how to make one by name: the
// backends registered by their own folders (the generated backend_list.h) and the ones CMake
// left out, with why.
#include <algorithm>

#include "backend_list.h"
#include "core/error.h"
#include "backend/backend.h"

namespace walle {

namespace {

const std::vector<BackendFactory>& registered() {
  static const std::vector<BackendFactory> factories = [] {
    std::vector<BackendFactory> out;
    register_built_backends(out);
    std::stable_sort(out.begin(), out.end(),
                     [](const BackendFactory& a, const BackendFactory& b) { return a.order < b.order; });
    return out;
  }();
  return factories;
}

}  // namespace

std::vector<BackendStatus> backend_status() {
  std::vector<BackendStatus> out;
  for (const BackendFactory& f : registered()) out.push_back(f.status());
  for (const auto& [name, why] : kBackendsLeftOut) {
    BackendStatus s;
    s.name = name;
    s.reason = "not in this build: " + why;
    out.push_back(s);
  }
  return out;
}

std::shared_ptr<Backend> make_backend(const std::string& name, const std::string& isa) {
  for (const BackendFactory& f : registered())
    if (f.name == name) return f.make(isa);
  for (const auto& [left_out, why] : kBackendsLeftOut)
    if (left_out == name) throw Error(ErrorKind::Backend, "backend '" + name + "' is not in this build: " + why);
  std::string known;
  for (const std::string& n : backend_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(ErrorKind::Backend, "unknown backend '" + name + "' (this build has: " + known + ", auto)");
}

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const BackendFactory& f : registered()) names.push_back(f.name);
  return names;
}

}  // namespace walle
