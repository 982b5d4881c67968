/* UART receive interrupts: main() sleeps in wfi; the handler reads each byte that came and echoes it
 * in brackets. A '.' ends the program (exit 0). */
#include "irq.h"

static volatile int done;

void on_tick(void) {}

void on_uart_rx(void)
{
    int c;
    while ((c = uart_try_getc()) >= 0) {
        uart_putc('[');
        uart_putc((char)c);
        uart_putc(']');
        if (c == '.')
            done = 1;
    }
}

int main(void)
{
    print("echo: type, '.' ends\n");
    irq_init();
    uart_rx_irq_enable();
    /* The check and the wfi run masked (wfi still wakes for a pending interrupt), so an interrupt
     * that comes between them cannot leave the CPU asleep with nothing more to come. */
    irq_mask();
    while (!done) {
        wait_for_interrupt();
        irq_unmask();
        irq_mask();
    }
    print("\nbye\n");
    return 0;
}
