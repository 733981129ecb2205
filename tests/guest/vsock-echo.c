/* vsock-echo: the test guest's AF_VSOCK tool (busybox has none).
 *   vsock-echo connect CID PORT MESSAGE  connects, sends "MESSAGE\n", prints the line it gets back
 *   vsock-echo serve PORT                accepts one connection and echoes one line back
 */
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int readLine(int fd, char* buf, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            break;
        if (buf[n++] == '\n')
            break;
    }
    buf[n] = 0;
    return (int)n;
}

int main(int argc, char** argv)
{
    char line[512];
    struct sockaddr_vm addr;
    memset(&addr, 0, sizeof addr);
    addr.svm_family = AF_VSOCK;
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    if (argc == 5 && strcmp(argv[1], "connect") == 0) {
        addr.svm_cid = (unsigned)atoi(argv[2]);
        addr.svm_port = (unsigned)atoi(argv[3]);
        if (connect(fd, (struct sockaddr*)&addr, sizeof addr) < 0) {
            perror("connect");
            return 1;
        }
        snprintf(line, sizeof line, "%s\n", argv[4]);
        if (write(fd, line, strlen(line)) < 0)
            return 1;
        readLine(fd, line, sizeof line);
        fputs(line, stdout);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "serve") == 0) {
        addr.svm_cid = VMADDR_CID_ANY;
        addr.svm_port = (unsigned)atoi(argv[2]);
        if (bind(fd, (struct sockaddr*)&addr, sizeof addr) < 0 || listen(fd, 1) < 0) {
            perror("bind");
            return 1;
        }
        printf("listening\n");
        fflush(stdout);
        int c = accept(fd, NULL, NULL);
        if (c < 0) {
            perror("accept");
            return 1;
        }
        int n = readLine(c, line, sizeof line);
        if (write(c, line, (size_t)n) < 0)
            return 1;
        close(c);
        return 0;
    }
    fprintf(stderr, "usage: vsock-echo connect CID PORT MESSAGE | serve PORT\n");
    return 2;
}
