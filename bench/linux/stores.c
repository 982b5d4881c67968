/* Store-bound: memset, a strided read-modify-write and memcpy over two 16 MiB heap buffers, 20
   rounds (libc's string functions, so each arch's own best store loops). Prints a checksum. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    size_t n = 16 << 20;
    unsigned char *a = malloc(n), *b = malloc(n);
    unsigned long sum = 0;
    if (a == NULL || b == NULL)
        return 1;
    for (int r = 0; r < 20; r++) {
        memset(a, r, n);
        for (size_t i = 0; i < n; i += 64)
            a[i] ^= (unsigned char)i;
        memcpy(b, a, n);
        sum += b[(size_t)r * 4097 % n];
    }
    printf("%lu\n", sum);
    return 0;
}
