/* The C half of the start files: arch/<arch>/start.S sets the stack, zeroes .bss and calls this. */
#include "guest.h"

int main(void);
void _cstart(void) __attribute__((noreturn));

void _cstart(void)
{
    board_exit(main());
}
