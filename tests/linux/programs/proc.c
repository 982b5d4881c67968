/* The guest's /proc and identity: self/exe, maps, cmdline, environ, auxv, stat, cpuinfo; uname,
   getauxval, /dev pass-through, an unknown system call (-ENOSYS), limits, sysinfo, getrandom. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

static ssize_t slurp(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    buf[n < 0 ? 0 : n] = 0;
    return n;
}

int main(int argc, char **argv) {
    char buf[65536], link[4096] = {0};
    ssize_t n = readlink("/proc/self/exe", link, sizeof link - 1);
    const char *base = strrchr(argv[0], '/');
    printf("exe ends with argv0: %d\n", n > 0 && strcmp(strrchr(link, '/'), base ? base : argv[0]) == 0);
    slurp("/proc/self/maps", buf, sizeof buf);
    printf("maps has stack %d has exe %d\n", strstr(buf, "[stack]") != NULL, strstr(buf, link) != NULL);
    n = slurp("/proc/self/cmdline", buf, sizeof buf);
    printf("cmdline:");
    for (char *p = buf; p < buf + n; p += strlen(p) + 1) printf(" [%s]", p == buf ? "argv0" : p);
    printf("\n");
    n = slurp("/proc/self/environ", buf, sizeof buf);
    int found = 0;
    for (char *p = buf; p < buf + n; p += strlen(p) + 1) found |= strcmp(p, "PROC_TEST=yes") == 0;
    printf("environ has PROC_TEST %d\n", found);
    int fd = open("/proc/self/auxv", O_RDONLY);
    unsigned long aux[2], page = 0, entry = 0;
    while (read(fd, aux, sizeof aux) == sizeof aux && aux[0]) {
        if (aux[0] == AT_PAGESZ) page = aux[1];
        if (aux[0] == AT_ENTRY) entry = aux[1];
    }
    close(fd);
    printf("auxv pagesz %lu entry matches %d\n", page, entry == getauxval(AT_ENTRY));
    slurp("/proc/self/stat", buf, sizeof buf);
    printf("stat pid matches %d\n", atoi(buf) == getpid());
    slurp("/proc/cpuinfo", buf, sizeof buf);
    printf("cpuinfo has processor %d\n", strstr(buf, "processor") != NULL);
    struct utsname u;
    uname(&u);
    printf("uname %s %s\n", u.sysname, u.machine);
    printf("hwcap nonzero %d random aux %d\n", getauxval(AT_HWCAP) != 0, getauxval(AT_RANDOM) != 0);
    fd = open("/dev/null", O_WRONLY);
    printf("dev null write %zd\n", write(fd, "x", 1));
    close(fd);
    errno = 0;
    long r = syscall(4000);
    printf("unknown syscall %ld %s\n", r, strerror(errno));
    struct rlimit rl;
    getrlimit(RLIMIT_STACK, &rl);
    printf("stack limit positive %d\n", rl.rlim_cur > 0);
    struct sysinfo si;
    int rs = sysinfo(&si);
    printf("sysinfo %d procs>0 %d\n", rs, si.procs > 0);
    unsigned char rnd[16];
    printf("getrandom %zd\n", getrandom(rnd, sizeof rnd, 0));
    cpu_set_t set;
    CPU_ZERO(&set);
    int ra = sched_getaffinity(0, sizeof set, &set);
    printf("affinity %d cpus>0 %d\n", ra, CPU_COUNT(&set) > 0);
    printf("ids %d %d\n", getuid() == geteuid(), getgid() == getegid());
    return argc;
}
