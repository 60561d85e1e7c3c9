// Neural-network ops: convolution, pooling, batch norm, MatMul and Gemm.
#include <algorithm>
#include <cmath>
#include <limits>

#include "decompose/registry.h"

namespace walle {

namespace {

struct Window {  // resolved geometry of one spatial axis
  int64_t in, kernel, stride = 1, dilation = 1, pad_begin = 0, pad_end = 0, out = 0;
};

// Pads and output size of each spatial axis from pads / auto_pad / ceil_mode (ONNX Conv and
// pooling docs). `in` and `kernel` are filled by the caller.
void resolve_windows(Decomposer& d, std::vector<Window>& w, bool ceil_mode) {
  const Node& n = d.node();
  size_t k = w.size();
  std::vector<int64_t> strides = n.attr_ints("strides", std::vector<int64_t>(k, 1));
  std::vector<int64_t> dilations = n.attr_ints("dilations", std::vector<int64_t>(k, 1));
  std::vector<int64_t> pads = n.attr_ints("pads", std::vector<int64_t>(2 * k, 0));
  if (strides.size() != k || dilations.size() != k || pads.size() != 2 * k)
    d.fail("strides, dilations or pads do not match " + std::to_string(k) + " spatial dimensions");
  std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  for (size_t i = 0; i < k; ++i) {
    Window& a = w[i];
    a.stride = d.require_range(strides[i], 1, kMaxDim, "strides[" + std::to_string(i) + "]");
    a.dilation = d.require_range(dilations[i], 1, kMaxDim, "dilations[" + std::to_string(i) + "]");
    d.require_range(a.kernel, 1, kMaxDim, "kernel_shape[" + std::to_string(i) + "]");
    int64_t span = d.checked(static_cast<__int128>(a.kernel - 1) * a.dilation + 1, "the dilated kernel");
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      a.out = (a.in + a.stride - 1) / a.stride;
      int64_t total = std::max<int64_t>((a.out - 1) * a.stride + span - a.in, 0);
      a.pad_begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      a.pad_end = total - a.pad_begin;
      continue;
    }
    if (auto_pad == "VALID")
      a.pad_begin = a.pad_end = 0;
    else {
      a.pad_begin = d.require_range(pads[i], 0, kMaxDim, "pads[" + std::to_string(i) + "]");
      a.pad_end = d.require_range(pads[i + k], 0, kMaxDim, "pads[" + std::to_string(i + k) + "]");
    }
    int64_t room = d.checked(static_cast<__int128>(a.in) + a.pad_begin + a.pad_end - span, "the padded input");
    if (room < 0) d.fail("kernel is larger than the padded input");
    a.out = (ceil_mode ? (room + a.stride - 1) / a.stride : room / a.stride) + 1;
    // ceil mode: the last window must start inside the input or its leading padding
    if (ceil_mode && (a.out - 1) * a.stride >= a.in + a.pad_begin) --a.out;
  }
}

// 1-d ops run as 2-d with a height of 1.
std::vector<Window> spatial_windows(Decomposer& d, const Shape& x, const std::vector<int64_t>& kernel) {
  if (x.size() != 3 && x.size() != 4)
    d.fail("only 1-d and 2-d spatial inputs are supported, got shape " + shape_str(x));
  std::vector<Window> w;
  for (size_t i = 2; i < x.size(); ++i) {
    Window a;
    a.in = x[i];
    a.kernel = kernel[i - 2];
    w.push_back(a);
  }
  return w;
}

void fill_geometry(AtomicOp& op, const Shape& x, const std::vector<Window>& w) {
  op.n = x[0];
  op.c = x[1];
  const Window& hw = w.size() == 2 ? w[0] : Window{1, 1, 1, 1, 0, 0, 1};
  const Window& ww = w.back();
  op.h = hw.in;
  op.kernel_h = hw.kernel;
  op.stride_h = hw.stride;
  op.dilation_h = hw.dilation;
  op.pad_top = hw.pad_begin;
  op.out_h = hw.out;
  op.w = ww.in;
  op.kernel_w = ww.kernel;
  op.stride_w = ww.stride;
  op.dilation_w = ww.dilation;
  op.pad_left = ww.pad_begin;
  op.out_w = ww.out;
}

Shape output_shape(const Shape& x, int64_t channels, const std::vector<Window>& w) {
  Shape out{x[0], channels};
  for (const Window& a : w) out.push_back(a.out);
  return out;
}

}  // namespace

