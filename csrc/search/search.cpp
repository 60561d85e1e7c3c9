#include "search/search.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>

#include "search/cost_model.h"
#include "search/measure.h"

namespace walle::search {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::string fmt_us(double us) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1fus", us);
  return buf;
}

// Measured times by "device|signature|algorithm", loaded once and appended to as tuning runs.
class TuneCache {
 public:
  static TuneCache& get() {
    static TuneCache cache;
    return cache;
  }
  bool find(const std::string& key, double* us) {
    std::lock_guard<std::mutex> lock(mutex_);
    load();
    auto it = times_.find(key);
    if (it == times_.end()) return false;
    *us = it->second;
    return true;
  }
  void put(const std::string& key, double us) {
    std::lock_guard<std::mutex> lock(mutex_);
    times_[key] = us;
    std::ostringstream line;
    line << us << ' ' << key;
    append_cache_line(cache_dir() + "/tune.txt", line.str());
  }

 private:
  void load() {
    std::string path = cache_dir() + "/tune.txt";
    if (path == loaded_from_) return;  // WALLE_CACHE_DIR may change between sessions (tests)
    times_.clear();
    loaded_from_ = path;
    std::ifstream in(path);
    double us;
    std::string key;
    while (in >> us && std::getline(in >> std::ws, key)) times_[key] = us;
  }
  std::mutex mutex_;
  std::string loaded_from_;
  std::map<std::string, double> times_;
};

// What the cost of an assignment depends on, precomputed once.
struct Problem {
  std::vector<std::vector<double>> cost;  // [op][backend], kInf when unsupported
  std::vector<int> memory;                // backend -> memory index (0 = host)
  std::vector<Calibration> calib;         // per backend
  struct Value {
    int producer;
    double bytes;
    std::vector<int> consumers;
    bool output;
  };
  std::vector<Value> values;  // non-constant roots read by some op or the caller

  double copy_cost(double bytes, int from_mem, int to_mem) const {
    if (from_mem == to_mem) return 0;
    double t = 0;
    if (from_mem != 0) t += copy_us(calib[from_mem], bytes);
    if (to_mem != 0) t += copy_us(calib[to_mem], bytes);
    return t;
  }

  // Total cost of `a` (backend per op), and the copies' share in *copies.
  double total(const std::vector<int>& a, double* copies = nullptr) const {
    double t = 0, c = 0;
    for (size_t i = 0; i < a.size(); ++i) t += cost[i][a[i]];
    for (const Value& v : values) {
      int from = v.producer >= 0 ? memory[a[v.producer]] : 0;
      unsigned to = v.output ? 1u : 0u;  // bit m: read from memory m (few backends: a bitmask)
      for (int op : v.consumers) to |= 1u << memory[a[op]];
      for (int m = 0; to; ++m, to >>= 1)
        if (to & 1u) c += copy_cost(v.bytes, from, m);
    }
    if (copies) *copies = c;
    return t + c;
  }
};

Problem build_problem(const AtomicGraph& g, const std::vector<int>& outputs,
                      const std::vector<std::shared_ptr<Backend>>& backends) {
  Problem p;
  std::map<int, int> index;  // root -> values index
  std::vector<int> producer(g.tensors.size(), -1);
  for (size_t i = 0; i < g.ops.size(); ++i) producer[g.root(g.ops[i].output)] = static_cast<int>(i);
  auto value = [&](int id) -> Problem::Value* {
    int r = g.root(id);
    if (g.tensors[r].storage == Storage::Constant) return nullptr;
    auto it = index.find(r);
    if (it == index.end()) {
      it = index.emplace(r, static_cast<int>(p.values.size())).first;
      double bytes = static_cast<double>(numel(g.tensors[r].shape) * dtype_size(g.tensors[r].dtype));
      p.values.push_back({producer[r], bytes, {}, false});
    }
    return &p.values[it->second];
  };
  for (size_t i = 0; i < g.ops.size(); ++i)
    for (int id : g.ops[i].inputs)
      if (id >= 0)
        if (Problem::Value* v = value(id)) v->consumers.push_back(static_cast<int>(i));
  for (int id : outputs)
    if (Problem::Value* v = value(id)) v->output = true;
  for (size_t b = 0; b < backends.size(); ++b) p.memory.push_back(backends[b]->host_memory() ? 0 : static_cast<int>(b));
  return p;
}

