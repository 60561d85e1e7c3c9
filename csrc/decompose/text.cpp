// String ops. StringConcat, StringSplit, RegexFullMatch and the case changes of
// StringNormalizer run on the Text atomic op (string contents need a kernel); stopword
// removal and LabelEncoder are decompositions onto Equal on strings, Reduce, Gather and Select.
// Output shapes that depend on the strings (StringSplit's part count, how many strings
// StringNormalizer keeps) are computed from plan-time values, as NonZero's are: constants, or
// model inputs the session plans with and re-plans on change.
#include <algorithm>

#include "core/strings.h"
#include "decompose/registry.h"
#include "text/regex.h"
#include "text/strings_ops.h"

namespace walle {

namespace {

int text_op(Decomposer& d, TextOp t, std::vector<int> inputs, DType out, Shape shape, std::string arg = "") {
  AtomicOp op;
  op.kind = AtomicKind::Text;
  op.text = t;
  op.inputs = std::move(inputs);
  op.text_arg = std::move(arg);
  return d.emit(op, out, std::move(shape));
}

int string_input(Decomposer& d, int i) {
  int x = d.input(i);
  if (d.dtype(x) != DType::String)
    d.fail("input " + std::to_string(i) + " must be a string tensor, got " + dtype_name(d.dtype(x)));
  return x;
}

int constant_strings(Decomposer& d, const Shape& shape, const std::vector<std::string>& values) {
  std::vector<std::string_view> views(values.begin(), values.end());
  return d.add_constant(make_string_tensor(shape, views));
}

// x [n] -> x[picks] (a Gather with constant indices).
int take(Decomposer& d, int x, const std::vector<int64_t>& picks) {
  Tensor idx(DType::I64, {static_cast<int64_t>(picks.size())});
  std::copy(picks.begin(), picks.end(), idx.data_as<int64_t>());
  AtomicOp op;
  op.kind = AtomicKind::Gather;
  op.outer = 1;
  op.axis_size = d.shape(x)[0];
  op.inner = 1;
  op.inputs = {x, d.add_constant(idx)};
  return d.emit(op, d.dtype(x), {static_cast<int64_t>(picks.size())});
}

void string_concat(Decomposer& d) {
  int a = string_input(d, 0), b = string_input(d, 1);
  Shape out = broadcast_shapes(d.shape(a), d.shape(b), d.node().label());
  d.set_output(0, text_op(d, TextOp::Concat, {a, b}, DType::String, out));
}

void regex_full_match(Decomposer& d) {
  int x = string_input(d, 0);
  if (!d.node().has("pattern")) d.fail("attribute 'pattern' is required");
  std::string pattern = d.node().attr_string("pattern", "");
  try {
    text::Regex check(pattern);  // a bad pattern is reported now, naming the node
  } catch (const Error& e) { d.fail(e.what()); }
  d.set_output(0, text_op(d, TextOp::RegexFullMatch, {x}, DType::Bool, d.shape(x), pattern));
}

// StringSplit: [..] -> parts [.., k] padded with "", and the number of parts [..], where k is
// the largest number of parts (a plan-time value).
void string_split(Decomposer& d) {
  int x = string_input(d, 0);
  std::string delimiter = d.node().attr_string("delimiter", "");
  int64_t maxsplit = d.node().has("maxsplit") ? d.node().attr_int("maxsplit", -1) : -1;
  if (d.node().has("maxsplit") && maxsplit < 0) d.fail("maxsplit must not be negative");
  AtomicOp count;
  count.kind = AtomicKind::Text;
  count.text = TextOp::SplitCount;
  count.text_arg = delimiter;
  count.maxsplit = maxsplit;
  count.inputs = {x};
  int counts = d.emit(count, DType::I64, d.shape(x));
  std::vector<int64_t> n = d.value_ints(counts, "the number of parts of each string (it sets the output shape)");
  AtomicOp split = count;
  split.text = TextOp::Split;
  split.k = n.empty() ? 0 : *std::max_element(n.begin(), n.end());
  Shape out = d.shape(x);
  out.push_back(split.k);
  d.set_output(0, d.emit(split, DType::String, out));
  d.set_output(1, counts);
}

// StringNormalizer: drops the stopwords (compared case-insensitively unless is_case_sensitive)
// from a [C] or [1, C] input, then changes case. As the ONNX spec says, whole strings are
// stopwords; when every string is one, the output is [""] (or [[""]]).
void string_normalizer(Decomposer& d) {
  const Node& n = d.node();
  int x = string_input(d, 0);
  Shape s = d.shape(x);
  bool row = s.size() == 2;
  if (!(s.size() == 1 || (row && s[0] == 1))) d.fail("input must be [C] or [1, C], got " + shape_str(s));
  std::string action = n.attr_string("case_change_action", "NONE");
  if (action != "NONE" && action != "LOWER" && action != "UPPER")
    d.fail("case_change_action must be NONE, LOWER or UPPER, got '" + action + "'");
  // Case mapping is Unicode's default (Python's str.upper/lower), right for every locale but
  // those with their own rules for I/i; refuse those rather than be silently wrong.
  std::string locale = n.attr_string("locale", "");
  std::string lang = locale.substr(0, 2);
  if (lang == "tr" || lang == "az" || lang == "lt")
    d.fail("locale '" + locale + "' has case rules this build does not apply");
  bool sensitive = n.attr_int("is_case_sensitive", 0) != 0;
  std::vector<std::string> stops = n.attr_strings("stopwords");
  int64_t C = s.back();
  int y = d.view(x, {C});
  if (!stops.empty() && C > 0) {
    int probe = y;
    if (!sensitive) {
      probe = text_op(d, TextOp::Lower, {y}, DType::String, {C});
      for (std::string& w : stops) w = text::to_lower(w);
    }
    int64_t S = static_cast<int64_t>(stops.size());
    int eq = d.binary(BinaryOp::Equal, d.view(probe, {C, 1}), constant_strings(d, {1, S}, stops));
    int hit = d.reduce(ReduceOp::Max, eq, {1}, false);
    std::vector<int64_t> is_stop = d.value_ints(hit, "which strings are stopwords (it sets the output shape)");
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < C; ++i)
      if (!is_stop[i]) keep.push_back(i);
    if (keep.empty()) {
      d.set_output(0, constant_strings(d, row ? Shape{1, 1} : Shape{1}, {""}));
      return;
    }
    if (static_cast<int64_t>(keep.size()) < C) y = take(d, y, keep);
  }
  if (action != "NONE")
    y = text_op(d, action == "UPPER" ? TextOp::Upper : TextOp::Lower, {y}, DType::String, d.shape(y));
  int64_t kept = d.shape(y)[0];
  d.set_output(0, d.view(y, row ? Shape{1, kept} : Shape{kept}));
}

}  // namespace

void register_text_ops(CompositeRegistry& r) {
  r["StringConcat"] = {string_concat};
  r["StringSplit"] = {string_split};
  r["RegexFullMatch"] = {regex_full_match};
  r["StringNormalizer"] = {string_normalizer};
}

}  // namespace walle
