/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test driver for the used-block readers.
 *
 *   fs-used-dump [--extents] [--copy OUT] FILE [OFFSET SIZE]
 *       Probe the volume, print its info (and extents), check the extent list
 *       invariants, and with --copy write OUT: a sparse file as large as FILE
 *       holding only the used ranges (everything else reads as zeros).
 *   fs-used-dump --reader NAME ...
 *       Run that reader directly, without probing (for damaged volumes).
 *   fs-used-dump --gen SEED SIZE
 *       Write SIZE deterministic pseudo-random bytes to stdout.
 *   fs-used-dump --selftest
 *       Randomised check of lb_extents_add() against a bitmap.
 *
 * Exit: 0 ok, 2 no reader / unsupported (-ENOTSUP), 3 damaged (-EUCLEAN),
 * 1 anything else (including broken invariants). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"
#include "util.h"

static int selftest(void)
{
        enum { N = 4096 };
        srand(1);
        for (int round = 0; round < 300; round++) {
                static uint8_t map[N];
                struct lb_extents e = {};
                memset(map, 0, sizeof(map));
                int adds = rand() % 60;
                for (int k = 0; k < adds; k++) {
                        uint64_t s = (uint64_t)(rand() % N), l = (uint64_t)(rand() % 64);
                        if (s + l > N)
                                l = N - s;
                        if (round % 3 == 0) /* ascending, the common case */
                                s = (uint64_t)k * N / 64, l = l % 32;
                        if (lb_extents_add(&e, s, l) < 0)
                                return 1;
                        memset(map + s, 1, l);
                }
                static uint8_t got[N];
                memset(got, 0, sizeof(got));
                for (size_t i = 0; i < e.n; i++) {
                        if (e.v[i].len == 0 || e.v[i].start + e.v[i].len > N)
                                return fprintf(stderr, "round %d: bad extent\n", round), 1;
                        if (i > 0 && e.v[i].start <= e.v[i - 1].start + e.v[i - 1].len)
                                return fprintf(stderr, "round %d: extents not sorted/merged\n", round), 1;
                        memset(got + e.v[i].start, 1, e.v[i].len);
                }
                if (memcmp(map, got, N) != 0)
                        return fprintf(stderr, "round %d: extents differ from bitmap\n", round), 1;
                lb_extents_free(&e);
        }
        printf("selftest ok\n");
        return 0;
}

static int copy_used(int in, const char *out_path, uint64_t in_size, uint64_t offset, const struct lb_extents *e)
{
        _cleanup_close_ int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        _cleanup_free_ uint8_t *buf = malloc(1 << 20);
        if (out < 0 || !buf)
                return -errno;
        if (ftruncate(out, (off_t)in_size) < 0)
                return -errno;
        for (size_t i = 0; i < e->n; i++)
                for (uint64_t done = 0; done < e->v[i].len;) {
                        size_t n = (size_t)MIN((uint64_t)(1 << 20), e->v[i].len - done);
                        uint64_t pos = offset + e->v[i].start + done;
                        int r = read_full_at(in, buf, n, pos);
                        if (r < 0)
                                return r;
                        r = write_full_at(out, buf, n, pos);
                        if (r < 0)
                                return r;
                        done += n;
                }
        return fsync(out) < 0 ? -errno : 0;
}

static int gen(uint64_t seed, uint64_t size)
{
        uint64_t x = seed * 0x9e3779b97f4a7c15ull + 0x1234567;
        uint8_t buf[65536];
        while (size > 0) {
                size_t n = (size_t)MIN((uint64_t)sizeof(buf), size);
                for (size_t k = 0; k < n; k += 8) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        le64_put(buf + k, x);
                }
                if (write_full(STDOUT_FILENO, buf, n) < 0)
                        return 1;
                size -= n;
        }
        return 0;
}

