/* The guest side of vm's compute device: registers, command descriptors, and helpers to run a
 * kernel on the host's compute device. The ABI is docs/compute-device.md. vm only (QEMU has no such
 * device). Freestanding: needs only <stdint.h> and <stddef.h>; the MMU must be off (guest physical
 * addresses = the pointers the program uses). Copy it into your own guest.
 *
 *     struct vmc_desc d;
 *     vmc_init(&d, VMC_OP_RUN_BUILTIN, VMC_K_SAXPY);
 *     vmc_f32(&d, 2.0f); vmc_buf(&d, VMC_IN, x, n * 4); vmc_buf(&d, VMC_INOUT, y, n * 4); vmc_u32(&d, n);
 *     uint32_t err = vmc_submit(&d);      // 0, or a VMC_E_* code; runs before it returns
 */
#ifndef VMCOMPUTE_H
#define VMCOMPUTE_H

#include <stddef.h>
#include <stdint.h>

#if defined(__aarch64__)
#define VMC_BASE 0x0b000000ul
#elif defined(__riscv)
#define VMC_BASE 0x10200000ul
#elif defined(__x86_64__)
#define VMC_BASE 0xfe000000ul
#else
#error "vm's compute device exists on arm64, riscv64 and x86_64 boards"
#endif

#define VMC_MAGIC 0x44434d56u          /* "VMCD" */
#define VMC_DESC_MAGIC 0x51454d56u     /* "VMEQ" */
#define VMC_VERSION 1u
#define VMC_MAX_ARGS 16

/* Registers (32-bit; a 64-bit value is a LO/HI pair at +0/+4). */
enum {
    VMC_REG_MAGIC = 0x00, VMC_REG_VERSION = 0x04, VMC_REG_FEATURES = 0x08, VMC_REG_DEVICE_COUNT = 0x0c,
    VMC_REG_DEVICE_INDEX = 0x10, VMC_REG_DEVICE_KIND = 0x14, VMC_REG_DEVICE_UNITS = 0x18,
    VMC_REG_MAX_ARGS = 0x1c, VMC_REG_DEVICE_MEM = 0x20, VMC_REG_MAX_BUFFER = 0x28, VMC_REG_DESC = 0x30,
    VMC_REG_DOORBELL = 0x38, VMC_REG_STATUS = 0x3c, VMC_REG_ERROR = 0x40, VMC_REG_ERROR_ARG = 0x44,
    VMC_REG_COMMANDS = 0x48, VMC_REG_TIME_NS = 0x50, VMC_REG_KERNEL_NS = 0x58, VMC_REG_TOTAL_NS = 0x60,
    VMC_REG_MAX_FLOPS = 0x68, VMC_REG_DEVICE_NAME = 0x100, /* 64 bytes, NUL-padded */
};
enum { VMC_FEATURE_BUILTIN = 1, VMC_FEATURE_SOURCE = 2, VMC_FEATURE_DEVICE = 4 };
enum { VMC_KIND_NONE, VMC_KIND_CUDA, VMC_KIND_ROCM, VMC_KIND_NPU, VMC_KIND_GPU, VMC_KIND_CPU };
enum { VMC_DOORBELL_RUN = 1 };
enum { VMC_STATUS_IDLE, VMC_STATUS_DONE, VMC_STATUS_ERROR };
enum {
    VMC_E_NONE, VMC_E_BAD_ACCESS, VMC_E_BAD_DOORBELL, VMC_E_BAD_DESCRIPTOR, VMC_E_BAD_OPCODE,
    VMC_E_UNKNOWN_KERNEL, VMC_E_BAD_ARG_COUNT, VMC_E_BAD_ARG, VMC_E_BAD_BUFFER, VMC_E_TOO_LARGE,
    VMC_E_BUFFER_TOO_SMALL, VMC_E_BAD_LAUNCH, VMC_E_NO_DEVICE, VMC_E_DENIED, VMC_E_KERNEL_FAILED,
};
enum { VMC_OP_RUN_BUILTIN = 1, VMC_OP_RUN_SOURCE = 2 };
/* Built-in kernels (vm gpu: vmcli/gpu/kernels); arguments in this order:
 *   VADD       in a[n], in b[n], out c[n], u32 n
 *   SAXPY      f32 alpha, in x[n], inout y[n], u32 n
 *   DOT        in x[n], in y[n], out out[1], u32 n
 *   REDUCE_SUM in x[n], out out[1], u32 n
 *   SGEMM      u32 M, u32 N, u32 K, f32 alpha, in A[MK], in B[KN], f32 beta, inout C[MN]
 *   CONV2D     in in[HW], in k[KH KW], out out[HW], u32 H, u32 W, u32 KH, u32 KW
 *   MANDELBROT out out[WH] (u32), u32 W, u32 H, f32 x0, f32 y0, f32 dx, f32 dy, u32 max_iter */
enum {
    VMC_K_VADD = 1, VMC_K_SAXPY, VMC_K_DOT, VMC_K_REDUCE_SUM, VMC_K_SGEMM, VMC_K_CONV2D, VMC_K_MANDELBROT,
};
/* Argument types. */
enum { VMC_IN = 1, VMC_OUT = 2, VMC_INOUT = 3, VMC_U32 = 4, VMC_I32 = 5, VMC_F32 = 6 };

