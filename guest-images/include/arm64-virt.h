/* arm64 board "virt": the memory map of QEMU's `-M virt`, which vm's arm64 board copies.
 *
 * Console: PL011 UART (https://developer.arm.com/documentation/ddi0183/latest).
 * Exit: ARM semihosting SYS_EXIT (QEMU needs `-semihosting-config enable=on`).
 * Freestanding: needs only <stdint.h>. Copy it (with semihosting.h) into your own guest.
 */
#ifndef ARM64_VIRT_H
#define ARM64_VIRT_H

#include <stdint.h>

#include "semihosting.h"

#define BOARD_ARCH "arm64"
#define BOARD_NAME "virt"

#define BOARD_RAM_BASE 0x40000000ul
#define BOARD_RAM_SIZE_DEFAULT (128ul << 20)
#define BOARD_RAW_LOAD_ADDR 0x40080000ul /* raw images, like QEMU's -kernel for a non-ELF file */
#define BOARD_COMPUTE_BASE 0x0b000000ul

/* A hole in both maps: after the platform bus (ends 0x0e000000) and the secure-only RAM
 * (0x0e000000..0x0f000000), before PCIe MMIO (0x10000000). A read faults (QEMU: synchronous
 * external abort; vm: unmapped read). */
#define BOARD_UNMAPPED_ADDR 0x0f000000ul

#define PL011_BASE 0x09000000ul
#define PL011_DR 0x00   /* data register */
#define PL011_FR 0x18   /* flag register */
#define PL011_FR_RXFE (1u << 4) /* receive FIFO empty */
#define PL011_FR_TXFF (1u << 5) /* transmit FIFO full */

static inline uint32_t mmio_read32(uintptr_t addr)
{
    return *(volatile uint32_t *)addr;
}

static inline void mmio_write32(uintptr_t addr, uint32_t value)
{
    *(volatile uint32_t *)addr = value;
}

static inline void uart_putc(char c)
{
    while (mmio_read32(PL011_BASE + PL011_FR) & PL011_FR_TXFF) {
    }
    mmio_write32(PL011_BASE + PL011_DR, (uint8_t)c);
}

/* A received byte, or -1 when none is waiting. */
static inline int uart_try_getc(void)
{
    if (mmio_read32(PL011_BASE + PL011_FR) & PL011_FR_RXFE)
        return -1;
    return (int)(mmio_read32(PL011_BASE + PL011_DR) & 0xff);
}

static inline int uart_getc(void)
{
    int c;
    while ((c = uart_try_getc()) < 0) {
    }
    return c;
}

static inline __attribute__((noreturn)) void board_exit(int status)
{
    semihost_exit(status);
}

#endif /* ARM64_VIRT_H */
