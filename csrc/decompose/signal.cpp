// Signal processing ops: DFT and STFT as MatMuls with constant cosine/sine matrices (a DFT
// is a linear map), and the window generators (Hann, Hamming, Blackman), whose output is a
// plan-time constant. Formulas from the ONNX docs and onnx/reference/ops/op_dft.py.
#include <cmath>

#include "decompose/registry.h"

namespace walle {

namespace {

constexpr double kPi = 3.14159265358979323846;

int matrix(Decomposer& d, int64_t rows, int64_t cols, DType t, double (*f)(int64_t, int64_t, int64_t, double),
           int64_t n, double scale) {
  Tensor m(DType::F64, {rows, cols});
  for (int64_t j = 0; j < rows; ++j)
    for (int64_t k = 0; k < cols; ++k) m.data_as<double>()[j * cols + k] = scale * f(j, k, n, 0);
  return d.cast(d.add_constant(m), t);
}
double cos_jk(int64_t j, int64_t k, int64_t n, double) {
  return std::cos(2 * kPi * static_cast<double>((j * k) % n) / static_cast<double>(n));
}
double sin_jk(int64_t j, int64_t k, int64_t n, double) {
  return std::sin(2 * kPi * static_cast<double>((j * k) % n) / static_cast<double>(n));
}

// x: [..., n, c] (c = 1 real, 2 complex) transformed along the n axis with length `len`
// (zero-padded or truncated). Returns [..., K, 2], or [..., len, 1] for an inverse one-sided
// transform (irfft: the input holds bins 0..len/2 of a Hermitian spectrum).
int dft_last(Decomposer& d, int x, int64_t len, bool inverse, bool onesided) {
  Shape s = d.shape(x);
  int64_t r = static_cast<int64_t>(s.size()), n = s[r - 2], c = s[r - 1];
  if (c != 1 && c != 2) d.fail("the last dimension must be 1 (real) or 2 (complex)");
  DType t = d.dtype(x);
  Shape part = s;
  part.pop_back();
  auto component = [&](int64_t which) {  // [..., n] real or imaginary part
    std::vector<int64_t> st = contiguous_strides(s);
    st.pop_back();
    return d.raster({{x, which, st, 0, contiguous_strides(part), part}}, t, part);
  };
  int64_t bins = inverse && onesided ? len / 2 + 1 : len;  // input rows that matter
  int64_t used = std::min(n, bins);
  auto rows = [&](int v) {  // the first `used` samples
    if (used == n) return v;
    Shape cut = part;
    cut.back() = used;
    std::vector<int64_t> st = contiguous_strides(part);
    return d.raster({{v, 0, st, 0, contiguous_strides(cut), cut}}, t, cut);
  };
  int xr = rows(component(0)), xi = c == 2 ? rows(component(1)) : -1;
  int64_t k_out = inverse ? len : (onesided ? len / 2 + 1 : len);
  double scale = inverse ? 1.0 / static_cast<double>(len) : 1.0;
  int C = matrix(d, used, k_out, t, cos_jk, len, scale), S = matrix(d, used, k_out, t, sin_jk, len, scale);
  if (inverse && onesided) {  // Hermitian: bins other than DC and Nyquist count twice
    Tensor w(DType::F64, {used, 1});
    for (int64_t k = 0; k < used; ++k) w.data_as<double>()[k] = (k == 0 || (len % 2 == 0 && k == len / 2)) ? 1.0 : 2.0;
    int wt = d.cast(d.add_constant(w), t);
    C = d.binary(BinaryOp::Mul, C, wt);
    S = d.binary(BinaryOp::Mul, S, wt);
  }
  // forward: (xr + i xi)(cos - i sin); inverse: (xr + i xi)(cos + i sin)
  int sign_s = inverse ? 1 : -1;
  int yr = d.matmul(xr, C), yi = d.matmul(xr, S);
  if (sign_s < 0) yi = d.unary(UnaryOp::Neg, yi);
  if (xi >= 0) {
    int a = d.matmul(xi, S), b = d.matmul(xi, C);
    yr = sign_s < 0 ? d.binary(BinaryOp::Add, yr, a) : d.binary(BinaryOp::Sub, yr, a);
    yi = d.binary(BinaryOp::Add, yi, b);
  }
  Shape out = d.shape(yr);
  out.push_back(inverse && onesided ? 1 : 2);
  std::vector<int64_t> dst = contiguous_strides(out);
  std::vector<int64_t> src = contiguous_strides(d.shape(yr));
  src.push_back(0);
  Shape one = d.shape(yr);
  one.push_back(1);
  std::vector<Decomposer::Copy> copies{{yr, 0, src, 0, dst, one}};
  if (!(inverse && onesided)) copies.push_back({yi, 0, src, 1, dst, one});
  return d.raster(copies, t, out);
}

// DFT (opset 17: axis attribute, default 1, set by the converter; opset 20: axis input, default -2).
void dft(Decomposer& d) {
  int x = d.input(0);
  int64_t r = d.rank(x);
  int64_t axis = d.has_input(2) ? d.const_int(2, "axis") : d.node().attr_int("axis", -2);
  axis = axis < 0 ? axis + r : axis;
  if (axis < 0 || axis >= r - 1) d.fail("axis " + std::to_string(axis) + " must be a signal axis, not the last one");
  bool inverse = d.node().attr_int("inverse", 0) != 0, onesided = d.node().attr_int("onesided", 0) != 0;
  int64_t n = d.shape(x)[axis];
  int64_t len = d.has_input(1) ? d.const_int(1, "dft_length") : (inverse && onesided ? 2 * (n - 1) : n);
  if (len < 1) d.fail("dft_length must be positive");
  std::vector<int64_t> perm;
  for (int64_t a = 0; a < r - 1; ++a)
    if (a != axis) perm.push_back(a);
  perm.push_back(axis);
  perm.push_back(r - 1);
  std::vector<int64_t> back(r);
  for (int64_t a = 0; a < r; ++a) back[perm[a]] = a;
  d.set_output(0, d.transpose(dft_last(d, d.transpose(x, perm), len, inverse, onesided), back));
}

// STFT (opset 17): frames of frame_length every frame_step samples, times the window, DFT.
void stft(Decomposer& d) {
  int x = d.input(0);
  Shape s = d.shape(x);
  if (s.size() != 3) d.fail("signal must be [batch, length, 1 or 2]");
  int64_t step = d.const_int(1, "frame_step");
  int window = d.has_input(2) ? d.input(2) : -1;
  int64_t flen = d.has_input(3) ? d.const_int(3, "frame_length") : window >= 0 ? d.shape(window)[0] : s[1];
  if (step < 1 || flen < 1 || flen > s[1]) d.fail("frame_step and frame_length must be positive and fit the signal");
  int64_t frames = 1 + (s[1] - flen) / step;
  Shape fs{s[0], frames, flen, s[2]};
  std::vector<int64_t> st = contiguous_strides(s);
  int y = d.raster({{x, 0, {st[0], step * st[1], st[1], st[2]}, 0, contiguous_strides(fs), fs}}, d.dtype(x), fs);
  if (window >= 0) y = d.binary(BinaryOp::Mul, y, d.view(d.cast(window, d.dtype(x)), {flen, 1}));
  d.set_output(0, dft_last(d, y, flen, false, d.node().attr_int("onesided", 1) != 0));
}

// Window generators: w[n] from the doc's formula, N = size (periodic) or size - 1.
template <int Kind>
void window(Decomposer& d) {
  int64_t size = d.const_int(0, "size");
  if (size < 0) d.fail("size must be non-negative");
  double N = static_cast<double>(d.node().attr_int("periodic", 1) ? size : size - 1);
  Tensor w(DType::F64, {size});
  for (int64_t i = 0; i < size; ++i) {
    double a = 2 * kPi * static_cast<double>(i) / N;
    double v = Kind == 0   ? std::pow(std::sin(kPi * static_cast<double>(i) / N), 2)  // Hann
               : Kind == 1 ? 25.0 / 46.0 - (21.0 / 46.0) * std::cos(a)                // Hamming
                           : 0.42 - 0.5 * std::cos(a) + 0.08 * std::cos(2 * a);       // Blackman
    w.data_as<double>()[i] = v;
  }
  d.set_output(0, d.cast(d.add_constant(w), static_cast<DType>(d.node().attr_int("output_datatype", 1))));
}

// MelWeightMatrix (opset 17): triangular filters between mel-spaced bin edges, computed as
// the reference does (its float32 log1p, and a mel step over num_mel_bins + 2 points).
void mel_weight_matrix(Decomposer& d) {
  int64_t bins = d.const_int(0, "num_mel_bins"), dft = d.const_int(1, "dft_length"),
          rate = d.const_int(2, "sample_rate");
  double lo = d.const_scalar(3, "lower_edge_hertz"), hi = d.const_scalar(4, "upper_edge_hertz");
  if (bins < 1 || dft < 1 || rate < 1) d.fail("num_mel_bins, dft_length and sample_rate must be positive");
  auto mel = [](double hz) {
    return static_cast<double>(2595.0f * std::log1p(static_cast<float>(hz) / 700.0f)) / std::log(10.0);
  };
  double low = mel(lo), step = (mel(hi) - low) / static_cast<double>(bins + 2);
  std::vector<int64_t> edge(bins + 2);
  for (int64_t i = 0; i < bins + 2; ++i) {
    double hz = 700 * std::expm1((static_cast<double>(i) * step + low) / 2595 * std::log(10.0));
    edge[i] = static_cast<int64_t>(std::floor((dft + 1) * hz / static_cast<double>(rate)));
  }
  int64_t spec = dft / 2 + 1;
  Tensor w(DType::F64, {spec, bins});
  double* m = w.data_as<double>();
  auto at = [&](int64_t j, int64_t i) -> double& {
    if (j < 0 || j >= spec) d.fail("a filter edge falls outside the spectrum");
    return m[j * bins + i];
  };
  for (int64_t i = 0; i < bins; ++i) {
    int64_t left = edge[i], center = edge[i + 1], right = edge[i + 2];
    if (center == left)
      at(center, i) = 1;
    else
      for (int64_t j = left; j <= center; ++j)
        at(j, i) = static_cast<double>(j - left) / static_cast<double>(center - left);
    for (int64_t j = center; j < right; ++j)
      at(j, i) = static_cast<double>(right - j) / static_cast<double>(right - center);
  }
  d.set_output(0, d.cast(d.add_constant(w), static_cast<DType>(d.node().attr_int("output_datatype", 1))));
}

}  // namespace

void register_signal_ops(CompositeRegistry& r) {
  r["DFT"] = {dft};
  r["STFT"] = {stft};
  r["HannWindow"] = {window<0>};
  r["HammingWindow"] = {window<1>};
  r["BlackmanWindow"] = {window<2>};
  r["MelWeightMatrix"] = {mel_weight_matrix};
}

}  // namespace walle
