/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

void cli_common_init(struct cli_common *c)
{
        memset(c, 0, sizeof(*c));
        c->repo = getenv("LIFEBOAT_REPO");
}

int cli_common_opt(struct cli_common *c, int opt, const char *usage)
{
        switch (opt) {
        case 'r': c->repo = optarg; return 1;
        case 'P': c->password_file = optarg; return 1;
        case 'J': c->json = true; return 1;
        case 'q': c->quiet = true; return 1;
        case 'h': fputs(usage, stdout); return -1;
        }
        return 0;
}

/* --threads N: 1 to 64. Returns 0, or the usage error's exit status. */
int cli_threads_opt(const char *arg, const char *usage, unsigned *ret)
{
        char *end;
        long l = strtol(arg, &end, 10);
        if (*end || l < 1 || l > 64)
                return cli_usage_error(usage, "bad --threads '%s' (1-64)", arg);
        *ret = (unsigned)l;
        return 0;
}

int cli_usage_error(const char *usage, const char *fmt, ...)
{
        va_list ap;
        fputs("lifeboat: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\n", stderr);
        fputs(usage, stderr);
        return EXIT_USAGE;
}

int cli_fail(int r, const char *fmt, ...)
{
        va_list ap;
        cli_progress_end();
        fputs("lifeboat: ", stderr);
        const char *msg = lb_error_get();
        if (msg) {
                fputs(msg, stderr);
        } else {
                va_start(ap, fmt);
                vfprintf(stderr, fmt, ap);
                va_end(ap);
                fprintf(stderr, ": %s", strerror(r < 0 ? -r : r));
        }
        fputs("\n", stderr);
        return 1;
}

void cli_warn(const char *fmt, ...)
{
        va_list ap;
        cli_progress_end();
        fputs("lifeboat: warning: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\n", stderr);
}

static char *read_tty_line(const char *prompt)
{
        int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return NULL;
        struct termios old, t;
        bool restore = tcgetattr(fd, &old) == 0;
        if (restore) {
                t = old;
                t.c_lflag &= ~(tcflag_t)ECHO;
                tcsetattr(fd, TCSAFLUSH, &t);
        }
        if (write(fd, prompt, strlen(prompt)) < 0) { /* best effort */ }
        char buf[1024];
        size_t n = 0;
        while (n + 1 < sizeof(buf)) {
                char ch;
                ssize_t k = read(fd, &ch, 1);
                if (k <= 0 || ch == '\n')
                        break;
                buf[n++] = ch;
        }
        buf[n] = 0;
        if (restore)
                tcsetattr(fd, TCSAFLUSH, &old);
        if (write(fd, "\n", 1) < 0) { /* best effort */ }
        close(fd);
        return strdup(buf);
}

char *cli_get_passphrase(const struct cli_common *c, const char *prompt, bool confirm)
{
        const char *env = getenv("LIFEBOAT_PASSWORD");
        if (c->password_file) {
                FILE *f = fopen(c->password_file, "re");
                if (!f) {
                        fprintf(stderr, "lifeboat: cannot read password file %s: %s\n", c->password_file, strerror(errno));
                        return NULL;
                }
                char *line = NULL;
                size_t cap = 0;
                ssize_t n = getline(&line, &cap, f);
                fclose(f);
                if (n <= 0) {
                        free(line);
                        fprintf(stderr, "lifeboat: password file %s is empty\n", c->password_file);
                        return NULL;
                }
                while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                        line[--n] = 0;
                return line;
        }
        if (env)
                return strdup(env);
        if (!isatty(STDIN_FILENO)) {
                fprintf(stderr, "lifeboat: a passphrase is needed: set LIFEBOAT_PASSWORD or use --password-file FILE\n");
                return NULL;
        }
        char *p = read_tty_line(prompt);
        if (!p) {
                fprintf(stderr, "lifeboat: cannot read a passphrase from the terminal\n");
                return NULL;
        }
        if (confirm) {
                char *q = read_tty_line("Repeat passphrase: ");
                if (!q || strcmp(p, q) != 0) {
                        fprintf(stderr, "lifeboat: the passphrases do not match\n");
                        free(p);
                        free(q);
                        return NULL;
                }
                free(q);
        }
        return p;
}