// Best assignment reachable from `a` by moving single ops and same-backend runs.
void improve(const Problem& p, std::vector<int>& a, size_t n_backends) {
  double best = p.total(a);
  for (int pass = 0; pass < 8; ++pass) {
    bool changed = false;
    for (size_t i = 0; i < a.size(); ++i) {
      // The run of consecutive ops sharing op i's backend, and op i alone.
      size_t lo = i, hi = i + 1;
      while (lo > 0 && a[lo - 1] == a[i]) --lo;
      while (hi < a.size() && a[hi] == a[i]) ++hi;
      for (auto [from, to] : {std::make_pair(i, i + 1), std::make_pair(lo, hi)}) {
        for (size_t b = 0; b < n_backends; ++b) {
          if (static_cast<int>(b) == a[i]) continue;
          std::vector<int> trial = a;
          bool ok = true;
          for (size_t k = from; k < to && ok; ++k) {
            ok = p.cost[k][b] < kInf;
            trial[k] = static_cast<int>(b);
          }
          if (!ok) continue;
          double t = p.total(trial);
          if (t < best - 1e-9) {
            best = t;
            a = std::move(trial);
            changed = true;
          }
        }
      }
    }
    if (!changed) break;
  }
}

}  // namespace

namespace {

// Writes a vector as "[a,b,c]".
template <typename T>
void put_list(std::ostringstream& s, const std::vector<T>& v) {
  s << '[';
  for (size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
  s << ']';
}

}  // namespace

// The tune cache's key: every field of the op but its origin label, and the type, shape and
// constness of each input and of the output. A field left out would let two different ops share
// one cached measurement (and so one choice); the static_assert below makes a new field of
// AtomicOp a compile error here until it is added.
std::string op_signature(const AtomicOp& op, const AtomicGraph& g) {
  static_assert(sizeof(AtomicOp) == 552, "a field was added to AtomicOp: add it to op_signature, then update the size");
  std::ostringstream s;
  s << "v2 " << atomic_kind_name(op.kind);
  for (int id : op.inputs) {
    if (id < 0) {
      s << " -";
      continue;
    }
    s << ' ' << dtype_name(g.tensors[id].dtype) << shape_str(g.tensors[id].shape) << (g.is_constant(id) ? "c" : "");
  }
  s << " -> " << dtype_name(g.tensors[op.output].dtype) << shape_str(g.tensors[op.output].shape);
  // Regions and the text argument go in by count and hash: a Raster may have thousands of
  // regions and a text argument any bytes, and a key is one line of the cache file.
  std::ostringstream regions;
  for (const Region& q : op.regions)
    regions << q.src << ':' << q.from.offset << ',' << q.from.stride[0] << ',' << q.from.stride[1] << ','
            << q.from.stride[2] << ',' << q.to.offset << ',' << q.to.stride[0] << ',' << q.to.stride[1] << ','
            << q.to.stride[2] << ',' << q.size[0] << ',' << q.size[1] << ',' << q.size[2] << ';';
  s << " regions" << op.regions.size() << '#' << std::hash<std::string>{}(regions.str());
  s << " fill" << op.fill_output << ',' << op.fill;
  s << " u" << static_cast<int>(op.unary) << " b" << static_cast<int>(op.binary) << " a" << op.alpha << ',' << op.beta;
  s << " r" << static_cast<int>(op.reduce) << ',' << op.outer << ',' << op.reduce_size << ',' << op.inner << ','
    << op.select_last_index;
  s << " m" << op.batch << ',' << op.M << ',' << op.N << ',' << op.K << ',' << op.trans_a << op.trans_b;
  put_list(s, op.batch_shape);
  put_list(s, op.a_batch_strides);
  put_list(s, op.b_batch_strides);
  s << " act" << static_cast<int>(op.activation);
  s << " c" << op.n << ',' << op.c << ',' << op.h << ',' << op.w << ',' << op.out_c << ',' << op.out_h << ','
    << op.out_w << ',' << op.kernel_h << ',' << op.kernel_w << ',' << op.stride_h << ',' << op.stride_w << ','
    << op.dilation_h << ',' << op.dilation_w << ',' << op.pad_top << ',' << op.pad_left << ',' << op.group << ','
    << op.max_pool << op.count_include_pad << op.blocked_input << op.blocked_output;
  s << " g" << op.axis_size << " f" << static_cast<int>(op.fused) << " scatter";
  put_list(s, op.scatter_dims);
  s << op.accumulate << " k" << op.k << ',' << op.largest << " rand" << op.seed << ',' << op.bernoulli;
  s << " text" << static_cast<int>(op.text) << ',' << op.maxsplit << ',' << op.text_arg.size() << '#'
    << std::hash<std::string>{}(op.text_arg);
  s << " t" << dtype_name(op.cast_to) << ',' << op.saturate << ',' << op.cast_round;
  return s.str();
}

SearchResult choose_backends(const AtomicGraph& g, const std::vector<int>& outputs,
                             const std::vector<std::shared_ptr<Backend>>& backends, const SearchOptions& options,
                             ThreadPool& pool) {
  const size_t nb = backends.size(), n = g.ops.size();
  Problem p = build_problem(g, outputs, backends);
  for (const auto& b : backends) p.calib.push_back(calibration(*b, pool));
  SearchResult result;
  result.ops.resize(n);
  std::vector<std::vector<std::string>> algorithm(n, std::vector<std::string>(nb));
  std::vector<std::vector<double>> estimate(n, std::vector<double>(nb, kInf)), measured(n, std::vector<double>(nb, -1));
  p.cost.assign(n, std::vector<double>(nb, kInf));
  for (size_t i = 0; i < n; ++i) {
    const AtomicOp& op = g.ops[i];
    const std::string sig = op_signature(op, g);
    // Ops on strings run on the CPU alone (device backends refuse them); measuring them would
    // only feed them zeroed handles, which Text ops such as Parse reject.
    bool strings = g.tensors[op.output].dtype == DType::String;
    for (int id : op.inputs) strings = strings || (id >= 0 && g.tensors[id].dtype == DType::String);
    const bool empty = numel(g.tensors[op.output].shape) == 0;  // nothing to run, nothing to measure
    std::string& why = result.ops[i].candidates;
    double op_best = kInf;  // fastest measurement of this op on any backend so far
    for (size_t b = 0; b < nb; ++b) {
      const Backend& be = *backends[b];
      if (!be.supports(op, g)) {
        std::string reason = be.unsupported_reason(op, g);
        why += (why.empty() ? "" : " | ") + be.name() + ": cannot (" + (reason.empty() ? "no kernel" : reason) + ")";
        continue;
      }
      if (options.fixed_backend >= 0 && b != 0 && static_cast<int>(b) != options.fixed_backend) continue;
      std::vector<std::string> algos = be.algorithms(op, g);
      // A forced variant is the only candidate where this backend offers it for this op.
      if (auto forced = options.force.find(atomic_kind_name(op.kind)); forced != options.force.end()) {
        if (std::find(algos.begin(), algos.end(), forced->second) != algos.end()) algos = {forced->second};
      }
      // a kernel is no faster than one work item's loop (Backend::serial_steps)
      estimate[i][b] = std::max(estimate_us(p.calib[b], op, g),
                                kSerialStepUs * static_cast<double>(be.serial_steps(op, g, algos.front())));
      algorithm[i][b] = algos.front();
      p.cost[i][b] = estimate[i][b];
      std::string detail = "est " + fmt_us(estimate[i][b]);
      if (algos.size() > 1 || !algos.front().empty()) {  // the variants, with the backend's own estimates
        detail += ", variants";
        for (const std::string& algo : algos) {
          const double own = be.variant_estimate_us(op, g, algo);
          detail += " " + algo + (own >= 0 ? " " + fmt_us(own) : "");
        }
      }
      // Tune mode measures what the cache lacks; estimate mode still uses what an earlier tune
      // measured on this device (so work-group sizes stay chosen per device once tuned).
      double best = kInf;
      for (const std::string& algo : algos) {
        std::string key = be.device_key() + "/threads=" + std::to_string(pool.size()) + "|" + sig + "|" + algo;
        double us;
        if (!TuneCache::get().find(key, &us)) {
          // Pruning keeps tuning short on slow devices: other variants of a backend are tried
          // only while its first is within 2x of the best backend so far for this op.
          if (!options.tune || strings || empty || (algo != algos.front() && best > 2 * op_best)) continue;
          us = measure_op_us(be, op, g, algo, pool, 5);
          TuneCache::get().put(key, us);
        }
        op_best = std::min(op_best, us);
        if (us < best) {
          best = us;
          algorithm[i][b] = algo;
        }
      }
      if (best < kInf) {
        measured[i][b] = best;
        p.cost[i][b] = best;
        detail += ", measured " + fmt_us(best);
      }
      why += (why.empty() ? "" : " | ") + be.name() + (algorithm[i][b].empty() ? "" : "[" + algorithm[i][b] + "]") +
             ": " + detail;
    }
  }
  // Start points: each backend for every op it supports, the CPU for the rest.
  std::vector<int> best_a(n, 0);
  double best_t = kInf;
  for (size_t b = 0; b < nb; ++b) {
    if (options.fixed_backend >= 0 && static_cast<int>(b) != options.fixed_backend) continue;
    std::vector<int> a(n);
    for (size_t i = 0; i < n; ++i) a[i] = p.cost[i][b] < kInf ? static_cast<int>(b) : 0;
    if (options.fixed_backend < 0) improve(p, a, nb);
    double t = p.total(a);
    if (t < best_t) {
      best_t = t;
      best_a = a;
    }
  }
  result.total_us = p.total(best_a, &result.copies_us);
  for (size_t i = 0; i < n; ++i) {
    OpDecision& d = result.ops[i];
    d.backend = best_a[i];
    d.algorithm = algorithm[i][d.backend];
    d.estimate_us = estimate[i][d.backend];
    d.measured_us = measured[i][d.backend];
  }
  return result;
}

}  // namespace walle::search