int emit_conv_axes(Decomposer& d, int x, int weight, int bias, int64_t group, const std::vector<ConvAxis>& axes) {
  Shape xs = d.shape(x), ws = d.shape(weight);
  std::vector<Window> w;
  for (const ConvAxis& a : axes) w.push_back({a.in, a.kernel, a.stride, a.dilation, a.pad_begin, 0, a.out});
  if (w.size() <= 2) {
    AtomicOp op;
    op.kind = AtomicKind::Conv;
    fill_geometry(op, xs, w);
    op.out_c = ws[0];
    op.group = group;
    op.inputs = {x, weight};
    if (bias >= 0) op.inputs.push_back(bias);
    return d.emit(op, d.dtype(x), output_shape(xs, ws[0], w));
  }
  if (w.size() != 3) d.fail("only 1-, 2- and 3-d convolutions are supported");
  // 3-d: depth folded into the batch, one 2-d conv per depth tap, the taps' results shifted
  // along depth (stride, dilation, padding) and summed.
  int64_t N = xs[0], C = xs[1], D = xs[2], M = ws[0], kd = ws[2];
  const Window& wd = w[0];
  int planes = d.view(d.transpose(x, {0, 2, 1, 3, 4}), {N * D, C, xs[3], xs[4]});
  std::vector<int64_t> wst = contiguous_strides(ws);
  Shape tap_shape{M, ws[1], ws[3], ws[4]};
  int64_t plane = M * w[1].out * w[2].out;
  Shape ys{N, wd.out, plane};
  std::vector<int64_t> yst = contiguous_strides(ys);
  int sum = -1;
  for (int64_t t = 0; t < kd; ++t) {
    int wt =
        d.raster({{weight, t * wst[2], {wst[0], wst[1], wst[3], wst[4]}, 0, contiguous_strides(tap_shape), tap_shape}},
                 d.dtype(weight), tap_shape);
    AtomicOp op;
    op.kind = AtomicKind::Conv;
    fill_geometry(op, {N * D, C, xs[3], xs[4]}, {w[1], w[2]});
    op.out_c = M;
    op.group = group;
    op.inputs = {planes, wt};
    int z = d.view(d.emit(op, d.dtype(x), {N * D, M, w[1].out, w[2].out}), {N, D, plane});
    int64_t off = t * wd.dilation - wd.pad_begin;  // input depth of output 0
    int64_t first = off >= 0 ? 0 : (-off + wd.stride - 1) / wd.stride;
    int64_t last = D - 1 - off < 0 ? -1 : std::min(wd.out - 1, (D - 1 - off) / wd.stride);
    if (last < first) continue;
    std::vector<int64_t> zst = contiguous_strides({N, D, plane});
    Decomposer::Copy c{z,   (first * wd.stride + off) * zst[1], {zst[0], wd.stride * zst[1], 1}, first * yst[1],
                       yst, {N, last - first + 1, plane}};
    int part = d.raster({c}, d.dtype(x), ys, true, 0.0);
    sum = sum < 0 ? part : d.binary(BinaryOp::Add, sum, part);
  }
  if (sum < 0) sum = d.add_constant(Tensor(d.dtype(x), ys));
  int y = d.transpose(d.view(sum, {N, wd.out, M, w[1].out, w[2].out}), {0, 2, 1, 3, 4});
  if (bias >= 0) y = d.binary(BinaryOp::Add, y, d.view(bias, {1, M, 1, 1, 1}));
  return y;
}

// A Conv from the node's Conv attributes (also used by ConvInteger and QLinearConv).
int emit_conv(Decomposer& d, int x, int weight, int bias) {
  const Shape xs = d.shape(x);
  const Shape ws = d.shape(weight);
  if (ws.size() != xs.size())
    d.fail("weight rank " + std::to_string(ws.size()) + " does not match input rank " + std::to_string(xs.size()));
  int64_t group = d.node().attr_int("group", 1);
  if (group < 1 || xs[1] % group != 0 || ws[0] % group != 0 || ws[1] * group != xs[1])
    d.fail("input channels " + std::to_string(xs[1]) + ", weight " + shape_str(ws) + " and group " +
           std::to_string(group) + " disagree");
  if (xs.size() < 3 || xs.size() > 5)
    d.fail("only 1-, 2- and 3-d spatial inputs are supported, got shape " + shape_str(xs));
  std::vector<Window> w;
  for (size_t i = 2; i < xs.size(); ++i) w.push_back({xs[i], ws[i]});
  resolve_windows(d, w, false);
  std::vector<ConvAxis> axes;
  for (const Window& a : w) axes.push_back({a.in, a.kernel, a.stride, a.dilation, a.pad_begin, a.out});
  return emit_conv_axes(d, x, weight, bias, group, axes);
}

