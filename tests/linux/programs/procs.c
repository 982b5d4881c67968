/* Processes: fork, vfork, wait4/waitid, exec (of itself through /proc/self/exe, of a #! script and of
   a missing file), pipes between processes, process groups, kill(0), getppid, posix_spawn/system. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        printf("exec'd child args:");
        for (int i = 2; i < argc; i++) printf(" %s", argv[i]);
        printf(" env %s\n", getenv("PROCS_VAR") ? getenv("PROCS_VAR") : "unset");
        return 5;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t me = getpid();
    int p[2];
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        char msg[64];
        int n = snprintf(msg, sizeof msg, "child sees parent %d", getppid() == me);
        write(p[1], msg, n);
        _exit(3);
    }
    close(p[1]);
    char buf[64] = {0};
    read(p[0], buf, sizeof buf - 1);
    int status;
    struct rusage ru;
    pid_t w = wait4(pid, &status, 0, &ru);
    printf("%s; wait4 same pid %d exited %d code %d\n", buf, w == pid, WIFEXITED(status), WEXITSTATUS(status));
    int none = wait(NULL);
    printf("wait with no children %d %s\n", none, strerror(errno));

    pid = vfork();
    if (pid == 0) _exit(4);
    waitpid(pid, &status, 0);
    printf("vfork child code %d\n", WEXITSTATUS(status));

    pid = fork();
    if (pid == 0) {
        char *args[] = {"/proc/self/exe", "child", "one", "two words", NULL};
        setenv("PROCS_VAR", "from parent", 1);
        execve("/proc/self/exe", args, environ);
        _exit(99);
    }
    waitpid(pid, &status, 0);
    printf("exec'd child code %d\n", WEXITSTATUS(status));

    pid = fork();
    if (pid == 0) {
        execl("/nonexistent/program", "x", (char *)NULL);
        printf("exec missing: %s\n", strerror(errno));
        _exit(0);
    }
    waitpid(pid, NULL, 0);

    /* a shell script through #! */
    char script[] = "/tmp/vm-script-XXXXXX";
    int fd = mkstemp(script);
    const char *text = "#!/bin/sh\necho script says $1\nexit 6\n";
    write(fd, text, strlen(text));
    close(fd);
    chmod(script, 0755);
    pid = fork();
    if (pid == 0) {
        execl(script, script, "hi", (char *)NULL);
        _exit(98);
    }
    waitpid(pid, &status, 0);
    printf("script code %d\n", WEXITSTATUS(status));
    unlink(script);

    siginfo_t si;
    pid = fork();
    if (pid == 0) _exit(9);
    memset(&si, 0, sizeof si);
    waitid(P_PID, pid, &si, WEXITED);
    printf("waitid code %d status %d pid ok %d\n", si.si_code, si.si_status, si.si_pid == pid);

    pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        printf("child in own group %d\n", getpgrp() == getpid());
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    printf("kill 0 check %d\n", kill(me, 0));
    int bad = kill(999999, 0);
    printf("kill bad pid %d %s\n", bad, strerror(errno));

    pid_t spawned;
    char *sargs[] = {"/bin/sh", "-c", "exit 12", NULL};
    int r = posix_spawn(&spawned, "/bin/sh", NULL, NULL, sargs, environ);
    waitpid(spawned, &status, 0);
    printf("posix_spawn %d code %d\n", r, WEXITSTATUS(status));
    printf("system %d\n", WEXITSTATUS(system("exit 13")));
    pid = fork();
    if (pid == 0) abort();
    waitpid(pid, &status, 0);
    printf("abort child signal %d\n", WTERMSIG(status));
    return 0;
}
