// SGEMM tests: every Isa path this CPU supports against sgemm_reference, over awkward
// shapes, transposed views, pre-packed operands, every epilogue, 1 and 2 threads.
// Standalone (no gtest): exit code 1 on any failure; the last line is "N passed, N failed".
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "check.h"
#include "cpu/gemm.h"

using namespace walle;
using namespace walle::cpu;

namespace {

using walle_test::check;

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// A logical rows x cols matrix stored row-major or transposed (column-major).
struct Mat {
  std::vector<float> store;
  MatrixView view;
};
Mat make_mat(int64_t rows, int64_t cols, bool transposed, uint32_t seed) {
  Mat m;
  m.store = random_vec(static_cast<size_t>(std::max<int64_t>(rows * cols, 1)), seed);
  m.view.data = m.store.data();
  if (transposed) {
    m.view.row_stride = 1;
    m.view.col_stride = rows;
  } else {
    m.view.row_stride = cols;
    m.view.col_stride = 1;
  }
  return m;
}

struct EpiCase {
  const char* name;
  GemmEpilogue::Bias bias;
  Activation act;
  bool residual;
};
const EpiCase kEpis[] = {
    {"none", GemmEpilogue::Bias::None, Activation::None, false},
    {"bias_row", GemmEpilogue::Bias::PerRow, Activation::None, false},
    {"bias_col", GemmEpilogue::Bias::PerCol, Activation::None, false},
    {"residual", GemmEpilogue::Bias::None, Activation::None, true},
    {"relu+bias_row", GemmEpilogue::Bias::PerRow, Activation::Relu, false},
    {"clip+bias_col+res", GemmEpilogue::Bias::PerCol, Activation::Clip, true},
    {"sigmoid", GemmEpilogue::Bias::None, Activation::Sigmoid, false},
    {"gelu+bias_col", GemmEpilogue::Bias::PerCol, Activation::Gelu, false},
    {"silu+bias_row+res", GemmEpilogue::Bias::PerRow, Activation::Silu, true},
    {"gelu+res", GemmEpilogue::Bias::None, Activation::Gelu, true},
};
constexpr int kNumEpis = sizeof(kEpis) / sizeof(kEpis[0]);

struct Variant {
  bool ta, tb, pa, pb;
};

// Runs one configuration; returns true if C matches the reference and the padding
// columns of C (ldc > N) are untouched.
void run_case(int64_t M, int64_t N, int64_t K, Variant v, int epi_idx, Isa isa, ThreadPool& pool) {
  const EpiCase& ec = kEpis[epi_idx];
  const uint32_t seed = static_cast<uint32_t>(M * 131 + N * 17 + K);
  Mat A = make_mat(M, K, v.ta, seed), B = make_mat(K, N, v.tb, seed + 1);
  // Inputs scaled so activations see values around their interesting range.
  for (auto& x : A.store) x *= 2.0f / std::sqrt(static_cast<float>(std::max<int64_t>(K, 1)));
  std::vector<float> bias = random_vec(static_cast<size_t>(std::max(M, N)), seed + 2);
  const int64_t ldr = N + 3;
  std::vector<float> res = random_vec(static_cast<size_t>(M * ldr), seed + 3);

  GemmEpilogue e;
  e.bias_kind = ec.bias;
  e.bias = ec.bias == GemmEpilogue::Bias::None ? nullptr : bias.data();
  e.activation = ec.act;
  e.clip_min = -0.3f;
  e.clip_max = 0.4f;
  if (ec.residual) {
    e.residual = res.data();
    e.residual_ld = ldr;
  }

  const int64_t ldc = N + 5;
  const float kSentinel = 12345.f;
  std::vector<float> ref(static_cast<size_t>(M * N)), c(static_cast<size_t>(M * ldc), kSentinel);
  sgemm_reference(M, N, K, A.view, B.view, ref.data(), N, e);

  std::unique_ptr<PackedMatrix> pa, pb;
  GemmOperand oa, ob;
  oa.view = A.view;
  ob.view = B.view;
  if (v.pa) oa.packed = (pa = pack_a(M, K, A.view, isa)).get();
  if (v.pb) ob.packed = (pb = pack_b(K, N, B.view, isa)).get();

  char label[256];
  std::snprintf(label, sizeof label, "isa=%s threads=%d M=%lld N=%lld K=%lld tA=%d tB=%d packA=%d packB=%d epi=%s",
                isa_name(isa), pool.size(), (long long)M, (long long)N, (long long)K, v.ta, v.tb, v.pa, v.pb, ec.name);
  try {
    sgemm(M, N, K, oa, ob, c.data(), ldc, e, pool, isa);
  } catch (const std::exception& ex) {
    check(false, std::string(label) + " threw: " + ex.what());
    return;
  }
  double worst = 0;
  int64_t wr = 0, wc = 0;
  bool pad_ok = true;
  for (int64_t r = 0; r < M; ++r) {
    for (int64_t col = 0; col < N; ++col) {
      const float got = c[r * ldc + col], want = ref[r * N + col];
      const double err = std::fabs(static_cast<double>(got) - want) / (1.0 + std::fabs(want));
      if (!(err <= worst)) {  // also catches NaN
        worst = std::isnan(err) ? 1e30 : err;
        wr = r, wc = col;
      }
    }
    for (int64_t col = N; col < ldc; ++col) pad_ok &= c[r * ldc + col] == kSentinel;
  }
  char msg[512];
  std::snprintf(msg, sizeof msg, "%s: max rel err %.3g at (%lld,%lld) got %g want %g", label, worst, (long long)wr,
                (long long)wc, M ? c[wr * ldc + wc] : 0.f, M ? ref[wr * N + wc] : 0.f);
  check(worst < 2e-4, msg);
  check(pad_ok, std::string(label) + ": wrote past column N (into ldc padding)");
}

void test_errors(Isa isa, ThreadPool& pool) {
  Mat A = make_mat(8, 8, false, 1), B = make_mat(8, 8, false, 2);
  std::vector<float> c(64);
  GemmEpilogue e;
  // A packed B is not an A.
  auto pb = pack_b(8, 8, B.view, isa);
  GemmOperand oa{A.view, pb.get()}, ob{B.view, nullptr};
  bool threw = false;
  try {
    sgemm(8, 8, 8, oa, ob, c.data(), 8, e, pool, isa);
  } catch (const walle::Error& err) { threw = err.kind() == ErrorKind::Invalid; }
  check(threw, std::string("isa=") + isa_name(isa) + ": packed B passed as A must throw Invalid");
  // Wrong shape for a packed operand.
  auto pa = pack_a(8, 8, A.view, isa);
  GemmOperand oa2{A.view, pa.get()};
  threw = false;
  try {
    sgemm(7, 8, 8, oa2, ob, c.data(), 8, e, pool, isa);
  } catch (const walle::Error& err) { threw = err.kind() == ErrorKind::Invalid; }
  check(threw, std::string("isa=") + isa_name(isa) + ": packed A of the wrong shape must throw Invalid");
}

void test_k_zero(Isa isa, ThreadPool& pool) {
  std::vector<float> bias = {1.f, -2.f, 3.f}, c(6, 7.f);
  GemmEpilogue e;
  e.bias_kind = GemmEpilogue::Bias::PerCol;
  e.bias = bias.data();
  e.activation = Activation::Relu;
  GemmOperand oa, ob;
  float dummy = 0;
  oa.view = {&dummy, 0, 1};
  ob.view = {&dummy, 3, 1};
  sgemm(2, 3, 0, oa, ob, c.data(), 3, e, pool, isa);
  check(c[0] == 1.f && c[1] == 0.f && c[2] == 3.f && c[3] == 1.f && c[5] == 3.f,
        std::string("isa=") + isa_name(isa) + ": K=0 gives epilogue(0)");
}

}  // namespace