namespace {

void conv(Decomposer& d) { d.set_output(0, emit_conv(d, d.input(0), d.input(1), d.has_input(2) ? d.input(2) : -1)); }

AtomicOp pool_op(bool max_pool, bool count_include_pad, const Shape& xs, const std::vector<Window>& w) {
  AtomicOp op;
  op.kind = AtomicKind::Pool;
  op.max_pool = max_pool;
  op.count_include_pad = count_include_pad;
  fill_geometry(op, xs, w);
  op.out_c = xs[1];
  return op;
}

// 3-d pooling is separable: pool (H, W) with depth folded into channels, then pool depth
// with a (kd x 1) window. Max of maxes is the max; for averages the divisor is the product
// of per-axis counts, so the average of averages is the average.
int pool_3d(Decomposer& d, int x, bool max_pool, bool include_pad, const std::vector<Window>& w) {
  Shape xs = d.shape(x);
  Shape hw_in{xs[0], xs[1] * xs[2], xs[3], xs[4]};
  AtomicOp hw = pool_op(max_pool, include_pad, hw_in, {w[1], w[2]});
  hw.inputs = {d.view(x, hw_in)};
  int y = d.emit(hw, d.dtype(x), {hw_in[0], hw_in[1], w[1].out, w[2].out});
  Shape depth_in{xs[0], xs[1], xs[2], w[1].out * w[2].out};
  Window flat{depth_in[3], 1, 1, 1, 0, 0, depth_in[3]};
  AtomicOp depth = pool_op(max_pool, include_pad, depth_in, {w[0], flat});
  depth.inputs = {d.view(y, depth_in)};
  y = d.emit(depth, d.dtype(x), {xs[0], xs[1], w[0].out, depth_in[3]});
  return d.view(y, {xs[0], xs[1], w[0].out, w[1].out, w[2].out});
}

// Sum of each window: a depthwise convolution with a kernel of ones (zero padding adds
// nothing). 3-d windows are separable: (H, W) first with depth folded into channels, then D.
int window_sum(Decomposer& d, int x, const std::vector<Window>& w) {
  Shape xs = d.shape(x);
  auto conv_ones = [&](int in, Shape s, const std::vector<Window>& win) {
    AtomicOp op;
    op.kind = AtomicKind::Conv;
    fill_geometry(op, s, win);
    op.out_c = op.group = s[1];
    Tensor ones(DType::F64, {s[1], 1, op.kernel_h, op.kernel_w});
    for (int64_t i = 0; i < ones.numel(); ++i) ones.data_as<double>()[i] = 1.0;
    op.inputs = {d.view(in, s), d.cast(d.add_constant(ones), d.dtype(x))};
    return d.emit(op, d.dtype(x), output_shape(s, s[1], win));
  };
  if (xs.size() != 5) return conv_ones(x, xs, w);
  int y = conv_ones(x, {xs[0], xs[1] * xs[2], xs[3], xs[4]}, {w[1], w[2]});
  Shape depth{xs[0], xs[1], xs[2], w[1].out * w[2].out};
  y = conv_ones(y, depth, {w[0], Window{depth[3], 1, 1, 1, 0, 0, depth[3]}});
  return d.view(y, {xs[0], xs[1], w[0].out, w[1].out, w[2].out});
}

// LpPool: (sum over the window of |x|^p)^(1/p).
void lp_pool(Decomposer& d) {
  int x = d.input(0);
  Shape xs = d.shape(x);
  std::vector<int64_t> kernel = d.node().attr_ints("kernel_shape");
  if (kernel.size() + 2 != xs.size() || xs.size() < 3 || xs.size() > 5)
    d.fail("kernel_shape does not match a 1-, 2- or 3-d input");
  std::vector<Window> w(kernel.size());
  for (size_t i = 0; i < w.size(); ++i) {
    w[i].in = xs[2 + i];
    w[i].kernel = kernel[i];
  }
  resolve_windows(d, w, d.node().attr_int("ceil_mode", 0) != 0);
  double p = static_cast<double>(d.node().attr_int("p", 2));
  DType t = d.dtype(x);
  int a = d.unary(UnaryOp::Abs, x);
  int powered = p == 2 ? d.unary(UnaryOp::Square, a) : d.binary(BinaryOp::Pow, a, d.scalar(p, t));
  int sum = window_sum(d, powered, w);
  d.set_output(0, p == 2 ? d.unary(UnaryOp::Sqrt, sum) : d.binary(BinaryOp::Pow, sum, d.scalar(1.0 / p, t)));
}

// LRN: x / (bias + alpha / size * sum of x^2 over `size` neighbouring channels)^beta, the
// window spanning floor((size-1)/2) channels before and ceil((size-1)/2) after.
void lrn(Decomposer& d) {
  int x = d.input(0);
  Shape xs = d.shape(x);
  if (xs.size() < 3) d.fail("input must be [N, C, ...]");
  int64_t size = d.node().attr_int("size", 0);
  if (size < 1) d.fail("size must be positive");
  double alpha = d.node().attr_float("alpha", 1e-4), beta = d.node().attr_float("beta", 0.75),
         bias = d.node().attr_float("bias", 1.0);
  DType t = d.dtype(x);
  int64_t c = xs[1], rest = numel(xs) / (xs[0] * c);
  Window ch{c, size, 1, 1, (size - 1) / 2, size / 2, c};
  int sq = d.view(d.unary(UnaryOp::Square, x), {xs[0], 1, c, rest});
  int sum = d.view(window_sum(d, sq, {ch, Window{rest, 1, 1, 1, 0, 0, rest}}), xs);
  int base = d.binary(BinaryOp::Add, d.binary(BinaryOp::Mul, sum, d.scalar(alpha / static_cast<double>(size), t)),
                      d.scalar(bias, t));
  d.set_output(0, d.binary(BinaryOp::Div, x, d.binary(BinaryOp::Pow, base, d.scalar(beta, t))));
}

// MaxPool's Indices output: every window laid out along a last axis (padding = -inf), its
// ArgMax, and a constant table from (output position, window slot) to the input's flat index
// (row-major, or column-major with storage_order = 1), plus the (n, c) plane offset.
int max_pool_indices(Decomposer& d, int x, const std::vector<Window>& w) {
  Shape xs = d.shape(x);
  Window hw = w.size() == 2 ? w[0] : Window{1, 1, 1, 1, 0, 0, 1};
  const Window& ww = w.back();
  int64_t N = xs[0], C = xs[1], H = hw.in, W = ww.in, oh = hw.out, ow = ww.out, K = hw.kernel * ww.kernel;
  int xv = d.view(x, {N, C, H, W});
  Shape win{N, C, oh, ow, K};
  std::vector<int64_t> src = contiguous_strides({N, C, H, W}), dst = contiguous_strides(win);
  std::vector<Decomposer::Copy> copies;
  Tensor table(DType::I64, {oh * ow * K});
  bool col_major = d.node().attr_int("storage_order", 0) != 0;
  for (int64_t kh = 0; kh < hw.kernel; ++kh)
    for (int64_t kw = 0; kw < ww.kernel; ++kw) {
      int64_t k = kh * ww.kernel + kw;
      auto range = [](const Window& a, int64_t tap, int64_t& first, int64_t& count) {  // outputs whose tap is inside
        int64_t off = tap * a.dilation - a.pad_begin;
        first = off >= 0 ? 0 : (-off + a.stride - 1) / a.stride;
        int64_t last = a.in - 1 - off < 0 ? -1 : std::min(a.out - 1, (a.in - 1 - off) / a.stride);
        count = std::max<int64_t>(last - first + 1, 0);
        return off;
      };
      int64_t fh, nh, fw, nw;
      int64_t offh = range(hw, kh, fh, nh), offw = range(ww, kw, fw, nw);
      if (nh && nw)
        copies.push_back({xv,
                          (fh * hw.stride + offh) * src[2] + (fw * ww.stride + offw) * src[3],
                          {src[0], src[1], hw.stride * src[2], ww.stride * src[3]},
                          fh * dst[2] + fw * dst[3] + k,
                          {dst[0], dst[1], dst[2], dst[3]},
                          {N, C, nh, nw}});
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          int64_t ih = i * hw.stride + offh, iw = j * ww.stride + offw;
          table.data_as<int64_t>()[(i * ow + j) * K + k] = col_major ? ih + iw * H : ih * W + iw;
        }
    }
  DType t = dtype_is_float(d.dtype(x)) ? d.dtype(x) : DType::F64;
  if (t != d.dtype(x)) {
    xv = d.cast(xv, t);
    for (auto& c : copies) c.src = xv;
  }
  int windows = d.raster(copies, t, win, true, -std::numeric_limits<double>::infinity());
  int arg = d.reduce(ReduceOp::ArgMax, windows, {4}, false);  // [N, C, oh, ow]
  Tensor slot(DType::I64, {oh, ow}), plane(DType::I64, {N, C, 1, 1});
  for (int64_t i = 0; i < oh * ow; ++i) slot.data_as<int64_t>()[i] = i * K;
  for (int64_t i = 0; i < N * C; ++i) plane.data_as<int64_t>()[i] = i * H * W;
  AtomicOp g;
  g.kind = AtomicKind::Gather;
  g.outer = 1, g.axis_size = oh * ow * K, g.inner = 1;
  g.inputs = {d.add_constant(table), d.binary(BinaryOp::Add, arg, d.add_constant(slot))};
  int local = d.emit(g, DType::I64, {N, C, oh, ow});
  return d.view(d.binary(BinaryOp::Add, local, d.add_constant(plane)), output_shape(xs, C, w));
}

