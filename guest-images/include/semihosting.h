/* Semihosting calls for arm64 and riscv64 guests.
 *
 * The same operation numbers and parameter blocks on both architectures; only the trap differs:
 *   arm64:   HLT #0xF000 with the operation in w0 and the parameter block address in x1
 *   riscv64: slli x0,x0,0x1f; ebreak; srai x0,x0,7 (uncompressed, 4-byte aligned), a0 = op, a1 = block
 * Spec: https://github.com/ARM-software/abi-aa/blob/main/semihosting/semihosting.rst
 *       https://github.com/riscv-non-isa/riscv-semihosting/blob/main/riscv-semihosting.adoc
 * Freestanding: needs only <stdint.h>. Copy it into your own guest.
 */
#ifndef SEMIHOSTING_H
#define SEMIHOSTING_H

#include <stdint.h>

enum {
    SH_SYS_OPEN = 0x01,
    SH_SYS_CLOSE = 0x02,
    SH_SYS_WRITEC = 0x03,
    SH_SYS_WRITE0 = 0x04,
    SH_SYS_WRITE = 0x05,
    SH_SYS_READ = 0x06,
    SH_SYS_READC = 0x07,
    SH_SYS_ISERROR = 0x08,
    SH_SYS_ISTTY = 0x09,
    SH_SYS_SEEK = 0x0A,
    SH_SYS_FLEN = 0x0C,
    SH_SYS_TMPNAM = 0x0D,
    SH_SYS_REMOVE = 0x0E,
    SH_SYS_RENAME = 0x0F,
    SH_SYS_CLOCK = 0x10,
    SH_SYS_TIME = 0x11,
    SH_SYS_SYSTEM = 0x12,
    SH_SYS_ERRNO = 0x13,
    SH_SYS_GET_CMDLINE = 0x15,
    SH_SYS_HEAPINFO = 0x16,
    SH_SYS_EXIT = 0x18,
    SH_SYS_EXIT_EXTENDED = 0x20,
    SH_SYS_ELAPSED = 0x30,
    SH_SYS_TICKFREQ = 0x31,
};

/* SYS_EXIT reason codes (the first word of its parameter block). */
#define SH_ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define SH_ADP_STOPPED_RUN_TIME_ERROR 0x20023u

/* SYS_OPEN modes (fopen strings "r", "rb", "r+", "r+b", "w", "wb", "w+", "w+b", "a", ...). */
#define SH_OPEN_R 0
#define SH_OPEN_RB 1
#define SH_OPEN_W 4
#define SH_OPEN_WB 5
#define SH_OPEN_A 8

/* One semihosting call: returns the host's result register (x0 / a0). */
static inline long semihost_call(long op, const void *block)
{
#if defined(__aarch64__)
    register long x0 __asm__("x0") = op;
    register const void *x1 __asm__("x1") = block;
    __asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
    return x0;
#elif defined(__riscv)
    register long a0 __asm__("a0") = op;
    register const void *a1 __asm__("a1") = block;
    /* The host recognises the trap only as these three 32-bit instructions; 16-byte alignment keeps
     * them in one page (QEMU checks that). */
    __asm__ volatile(".option push\n"
                     ".balign 16\n" /* before norvc: binutils relaxation needs c.nop padding */
                     ".option norvc\n"
                     "slli x0, x0, 0x1f\n"
                     "ebreak\n"
                     "srai x0, x0, 7\n"
                     ".option pop\n"
                     : "+r"(a0)
                     : "r"(a1)
                     : "memory");
    return a0;
#else
#error "semihosting.h: arm64 and riscv64 only"
#endif
}

/* Print a NUL-terminated string on the host console. */
static inline void semihost_write0(const char *s)
{
    semihost_call(SH_SYS_WRITE0, s);
}

/* Open a host file (name relative to the host's semihosting root); returns a handle or -1. */
static inline long semihost_open(const char *name, long mode)
{
    long len = 0;
    while (name[len])
        len++;
    const long block[3] = {(long)name, mode, len};
    return semihost_call(SH_SYS_OPEN, block);
}

/* Returns the number of bytes NOT written (0 on success). */
static inline long semihost_write(long handle, const void *buf, long len)
{
    const long block[3] = {handle, (long)buf, len};
    return semihost_call(SH_SYS_WRITE, block);
}

/* Returns the number of bytes NOT read (len at end of file). */
static inline long semihost_read(long handle, void *buf, long len)
{
    const long block[3] = {handle, (long)buf, len};
    return semihost_call(SH_SYS_READ, block);
}

static inline long semihost_close(long handle)
{
    const long block[1] = {handle};
    return semihost_call(SH_SYS_CLOSE, block);
}

/* End the run with an exit status (SYS_EXIT with ADP_Stopped_ApplicationExit, 64-bit block form). */
static inline __attribute__((noreturn)) void semihost_exit(int status)
{
    const long block[2] = {SH_ADP_STOPPED_APPLICATION_EXIT, status};
    semihost_call(SH_SYS_EXIT, block);
    for (;;) {
    }
}

#endif /* SEMIHOSTING_H */
