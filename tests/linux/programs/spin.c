/* Spins without system calls until a signal arrives: with "handler", a SIGINT handler ends the spin;
   without, SIGINT's default action ends the program. Prints "ready" first, so the sender knows. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t got;
static void on_int(int sig) { got = sig; }

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "handler") == 0) signal(SIGINT, on_int);
    printf("ready\n");
    fflush(stdout);
    volatile unsigned long spins = 0;
    while (!got) spins++;
    printf("handler ran for signal %d after spinning\n", got);
    return 3;
}
