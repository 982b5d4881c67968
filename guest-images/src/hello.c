/* Prints "Hello from <arch>" and exits 0. */
#include "guest.h"

int main(void)
{
    print("Hello from " BOARD_ARCH "\n");
    return 0;
}
