/* SAXPY on vm's compute device (picolibc, arm64 and riscv64; vm only).
 *
 * y = alpha * x + y over n floats (argv[1], default 1048576) from a fixed xorshift32 sequence,
 * applied `launches` times (argv[2], default 5, at most 64) back to back on the device, then as often
 * on the guest CPU; the results must be equal bit for bit (no fused multiply-add on either side).
 * Prints
 *   gpu-saxpy: n=<n> device=<name>
 *   gpu-saxpy: launch_us=<t1>,<t2>,... kernel_us=<k1>,... cpu_us=<one pass on the guest CPU>
 *   PASS
 * and exits 0; on a mismatch or a device error prints FAIL and why, exit 1. Times come from the
 * device's host clock register (TIME_NS): a launch is doorbell to status, copies included.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmcompute.h"

static uint32_t rng = 0x2545f491u;

static float next_float(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return (float)(rng >> 8) * (1.0f / 16777216.0f);
}

int main(int argc, char **argv)
{
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 1u << 20;
    int launches = argc > 2 ? atoi(argv[2]) : 5;
    if (launches < 1 || launches > 64)
        launches = 5;
    if (!vmc_present()) {
        printf("gpu-saxpy: FAIL: no compute device (vm run --gpu ...)\n");
        return 1;
    }
    char name[64];
    vmc_device_name(name);
    printf("gpu-saxpy: n=%lu device=%s\n", (unsigned long)n, name);

    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *ref = malloc(n * sizeof *ref);
    if (!x || !y || !ref) {
        printf("gpu-saxpy: FAIL: out of memory for n=%lu\n", (unsigned long)n);
        return 1;
    }
    for (uint32_t i = 0; i < n; i++) {
        x[i] = next_float();
        y[i] = ref[i] = next_float();
    }
    const float alpha = 2.5f;

    /* Launches back to back: the times are kept and printed afterwards. */
    uint64_t wall[64], kern[64];
    struct vmc_desc d;
    vmc_init(&d, VMC_OP_RUN_BUILTIN, VMC_K_SAXPY);
    vmc_f32(&d, alpha);
    vmc_buf(&d, VMC_IN, x, n * sizeof *x);
    vmc_buf(&d, VMC_INOUT, y, n * sizeof *y);
    vmc_u32(&d, n);
    for (int r = 0; r < launches; r++) {
        uint64_t t0 = vmc_time_ns();
        uint32_t err = vmc_submit(&d);
        uint64_t t1 = vmc_time_ns();
        if (err) {
            printf("gpu-saxpy: FAIL: device error %lu\n", (unsigned long)err);
            return 1;
        }
        wall[r] = t1 - t0;
        kern[r] = vmc_read64(VMC_REG_KERNEL_NS);
    }

    uint64_t t0 = vmc_time_ns();
    for (int r = 0; r < launches; r++)
        for (uint32_t i = 0; i < n; i++)
            ref[i] = alpha * x[i] + ref[i];
    uint64_t cpu_ns = (vmc_time_ns() - t0) / (uint64_t)launches;

    printf("gpu-saxpy: launch_us=");
    for (int r = 0; r < launches; r++)
        printf("%s%lu", r ? "," : "", (unsigned long)(wall[r] / 1000));
    printf(" kernel_us=");
    for (int r = 0; r < launches; r++)
        printf("%s%lu", r ? "," : "", (unsigned long)(kern[r] / 1000));
    printf(" cpu_us=%lu\n", (unsigned long)(cpu_ns / 1000));

    uint32_t bad = 0, first = 0;
    for (uint32_t i = 0; i < n; i++)
        if (memcmp(&y[i], &ref[i], sizeof y[i]) != 0 && bad++ == 0)
            first = i;
    if (bad) {
        printf("gpu-saxpy: FAIL: %lu of %lu differ, first at %lu\n", (unsigned long)bad, (unsigned long)n,
               (unsigned long)first);
        return 1;
    }
    printf("PASS\n");
    return 0;
}
