// Decomposition ("geometry" in MNN): turns one composite node into atomic ops, given the
// resolved shapes of its inputs. Each composite op is one function (see registry.h).
//
// Atomic ops whose inputs are all constants are evaluated on the spot, so shape subgraphs
// (Shape -> Gather -> Concat -> Reshape) and weight preprocessing fold away at plan time, and
// a later op that needs a value (Reshape's shape) finds it as a constant. Re-planning with
// new input shapes re-runs this, which is how dynamic shapes work.
#pragma once
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "graph/graph.h"
#include "ops/atomic.h"
#include "backend/backend.h"

namespace walle {

// Thrown when a node needs the value of a graph input at plan time (Reshape's shape, Slice's
// starts, Reduce's axes fed as model inputs). The session then plans with that input's
// value as a constant and re-plans whenever the value changes (see Session::plan).
struct InputValueNeeded : Error {
  InputValueNeeded(int input, const std::string& message) : Error(ErrorKind::Invalid, message), input(input) {}
  int input;
};

class Decomposer {
 public:
  Decomposer(AtomicGraph& graph, const Backend& evaluator);
  // Bytes the constants folded while planning may take in all (SessionOptions::memory_limit);
  // folding past it fails naming the node.
  void set_memory_limit(int64_t bytes) { memory_limit_ = bytes; }
  int64_t folded_bytes() const { return folded_bytes_; }

  // --- the node being decomposed ---
  void begin(const Node& node, std::vector<int> inputs);
  const Node& node() const { return *node_; }
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  bool has_input(int i) const { return i < num_inputs() && inputs_[i] >= 0; }
  int input(int i) const;  // throws naming the node if absent
  void set_output(int i, int id);
  const std::vector<int>& outputs() const { return outputs_; }
  [[noreturn]] void fail(const std::string& why) const;  // Error(Invalid) naming the node

  // --- checks: the ONNX spec's constraints on what a node reads, checked before use ---
  // Each fails naming the node and the field; the session adds the file. Op families state
  // their constraints with these (see also const_int below) rather than with ad-hoc ifs.
  void require_inputs(int n, const char* which) const;  // at least n inputs (empty names count)
  void require_rank(int id, int64_t min, int64_t max, const std::string& field) const;
  void require_count(const std::vector<int64_t>& values, size_t n, const std::string& field) const;
  // An axis of a rank-r tensor, [-r, r-1] -> [0, r); r = 0 has none (pass r + 1 where the
  // spec allows inserting an axis, as Unsqueeze and Scan's outputs do).
  int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& field = "axis") const;
  // An attribute or constant value within [lo, hi] (strides, dilations, pads, sizes).
  int64_t require_range(int64_t value, int64_t lo, int64_t hi, const std::string& field) const;
  // Shape arithmetic on values from the model, done in 128 bits: fails naming `what` when the
  // result leaves +-2^62 (where int64 arithmetic would soon overflow).
  int64_t checked(__int128 value, const std::string& what) const;
  // A type code from an attribute (Cast's `to`, RandomUniform's `dtype`...): a tensor type.
  DType dtype_attr(const std::string& key, DType fallback) const;

  // --- tensors ---
  // By value: emitting ops grows the tensor table, which would invalidate a reference.
  Shape shape(int id) const { return tensor(id).shape; }
  DType dtype(int id) const { return tensor(id).dtype; }
  int64_t rank(int id) const { return static_cast<int64_t>(shape(id).size()); }
  const Tensor* constant(int id) const;  // nullptr unless the value is known at plan time
  // Values of input i, which must be known at plan time (Reshape's shape, Slice's starts...).
  std::vector<int64_t> const_ints(int i, const char* what) const;
  // The one integer input i holds (TopK's K, DFT's dft_length, Loop's M): exactly one element.
  int64_t const_int(int i, const char* what) const;
  double const_scalar(int i, const char* what) const;
  // The same for any tensor id (a body's output, a computed condition).
  std::vector<int64_t> value_ints(int id, const std::string& what) const;
  // The plan-time value of any tensor: ops whose output shape depends on data (NonZero,
  // Unique, Compress) are computed at plan time from constants or model inputs.
  const Tensor& value(int id, const std::string& what) const;
  int add_constant(const Tensor& t);
  int scalar(double value, DType dtype);

