/* Compute-bound benchmark: CRC-32 (IEEE, table driven) over a 4 KiB buffer, BENCH_ROUNDS times,
 * mixing each CRC into a 64-bit accumulator and one byte of the buffer so that no round repeats.
 * Same algorithm and same output on every architecture:
 *   bench: rounds=<R> crc32=<8 hex> mix=<16 hex>
 */
#include "guest.h"

#ifndef BENCH_ROUNDS
#define BENCH_ROUNDS 100000u
#endif
#define BENCH_BYTES 4096u

static uint32_t crc_table[256];
static uint8_t buf[BENCH_BYTES];

static void make_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

/* zlib's crc32(crc, p, n). */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, uint32_t n)
{
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

int main(void)
{
    make_table();
    uint32_t x = 0x12345678u; /* xorshift32 fills the buffer */
    for (uint32_t i = 0; i < BENCH_BYTES; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
    uint32_t crc = 0;
    uint64_t mix = 0x9e3779b97f4a7c15u;
    for (uint32_t r = 0; r < BENCH_ROUNDS; r++) {
        crc = crc32_update(crc, buf, BENCH_BYTES);
        mix = (mix ^ crc) * 0x100000001b3u; /* FNV-1a 64-bit prime */
        mix ^= mix >> 29;
        buf[r & (BENCH_BYTES - 1)] ^= (uint8_t)mix;
    }
    print("bench: rounds=");
    print_udec(BENCH_ROUNDS);
    print(" crc32=");
    print_hex(crc, 8);
    print(" mix=");
    print_hex(mix, 16);
    print("\n");
    return 0;
}
