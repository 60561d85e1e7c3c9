#include "ops/atomic.h"

namespace walle {

const char* atomic_kind_name(AtomicKind kind) {
  static const char* names[] = {"Raster", "Unary", "Binary",  "Select", "Reduce", "MatMul", "Conv", "Pool",
                                "Gather", "Cast",  "Scatter", "TopK",   "Random", "Text",   "Fused"};
  return names[static_cast<int>(kind)];
}

const char* text_op_name(TextOp op) {
  static const char* names[] = {"Upper", "Lower", "Concat", "SplitCount", "Split", "RegexFullMatch", "Format", "Parse"};
  return names[static_cast<int>(op)];
}

// clang-format off
const char* unary_name(UnaryOp op) {
  static const char* names[] = {
#define WALLE_UNARY(name, where) #name,
#include "ops/op_codes.def"
#undef WALLE_UNARY
  };
  return names[static_cast<int>(op)];
}

const char* binary_name(BinaryOp op) {
  static const char* names[] = {
#define WALLE_BINARY(name, where) #name,
#include "ops/op_codes.def"
#undef WALLE_BINARY
  };
  return names[static_cast<int>(op)];
}

bool unary_on_device(UnaryOp op) {
  static const bool device[] = {
#define WALLE_UNARY(name, where) #where[0] == 'D',
#include "ops/op_codes.def"
#undef WALLE_UNARY
  };
  return device[static_cast<int>(op)];
}

bool binary_on_device(BinaryOp op) {
  static const bool device[] = {
#define WALLE_BINARY(name, where) #where[0] == 'D',
#include "ops/op_codes.def"
#undef WALLE_BINARY
  };
  return device[static_cast<int>(op)];
}
// clang-format on

bool binary_is_comparison(BinaryOp op) {
  switch (op) {
    case BinaryOp::Equal:
    case BinaryOp::Less:
    case BinaryOp::Greater:
    case BinaryOp::LessEqual:
    case BinaryOp::GreaterEqual:
    case BinaryOp::And:
    case BinaryOp::Or:
    case BinaryOp::Xor: return true;
    default: return false;
  }
}

int AtomicGraph::add_tensor(DType dtype, Shape shape, std::string name) {
  AtomicTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.name = std::move(name);
  tensors.push_back(std::move(t));
  return static_cast<int>(tensors.size()) - 1;
}

int AtomicGraph::root(int id) const {
  while (tensors[id].storage == Storage::Alias) id = tensors[id].alias_of;
  return id;
}

}  // namespace walle