void pool(Decomposer& d, bool max_pool) {
  int x = d.input(0);
  const Shape& xs = d.shape(x);
  std::vector<int64_t> kernel = d.node().attr_ints("kernel_shape");
  if (kernel.size() + 2 != xs.size()) d.fail("kernel_shape does not match the input rank");
  bool include_pad = d.node().attr_int("count_include_pad", 0) != 0;
  if (xs.size() == 5) {
    std::vector<Window> w(3);
    for (int i = 0; i < 3; ++i) {
      w[i].in = xs[2 + i];
      w[i].kernel = kernel[i];
    }
    resolve_windows(d, w, d.node().attr_int("ceil_mode", 0) != 0);
    d.set_output(0, pool_3d(d, x, max_pool, include_pad, w));
    if (d.node().outputs.size() > 1 && !d.node().outputs[1].empty())
      d.fail("the Indices output of MaxPool is not supported");
    return;
  }
  std::vector<Window> w = spatial_windows(d, xs, kernel);
  resolve_windows(d, w, d.node().attr_int("ceil_mode", 0) != 0);
  DType t = d.dtype(x);
  // Integer max pooling runs in a float type that holds the values exactly.
  DType ct = dtype_is_float(t) ? t : (dtype_size(t) <= 2 ? DType::F32 : DType::F64);
  if (!max_pool && ct != t) d.fail(std::string("AveragePool is not defined for ") + dtype_name(t));
  AtomicOp op = pool_op(max_pool, include_pad, xs, w);
  op.inputs = {d.cast(x, ct)};
  d.set_output(0, d.cast(d.emit(op, ct, output_shape(xs, xs[1], w)), t));
  if (d.node().outputs.size() > 1 && !d.node().outputs[1].empty()) d.set_output(1, max_pool_indices(d, x, w));
}
void max_pool(Decomposer& d) { pool(d, true); }
void average_pool(Decomposer& d) { pool(d, false); }

