// libFuzzer target: .walle bytes -> loader -> planner (decompose, fold, fuse, memory plan,
// kernels) -> one run on zero inputs. Every input must end in success or a walle::Error; a
// crash, a sanitizer report, any other exception (std::length_error, std::bad_alloc from a
// hostile size) or a hang is a bug. Built with ASan + UBSan by tests/fuzz/build.sh.
//
// Mutation is structure-aware half of the time: a file that verifies has its int64 vectors
// (attribute ints, graph input/output dims, tensor dims) located through the FlatBuffers
// reader and one element overwritten in place with a value planners get wrong (0, -1, a
// scalar's axis, 2^40, INT64_MIN...), so mutants stay valid files that reach the planner.
// The other half is libFuzzer's byte-level mutation.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "core/error.h"
#include "model/loader.h"
#include "runtime/session.h"
#include "walle_model_generated.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

using walle::fb::Attribute;
using walle::fb::Graph;
using walle::fb::TensorData;
using walle::fb::ValueInfo;

// Zero inputs of each declared shape (unknown dims as 1); none over 1M elements.
bool zero_inputs(const walle::Session& s, std::vector<walle::Value>* out) {
  for (const walle::ValueInfo& v : s.inputs()) {
    walle::Shape shape;
    for (int64_t d : v.dims) shape.push_back(d < 0 ? 1 : d);
    int64_t n = walle::checked_numel(shape);
    if (n < 0 || n > (1 << 20) || v.dtype == walle::DType::Undefined) return false;
    walle::Tensor t(v.dtype, shape);
    if (v.dtype == walle::DType::String) {  // empty strings: a zeroed handle points nowhere
      static const char kEmpty = 0;
      auto* refs = t.data_as<walle::StringRef>();
      for (int64_t i = 0; i < n; ++i) refs[i] = walle::StringRef{&kEmpty, 0};
    }
    if (v.kind == walle::ValueKind::Tensor)
      out->push_back(walle::Value::tensor(t));
    else if (v.kind == walle::ValueKind::Sequence)
      out->push_back(walle::Value::sequence({t}));
    else
      out->push_back(walle::Value::none());
  }
  return true;
}

void collect(const Graph* g, std::vector<int64_t*>* slots, int depth);

void collect_values(const flatbuffers::Vector<flatbuffers::Offset<ValueInfo>>* vs, std::vector<int64_t*>* slots) {
  if (!vs) return;
  for (const ValueInfo* v : *vs)
    if (v->dims())
      for (flatbuffers::uoffset_t i = 0; i < v->dims()->size(); ++i)
        slots->push_back(const_cast<int64_t*>(v->dims()->data()) + i);
}

void collect(const Graph* g, std::vector<int64_t*>* slots, int depth) {
  if (!g || depth > 8) return;
  collect_values(g->inputs(), slots);
  collect_values(g->outputs(), slots);
  if (g->initializers())
    for (const TensorData* t : *g->initializers())
      if (t->dims())
        for (flatbuffers::uoffset_t i = 0; i < t->dims()->size(); ++i)
          slots->push_back(const_cast<int64_t*>(t->dims()->data()) + i);
  if (!g->nodes()) return;
  for (const auto* n : *g->nodes()) {
    if (!n->attrs()) continue;
    for (const Attribute* a : *n->attrs()) {
      if (a->ints())
        for (flatbuffers::uoffset_t i = 0; i < a->ints()->size(); ++i)
          slots->push_back(const_cast<int64_t*>(a->ints()->data()) + i);
      if (a->graph()) collect(a->graph(), slots, depth + 1);
    }
  }
}

int64_t interesting(uint32_t r) {
  static const int64_t kValues[] = {0,
                                    1,
                                    -1,
                                    2,
                                    -2,
                                    3,
                                    7,
                                    16,
                                    255,
                                    1 << 16,
                                    int64_t{1} << 31,
                                    int64_t{1} << 40,
                                    (int64_t{1} << 40) + 1,
                                    int64_t{1} << 62,
                                    std::numeric_limits<int64_t>::max(),
                                    std::numeric_limits<int64_t>::min(),
                                    -(int64_t{1} << 40)};
  return kValues[r % (sizeof(kValues) / sizeof(kValues[0]))];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The loader reads weights in place: give it a 64-byte aligned copy, as a mapping would be.
  std::shared_ptr<void> copy(std::aligned_alloc(64, (size + 63) / 64 * 64 + 64), std::free);
  std::memcpy(copy.get(), data, size);
  try {
    auto model = walle::load_model_from_memory(static_cast<const uint8_t*>(copy.get()), size, copy, "fuzz.walle");
    walle::SessionOptions options;
    options.backend = (size & 1) ? "cpu-reference" : "cpu";
    // Within the fuzzer's -rss_limit_mb (4 GiB): a model that plans more is a named error here,
    // as on a user's machine with less memory, not an out-of-memory finding.
    options.memory_limit = int64_t{1} << 30;
    walle::Session session(model, options);
    std::vector<walle::Value> inputs;
    // Run only what fits a fuzzer's budget: planning already checked shapes and regions, and
    // a plan with a large arena or many multiply-adds (a convolution over a folded 1 GiB weight)
    // is slow work under ASan, not a hang.
    if (!zero_inputs(session, &inputs)) return 0;
    session.prepare(inputs);  // a model with symbolic input shapes plans only now
    int64_t macs = 0;
    for (const walle::PlannedOp& op : session.plan_report()) macs += op.macs;
    if (session.arena_bytes() <= (int64_t{16} << 20) && macs <= (int64_t{1} << 28)) session.run(inputs);
  } catch (const walle::Error&) {}
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  uint32_t r = seed * 2654435761u;
  if ((r & 1) == 0 && size >= 12) {
    flatbuffers::Verifier::Options vo;
    vo.max_depth = 64;
    flatbuffers::Verifier verifier(data, size, vo);
    if (walle::fb::VerifySizePrefixedModelBuffer(verifier)) {
      std::vector<int64_t*> slots;
      collect(walle::fb::GetSizePrefixedModel(data)->graph(), &slots, 0);
      if (!slots.empty()) {
        int64_t value = (r >> 8) & 1 ? interesting(r >> 9) : static_cast<int64_t>((r >> 9) % 9) - 4;
        std::memcpy(slots[(r >> 3) % slots.size()], &value, sizeof value);  // in place: the file stays valid
        return size;
      }
    }
  }
  return LLVMFuzzerMutate(data, size, max_size);
}
