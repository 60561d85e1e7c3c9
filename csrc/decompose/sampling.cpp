// Spatial sampling: AffineGrid (a constant base grid times theta) and GridSample (taps gathered
// at data-dependent positions and weighted), for any number of spatial dims. Coordinate
// rules follow the ONNX docs and onnx/reference/ops/op_grid_sample.py (PyTorch's).
#include <algorithm>
#include <cmath>
#include <limits>

#include "decompose/registry.h"

namespace walle {

namespace {

// AffineGrid (opset 20): grid[n, ..., :] = theta[n] @ (x, y[, z], 1) over a regular grid in [-1, 1].
void affine_grid(Decomposer& d) {
  int theta = d.input(0);
  std::vector<int64_t> size = d.const_ints(1, "size");
  int64_t k = static_cast<int64_t>(size.size()) - 2;  // spatial dims
  if (k != 2 && k != 3) d.fail("size must be [N, C, H, W] or [N, C, D, H, W]");
  bool align = d.node().attr_int("align_corners", 0) != 0;
  Shape spatial(size.begin() + 2, size.end());
  int64_t points = numel(spatial);
  Tensor base(DType::F64, {points, k + 1});
  std::vector<int64_t> st = contiguous_strides(spatial);
  for (int64_t p = 0; p < points; ++p)
    for (int64_t j = 0; j < k; ++j) {  // column j is the (k-1-j)-th spatial axis: x first
      int64_t axis = k - 1 - j, len = spatial[axis], i = p / st[axis] % len;
      base.data_as<double>()[p * (k + 1) + j] =
          align ? (len > 1 ? -1.0 + 2.0 * i / (len - 1) : 0.0) : -1.0 + (2.0 * i + 1) / len;
    }
  for (int64_t p = 0; p < points; ++p) base.data_as<double>()[p * (k + 1) + k] = 1.0;
  DType t = d.dtype(theta);
  int g = d.matmul(d.cast(d.add_constant(base), t), d.transpose(theta, {0, 2, 1}));  // [N, points, k]
  Shape out{size[0]};
  out.insert(out.end(), spatial.begin(), spatial.end());
  out.push_back(k);
  d.set_output(0, d.view(g, out));
}

struct Sampler {
  Decomposer& d;
  DType t;
  std::string padding;
  bool align;
  int num(double v) { return d.scalar(v, t); }
  int add(int a, int b) { return d.binary(BinaryOp::Add, a, b); }
  int sub(int a, int b) { return d.binary(BinaryOp::Sub, a, b); }
  int mul(int a, int b) { return d.binary(BinaryOp::Mul, a, b); }
  int lt(int a, int b) { return d.binary(BinaryOp::Less, a, b); }
  int gt(int a, int b) { return d.binary(BinaryOp::Greater, a, b); }
  int clamp(int v, double lo, double hi) {
    return d.binary(BinaryOp::Min, d.binary(BinaryOp::Max, v, num(lo)), num(hi));
  }

