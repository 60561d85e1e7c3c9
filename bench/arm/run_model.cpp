// Runs a .walle model RUNS times on one backend, for counting instructions per inference
// under emulation (count_instructions.sh runs it for two RUNS values and takes the
// difference, which cancels loading, planning and the first run's weight packing).
//   walle_run_model MODEL.walle BACKEND RUNS [ISA]    BACKEND: cpu | cpu-reference
// The input is a fixed pattern of the model's input shape; prints the kernels that ran.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "model/loader.h"
#include "runtime/session.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: walle_run_model MODEL.walle BACKEND RUNS [ISA]\n");
    return 2;
  }
  try {
    walle::SessionOptions o;
    o.backend = argv[2];
    o.isa = argc > 4 ? argv[4] : "auto";
    o.threads = 1;  // the instruction-count plugin's counters are per process, not atomic
    o.profile = true;
    walle::Session s(walle::load_model(argv[1]), o);
    walle::Tensor x(walle::DType::F32, s.inputs().at(0).dims);
    for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = static_cast<float>((i * 37) % 101) / 50.f - 1.f;
    double checksum = 0;
    for (int r = 0, runs = std::atoi(argv[3]); r < runs; ++r) {
      const walle::Tensor y = s.run({walle::Value::tensor(x)}).at(0).tensors.at(0);
      checksum = 0;
      for (int64_t i = 0; i < y.numel(); ++i) checksum += y.data_as<float>()[i];
    }
    std::printf("output checksum %.6g\n", checksum);
    for (const walle::PlannedOp& op : s.plan_report())
      std::printf("  %-8s %-36s runs %lld\n", op.kind.c_str(), op.kernel.c_str(), static_cast<long long>(op.runs));
  } catch (const walle::Error& e) {
    std::fprintf(stderr, "walle_run_model: %s\n", e.what());
    return 1;
  }
  return 0;
}
