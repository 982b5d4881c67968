/* Files and directories: the *at family, stat/statx, links, renames, getdents64, times, truncate,
   fcntl, dup3, pipes, poll/select/epoll, eventfd, sendfile. Run with a fresh directory as argv[1]. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHECK(x) do { if ((x) < 0) { printf("%s: %s\n", #x, strerror(errno)); } } while (0)

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void list(const char *dir) {
    DIR *d = opendir(dir);
    char *names[64]; int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("dir:");
    for (int i = 0; i < n; i++) { printf(" %s", names[i]); free(names[i]); }
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    CHECK(chdir(argv[1]));
    umask(022);
    CHECK(mkdir("sub", 0750));
    int dfd = open("sub", O_RDONLY | O_DIRECTORY);
    int fd = openat(dfd, "a.txt", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    const char *text = "hello, file\n";
    printf("write %zd\n", write(fd, text, strlen(text)));
    struct iovec iov[2] = {{"abc", 3}, {"defg\n", 5}};
    printf("writev %zd\n", writev(fd, iov, 2));
    printf("pwrite %zd\n", pwrite(fd, "H", 1, 0));
    close(fd);
    struct stat st;
    CHECK(fstatat(dfd, "a.txt", &st, 0));
    printf("size %lld mode %o nlink %ld reg %d\n", (long long)st.st_size, st.st_mode & 07777, (long)st.st_nlink,
           S_ISREG(st.st_mode));
    struct statx sx;
    CHECK(statx(dfd, "a.txt", 0, STATX_SIZE | STATX_MODE, &sx));
    printf("statx size %llu mode %o\n", (unsigned long long)sx.stx_size, sx.stx_mode & 07777);
    fd = openat(dfd, "a.txt", O_RDONLY);
    char buf[64] = {0};
    ssize_t got = read(fd, buf, sizeof buf - 1);
    printf("read %zd: %s", got, buf);
    printf("lseek %ld\n", (long)lseek(fd, 7, SEEK_SET));
    memset(buf, 0, sizeof buf);
    got = pread(fd, buf, 4, 2);
    printf("pread %zd: %s", got, buf);
    printf("\nafter pread pos %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    char b1[3] = {0}, b2[4] = {0};
    struct iovec riov[2] = {{b1, 2}, {b2, 3}};
    lseek(fd, 0, SEEK_SET);
    got = readv(fd, riov, 2);
    printf("readv %zd %s %s\n", got, b1, b2);
    close(fd);
    CHECK(linkat(dfd, "a.txt", dfd, "b.txt", 0));
    CHECK(stat("sub/a.txt", &st));
    printf("nlink %ld\n", (long)st.st_nlink);
    CHECK(symlinkat("a.txt", dfd, "link"));
    char target[64] = {0};
    got = readlinkat(dfd, "link", target, sizeof target);
    printf("readlink %zd %s\n", got, target);
    CHECK(lstat("sub/link", &st));
    printf("lstat link %d\n", S_ISLNK(st.st_mode));
    CHECK(stat("sub/link", &st));
    printf("stat link size %lld\n", (long long)st.st_size);
    CHECK(renameat(dfd, "b.txt", dfd, "c.txt"));
    list("sub");
    CHECK(truncate("sub/c.txt", 5));
    CHECK(stat("sub/c.txt", &st));
    printf("truncate size %lld\n", (long long)st.st_size);
    struct timespec ts[2] = {{1000000000, 0}, {1234567890, 500}};
    CHECK(utimensat(dfd, "c.txt", ts, 0));
    CHECK(stat("sub/c.txt", &st));
    printf("mtime %ld %ld\n", (long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    CHECK(chmod("sub/c.txt", 0600));
    CHECK(stat("sub/c.txt", &st));
    printf("chmod %o access %d\n", st.st_mode & 0777, access("sub/c.txt", R_OK));
    int rc = open("sub/missing", O_RDONLY);
    printf("open missing %d %s\n", rc, strerror(errno));
    rc = open("sub/c.txt", O_RDONLY | O_DIRECTORY);
    printf("open file as dir %d %s\n", rc, strerror(errno));
    rc = mkdir("sub", 0755);
    printf("mkdir exists %d %s\n", rc, strerror(errno));
    rc = rmdir("sub");
    printf("rmdir nonempty %d %s\n", rc, strerror(errno));
    fd = open("sub/c.txt", O_WRONLY | O_APPEND);
    int fl = fcntl(fd, F_GETFL);
    printf("append %d wronly %d\n", !!(fl & O_APPEND), (fl & O_ACCMODE) == O_WRONLY);
    int fd2 = fcntl(fd, F_DUPFD_CLOEXEC, 20);
    printf("dupfd %d cloexec %d\n", fd2, fcntl(fd2, F_GETFD) & FD_CLOEXEC);
    printf("dup3 %d\n", dup3(fd, 30, O_CLOEXEC));
    close(fd); close(fd2); close(30);
    char cwd[256];
    getcwd(cwd, sizeof cwd);
    printf("cwd ends %s\n", strrchr(cwd, '/') ? "ok" : "bad");
    /* pipes and readiness */
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC));
    struct pollfd pf = {p[0], POLLIN, 0};
    printf("poll empty %d\n", poll(&pf, 1, 0));
    write(p[1], "xy", 2);
    rc = poll(&pf, 1, 100);
    printf("poll ready %d revents %x\n", rc, pf.revents);
    fd_set rs; FD_ZERO(&rs); FD_SET(p[0], &rs);
    struct timeval tv = {0, 1000};
    rc = select(p[0] + 1, &rs, NULL, NULL, &tv);
    printf("select %d isset %d\n", rc, FD_ISSET(p[0], &rs));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ULL};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    struct epoll_event out[4];
    int n = epoll_wait(ep, out, 4, 100);
    printf("epoll %d events %x data %llx\n", n, out[0].events, (unsigned long long)out[0].data.u64);
    read(p[0], buf, 2);
    printf("epoll after read %d\n", epoll_wait(ep, out, 4, 10));
    int efd = eventfd(3, 0);
    uint64_t v = 0;
    read(efd, &v, 8);
    printf("eventfd %llu\n", (unsigned long long)v);
    fd = open("sub/a.txt", O_RDONLY);
    printf("sendfile %zd\n", sendfile(p[1], fd, NULL, 5));
    memset(buf, 0, sizeof buf);
    read(p[0], buf, 5);
    printf("through pipe: %s\n", buf);
    close(p[1]);
    printf("eof read %zd\n", read(p[0], buf, 5));
    CHECK(unlinkat(dfd, "link", 0));
    CHECK(unlink("sub/a.txt"));
    CHECK(unlink("sub/c.txt"));
    CHECK(rmdir("sub"));
    list(".");
    return 0;
}
