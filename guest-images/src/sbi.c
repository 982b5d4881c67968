/* An S-mode payload for OpenSBI fw_jump (riscv64 virt, at 0x80200000): SBI calls (base extension,
 * probing, the timer with its S-mode interrupt, 10 ticks with wfi), then system reset extension
 * shutdown, which ends the run with status 0 through the test finisher. */
#include "guest.h"

struct sbiret {
    long error;
    long value;
};

static struct sbiret sbi(long ext, long fid, unsigned long a0, unsigned long a1)
{
    register unsigned long r0 __asm__("a0") = a0;
    register unsigned long r1 __asm__("a1") = a1;
    register long r6 __asm__("a6") = fid;
    register long r7 __asm__("a7") = ext;
    __asm__ volatile("ecall" : "+r"(r0), "+r"(r1) : "r"(r6), "r"(r7) : "memory");
    return (struct sbiret){(long)r0, (long)r1};
}

#define EXT_BASE 0x10
#define EXT_TIME 0x54494D45
#define EXT_SRST 0x53525354
#define TICK 100000 /* 10 ms at the 10 MHz timebase */

static volatile unsigned ticks;

static inline unsigned long rdtime(void)
{
    unsigned long t;
    __asm__ volatile("rdtime %0" : "=r"(t));
    return t;
}

void __attribute__((interrupt("supervisor"))) s_trap(void)
{
    unsigned long cause;
    __asm__ volatile("csrr %0, scause" : "=r"(cause));
    if (cause == ((1ul << 63) | 5)) {
        ticks++;
        sbi(EXT_TIME, 0, rdtime() + TICK, 0);
    } else {
        print("unexpected trap\n");
        sbi(EXT_SRST, 0, 0, 1);
    }
}

static void show(const char *what, long value)
{
    print(what);
    print(": ");
    if (value < 0) {
        uart_putc('-');
        print_udec((unsigned long)-value);
    } else {
        print_hex((unsigned long)value, 8);
    }
    print("\n");
}

int main(void)
{
    show("spec version", sbi(EXT_BASE, 0, 0, 0).value);
    show("implementation id", sbi(EXT_BASE, 1, 0, 0).value);
    show("probe TIME", sbi(EXT_BASE, 3, EXT_TIME, 0).value);
    show("probe SRST", sbi(EXT_BASE, 3, EXT_SRST, 0).value);
    show("probe 0x12345678", sbi(EXT_BASE, 3, 0x12345678, 0).value);
    show("unknown extension", sbi(0x12345678, 0, 0, 0).error);

    __asm__ volatile("csrw stvec, %0" : : "r"(s_trap));
    __asm__ volatile("csrs sie, %0" : : "r"(1ul << 5));
    sbi(EXT_TIME, 0, rdtime() + TICK, 0);
    __asm__ volatile("csrsi sstatus, 2");
    while (ticks < 10)
        __asm__ volatile("wfi");
    __asm__ volatile("csrci sstatus, 2");
    print("timer ticks: ");
    print_udec(ticks);
    print("\nshutdown\n");
    sbi(EXT_SRST, 0, 0, 0);
    print("still running after shutdown\n");
    return 1;
}
