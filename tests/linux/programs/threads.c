/* Threads: pthread create/join, mutexes and condition variables (futex wait/wake/requeue), atomics,
   thread-local storage, a thread blocked in read() while the others run, timed waits, pthread_kill,
   a barrier. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define N 4
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long counter;
static atomic_long atomic_counter;
static __thread int tls_value;
static int turn;
static pthread_barrier_t barrier;
static int pipe_fds[2];
static volatile int got_signal;

static void *worker(void *arg) {
    long id = (long)arg;
    tls_value = (int)id * 10;
    for (int i = 0; i < 20000; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
        atomic_fetch_add(&atomic_counter, 1);
    }
    pthread_barrier_wait(&barrier);
    return (void *)(long)(tls_value + 1);
}

static void *pingpong(void *arg) {
    (void)arg;
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&lock);
        while (turn != 1) pthread_cond_wait(&cond, &lock);
        turn = 0;
        pthread_cond_signal(&cond);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void *reader(void *arg) {
    (void)arg;
    char buf[16] = {0};
    ssize_t n = read(pipe_fds[0], buf, sizeof buf - 1);
    return (void *)(long)(n * 100 + buf[0]);
}

static void on_usr1(int sig) { (void)sig; got_signal = 1; }

static void *waiter(void *arg) {
    (void)arg;
    while (!got_signal) usleep(1000);
    return (void *)7;
}

int main(void) {
    pthread_t t[N];
    pthread_barrier_init(&barrier, NULL, N);
    for (long i = 0; i < N; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    long sum = 0;
    for (int i = 0; i < N; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        sum += (long)ret;
    }
    printf("counter %ld atomic %ld join sum %ld main tls %d\n", counter, (long)atomic_counter, sum, tls_value);

    pthread_t pp;
    pthread_create(&pp, NULL, pingpong, NULL);
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&lock);
        turn = 1;
        pthread_cond_signal(&cond);
        while (turn != 0) pthread_cond_wait(&cond, &lock);
        pthread_mutex_unlock(&lock);
    }
    pthread_join(pp, NULL);
    printf("pingpong done\n");

    pipe(pipe_fds);
    pthread_t r;
    pthread_create(&r, NULL, reader, NULL);
    volatile long spin = 0;
    for (long i = 0; i < 3000000; i++) spin += i;     /* the reader is blocked meanwhile */
    write(pipe_fds[1], "Zebra", 5);
    void *rv;
    pthread_join(r, &rv);
    printf("blocked reader got %ld\n", (long)rv);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 20000000;
    if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
    pthread_mutex_lock(&lock);
    int rc = pthread_cond_timedwait(&cond, &lock, &ts);
    pthread_mutex_unlock(&lock);
    printf("timedwait %s\n", strerror(rc));

    signal(SIGUSR1, on_usr1);
    pthread_t w;
    pthread_create(&w, NULL, waiter, NULL);
    pthread_kill(w, SIGUSR1);
    pthread_join(w, &rv);
    printf("pthread_kill delivered, joined %ld\n", (long)rv);
    printf("tid differs from pid in threads %d\n", (pid_t)syscall(SYS_gettid) == getpid());
    return 0;
}
