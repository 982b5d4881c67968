/* Memory: anonymous and file mappings, mprotect with real permissions (SIGSEGV with si_addr and
   si_code), munmap, mremap, MAP_SHARED across fork, brk, madvise. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static sigjmp_buf env;
static volatile void *fault_addr;
static volatile int fault_code;

static void on_segv(int sig, siginfo_t *info, void *uc) {
    (void)uc;
    fault_addr = info->si_addr;
    fault_code = info->si_code;
    siglongjmp(env, sig);
}

static void try_write(const char *what, volatile char *p) {
    fault_addr = 0;
    int sig = sigsetjmp(env, 1);
    if (sig == 0) {
        *p = 1;
        printf("%s: written\n", what);
    } else {
        printf("%s: signal %d code %d at offset %ld\n", what, sig, fault_code, (long)((char *)fault_addr - (char *)p));
    }
}

/* int f(void) { return 42; } for each arch */
#if defined(__aarch64__)
static const unsigned char RETURN_42[] = {0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6};
#elif defined(__riscv)
static const unsigned char RETURN_42[] = {0x13, 0x05, 0xa0, 0x02, 0x67, 0x80, 0x00, 0x00};
#else
static const unsigned char RETURN_42[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3};
#endif

static void try_call(const char *what, char *code) {
    fault_addr = 0;
    int sig = sigsetjmp(env, 1);
    if (sig == 0) {
        __builtin___clear_cache(code, code + sizeof RETURN_42);
        printf("%s: returned %d\n", what, ((int (*)(void))code)());
    } else {
        printf("%s: signal %d code %d at offset %ld\n", what, sig, fault_code, (long)((char *)fault_addr - code));
    }
}

int main(int argc, char **argv) {
    struct sigaction sa = {0};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    long page = sysconf(_SC_PAGESIZE);
    printf("page %ld\n", page);
    char *m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("anon zero %d\n", m[100] == 0 && m[3 * page] == 0);
    strcpy(m, "mapped");
    try_write("rw page", m + 10);
    m[page + 8] = 3;                  /* written, then read-only: the write must not stick */
    mprotect(m + page, page, PROT_READ);
    try_write("read-only page", m + page + 8);
    printf("still readable %d\n", m[page + 8]);
    mprotect(m + page, page, PROT_READ | PROT_WRITE);
    try_write("writable again", m + page + 8);
    munmap(m + 2 * page, page);
    try_write("unmapped page", m + 2 * page + 16);
    char *r = mremap(m, page, 8 * page, MREMAP_MAYMOVE);
    printf("mremap kept %s\n", r);
    r[7 * page] = 5;
    printf("mremap grown %d\n", r[7 * page]);
    /* a file mapping */
    char path[] = "/tmp/vm-mmap-XXXXXX";
    int fd = mkstemp(path);
    write(fd, "file contents here", 18);
    char *f = mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("file map: %.13s\n", f);
    try_write("file read-only", f);
    char *fs = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    fs[0] = 'F';
    msync(fs, page, MS_SYNC);
    char back[5] = {0};
    pread(fd, back, 4, 0);
    printf("shared file write: %s\n", back);
    unlink(path);
    /* shared anonymous memory across fork */
    int *shared = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int *priv = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        *shared = 42;
        *priv = 42;
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    printf("after fork: shared %d private %d\n", *shared, *priv);
    /* brk */
    char *b0 = sbrk(0);
    char *b1 = sbrk(3 * page);
    memset(b1, 7, 3 * page);
    printf("sbrk grew %d value %d\n", (int)((char *)sbrk(0) - b0), b1[2 * page]);
    /* madvise DONTNEED zeroes private anonymous memory */
    priv[0] = 9;
    madvise(priv, page, MADV_DONTNEED);
    printf("madvise dontneed %d\n", priv[0]);
    try_write("null pointer", (char *)0);
    /* executing data is refused; code written, then made executable, runs */
    char *code = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memcpy(code, RETURN_42, sizeof RETURN_42);
    try_call("data page", code);
    mprotect(code, page, PROT_READ | PROT_EXEC);
    try_call("made executable", code);
    /* a working set larger than a new TLB's 256 pages, many times over */
    size_t big = 8 << 20;
    unsigned char *x = malloc(big), *y = malloc(big);
    unsigned long sum = 0;
    for (int r = 0; r < 3; r++) {
        memset(x, r + 1, big);
        for (size_t i = 0; i < big; i += 4096)
            x[i] ^= (unsigned char)(i >> 12);
        memcpy(y, x, big);
        sum += y[(size_t)r * 40961 % big] + y[big - 1 - r];
    }
    printf("big copies %lu\n", sum);
    return 0;
}
