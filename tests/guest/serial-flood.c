/* serial-flood: the guest side of tests/vmm/devices/test-serial. Writes known text to a
 * serial port as fast as it can, from one process or from several pinned to their own
 * CPUs at once, so that the host can check that every byte arrived, in order.
 *
 *   serial-flood text TAG BYTES              prints TAG's stream (BYTES bytes) on stdout
 *   serial-flood write DEV BYTES WRITERS     writes BYTES bytes of each of WRITERS streams
 *                                            (tags A, B, ...) to DEV, writer w pinned to CPU w
 *
 * A stream is 64-byte lines: "A 0000042 " (tag, line number), 53 printable characters
 * starting at character 42 % 95 of ' '..'~', "\n". BYTES is a multiple of 64.
 *
 * One writer writes 64 lines per write(); several write one line per write(). A tty
 * holds its write lock for a whole write() call (tty_write_lock in iterate_tty_write), so
 * writers interleave at line boundaries only: the host may check each line whole and
 * each writer's lines in order. printk does not take that lock: the caller keeps the
 * kernel quiet meanwhile (/proc/sys/kernel/printk).
 *
 * `write` clears OPOST on DEV (no "\n" -> "\r\n": the host sees the bytes written), waits
 * until the port has sent what came before, then writes
 *   "MICA-SERIAL-BEGIN <WRITERS>\n", the streams, "MICA-SERIAL-END <WRITERS>\n"
 * and waits (tcdrain) until the UART has sent it all, restores DEV's settings and prints
 * "<bytes> <seconds>" on stdout: all streams' bytes, from BEGIN to drained.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define LINE 64
#define MAX_WRITERS 26

static void die(const char *what)
{
    fprintf(stderr, "serial-flood: %s: %m\n", what);
    exit(1);
}

static void line(char *out, char tag, long n)
{
    snprintf(out, LINE, "%c %07ld ", tag, n);  /* 10 characters and a NUL */
    for (int k = 10; k < LINE - 1; k++)
        out[k] = (char)(' ' + (n + k - 10) % 95);
    out[LINE - 1] = '\n';
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0)
            die("write");
        p += w;
        n -= (size_t)w;
    }
}

/* Writes `lines` lines of `tag`, `per_write` lines per write() call. */
static void stream(int fd, char tag, long lines, int per_write)
{
    char buf[LINE * 64];
    for (long n = 0; n < lines;) {
        int k = 0;
        for (; k < per_write && n < lines; k++, n++)
            line(buf + k * LINE, tag, n);
        write_all(fd, buf, (size_t)k * LINE);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long lines_of(const char *bytes)
{
    long n = atol(bytes);
    if (n <= 0 || n % LINE) {
        fprintf(stderr, "serial-flood: BYTES must be a positive multiple of %d\n", LINE);
        exit(2);
    }
    return n / LINE;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "text")) {
        stream(STDOUT_FILENO, argv[2][0], lines_of(argv[3]), 64);
        return 0;
    }
    if (argc != 5 || strcmp(argv[1], "write")) {
        fprintf(stderr, "usage: serial-flood text TAG BYTES | write DEV BYTES WRITERS\n");
        return 2;
    }
    long lines = lines_of(argv[3]);
    int writers = atoi(argv[4]);
    if (writers < 1 || writers > MAX_WRITERS) {
        fprintf(stderr, "serial-flood: 1 to %d writers\n", MAX_WRITERS);
        return 2;
    }
    int fd = open(argv[2], O_WRONLY | O_NOCTTY);
    if (fd < 0)
        die(argv[2]);
    struct termios saved, raw;
    if (tcgetattr(fd, &saved))
        die("tcgetattr");
    raw = saved;
    raw.c_oflag &= ~OPOST;
    if (tcsetattr(fd, TCSADRAIN, &raw))
        die("tcsetattr");

    char marker[64];
    snprintf(marker, sizeof marker, "MICA-SERIAL-BEGIN %d\n", writers);
    double start = now();
    write_all(fd, marker, strlen(marker));
    pid_t pids[MAX_WRITERS];
    for (int w = 0; w < writers; w++) {
        pids[w] = fork();
        if (pids[w] < 0)
            die("fork");
        if (pids[w] == 0) {
            cpu_set_t cpus;
            CPU_ZERO(&cpus);
            CPU_SET(w, &cpus);
            if (writers > 1 && sched_setaffinity(0, sizeof cpus, &cpus))
                die("sched_setaffinity");
            stream(fd, (char)('A' + w), lines, writers > 1 ? 1 : 64);
            _exit(0);
        }
    }
    int failed = 0;
    for (int w = 0; w < writers; w++) {
        int status;
        if (waitpid(pids[w], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
            failed = 1;
    }
    snprintf(marker, sizeof marker, "MICA-SERIAL-END %d\n", writers);
    write_all(fd, marker, strlen(marker));
    if (tcdrain(fd))
        die("tcdrain");
    double seconds = now() - start;
    tcsetattr(fd, TCSADRAIN, &saved);
    if (failed) {
        fprintf(stderr, "serial-flood: a writer failed\n");
        return 1;
    }
    printf("%ld %.2f\n", lines * LINE * writers, seconds);
    return 0;
}
