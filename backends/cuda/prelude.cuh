// CUDA spelling of the macros backends/gpu/kernels.inc is written in. Slots are raw device
// pointers (offsets already applied), so the offsets passed are always 0.
#pragma once
typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
#define WL_SLOTS_DECL uchar* wl_b0, uchar* wl_b1, uchar* wl_b2, uchar* wl_b3, uchar* wl_b4, uchar* wl_b5, \
  int wl_o0, int wl_o1, int wl_o2, int wl_o3, int wl_o4, int wl_o5, const int* wl_prm
#define WL_CTX_DECL WL_SLOTS_DECL,
#define WL_CTX wl_b0, wl_b1, wl_b2, wl_b3, wl_b4, wl_b5, wl_o0, wl_o1, wl_o2, wl_o3, wl_o4, wl_o5, wl_prm,
#define WL_KERNEL(name) extern "C" __global__ void wl_##name(WL_SLOTS_DECL)
#define WL_END
#define WL_FN __device__ inline
#define GID0 ((int)(blockIdx.x * blockDim.x + threadIdx.x))
#define GID1 ((int)(blockIdx.y * blockDim.y + threadIdx.y))
#define GID2 ((int)(blockIdx.z * blockDim.z + threadIdx.z))
#define WL_PTR(T, k) ((T*)(wl_b##k + wl_o##k))
#define F(k, i) WL_PTR(float, k)[i]
#define I32(k, i) WL_PTR(int, k)[i]
#define U32(k, i) WL_PTR(uint, k)[i]
#define U8(k, i) WL_PTR(uchar, k)[i]
#define U16(k, i) WL_PTR(ushort, k)[i]
#define U64(k, i) WL_PTR(unsigned long long, k)[i]
#define COPY8(dk, di, sk, si) U64(dk, di) = U64(sk, si)
#define LD_I64(k, i) ((int)WL_PTR(long long, k)[i])
#define ST_I64(k, i, v) WL_PTR(long long, k)[i] = (long long)(v)
#define HI_I64(k, i) ((int)(WL_PTR(long long, k)[i] >> 32))
#define LID0 ((int)threadIdx.x)
#define GRP0 ((int)blockIdx.x)
#define WL_BARRIER __syncthreads()
#define WL_SHARED_DECL(T, name, n)
#define WL_SHARED(T, name, n) __shared__ T name[n];
#define WL_HAS_F64
#define LD_F64(k, i) WL_PTR(double, k)[i]
#define P(j) wl_prm[j]
#define PF(j) __int_as_float(wl_prm[j])
#define CAST(T, x) ((T)(x))
#define WL_ABS(x) fabsf(x)
#define WL_RINT(x) rintf(x)
#define WL_FMOD(a, b) fmodf(a, b)
#define WL_ISNAN(x) isnan(x)
#define WL_ISINF(x) isinf(x)
#define WL_NEG_INF (-__int_as_float(0x7f800000))
