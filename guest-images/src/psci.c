/* PSCI calls over hvc (arm64 virt): prints what the firmware interface answers, then powers the
 * machine off with SYSTEM_OFF (no semihosting exit: the run must end through PSCI, status 0). */
#include "guest.h"

static int64_t psci(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3)
{
    register uint64_t x0 __asm__("x0") = fn;
    register uint64_t x1 __asm__("x1") = a1;
    register uint64_t x2 __asm__("x2") = a2;
    register uint64_t x3 __asm__("x3") = a3;
    __asm__ volatile("hvc #0" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3) : : "memory");
    return (int64_t)x0;
}

static void show(const char *what, int64_t value)
{
    print(what);
    print(": ");
    if (value < 0) {
        uart_putc('-');
        print_udec((uint64_t)-value);
    } else {
        print_hex((uint64_t)value, 8);
    }
    print("\n");
}

int main(void)
{
    show("PSCI_VERSION", psci(0x84000000, 0, 0, 0));
    show("FEATURES(SYSTEM_OFF)", psci(0x8400000a, 0x84000008, 0, 0));
    show("FEATURES(CPU_ON)", psci(0x8400000a, 0xc4000003, 0, 0));
    show("FEATURES(0x8400001f)", psci(0x8400000a, 0x8400001f, 0, 0));
    show("CPU_ON(cpu 0)", psci(0xc4000003, 0, 0x40080000, 0));
    show("CPU_ON(cpu 1)", psci(0xc4000003, 1, 0x40080000, 0));
    show("AFFINITY_INFO(cpu 0)", psci(0xc4000004, 0, 0, 0));
    show("MIGRATE_INFO_TYPE", psci(0x84000006, 0, 0, 0));
    print("SYSTEM_OFF\n");
    psci(0x84000008, 0, 0, 0);
    print("still running after SYSTEM_OFF\n");
    return 1;
}
