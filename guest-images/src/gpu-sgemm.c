/* SGEMM 256x256 on vm's compute device (picolibc, arm64 and riscv64; vm only).
 *
 * C = A B for 256x256 float matrices from a fixed xorshift32 sequence in [-1, 1): LAUNCHES times on
 * the device, once on the guest CPU (the plain i-k-j loop); every element must agree within the
 * rounding bound of a 256-term sum in another order, 256 * FLT_EPSILON * sum_k |a_ik b_kj|. Prints
 *   gpu-sgemm: 256x256x256 device=<name>
 *   gpu-sgemm: first_us=<t> device_us=<median> kernel_us=<median> cpu_us=<t> speedup=<cpu/device>x
 *   PASS
 * and exits 0; else FAIL and why, exit 1. Times: the device's host clock register (TIME_NS).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "vmcompute.h"

#define N 256
#define LAUNCHES 5

static float A[N * N], B[N * N], C[N * N], ref[N * N];
static uint32_t rng = 0x9e3779b9u;

/* The median of LAUNCHES values (sorts them). */
static uint64_t median(uint64_t *v)
{
    for (int i = 1; i < LAUNCHES; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[LAUNCHES / 2];
}

static float next_float(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return (float)(rng >> 8) * (2.0f / 16777216.0f) - 1.0f;
}

int main(void)
{
    if (!vmc_present()) {
        printf("gpu-sgemm: FAIL: no compute device (vm run --gpu ...)\n");
        return 1;
    }
    char name[64];
    vmc_device_name(name);
    printf("gpu-sgemm: %dx%dx%d device=%s\n", N, N, N, name);
    for (int i = 0; i < N * N; i++) {
        A[i] = next_float();
        B[i] = next_float();
    }

    struct vmc_desc d;
    vmc_init(&d, VMC_OP_RUN_BUILTIN, VMC_K_SGEMM);
    vmc_u32(&d, N);
    vmc_u32(&d, N);
    vmc_u32(&d, N);
    vmc_f32(&d, 1.0f);
    vmc_buf(&d, VMC_IN, A, sizeof A);
    vmc_buf(&d, VMC_IN, B, sizeof B);
    vmc_f32(&d, 0.0f);
    vmc_buf(&d, VMC_INOUT, C, sizeof C);
    uint64_t wall[LAUNCHES], kern[LAUNCHES];
    for (int r = 0; r < LAUNCHES; r++) {
        uint64_t t0 = vmc_time_ns();
        uint32_t err = vmc_submit(&d);
        uint64_t t1 = vmc_time_ns();
        if (err) {
            printf("gpu-sgemm: FAIL: device error %lu\n", (unsigned long)err);
            return 1;
        }
        wall[r] = t1 - t0;
        kern[r] = vmc_read64(VMC_REG_KERNEL_NS);
    }
    uint64_t first_ns = wall[0], device_ns = median(wall), kernel_ns = median(kern);

    uint64_t t0 = vmc_time_ns();
    for (int i = 0; i < N; i++)
        for (int k = 0; k < N; k++) {
            float a = A[i * N + k];
            for (int j = 0; j < N; j++)
                ref[i * N + j] += a * B[k * N + j];
        }
    uint64_t cpu_ns = vmc_time_ns() - t0;
    printf("gpu-sgemm: first_us=%lu device_us=%lu kernel_us=%lu cpu_us=%lu speedup=%lux\n",
           (unsigned long)(first_ns / 1000), (unsigned long)(device_ns / 1000),
           (unsigned long)(kernel_ns / 1000), (unsigned long)(cpu_ns / 1000),
           (unsigned long)(cpu_ns / (device_ns ? device_ns : 1)));

    int bad = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            float bound = 0.0f;
            for (int k = 0; k < N; k++)
                bound += fabsf(A[i * N + k] * B[k * N + j]);
            bound *= N * FLT_EPSILON;
            if (!(fabsf(C[i * N + j] - ref[i * N + j]) <= bound) && bad++ == 0)
                printf("gpu-sgemm: C[%d][%d]: device %.9g, cpu %.9g\n", i, j, (double)C[i * N + j],
                       (double)ref[i * N + j]);
        }
    if (bad) {
        printf("gpu-sgemm: FAIL: %d elements outside the rounding bound\n", bad);
        return 1;
    }
    printf("PASS\n");
    return 0;
}
