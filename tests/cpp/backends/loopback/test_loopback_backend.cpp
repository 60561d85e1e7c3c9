// A backend added from its own folder (this one) is listed, made by name, and used by sessions
// and the search: a session on "test-loopback" runs its kernels, plan() shows it and the variant
// the search chose, and a forced variant reaches it. Last line: "N passed, N failed".
#include <algorithm>
#include <atomic>
#include <cmath>

#include "check.h"
#include "runtime/session.h"

namespace walle {
extern std::atomic<int> g_loopback_kernels_made;
}

using namespace walle;
using walle_test::check;

namespace {

std::shared_ptr<Model> relu_then_add() {
  Graph g;
  g.inputs.push_back(ValueInfo{"x", DType::F32, {2, 3}});
  Node relu;
  relu.op_type = "Relu";
  relu.name = "relu";
  relu.inputs = {"x"};
  relu.outputs = {"r"};
  Node add;
  add.op_type = "Add";
  add.name = "add";
  add.inputs = {"r", "x"};
  add.outputs = {"y"};
  g.nodes = {relu, add};
  g.outputs.push_back(ValueInfo{"y", DType::F32, {}});
  auto m = std::make_shared<Model>();
  m->graph = g;
  return m;
}

}  // namespace

int main() {
  const std::vector<std::string> names = backend_names();
  check(std::find(names.begin(), names.end(), "test-loopback") != names.end(), "backend_names() lists test-loopback");
  bool listed = false;
  for (const BackendStatus& s : backend_status()) listed = listed || (s.name == "test-loopback" && s.available);
  check(listed, "backend_status() lists test-loopback as available");

  for (const std::string& force : {std::string(), std::string("again")}) {
    SessionOptions o;
    o.backend = "test-loopback";
    if (!force.empty()) o.force = {{"Unary", force}};
    const int made_before = g_loopback_kernels_made;
    Session s(relu_then_add(), o);
    Tensor x(DType::F32, {2, 3});
    for (int i = 0; i < 6; ++i) x.data_as<float>()[i] = static_cast<float>(i) - 2.5f;
    const Tensor y = s.run({Value::tensor(x)}).at(0).tensors.at(0);
    bool right = true;
    for (int i = 0; i < 6; ++i) {
      const float v = x.data_as<float>()[i];
      right = right && std::fabs(y.data_as<float>()[i] - (std::max(v, 0.f) + v)) < 1e-6f;
    }
    check(right, "relu(x) + x on test-loopback");
    check(g_loopback_kernels_made > made_before, "the session made its kernels on test-loopback");
    for (const PlannedOp& row : s.plan_report()) {
      check(row.backend == "test-loopback", row.kind + " ran on " + row.backend);
      check(row.variants == std::vector<std::string>{"plain", "again"}, row.kind + ": the search saw both variants");
      const std::string want = row.kind == "Unary" && !force.empty() ? force : "plain";
      check(row.algorithm == want, row.kind + " chose '" + row.algorithm + "', expected '" + want + "'");
    }
  }
  return walle_test::report();
}