  // --- atomic ops (each returns the output tensor id) ---
  int emit(AtomicOp op, DType dtype, Shape shape);
  int view(int x, Shape shape);      // reshape: no copy
  int reinterpret(int x, DType to);  // the same bytes read as another type of equal size
  int unary(UnaryOp op, int x, float alpha = 0, float beta = 0);
  int binary(BinaryOp op, int a, int b);
  int select(int cond, int a, int b);
  int cast(int x, DType to);
  int cast(int x, DType to, bool saturate, int round_mode);  // float8/float4 targets
  int reduce(ReduceOp op, int x, std::vector<int64_t> axes, bool keepdims, bool select_last = false);
  int transpose(int x, const std::vector<int64_t>& perm);
  int matmul(int a, int b, int bias = -1);  // numpy matmul semantics (1-d operands promoted)
  // Strided copies into one new output (Slice, Concat, Pad, Expand, Tile, ...).
  struct Copy {
    int src;
    int64_t src_offset;
    std::vector<int64_t> src_strides;  // per dim of `sizes`, in elements (0 = repeat)
    int64_t dst_offset;
    std::vector<int64_t> dst_strides;
    std::vector<int64_t> sizes;
  };
  int raster(const std::vector<Copy>& copies, DType dtype, Shape shape, bool fill = false, double fill_value = 0);
  int broadcast_to(int x, const Shape& shape);

  // --- sequences (ONNX sequence type) ---
  // A sequence exists only at plan time: a placeholder tensor id standing for a list of
  // tensor ids. Sequence ops rearrange lists; positions they need must be plan-time values.
  int make_sequence(std::vector<int> items);
  bool is_sequence(int id) const { return sequences_.count(id) != 0; }
  const std::vector<int>& sequence(int id) const;  // fails naming the node if `id` is not one

  // --- optionals (ONNX optional type) ---
  // Also plan-time only: a present optional is its value itself (a tensor or sequence id),
  // an empty one is a placeholder id. Presence is a plan-time fact (the session plans for
  // whether an optional model input was given).
  int make_empty_optional();
  bool is_empty_optional(int id) const { return empty_optionals_.count(id) != 0; }

  // --- subgraphs (If, Loop, Scan, SequenceMap bodies) ---
  // Control flow is unrolled at plan time: a body is decomposed inline, once per iteration,
  // with its inputs bound to tensor ids. Names it does not define resolve in the enclosing
  // scopes (the session installs the outermost resolver).
  using Resolver = std::function<int(const std::string&)>;
  void set_resolver(Resolver resolver) { resolver_ = std::move(resolver); }
  std::vector<int> inline_graph(const Graph& body, const std::vector<int>& inputs);

 private:
  void evaluate(AtomicOp& op);
  void require_tensor(int id) const;  // fails naming the node if `id` is a placeholder
  void check_strings(const AtomicOp& op, DType out) const;
  void check_shape(const Shape& shape) const;             // dims and element count within the limits (core/tensor.h)
  void charge_constant(DType dtype, const Shape& shape);  // counts a folded constant against the limit
  // Throws InputValueNeeded if `id` is a graph input, else fails with `why`.
  [[noreturn]] void need_value(int id, const std::string& why) const;

  // Ids come from the model's wiring: an absent optional input (-1) used where a tensor is
  // needed (Concat with only empty names) is an error naming the node, not a read out of range.
  const AtomicTensor& tensor(int id) const {
    if (id < 0 || id >= static_cast<int>(graph_.tensors.size()))
      fail("uses an absent input (an empty name where a tensor is needed)");
    return graph_.tensors[id];
  }

  AtomicGraph& graph_;
  const Backend& evaluator_;
  ThreadPool single_thread_{1};
  const Node* node_ = nullptr;
  std::vector<int> inputs_;
  std::vector<int> outputs_;
  std::map<int, std::vector<int>> sequences_;
  std::set<int> empty_optionals_;
  Resolver resolver_;
  int64_t memory_limit_ = INT64_MAX;
  int64_t folded_bytes_ = 0;
};

}  // namespace walle
