/* disk-mirror: the same writes to several disks, then a check that they read the same.
 * The guest side of the disk-format tests: a raw disk and disks of other formats get
 * identical operations, so the host can hold each image against the raw one with
 * `qemu-img compare`.
 *
 *   disk-mirror OPS SEED DEV...   sequential 1 MiB O_DIRECT writes over the first 8 MiB,
 *                                 128 KiB cached writes over the next 4 MiB, then OPS
 *                                 random operations: cached writes at any byte offset,
 *                                 O_DIRECT writes at 4 KiB offsets, BLKDISCARD and
 *                                 BLKZEROOUT ranges; fsync; then every disk read back
 *                                 (O_DIRECT) against the first. Exit 0 when all match.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MIB (1024 * 1024)
#define MAX_DEVS 8

static int ndev, cached[MAX_DEVS], direct[MAX_DEVS];
static const char *names[MAX_DEVS];
static uint64_t state;

static void die(const char *what, const char *dev)
{
    printf("DISK-MIRROR: error %s %s: %m\n", what, dev);
    exit(1);
}

static uint64_t next_random(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static void fill(char *buf, size_t length)
{
    for (size_t i = 0; i < length; i += 8) {
        uint64_t r = next_random();
        memcpy(buf + i, &r, length - i < 8 ? length - i : 8);
    }
}

static void write_all(int *fds, const char *buf, size_t length, off_t offset)
{
    for (int d = 0; d < ndev; d++)
        if (pwrite(fds[d], buf, length, offset) != (ssize_t)length)
            die("write", names[d]);
}

static void range_all(unsigned long request, uint64_t offset, uint64_t length)
{
    uint64_t range[2] = {offset, length};
    for (int d = 0; d < ndev; d++)
        if (ioctl(cached[d], request, range))
            die(request == BLKDISCARD ? "discard" : "zeroout", names[d]);
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc - 3 > MAX_DEVS) {
        fprintf(stderr, "usage: disk-mirror OPS SEED DEV...\n");
        return 2;
    }
    long ops = atol(argv[1]);
    state = strtoull(argv[2], NULL, 0) | 1;
    ndev = argc - 3;
    uint64_t size = 0;
    for (int d = 0; d < ndev; d++) {
        names[d] = argv[3 + d];
        cached[d] = open(names[d], O_RDWR);
        direct[d] = open(names[d], O_RDWR | O_DIRECT);
        uint64_t s;
        if (cached[d] < 0 || direct[d] < 0 || ioctl(cached[d], BLKGETSIZE64, &s))
            die("open", names[d]);
        if (d && s != size)
            die("size differs from the first disk:", names[d]);
        size = s;
    }
    if (size < 16 * MIB)
        die("disks smaller than 16 MiB:", names[0]);
    char *buf, *other;
    if (posix_memalign((void **)&buf, 4096, MIB) || posix_memalign((void **)&other, 4096, MIB))
        die("memory", "");

    for (uint64_t at = 0; at < 8 * MIB; at += MIB) {
        fill(buf, MIB);
        write_all(direct, buf, MIB, at);
    }
    for (uint64_t at = 8 * MIB; at < 12 * MIB; at += 128 * 1024) {
        fill(buf, 128 * 1024);
        write_all(cached, buf, 128 * 1024, at);
    }
    for (long i = 0; i < ops; i++) {
        unsigned kind = next_random() % 8;
        uint64_t length, offset;
        if (kind < 3) {  /* cached, any byte offset and length */
            length = 1 + next_random() % (128 * 1024);
            offset = next_random() % (size - length);
            fill(buf, length);
            write_all(cached, buf, length, offset);
        } else if (kind < 6) {  /* O_DIRECT, whole 4 KiB blocks */
            length = 4096 * (1 + next_random() % 64);
            offset = 4096 * (next_random() % ((size - length) / 4096));
            fill(buf, length);
            write_all(direct, buf, length, offset);
        } else {  /* a discarded or zeroed range; the page cache drops it too */
            length = 4096 * (1 + next_random() % 256);
            offset = 4096 * (next_random() % ((size - length) / 4096));
            for (int d = 0; d < ndev; d++)
                fsync(cached[d]);
            range_all(kind == 6 ? BLKDISCARD : BLKZEROOUT, offset, length);
        }
    }
    for (int d = 0; d < ndev; d++)
        if (fsync(cached[d]) || fsync(direct[d]))
            die("fsync", names[d]);

    for (uint64_t at = 0; at < size; at += MIB) {
        size_t n = size - at < MIB ? size - at : MIB;
        if (pread(direct[0], buf, n, at) != (ssize_t)n)
            die("read", names[0]);
        for (int d = 1; d < ndev; d++) {
            if (pread(direct[d], other, n, at) != (ssize_t)n)
                die("read", names[d]);
            if (memcmp(buf, other, n)) {
                printf("DISK-MIRROR: %s differs from %s in the MiB at %llu\n", names[d], names[0],
                       (unsigned long long)at);
                return 1;
            }
        }
    }
    printf("DISK-MIRROR: %d disks read the same after %ld operations\n", ndev, ops);
    return 0;
}
