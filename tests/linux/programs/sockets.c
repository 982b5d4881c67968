/* Sockets through the host: AF_UNIX socketpair with SCM_RIGHTS, AF_INET TCP on the loopback between
   two processes, UDP, getsockname, shutdown, socket options. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int sv[2];
    printf("socketpair %d\n", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    int p[2];
    pipe(p);
    write(p[1], "passed fd", 9);
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {"m", 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &p[0], sizeof(int));
    ssize_t sent = sendmsg(sv[0], &msg, 0);
    printf("sendmsg %zd\n", sent);
    char data[4] = {0};
    struct iovec riov = {data, 1};
    char rbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr rmsg = {.msg_iov = &riov, .msg_iovlen = 1, .msg_control = rbuf, .msg_controllen = sizeof rbuf};
    ssize_t rcv = recvmsg(sv[1], &rmsg, 0);
    printf("recvmsg %zd %s\n", rcv, data);
    int got;
    memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&rmsg)), sizeof got);
    char text[16] = {0};
    read(got, text, 9);
    printf("through passed fd: %s\n", text);

    int srv = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rb = bind(srv, (struct sockaddr *)&a, sizeof a);
    int rl = listen(srv, 4);
    printf("bind %d listen %d\n", rb, rl);
    socklen_t len = sizeof a;
    getsockname(srv, (struct sockaddr *)&a, &len);
    printf("port assigned %d\n", ntohs(a.sin_port) != 0);
    pid_t pid = fork();
    if (pid == 0) {
        int cl = socket(AF_INET, SOCK_STREAM, 0);
        connect(cl, (struct sockaddr *)&a, sizeof a);
        send(cl, "ping", 4, 0);
        char r[8] = {0};
        recv(cl, r, 4, MSG_WAITALL);
        printf("client got %s\n", r);
        _exit(0);
    }
    int conn = accept(srv, NULL, NULL);
    char r[8] = {0};
    recv(conn, r, 4, MSG_WAITALL);
    printf("server got %s\n", r);
    send(conn, "pong", 4, 0);
    waitpid(pid, NULL, 0);
    shutdown(conn, SHUT_RDWR);
    int type; len = sizeof type;
    getsockopt(srv, SOL_SOCKET, SO_TYPE, &type, &len);
    printf("so_type stream %d\n", type == SOCK_STREAM);

    int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(u2, (struct sockaddr *)&b, sizeof b);
    len = sizeof b;
    getsockname(u2, (struct sockaddr *)&b, &len);
    sendto(u1, "datagram", 8, 0, (struct sockaddr *)&b, sizeof b);
    char d[16] = {0};
    struct sockaddr_in from; len = sizeof from;
    ssize_t got_n = recvfrom(u2, d, sizeof d, 0, (struct sockaddr *)&from, &len);
    printf("recvfrom %zd %s family %d\n", got_n, d, from.sin_family);
    return 0;
}