template <ReduceOp R>
void global_pool(Decomposer& d) {
  int x = d.input(0);
  std::vector<int64_t> axes;
  for (int64_t a = 2; a < d.rank(x); ++a) axes.push_back(a);
  d.set_output(0, d.reduce(R, x, axes, true));
}

// Inference batch norm: y = x * a + b per channel, a = scale / sqrt(var + eps),
// b = bias - mean * a. With constant statistics a and b fold at plan time.
// training_mode = 1: normalize with the batch statistics (population variance) and also
// output running_mean/var = old * momentum + batch * (1 - momentum) (ONNX doc).
void batch_norm_training(Decomposer& d) {
  int x = d.input(0);
  DType t = d.dtype(x);
  std::vector<int64_t> axes{0};
  for (int64_t a = 2; a < d.rank(x); ++a) axes.push_back(a);
  Shape per_channel(static_cast<size_t>(d.rank(x)), 1);
  per_channel[1] = d.shape(x)[1];
  int mean = d.reduce(ReduceOp::Mean, x, axes, true);
  int centered = d.binary(BinaryOp::Sub, x, mean);
  int var = d.reduce(ReduceOp::Mean, d.binary(BinaryOp::Mul, centered, centered), axes, true);
  double eps = d.node().attr_float("epsilon", 1e-5), momentum = d.node().attr_float("momentum", 0.9);
  int inv = d.unary(UnaryOp::Rsqrt, d.binary(BinaryOp::Add, var, d.scalar(eps, t)));
  int y = d.binary(BinaryOp::Mul, d.binary(BinaryOp::Mul, centered, inv), d.view(d.input(1), per_channel));
  d.set_output(0, d.binary(BinaryOp::Add, y, d.view(d.input(2), per_channel)));
  Shape c{d.shape(x)[1]};
  auto running = [&](int old, int batch) {
    return d.binary(BinaryOp::Add, d.binary(BinaryOp::Mul, old, d.scalar(momentum, t)),
                    d.binary(BinaryOp::Mul, d.view(batch, c), d.scalar(1 - momentum, t)));
  };
  d.set_output(1, running(d.input(3), mean));
  d.set_output(2, running(d.input(4), var));
}

