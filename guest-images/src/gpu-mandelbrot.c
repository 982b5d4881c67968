/* The Mandelbrot set on vm's compute device, saved as a picture (picolibc, arm64 and riscv64; vm only).
 *
 * Escape counts (at most 255 iterations) of a 640x480 view of [-2.2, 0.9] x [-1.1625, 1.1625]
 * computed on the device and again on the guest CPU with the same float operations in the same
 * order (no fused multiply-add), so the two must be equal pixel for pixel. The counts are written as
 * a binary PGM (P5, maxval 255: pixel = count) to argv[1] (default "mandelbrot.pgm"), which semihosting
 * opens below `vm run --semihosting-root DIR`. Prints
 *   gpu-mandelbrot: 640x480 max_iter=255 device=<name>
 *   gpu-mandelbrot: device_us=<t> kernel_us=<k> cpu_us=<t>
 *   gpu-mandelbrot: wrote <file>
 *   PASS
 * Exit 0; 1 (FAIL) on a mismatch or device error; 2 when the file cannot be written.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vmcompute.h"

#define W 640
#define H 480
#define MAX_ITER 255

static uint32_t counts[W * H], ref[W * H];
static unsigned char pixels[W * H];

int main(int argc, char **argv)
{
    const char *out_name = argc > 1 ? argv[1] : "mandelbrot.pgm";
    const float x0 = -2.2f, y0 = -1.1625f, dx = 3.1f / W, dy = 2.325f / H;
    if (!vmc_present()) {
        printf("gpu-mandelbrot: FAIL: no compute device (vm run --gpu ...)\n");
        return 1;
    }
    char name[64];
    vmc_device_name(name);
    printf("gpu-mandelbrot: %dx%d max_iter=%d device=%s\n", W, H, MAX_ITER, name);

    struct vmc_desc d;
    vmc_init(&d, VMC_OP_RUN_BUILTIN, VMC_K_MANDELBROT);
    vmc_buf(&d, VMC_OUT, counts, sizeof counts);
    vmc_u32(&d, W);
    vmc_u32(&d, H);
    vmc_f32(&d, x0);
    vmc_f32(&d, y0);
    vmc_f32(&d, dx);
    vmc_f32(&d, dy);
    vmc_u32(&d, MAX_ITER);
    uint64_t t0 = vmc_time_ns();
    uint32_t err = vmc_submit(&d);
    uint64_t t1 = vmc_time_ns();
    if (err) {
        printf("gpu-mandelbrot: FAIL: device error %lu\n", (unsigned long)err);
        return 1;
    }
    uint64_t device_ns = t1 - t0, kernel_ns = vmc_read64(VMC_REG_KERNEL_NS);

    /* The kernel's loop (vmcli/gpu/kernels/library.cl, vm_mandelbrot), operation for operation. */
    t0 = vmc_time_ns();
    for (uint32_t py = 0; py < H; py++)
        for (uint32_t px = 0; px < W; px++) {
            float cx = x0 + (float)px * dx, cy = y0 + (float)py * dy;
            float x = 0.0f, y = 0.0f;
            uint32_t i = 0;
            while (i < MAX_ITER) {
                float x2 = x * x, y2 = y * y;
                if (x2 + y2 > 4.0f)
                    break;
                float xy = x * y;
                y = xy + xy + cy;
                x = x2 - y2 + cx;
                i++;
            }
            ref[py * W + px] = i;
        }
    t1 = vmc_time_ns();
    printf("gpu-mandelbrot: device_us=%lu kernel_us=%lu cpu_us=%lu\n", (unsigned long)(device_ns / 1000),
           (unsigned long)(kernel_ns / 1000), (unsigned long)((t1 - t0) / 1000));
    if (memcmp(counts, ref, sizeof counts) != 0) {
        int bad = 0;
        for (int i = 0; i < W * H; i++)
            bad += counts[i] != ref[i];
        printf("gpu-mandelbrot: FAIL: %d of %d pixels differ\n", bad, W * H);
        return 1;
    }

    for (int i = 0; i < W * H; i++)
        pixels[i] = (unsigned char)counts[i];
    FILE *f = fopen(out_name, "wb");
    if (!f) {
        printf("gpu-mandelbrot: cannot write %s (vm run --semihosting-root DIR)\n", out_name);
        return 2;
    }
    fprintf(f, "P5\n%d %d\n%d\n", W, H, MAX_ITER);
    size_t written = fwrite(pixels, 1, sizeof pixels, f);
    if (fclose(f) != 0 || written != sizeof pixels) {
        printf("gpu-mandelbrot: cannot write %s\n", out_name);
        return 2;
    }
    printf("gpu-mandelbrot: wrote %s\n", out_name);
    printf("PASS\n");
    return 0;
}
