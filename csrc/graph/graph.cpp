#include "graph/graph.h"

#include <set>

#include "core/error.h"

namespace walle {

namespace {
const Attribute* find_attr(const Node& node, const std::string& key, Attribute::Kind kind) {
  auto it = node.attrs.find(key);
  if (it == node.attrs.end()) return nullptr;
  if (it->second.kind != kind)
    throw Error(ErrorKind::Model, node.label() + ": attribute '" + key + "' has the wrong type");
  return &it->second;
}
}  // namespace

const char* value_kind_name(ValueKind kind) {
  switch (kind) {
    case ValueKind::Tensor: return "tensor";
    case ValueKind::Sequence: return "sequence";
    case ValueKind::Optional: return "optional";
    case ValueKind::OptionalSequence: return "optional(sequence)";
  }
  return "?";
}

int64_t Node::attr_int(const std::string& key, int64_t fallback) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::Int);
  return a ? a->i : fallback;
}

double Node::attr_float(const std::string& key, double fallback) const {
  auto it = attrs.find(key);
  if (it != attrs.end() && it->second.kind == Attribute::Kind::Int) return static_cast<double>(it->second.i);
  const Attribute* a = find_attr(*this, key, Attribute::Kind::Float);
  return a ? a->f : fallback;
}

std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::String);
  return a ? a->s : fallback;
}

std::vector<int64_t> Node::attr_ints(const std::string& key, std::vector<int64_t> fallback) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::Ints);
  return a ? a->ints : fallback;
}

namespace {
// The converter writes an empty list attribute as an empty Ints (its element type is unknown).
bool empty_list(const Node& node, const std::string& key) {
  auto it = node.attrs.find(key);
  return it != node.attrs.end() && it->second.kind == Attribute::Kind::Ints && it->second.ints.empty();
}
}  // namespace

std::vector<double> Node::attr_floats(const std::string& key, std::vector<double> fallback) const {
  if (empty_list(*this, key)) return {};
  const Attribute* a = find_attr(*this, key, Attribute::Kind::Floats);
  return a ? a->floats : fallback;
}

std::vector<std::string> Node::attr_strings(const std::string& key, std::vector<std::string> fallback) const {
  if (empty_list(*this, key)) return {};
  const Attribute* a = find_attr(*this, key, Attribute::Kind::Strings);
  return a ? a->strings : fallback;
}

const Tensor* Node::attr_tensor(const std::string& key) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::Tensor);
  return a ? &a->tensor : nullptr;
}

std::string Node::label() const { return op_type + " '" + name + "'"; }

void Graph::check_topology() const {
  std::set<std::string> defined;
  for (const auto& v : inputs) defined.insert(v.name);
  for (const auto& kv : initializers) defined.insert(kv.first);
  for (const auto& node : nodes) {
    for (const auto& in : node.inputs)
      if (!in.empty() && !defined.count(in))
        throw Error(ErrorKind::Model,
                    node.label() + " reads '" + in + "', which no earlier node, input or initializer defines");
    for (const auto& out : node.outputs)
      if (!out.empty()) defined.insert(out);
  }
  for (const auto& v : outputs)
    if (!defined.count(v.name)) throw Error(ErrorKind::Model, "graph output '" + v.name + "' is never produced");
}

}  // namespace walle
