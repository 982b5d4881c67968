/* Timer interrupts: a 100 Hz tick counted by the interrupt handler while main() sleeps in wfi.
 * Prints the count and how many wfi wake-ups it took; exits 0. */
#include "irq.h"

static volatile unsigned ticks;

void on_tick(void) { ticks++; }
void on_uart_rx(void) {}

int main(void)
{
    unsigned wakes = 0;
    irq_init();
    timer_start(100);
    irq_unmask();
    while (ticks < 25) {
        wait_for_interrupt();
        wakes++;
    }
    irq_mask();
    timer_stop();
    print("ticks: ");
    print_udec(ticks);
    print(", every tick woke the wfi: ");
    print(wakes >= 25 ? "yes" : "no");
    print("\n");
    return 0;
}