void batch_norm(Decomposer& d) {
  if (d.node().attr_int("training_mode", 0)) return batch_norm_training(d);
  int x = d.input(0);
  DType t = d.dtype(x);
  double eps = d.node().attr_float("epsilon", 1e-5);
  int64_t channels = d.shape(x).size() > 1 ? d.shape(x)[1] : 1;
  Shape per_channel{channels};
  for (size_t i = 2; i < d.shape(x).size(); ++i) per_channel.push_back(1);
  int a = d.binary(BinaryOp::Div, d.input(1),
                   d.unary(UnaryOp::Sqrt, d.binary(BinaryOp::Add, d.input(4), d.scalar(eps, t))));
  int b = d.binary(BinaryOp::Sub, d.input(2), d.binary(BinaryOp::Mul, d.input(3), a));
  int y = d.binary(BinaryOp::Mul, x, d.view(a, per_channel));
  d.set_output(0, d.binary(BinaryOp::Add, y, d.view(b, per_channel)));
}

void matmul(Decomposer& d) { d.set_output(0, d.matmul(d.input(0), d.input(1))); }

// Gemm: alpha * op(A) @ op(B) + beta * C; a 1-d C of length N (or [1, N]) with beta = 1 is
// fused into the MatMul as its bias.
void gemm(Decomposer& d) {
  int a = d.input(0), b = d.input(1);
  d.require_rank(a, 2, 2, "A");
  d.require_rank(b, 2, 2, "B");
  if (d.node().attr_int("transA", 0)) a = d.transpose(a, {1, 0});
  if (d.node().attr_int("transB", 0)) b = d.transpose(b, {1, 0});
  double alpha = d.node().attr_float("alpha", 1.0), beta = d.node().attr_float("beta", 1.0);
  DType t = d.dtype(a);
  if (alpha != 1.0) a = d.binary(BinaryOp::Mul, a, d.scalar(alpha, t));
  int64_t N = d.shape(b).back();
  int bias = -1;
  if (d.has_input(2) && beta == 1.0 && numel(d.shape(d.input(2))) == N && d.shape(d.input(2)).back() == N)
    bias = d.view(d.input(2), {N});
  int y = d.matmul(a, b, bias);
  if (d.has_input(2) && bias < 0) {
    int c = d.input(2);
    if (beta != 1.0) c = d.binary(BinaryOp::Mul, c, d.scalar(beta, t));
    y = d.binary(BinaryOp::Add, y, c);
  }
  d.set_output(0, y);
}

}  // namespace

void register_nn_ops(CompositeRegistry& r) {
  r["Conv"] = {conv};
  r["MaxPool"] = {max_pool};
  r["AveragePool"] = {average_pool};
  r["LpPool"] = {lp_pool};
  r["LRN"] = {lrn};
  r["GlobalAveragePool"] = {global_pool<ReduceOp::Mean>};
  r["GlobalMaxPool"] = {global_pool<ReduceOp::Max>};
  r["BatchNormalization"] = {batch_norm};
  r["MatMul"] = {matmul};
  r["Gemm"] = {gemm};
}

}  // namespace walle
