/* mica-bench: the guest side of tests/bench/blk and tests/bench/net (busybox's dd and nc
 * can neither do random I/O nor time a transfer). Each figure is one console line
 * "MICA-BENCH: NAME VALUE UNIT", which the benchmark reads for both VMMs.
 *
 *   mica-bench blk DEV MIB OPS   sequential write then read of the first MIB MiB of DEV
 *                                in 1 MiB blocks, then OPS random 4 KiB reads and OPS
 *                                random 4 KiB writes there, one request at a time, then
 *                                the same again from 32 threads at once (queue depth 32);
 *                                O_DIRECT (no guest page cache), the same offsets every run
 *   mica-bench rate DEV read|write KIB SECONDS
 *                                O_DIRECT reads or writes of KIB KiB, one at a time, one
 *                                after the other through the first 64 MiB of DEV, for
 *                                SECONDS seconds (the guest's clock): the rate the disk's
 *                                I/O limits let through, in bytes and operations a second
 *   mica-bench send HOST PORT MIB  sends MIB MiB over TCP; timed until the host, having
 *                                  read it all, answers and closes
 *   mica-bench recv HOST PORT      receives over TCP until the host closes; timed from
 *                                  the connect
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024 * 1024)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    printf("MICA-BENCH: error %s: %m\n", what);
    exit(1);
}

static void report(const char *name, double value, const char *unit)
{
    printf("MICA-BENCH: %s %.2f %s\n", name, value, unit);
    fflush(stdout);
}

/* xorshift64: the same "random" offsets in every run and under every VMM. */
static uint64_t next_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* One of the queue-depth-32 threads: its share of the random requests, from its own
 * offsets. */
struct random_job {
    int fd;
    long blocks, ops;
    int write;
    uint64_t state;
};

static void *random_requests(void *arg)
{
    struct random_job *job = arg;
    char *buf;
    if (posix_memalign((void **)&buf, 4096, 4096))
        die("memory");
    memset(buf, 0x5a, 4096);
    for (long i = 0; i < job->ops; i++) {
        off_t at = (off_t)(next_random(&job->state) % job->blocks) * 4096;
        if ((job->write ? pwrite(job->fd, buf, 4096, at) : pread(job->fd, buf, 4096, at)) != 4096)
            die(job->write ? "random write" : "random read");
    }
    free(buf);
    return NULL;
}

static void random_qd32(int fd, long blocks, long ops, int write, const char *name)
{
    enum { DEPTH = 32 };
    pthread_t threads[DEPTH];
    struct random_job jobs[DEPTH];
    double start = now();
    for (int t = 0; t < DEPTH; t++) {
        jobs[t] = (struct random_job){fd, blocks, ops / DEPTH, write, 0x9e3779b97f4a7c15ull * (t + 1)};
        if (pthread_create(&threads[t], NULL, random_requests, &jobs[t]))
            die("thread");
    }
    for (int t = 0; t < DEPTH; t++)
        pthread_join(threads[t], NULL);
    if (write && fsync(fd))
        die("fsync");
    report(name, (ops / DEPTH * DEPTH) / (now() - start), "IOPS");
}

