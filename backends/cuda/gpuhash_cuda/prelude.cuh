/*
 * gpuhash CUDA prelude: lets NVRTC compile the OpenCL C kernels of gpuhash/kernels unchanged.
 * The kernel files spell everything target-specific as macros guarded by #ifndef (common.cl);
 * this file defines them for CUDA and maps the few OpenCL C keywords the files use.
 */

typedef unsigned char uchar;
typedef unsigned int uint;
typedef unsigned long long ulong; /* OpenCL C's ulong is 64-bit */

#define __kernel extern "C" __global__
#define __global
#define __constant __constant__

#define GH_FN static __device__ __forceinline__
#define GH_GID() ((ulong)blockIdx.x * (ulong)blockDim.x + (ulong)threadIdx.x)
#define GH_LID() ((uint)threadIdx.x)
#define GH_LSIZE() ((uint)blockDim.x)
#define GH_BARRIER() __syncthreads()
#define GH_LOCAL
#define GH_LOCAL_MAX(p, v) atomicMax((unsigned int *)(p), (unsigned int)(v))
#define GH_NATIVE_LE 1
#define GH_ALIGNED(p, a) ((((unsigned long long)(p)) & (unsigned long long)((a) - 1u)) == 0ull)
/* Funnel shifts are the native rotate on every CUDA GPU. */
#define GH_ROTR32(x, n) __funnelshift_r((uint)(x), (uint)(x), (uint)(n))
/* CUDA has no __local kernel arguments: the staged kernels get wrappers (epilogue.cuh) that
 * carve their buffers out of one dynamic shared-memory block. */
#define GH_NO_LOCAL_ARGS 1
