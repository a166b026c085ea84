/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by the unit tests: a reproducible PRNG, temporary
 * directories, and small file manipulation. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"

/* xorshift64*: reproducible test data (the seed is printed as a diag). */
static uint64_t test_rng_state = 0x9e3779b97f4a7c15ull;

__attribute__((unused)) static void test_rng_seed(uint64_t seed)
{
        test_rng_state = seed ? seed : 1;
}

__attribute__((unused)) static uint64_t test_rng(void)
{
        uint64_t x = test_rng_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        test_rng_state = x;
        return x * 0x2545f4914f6cdd1dull;
}

__attribute__((unused)) static void test_rng_fill(void *buf, size_t n)
{
        uint8_t *p = buf;
        while (n > 0) {
                uint64_t v = test_rng();
                size_t k = n < 8 ? n : 8;
                memcpy(p, &v, k);
                p += k;
                n -= k;
        }
}

/* A fresh directory under $TMPDIR (or /tmp); bails out on failure. The
 * result must be freed. */
__attribute__((unused)) static char *test_mkdtemp(const char *what)
{
        const char *base = getenv("TMPDIR");
        char *p;
        if (!base || !*base)
                base = "/tmp";
        if (asprintf(&p, "%s/lifeboat-%s-XXXXXX", base, what) < 0)
                bail_out("out of memory");
        if (!mkdtemp(p))
                bail_out("mkdtemp(%s): %s", p, strerror(errno));
        return p;
}

static int test_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        (void)st;
        (void)ftw;
        return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -1 : 0;
}

/* rm -rf; returns 0 on success. */
__attribute__((unused)) static int test_rm_rf(const char *path)
{
        return nftw(path, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

__attribute__((unused)) static int test_read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return -errno;
        uint8_t *buf = NULL;
        size_t n = 0, cap = 0;
        for (;;) {
                if (n == cap) {
                        cap = cap ? 2 * cap : 4096;
                        uint8_t *nb = realloc(buf, cap + 1);
                        if (!nb) {
                                free(buf);
                                fclose(f);
                                return -ENOMEM;
                        }
                        buf = nb;
                }
                size_t k = fread(buf + n, 1, cap - n, f);
                n += k;
                if (k == 0)
                        break;
        }
        fclose(f);
        buf[n] = 0;
        *ret = buf;
        *ret_len = n;
        return 0;
}

__attribute__((unused)) static int test_write_file(const char *path, const void *buf, size_t n)
{
        FILE *f = fopen(path, "wb");
        if (!f)
                return -errno;
        size_t k = fwrite(buf, 1, n, f);
        if (fclose(f) != 0 || k != n)
                return -EIO;
        return 0;
}

/* XOR one byte of a file with mask. */
__attribute__((unused)) static int test_flip_byte(const char *path, size_t off, uint8_t mask)
{
        uint8_t *buf = NULL;
        size_t n = 0;
        int r = test_read_file(path, &buf, &n);
        if (r < 0)
                return r;
        if (off >= n) {
                free(buf);
                return -ERANGE;
        }
        buf[off] ^= mask;
        r = test_write_file(path, buf, n);
        free(buf);
        return r;
}
