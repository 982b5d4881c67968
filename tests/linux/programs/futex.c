/* futex directly: a value mismatch (EAGAIN), a timeout (ETIMEDOUT), CMP_REQUEUE of waiters to another
   word, WAKE_OP, bitsets; and POSIX timers, timerfd and clocks. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static uint32_t f1, f2, f3;
static atomic_int woken;

static long futex(uint32_t *addr, int op, uint32_t val, void *timeout, uint32_t *addr2, uint32_t val3) {
    return syscall(SYS_futex, addr, op, val, timeout, addr2, val3);
}

static void *waiter(void *arg) {
    uint32_t *word = arg;
    if (futex(word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0) == 0) atomic_fetch_add(&woken, 1);
    return NULL;
}

static void *bit_waiter(void *arg) {
    (void)arg;
    if (futex(&f3, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, 0x2) == 0) atomic_fetch_add(&woken, 10);
    return NULL;
}

static volatile int alarms;
static void on_alarm(int sig) { (void)sig; alarms++; }

int main(void) {
    long r = futex(&f1, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
    printf("wait on wrong value %ld %s\n", r, strerror(errno));
    struct timespec ts = {0, 20000000};
    r = futex(&f1, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
    printf("wait with timeout %ld %s\n", r, strerror(errno));

    /* Three waiters on f1; CMP_REQUEUE wakes one and moves the others to f2, where a wake finds them.
       Natively a waiter may not be parked yet when the requeue runs: keep waking both words until all
       three are back, and print only what every schedule agrees on. */
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, waiter, &f1);
    long requeued;
    while ((requeued = futex(&f1, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)2L, &f2, 0)) == 0)
        usleep(1000);                   /* until a waiter is parked: none is, or none was moved */
    long total = requeued > 0 ? 1 : 0;
    while (woken < 3) {
        futex(&f2, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0);
        futex(&f1, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0);
        usleep(1000);
    }
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    printf("cmp_requeue %ld woken %d\n", total, (int)woken);
    r = futex(&f1, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)2L, &f2, 7);
    printf("cmp_requeue on a changed word %ld %s\n", r, strerror(errno));

    pthread_t b;
    pthread_create(&b, NULL, bit_waiter, NULL);
    r = futex(&f3, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0x1);
    printf("wake with another bitset %ld\n", r);   /* 0, parked or not */
    while ((r = futex(&f3, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0x2)) == 0)
        usleep(1000);                   /* until the waiter is parked */
    printf("wake with its bitset %ld\n", r);
    pthread_join(b, NULL);
    uint32_t word = 5;
    r = futex(&f1, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &word, FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_EQ, 5));
    printf("wake_op %ld word %u\n", r, word);

    signal(SIGALRM, on_alarm);
    timer_t timer;
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM};
    timer_create(CLOCK_MONOTONIC, &ev, &timer);
    struct itimerspec its = {{0, 5000000}, {0, 5000000}};
    timer_settime(timer, 0, &its, NULL);
    while (alarms < 3) pause();
    timer_delete(timer);
    printf("timer fired %d times\n", alarms >= 3 ? 3 : alarms);
    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec one = {{0, 0}, {0, 10000000}};
    timerfd_settime(tfd, 0, &one, NULL);
    uint64_t expirations = 0;
    read(tfd, &expirations, sizeof expirations);
    printf("timerfd expirations %llu\n", (unsigned long long)expirations);
    struct timespec a, c;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct timespec nap = {0, 30000000};
    nanosleep(&nap, NULL);
    clock_gettime(CLOCK_MONOTONIC, &c);
    long ms = (c.tv_sec - a.tv_sec) * 1000 + (c.tv_nsec - a.tv_nsec) / 1000000;
    printf("slept at least 30 ms %d\n", ms >= 30);
    return 0;
}
