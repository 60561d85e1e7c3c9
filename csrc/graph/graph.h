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

// A graph input or output: dtype and shape, where a dimension of -1 is symbolic.
struct ValueInfo {
  std::string name;
  DType dtype = DType::Undefined;
  std::vector<int64_t> dims;
  std::vector<std::string> dim_names;  // "" for fixed dimensions
};

struct Node {
  std::string op_type;
  std::string name;
  std::vector<std::string> inputs;   // "" marks an omitted optional input
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
