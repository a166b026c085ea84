/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small helpers shared by the library: cleanup attributes, little-endian
 * access, hex, error messages and crash-safe file writes. */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define DIV_ROUND_UP(a, b) (((a) + (b)-1) / (b))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Take ownership out of a cleanup variable. */
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

static inline uint16_t le16_get(const void *p) { const uint8_t *b = p; return (uint16_t)(b[0] | b[1] << 8); }
static inline uint32_t le32_get(const void *p)
{
        const uint8_t *b = p;
        return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t le64_get(const void *p) { return le32_get(p) | (uint64_t)le32_get((const uint8_t *)p + 4) << 32; }
static inline void le16_put(void *p, uint16_t v) { uint8_t *b = p; b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); }
static inline void le32_put(void *p, uint32_t v)
{
        uint8_t *b = p;
        b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); b[2] = (uint8_t)(v >> 16); b[3] = (uint8_t)(v >> 24);
}
static inline void le64_put(void *p, uint64_t v) { le32_put(p, (uint32_t)v); le32_put((uint8_t *)p + 4, (uint32_t)(v >> 32)); }

/* Memory: abort on allocation failure is not acceptable in a library, so
 * these return NULL like malloc; callers map that to -ENOMEM. */
void *memdup(const void *p, size_t n);
bool mem_is_zero(const void *p, size_t n);

void hex_encode(const uint8_t *in, size_t n, char *out); /* out: 2n+1 */
int hex_decode(const char *in, uint8_t *out, size_t n);  /* exact length */

/* Errors: library functions return -errno and may leave a message for the
 * caller (thread-local, like libarchive's archive_error_string). */
int lb_error_set(int r, const char *fmt, ...) _printf_(2, 3);
int lb_error_setv(int r, const char *fmt, va_list ap);
const char *lb_error_get(void);
void lb_error_clear(void);

/* Sizes for messages: "64.0 MiB". buf >= 32 bytes. */
const char *format_bytes(uint64_t n, char *buf, size_t len);

/* I/O that retries on short reads/writes and EINTR. */
int read_full_at(int fd, void *buf, size_t n, uint64_t off);  /* -EIO on short (EOF) */
int write_full_at(int fd, const void *buf, size_t n, uint64_t off);
int write_full(int fd, const void *buf, size_t n);
int read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len);

/* Crash-safe file creation: write to dir/tmp name, fsync, rename into place,
 * fsync the directory. */
int write_file_atomic(const char *tmpdir, const char *path, const void *buf, size_t n);
int fsync_dir_of(const char *path);
int mkdir_p(const char *path, mode_t mode);
char *path_join(const char *a, const char *b);
int random_bytes(void *buf, size_t n);

/* Run a program (argv[0] looked up in PATH) with stdin on /dev/null and no
 * file descriptor of ours but stdio (a helper such as ntfs-3g must not hold
 * a FUSE device or a lock open). Its output, stdout and stderr together, goes
 * to out: the last part of it, without trailing newlines. Returns its exit
 * status (128 + N when killed by signal N), -ENOENT when it cannot be run,
 * or another -errno. */
int run_program(const char *const argv[], char *out, size_t outlen);
