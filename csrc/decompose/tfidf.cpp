// TfIdfVectorizer (opset 9): each pool n-gram's count is the number of (skip, start)
// placements whose n items equal it (Equal/And over shifted slices, then a sum), counted as in
// the reference (onnx/reference/ops/op_tfidf_vectorizer.py): skip distances
// 1..max_skip_count+1, unigrams only at distance 1, lengths in [min, max]. A string pool is
// first turned into an integer one: each distinct pool string gets an id, and each input
// string the id of the pool string it equals (Equal on strings), or -1.
#include <algorithm>
#include <map>

#include "core/strings.h"
#include "decompose/registry.h"

namespace walle {

namespace {

// The input as int64 ids, and the pool's ids.
int ids_of_strings(Decomposer& d, int x, const std::vector<std::string>& words, std::vector<int64_t>* pool) {
  if (d.dtype(x) != DType::String)
    d.fail("pool_strings needs a string input, got " + std::string(dtype_name(d.dtype(x))));
  std::map<std::string, int64_t> ids;
  std::vector<std::string_view> vocab;
  for (const std::string& w : words) {
    auto [it, added] = ids.emplace(w, static_cast<int64_t>(ids.size()));
    if (added) vocab.push_back(it->first);
    pool->push_back(it->second);
  }
  Shape xs = d.shape(x);
  int64_t N = numel(xs), V = static_cast<int64_t>(vocab.size());
  if (V == 0) return d.broadcast_to(d.scalar(-1, DType::I64), xs);
  int eq = d.binary(BinaryOp::Equal, d.view(x, {N, 1}), d.add_constant(make_string_tensor({1, V}, vocab)));
  int found = d.reduce(ReduceOp::Max, eq, {1}, false);
  int id = d.reduce(ReduceOp::ArgMax, eq, {1}, false);
  return d.view(d.select(found, id, d.scalar(-1, DType::I64)), xs);
}

void tfidf_vectorizer(Decomposer& d) {
  const Node& n = d.node();
  std::vector<int64_t> pool;
  int x = d.input(0);
  if (n.has("pool_strings"))
    x = ids_of_strings(d, x, n.attr_strings("pool_strings"), &pool);
  else
    pool = n.attr_ints("pool_int64s");
  x = d.cast(x, DType::I64);
  Shape xs = d.shape(x);
  if (xs.size() > 2) d.fail("input must be [C] or [B, C]");
  bool batched = xs.size() == 2;
  int64_t B = batched ? xs[0] : 1, C = xs.empty() ? 1 : xs.back();
  x = d.view(x, {B, C});
  std::vector<int64_t> counts = n.attr_ints("ngram_counts"), indexes = n.attr_ints("ngram_indexes");
  std::vector<double> weights = n.attr_floats("weights");
  int64_t min_n = n.attr_int("min_gram_length", 1), max_n = n.attr_int("max_gram_length", 1),
          skips = n.attr_int("max_skip_count", 0);
  std::string mode = n.attr_string("mode", "TF");
  int64_t out_size = 0;
  for (int64_t i : indexes) out_size = std::max(out_size, i + 1);
  std::vector<int> column(out_size, -1);
  int64_t id = 0;
  for (size_t len_i = 0; len_i < counts.size(); ++len_i) {  // pool[counts[k]..counts[k+1]) holds (k+1)-grams
    int64_t len = static_cast<int64_t>(len_i) + 1, begin = counts[len_i];
    int64_t end = len_i + 1 < counts.size() ? counts[len_i + 1] : static_cast<int64_t>(pool.size());
    for (int64_t at = begin; at + len <= end; at += len, ++id) {
      if (id >= static_cast<int64_t>(indexes.size())) d.fail("ngram_indexes is shorter than the pool");
      if (len < min_n || len > max_n) continue;
      int total = -1;
      for (int64_t s = 1; s <= skips + 1 && (len > 1 || s == 1); ++s) {
        int64_t places = C - (len - 1) * s;
        if (places <= 0) break;
        int match = -1;
        for (int64_t j = 0; j < len; ++j) {
          Shape part{B, places};
          int slice = d.raster({{x, j * s, {C, 1}, 0, contiguous_strides(part), part}}, DType::I64, part);
          int eq = d.binary(BinaryOp::Equal, slice, d.scalar(static_cast<double>(pool[at + j]), DType::I64));
          match = match < 0 ? eq : d.binary(BinaryOp::And, match, eq);
        }
        int c = d.reduce(ReduceOp::Sum, d.cast(match, DType::F32), {1}, true);
        total = total < 0 ? c : d.binary(BinaryOp::Add, total, c);
      }
      if (total < 0) continue;
      int64_t col = indexes[id];
      column[col] = column[col] < 0 ? total : d.binary(BinaryOp::Add, column[col], total);
    }
  }
  Shape out{B, out_size};
  std::vector<int64_t> ost = contiguous_strides(out);
  std::vector<Decomposer::Copy> copies;
  for (int64_t col = 0; col < out_size; ++col)
    if (column[col] >= 0) copies.push_back({column[col], 0, {1, 1}, col, {ost[0], 1}, {B, 1}});
  int y = d.raster(copies, DType::F32, out, true, 0.0);
  if (mode == "IDF" || mode == "TFIDF") {
    Tensor w(DType::F32, {1, out_size});
    for (int64_t i = 0; i < out_size; ++i)
      w.data_as<float>()[i] = weights.empty() ? 1.0f : static_cast<float>(weights[i]);
    int wt = d.add_constant(w);
    if (mode == "IDF")
      y = d.select(d.binary(BinaryOp::Greater, y, d.scalar(0, DType::F32)), d.broadcast_to(wt, out),
                   d.scalar(0, DType::F32));
    else
      y = d.binary(BinaryOp::Mul, y, wt);
  } else if (mode != "TF") {
    d.fail("unknown mode '" + mode + "'");
  }
  d.set_output(0, batched ? y : d.view(y, {out_size}));
}

}  // namespace

void register_tfidf_ops(CompositeRegistry& r) { r["TfIdfVectorizer"] = {tfidf_vectorizer}; }

}  // namespace walle
