/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The serving process of `lifeboat mount`. The FUSE mount is made first, in
 * the calling process, so that its errors reach the terminal. Then, unless
 * in the foreground, a background process (the server) is forked; the
 * calling process waits and relays its notes ("N/W/E <text>" lines on a
 * pipe) until "OK" or "FAIL", undoing the mount on failure. The server forks
 * the helper of the inner mounts (innermount.c) before it starts any thread,
 * records both in the state file (mount-state.c), opens the reader, starts
 * the signal thread and runs the FUSE loop (fusefs.c) until a signal or an
 * unmount from outside. */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "mount.h"
#include "util.h"

static struct {
        struct mount_opts o;
        const char *repo_path;
        struct fuse_session *se;
        int log_fd;
        int notify_fd; /* the waiting parent's pipe, -1 in the foreground */
        atomic_bool cleaned;
} S = { .log_fd = -1, .notify_fd = -1 };

/* ---- messages ---- */

static void print_note(char tag, const char *msg)
{
        if (tag == 'E') {
                fprintf(stderr, "lifeboat: %s\n", msg);
        } else if (tag == 'W') {
                fprintf(stderr, "lifeboat: warning: %s\n", msg);
        } else if (!S.o.quiet) {
                printf("%s\n", msg);
                fflush(stdout);
        }
}

void mount_notify(char tag, const char *fmt, ...)
{
        char buf[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (S.notify_fd >= 0) {
                char line[2100];
                int n = snprintf(line, sizeof(line), "%c %s\n", tag, buf);
                if (write(S.notify_fd, line, (size_t)MIN(n, (int)sizeof(line) - 1)) < 0) { /* parent gone */ }
        } else {
                print_note(tag, buf);
        }
}

void mount_notify_end(const char *word)
{
        if (S.notify_fd < 0)
                return;
        if (word && (write(S.notify_fd, word, strlen(word)) < 0 || write(S.notify_fd, "\n", 1) < 0)) { /* parent gone */ }
        close(S.notify_fd);
        S.notify_fd = -1;
}

/* Warnings of the library (damaged chunks...) while serving: stderr in the
 * foreground, else syslog and the log file named in the state file. */
static void daemon_event(enum lb_event ev, const char *msg, const struct lb_progress *p, void *userdata)
{
        if (ev != LB_EVENT_WARNING || !msg)
                return;
        if (S.o.foreground) {
                fprintf(stderr, "lifeboat: warning: %s\n", msg);
                return;
        }
        syslog(LOG_WARNING, "%s", msg);
        if (S.log_fd >= 0) {
                char line[1200], ts[32];
                time_t t = time(NULL);
                struct tm tm;
                localtime_r(&t, &tm);
                strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
                int n = snprintf(line, sizeof(line), "%s lifeboat: %s\n", ts, msg);
                if (write(S.log_fd, line, (size_t)MIN(n, (int)sizeof(line) - 1)) < 0) { /* nowhere to report */ }
        }
}

/* ---- stopping ---- */

/* Undo the inner mounts and the FUSE mount, through the helper. From the
 * signal thread, or the main thread after the loop. */
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;

static void stop_serving(void)
{
        pthread_mutex_lock(&stop_lock);
        if (!atomic_exchange(&S.cleaned, true)) {
                innermount_helper_stop();
                fuse_session_exit(S.se);
                /* normally the helper unmounted us; if not, detach (the path
                 * of a mount point does not go through the mount itself) */
                if (mounted_lifeboat_at(S.o.mountpoint))
                        umount2(S.o.mountpoint, MNT_DETACH);
        }
        pthread_mutex_unlock(&stop_lock);
}

static void *signal_main(void *arg)
{
        sigset_t *set = arg;
        int sig;
        while (sigwait(set, &sig) != 0)
                ;
        stop_serving();
        return NULL;
}

/* The server could not start. In the background, the waiting parent
 * undoes the mount; in the foreground there is none: the helper is let go
 * (it has mounted nothing yet) and what the state file records, or else the
 * FUSE mount, is undone here, and the state file removed. */
static int serve_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int serve_fail(const char *fmt, ...)
{
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        mount_notify('E', "%s", buf);
        mount_notify_end("FAIL");
        if (S.o.foreground) {
                atomic_store(&S.cleaned, true);
                innermount_helper_wait();
                mount_record_undo_failed(getpid());
        }
        return 1;
}

/* ---- serving ---- */

/* The serving process: helper, state file, reader context, signal thread,
 * the FUSE loop. Returns the exit status. */
static int serve(void)
{
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGHUP);
        signal(SIGPIPE, SIG_IGN);
        mount_record_set_server(getpid());
        pid_t helper = innermount_helper_start(&S.o, S.repo_path, fuse_session_fd(S.se));
        if (helper < 0)
                return serve_fail("cannot start the helper process: %s", strerror((int)-helper));
        mount_record_set_helper(helper);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        lb_set_event_handler(daemon_event, NULL);
        int k = mount_record_save();
        if (k < 0)
                return serve_fail("cannot write %s: %s", mount_record_path(), strerror(-k));
        k = fusefs_reader_start();
        if (k < 0)
                return serve_fail("cannot read the repository index: %s", lb_error_get() ? lb_error_get() : strerror(-k));
        pthread_t sig_thread;
        if (pthread_create(&sig_thread, NULL, signal_main, &set) != 0)
                return serve_fail("cannot start a thread");
        pthread_detach(sig_thread);
        /* from now on the helper reports to the user */
        if (innermount_helper_go() < 0)
                return serve_fail("the helper process died");
        mount_notify_end(NULL);
        struct fuse_loop_config *cfg = fuse_loop_cfg_create();
        fuse_loop_cfg_set_clone_fd(cfg, 0);
        fuse_loop_cfg_set_max_threads(cfg, 16);
        fuse_loop_cfg_set_idle_threads(cfg, 4);
        fuse_session_loop_mt(S.se, cfg);
        fuse_loop_cfg_destroy(cfg);
        /* stopped by a signal (cleanup done), or our filesystem was unmounted
         * from outside (lifeboat umount did the rest) */
        if (mounted_lifeboat_at(S.o.mountpoint))
                stop_serving();
        pthread_mutex_lock(&stop_lock); /* a stop under way in the signal thread ends first */
        pthread_mutex_unlock(&stop_lock);
        fusefs_report_stats();
        innermount_helper_wait();
        mount_record_remove(); /* the state file, if it is still ours */
        return 0;
}