int main(int argc, char **argv)
{
        const struct lb_fs_ops *reader = NULL;
        const char *copy = NULL;
        bool extents = false;
        int i = 1;

        if (argc == 2 && strcmp(argv[1], "--selftest") == 0)
                return selftest();
        if (argc == 4 && strcmp(argv[1], "--gen") == 0)
                return gen(strtoull(argv[2], NULL, 0), strtoull(argv[3], NULL, 0));
        for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
                if (strcmp(argv[i], "--extents") == 0)
                        extents = true;
                else if (strcmp(argv[i], "--copy") == 0 && i + 1 < argc)
                        copy = argv[++i];
                else if (strcmp(argv[i], "--reader") == 0 && i + 1 < argc) {
                        for (size_t k = 0; lb_fs_table[k]; k++)
                                if (strcmp(lb_fs_table[k]->name, argv[i + 1]) == 0)
                                        reader = lb_fs_table[k];
                        if (!reader) {
                                fprintf(stderr, "no reader '%s'\n", argv[i + 1]);
                                return 1;
                        }
                        i++;
                }
                else
                        break;
        }
        if (argc - i != 1 && argc - i != 3) {
                fprintf(stderr, "usage: %s [--extents] [--copy OUT] [--reader NAME] FILE [OFFSET SIZE]\n       %s --gen SEED SIZE | --selftest\n", argv[0], argv[0]);
                return 1;
        }

        _cleanup_close_ int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "%s: %m\n", argv[i]);
                return 1;
        }
        uint64_t file_size = (uint64_t)st.st_size;
        if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &file_size) < 0) {
                fprintf(stderr, "%s: %m\n", argv[i]);
                return 1;
        }
        uint64_t offset = 0, size = file_size;
        if (argc - i == 3) {
                offset = strtoull(argv[i + 1], NULL, 0);
                size = strtoull(argv[i + 2], NULL, 0);
        }
        if (offset > file_size || size > file_size - offset) {
                fprintf(stderr, "volume beyond the end of %s\n", argv[i]);
                return 1;
        }

        struct lb_extents e = {};
        struct lb_fs_info info;
        int r = reader ? reader->used(fd, offset, size, &e, &info) : lb_fs_used(fd, offset, size, &e, &info);
        if (r < 0) {
                printf("error=%d %s\ntype=%s\n", r, lb_error_get() ? lb_error_get() : "", info.type);
                lb_extents_free(&e);
                return r == -ENOTSUP ? 2 : r == -EUCLEAN ? 3 : 1;
        }

        printf("type=%s\nlabel=%s\nuuid=%s\nblock_size=%" PRIu64 "\ntotal_bytes=%" PRIu64 "\nused_bytes=%" PRIu64 "\nextents=%zu\n",
               info.type, info.label, info.uuid, info.block_size, info.total_bytes, info.used_bytes, e.n);

        uint64_t sum = 0;
        for (size_t k = 0; k < e.n; k++) {
                if (extents)
                        printf("extent %" PRIu64 " %" PRIu64 "\n", e.v[k].start, e.v[k].len);
                if (e.v[k].len == 0 || e.v[k].start > size || e.v[k].len > size - e.v[k].start ||
                    (k > 0 && e.v[k].start <= e.v[k - 1].start + e.v[k - 1].len)) {
                        fprintf(stderr, "extent %zu (%" PRIu64 "+%" PRIu64 ") breaks the invariants\n", k, e.v[k].start, e.v[k].len);
                        return 1;
                }
                sum += e.v[k].len;
        }
        if (sum != info.used_bytes || info.used_bytes > info.total_bytes || info.total_bytes > size) {
                fprintf(stderr, "inconsistent sizes\n");
                return 1;
        }
        if (copy) {
                r = copy_used(fd, copy, file_size, offset, &e);
                if (r < 0) {
                        fprintf(stderr, "copy to %s: %s\n", copy, strerror(-r));
                        return 1;
                }
        }
        lb_extents_free(&e);
        return 0;
}
