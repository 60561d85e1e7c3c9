// Timing one atomic op on one backend with scratch buffers in that backend's memory: the
// measurement behind calibration (cost_model) and tune mode (search).
#pragma once
#include <memory>
#include <string>

#include "backend/backend.h"

namespace walle::search {

// Median microseconds of `reps` runs of `op` (after one warm-up) with `algorithm`, synchronised
// with the device each run. Constant inputs hold their real values (Gather indices must be
// valid); other inputs are zeros.
double measure_op_us(const Backend& backend, const AtomicOp& op, const AtomicGraph& graph, const std::string& algorithm,
                     ThreadPool& pool, int reps = 3);

// Median microseconds to copy `bytes` host -> backend and back (half of the round trip).
double measure_copy_us(const Backend& backend, size_t bytes, int reps = 3);

}  // namespace walle::search
