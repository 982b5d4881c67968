/* Pick the board header for the target architecture, plus tiny console helpers.
 *
 * A freestanding guest includes only this: uart_putc/uart_getc/uart_try_getc, board_exit, the
 * BOARD_* addresses, and print/print_hex/print_udec. No libc, no floating point.
 */
#ifndef GUEST_H
#define GUEST_H

#include <stdint.h>

#if defined(__aarch64__)
#include "arm64-virt.h"
#elif defined(__riscv) && __riscv_xlen == 64
#include "riscv64-virt.h"
#elif defined(__x86_64__)
#include "x86_64-pc-flat.h"
#else
#error "guest.h: unsupported architecture (arm64, riscv64, x86_64)"
#endif

static inline void print(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

/* Exactly `digits` lowercase hex digits, most significant first. */
static inline void print_hex(uint64_t value, int digits)
{
    for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4)
        uart_putc("0123456789abcdef"[(value >> shift) & 0xf]);
}

static inline void print_udec(uint64_t value)
{
    char buf[20];
    int n = 0;
    do {
        buf[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n)
        uart_putc(buf[--n]);
}

#endif /* GUEST_H */
