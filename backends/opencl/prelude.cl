// OpenCL C spelling of the macros backends/gpu/kernels.inc is written in. Slots are byte
// pointers plus byte offsets, so one cl_mem arena serves tensors of every dtype.
#define WL_SLOTS_DECL __global uchar* wl_b0, __global uchar* wl_b1, __global uchar* wl_b2, __global uchar* wl_b3, \
  __global uchar* wl_b4, __global uchar* wl_b5, int wl_o0, int wl_o1, int wl_o2, int wl_o3, int wl_o4, int wl_o5, \
  __global const int* wl_prm
#define WL_CTX_DECL WL_SLOTS_DECL,
#define WL_CTX wl_b0, wl_b1, wl_b2, wl_b3, wl_b4, wl_b5, wl_o0, wl_o1, wl_o2, wl_o3, wl_o4, wl_o5, wl_prm,
#define WL_KERNEL(name) __kernel void name(WL_SLOTS_DECL)
#define WL_END
#define WL_FN
#define GID0 ((int)get_global_id(0))
#define GID1 ((int)get_global_id(1))
#define GID2 ((int)get_global_id(2))
#define WL_PTR(T, k) ((__global T*)(wl_b##k + wl_o##k))
#define F(k, i) WL_PTR(float, k)[i]
#define I32(k, i) WL_PTR(int, k)[i]
#define U32(k, i) WL_PTR(uint, k)[i]
#define U8(k, i) WL_PTR(uchar, k)[i]
#define U16(k, i) WL_PTR(ushort, k)[i]
#define U64(k, i) WL_PTR(ulong, k)[i]
#define COPY8(dk, di, sk, si) U64(dk, di) = U64(sk, si)
#define LD_I64(k, i) ((int)WL_PTR(long, k)[i])
#define ST_I64(k, i, v) WL_PTR(long, k)[i] = (long)(v)
#define HI_I64(k, i) ((int)(WL_PTR(long, k)[i] >> 32))
#define LID0 ((int)get_local_id(0))
#define GRP0 ((int)get_group_id(0))
#define WL_BARRIER barrier(CLK_LOCAL_MEM_FENCE)
#define WL_SHARED_DECL(T, name, n)
#define WL_SHARED(T, name, n) __local T name[n];
// Doubles only where the device has them (the backend states it as Capabilities::float64).
#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#define WL_HAS_F64
#define LD_F64(k, i) WL_PTR(double, k)[i]
#endif
#define P(j) wl_prm[j]
#define PF(j) as_float(wl_prm[j])
#define CAST(T, x) ((T)(x))
#define WL_ABS(x) fabs(x)
#define WL_RINT(x) rint(x)
#define WL_FMOD(a, b) fmod(a, b)
#define WL_ISNAN(x) isnan(x)
#define WL_ISINF(x) isinf(x)
#define WL_NEG_INF (-INFINITY)
