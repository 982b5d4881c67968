/* Print each file named on the command line, or the errno name when it cannot be opened. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            printf("%s: %s\n", argv[i], errno == ENOENT ? "ENOENT" : errno == EACCES ? "EACCES" : "other");
            continue;
        }
        char buf[256];
        ssize_t n = read(fd, buf, sizeof buf);
        printf("%s: %.*s", argv[i], (int)n, buf);
        close(fd);
    }
    return 0;
}
