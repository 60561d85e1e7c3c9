// Einsum (ONNX doc, numpy semantics): each operand is brought to one common label order
// (repeated labels take the diagonal, missing labels become size-1 axes), the operands are
// multiplied with broadcasting, and the labels absent from the output are summed away.
// (No MatMul mapping yet: a contraction of two operands could become one.)
#include <algorithm>
#include <map>

#include "decompose/registry.h"

namespace walle {

namespace {

constexpr char kEllipsisBase = '\x01';  // labels standing for the dims "..." covers

std::string strip(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != ' ') out += c;
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts{""};
  for (char c : s) {
    if (c == sep)
      parts.emplace_back();
    else
      parts.back() += c;
  }
  return parts;
}

// Replaces "..." with `count` ellipsis labels, right-aligned across operands.
std::string expand(Decomposer& d, const std::string& term, int64_t rank, int64_t* ell_rank) {
  size_t at = term.find("...");
  if (at == std::string::npos) {
    if (static_cast<int64_t>(term.size()) != rank)
      d.fail("term '" + term + "' does not match an operand of rank " + std::to_string(rank));
    return term;
  }
  int64_t n = rank - static_cast<int64_t>(term.size() - 3);
  if (n < 0) d.fail("term '" + term + "' has more labels than its operand's rank");
  *ell_rank = std::max(*ell_rank, n);
  std::string labels;
  for (int64_t i = 0; i < n; ++i) labels += static_cast<char>(kEllipsisBase + (16 - n + i));
  return term.substr(0, at) + labels + term.substr(at + 3);
}

void einsum(Decomposer& d) {
  std::string eq = strip(d.node().attr_string("equation", ""));
  size_t arrow = eq.find("->");
  std::vector<std::string> terms = split(eq.substr(0, arrow), ',');
  if (static_cast<int>(terms.size()) != d.num_inputs())
    d.fail("the equation has " + std::to_string(terms.size()) + " operands, the node " +
           std::to_string(d.num_inputs()));
  int64_t ell = 0;
  for (size_t i = 0; i < terms.size(); ++i) terms[i] = expand(d, terms[i], d.rank(d.input(static_cast<int>(i))), &ell);
  std::string ell_labels;
  for (int64_t i = 0; i < ell; ++i) ell_labels += static_cast<char>(kEllipsisBase + (16 - ell + i));
  std::string out;
  if (arrow != std::string::npos) {
    out = eq.substr(arrow + 2);
    size_t at = out.find("...");
    if (at != std::string::npos) out = out.substr(0, at) + ell_labels + out.substr(at + 3);
  } else {  // implicit: ellipsis dims, then labels used once, alphabetically
    std::map<char, int> uses;
    for (const std::string& t : terms)
      for (char c : t)
        if (static_cast<unsigned char>(c) >= 32) ++uses[c];
    out = ell_labels;
    for (auto [c, k] : uses)
      if (k == 1) out += c;
  }
  // all labels: the output's first, then the summed ones
  std::string all = out;
  std::map<char, int64_t> size;
  for (size_t i = 0; i < terms.size(); ++i) {
    Shape s = d.shape(d.input(static_cast<int>(i)));
    for (size_t k = 0; k < terms[i].size(); ++k) {
      char c = terms[i][k];
      if (all.find(c) == std::string::npos) all += c;
      int64_t& n = size[c];
      if (n > 1 && s[k] > 1 && s[k] != n)
        d.fail(std::string("label '") + c + "' has sizes " + std::to_string(n) + " and " + std::to_string(s[k]));
      n = std::max(n, s[k]);
    }
  }
  int product = -1;
  for (size_t i = 0; i < terms.size(); ++i) {
    int x = d.input(static_cast<int>(i));
    Shape s = d.shape(x);
    std::vector<int64_t> st = contiguous_strides(s);
    // one axis per distinct label, in `all` order (diagonals: strides of repeats add up)
    Shape dims;
    std::vector<int64_t> strides;
    for (char c : all) {
      int64_t dim = 1, stride = 0;
      for (size_t k = 0; k < terms[i].size(); ++k)
        if (terms[i][k] == c) dim = s[k], stride += st[k];
      dims.push_back(dim);
      strides.push_back(dim == 1 ? 0 : stride);
    }
    int y = d.raster({{x, 0, strides, 0, contiguous_strides(dims), dims}}, d.dtype(x), dims);
    product = product < 0 ? y : d.binary(BinaryOp::Mul, product, y);
  }
  std::vector<int64_t> summed;
  for (size_t k = out.size(); k < all.size(); ++k) summed.push_back(static_cast<int64_t>(k));
  Shape full;
  for (char c : all) full.push_back(size[c]);
  product = d.broadcast_to(product, full);
  if (!summed.empty()) product = d.reduce(ReduceOp::Sum, product, summed, false);
  d.set_output(0, product);
}

}  // namespace

void register_einsum_ops(CompositeRegistry& r) { r["Einsum"] = {einsum}; }

}  // namespace walle
