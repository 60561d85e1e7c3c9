// The per-backend cost model of the semi-auto search: an op's time is estimated from what it
// does (bytes moved, multiply-adds, launches) and a few constants measured on this device.
//
//   time = launch_us * launches + max(bytes / bandwidth, flops / compute)   (a roofline)
//   copy = copy_latency_us + bytes / copy_bandwidth                         (host <-> device)
//
// The constants are calibrated by short measurements on first use (a tiny op, a large
// elementwise op, a 256^3 GEMM and a 4 MiB round trip) and cached on disk keyed by the device
// (cache_dir()/calibration.txt), so later sessions start at once.
#pragma once
#include <string>

#include "core/environment.h"
#include "backend/backend.h"

namespace walle::search {

struct Calibration {
  double launch_us = 5;          // fixed cost of one op (dispatch, launch, thread wake-up)
  double bytes_per_us = 5000;    // streaming bandwidth (bytes per microsecond = MB/s)
  double flops_per_us = 20000;   // GEMM-like throughput (flops per microsecond = MFLOP/s)
  double copy_latency_us = 0;    // host <-> this backend's memory: fixed cost
  double copy_bytes_per_us = 0;  // and bandwidth; 0 = no copy needed (host memory)
};

// Appends one line to a cache file (calibration.txt, tune.txt in cache_dir(), core/environment.h)
// in a single write, so concurrent writers never interleave within a line.
void append_cache_line(const std::string& path, const std::string& line);

// The cached calibration of `backend` with `threads` threads, measuring it when absent.
Calibration calibration(const Backend& backend, ThreadPool& pool);

// Estimated microseconds of `op` on a backend with calibration `c`.
double estimate_us(const Calibration& c, const AtomicOp& op, const AtomicGraph& graph);

// One sequential step of one device thread (Backend::serial_steps): a few nanoseconds, the
// order of a dependent load from cache at GPU clocks and of PoCL/lavapipe's scalar loops. Not
// calibrated: it only has to keep long serial kernels (Random streams, Scatter with run-time
// indices, TopK scans) from looking free to the search.
constexpr double kSerialStepUs = 0.005;

// Estimated microseconds to move `bytes` between host memory and a backend with calibration `c`.
double copy_us(const Calibration& c, double bytes);

}  // namespace walle::search
