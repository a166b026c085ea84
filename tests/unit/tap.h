/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A tiny TAP producer (Test Anything Protocol, version 12) for the unit
 * tests. Every program either calls plan(n) first or done_testing() last;
 * both print the "1..N" line. main() ends with "return done_testing();",
 * which is non-zero when any test failed or the plan was not met.
 *
 *   ok(cond, "what %d", x);        one test
 *   is_int(got, want, "what");     integers, prints both on failure
 *   is_str(got, want, "what");     strings (NULL allowed)
 *   is_mem(got, want, n, "what");  byte arrays, hex dump on failure
 *   is_hex(got, "abcd..", "what"); byte array against a hex string
 *   diag("fmt", ...);              a "# ..." comment line
 *   bail_out("fmt", ...);          "Bail out!" and exit(1), for setup failures
 */
#pragma once

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MIN_TAP(a, b) ((a) < (b) ? (a) : (b))

struct tap_state {
        int n;       /* tests run */
        int failed;
        int planned; /* -1: no plan yet */
};
static struct tap_state tap = { .planned = -1 };

__attribute__((unused, format(printf, 1, 2))) static void diag(const char *fmt, ...)
{
        char buf[4096];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        /* One "# " per line so multi-line messages stay TAP comments. */
        fputs("# ", stdout);
        for (const char *p = buf; *p; p++) {
                fputc(*p, stdout);
                if (*p == '\n' && p[1])
                        fputs("# ", stdout);
        }
        if (!*buf || buf[strlen(buf) - 1] != '\n')
                fputc('\n', stdout);
        fflush(stdout);
}

__attribute__((unused, noreturn, format(printf, 1, 2))) static void bail_out(const char *fmt, ...)
{
        va_list ap;
        fputs("Bail out! ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
        exit(1);
}

__attribute__((unused)) static void plan(int n)
{
        tap.planned = n;
        printf("1..%d\n", n);
        fflush(stdout);
}

__attribute__((unused)) static bool tap_result(bool cond, const char *file, int line, const char *fmt, va_list ap)
{
        char name[1024];
        vsnprintf(name, sizeof(name), fmt, ap);
        /* '#' would start a directive in the description. */
        for (char *p = name; *p; p++)
                if (*p == '#' || *p == '\n')
                        *p = ' ';
        tap.n++;
        printf("%sok %d - %s\n", cond ? "" : "not ", tap.n, name);
        if (!cond) {
                tap.failed++;
                printf("#   Failed test at %s:%d\n", file, line);
        }
        fflush(stdout);
        return cond;
}

__attribute__((unused, format(printf, 4, 5))) static bool ok_at(bool cond, const char *file, int line,
                                                                 const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        bool r = tap_result(cond, file, line, fmt, ap);
        va_end(ap);
        return r;
}

__attribute__((unused, format(printf, 5, 6))) static bool is_int_at(intmax_t got, intmax_t want, const char *file,
                                                                     int line, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        bool r = tap_result(got == want, file, line, fmt, ap);
        va_end(ap);
        if (!r)
                diag("  got: %jd\n  expected: %jd", got, want);
        return r;
}

__attribute__((unused, format(printf, 5, 6))) static bool is_str_at(const char *got, const char *want,
                                                                     const char *file, int line, const char *fmt, ...)
{
        bool same = (!got && !want) || (got && want && strcmp(got, want) == 0);
        va_list ap;
        va_start(ap, fmt);
        bool r = tap_result(same, file, line, fmt, ap);
        va_end(ap);
        if (!r)
                diag("  got: %s%s%s\n  expected: %s%s%s", got ? "'" : "", got ? got : "NULL", got ? "'" : "",
                     want ? "'" : "", want ? want : "NULL", want ? "'" : "");
        return r;
}

__attribute__((unused)) static void tap_hex(const void *p, size_t n, char *out, size_t outsz)
{
        static const char digits[] = "0123456789abcdef";
        const uint8_t *b = p;
        size_t i;
        for (i = 0; i < n && 2 * i + 2 < outsz; i++) {
                out[2 * i] = digits[b[i] >> 4];
                out[2 * i + 1] = digits[b[i] & 15];
        }
        out[2 * i] = 0;
}

__attribute__((unused, format(printf, 6, 7))) static bool is_mem_at(const void *got, const void *want, size_t n,
                                                                     const char *file, int line, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        bool r = tap_result(memcmp(got, want, n) == 0, file, line, fmt, ap);
        va_end(ap);
        if (!r) {
                char a[130], b[130];
                size_t first = 0;
                while (((const uint8_t *)got)[first] == ((const uint8_t *)want)[first])
                        first++;
                tap_hex(got, MIN_TAP(n, 64), a, sizeof(a));
                tap_hex(want, MIN_TAP(n, 64), b, sizeof(b));
                diag("  first difference at byte %zu of %zu\n  got:      %s\n  expected: %s", first, n, a, b);
        }
        return r;
}

/* want is a hex string; its length (/2) gives the number of bytes compared. */
__attribute__((unused, format(printf, 5, 6))) static bool is_hex_at(const void *got, const char *want,
                                                                     const char *file, int line, const char *fmt, ...)
{
        size_t n = strlen(want) / 2;
        char g[2 * 256 + 1];
        if (n > 256)
                bail_out("is_hex: expected value too long");
        tap_hex(got, n, g, sizeof(g));
        va_list ap;
        va_start(ap, fmt);
        bool r = tap_result(strcasecmp(g, want) == 0, file, line, fmt, ap);
        va_end(ap);
        if (!r)
                diag("  got:      %s\n  expected: %s", g, want);
        return r;
}

#define ok(cond, ...) ok_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) is_int_at((intmax_t)(got), (intmax_t)(want), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) is_str_at((got), (want), __FILE__, __LINE__, __VA_ARGS__)
#define is_mem(got, want, n, ...) is_mem_at((got), (want), (n), __FILE__, __LINE__, __VA_ARGS__)
#define is_hex(got, want, ...) is_hex_at((got), (want), __FILE__, __LINE__, __VA_ARGS__)

/* Prints the plan if none was given; returns the exit status for main(). */
__attribute__((unused)) static int done_testing(void)
{
        if (tap.planned < 0)
                printf("1..%d\n", tap.n);
        else if (tap.planned != tap.n)
                diag("planned %d tests but ran %d", tap.planned, tap.n);
        if (tap.failed)
                diag("failed %d of %d tests", tap.failed, tap.n);
        fflush(stdout);
        return tap.failed || (tap.planned >= 0 && tap.planned != tap.n) ? 1 : 0;
}
