/* riscv64 board "virt": the memory map of QEMU's `-M virt`, which vm's riscv64 board copies.
 *
 * Console: NS16550A UART (byte registers). Exit: SiFive test finisher.
 * RISC-V semihosting (semihosting.h) works as well when the host enables it.
 * Freestanding: needs only <stdint.h>. Copy it (with semihosting.h) into your own guest.
 */
#ifndef RISCV64_VIRT_H
#define RISCV64_VIRT_H

#include <stdint.h>

#include "semihosting.h"

#define BOARD_ARCH "riscv64"
#define BOARD_NAME "virt"

#define BOARD_RAM_BASE 0x80000000ul
#define BOARD_RAM_SIZE_DEFAULT (128ul << 20)
#define BOARD_RAW_LOAD_ADDR 0x80000000ul /* raw images (QEMU: -bios none -kernel FILE) */
#define BOARD_COMPUTE_BASE 0x10200000ul

/* A hole in both maps: after the RTC (0x101000..0x102000), before the CLINT (0x2000000).
 * A read faults (QEMU: load access fault; vm: unmapped read). */
#define BOARD_UNMAPPED_ADDR 0x01000000ul

#define NS16550_BASE 0x10000000ul
#define NS16550_THR 0 /* transmit holding register (write) */
#define NS16550_RBR 0 /* receive buffer register (read) */
#define NS16550_LSR 5 /* line status register */
#define NS16550_LSR_DR (1u << 0)   /* data ready */
#define NS16550_LSR_THRE (1u << 5) /* transmit holding register empty */

#define SIFIVE_TEST_BASE 0x00100000ul
#define SIFIVE_TEST_FAIL 0x3333u  /* (code << 16) | FAIL: exit with code */
#define SIFIVE_TEST_PASS 0x5555u  /* exit 0 */
#define SIFIVE_TEST_RESET 0x7777u /* reset the machine */

static inline uint8_t mmio_read8(uintptr_t addr)
{
    return *(volatile uint8_t *)addr;
}

static inline void mmio_write8(uintptr_t addr, uint8_t value)
{
    *(volatile uint8_t *)addr = value;
}

static inline void mmio_write32(uintptr_t addr, uint32_t value)
{
    *(volatile uint32_t *)addr = value;
}

static inline void uart_putc(char c)
{
    while (!(mmio_read8(NS16550_BASE + NS16550_LSR) & NS16550_LSR_THRE)) {
    }
    mmio_write8(NS16550_BASE + NS16550_THR, (uint8_t)c);
}

/* A received byte, or -1 when none is waiting. */
static inline int uart_try_getc(void)
{
    if (!(mmio_read8(NS16550_BASE + NS16550_LSR) & NS16550_LSR_DR))
        return -1;
    return mmio_read8(NS16550_BASE + NS16550_RBR);
}

static inline int uart_getc(void)
{
    int c;
    while ((c = uart_try_getc()) < 0) {
    }
    return c;
}

/* Status 0 writes PASS; any other status (low 16 bits) writes (status << 16) | FAIL. */
static inline __attribute__((noreturn)) void board_exit(int status)
{
    uint32_t code = (uint32_t)status & 0xffffu;
    mmio_write32(SIFIVE_TEST_BASE, code ? (code << 16) | SIFIVE_TEST_FAIL : SIFIVE_TEST_PASS);
    for (;;) {
    }
}

#endif /* RISCV64_VIRT_H */
