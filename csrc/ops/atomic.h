// The closed set of atomic operators every backend implements.
//
// Composite operators (the ONNX set) are defined by decomposition into these (csrc/decompose);
// kernels never see a composite op. Parameters are fully resolved: shapes are known, axes are
// normalized and broadcasting is explicit in the shapes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace walle {

// The channel-blocked layout of float32 activations inside conv chains (as MNN's NC4HW4, with
// one AVX-512 vector of channels): logical [N, C, H, W] stored as [N, ceil(C/16), H, W, 16],
// channel c at block c/16, lane c%16; lanes past C hold zeros.
constexpr int64_t kChannelBlock = 16;

enum class AtomicKind {
  Raster,
  Unary,
  Binary,
  Select,
  Reduce,
  MatMul,
  Conv,
  Pool,
  Gather,
  Cast,
  Scatter,
  TopK,
  Random,
  Text,
  // Not atomic: a run of atomic ops a backend claimed (runtime/fuse_patterns.cpp)
  Fused
};
const char* atomic_kind_name(AtomicKind kind);

// A strided 3-d walk through a buffer, in elements: offset + i*stride[0] + j*stride[1] + k*stride[2].
struct View {
  int64_t offset = 0;
  int64_t stride[3] = {0, 0, 1};
};

// Copy size[0] x size[1] x size[2] elements from input `src` (walked by `from`) into the
// output (walked by `to`). A Raster op is a list of regions over one output.
struct Region {
  int src = 0;
  View from;
  View to;
  int64_t size[3] = {1, 1, 1};
};

// Unary, binary, reduce and activation codes: one list each in ops/op_codes.def, shared with
// the device kernels.
// clang-format off
enum class UnaryOp {
#define WALLE_UNARY(name, where) name,
#include "ops/op_codes.def"
#undef WALLE_UNARY
};
enum class BinaryOp {
#define WALLE_BINARY(name, where) name,
#include "ops/op_codes.def"
#undef WALLE_BINARY
};
enum class ReduceOp {
#define WALLE_REDUCE(name, where) name,
#include "ops/op_codes.def"
#undef WALLE_REDUCE
};
enum class Activation {
#define WALLE_ACTIVATION(name, where) name,
#include "ops/op_codes.def"
#undef WALLE_ACTIVATION
};
// clang-format on
// Patterns of atomic ops a backend may run as one kernel. Each is *defined* by the atomic ops
// it replaces (the decomposition stays the ground truth); the optimizer only forms one when
// the session's backend says it supports it, so other backends keep the atomic ops.
//   Softmax:   x [outer, R] -> exp(x - max) / sum(exp(x - max)) along R.
//   LayerNorm: x [outer, R], inputs {x, scale [R] or -1, bias [R] or -1}, eps in alpha ->
//              (x - mean) * rsqrt(mean((x - mean)^2) + eps) * scale + bias along R.
//   MaskedSoftmax: attention scores, inputs {x [outer, R], cond (bool) or -1}: Softmax of
//              Where(cond, x * alpha, beta), row r reading cond row r / inner (cond is
//              [outer / inner, R]); without cond, Softmax(x * alpha).
enum class FusedOp { Softmax, LayerNorm, MaskedSoftmax };
// Text: the ops that read or make the contents of strings (core/strings.h); everything else
// moves strings as 16-byte elements. Elementwise over inputs[0] unless noted.
enum class TextOp {
  Upper,
  Lower,           // string -> string, Unicode case mapping (Python's str.upper/lower)
  Concat,          // (a, b) -> a + b, broadcast like Binary
  SplitCount,      // string -> int64: number of parts of str.split(text_arg or whitespace, maxsplit)
  Split,           // string [...] -> string [..., k]: the parts, padded with ""
  RegexFullMatch,  // string -> bool: the whole string matches text_arg (RE2 syntax, text/regex.h)
  Format,          // number or bool -> string, as numpy's astype(str)
  Parse,           // string -> number or bool (the output's dtype), as ONNX Cast reads strings
};
const char* text_op_name(TextOp op);

const char* unary_name(UnaryOp op);
const char* binary_name(BinaryOp op);
// Whether the device kernels (backends/gpu/kernels.inc) implement the code (op_codes.def).
bool unary_on_device(UnaryOp op);
bool binary_on_device(BinaryOp op);
bool binary_is_comparison(BinaryOp op);  // output is bool

struct AtomicOp {
  AtomicKind kind = AtomicKind::Raster;
  std::vector<int> inputs;  // tensor ids in the AtomicGraph; -1 = absent optional input
  int output = -1;
  std::string origin;  // label of the composite node this came from (errors, plan()); a detail set
                       // before Decomposer::emit is appended to the label