// --quick (used under emulation, e.g. qemu-aarch64 in CI): the same variants and epilogues on
// fewer and smaller shapes, still covering every tail of every microkernel (MR, NR <= 32).
int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  std::vector<Isa> isas = {Isa::Reference};
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_includes(detected_isa(), isa)) isas.push_back(isa);
#if defined(__aarch64__)
  // Every aarch64 Linux processor (and qemu-aarch64) reports ASIMD: the NEON kernel must be tested.
  check(detected_isa() == Isa::Neon, std::string("aarch64 detects neon, got ") + isa_name(detected_isa()));
#endif
  ThreadPool pool1(1), pool2(2);
  ThreadPool* pools[] = {&pool1, &pool2};

  std::vector<int64_t> small = {1, 7, 17, 31, 64};
  if (quick) small = {1, 7, 17, 33};
  struct Shape {
    int64_t m, n, k;
  };
  std::vector<Shape> big = {{1023, 7, 17},   {7, 1023, 17},  {17, 31, 1023},  {1023, 64, 31}, {64, 1023, 64},
                            {1, 1023, 1023}, {1023, 1, 64},  {31, 17, 1023},  {1023, 17, 7},  {20, 2100, 520},
                            {100, 200, 300}, {64, 3136, 72}, {128, 256, 256}, {3, 1100, 600}};
  if (quick)
    big = {{1023, 7, 17}, {7, 1023, 17}, {17, 31, 1023}, {1, 1023, 300}, {61, 100, 300}, {9, 1100, 40}, {40, 800, 20}};

  int counter = 0;
  for (Isa isa : isas) {
    for (ThreadPool* pool : pools) {
      test_errors(isa, *pool);
      test_k_zero(isa, *pool);
      // Every small shape with every operand variant; the epilogue rotates.
      for (int64_t m : small)
        for (int64_t n : small)
          for (int64_t k : small)
            for (int vbits = 0; vbits < 16; ++vbits) {
              Variant v{bool(vbits & 1), bool(vbits & 2), bool(vbits & 4), bool(vbits & 8)};
              run_case(m, n, k, v, counter++ % kNumEpis, isa, *pool);
            }
      // Large/odd shapes: every epilogue once, operand variants rotating.
      for (const Shape& s : big)
        for (int ei = 0; ei < kNumEpis; ++ei) {
          const int vbits = (counter++ * 7) % 16;
          Variant v{bool(vbits & 1), bool(vbits & 2), bool(vbits & 4), bool(vbits & 8)};
          run_case(s.m, s.n, s.k, v, ei, isa, *pool);
        }
    }
  }
  // An odd pool size: the 3 x 1 / 1 x 3 thread grids and threads left without tiles.
  ThreadPool pool3(3);
  for (Isa isa : isas)
    for (const Shape& s :
         quick ? std::vector<Shape>{{1, 1100, 30}, {29, 70, 33}, {100, 40, 50}}
               : std::vector<Shape>{{1, 1100, 300}, {100, 200, 300}, {29, 70, 33}, {64, 3136, 72}, {300, 40, 50}})
      for (int vbits : {0, 5, 10, 15}) {
        Variant v{bool(vbits & 1), bool(vbits & 2), bool(vbits & 4), bool(vbits & 8)};
        run_case(s.m, s.n, s.k, v, counter++ % kNumEpis, isa, pool3);
      }
  return walle_test::report();
}
