/* Signals: SA_SIGINFO handlers and their siginfo, masks and pending signals, the alternate stack,
   SA_RESETHAND/SA_NODEFER, sigsuspend, sigtimedwait, alarm, SIGCHLD, a handler that edits its
   ucontext (the PC, to step over a faulting instruction) and returns through sigreturn, siglongjmp,
   SA_RESTART on a read interrupted by a signal, and death by a signal's default action. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static volatile int hits, last_sig, last_code, last_pid_ok, nested;
static char altstack[65536];
static volatile int on_alt;

static void info_handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    hits++;
    last_sig = sig;
    last_code = si->si_code;
    last_pid_ok = si->si_pid == getpid();
    char here;
    on_alt = &here >= altstack && &here < altstack + sizeof altstack;
}

static void plain(int sig) { hits++; last_sig = sig; }

static void nodefer(int sig) {
    if (nested++ == 0) raise(sig);
}

/* Step over the faulting load by editing the saved PC. */
extern char fault_insn[], after_fault[];
static void skip_fault(int sig, siginfo_t *si, void *ucv) {
    ucontext_t *uc = ucv;
    (void)sig;
    (void)si;
#if defined(__aarch64__)
    printf("fault pc matches %d\n", uc->uc_mcontext.pc == (uintptr_t)fault_insn);
    uc->uc_mcontext.pc += 4;
#elif defined(__riscv)
    printf("fault pc matches %d\n", uc->uc_mcontext.__gregs[0] == (uintptr_t)fault_insn);
    uc->uc_mcontext.__gregs[0] += 4;
#else
    printf("fault pc matches %d\n", uc->uc_mcontext.gregs[REG_RIP] == (greg_t)fault_insn);
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)after_fault;
#endif
}

static sigjmp_buf jump;
static void jumper(int sig) { siglongjmp(jump, sig); }

static void on_alarm(int sig) { (void)sig; }

int main(void) {
    struct sigaction sa = {0};
    sa.sa_sigaction = info_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    printf("raise: hits %d sig %d code %d pid ok %d\n", hits, last_sig, last_code, last_pid_ok);
    kill(getpid(), SIGUSR1);
    printf("kill: hits %d code %d pid ok %d\n", hits, last_code, last_pid_ok);

    sigset_t set, old, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    raise(SIGUSR1);
    sigpending(&pend);
    printf("blocked: hits %d pending %d\n", hits, sigismember(&pend, SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("unblocked: hits %d\n", hits);

    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    printf("altstack: sig %d on alt %d\n", last_sig, on_alt);
    stack_t cur;
    sigaltstack(NULL, &cur);
    printf("altstack flags %d size %zu\n", cur.ss_flags, cur.ss_size);

    struct sigaction once = {0};
    once.sa_handler = plain;
    once.sa_flags = SA_RESETHAND;
    sigaction(SIGHUP, &once, NULL);
    raise(SIGHUP);
    sigaction(SIGHUP, NULL, &once);
    printf("resethand: back to default %d\n", once.sa_handler == SIG_DFL);

    struct sigaction nd = {0};
    nd.sa_handler = nodefer;
    nd.sa_flags = SA_NODEFER;
    sigaction(SIGWINCH, &nd, NULL);
    raise(SIGWINCH);
    printf("nodefer nested %d\n", nested);

    /* sigsuspend: wait with SIGUSR1 unblocked while it is blocked otherwise */
    sigprocmask(SIG_BLOCK, &set, &old);
    pid_t parent = getpid();
    fflush(stdout);
    if (fork() == 0) {
        kill(parent, SIGUSR1);
        _exit(0);
    }
    int before = hits;
    sigset_t wait_mask;
    sigemptyset(&wait_mask);
    int r = sigsuspend(&wait_mask);
    printf("sigsuspend %d errno %s hits +%d\n", r, strerror(errno), hits - before);
    wait(NULL);
    raise(SIGUSR1);
    siginfo_t si;
    int got = sigwaitinfo(&set, &si);
    printf("sigwaitinfo %d code %d\n", got, si.si_code);
    struct timespec tmo = {0, 10000000};
    got = sigtimedwait(&set, &si, &tmo);
    printf("sigtimedwait %d %s\n", got, strerror(errno));
    sigprocmask(SIG_SETMASK, &old, NULL);

    /* SIGCHLD and the child's status */
    struct sigaction chld = {0};
    chld.sa_sigaction = info_handler;
    chld.sa_flags = SA_SIGINFO;
    sigaction(SIGCHLD, &chld, NULL);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(7);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    printf("child exit %d status %d sigchld seen %d\n", WIFEXITED(status), WEXITSTATUS(status), last_sig == SIGCHLD);
    pid = fork();
    if (pid == 0) { pause(); _exit(1); }
    kill(pid, SIGTERM);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    printf("child killed %d by %d\n", WIFSIGNALED(status), WTERMSIG(status));
    signal(SIGCHLD, SIG_DFL);

    /* a fault whose handler moves the PC past it */
    struct sigaction seg = {0};
    seg.sa_sigaction = skip_fault;
    seg.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &seg, NULL);
    volatile long *bad = (long *)16;
    long value = 0;
#if defined(__aarch64__)
    __asm__ volatile("fault_insn: ldr %0, [%1]\n after_fault: nop" : "=r"(value) : "r"(bad) : "memory");
#elif defined(__riscv)
    __asm__ volatile(".option push\n.option norvc\nfault_insn: ld %0, 0(%1)\n after_fault: nop\n.option pop"
                     : "=r"(value) : "r"(bad) : "memory");
#else
    __asm__ volatile("fault_insn: movq (%1), %0\n after_fault: nop" : "=r"(value) : "r"(bad) : "memory");
#endif
    printf("survived the fault, value %ld\n", value);

    /* siglongjmp out of a handler */
    signal(SIGFPE, jumper);
    int j = sigsetjmp(jump, 1);
    if (j == 0) {
        raise(SIGFPE);
        printf("not reached\n");
    } else {
        printf("longjmp back with %d\n", j);
    }

    /* SA_RESTART: a read interrupted by SIGALRM goes on; without it, EINTR */
    int p[2];
    pipe(p);
    struct sigaction al = {0};
    al.sa_handler = on_alarm;
    al.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &al, NULL);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        usleep(200000);
        write(p[1], "late", 4);
        _exit(0);
    }
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    char buf[8] = {0};
    ssize_t n = read(p[0], buf, 4);
    printf("restarted read %zd %s\n", n, buf);
    waitpid(pid, NULL, 0);
    al.sa_flags = 0;
    sigaction(SIGALRM, &al, NULL);
    setitimer(ITIMER_REAL, &it, NULL);
    n = read(p[0], buf, 4);
    printf("interrupted read %zd %s\n", n, strerror(errno));

    /* SIGPIPE comes with the EPIPE, before write returns */
    signal(SIGPIPE, plain);
    int broken[2];
    pipe(broken);
    close(broken[0]);
    last_sig = 0;
    ssize_t w = write(broken[1], "x", 1);
    int saw = last_sig;
    printf("broken pipe: write %zd %s, SIGPIPE already taken %d\n", w, strerror(errno), saw == SIGPIPE);

    alarm(1);
    alarm(0);
    fflush(stdout);
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
    printf("not reached either\n");
    return 0;
}
