/* The built-in kernel library, written once: compiled after prelude_opencl.h as OpenCL C and after
 * prelude_cuda.h as CUDA C. Matrices are row-major float32; every kernel checks its bounds, so the
 * launch size may be rounded up to the work-group size. Entry points carry a vm_ prefix (`dot` is an
 * OpenCL built-in function). The table of kernels, their arguments and
 * launch sizes is vmcli/gpu/kernels/__init__.py. */

#define REDUCE_WG 256   /* work-group size of dot and reduce_sum (a power of two) */
#define TILE 32         /* sgemm: a work-group computes a TILE x TILE block of C */
#define WPT 8           /* sgemm: results per work item, so a work-group is TILE x RTS items */
#define RTS (TILE / WPT)

/* c = a + b */
KERNEL void vm_vadd(GLOBAL const float *a, GLOBAL const float *b, GLOBAL float *c, uint n)
{
    uint i = GLOBAL_ID(0);
    if (i < n)
        c[i] = a[i] + b[i];
}

/* y = alpha * x + y */
KERNEL void vm_saxpy(float alpha, GLOBAL const float *x, GLOBAL float *y, uint n)
{
    uint i = GLOBAL_ID(0);
    if (i < n)
        y[i] = alpha * x[i] + y[i];
}

/* Sum of one value per work item over the work-group, in `tmp[REDUCE_WG]`. */
DEVICE float group_sum(SHARED_PTR float *tmp, float v)
{
    uint l = LOCAL_ID(0);
    tmp[l] = v;
    BARRIER();
    for (uint s = REDUCE_WG / 2; s > 0; s >>= 1) {
        if (l < s)
            tmp[l] += tmp[l + s];
        BARRIER();
    }
    return tmp[0];
}

/* out[0] += sum(x): each work item strides over x, each group adds its sum atomically. */
KERNEL void vm_reduce_sum(GLOBAL const float *x, GLOBAL float *out, uint n)
{
    SHARED float tmp[REDUCE_WG];
    float acc = 0.0f;
    for (uint i = GLOBAL_ID(0); i < n; i += GLOBAL_SIZE(0))
        acc += x[i];
    float s = group_sum(tmp, acc);
    if (LOCAL_ID(0) == 0)
        ATOMIC_ADD_F32(out, s);
}

/* out[0] += x . y */
KERNEL void vm_dot(GLOBAL const float *x, GLOBAL const float *y, GLOBAL float *out, uint n)
{
    SHARED float tmp[REDUCE_WG];
    float acc = 0.0f;
    for (uint i = GLOBAL_ID(0); i < n; i += GLOBAL_SIZE(0))
        acc += x[i] * y[i];
    float s = group_sum(tmp, acc);
    if (LOCAL_ID(0) == 0)
        ATOMIC_ADD_F32(out, s);
}

/* C[M][N] = alpha * A[M][K] B[K][N] + beta * C (C is not read when beta == 0). A work-group computes
 * a TILE x TILE block of C through TILE x TILE tiles of A and B staged in local memory; each of its
 * TILE x TILE/WPT work items keeps WPT results (rows RTS apart) in registers, so every B element
 * loaded from local memory serves WPT multiply-adds. */
KERNEL void vm_sgemm(uint M, uint N, uint K, float alpha, GLOBAL const float *A, GLOBAL const float *B,
                     float beta, GLOBAL float *C)
{
    SHARED float As[TILE][TILE];
    SHARED float Bs[TILE][TILE];
    uint lx = LOCAL_ID(0), ly = LOCAL_ID(1);
    uint col = GROUP_ID(0) * TILE + lx, row0 = GROUP_ID(1) * TILE;
    float acc[WPT];
    for (uint w = 0; w < WPT; w++)
        acc[w] = 0.0f;
    for (uint t = 0; t < K; t += TILE) {
        for (uint w = 0; w < WPT; w++) {
            uint r = ly + w * RTS;
            As[r][lx] = (row0 + r < M && t + lx < K) ? A[(row0 + r) * K + t + lx] : 0.0f;
            Bs[r][lx] = (t + r < K && col < N) ? B[(t + r) * N + col] : 0.0f;
        }
        BARRIER();
        for (uint k = 0; k < TILE; k++) {
            float b = Bs[k][lx];
            for (uint w = 0; w < WPT; w++)
                acc[w] += As[ly + w * RTS][k] * b;
        }
        BARRIER();
    }
    for (uint w = 0; w < WPT; w++) {
        uint row = row0 + ly + w * RTS;
        if (row < M && col < N)
            C[row * N + col] = beta == 0.0f ? alpha * acc[w] : alpha * acc[w] + beta * C[row * N + col];
    }
}

/* out[H][W] = in[H][W] cross-correlated with k[KH][KW], centred (row KH/2, column KW/2), zero
 * padding outside the image. */
KERNEL void vm_conv2d(GLOBAL const float *in, GLOBAL const float *k, GLOBAL float *out, uint H, uint W,
                   uint KH, uint KW)
{
    uint x = GLOBAL_ID(0), y = GLOBAL_ID(1);
    if (x >= W || y >= H)
        return;
    float acc = 0.0f;
    for (uint i = 0; i < KH; i++) {
        int yy = (int)y + (int)i - (int)(KH / 2);
        if (yy < 0 || yy >= (int)H)
            continue;
        for (uint j = 0; j < KW; j++) {
            int xx = (int)x + (int)j - (int)(KW / 2);
            if (xx >= 0 && xx < (int)W)
                acc += in[yy * W + xx] * k[i * KW + j];
        }
    }
    out[y * W + x] = acc;
}

/* out[H][W] = escape iteration count (capped at max_iter) of c = (x0 + px*dx) + i (y0 + py*dy). */
KERNEL void vm_mandelbrot(GLOBAL uint *out, uint W, uint H, float x0, float y0, float dx, float dy,
                       uint max_iter)
{
    uint px = GLOBAL_ID(0), py = GLOBAL_ID(1);
    if (px >= W || py >= H)
        return;
    float cx = x0 + (float)px * dx, cy = y0 + (float)py * dy;
    float x = 0.0f, y = 0.0f;
    uint i = 0;
    while (i < max_iter) {
        float x2 = x * x, y2 = y * y;
        if (x2 + y2 > 4.0f)
            break;
        float xy = x * y;
        y = xy + xy + cy;
        x = x2 - y2 + cx;
        i++;
    }
    out[py * W + px] = i;
}