static void blk(const char *dev, long mib, long ops)
{
    int fd = open(dev, O_RDWR | O_DIRECT);
    if (fd < 0)
        die(dev);
    char *buf;
    if (posix_memalign((void **)&buf, 4096, MIB))
        die("memory");
    memset(buf, 0x5a, MIB);

    double start = now();
    for (long i = 0; i < mib; i++)
        if (pwrite(fd, buf, MIB, i * MIB) != MIB)
            die("sequential write");
    if (fsync(fd))
        die("fsync");
    report("seq-write", mib / (now() - start), "MiB/s");

    start = now();
    for (long i = 0; i < mib; i++)
        if (pread(fd, buf, MIB, i * MIB) != MIB)
            die("sequential read");
    report("seq-read", mib / (now() - start), "MiB/s");

    long blocks = mib * (MIB / 4096);
    uint64_t state = 0x9e3779b97f4a7c15ull;
    start = now();
    for (long i = 0; i < ops; i++)
        if (pread(fd, buf, 4096, (off_t)(next_random(&state) % blocks) * 4096) != 4096)
            die("random read");
    report("rand-read", ops / (now() - start), "IOPS");

    start = now();
    for (long i = 0; i < ops; i++)
        if (pwrite(fd, buf, 4096, (off_t)(next_random(&state) % blocks) * 4096) != 4096)
            die("random write");
    if (fsync(fd))
        die("fsync");
    report("rand-write", ops / (now() - start), "IOPS");

    random_qd32(fd, blocks, ops, 0, "rand-read-qd32");
    random_qd32(fd, blocks, ops, 1, "rand-write-qd32");
    close(fd);
}

static void rate(const char *dev, const char *direction, long kib, double seconds)
{
    int write = !strcmp(direction, "write");
    int fd = open(dev, (write ? O_WRONLY : O_RDONLY) | O_DIRECT);
    if (fd < 0)
        die(dev);
    size_t size = (size_t)kib * 1024;
    long span = 64l * MIB / (long)size;
    char *buf;
    if (size == 0 || span == 0 || posix_memalign((void **)&buf, 4096, size))
        die("block size");
    memset(buf, 0xa5, size);
    long ops = 0;
    double start = now(), elapsed;
    while ((elapsed = now() - start) < seconds) {
        off_t at = (off_t)(ops % span) * (off_t)size;
        if ((write ? pwrite(fd, buf, size, at) : pread(fd, buf, size, at)) != (ssize_t)size)
            die(direction);
        ops++;
    }
    char name[64];
    snprintf(name, sizeof name, "%s-bytes", direction);
    report(name, ops * (double)size / elapsed, "B/s");
    snprintf(name, sizeof name, "%s-ops", direction);
    report(name, ops / elapsed, "IOPS");
    close(fd);
}

static int dial(const char *host, const char *port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(port))};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        die("address");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    /* The host's server may still be starting: try for a while. */
    for (int tries = 0; connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0; tries++) {
        if (tries == 100)
            die("connect");
        usleep(100000);
    }
    return fd;
}

static void send_mib(const char *host, const char *port, long mib)
{
    static char buf[256 * 1024];
    memset(buf, 'm', sizeof buf);
    double start = now();
    int fd = dial(host, port);
    for (long left = mib * MIB; left > 0;) {
        ssize_t n = write(fd, buf, left < (long)sizeof buf ? left : (long)sizeof buf);
        if (n <= 0)
            die("send");
        left -= n;
    }
    shutdown(fd, SHUT_WR);
    while (read(fd, buf, sizeof buf) > 0) {
    }
    report("guest-to-host", mib / (now() - start), "MiB/s");
    close(fd);
}

static void recv_all(const char *host, const char *port)
{
    static char buf[256 * 1024];
    double start = now();
    int fd = dial(host, port);
    long total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        total += n;
    if (n < 0)
        die("receive");
    report("host-to-guest", (double)total / MIB / (now() - start), "MiB/s");
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "blk"))
        blk(argv[2], atol(argv[3]), atol(argv[4]));
    else if (argc == 6 && !strcmp(argv[1], "rate"))
        rate(argv[2], argv[3], atol(argv[4]), atof(argv[5]));
    else if (argc == 5 && !strcmp(argv[1], "send"))
        send_mib(argv[2], argv[3], atol(argv[4]));
    else if (argc == 4 && !strcmp(argv[1], "recv"))
        recv_all(argv[2], argv[3]);
    else {
        fprintf(stderr, "usage: mica-bench blk DEV MIB OPS | rate DEV read|write KIB SECONDS | send HOST PORT MIB | recv HOST PORT\n");
        return 2;
    }
    return 0;
}