  // Raster: output is first filled with `fill` when the regions may not cover it.
  std::vector<Region> regions;
  bool fill_output = false;
  double fill = 0;

  UnaryOp unary = UnaryOp::Identity;
  BinaryOp binary = BinaryOp::Add;
  float alpha = 0, beta = 0;  // Unary parameters; Clip/epilogue bounds

  // Reduce: input viewed as [outer, reduce_size, inner] -> output [outer, inner].
  ReduceOp reduce = ReduceOp::Sum;
  int64_t outer = 1, reduce_size = 1, inner = 1;
  bool select_last_index = false;

  // MatMul: out[b] = A[b] (M x K, optionally transposed) * B[b] (K x N) + bias[N];
  // batch index b maps to A and B by broadcast strides (0 = shared).
  int64_t batch = 1, M = 1, N = 1, K = 1;
  std::vector<int64_t> batch_shape, a_batch_strides, b_batch_strides;  // in matrices
  bool trans_a = false, trans_b = false;
  Activation activation = Activation::None;  // fused epilogue of MatMul/Conv
  // Residual: inputs[3] (if >= 0) is added before the activation (same shape as output).

  // Conv (2-d, NCHW; 1-d is 2-d with H=1) and Pool.
  int64_t n = 1, c = 1, h = 1, w = 1, out_c = 1, out_h = 1, out_w = 1;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0, group = 1;
  bool max_pool = true, count_include_pad = false;
  // Conv/Pool on the channel-blocked layout (kChannelBlock; set by runtime/block_channels.cpp):
  // the input and/or output tensor is [n, ceil(c/16), h, w, 16] instead of [n, c, h, w].
  bool blocked_input = false, blocked_output = false;

  // Gather: data [outer, axis_size, inner], indices (any int type, negatives wrap) -> [outer, n_idx, inner].
  int64_t axis_size = 1;

  FusedOp fused = FusedOp::Softmax;  // Fused: which pattern; outer and reduce_size give [outer, R]
  // Scatter: output = data (inputs[0]) with updates (inputs[2], [count, inner]) written at the
  // index tuples (inputs[1], int64 [count, q]); a tuple addresses the first q dims of data,
  // `scatter_dims`, and a run of `inner` elements. With `accumulate`, out = binary(out, update)
  // (Add, Mul, Max, Min), applied in index order; without, later tuples overwrite earlier ones.
  std::vector<int64_t> scatter_dims;
  bool accumulate = false;

  // TopK: indices (int64) of the k largest (or smallest) of each [outer, reduce_size, inner]
  // column, sorted; ties keep the lower index first (ONNX TopK). Output [outer, k, inner].
  int64_t k = 1;
  bool largest = true;

  // Random: uniform doubles in [0, 1) (output float64), or with `bernoulli` one 0/1 draw per
  // probability in inputs[0] (output in its type), from MT19937 seeded as numpy's
  // RandomState(seed) so that seeded results match the ONNX reference. seed < 0: from the OS.
  int64_t seed = -1;
  bool bernoulli = false;

  // Text: which op; its delimiter or pattern; Split/SplitCount's maxsplit (-1: no limit).
  // Split's part count is `k`.
  TextOp text = TextOp::Upper;
  std::string text_arg;
  int64_t maxsplit = -1;

  DType cast_to = DType::F32;
  // Cast to float8/float4 (ONNX Cast `saturate`, and `round_mode` for float8e8m0: 0 up, 1 down, 2 nearest).
  bool saturate = true;
  int cast_round = 0;
};

// Where a tensor's bytes live during a run.
enum class Storage { Arena, Constant, Input, Output, Alias };

struct AtomicTensor {
  DType dtype = DType::F32;
  Shape shape;
  Storage storage = Storage::Arena;
  Tensor constant;           // Storage::Constant
  int alias_of = -1;         // Storage::Alias: same bytes as this tensor (a reshape view)
  int64_t alias_offset = 0;  // Storage::Alias: starts this many bytes into alias_of (an in-place concat input)
  int io_index = -1;         // Storage::Input / Output: index in the session's inputs / outputs
  int64_t arena_offset = 0;
  std::string name;  // graph value name, when it has one
};

struct AtomicGraph {
  std::vector<AtomicTensor> tensors;
  std::vector<AtomicOp> ops;

  int add_tensor(DType dtype, Shape shape, std::string name = "");
  // Follows aliases to the tensor that owns the bytes.
  int root(int id) const;
  bool is_constant(int id) const { return id >= 0 && tensors[root(id)].storage == Storage::Constant; }
};

}  // namespace walle
