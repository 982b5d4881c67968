/* bench.c's CRC-32 workload with a 1 kHz timer interrupt running the whole time (the handler counts
 * ticks): what interrupt delivery costs a compute-bound guest. Prints bench.c's line; the tick count
 * depends on the wall time and is not printed. */
#include "irq.h"

static volatile unsigned ticks;

void on_tick(void) { ticks++; }
void on_uart_rx(void) {}

#define main bench_main
#include "bench.c"
#undef main

int main(void)
{
    irq_init();
    timer_start(1000);
    irq_unmask();
    int status = bench_main();
    irq_mask();
    timer_stop();
    return ticks > 0 ? status : 1;
}
