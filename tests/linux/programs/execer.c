/* execve of another program given on the command line (another arch's, under vm), then of a #!
   script; prints what the child printed through a pipe, and its status. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int i = 1; i < argc; i++) {
        int p[2];
        pipe(p);
        pid_t pid = fork();
        if (pid == 0) {
            dup2(p[1], 1);
            close(p[0]);
            execl(argv[i], argv[i], "from-execer", (char *)NULL);
            _exit(127);
        }
        close(p[1]);
        char buf[256] = {0};
        ssize_t n, total = 0;
        while ((n = read(p[0], buf + total, sizeof buf - 1 - total)) > 0) total += n;
        int status;
        waitpid(pid, &status, 0);
        char *slash = strrchr(argv[i], '/');
        printf("%s said: %s", slash ? slash + 1 : argv[i], buf);
        printf("status %d\n", WEXITSTATUS(status));
    }
    return 0;
}