int cli_open_repo(const struct cli_common *c, struct lb_repo **ret)
{
        return cli_open_repo_pass(c, ret, NULL);
}

int cli_open_repo_pass(const struct cli_common *c, struct lb_repo **ret, char **ret_pass)
{
        if (!c->repo || !*c->repo) {
                fprintf(stderr, "lifeboat: no repository: use --repo PATH or set LIFEBOAT_REPO\n");
                return EXIT_USAGE;
        }
        char *pass = NULL;
        if (lb_repo_is_encrypted_at(c->repo)) {
                pass = cli_get_passphrase(c, "Repository passphrase: ", false);
                if (!pass)
                        return 1;
        }
        int r = lb_repo_open(c->repo, pass, ret);
        if (r == 0 && ret_pass) {
                *ret_pass = pass;
                pass = NULL;
        }
        if (pass) {
                memset(pass, 0, strlen(pass));
                free(pass);
        }
        if (r < 0)
                return cli_fail(r, "cannot open repository %s", c->repo);
        return 0;
}

/* ---- progress ---- */
static bool progress_on, progress_shown;
static struct timespec progress_t0;
static char progress_what[32];

const char *cli_bytes(uint64_t n, char buf[32])
{
        static const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        double v = (double)n;
        int i = 0;
        while (v >= 1024 && i < 5) {
                v /= 1024;
                i++;
        }
        if (i == 0)
                snprintf(buf, 32, "%llu B", (unsigned long long)n);
        else
                snprintf(buf, 32, "%.1f %s", v, u[i]);
        return buf;
}

const char *cli_time(int64_t t, char buf[32])
{
        time_t tt = (time_t)t;
        struct tm tm;
        localtime_r(&tt, &tm);
        strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm);
        return buf;
}

void cli_progress_end(void)
{
        if (progress_shown) {
                fputs("\r\033[K", stderr);
                progress_shown = false;
        }
}

static void on_event(enum lb_event ev, const char *msg, const struct lb_progress *p, void *userdata)
{
        (void)userdata;
        if (ev == LB_EVENT_WARNING) {
                cli_warn("%s", msg);
                return;
        }
        if (!progress_on || !p || p->total == 0)
                return;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (strcmp(progress_what, p->what) != 0) {
                snprintf(progress_what, sizeof(progress_what), "%s", p->what);
                progress_t0 = now;
        }
        double el = (double)(now.tv_sec - progress_t0.tv_sec) + (double)(now.tv_nsec - progress_t0.tv_nsec) / 1e9;
        double frac = (double)p->done / (double)p->total;
        int width = 24, fill = (int)(frac * width);
        char bar[32], a[32], b[32], rate[32], eta[32] = "";
        for (int i = 0; i < width; i++)
                bar[i] = i < fill ? '#' : '-';
        bar[width] = 0;
        bool bytes = strncmp(p->what, "verify", 6) != 0;
        if (el > 0.5 && p->done > 0) {
                double r = (double)p->done / el;
                double left = ((double)p->total - (double)p->done) / r;
                snprintf(eta, sizeof(eta), " ETA %d:%02d", (int)left / 60, (int)left % 60);
                if (bytes) {
                        cli_bytes((uint64_t)r, rate);
                        strcat(rate, "/s");
                } else
                        snprintf(rate, sizeof(rate), "%.0f/s", r);
        } else
                strcpy(rate, "");
        if (bytes)
                fprintf(stderr, "\r\033[K%s [%s] %3.0f%% %s / %s %s%s", p->what, bar, frac * 100, cli_bytes(p->done, a),
                        cli_bytes(p->total, b), rate, eta);
        else
                fprintf(stderr, "\r\033[K%s [%s] %3.0f%% %llu / %llu %s%s", p->what, bar, frac * 100,
                        (unsigned long long)p->done, (unsigned long long)p->total, rate, eta);
        progress_shown = true;
        fflush(stderr);
}

void cli_events_setup(const struct cli_common *c)
{
        progress_on = !c->quiet && !c->json && isatty(STDERR_FILENO);
        lb_set_event_handler(on_event, NULL);
}

void cli_print_json(json_object *o)
{
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
}