  // Reflects v into [lo, hi] by the nearer border, repeatedly (reference _gs_reflect).
  int reflect(int v, double lo, double hi) {
    double range = hi - lo;
    auto fold = [&](int dx, int even_base_lo) {  // dx >= 0 beyond a border
      int n = d.unary(UnaryOp::Floor, d.binary(BinaryOp::Div, dx, num(range)));
      int r = sub(dx, mul(n, num(range)));
      int odd = d.cast(d.binary(BinaryOp::FMod, n, num(2)), DType::Bool);
      int from_lo = add(num(lo), r), from_hi = sub(num(hi), r);
      return even_base_lo ? d.select(odd, from_hi, from_lo) : d.select(odd, from_lo, from_hi);
    };
    int below = fold(sub(num(lo), v), 1), above = fold(sub(v, num(hi)), 0);
    return d.select(lt(v, num(lo)), below, d.select(gt(v, num(hi)), above, v));
  }
  double border_lo() const { return align ? 0.0 : -0.5; }
  double border_hi(int64_t len) const { return align ? len - 1.0 : len - 0.5; }
  // Pixel index of tap `i` (float, integral) on an axis of `len`: int64 index, and the
  // weight mask for zeros padding (-1 when not needed).
  std::pair<int, int> pixel(int i, int64_t len) {
    int mask = -1;
    if (padding == "zeros")
      mask = d.cast(d.binary(BinaryOp::And, d.unary(UnaryOp::Not, lt(i, num(0))), lt(i, num(static_cast<double>(len)))),
                    t);
    else if (padding == "reflection")
      i = reflect(i, border_lo(), border_hi(len));
    int idx = d.cast(clamp(i, 0, static_cast<double>(len - 1)), DType::I64);  // truncates, as int() does
    return {idx, mask};
  }
};

// Cubic convolution weights (Keys, A = -0.75) of the 4 taps around fraction f.
std::vector<int> cubic_weights(Sampler& s, int f) {
  const double A = -0.75;
  auto poly = [&](int x, double c3, double c2, double c1, double c0) {  // ((c3 x + c2) x + c1) x + c0
    int v = s.add(s.mul(s.num(c3), x), s.num(c2));
    v = s.add(s.mul(v, x), s.num(c1));
    return s.add(s.mul(v, x), s.num(c0));
  };
  int one = s.num(1);
  int x0 = s.add(f, one), x1 = f, x2 = s.sub(one, f), x3 = s.sub(s.num(2), f);
  return {poly(x0, A, -5 * A, 8 * A, -4 * A), poly(x1, A + 2, -(A + 3), 0, 1), poly(x2, A + 2, -(A + 3), 0, 1),
          poly(x3, A, -5 * A, 8 * A, -4 * A)};
}

// GridSample (opset 16/20/22): Y[n, c, o...] = sum over taps of weight * X[n, c, tap...].
void grid_sample(Decomposer& d) {
  int x = d.input(0), grid = d.input(1);
  Shape xs = d.shape(x), gs = d.shape(grid);
  int64_t k = static_cast<int64_t>(xs.size()) - 2;
  if (k < 1 || static_cast<int64_t>(gs.size()) != k + 2 || gs.back() != k || gs[0] != xs[0])
    d.fail("grid must be [N, out..., " + std::to_string(k) + "]");
  std::string mode = d.node().attr_string("mode", "linear");
  if (mode == "bilinear") mode = "linear";
  if (mode == "bicubic") mode = "cubic";
  DType t = d.dtype(x) == DType::F64 ? DType::F64 : DType::F32;
  Sampler s{d, t, d.node().attr_string("padding_mode", "zeros"), d.node().attr_int("align_corners", 0) != 0};
  if (mode != "nearest" && mode != "linear" && mode != "cubic") d.fail("unknown mode '" + mode + "'");
  if (s.padding != "zeros" && s.padding != "border" && s.padding != "reflection")
    d.fail("unknown padding_mode '" + s.padding + "'");
  Shape out_sp(gs.begin() + 1, gs.end() - 1), pts{gs[0]};
  pts.insert(pts.end(), out_sp.begin(), out_sp.end());
  std::vector<int64_t> gst = contiguous_strides(gs);
  gst.pop_back();
  int g = d.cast(grid, t);
  // per spatial axis: the taps' pixel indices and weights
  std::vector<std::vector<std::pair<int, int>>> taps(k);
  for (int64_t a = 0; a < k; ++a) {
    int64_t len = xs[2 + a];
    int v = d.raster({{g, k - 1 - a, gst, 0, contiguous_strides(pts), pts}}, t, pts);  // grid holds (x, y, ...)
    v = s.align ? s.mul(s.add(v, s.num(1)), s.num((len - 1) / 2.0))
                : s.mul(s.sub(s.mul(s.add(v, s.num(1)), s.num(static_cast<double>(len))), s.num(1)), s.num(0.5));
    if (mode == "nearest") v = d.unary(UnaryOp::Round, v);  // half to even, as PyTorch
    double lo = s.border_lo(), hi = s.border_hi(len);
    if (s.padding == "border")
      v = d.select(d.binary(BinaryOp::Or, s.lt(v, s.num(lo)), s.gt(v, s.num(hi))),
                   s.clamp(v, 0, static_cast<double>(len - 1)), v);
    else if (s.padding == "reflection")
      v = s.reflect(v, lo, hi);
    std::vector<std::pair<int, int>> pos;  // (position, weight)
    if (mode == "nearest") {
      pos.push_back({v, -1});
    } else {
      int x0 = d.unary(UnaryOp::Floor, v), f = s.sub(v, x0);
      if (mode == "linear") {
        pos = {{x0, s.sub(s.num(1), f)}, {s.add(x0, s.num(1)), f}};
      } else {
        std::vector<int> w = cubic_weights(s, f);
        for (int j = 0; j < 4; ++j) pos.push_back({s.add(x0, s.num(j - 1.0)), w[j]});
      }
    }
    for (auto [p, w] : pos) {
      auto [idx, mask] = s.pixel(p, len);
      if (mask >= 0) w = w >= 0 ? s.mul(w, mask) : mask;
      taps[a].push_back({idx, w});
    }
  }
  // gather every combination of taps from X as [N * spatial, C] rows
  Shape sp(xs.begin() + 2, xs.end());
  int64_t total = numel(sp), C = xs[1];
  std::vector<int64_t> sst = contiguous_strides(sp);
  std::vector<int64_t> perm{0};
  for (int64_t a = 0; a < k; ++a) perm.push_back(2 + a);
  perm.push_back(1);
  int rows = d.view(d.transpose(d.cast(x, t), perm), {xs[0] * total, C});
  Tensor batch(DType::I64, pts);
  int64_t per_n = numel(pts) / xs[0];
  for (int64_t i = 0; i < batch.numel(); ++i) batch.data_as<int64_t>()[i] = i / per_n * total;
  int base = d.add_constant(batch);
  int sum = -1;
  std::vector<size_t> pick(k, 0);
  while (true) {
    int flat = base, w = -1;
    for (int64_t a = 0; a < k; ++a) {
      auto [idx, wa] = taps[a][pick[a]];
      flat = s.add(flat, d.binary(BinaryOp::Mul, idx, d.scalar(static_cast<double>(sst[a]), DType::I64)));
      if (wa >= 0) w = w >= 0 ? s.mul(w, wa) : wa;
    }
    AtomicOp op;
    op.kind = AtomicKind::Gather;
    op.outer = 1;
    op.axis_size = xs[0] * total;
    op.inner = C;
    op.inputs = {rows, flat};
    Shape got = pts;
    got.push_back(C);
    int term = d.emit(op, t, got);
    if (w >= 0) {
      Shape ws = pts;
      ws.push_back(1);
      term = s.mul(term, d.view(w, ws));
    }
    sum = sum < 0 ? term : s.add(sum, term);
    int64_t a = k - 1;
    while (a >= 0 && ++pick[a] == taps[a].size()) pick[a--] = 0;
    if (a < 0) break;
  }
  std::vector<int64_t> back{0, k + 1};
  for (int64_t a = 0; a < k; ++a) back.push_back(1 + a);
  d.set_output(0, d.cast(d.transpose(sum, back), d.dtype(x)));
}

// RoiAlign (opset 16): per ROI bin, bilinear samples on a grid (sampling_ratio, or adaptive
// from the ROI size), averaged or max-pooled as the reference does. Sample positions and
// weights depend on the ROIs, which are plan-time values; X is gathered at run time.
void roi_align(Decomposer& d) {
  int x = d.input(0);
  Shape xs = d.shape(x);
  if (xs.size() != 4) d.fail("X must be [N, C, H, W]");
  Tensor rois = d.value(d.input(1), "rois");
  std::vector<int64_t> batch = d.value_ints(d.input(2), "batch_indices");
  const Node& n = d.node();
  int64_t PH = n.attr_int("output_height", 1), PW = n.attr_int("output_width", 1),
          ratio = n.attr_int("sampling_ratio", 0);
  double scale = n.attr_float("spatial_scale", 1.0);
  bool half = n.attr_string("coordinate_transformation_mode", "half_pixel") == "half_pixel",
       max_mode = n.attr_string("mode", "avg") == "max";
  int64_t R = rois.shape()[0], H = xs[2], W = xs[3], C = xs[1];
  struct Sample {
    int64_t pos[4];
    double w[4];
  };
  std::vector<std::vector<Sample>> bins(R * PH * PW);
  std::vector<int64_t> counts(R);
  for (int64_t r = 0; r < R; ++r) {
    double off = half ? 0.5 : 0.0;
    double x0 = rois.scalar_as_double(r * 4) * scale - off, y0 = rois.scalar_as_double(r * 4 + 1) * scale - off;
    double rw = rois.scalar_as_double(r * 4 + 2) * scale - off - x0,
           rh = rois.scalar_as_double(r * 4 + 3) * scale - off - y0;
    if (!half) rw = std::max(rw, 1.0), rh = std::max(rh, 1.0);
    double bh = rh / PH, bw = rw / PW;
    int64_t gh = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rh / PH)),
            gw = ratio > 0 ? ratio : static_cast<int64_t>(std::ceil(rw / PW));
    counts[r] = std::max<int64_t>(gh * gw, 1);
    for (int64_t ph = 0; ph < PH; ++ph)
      for (int64_t pw = 0; pw < PW; ++pw)
        for (int64_t iy = 0; iy < gh; ++iy)
          for (int64_t ix = 0; ix < gw; ++ix) {
            double yy = y0 + ph * bh + (iy + 0.5) * bh / gh, xx = x0 + pw * bw + (ix + 0.5) * bw / gw;
            Sample smp{{0, 0, 0, 0}, {0, 0, 0, 0}};
            if (!(yy < -1.0 || yy > H || xx < -1.0 || xx > W)) {
              double y = std::max(yy, 0.0), xv = std::max(xx, 0.0);
              int64_t yl = static_cast<int64_t>(y), xl = static_cast<int64_t>(xv), yh, xh;
              if (yl >= H - 1)
                yh = yl = H - 1, y = static_cast<double>(yl);
              else
                yh = yl + 1;
              if (xl >= W - 1)
                xh = xl = W - 1, xv = static_cast<double>(xl);
              else
                xh = xl + 1;
              double ly = y - yl, lx = xv - xl, hy = 1 - ly, hx = 1 - lx;
              smp = {{yl * W + xl, yl * W + xh, yh * W + xl, yh * W + xh}, {hy * hx, hy * lx, ly * hx, ly * lx}};
            }
            bins[(r * PH + ph) * PW + pw].push_back(smp);
          }
  }
  int64_t S = 1;
  for (const auto& b : bins) S = std::max<int64_t>(S, static_cast<int64_t>(b.size()));
  DType t = d.dtype(x) == DType::F64 ? DType::F64 : DType::F32;
  int rows = d.view(d.transpose(d.cast(x, t), {0, 2, 3, 1}), {xs[0] * H * W, C});
  Shape grid{R, PH, PW, S};
  Tensor valid(DType::Bool, grid);
  for (int64_t b = 0; b < R * PH * PW; ++b)
    for (int64_t k = 0; k < S; ++k) valid.data_as<bool>()[b * S + k] = k < static_cast<int64_t>(bins[b].size());
  int result = -1;
  for (int tap = 0; tap < 4; ++tap) {
    Tensor idx(DType::I64, grid), wt(DType::F64, {R, PH, PW, S, 1});
    for (int64_t b = 0; b < R * PH * PW; ++b)
      for (int64_t k = 0; k < S; ++k) {
        bool has = k < static_cast<int64_t>(bins[b].size());
        int64_t r = b / (PH * PW);
        if (batch[r] < 0 || batch[r] >= xs[0]) d.fail("batch index " + std::to_string(batch[r]) + " is out of range");
        idx.data_as<int64_t>()[b * S + k] = batch[r] * H * W + (has ? bins[b][k].pos[tap] : 0);
        wt.data_as<double>()[b * S + k] = has ? bins[b][k].w[tap] : 0.0;
      }
    AtomicOp g;
    g.kind = AtomicKind::Gather;
    g.outer = 1, g.axis_size = xs[0] * H * W, g.inner = C;
    g.inputs = {rows, d.add_constant(idx)};
    int v = d.binary(BinaryOp::Mul, d.emit(g, t, {R, PH, PW, S, C}), d.cast(d.add_constant(wt), t));
    result = result < 0 ? v : d.binary(max_mode ? BinaryOp::Max : BinaryOp::Add, result, v);
  }
  Shape one{R, PH, PW, S, 1};
  if (max_mode) {
    result =
        d.select(d.view(d.add_constant(valid), one), result, d.scalar(-std::numeric_limits<double>::infinity(), t));
    result = d.reduce(ReduceOp::Max, result, {3}, false);
  } else {
    Tensor inv(DType::F64, {R, 1, 1, 1});
    for (int64_t r = 0; r < R; ++r) inv.data_as<double>()[r] = 1.0 / static_cast<double>(counts[r]);
    result = d.binary(BinaryOp::Mul, d.reduce(ReduceOp::Sum, result, {3}, false), d.cast(d.add_constant(inv), t));
  }
  d.set_output(0, d.cast(d.transpose(result, {0, 3, 1, 2}), d.dtype(x)));
}

