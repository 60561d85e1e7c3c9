// The tune cache's key (search::op_signature) tells apart any two ops that differ in one field:
// for each field of AtomicOp, an op with that field changed must get a different key. Before,
// the text, blocked-layout and float8-cast fields were left out, so e.g. a Split on "," and one
// on ";" shared a cached measurement.
#include <functional>
#include <string>
#include <vector>

#include "check.h"
#include "ops/atomic.h"
#include "search/search.h"

using namespace walle;
using walle_test::check;

int main() {
  AtomicGraph g;
  g.tensors.resize(2);
  g.tensors[0].shape = {2, 3};
  g.tensors[1].shape = {2, 3};
  AtomicOp base;
  base.kind = AtomicKind::Unary;
  base.inputs = {0};
  base.output = 1;
  const std::string key = search::op_signature(base, g);

  const std::vector<std::pair<const char*, std::function<void(AtomicOp&)>>> changes = {
      {"text", [](AtomicOp& o) { o.text = TextOp::Lower; }},
      {"text_arg", [](AtomicOp& o) { o.text_arg = ";"; }},
      {"maxsplit", [](AtomicOp& o) { o.maxsplit = 2; }},
      {"blocked_input", [](AtomicOp& o) { o.blocked_input = true; }},
      {"blocked_output", [](AtomicOp& o) { o.blocked_output = true; }},
      {"saturate", [](AtomicOp& o) { o.saturate = false; }},
      {"cast_round", [](AtomicOp& o) { o.cast_round = 2; }},
      {"cast_to", [](AtomicOp& o) { o.cast_to = DType::F16; }},
      {"select_last_index", [](AtomicOp& o) { o.select_last_index = true; }},
      {"fill", [](AtomicOp& o) { o.fill = 1; }},
      {"fill_output", [](AtomicOp& o) { o.fill_output = true; }},
      {"regions", [](AtomicOp& o) { o.regions.push_back(Region{}); }},
      {"unary", [](AtomicOp& o) { o.unary = UnaryOp::Exp; }},
      {"binary", [](AtomicOp& o) { o.binary = BinaryOp::Mul; }},
      {"alpha", [](AtomicOp& o) { o.alpha = 0.5f; }},
      {"beta", [](AtomicOp& o) { o.beta = 0.5f; }},
      {"reduce", [](AtomicOp& o) { o.reduce = ReduceOp::Max; }},
      {"outer", [](AtomicOp& o) { o.outer = 2; }},
      {"batch_shape", [](AtomicOp& o) { o.batch_shape = {2}; }},
      {"a_batch_strides", [](AtomicOp& o) { o.a_batch_strides = {1}; }},
      {"b_batch_strides", [](AtomicOp& o) { o.b_batch_strides = {1}; }},
      {"trans_b", [](AtomicOp& o) { o.trans_b = true; }},
      {"activation", [](AtomicOp& o) { o.activation = Activation::Relu; }},
      {"n", [](AtomicOp& o) { o.n = 2; }},
      {"out_h", [](AtomicOp& o) { o.out_h = 2; }},
      {"out_w", [](AtomicOp& o) { o.out_w = 2; }},
      {"dilation_w", [](AtomicOp& o) { o.dilation_w = 2; }},
      {"count_include_pad", [](AtomicOp& o) { o.count_include_pad = true; }},
      {"axis_size", [](AtomicOp& o) { o.axis_size = 2; }},
      {"fused", [](AtomicOp& o) { o.fused = FusedOp::LayerNorm; }},
      {"scatter_dims", [](AtomicOp& o) { o.scatter_dims = {0}; }},
      {"accumulate", [](AtomicOp& o) { o.accumulate = true; }},
      {"k", [](AtomicOp& o) { o.k = 2; }},
      {"largest", [](AtomicOp& o) { o.largest = false; }},
      {"seed", [](AtomicOp& o) { o.seed = 7; }},
      {"bernoulli", [](AtomicOp& o) { o.bernoulli = true; }},
  };
  for (const auto& [field, change] : changes) {
    AtomicOp op = base;
    change(op);
    check(search::op_signature(op, g) != key, std::string("op_signature ignores AtomicOp::") + field);
  }
  // The origin label is not part of what runs: ops from differently named nodes share a key.
  AtomicOp renamed = base;
  renamed.origin = "another node";
  check(search::op_signature(renamed, g) == key, "op_signature depends on the origin label");
  return walle_test::report();
}