int mount_serve(struct lb_repo *repo, const struct mount_opts *o)
{
        S.o = *o;
        S.repo_path = lb_repo_path(repo);
        /* the FUSE mount, before anything runs in the background: its errors
         * reach the terminal */
        S.se = fusefs_session_new(o->debug);
        if (!S.se) {
                lb_repo_close(repo);
                fprintf(stderr, "lifeboat: cannot start FUSE (is the fuse module loaded?)\n");
                return 1;
        }
        if (fuse_session_mount(S.se, o->mountpoint) != 0) {
                fuse_session_destroy(S.se);
                lb_repo_close(repo);
                fprintf(stderr, "lifeboat: cannot mount FUSE at %s (see above)\n", o->mountpoint);
                return 1;
        }
        int ffd = fuse_session_fd(S.se);
        fcntl(ffd, F_SETFD, fcntl(ffd, F_GETFD) | FD_CLOEXEC);
        mount_record_begin(o->mountpoint, S.repo_path);

        if (o->foreground)
                return serve();

        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
                fprintf(stderr, "lifeboat: pipe: %s\n", strerror(errno));
                fuse_session_unmount(S.se);
                return 1;
        }
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
                fprintf(stderr, "lifeboat: fork: %s\n", strerror(errno));
                fuse_session_unmount(S.se);
                return 1;
        }
        if (pid == 0) {
                close(p[0]);
                S.notify_fd = p[1];
                setsid();
                if (chdir("/") < 0) { /* never fails */ }
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null >= 0) {
                        dup2(null, 0);
                        dup2(null, 1);
                        dup2(null, 2);
                        if (null > 2)
                                close(null);
                }
                S.log_fd = open(mount_record_log(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                openlog("lifeboat", LOG_PID, LOG_DAEMON);
                _exit(serve());
        }
        close(p[1]);
        /* the parent: relay the notes until OK or FAIL */
        FILE *f = fdopen(p[0], "r");
        char line[2200];
        bool ok = false;
        while (f && fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                if (!strcmp(line, "OK")) {
                        ok = true;
                        break;
                }
                if (!strcmp(line, "FAIL"))
                        break;
                print_note(line[0], line + 2);
        }
        if (f)
                fclose(f);
        if (ok)
                return 0;
        /* the serving process failed or died: undo what it set up */
        fprintf(stderr, "lifeboat: the mount failed; undoing it\n");
        mount_record_undo_failed(pid);
        return 1;
}
