// Reference kernels of the Text atomic op (the ops that read or make string contents) and of
// Binary Equal on strings. Strings made here go into the run's StringArena (KernelIO::strings).
// They run on one thread: the arena is not thread-safe, and text ops are not the hot path.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/strings.h"
#include "cpu/broadcast.h"
#include "cpu/dispatch.h"
#include "cpu/kernels.h"
#include "text/regex.h"
#include "text/strings_ops.h"

namespace walle::cpu {

namespace {

const StringRef* strings_in(const KernelIO& io, int i) { return static_cast<const StringRef*>(io.inputs[i]); }
StringRef* strings_out(const KernelIO& io) { return static_cast<StringRef*>(io.output); }

StringArena& arena(const KernelIO& io, const AtomicOp& op) {
  if (!io.strings) throw Error(ErrorKind::Invalid, op.origin + ": no string storage was given to the Text kernel");
  return *io.strings;
}

int64_t count_of(const AtomicGraph& g, int id) { return numel(g.tensors[id].shape); }

using TextFn = std::function<void(const KernelIO&)>;
std::unique_ptr<Kernel> text_kernel(const AtomicOp& op, TextFn fn) {
  return std::make_unique<FunctionKernel>(std::string("text-") + text_op_name(op.text),
                                          [fn](const KernelIO& io, ThreadPool&) { fn(io); });
}

// --- numbers <-> text ---

int float_bits(DType t) {
  switch (t) {
    case DType::F64: return 53;
    case DType::F32: return 24;
    case DType::F16: return 11;
    default: return 8;  // bfloat16
  }
}

template <typename T>
std::string format_value(T v, DType t) {
  if constexpr (std::is_same_v<T, bool>)
    return v ? "True" : "False";
  else if constexpr (std::is_integral_v<T>)
    return std::to_string(static_cast<std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>(v));
  else
    return text::format_float(static_cast<double>(Compute<T>::load(v)), float_bits(t));
}

std::unique_ptr<Kernel> make_format(const AtomicOp& op, const AtomicGraph& g) {
  DType from = g.tensors[op.inputs[0]].dtype;
  int64_t n = count_of(g, op.output);
  return visit_dtype(from, [&](auto tag) {
    using T = decltype(tag);
    return text_kernel(op, [=](const KernelIO& io) {
      const T* x = static_cast<const T*>(io.inputs[0]);
      StringArena& a = arena(io, op);
      for (int64_t i = 0; i < n; ++i) strings_out(io)[i] = a.add(format_value<T>(x[i], from));
    });
  });
}

// Integers saturate and NaN reads as 0, as the engine's float -> integer Cast does.
template <typename C>
C saturate(double v) {
  if (std::isnan(v)) return C(0);
  if (v <= static_cast<double>(std::numeric_limits<C>::lowest())) return std::numeric_limits<C>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<C>::max())) return std::numeric_limits<C>::max();
  return static_cast<C>(v);
}

