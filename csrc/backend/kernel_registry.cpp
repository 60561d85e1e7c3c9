#include "backend/backend.h"

namespace walle {

void KernelRegistry::add(AtomicKind kind, Entry entry) { entries_[kind].push_back(std::move(entry)); }

const KernelRegistry::Entry* KernelRegistry::find(const AtomicOp& op, const AtomicGraph& graph, Isa isa) const {
  auto it = entries_.find(op.kind);
  if (it == entries_.end()) return nullptr;
  const Entry* best = nullptr;
  for (const Entry& e : it->second) {
    if (!isa_includes(isa, e.isa)) continue;
    if (e.accepts && !e.accepts(op, graph)) continue;
    if (!best || static_cast<int>(e.isa) >= static_cast<int>(best->isa)) best = &e;
  }
  return best;
}

}  // namespace walle
