// The composite-op graph a model file describes: ONNX-like nodes over named values.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace walle {

struct Graph;

struct Attribute {
  enum class Kind { Int, Float, String, Ints, Floats, Strings, Tensor, Graph };
  Kind kind = Kind::Int;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
  walle::Tensor tensor;
  std::shared_ptr<walle::Graph> graph;
};

// What a graph input or output holds (the model file's ValueKind): a tensor, a sequence of
// tensors, or an optional one of those that may be absent.
enum class ValueKind { Tensor, Sequence, Optional, OptionalSequence };
const char* value_kind_name(ValueKind kind);  // "tensor", "sequence", "optional", "optional(sequence)"

// A graph input or output: dtype and shape (of the tensor, or of each element of a
// sequence), where a dimension of -1 is symbolic.
struct ValueInfo {
  std::string name;
  DType dtype = DType::Undefined;
  std::vector<int64_t> dims;
  std::vector<std::string> dim_names;  // "" for fixed dimensions
  ValueKind kind = ValueKind::Tensor;
  bool unknown_rank = false;  // any shape is accepted (dims are empty)

  bool is_sequence() const { return kind == ValueKind::Sequence || kind == ValueKind::OptionalSequence; }
  bool is_optional() const { return kind == ValueKind::Optional || kind == ValueKind::OptionalSequence; }
};

struct Node {
  std::string op_type;
  std::string name;
  std::vector<std::string> inputs;  // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attrs;

  bool has(const std::string& key) const { return attrs.count(key) != 0; }
  int64_t attr_int(const std::string& key, int64_t fallback) const;
  double attr_float(const std::string& key, double fallback) const;
  std::string attr_string(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> fallback = {}) const;
  std::vector<double> attr_floats(const std::string& key, std::vector<double> fallback = {}) const;
  std::vector<std::string> attr_strings(const std::string& key, std::vector<std::string> fallback = {}) const;
  const Tensor* attr_tensor(const std::string& key) const;  // nullptr when absent
  // "Conv 'conv1'" - used in every error message about this node.
  std::string label() const;
};

struct Graph {
  std::vector<ValueInfo> inputs;
  std::vector<ValueInfo> outputs;
  std::map<std::string, Tensor> initializers;
  std::vector<Node> nodes;  // topologically sorted (checked on load)

  // Throws walle::Error(Model) if a node reads a value nothing defines before it, or an
  // output is never produced.
  void check_topology() const;
};

}  // namespace walle
