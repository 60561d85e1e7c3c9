// (kernel.comp supplies #version.) GLSL spelling of the macros backends/gpu/kernels.inc is written in. glslc compiles
// kernels.inc once per entry (-DWL_WANT_<entry>) into one SPIR-V module each. Every slot is
// declared three times over the same binding (float/int/uint views: std430 aliasing), and
// byte offsets arrive as push constants so one VkBuffer arena serves every tensor.

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
#define WL_SLOT(k) \
  layout(std430, binding = k) buffer Bf##k { float wl_f##k[]; }; \
  layout(std430, binding = k) buffer Bi##k { int wl_i##k[]; }; \
  layout(std430, binding = k) buffer Bu##k { uint wl_u##k[]; };
WL_SLOT(0)
WL_SLOT(1)
WL_SLOT(2)
WL_SLOT(3)
WL_SLOT(4)
WL_SLOT(5)
layout(std430, binding = 6) readonly buffer Prm { int wl_prm[]; };
layout(push_constant) uniform Offsets { int o[6]; } wl_pc;
#define WL_NO_SMALL_TYPES
#define WL_CTX_DECL
#define WL_CTX
#define WL_KERNEL(name) void main()
#define WL_END
#define WL_FN
#define GID0 int(gl_GlobalInvocationID.x)
#define GID1 int(gl_GlobalInvocationID.y)
#define GID2 int(gl_GlobalInvocationID.z)
#define F(k, i) wl_f##k[(wl_pc.o[k] >> 2) + (i)]
#define I32(k, i) wl_i##k[(wl_pc.o[k] >> 2) + (i)]
#define U32(k, i) wl_u##k[(wl_pc.o[k] >> 2) + (i)]
#define COPY8(dk, di, sk, si) U32(dk, 2 * (di)) = U32(sk, 2 * (si)); U32(dk, 2 * (di) + 1) = U32(sk, 2 * (si) + 1)
#define LD_I64(k, i) I32(k, 2 * (i))
#define ST_I64(k, i, v) I32(k, 2 * (i)) = (v); I32(k, 2 * (i) + 1) = (v) < 0 ? -1 : 0
#define HI_I64(k, i) I32(k, 2 * (i) + 1)
#define LID0 int(gl_LocalInvocationID.x)
#define GRP0 int(gl_WorkGroupID.x)
#define WL_BARRIER memoryBarrierShared(); barrier()
#define WL_SHARED_DECL(T, name, n) shared T name[n];
#define WL_SHARED(T, name, n)
// GLSL 450 has doubles; a shader using them needs the device's shaderFloat64 feature, which
// the backend checks (Capabilities::float64) before it makes that pipeline.
#define WL_HAS_F64
#define LD_F64(k, i) packDouble2x32(uvec2(U32(k, 2 * (i)), U32(k, 2 * (i) + 1)))
#define P(j) wl_prm[j]
#define PF(j) intBitsToFloat(wl_prm[j])
#define CAST(T, x) T(x)
#define WL_ABS(x) abs(x)
#define WL_RINT(x) roundEven(x)
// GLSL has no fmod; a finite a modulo an infinite b is a itself (C fmod), not a - inf * 0.
#define WL_FMOD(a, b) (isinf(b) && !isinf(a) ? (a) : (a) - (b) * trunc((a) / (b)))
#define WL_ISNAN(x) isnan(x)
#define WL_ISINF(x) isinf(x)
#define WL_NEG_INF uintBitsToFloat(0xff800000u)
