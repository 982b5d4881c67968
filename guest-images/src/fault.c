/* Prints one line, then reads BOARD_UNMAPPED_ADDR, which neither vm's board nor QEMU's maps.
 * The read faults: vm reports a guest fault; QEMU takes the exception with no handler installed. */
#include "guest.h"

int main(void)
{
    print("fault: reading unmapped address 0x");
    print_hex(BOARD_UNMAPPED_ADDR, 8);
    print("\n");
    uint32_t value = *(volatile uint32_t *)BOARD_UNMAPPED_ADDR;
    /* Only reached on a board that maps the address. */
    print("fault: read returned 0x");
    print_hex(value, 8);
    print("\n");
    return 1;
}