// DeformConv (opset 19, 2-d): each kernel tap samples X bilinearly (zeros outside) at its
// regular position plus a learned offset, optionally times a mask; the sampled columns are
// then contracted with the weights per group, as the reference does via GridSample.
void deform_conv(Decomposer& d) {
  int x = d.input(0), w = d.input(1), offset = d.input(2);
  Shape xs = d.shape(x), ws = d.shape(w), os = d.shape(offset);
  if (xs.size() != 4 || ws.size() != 4 || os.size() != 4) d.fail("only 2-d DeformConv is supported");
  const Node& n = d.node();
  int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], OC = ws[0], kh = ws[2], kw = ws[3], K = kh * kw;
  int64_t group = n.attr_int("group", 1), og = n.attr_int("offset_group", 1), OH = os[2], OW = os[3], P = OH * OW;
  std::vector<int64_t> dil = n.attr_ints("dilations", {1, 1}), st = n.attr_ints("strides", {1, 1}),
                       pads = n.attr_ints("pads", {0, 0, 0, 0});
  if (C != ws[1] * group || OC % group || C % og || os[1] != og * K * 2)
    d.fail("X, W, offset, group and offset_group disagree");
  DType t = d.dtype(x) == DType::F64 ? DType::F64 : DType::F32;
  Sampler smp{d, t, "zeros", true};
  int xt = d.view(d.transpose(d.cast(x, t), {0, 2, 3, 1}), {N * H * W, C});  // rows of channels
  int off = d.view(d.cast(offset, t), {N, og, K, 2, P});
  std::vector<int64_t> ost = contiguous_strides({N, og, K, 2, P});
  Tensor by(DType::F64, {1, K, P}), bx(DType::F64, {1, K, P}), base(DType::I64, {N, 1, 1});
  for (int64_t k = 0; k < K; ++k)
    for (int64_t p = 0; p < P; ++p) {
      by.data_as<double>()[k * P + p] = static_cast<double>(p / OW * st[0] - pads[0] + k / kw * dil[0]);
      bx.data_as<double>()[k * P + p] = static_cast<double>(p % OW * st[1] - pads[1] + k % kw * dil[1]);
    }
  for (int64_t b = 0; b < N; ++b) base.data_as<int64_t>()[b] = b * H * W;
  int64_t cpg = C / og;
  std::vector<Decomposer::Copy> pieces;
  Shape sampled_shape{N, K, P, C};
  std::vector<int64_t> sst = contiguous_strides(sampled_shape);
  for (int64_t g = 0; g < og; ++g) {
    auto coord = [&](int64_t which, const Tensor& b0) {
      Shape cs{N, K, P};
      int o = d.raster({{off, g * ost[1] + which * ost[3], {ost[0], ost[2], ost[4]}, 0, contiguous_strides(cs), cs}}, t,
                       cs);
      return d.binary(BinaryOp::Add, o, d.cast(d.add_constant(b0), t));
    };
    int y = coord(0, by), xx = coord(1, bx);
    int y0 = d.unary(UnaryOp::Floor, y), x0 = d.unary(UnaryOp::Floor, xx);
    int fy = smp.sub(y, y0), fx = smp.sub(xx, x0);
    int rows = C == cpg ? xt : [&] {
      std::vector<int64_t> rst = contiguous_strides({N * H * W, C});
      Shape rs{N * H * W, cpg};
      return d.raster({{xt, g * cpg, rst, 0, contiguous_strides(rs), rs}}, t, rs);
    }();
    int acc = -1;
    for (int tap = 0; tap < 4; ++tap) {
      int ty = tap / 2 ? smp.add(y0, smp.num(1)) : y0, tx = tap % 2 ? smp.add(x0, smp.num(1)) : x0;
      int wy = tap / 2 ? fy : smp.sub(smp.num(1), fy), wx = tap % 2 ? fx : smp.sub(smp.num(1), fx);
      auto [iy, my] = smp.pixel(ty, H);
      auto [ix, mx] = smp.pixel(tx, W);
      int weight = smp.mul(smp.mul(wy, wx), smp.mul(my, mx));
      int flat = d.binary(
          BinaryOp::Add,
          d.binary(BinaryOp::Add, d.binary(BinaryOp::Mul, iy, d.scalar(static_cast<double>(W), DType::I64)), ix),
          d.add_constant(base));
      AtomicOp op;
      op.kind = AtomicKind::Gather;
      op.outer = 1, op.axis_size = N * H * W, op.inner = cpg;
      op.inputs = {rows, flat};
      int v = smp.mul(d.emit(op, t, {N, K, P, cpg}), d.view(weight, {N, K, P, 1}));
      acc = acc < 0 ? v : smp.add(acc, v);
    }
    if (d.has_input(4)) {  // mask [N, og*K, OH, OW]
      int m = d.view(d.cast(d.input(4), t), {N, og, K, P});
      std::vector<int64_t> mst = contiguous_strides({N, og, K, P});
      Shape ms{N, K, P};
      m = d.raster({{m, g * mst[1], {mst[0], mst[2], mst[3]}, 0, contiguous_strides(ms), ms}}, t, ms);
      acc = smp.mul(acc, d.view(m, {N, K, P, 1}));
    }
    Shape piece{N, K, P, cpg};
    pieces.push_back({acc, 0, contiguous_strides(piece), g * cpg, sst, piece});
  }
  int sampled = d.raster(pieces, t, sampled_shape);  // [N, K, P, C]
  int64_t cg = C / group, ocg = OC / group;
  std::vector<Decomposer::Copy> outs;
  Shape ys{N, P, OC};
  std::vector<int64_t> yst = contiguous_strides(ys);
  for (int64_t g = 0; g < group; ++g) {
    Shape part{N, K, P, cg};
    int sg = d.raster({{sampled, g * cg, sst, 0, contiguous_strides(part), part}}, t, part);
    int cols = d.view(d.transpose(sg, {0, 2, 3, 1}), {N, P, cg * K});  // (c, k) order as W's
    std::vector<int64_t> wst = contiguous_strides(ws);
    Shape wpart{ocg, cg * K};
    int wg = d.cast(
        d.raster({{w, g * ocg * wst[0], {wst[0], 1}, 0, contiguous_strides(wpart), wpart}}, d.dtype(w), wpart), t);
    int yg = d.matmul(cols, d.transpose(wg, {1, 0}));  // [N, P, ocg]
    Shape yp{N, P, ocg};
    outs.push_back({yg, 0, contiguous_strides(yp), g * ocg, yst, yp});
  }
  int y = d.transpose(d.raster(outs, t, ys), {0, 2, 1});
  if (d.has_input(3)) y = d.binary(BinaryOp::Add, y, d.view(d.cast(d.input(3), t), {1, OC, 1}));
  d.set_output(0, d.cast(d.view(y, {N, OC, OH, OW}), d.dtype(x)));
}

}  // namespace

void register_sampling_ops(CompositeRegistry& r) {
  r["DeformConv"] = {deform_conv};
  r["RoiAlign"] = {roi_align};
  r["AffineGrid"] = {affine_grid};
  r["GridSample"] = {grid_sample};
}

}  // namespace walle
