/* CUDA C side of the kernel library's prelude (NVRTC/nvcc, compiled with fused multiply-add off). */
typedef unsigned int uint;

#define KERNEL          extern "C" __global__
#define GLOBAL
#define SHARED          __shared__
#define SHARED_PTR                /* shared memory needs no qualifier on a pointer */
#define DEVICE          static __device__ inline
#define _VM_DIM(v, d)   ((d) == 0 ? (v).x : (d) == 1 ? (v).y : (v).z)
#define GLOBAL_ID(d)    (_VM_DIM(blockIdx, d) * _VM_DIM(blockDim, d) + _VM_DIM(threadIdx, d))
#define GLOBAL_SIZE(d)  (_VM_DIM(gridDim, d) * _VM_DIM(blockDim, d))
#define GROUP_ID(d)     _VM_DIM(blockIdx, d)
#define LOCAL_ID(d)     _VM_DIM(threadIdx, d)
#define BARRIER()       __syncthreads()
#define ATOMIC_ADD_F32(p, v) atomicAdd((p), (v))
