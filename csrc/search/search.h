// The semi-auto search: which backend runs each atomic op, and with which algorithm.
//
// Per op and backend a cost comes from the backend's calibrated cost model (estimate mode) or
// from measuring every algorithm the backend offers for that op (tune mode, cached on disk by
// device and op signature in cache_dir()/tune.txt; estimate mode also uses such cached
// measurements when they exist, so per-device work-group choices persist). An assignment's total cost is the sum of
// its ops' costs plus every copy it implies: a value produced in one backend's memory and read
// in another's, and graph outputs that must reach the host (constants are uploaded once at plan
// time and cost nothing per run). Ops a backend cannot run cost infinity there, so falling back
// to the CPU is priced by the copies it causes. The search starts from every "one backend, CPU
// for the rest" assignment and improves the best by moving single ops and whole runs of
// consecutive same-backend ops (subgraphs) to another backend while the total drops.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace walle::search {

struct OpDecision {
  int backend = 0;  // index into the backends given
  std::string algorithm;
  double estimate_us = 0;   // cost-model estimate of the chosen backend/algorithm
  double measured_us = -1;  // tune mode: the measured time (-1 when not measured)
  std::string candidates;   // every backend's cost or why it cannot run the op
};

struct SearchOptions {
  int fixed_backend = -1;  // >= 0: that backend for every op it supports, CPU (0) for the rest
  bool tune = false;       // measure candidates instead of estimating
  // Atomic kind name -> variant ("Conv" -> "winograd-f43"): the only candidate wherever a
  // backend offers that variant for an op of that kind (SessionOptions::force).
  std::map<std::string, std::string> force;
};

struct SearchResult {
  std::vector<OpDecision> ops;  // one per graph op
  double total_us = 0;          // cost of the assignment, copies included
  double copies_us = 0;         // of which copies
};

// backends[0] must be the CPU (host memory): every op can run there.
SearchResult choose_backends(const AtomicGraph& graph, const std::vector<int>& outputs,
                             const std::vector<std::shared_ptr<Backend>>& backends, const SearchOptions& options,
                             ThreadPool& pool);

// A stable text key of an op's kind, parameters and operand shapes/dtypes (tuning cache key).
std::string op_signature(const AtomicOp& op, const AtomicGraph& graph);

}  // namespace walle::search
