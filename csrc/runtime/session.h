// A loaded model ready to run: shapes resolved, composite ops decomposed into atomic ops,
// activations fused, a static memory plan, and one planned kernel per op.
//
// run() re-plans when the input shapes change (dynamic shapes). One session runs one request
// at a time (a mutex); independent sessions run concurrently, each on its own thread pool.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/thread_pool.h"
#include "graph/graph.h"
#include "model/model.h"
#include "ops/atomic.h"

namespace walle {

// A graph input or output as the caller sees it: a tensor, a sequence of tensors (ONNX
// sequence), or nothing (an empty ONNX optional; a present one is its value). Sequences and
// optionals exist only at the graph boundary and at plan time: kernels see tensors.
struct Value {
  enum class Kind { Tensor, Sequence, None };
  Kind kind = Kind::Tensor;
  std::vector<Tensor> tensors;  // the tensor, the sequence's items, or nothing for None

  static Value tensor(Tensor t) { return {Kind::Tensor, {std::move(t)}}; }
  static Value sequence(std::vector<Tensor> items) { return {Kind::Sequence, std::move(items)}; }
  static Value none() { return {Kind::None, {}}; }
};

// Bounds on session options (checked by Session, mirrored by walle.load): a thread pool of
// more than this many threads is a mistake, not a configuration (each thread reserves a stack).
constexpr int kMaxThreads = 1024;

struct SessionOptions {
  std::string backend = "cpu";  // or "cpu-reference", "opencl", "vulkan", "cuda", "auto"
  std::string isa = "auto";
  int threads = 1;                // 1 to kMaxThreads
  std::string mode = "estimate";  // backend choice by cost model, or "tune": by measurement
  // Time every kernel of every run (reported by plan_report); also on with WALLE_PROFILE=1.
  bool profile = false;
  // Choices the search would otherwise make, for tests and experiments: an atomic kind name ->
  // the variant every op of that kind runs where a backend offers it ("Conv" -> "winograd-f43";
  // plan()'s candidates list each op's variants), and "layout" -> "nchw" to keep every tensor
  // NCHW (by default the CPU runs channel-blocked chains where it has the kernels).
  std::map<std::string, std::string> force;
  // Bytes a plan may take: the constants folded while planning, the intermediate-tensor arenas
  // and the kernels' scratch (not the model's own weights). 0: this machine's physical memory.
  // A model that needs more fails to load (walle.ModelError) or to run with the given shapes
  // (walle.InputError), naming the sizes, instead of exhausting the machine.
  int64_t memory_limit = 0;
};

// One row of Session::plan_report(): how an atomic op runs.
struct PlannedOp {
  std::string origin;  // composite node it came from
  std::string kind;    // atomic kind
  std::string kernel;  // implementation chosen
  std::string shape;   // output shape
  int64_t macs = 0;    // multiply-accumulates (Conv, MatMul), 0 for the rest
  // Where and how the op runs, and why (csrc/search).
  std::string backend;                // backend running it ("cpu", "opencl", ...); copies: "a->b"
  std::string algorithm;              // variant chosen ("" when the backend has one)
  std::vector<std::string> variants;  // every variant its backend offers for it (empty when one)
  std::string layout;                 // Conv/Pool: "nchw", "blocked", "nchw->blocked" or "blocked->nchw"; else ""
  double estimate_us = -1;            // cost-model estimate (-1: not estimated)
  double measured_us = -1;            // tune-mode measurement (-1: not measured)
  std::string candidates;             // every backend's cost, or why it cannot run the op
  double total_us = 0;                // time spent in this op's kernel over all runs (when profiling)
  int64_t runs = 0;                   // runs timed (0 unless SessionOptions::profile or WALLE_PROFILE=1)
};

class Session {
 public:
  Session(std::shared_ptr<const Model> model, SessionOptions options);

  const std::vector<ValueInfo>& inputs() const { return model_->graph.inputs; }
  const std::vector<ValueInfo>& outputs() const { return model_->graph.outputs; }
  const SessionOptions& options() const { return options_; }

  // Inputs in the order of inputs(); throws Error(Input) naming a wrong kind (a sequence
  // where a tensor is expected, None for a non-optional input), shape or dtype.
  std::vector<Value> run(const std::vector<Value>& inputs);
  // Plans for these inputs as run() would, without running (plan_report() then shows the plan).
  void prepare(const std::vector<Value>& inputs);

  std::vector<PlannedOp> plan_report();
  int64_t arena_bytes() const { return arena_bytes_; }

 private:
  struct Plan;
  // What a plan is specialised to, like input shapes: each input's kind and number of
  // tensors (1, a sequence's length, 0 for None), and the shapes of all input tensors in
  // order ("flat": a sequence's items one after another). Plans bind flat tensors by index.
  struct Signature {
    std::vector<Value::Kind> kinds;
    std::vector<size_t> counts;
    std::vector<Shape> shapes;
    bool same_layout(const Signature& o) const { return kinds == o.kinds && counts == o.counts; }
    bool operator==(const Signature& o) const { return same_layout(o) && shapes == o.shapes; }
  };
  void check_inputs(const std::vector<Value>& inputs) const;
  // `values` (the run's flat input tensors) lets inputs whose values shape the plan become
  // constants.
  void plan(const Signature& signature, const std::vector<Tensor>* values = nullptr);
  bool planned_values_differ(const std::vector<Tensor>& given) const;
  void open_backends();
  void assign_and_place(Plan& p);
  bool search_chooses_host_only(const AtomicGraph& g, const std::vector<int>& outputs);
  void check_forced(const Plan& p) const;
  std::vector<Tensor> plan_for(const std::vector<Value>& inputs);
  void check_memory(const Plan& p, size_t scratch_bytes) const;
  void release_packed_weights(const AtomicOp& op, const AtomicGraph& g) const;
  void copy_between(std::pair<int, int> dir, void* dst, const void* src, const AtomicTensor& t);

  std::shared_ptr<const Model> model_;
  SessionOptions options_;
  std::shared_ptr<Backend> backend_;
  std::vector<std::shared_ptr<Backend>> backends_;  // [0] = host CPU; then device backends
  std::shared_ptr<Backend> evaluator_;              // runs plan-time constant folding
  ThreadPool pool_;
  std::mutex mutex_;
  std::shared_ptr<Plan> plan_;
  Signature planned_;
  // Flat input tensors a node needs by value at plan time (e.g. Reshape's shape fed as a
  // model input): planned as constants, re-planned when their values change.
  std::vector<bool> value_inputs_;
  std::vector<Tensor> planned_values_;
  int64_t arena_bytes_ = 0;
};

}  // namespace walle
