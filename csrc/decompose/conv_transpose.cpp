// ConvTranspose as a Conv: the input is spread out by the stride (zeros between samples) and
// padded by (kernel span - 1 - pad) on each side, then convolved at stride 1 with the weight
// transposed per group ([C, M/g, k] -> [M, C/g, k]) and flipped in space. Output sizes and
// pads follow the ONNX doc (and onnx/reference/ops/op_conv_transpose.py for auto_pad).
#include <algorithm>

#include "decompose/registry.h"

namespace walle {

namespace {

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

struct Axis {
  int64_t in, kernel, stride, dilation, pad_begin, out;
  int64_t span() const { return (kernel - 1) * dilation + 1; }
  int64_t padded() const { return out + span() - 1; }
};

std::vector<Axis> resolve(Decomposer& d, const Shape& xs, const Shape& ws) {
  const Node& n = d.node();
  size_t k = xs.size() - 2;
  std::vector<int64_t> strides = n.attr_ints("strides", std::vector<int64_t>(k, 1));
  std::vector<int64_t> dil = n.attr_ints("dilations", std::vector<int64_t>(k, 1));
  std::vector<int64_t> extra = n.attr_ints("output_padding", std::vector<int64_t>(k, 0));
  std::vector<int64_t> out_shape = n.attr_ints("output_shape");
  std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  bool same = !n.has("pads") && (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER");
  std::vector<int64_t> pads = n.attr_ints("pads", std::vector<int64_t>(2 * k, 0));
  if (out_shape.size() > k) out_shape.erase(out_shape.begin(), out_shape.end() - k);  // [N, C, ...] given
  if (strides.size() != k || dil.size() != k || extra.size() != k || pads.size() != 2 * k ||
      (!out_shape.empty() && out_shape.size() != k))
    d.fail("strides, dilations, output_padding, pads or output_shape do not match " + std::to_string(k) +
           " spatial dimensions");
  std::vector<Axis> axes;
  for (size_t i = 0; i < k; ++i) {
    Axis a{xs[2 + i], ws[2 + i], strides[i], dil[i], 0, 0};
    if (a.stride < 1 || a.dilation < 1) d.fail("strides and dilations must be positive");
    int64_t natural = a.stride * (a.in - 1) + extra[i] + a.span();
    if (same) {
      a.out = out_shape.empty() ? a.in * a.stride : out_shape[i];
      int64_t total = natural - a.out;
      a.pad_begin = auto_pad == "SAME_UPPER" ? floor_div(total, 2) : total - floor_div(total, 2);
    } else {
      a.pad_begin = pads[i];
      a.out = out_shape.empty() ? natural - pads[i] - pads[i + k] : out_shape[i];
    }
    if (a.out < 1) d.fail("the output would be empty");
    axes.push_back(a);
  }
  return axes;
}

void conv_transpose(Decomposer& d) {
  int x = d.input(0), w = d.input(1);
  Shape xs = d.shape(x), ws = d.shape(w);
  if (xs.size() < 3 || xs.size() > 5)
    d.fail("only 1-, 2- and 3-d spatial inputs are supported, got shape " + shape_str(xs));
  if (ws.size() != xs.size()) d.fail("weight rank does not match the input rank");
  int64_t group = d.node().attr_int("group", 1), C = xs[1];
  if (group < 1 || C % group || ws[0] != C)
    d.fail("input channels " + std::to_string(C) + ", weight " + shape_str(ws) + " and group disagree");
  std::vector<Axis> axes = resolve(d, xs, ws);
  // 1. spread and pad: input sample t lands at (span - 1 - pad_begin) + t * stride
  Shape padded{xs[0], C};
  for (const Axis& a : axes) padded.push_back(a.padded());
  std::vector<int64_t> src = contiguous_strides(xs), dst = contiguous_strides(padded);
  Decomposer::Copy c{x, 0, src, 0, dst, {xs[0], C}};
  for (size_t i = 0; i < axes.size(); ++i) {
    const Axis& a = axes[i];
    int64_t left = a.span() - 1 - a.pad_begin;
    int64_t first = left < 0 ? (-left + a.stride - 1) / a.stride : 0;
    int64_t last = std::min(a.in - 1, floor_div(a.padded() - 1 - left, a.stride));
    c.sizes.push_back(std::max<int64_t>(last - first + 1, 0));
    c.src_offset += first * src[2 + i];
    c.dst_offset += (left + first * a.stride) * dst[2 + i];
    c.dst_strides[2 + i] = dst[2 + i] * a.stride;
  }
  int spread = d.raster({c}, d.dtype(x), padded, true, 0.0);
  // 2. weight [C, M/g, k...] -> [M, C/g, k...], flipped in space
  int64_t cg = C / group, mg = ws[1];
  Shape wt_shape{group * mg, cg};
  wt_shape.insert(wt_shape.end(), ws.begin() + 2, ws.end());
  std::vector<int64_t> wsrc = contiguous_strides(ws), wdst = contiguous_strides(wt_shape);
  std::vector<Decomposer::Copy> wcopies;
  for (int64_t g = 0; g < group; ++g) {
    Decomposer::Copy wc{w, g * cg * wsrc[0], {wsrc[1], wsrc[0]}, g * mg * wdst[0], {wdst[0], wdst[1]}, {mg, cg}};
    for (size_t i = 2; i < ws.size(); ++i) {
      wc.src_offset += (ws[i] - 1) * wsrc[i];
      wc.src_strides.push_back(-wsrc[i]);
      wc.dst_strides.push_back(wdst[i]);
      wc.sizes.push_back(ws[i]);
    }
    wcopies.push_back(wc);
  }
  int wt = d.raster(wcopies, d.dtype(w), wt_shape);
  // 3. a stride-1, unpadded convolution
  std::vector<ConvAxis> conv;
  for (const Axis& a : axes) conv.push_back({a.padded(), a.kernel, 1, a.dilation, 0, a.out});
  d.set_output(0, emit_conv_axes(d, spread, wt, d.has_input(2) ? d.input(2) : -1, group, conv));
}

// Col2Im (opset 18): the inverse of im2col. Each kernel offset's column block is spread into
// a zero image at its strided positions; the blocks are summed and the padding cropped.
void col2im(Decomposer& d) {
  int x = d.input(0);
  Shape xs = d.shape(x);
  std::vector<int64_t> image = d.const_ints(1, "image_shape"), block = d.const_ints(2, "block_shape");
  size_t k = image.size();
  std::vector<int64_t> dil = d.node().attr_ints("dilations", std::vector<int64_t>(k, 1));
  std::vector<int64_t> strides = d.node().attr_ints("strides", std::vector<int64_t>(k, 1));
  std::vector<int64_t> pads = d.node().attr_ints("pads", std::vector<int64_t>(2 * k, 0));
  int64_t K = numel(block);
  if (xs.size() != 3 || block.size() != k || xs[1] % K) d.fail("input must be [N, C * prod(block_shape), L]");
  int64_t N = xs[0], C = xs[1] / K;
  Shape padded{N, C}, blocks;
  for (size_t i = 0; i < k; ++i) {
    padded.push_back(image[i] + pads[i] + pads[i + k]);
    blocks.push_back((padded.back() - dil[i] * (block[i] - 1) - 1) / strides[i] + 1);
  }
  if (numel(blocks) != xs[2])
    d.fail("L = " + std::to_string(xs[2]) + " does not match the " + std::to_string(numel(blocks)) + " sliding blocks");
  std::vector<int64_t> pst = contiguous_strides(padded), bst = contiguous_strides(block);
  int sum = -1;
  for (int64_t off = 0; off < K; ++off) {  // one kernel offset: [N, C, blocks...] from channel row c*K + off
    Shape src_shape{N, C};
    src_shape.insert(src_shape.end(), blocks.begin(), blocks.end());
    std::vector<int64_t> src{xs[1] * xs[2], K * xs[2]};
    std::vector<int64_t> bs = contiguous_strides(blocks);
    src.insert(src.end(), bs.begin(), bs.end());
    Decomposer::Copy c{x, off * xs[2], src, 0, {pst[0], pst[1]}, src_shape};
    for (size_t i = 0; i < k; ++i) {
      c.dst_offset += (off / bst[i] % block[i]) * dil[i] * pst[2 + i];
      c.dst_strides.push_back(strides[i] * pst[2 + i]);
    }
    int part = d.raster({c}, d.dtype(x), padded, true, 0.0);
    sum = sum < 0 ? part : d.binary(BinaryOp::Add, sum, part);
  }
  Shape out{N, C};
  out.insert(out.end(), image.begin(), image.end());
  Decomposer::Copy crop{sum, 0, pst, 0, contiguous_strides(out), out};
  for (size_t i = 0; i < k; ++i) crop.src_offset += pads[i] * pst[2 + i];
  d.set_output(0, d.raster({crop}, d.dtype(x), out));
}

}  // namespace

void register_conv_transpose_ops(CompositeRegistry& r) {
  r["ConvTranspose"] = {conv_transpose};
  r["Col2Im"] = {col2im};
}

}  // namespace walle
