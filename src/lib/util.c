/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "util.h"

#include <fcntl.h>
#include <libgen.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

static _Thread_local char error_buf[1024];

void *memdup(const void *p, size_t n)
{
        void *q = malloc(n ? n : 1);
        if (q && n)
                memcpy(q, p, n);
        return q;
}

bool mem_is_zero(const void *p, size_t n)
{
        const uint8_t *b = p;
        /* Check a prefix bytewise, then compare the buffer with itself
         * shifted: memcmp is vectorised and this stays branch-light. */
        size_t i;
        for (i = 0; i < n && i < 16; i++)
                if (b[i])
                        return false;
        if (n <= 16)
                return true;
        return memcmp(b, b + 16, n - 16) == 0;
}

void hex_encode(const uint8_t *in, size_t n, char *out)
{
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 15];
        }
        out[2 * n] = 0;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
}

int hex_decode(const char *in, uint8_t *out, size_t n)
{
        if (!in || strlen(in) != 2 * n)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                int h = hexval(in[2 * i]), l = hexval(in[2 * i + 1]);
                if (h < 0 || l < 0)
                        return -EINVAL;
                out[i] = (uint8_t)(h << 4 | l);
        }
        return 0;
}

int lb_error_setv(int r, const char *fmt, va_list ap)
{
        /* Format into a copy first: callers may pass lb_error_get() as an argument. */
        char buf[sizeof(error_buf)];
        int saved = errno;
        errno = r < 0 ? -r : r; /* so %m prints the error at hand */
        vsnprintf(buf, sizeof(buf), fmt, ap);
        errno = saved;
        memcpy(error_buf, buf, sizeof(buf));
        return r;
}

int lb_error_set(int r, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        lb_error_setv(r, fmt, ap);
        va_end(ap);
        return r;
}

const char *lb_error_get(void) { return error_buf[0] ? error_buf : NULL; }
void lb_error_clear(void) { error_buf[0] = 0; }

const char *format_bytes(uint64_t n, char *buf, size_t len)
{
        static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        double v = (double)n;
        size_t u = 0;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, len, "%llu B", (unsigned long long)n);
        else
                snprintf(buf, len, "%.1f %s", v, units[u]);
        return buf;
}

int read_full_at(int fd, void *buf, size_t n, uint64_t off)
{
        uint8_t *p = buf;
        while (n > 0) {
                ssize_t k = pread(fd, p, n, (off_t)off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO; /* unexpected end of file */
                p += k;
                n -= (size_t)k;
                off += (uint64_t)k;
        }
        return 0;
}

int write_full_at(int fd, const void *buf, size_t n, uint64_t off)
{
        const uint8_t *p = buf;
        while (n > 0) {
                ssize_t k = pwrite(fd, p, n, (off_t)off);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -ENOSPC;
                p += k;
                n -= (size_t)k;
                off += (uint64_t)k;
        }
        return 0;
}

int write_full(int fd, const void *buf, size_t n)
{
        const uint8_t *p = buf;
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -ENOSPC;
                p += k;
                n -= (size_t)k;
        }
        return 0;
}

int read_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        if ((uint64_t)st.st_size > max)
                return -EFBIG;
        size_t n = (size_t)st.st_size;
        _cleanup_free_ uint8_t *buf = malloc(n + 1);
        if (!buf)
                return -ENOMEM;
        int r = read_full_at(fd, buf, n, 0);
        if (r < 0)
                return r;
        buf[n] = 0; /* convenient for text files */
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

char *path_join(const char *a, const char *b)
{
        char *p;
        if (asprintf(&p, "%s/%s", a, b) < 0)
                return NULL;
        return p;
}

int random_bytes(void *buf, size_t n)
{
        return RAND_bytes(buf, (int)n) == 1 ? 0 : -EIO;
}

int fsync_dir_of(const char *path)
{
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        _cleanup_close_ int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        if (fsync(dfd) < 0)
                return -errno;
        return 0;
}

int write_file_atomic(const char *tmpdir, const char *path, const void *buf, size_t n)
{
        uint8_t rnd[8];
        char hex[17];
        int r = random_bytes(rnd, sizeof(rnd));
        if (r < 0)
                return r;
        hex_encode(rnd, sizeof(rnd), hex);
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s/%d-%s.tmp", tmpdir, (int)getpid(), hex) < 0)
                return -ENOMEM;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        r = write_full(fd, buf, n);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return r;
        }
        return fsync_dir_of(path);
}

int mkdir_p(const char *path, mode_t mode)
{
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int run_program(const char *const argv[], char *out, size_t outlen)
{
        int pipefd[2];
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return -e;
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR);
                dup2(null, 0);
                dup2(pipefd[1], 1);
                dup2(pipefd[1], 2);
                close_range(3, ~0u, 0);
                execvp(argv[0], (char *const *)argv);
                _exit(127);
        }
        close(pipefd[1]);
        size_t n = 0;
        char buf[4096];
        ssize_t k;
        while ((k = read(pipefd[0], buf, sizeof(buf))) > 0 || (k < 0 && errno == EINTR))
                for (ssize_t i = 0; i < k; i++) {
                        if (n + 1 >= outlen) { /* keep the tail */
                                memmove(out, out + outlen / 2, n - outlen / 2);
                                n -= outlen / 2;
                        }
                        out[n++] = buf[i];
                }
        out[n] = 0;
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
                out[--n] = 0;
        close(pipefd[0]);
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                return -ENOENT;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
