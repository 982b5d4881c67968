/* x86_64 board "pc-flat": vm's own minimal PC (no QEMU equivalent).
 *
 * The CPU starts in 64-bit long mode at the image's entry point with flat addressing and RAM from 0
 * (raw images load at 0x100000). Console: a 16550 UART on the COM1 I/O ports. Exit: an `out` of
 * one byte to port 0xF4 ends the run with that byte as the exit status.
 * Freestanding: needs only <stdint.h>. Copy it into your own guest.
 */
#ifndef X86_64_PC_FLAT_H
#define X86_64_PC_FLAT_H

#include <stdint.h>

#define BOARD_ARCH "x86_64"
#define BOARD_NAME "pc-flat"

#define BOARD_RAM_BASE 0x0ul
#define BOARD_RAM_SIZE_DEFAULT (128ul << 20)
#define BOARD_RAW_LOAD_ADDR 0x100000ul
#define BOARD_COMPUTE_BASE 0xfe000000ul

/* Above RAM (as long as --mem is at most 3.5 GiB) and below the compute window. A read faults. */
#define BOARD_UNMAPPED_ADDR 0xe0000000ul

#define COM1_BASE 0x3f8
#define UART_THR 0 /* transmit holding register (write) */
#define UART_RBR 0 /* receive buffer register (read) */
#define UART_LSR 5 /* line status register */
#define UART_LSR_DR (1u << 0)
#define UART_LSR_THRE (1u << 5)

#define EXIT_PORT 0xf4

static inline void outb(uint16_t port, uint8_t value)
{
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

static inline void uart_putc(char c)
{
    while (!(inb(COM1_BASE + UART_LSR) & UART_LSR_THRE)) {
    }
    outb(COM1_BASE + UART_THR, (uint8_t)c);
}

/* A received byte, or -1 when none is waiting. */
static inline int uart_try_getc(void)
{
    if (!(inb(COM1_BASE + UART_LSR) & UART_LSR_DR))
        return -1;
    return inb(COM1_BASE + UART_RBR);
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
    outb(EXIT_PORT, (uint8_t)status);
    for (;;) {
    }
}

#endif /* X86_64_PC_FLAT_H */
