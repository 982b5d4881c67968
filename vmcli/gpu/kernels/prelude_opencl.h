/* OpenCL C side of the kernel library's prelude: library.cl is written against these macros. */
#pragma OPENCL FP_CONTRACT OFF  /* a*b+c stays two roundings, as numpy computes it */

#define KERNEL          __kernel
#define GLOBAL          __global
#define SHARED          __local
#define SHARED_PTR      __local   /* a pointer parameter into SHARED memory */
#define DEVICE          static inline
#define GLOBAL_ID(d)    ((uint)get_global_id(d))
#define GLOBAL_SIZE(d)  ((uint)get_global_size(d))
#define GROUP_ID(d)     ((uint)get_group_id(d))
#define LOCAL_ID(d)     ((uint)get_local_id(d))
#define BARRIER()       barrier(CLK_LOCAL_MEM_FENCE)

/* OpenCL 1.2 has no float atomics: add through a compare-and-swap on the bits. */
static inline void vm_atomic_add_f32(volatile __global float *p, float v)
{
    uint old = as_uint(*p), seen;
    while ((seen = atomic_cmpxchg((volatile __global uint *)p, old, as_uint(as_float(old) + v))) != old)
        old = seen;
}
#define ATOMIC_ADD_F32(p, v) vm_atomic_add_f32((p), (v))