struct vmc_arg {
    uint32_t type;          /* VMC_IN .. VMC_F32 */
    uint32_t reserved;      /* 0 */
    uint64_t value;         /* buffer: guest physical address; scalar: its 32 bits (f32: the bits) */
    uint64_t len;           /* buffer: bytes; scalar: 0 */
};

struct vmc_desc {           /* 480 bytes, 8-byte aligned */
    uint32_t magic;         /* VMC_DESC_MAGIC */
    uint32_t opcode;        /* VMC_OP_* */
    uint32_t kernel;        /* built-in: VMC_K_*; source: 0 */
    uint32_t nargs;
    uint64_t source, source_len;   /* source: OpenCL C text (no NUL needed) */
    uint64_t name;                 /* source: kernel function name */
    uint32_t name_len, work_dim;   /* source: 1..3 */
    uint64_t global[3], local[3];  /* source: launch size (local all 0: the driver picks); built-in: 0 */
    struct vmc_arg args[VMC_MAX_ARGS];
};

static inline volatile uint32_t *vmc_reg(uint32_t offset)
{
    return (volatile uint32_t *)(VMC_BASE + offset);
}

static inline uint32_t vmc_read32(uint32_t offset) { return *vmc_reg(offset); }
static inline void vmc_write32(uint32_t offset, uint32_t value) { *vmc_reg(offset) = value; }

/* LO first: reading TIME_NS's LO latches its HI. */
static inline uint64_t vmc_read64(uint32_t offset)
{
    uint64_t lo = vmc_read32(offset);
    return lo | (uint64_t)vmc_read32(offset + 4) << 32;
}

static inline uint64_t vmc_time_ns(void) { return vmc_read64(VMC_REG_TIME_NS); }

/* 1 when the device answers and has a host device behind it. */
static inline int vmc_present(void)
{
    return vmc_read32(VMC_REG_MAGIC) == VMC_MAGIC && vmc_read32(VMC_REG_VERSION) == VMC_VERSION
        && (vmc_read32(VMC_REG_FEATURES) & VMC_FEATURE_DEVICE);
}

/* The host device's name into buf (at least 64 bytes). */
static inline void vmc_device_name(char *buf)
{
    for (uint32_t i = 0; i < 64; i += 4) {
        uint32_t w = vmc_read32(VMC_REG_DEVICE_NAME + i);
        for (int b = 0; b < 4; b++)
            buf[i + b] = (char)(w >> (8 * b));
    }
    buf[63] = 0;
}

static inline void vmc_init(struct vmc_desc *d, uint32_t opcode, uint32_t kernel)
{
    unsigned char *p = (unsigned char *)d;
    for (size_t i = 0; i < sizeof *d; i++)
        p[i] = 0;
    d->magic = VMC_DESC_MAGIC;
    d->opcode = opcode;
    d->kernel = kernel;
}

static inline void vmc_arg(struct vmc_desc *d, uint32_t type, uint64_t value, uint64_t len)
{
    if (d->nargs < VMC_MAX_ARGS) {
        d->args[d->nargs].type = type;
        d->args[d->nargs].value = value;
        d->args[d->nargs].len = len;
    }
    d->nargs++;             /* one too many is caught by the device (VMC_E_BAD_ARG_COUNT) */
}

static inline void vmc_buf(struct vmc_desc *d, uint32_t dir, const void *p, size_t len)
{
    vmc_arg(d, dir, (uint64_t)(uintptr_t)p, len);
}

static inline void vmc_u32(struct vmc_desc *d, uint32_t v) { vmc_arg(d, VMC_U32, v, 0); }
static inline void vmc_i32(struct vmc_desc *d, int32_t v) { vmc_arg(d, VMC_I32, (uint32_t)v, 0); }

static inline void vmc_f32(struct vmc_desc *d, float v)
{
    union { float f; uint32_t u; } bits = { .f = v };
    vmc_arg(d, VMC_F32, bits.u, 0);
}

/* Run the command; 0 on success, else the VMC_E_* code (ERROR_ARG names the argument). */
static inline uint32_t vmc_submit(const struct vmc_desc *d)
{
    uint64_t addr = (uint64_t)(uintptr_t)d;
    /* The descriptor and buffers must be in memory before the device reads them. */
#if defined(__aarch64__)
    __asm__ volatile("dsb sy" ::: "memory");
#elif defined(__riscv)
    __asm__ volatile("fence rw, rw" ::: "memory");
#else
    __asm__ volatile("mfence" ::: "memory");
#endif
    vmc_write32(VMC_REG_DESC, (uint32_t)addr);
    vmc_write32(VMC_REG_DESC + 4, (uint32_t)(addr >> 32));
    vmc_write32(VMC_REG_DOORBELL, VMC_DOORBELL_RUN);
    uint32_t status = vmc_read32(VMC_REG_STATUS);
    __asm__ volatile("" ::: "memory");    /* results written by the device are read after this */
    return status == VMC_STATUS_DONE ? VMC_E_NONE : vmc_read32(VMC_REG_ERROR);
}

#endif
