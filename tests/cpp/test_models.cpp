// Whole models stored by the converter (tests/cpp/models/make_test_models.py writes them on the
// host) run on the CPU backend at the processor's best level (NEON under qemu-aarch64, AVX2 or
// AVX-512 natively) and on "cpu-reference"; both are compared with each other and with the
// output the host's Walle gave (<name>.expected.bin). The profile's per-kernel counts show
// which kernels ran: every Conv must run on a kernel of the best level.
//   walle_test_models DIR NAME...     (DIR holds NAME.walle, NAME.input.bin, NAME.expected.bin)
// Standalone (no gtest): exit code 1 on any failure; the last line is "N passed, N failed".
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "check.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "model/loader.h"
#include "runtime/session.h"

using namespace walle;

namespace {

using walle_test::check;

std::vector<float> read_floats(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw Error(ErrorKind::Input, "cannot open " + path + " (run tests/cpp/models/make_test_models.py)");
  const std::streamsize bytes = f.tellg();
  std::vector<float> v(static_cast<size_t>(bytes) / sizeof(float));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  return v;
}

struct Output {
  std::vector<float> y;
  std::vector<PlannedOp> plan;
};

Output run(const std::shared_ptr<Model>& model, const std::vector<float>& input, const std::string& backend) {
  SessionOptions o;
  o.backend = backend;
  o.threads = 2;
  o.profile = true;
  Session s(model, o);
  const ValueInfo& info = s.inputs().at(0);
  Tensor x(DType::F32, info.dims);
  WALLE_CHECK(static_cast<size_t>(x.numel()) == input.size(), Input,
              "input file holds " + std::to_string(input.size()) + " floats, the model takes " + shape_str(info.dims));
  std::copy(input.begin(), input.end(), x.data_as<float>());
  const Tensor y = s.run({Value::tensor(x)}).at(0).tensors.at(0);
  return {std::vector<float>(y.data_as<float>(), y.data_as<float>() + y.numel()), s.plan_report()};
}

// max |a - b| / (1e-4 + 1e-4 * max |b|): the outputs are logits of order 1..10.
double worst(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 1e30;
  double scale = 0, err = 0;
  for (size_t i = 0; i < b.size(); ++i) scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  for (size_t i = 0; i < a.size(); ++i) err = std::max(err, static_cast<double>(std::fabs(a[i] - b[i])));
  return err / (1e-4 * (1.0 + scale));
}

void test_model(const std::string& dir, const std::string& name) {
  const std::string isa = isa_name(detected_isa());
  try {
    auto model = load_model(dir + "/" + name + ".walle");
    const std::vector<float> input = read_floats(dir + "/" + name + ".input.bin");
    const std::vector<float> expected = read_floats(dir + "/" + name + ".expected.bin");
    const Output fast = run(model, input, "cpu"), ref = run(model, input, "cpu-reference");
    const double vs_ref = worst(fast.y, ref.y), vs_host = worst(fast.y, expected);
    std::printf("%s: %s vs cpu-reference %.3g, vs host %.3g (units of 1e-4 relative)\n", name.c_str(), isa.c_str(),
                vs_ref, vs_host);
    check(vs_ref <= 1.0, name + ": " + isa + " path differs from cpu-reference");
    check(vs_host <= 1.0, name + ": " + isa + " path differs from the host's output");
    check(worst(ref.y, expected) <= 1.0, name + ": cpu-reference differs from the host's output");

    // Per-kernel counts from the profile: what ran, and that every Conv ran at the best level.
    std::map<std::string, int64_t> runs;
    int convs = 0, convs_at_level = 0;
    for (const PlannedOp& op : fast.plan) {
      runs[op.kernel] += op.runs;
      if (op.kind == "Conv") {
        ++convs;
        if (op.runs > 0 && op.kernel.size() > isa.size() &&
            op.kernel.compare(op.kernel.size() - isa.size(), isa.size(), isa) == 0)
          ++convs_at_level;
      }
    }
    for (const auto& [kernel, count] : runs)
      std::printf("  %-40s runs %lld\n", kernel.c_str(), static_cast<long long>(count));
    check(convs > 0 && convs_at_level == convs, name + ": " + std::to_string(convs_at_level) + " of " +
                                                    std::to_string(convs) + " convolutions ran at level " + isa);
  } catch (const Error& e) { check(false, name + ": " + e.what()); }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: walle_test_models DIR NAME...\n");
    return 2;
  }
#if defined(__aarch64__)
  check(detected_isa() == Isa::Neon, std::string("aarch64 detects neon, got ") + isa_name(detected_isa()));
#endif
  for (int i = 2; i < argc; ++i) test_model(argv[1], argv[i]);
  return walle_test::report();
}
