/* Synchronous signals from the CPU: an undefined instruction (SIGILL), a breakpoint instruction
   (SIGTRAP), x86's integer division by zero (SIGFPE). The handler reports si_code and where si_addr
   points (the saved PC, or nowhere), then steps over the instruction by editing the saved PC. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <ucontext.h>

static uintptr_t pc_of(ucontext_t *uc) {
#if defined(__aarch64__)
    return uc->uc_mcontext.pc;
#elif defined(__riscv)
    return uc->uc_mcontext.__gregs[0];
#else
    return uc->uc_mcontext.gregs[REG_RIP];
#endif
}

static void set_pc(ucontext_t *uc, uintptr_t pc) {
#if defined(__aarch64__)
    uc->uc_mcontext.pc = pc;
#elif defined(__riscv)
    uc->uc_mcontext.__gregs[0] = pc;
#else
    uc->uc_mcontext.gregs[REG_RIP] = pc;
#endif
}

static volatile int skip;

static void handler(int sig, siginfo_t *si, void *ucv) {
    ucontext_t *uc = ucv;
    uintptr_t pc = pc_of(uc);
    printf("signal %d code %d addr %s\n", sig, si->si_code,
           si->si_addr == NULL ? "null" : (uintptr_t)si->si_addr == pc ? "pc" : "elsewhere");
    set_pc(uc, pc + skip);
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGTRAP, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
#if defined(__aarch64__)
    skip = 4;
    __asm__ volatile(".inst 0x00000000\n");
    __asm__ volatile("brk #0x3e8\n");
#elif defined(__riscv)
    skip = 4;
    __asm__ volatile(".option push\n.option norvc\n.word 0\n.option pop\n");
    __asm__ volatile(".option push\n.option norvc\nebreak\n.option pop\n");
#else
    skip = 2;
    __asm__ volatile("ud2\n");
    skip = 0;
    __asm__ volatile("int3\n");
    volatile int zero = 0, r = 0;
    skip = 2;
    __asm__ volatile("mov $7, %%eax\n cltd\n idivl %%ecx\n" : "=a"(r) : "c"(zero) : "edx");
    (void)r;
#endif
    printf("done\n");
    return 0;
}
