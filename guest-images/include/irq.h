/* Interrupts for the device guests (tick, echo): one API over the GICv2 + generic timer (arm64 virt)
 * and the PLIC + CLINT (riscv64 virt, M-mode). Link with arch/<arch>/irq.S.
 *
 *   irq_init();                      vectors installed, controller on, everything masked
 *   timer_start(hz);                 a periodic tick: on_tick() runs in the interrupt handler
 *   uart_rx_irq_enable();            on_uart_rx() runs while input waits (it must read it)
 *   irq_unmask(); wait_for_interrupt(); irq_mask();
 */
#ifndef IRQ_H
#define IRQ_H

#include <stdint.h>

#include "guest.h"

void on_tick(void);
void on_uart_rx(void);

#if defined(__aarch64__)
#define GICD_BASE 0x08000000ul
#define GICC_BASE 0x08010000ul
#define GICD_CTLR 0x000
#define GICD_ISENABLER 0x100
#define GICD_IPRIORITYR 0x400
#define GICC_CTLR 0x00
#define GICC_PMR 0x04
#define GICC_IAR 0x0C
#define GICC_EOIR 0x10
#define VIRT_TIMER_ID 27
#define UART_ID (32 + 1)
#define PL011_IMSC 0x38
#define PL011_ICR 0x44
#define PL011_RXIM (1u << 4)
#define PL011_RTIM (1u << 6)

extern char vectors[];
static uint64_t timer_period;

static inline void gic_enable(unsigned id)
{
    *(volatile uint8_t *)(GICD_BASE + GICD_IPRIORITYR + id) = 0xa0;
    mmio_write32(GICD_BASE + GICD_ISENABLER + 4 * (id / 32), 1u << (id % 32));
}

static inline void irq_init(void)
{
    __asm__ volatile("msr vbar_el1, %0; isb" : : "r"(vectors));
    mmio_write32(GICD_BASE + GICD_CTLR, 1);
    mmio_write32(GICC_BASE + GICC_PMR, 0xf0);
    mmio_write32(GICC_BASE + GICC_CTLR, 1);
}

static inline void irq_unmask(void) { __asm__ volatile("msr daifclr, #2" ::: "memory"); }
static inline void irq_mask(void) { __asm__ volatile("msr daifset, #2" ::: "memory"); }
static inline void wait_for_interrupt(void) { __asm__ volatile("wfi" ::: "memory"); }

static inline void timer_start(unsigned hz)
{
    uint64_t freq;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(freq));
    timer_period = freq / hz;
    gic_enable(VIRT_TIMER_ID);
    __asm__ volatile("msr cntv_tval_el0, %0; msr cntv_ctl_el0, %1; isb" : : "r"(timer_period), "r"(1ul));
}

static inline void timer_stop(void) { __asm__ volatile("msr cntv_ctl_el0, %0; isb" : : "r"(0ul)); }

static inline void uart_rx_irq_enable(void)
{
    gic_enable(UART_ID);
    mmio_write32(PL011_BASE + PL011_IMSC, PL011_RXIM | PL011_RTIM);
}

void irq_handler(void)
{
    uint32_t iar = mmio_read32(GICC_BASE + GICC_IAR);
    uint32_t id = iar & 0x3ff;
    if (id == VIRT_TIMER_ID) {
        __asm__ volatile("msr cntv_tval_el0, %0; isb" : : "r"(timer_period));
        on_tick();
    } else if (id == UART_ID) {
        on_uart_rx();
    }
    if (id < 1020)
        mmio_write32(GICC_BASE + GICC_EOIR, iar);
}

void sync_handler(uint64_t esr, uint64_t elr, uint64_t far)
{
    print("unexpected exception: esr=");
    print_hex(esr, 8);
    print(" elr=");
    print_hex(elr, 16);
    print(" far=");
    print_hex(far, 16);
    print("\n");
    board_exit(99);
}

#elif defined(__riscv)
#define CLINT_BASE 0x02000000ul
#define CLINT_MTIMECMP 0x4000
#define CLINT_MTIME 0xbff8
#define TIMEBASE_HZ 10000000ul
#define PLIC_BASE 0x0c000000ul
#define PLIC_ENABLE_M 0x2000
#define PLIC_THRESHOLD_M 0x200000
#define PLIC_CLAIM_M 0x200004
#define UART_SOURCE 10
#define MIE_MTIE (1ul << 7)
#define MIE_MEIE (1ul << 11)
#define NS16550_IER 1
#define MCAUSE_INTERRUPT (1ul << 63)

void trap_entry(void);
static uint64_t timer_period;

static inline uint64_t mtime(void) { return *(volatile uint64_t *)(CLINT_BASE + CLINT_MTIME); }
static inline void set_mtimecmp(uint64_t v) { *(volatile uint64_t *)(CLINT_BASE + CLINT_MTIMECMP) = v; }

static inline void irq_init(void)
{
    __asm__ volatile("csrw mtvec, %0" : : "r"(trap_entry));
    mmio_write32(PLIC_BASE + PLIC_THRESHOLD_M, 0);
}

static inline void irq_unmask(void) { __asm__ volatile("csrsi mstatus, 8" ::: "memory"); }
static inline void irq_mask(void) { __asm__ volatile("csrci mstatus, 8" ::: "memory"); }
static inline void wait_for_interrupt(void) { __asm__ volatile("wfi" ::: "memory"); }

static inline void timer_start(unsigned hz)
{
    timer_period = TIMEBASE_HZ / hz;
    set_mtimecmp(mtime() + timer_period);
    __asm__ volatile("csrs mie, %0" : : "r"(MIE_MTIE));
}

static inline void timer_stop(void) { __asm__ volatile("csrc mie, %0" : : "r"(MIE_MTIE)); }

static inline void uart_rx_irq_enable(void)
{
    mmio_write32(PLIC_BASE + 4 * UART_SOURCE, 1);
    mmio_write32(PLIC_BASE + PLIC_ENABLE_M, 1u << UART_SOURCE);
    mmio_write8(NS16550_BASE + NS16550_IER, 1);
    __asm__ volatile("csrs mie, %0" : : "r"(MIE_MEIE));
}

uint64_t trap_handler(uint64_t mcause, uint64_t mepc, uint64_t mtval)
{
    if (mcause == (MCAUSE_INTERRUPT | 7)) {
        set_mtimecmp(mtime() + timer_period);
        on_tick();
    } else if (mcause == (MCAUSE_INTERRUPT | 11)) {
        uint32_t source = *(volatile uint32_t *)(PLIC_BASE + PLIC_CLAIM_M);
        if (source == UART_SOURCE)
            on_uart_rx();
        *(volatile uint32_t *)(PLIC_BASE + PLIC_CLAIM_M) = source;
    } else {
        print("unexpected trap: mcause=");
        print_hex(mcause, 16);
        print(" mepc=");
        print_hex(mepc, 16);
        print(" mtval=");
        print_hex(mtval, 16);
        print("\n");
        board_exit(99);
    }
    return mepc;
}
#endif

#endif /* IRQ_H */