// One string read as a T; throws naming the string when it is not a number.
template <typename T>
T parse_value(std::string_view s, const AtomicOp& op, DType to) {
  using C = typename Compute<T>::type;
  auto bad = [&]() -> T {
    size_t cut = std::min<size_t>(s.size(), 64);
    while (cut < s.size() && cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
      --cut;  // whole code points
    std::string shown(s.substr(0, cut));
    throw Error(ErrorKind::Input, op.origin + ": cannot read the string '" + shown + (s.size() > 64 ? "...'" : "'") +
                                      " as " + dtype_name(to));
  };
  double d = 0;
  int64_t i = 0;
  if constexpr (std::is_same_v<C, bool>) {
    std::string t(s);
    for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (t == "true") return true;
    if (t == "false") return false;
    if (!text::parse_double(s, &d)) return bad();
    return d != 0;
  } else if constexpr (std::is_integral_v<C>) {
    if (text::parse_int64(s, &i)) {
      if constexpr (std::is_signed_v<C>)
        return static_cast<C>(std::clamp<int64_t>(i, std::numeric_limits<C>::lowest(), std::numeric_limits<C>::max()));
      else
        return i < 0 ? C(0)
                     : static_cast<C>(std::min<uint64_t>(static_cast<uint64_t>(i), std::numeric_limits<C>::max()));
    }
    if (!text::parse_double(s, &d)) return bad();  // "100.5" -> 100, "1e3" -> 1000
    return saturate<C>(d);
  } else {
    if (!text::parse_double(s, &d)) return bad();
    return Compute<T>::store(static_cast<C>(d));
  }
}

std::unique_ptr<Kernel> make_parse(const AtomicOp& op, const AtomicGraph& g) {
  DType to = g.tensors[op.output].dtype;
  int64_t n = count_of(g, op.output);
  return visit_dtype(to, [&](auto tag) {
    using T = decltype(tag);
    return text_kernel(op, [=](const KernelIO& io) {
      T* y = static_cast<T*>(io.output);
      for (int64_t i = 0; i < n; ++i) y[i] = parse_value<T>(strings_in(io, 0)[i].view(), op, to);
    });
  });
}

// --- string -> string ---

std::unique_ptr<Kernel> make_case(const AtomicOp& op, const AtomicGraph& g) {
  int64_t n = count_of(g, op.output);
  bool upper = op.text == TextOp::Upper;
  return text_kernel(op, [=](const KernelIO& io) {
    StringArena& a = arena(io, op);
    for (int64_t i = 0; i < n; ++i) {
      std::string_view s = strings_in(io, 0)[i].view();
      strings_out(io)[i] = a.add(upper ? text::to_upper(s) : text::to_lower(s));
    }
  });
}

std::unique_ptr<Kernel> make_concat(const AtomicOp& op, const AtomicGraph& g) {
  BroadcastPlan plan =
      plan_broadcast(g.tensors[op.output].shape, {g.tensors[op.inputs[0]].shape, g.tensors[op.inputs[1]].shape});
  return text_kernel(op, [=](const KernelIO& io) {
    StringArena& a = arena(io, op);
    std::string joined;
    for (int64_t r = 0; r < plan.rows; ++r) {
      const StringRef* pa = strings_in(io, 0) + plan.offset(0, r);
      const StringRef* pb = strings_in(io, 1) + plan.offset(1, r);
      for (int64_t i = 0; i < plan.row_size; ++i) {
        joined.assign(pa[i * plan.row_strides[0]].view());
        joined.append(pb[i * plan.row_strides[1]].view());
        strings_out(io)[r * plan.row_size + i] = a.add(joined);
      }
    }
  });
}

std::unique_ptr<Kernel> make_split(const AtomicOp& op, const AtomicGraph& g) {
  int64_t n = count_of(g, op.inputs[0]);
  std::string sep = op.text_arg;
  int64_t maxsplit = op.maxsplit, k = op.k;
  bool count_only = op.text == TextOp::SplitCount;
  return text_kernel(op, [=](const KernelIO& io) {
    for (int64_t i = 0; i < n; ++i) {
      // The parts are views of the input string: its bytes outlive the output's handles.
      std::vector<std::string_view> parts = text::split(strings_in(io, 0)[i].view(), sep, maxsplit);
      int64_t count = static_cast<int64_t>(parts.size());
      if (count_only) {
        static_cast<int64_t*>(io.output)[i] = count;
        continue;
      }
      if (count > k)
        throw Error(ErrorKind::Invalid,
                    op.origin + ": a string splits into more than the planned " + std::to_string(k) + " parts");
      StringRef* out = strings_out(io) + i * k;
      for (int64_t j = 0; j < k; ++j) out[j] = j < count ? StringRef{parts[j].data(), parts[j].size()} : StringRef{};
    }
  });
}

std::unique_ptr<Kernel> make_regex(const AtomicOp& op, const AtomicGraph& g) {
  int64_t n = count_of(g, op.output);
  std::shared_ptr<text::Regex> regex;
  try {
    regex = std::make_shared<text::Regex>(op.text_arg);
  } catch (const Error& e) { throw Error(e.kind(), op.origin + ": " + e.what()); }
  return text_kernel(op, [=](const KernelIO& io) {
    bool* y = static_cast<bool*>(io.output);
    for (int64_t i = 0; i < n; ++i) y[i] = regex->full_match(strings_in(io, 0)[i].view());
  });
}

// The operand types each Text op reads and writes: checked, not trusted, since a kernel that
// read numbers as string handles would follow garbage pointers.
void check_text_types(const AtomicOp& op, const AtomicGraph& g) {
  auto is_string = [&](int id) { return g.tensors[id].dtype == DType::String; };
  size_t inputs = op.text == TextOp::Concat ? 2 : 1;
  bool ok = op.inputs.size() == inputs;
  for (size_t i = 0; ok && i < inputs; ++i)
    ok = op.inputs[i] >= 0 && is_string(op.inputs[i]) == (op.text != TextOp::Format);
  switch (op.text) {
    case TextOp::SplitCount: ok = ok && g.tensors[op.output].dtype == DType::I64; break;
    case TextOp::RegexFullMatch: ok = ok && g.tensors[op.output].dtype == DType::Bool; break;
    case TextOp::Parse: ok = ok && !is_string(op.output); break;
    default: ok = ok && is_string(op.output); break;
  }
  if (!ok)
    throw Error(ErrorKind::Invalid, op.origin + ": Text " + text_op_name(op.text) + " got operands of the wrong types");
}

std::unique_ptr<Kernel> make_text(const AtomicOp& op, const AtomicGraph& g) {
  check_text_types(op, g);
  switch (op.text) {
    case TextOp::Upper:
    case TextOp::Lower: return make_case(op, g);
    case TextOp::Concat: return make_concat(op, g);
    case TextOp::SplitCount:
    case TextOp::Split: return make_split(op, g);
    case TextOp::RegexFullMatch: return make_regex(op, g);
    case TextOp::Format: return make_format(op, g);
    case TextOp::Parse: return make_parse(op, g);
  }
  throw Error(ErrorKind::Unsupported, op.origin + ": unknown Text op");
}

// Equal on strings: byte-wise equality of the contents (UTF-8 has one encoding per text).
std::unique_ptr<Kernel> make_string_equal(const AtomicOp& op, const AtomicGraph& g) {
  if (g.tensors[op.inputs[1]].dtype != DType::String)
    throw Error(ErrorKind::Invalid,
                op.origin + ": Equal compares a string with a " + dtype_name(g.tensors[op.inputs[1]].dtype));
  if (op.binary != BinaryOp::Equal)
    throw Error(ErrorKind::Unsupported,
                op.origin + ": Binary " + binary_name(op.binary) + " is not defined on strings");
  BroadcastPlan plan =
      plan_broadcast(g.tensors[op.output].shape, {g.tensors[op.inputs[0]].shape, g.tensors[op.inputs[1]].shape});
  return std::make_unique<FunctionKernel>("string-equal", [plan](const KernelIO& io, ThreadPool&) {
    bool* y = static_cast<bool*>(io.output);
    for (int64_t r = 0; r < plan.rows; ++r) {
      const StringRef* pa = strings_in(io, 0) + plan.offset(0, r);
      const StringRef* pb = strings_in(io, 1) + plan.offset(1, r);
      for (int64_t i = 0; i < plan.row_size; ++i)
        y[r * plan.row_size + i] = pa[i * plan.row_strides[0]].view() == pb[i * plan.row_strides[1]].view();
    }
  });
}

bool string_inputs(const AtomicOp& op, const AtomicGraph& g) { return g.tensors[op.inputs[0]].dtype == DType::String; }

}  // namespace

void register_text_kernels(KernelRegistry& r) {
  r.add(AtomicKind::Text, {"text", Isa::Reference, nullptr, make_text});
  r.add(AtomicKind::Binary, {"string-equal", Isa::Reference, string_inputs, make_string_equal});
}

}  // namespace walle::cpu
