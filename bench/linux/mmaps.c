/* Mapping-bound: 64 mappings kept (read-only and writable by turns, so the map has many pieces),
   then 5,000 times a 64 KiB anonymous mapping written once and unmapped. Prints microseconds per
   mmap and munmap pair, timed by the program itself. */
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

int main(void)
{
    struct timespec a, b;
    int n = 5000;
    for (int i = 0; i < 64; i++)
        mmap(NULL, 4096 * (i + 1), PROT_READ | (i % 2 ? PROT_WRITE : 0), MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++) {
        char *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return 1;
        p[i % 65536] = 1;
        munmap(p, 65536);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / n);
    return 0;
}
