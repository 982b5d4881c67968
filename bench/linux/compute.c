/* A compute-bound Linux program with no libc: a CRC-32 table loop and 64-bit mixing over a buffer,
   then exit with the low byte of the result. Freestanding, so that bench/bare_linux.py can run it
   on bare Unicorn with only an exit call. Build: CC -O2 -static -nostdlib -fno-builtin. */
typedef unsigned long u64;
typedef unsigned int u32;

static u32 table[256];
static unsigned char buf[4096];

static void sys_exit(long code) {
#if defined(__aarch64__)
    register long x0 __asm__("x0") = code;
    register long x8 __asm__("x8") = 93;
    __asm__ volatile("svc #0" : : "r"(x0), "r"(x8));
#elif defined(__riscv)
    register long a0 __asm__("a0") = code;
    register long a7 __asm__("a7") = 93;
    __asm__ volatile("ecall" : : "r"(a0), "r"(a7));
#else
    __asm__ volatile("syscall" : : "a"(60L), "D"(code) : "rcx", "r11");
#endif
    for (;;) {}
}

static u64 work(int rounds) {
    for (u32 i = 0; i < 256; i++) {
        u32 c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    for (int i = 0; i < 4096; i++) buf[i] = (unsigned char)(i * 131 + 7);
    u64 mix = 0x9E3779B97F4A7C15ul;
    u32 crc = 0xFFFFFFFFu;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < 4096; i++) crc = table[(crc ^ buf[i]) & 0xFF] ^ (crc >> 8);
        mix ^= crc;
        mix *= 0xBF58476D1CE4E5B9ul;
        mix ^= mix >> 31;
        buf[r & 4095] ^= (unsigned char)mix;
    }
    return mix ^ crc;
}

void _start(void) {
    sys_exit((long)(work(ROUNDS) & 0x7F));
}
