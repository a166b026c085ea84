/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lifeboat mount / umount: the snapshots of a repository as a read-only FUSE
 * filesystem (libfuse3, low-level API, multi-threaded):
 *
 *   MOUNTPOINT/latest -> <newest snapshot dir>
 *   MOUNTPOINT/<YYYY-MM-DDTHHMMSS>_<id8>/info.json       what `info --json` prints
 *   MOUNTPOINT/<...>/<image>/disk.img                     the whole image
 *   MOUNTPOINT/<...>/<image>/part<N>.img                  a window of disk.img
 *   MOUNTPOINT/<...>/<image>/part<N>/  (--files)          partition N's filesystem
 *   MOUNTPOINT/<...>/<image>/fs/       (--files)          a single volume's filesystem
 *
 * Data comes from src/lib/reader.c (chunks fetched through the map, cached
 * decoded, prefetched ahead of sequential readers). Image files are direct
 * I/O: no page cache of their own.
 *
 * With --files the filesystems are mounted read-only on directories of the
 * FUSE tree itself, from read-only loop devices (direct I/O, autoclear) over
 * the FUSE files. A helper process does that (and undoes it): the serving
 * process never makes a system call through its own mount (see
 * helper_main). Everything set up is recorded in a state file,
 * /run/lifeboat/<escaped mount point>.json (serving and helper processes,
 * loop devices and their backing files, inner mounts), before it is used,
 * so that `lifeboat umount` undoes all of it, also after the processes were
 * killed: inner mounts first (their paths resolve through the kernel's cached
 * dentries, whose timeouts are long: the tree of a snapshot never changes;
 * failing that, the whole tree is detached), then loop devices that
 * autoclear left, then the FUSE mount, then the processes. */
#define FUSE_USE_VERSION 312
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <libgen.h>
#include <linux/loop.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "disk.h"
#include "events.h"
#include "grow.h"
#include "reader.h"
#include "repo.h"
#include "snapshot.h"

#define LONG_TIMEOUT 86400.0 /* what never changes: the tree of a snapshot */
#define REFRESH_MS 2000      /* re-list snapshots/ at most this often */

/* ---- small helpers ---- */

static uint64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
        nanosleep(&ts, NULL);
}

static bool have_program(const char *name)
{
        const char *path = getenv("PATH");
        char buf[4096];
        if (!path)
                path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        for (const char *p = path; *p;) {
                const char *e = strchr(p, ':');
                size_t n = e ? (size_t)(e - p) : strlen(p);
                snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, name);
                if (access(buf, X_OK) == 0)
                        return true;
                p += n + (e ? 1 : 0);
        }
        return false;
}

static bool kernel_has_fs(const char *type)
{
        FILE *f = fopen("/proc/filesystems", "re");
        char line[256];
        bool found = false;
        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f)) {
                char *t = strrchr(line, '\t');
                t = t ? t + 1 : line;
                t[strcspn(t, "\n")] = 0;
                found = strcmp(t, type) == 0;
        }
        fclose(f);
        return found;
}

/* The absolute path of p without resolving its last component (which may be
 * a dead FUSE mount that cannot be stat'ed). */
static char *canonical_path(const char *p)
{
        char *a = strdup(p), *b = strdup(p), *dir = NULL, *res = NULL;
        if (!a || !b)
                goto out;
        size_t n = strlen(b);
        while (n > 1 && b[n - 1] == '/')
                b[--n] = 0;
        const char *base = basename(b);
        dir = realpath(dirname(a), NULL);
        if (!dir)
                goto out;
        if (!strcmp(base, "/"))
                res = strdup("/");
        else if (!strcmp(base, ".") || !strcmp(base, ".."))
                res = realpath(p, NULL);
        else if (asprintf(&res, "%s/%s", strcmp(dir, "/") ? dir : "", base) < 0)
                res = NULL;
out:
        free(a);
        free(b);
        free(dir);
        return res;
}

static const char *run_dir(void)
{
        const char *d = getenv("LIFEBOAT_RUN_DIR");
        return d && *d ? d : "/run/lifeboat";
}

/* /run/lifeboat/<mount point with '/' as '-', other bytes but [A-Za-z0-9.] as _XX>.json */
static char *state_path_for(const char *mp, const char *suffix)
{
        size_t n = strlen(mp);
        char *esc = malloc(3 * n + 1), *res = NULL;
        if (!esc)
                return NULL;
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)mp[i];
                if (ch == '/')
                        esc[j++] = '-';
                else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.')
                        esc[j++] = (char)ch;
                else
                        j += (size_t)sprintf(esc + j, "_%02x", ch);
        }
        esc[j] = 0;
        if (asprintf(&res, "%s/%s%s", run_dir(), esc, suffix) < 0)
                res = NULL;
        free(esc);
        return res;
}

/* Field 22 of /proc/PID/stat: tells a process from a later one with its PID. */
static uint64_t proc_start_time(pid_t pid)
{
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        if (!p)
                return 0;
        /* after ") ": field 3 is the state; the start time is field 22 */
        p += 2;
        for (int field = 3; field < 22 && p; field++) {
                p = strchr(p, ' ');
                if (p)
                        p++;
        }
        return p ? strtoull(p, NULL, 10) : 0;
}

static bool proc_alive(pid_t pid, uint64_t start)
{
        if (pid <= 0)
                return false;
        uint64_t s = proc_start_time(pid);
        if (!s || (start && s != start))
                return false;
        char path[64], state = 0;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "re");
        if (f) {
                char buf[1024];
                if (fgets(buf, sizeof(buf), f)) {
                        char *p = strrchr(buf, ')');
                        if (p && p[1])
                                state = p[2];
                }
                fclose(f);
        }
        return state && state != 'Z' && state != 'X';
}

/* The mount point field of /proc/self/mountinfo, unescaped in place. */
static void unescape_octal(char *s)
{
        char *o = s;
        while (*s) {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
                        *o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
                        s += 4;
                } else
                        *o++ = *s++;
        }
        *o = 0;
}

/* Whether something is mounted exactly at path; fstype gets the type of the
 * topmost such mount. */
static bool mounted_at(const char *path, char *fstype, size_t len)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char *line = NULL;
        size_t cap = 0;
        bool found = false;
        if (!f)
                return false;
        while (getline(&line, &cap, f) > 0) {
                char *save, *tok = strtok_r(line, " ", &save);
                char *mp = NULL;
                for (int i = 0; tok && i < 4; i++)
                        tok = strtok_r(NULL, " ", &save);
                mp = tok;
                if (!mp)
                        continue;
                unescape_octal(mp);
                if (strcmp(mp, path) != 0)
                        continue;
                found = true;
                while ((tok = strtok_r(NULL, " ", &save)) && strcmp(tok, "-") != 0)
                        ;
                tok = tok ? strtok_r(NULL, " ", &save) : NULL;
                if (fstype && len)
                        snprintf(fstype, len, "%s", tok ? tok : "");
        }
        free(line);
        fclose(f);
        return found;
}

/* The file a loop device reads, or "" when it is detached. */
static void loop_backing(const char *dev, char *out, size_t len)
{
        char path[128];
        const char *name = strrchr(dev, '/');
        out[0] = 0;
        snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", name ? name + 1 : dev);
        FILE *f = fopen(path, "re");
        if (!f)
                return;
        if (fgets(out, (int)len, f))
                out[strcspn(out, "\n")] = 0;
        else
                out[0] = 0;
        fclose(f);
        size_t n = strlen(out);
        const char *del = " (deleted)";
        if (n > strlen(del) && !strcmp(out + n - strlen(del), del))
                out[n - strlen(del)] = 0;
}

/* Run a program; its output (last part) goes to out. Returns its exit status,
 * or -errno. All our file descriptors but stdio are closed in the child: a
 * helper (ntfs-3g) must never hold the FUSE device open. */
static int run_program(const char *const argv[], char *out, size_t outlen)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int e = errno;
                close(p[0]);
                close(p[1]);
                return -e;
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR);
                dup2(null, 0);
                dup2(p[1], 1);
                dup2(p[1], 2);
                close_range(3, ~0u, 0);
                execvp(argv[0], (char *const *)argv);
                _exit(127);
        }
        close(p[1]);
        size_t n = 0;
        char buf[1024];
        ssize_t k;
        while ((k = read(p[0], buf, sizeof(buf))) > 0 || (k < 0 && errno == EINTR))
                for (ssize_t i = 0; i < k; i++) {
                        if (n + 1 >= outlen) {
                                memmove(out, out + outlen / 2, n - outlen / 2);
                                n -= outlen / 2;
                        }
                        out[n++] = buf[i];
                }
        out[n] = 0;
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
                out[--n] = 0;
        for (char *c = out; *c; c++)
                if (*c == '\n')
                        *c = ' ';
        close(p[0]);
        int st;
        while (waitpid(pid, &st, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- the state file ---- */

struct state_loop {
        char dev[64];
        char *backing;
};
struct state_mount {
        char *path;
        char type[32];
        char dev[64];
};
struct state {
        char *mountpoint, *repo, *log;
        pid_t pid, helper_pid; /* the server, the helper (inner mounts) */
        uint64_t start, helper_start;
        struct state_loop *loops;
        size_t nloops;
        struct state_mount *mounts;
        size_t nmounts;
};

static void state_done(struct state *s)
{
        free(s->mountpoint);
        free(s->repo);
        free(s->log);
        for (size_t i = 0; i < s->nloops; i++)
                free(s->loops[i].backing);
        for (size_t i = 0; i < s->nmounts; i++)
                free(s->mounts[i].path);
        free(s->loops);
        free(s->mounts);
        memset(s, 0, sizeof(*s));
}

static const char *jget_str(json_object *o, const char *k)
{
        json_object *v;
        return o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string) ?
                       json_object_get_string(v) : NULL;
}

static int64_t jget_int(json_object *o, const char *k)
{
        json_object *v;
        return o && json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static int state_load(const char *path, struct state *s)
{
        memset(s, 0, sizeof(*s));
        json_object *o = json_object_from_file(path), *a;
        if (!o)
                return access(path, F_OK) == 0 ? -EBADMSG : -ENOENT;
        s->mountpoint = jget_str(o, "mountpoint") ? strdup(jget_str(o, "mountpoint")) : NULL;
        s->repo = jget_str(o, "repo") ? strdup(jget_str(o, "repo")) : NULL;
        s->log = jget_str(o, "log") ? strdup(jget_str(o, "log")) : NULL;
        s->pid = (pid_t)jget_int(o, "pid");
        s->start = (uint64_t)jget_int(o, "start_time");
        s->helper_pid = (pid_t)jget_int(o, "helper_pid");
        s->helper_start = (uint64_t)jget_int(o, "helper_start_time");
        if (json_object_object_get_ex(o, "loops", &a) && json_object_is_type(a, json_type_array)) {
                size_t n = json_object_array_length(a);
                s->loops = calloc(n ? n : 1, sizeof(*s->loops));
                for (size_t i = 0; s->loops && i < n; i++) {
                        json_object *e = json_object_array_get_idx(a, i);
                        const char *d = jget_str(e, "device"), *b = jget_str(e, "backing");
                        if (!d || !b)
                                continue;
                        snprintf(s->loops[s->nloops].dev, sizeof(s->loops[0].dev), "%s", d);
                        s->loops[s->nloops++].backing = strdup(b);
                }
        }
        if (json_object_object_get_ex(o, "mounts", &a) && json_object_is_type(a, json_type_array)) {
                size_t n = json_object_array_length(a);
                s->mounts = calloc(n ? n : 1, sizeof(*s->mounts));
                for (size_t i = 0; s->mounts && i < n; i++) {
                        json_object *e = json_object_array_get_idx(a, i);
                        const char *p = jget_str(e, "path");
                        if (!p)
                                continue;
                        struct state_mount *m = &s->mounts[s->nmounts++];
                        const char *t = jget_str(e, "type"), *dv = jget_str(e, "device");
                        m->path = strdup(p);
                        if (t)
                                snprintf(m->type, sizeof(m->type), "%s", t);
                        if (dv)
                                snprintf(m->dev, sizeof(m->dev), "%s", dv);
                }
        }
        json_object_put(o);
        return s->mountpoint ? 0 : -EBADMSG;
}

static int state_save(const char *path, const struct state *s)
{
        json_object *o = json_object_new_object(), *loops = json_object_new_array(), *mounts = json_object_new_array();
        json_object_object_add(o, "mountpoint", json_object_new_string(s->mountpoint));
        json_object_object_add(o, "repo", json_object_new_string(s->repo ? s->repo : ""));
        json_object_object_add(o, "log", json_object_new_string(s->log ? s->log : ""));
        json_object_object_add(o, "pid", json_object_new_int64(s->pid));
        json_object_object_add(o, "start_time", json_object_new_int64((int64_t)s->start));
        json_object_object_add(o, "helper_pid", json_object_new_int64(s->helper_pid));
        json_object_object_add(o, "helper_start_time", json_object_new_int64((int64_t)s->helper_start));
        for (size_t i = 0; i < s->nloops; i++) {
                json_object *e = json_object_new_object();
                json_object_object_add(e, "device", json_object_new_string(s->loops[i].dev));
                json_object_object_add(e, "backing", json_object_new_string(s->loops[i].backing));
                json_object_array_add(loops, e);
        }
        for (size_t i = 0; i < s->nmounts; i++) {
                json_object *e = json_object_new_object();
                json_object_object_add(e, "path", json_object_new_string(s->mounts[i].path));
                json_object_object_add(e, "type", json_object_new_string(s->mounts[i].type));
                json_object_object_add(e, "device", json_object_new_string(s->mounts[i].dev));
                json_object_array_add(mounts, e);
        }
        json_object_object_add(o, "loops", loops);
        json_object_object_add(o, "mounts", mounts);
        const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        char *tmp = NULL;
        int r = 0;
        if (asprintf(&tmp, "%s.%d.tmp", path, (int)getpid()) < 0) {
                json_object_put(o);
                return -ENOMEM;
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                r = -errno;
        else {
                size_t n = strlen(txt);
                if (write(fd, txt, n) != (ssize_t)n || write(fd, "\n", 1) != 1 || fsync(fd) < 0)
                        r = -EIO;
                close(fd);
                if (r == 0 && rename(tmp, path) < 0)
                        r = -errno;
                if (r < 0)
                        unlink(tmp);
        }
        free(tmp);
        json_object_put(o);
        return r;
}

/* ---- undoing a mount (lifeboat umount, a failed start, the daemon's exit) ---- */

/* Unmount what s records. Returns 0, or 1 with messages printed when
 * something is still there. Never touches a loop device or mount that the
 * state file does not name, nor a loop device whose backing file changed. */
static int undo_mount(struct state *s, bool lazy, bool quiet, bool skip_fuse)
{
        int failed = 0;
        bool detach_tree = false;
        char type[64], back[4096];
        /* 1. inner mounts, last first */
        for (size_t i = s->nmounts; i-- > 0;) {
                const char *p = s->mounts[i].path;
                for (int tries = 0; mounted_at(p, type, sizeof(type)); tries++) {
                        if (umount2(p, lazy ? MNT_DETACH : 0) == 0)
                                continue;
                        int e = errno;
                        if (e == EBUSY && tries < 30) {
                                sleep_ms(100);
                                continue;
                        }
                        if (e == EBUSY) {
                                fprintf(stderr, "lifeboat: %s is busy (files under it are in use); close them, or use "
                                                "'lifeboat umount --lazy'\n", p);
                                failed = 1;
                        } else {
                                /* its path does not resolve any more (the FUSE
                                 * process died and the kernel had to ask it):
                                 * detach the whole tree below the mount point */
                                detach_tree = true;
                        }
                        break;
                }
        }
        if (failed)
                return 1;
        if (detach_tree && !skip_fuse && mounted_at(s->mountpoint, type, sizeof(type)) && !strcmp(type, "fuse.lifeboat")) {
                if (umount2(s->mountpoint, MNT_DETACH) < 0) {
                        fprintf(stderr, "lifeboat: cannot detach %s: %s\n", s->mountpoint, strerror(errno));
                        return 1;
                }
        }
        /* 2. loop devices: autoclear detaches them when their filesystem is
         * released; what is left (and still reads our file) is detached here */
        for (size_t i = 0; i < s->nloops; i++) {
                const char *dev = s->loops[i].dev;
                for (int tries = 0; tries < 60; tries++) {
                        loop_backing(dev, back, sizeof(back));
                        if (strcmp(back, s->loops[i].backing) != 0)
                                break;
                        if (tries == 30) {
                                int fd = open(dev, O_RDONLY | O_CLOEXEC);
                                if (fd >= 0) {
                                        ioctl(fd, LOOP_CLR_FD, 0);
                                        close(fd);
                                }
                        }
                        sleep_ms(100);
                }
                loop_backing(dev, back, sizeof(back));
                if (!strcmp(back, s->loops[i].backing)) {
                        fprintf(stderr, "lifeboat: loop device %s (%s) is still in use\n", dev, back);
                        failed = 1;
                }
        }
        /* 3. the FUSE filesystem */
        if (!skip_fuse) {
                for (int tries = 0; mounted_at(s->mountpoint, type, sizeof(type)); tries++) {
                        if (strcmp(type, "fuse.lifeboat") != 0) {
                                fprintf(stderr, "lifeboat: %s: the top mount is %s, not Lifeboat's; not touching it\n",
                                        s->mountpoint, type);
                                return 1;
                        }
                        if (umount2(s->mountpoint, lazy ? MNT_DETACH : 0) == 0)
                                continue;
                        int e = errno;
                        if (e == EBUSY && tries < 30) {
                                sleep_ms(100);
                                continue;
                        }
                        if (e == EBUSY) {
                                fprintf(stderr, "lifeboat: %s is busy (files under it are in use); close them, or use "
                                                "'lifeboat umount --lazy'\n", s->mountpoint);
                                return 1;
                        }
                        if (umount2(s->mountpoint, MNT_DETACH) < 0) {
                                fprintf(stderr, "lifeboat: cannot unmount %s: %s\n", s->mountpoint, strerror(errno));
                                return 1;
                        }
                        break;
                }
                /* 4. the process serving it ends when its filesystem goes,
                 * and its helper with it */
                pid_t pids[2] = { s->pid, s->helper_pid };
                uint64_t starts[2] = { s->start, s->helper_start };
                for (int i = 0; i < 2; i++) {
                        if (pids[i] <= 0 || pids[i] == getpid())
                                continue;
                        for (int tries = 0; proc_alive(pids[i], starts[i]); tries++) {
                                if (tries == 50)
                                        kill(pids[i], SIGTERM);
                                if (tries == 80)
                                        kill(pids[i], SIGKILL);
                                if (tries > 120) {
                                        fprintf(stderr, "lifeboat: process %d of the mount at %s does not exit\n",
                                                (int)pids[i], s->mountpoint);
                                        return 1;
                                }
                                sleep_ms(100);
                        }
                }
        }
        (void)quiet;
        return failed;
}

/* ---- the tree ---- */

enum kind { K_ROOT, K_LATEST, K_SNAP, K_INFO, K_IMGDIR, K_DISK, K_PART, K_FSDIR };

struct mpart {
        unsigned number;
        uint64_t start, size;
        char fstype[16];
        char img_name[24], dir_name[24];
        fuse_ino_t img_ino, dir_ino; /* dir_ino 0: no mount directory */
};

struct mimage {
        char *dname;
        size_t index;
        uint64_t size;
        char fstype[16]; /* a single volume's filesystem */
        fuse_ino_t dir_ino, disk_ino, fs_ino;
        struct mpart *parts;
        size_t nparts;
};

struct msnap {
        char id[65];
        char dname[64];
        int64_t time, time_ns;
        struct lb_snapshot *s;
        char *info;
        size_t info_len;
        fuse_ino_t dir_ino, info_ino;
        struct mimage *images;
        size_t nimages;
        atomic_bool gone;
        _Atomic uint64_t checked_ms;
        bool files;
};

struct node {
        uint8_t kind;
        fuse_ino_t parent;
        struct msnap *snap;
        struct mimage *img;
        struct mpart *part;
};

struct mount_opts {
        bool files, files_all, foreground, debug, quiet;
        unsigned cache_mib; /* decoded chunks kept in memory */
        char files_id[65];
        const char *mountpoint; /* canonical */
};

static struct {
        struct lb_repo *repo;
        struct lb_reader_ctx *rc;
        struct fuse_session *se;
        struct mount_opts o;
        pthread_rwlock_t lock; /* nodes and snaps */
        struct node **nodes;
        size_t nnodes, cap;
        struct msnap **snaps; /* by time */
        size_t nsnaps;
        pthread_mutex_t refresh_lock;
        uint64_t refreshed_ms;
        time_t mount_time;
        bool vfat_kernel, have_fusefat, have_ntfs3g;
        /* state */
        pthread_mutex_t state_lock;
        struct state st;
        char *state_path, *log_path;
        int log_fd;
        int notify_fd; /* the waiting parent's pipe, -1 in the foreground */
        atomic_int open_handles;
        atomic_bool cleaned;
} M = { .log_fd = -1, .notify_fd = -1 };

static fuse_ino_t add_node(uint8_t kind, fuse_ino_t parent, struct msnap *s, struct mimage *im, struct mpart *p)
{
        if (M.nnodes == M.cap) {
                size_t cap = M.cap ? 2 * M.cap : 64;
                struct node **v = realloc(M.nodes, cap * sizeof(*v));
                if (!v)
                        return 0;
                M.nodes = v;
                M.cap = cap;
        }
        struct node *n = calloc(1, sizeof(*n));
        if (!n)
                return 0;
        *n = (struct node){ .kind = kind, .parent = parent, .snap = s, .img = im, .part = p };
        M.nodes[M.nnodes++] = n;
        return M.nnodes; /* ino = index + 1 */
}

static struct node *get_node(fuse_ino_t ino)
{
        return ino >= 1 && ino <= M.nnodes ? M.nodes[ino - 1] : NULL;
}

static bool fs_mountable(const char *type)
{
        if (!strcmp(type, "ext2") || !strcmp(type, "ext3") || !strcmp(type, "ext4") || !strcmp(type, "xfs") ||
            !strcmp(type, "btrfs"))
                return true;
        if (!strcmp(type, "ntfs"))
                return M.have_ntfs3g;
        if (!strcmp(type, "vfat"))
                return M.vfat_kernel || M.have_fusefat;
        return false;
}

static char *image_dname(const struct lb_snapshot *s, size_t i)
{
        const char *n = s->images[i].name;
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", n && *n && strcmp(n, ".") && strcmp(n, "..") ? n : "image");
        for (char *c = buf; *c; c++)
                if (*c == '/')
                        *c = '_';
        /* unique within the snapshot directory, and not "info.json" */
        char out[300];
        snprintf(out, sizeof(out), "%s", buf);
        for (int k = 2;; k++) {
                bool taken = !strcmp(out, "info.json");
                for (size_t j = 0; j < i && !taken; j++) {
                        const char *o = s->images[j].name;
                        taken = o && !strcmp(o, out);
                }
                if (!taken)
                        break;
                snprintf(out, sizeof(out), "%s-%d", buf, k);
        }
        return strdup(out);
}

/* The same document as `lifeboat info --json`. */
static char *snapshot_info_json(const struct lb_snapshot *s, size_t *ret_len)
{
        struct lb_snapshot_info si;
        struct lb_image_info ii;
        lb_snapshot_get_info(s, &si);
        json_object *o = json_object_new_object(), *imgs = json_object_new_array(), *tags = json_object_new_array();
        json_object_object_add(o, "id", json_object_new_string(si.id));
        json_object_object_add(o, "time", json_object_new_int64(si.time));
        json_object_object_add(o, "hostname", json_object_new_string(si.hostname));
        json_object_object_add(o, "lifeboat_version", json_object_new_string(si.version));
        json_object_object_add(o, "duration_ms", json_object_new_int64((int64_t)si.duration_ms));
        json_object_object_add(o, "live", json_object_new_boolean(si.live));
        for (size_t k = 0; k < si.ntags; k++)
                json_object_array_add(tags, json_object_new_string(si.tags[k]));
        json_object_object_add(o, "tags", tags);
        for (size_t k = 0; k < si.nimages; k++) {
                if (lb_snapshot_get_image(s, k, &ii) < 0)
                        continue;
                json_object *j = json_object_new_object();
                json_object_object_add(j, "name", json_object_new_string(ii.name));
                json_object_object_add(j, "source", json_object_new_string(ii.source));
                json_object_object_add(j, "size", json_object_new_int64((int64_t)ii.size));
                json_object_object_add(j, "chunk_size", json_object_new_int64(ii.chunk_size));
                json_object_object_add(j, "bytes_read", json_object_new_int64((int64_t)ii.stats.bytes_read));
                json_object_object_add(j, "zero_bytes", json_object_new_int64((int64_t)ii.stats.zero_bytes));
                json_object_object_add(j, "new_chunks", json_object_new_int64((int64_t)ii.stats.new_chunks));
                json_object_object_add(j, "dedup_chunks", json_object_new_int64((int64_t)ii.stats.dedup_chunks));
                json_object_object_add(j, "new_bytes", json_object_new_int64((int64_t)ii.stats.new_bytes));
                json_object_object_add(j, "stored_bytes", json_object_new_int64((int64_t)ii.stats.stored_bytes));
                json_object_object_add(j, "unused_bytes", json_object_new_int64((int64_t)ii.stats.unused_bytes));
                json_object_object_add(j, "unchanged_chunks", json_object_new_int64((int64_t)ii.stats.unchanged_chunks));
                if (ii.layout_json)
                        json_object_object_add(j, "disk", json_tokener_parse(ii.layout_json));
                json_object_array_add(imgs, j);
        }
        json_object_object_add(o, "images", imgs);
        char *res = NULL;
        if (asprintf(&res, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
                res = NULL;
        json_object_put(o);
        *ret_len = res ? strlen(res) : 0;
        return res;
}

/* Build the entry of a loaded snapshot (its nodes are added later). */
static struct msnap *msnap_new(struct lb_snapshot *s)
{
        struct msnap *m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;
        m->s = s;
        snprintf(m->id, sizeof(m->id), "%s", s->id);
        m->time = s->time;
        m->time_ns = s->time_ns;
        time_t t = (time_t)s->time;
        struct tm tm;
        char ts[32];
        localtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H%M%S", &tm);
        snprintf(m->dname, sizeof(m->dname), "%s_%.8s", ts, s->id);
        m->info = snapshot_info_json(s, &m->info_len);
        m->files = M.o.files && (M.o.files_all || !strcmp(M.o.files_id, s->id));
        m->nimages = s->nimages;
        m->images = calloc(s->nimages ? s->nimages : 1, sizeof(*m->images));
        if (!m->info || !m->images)
                goto fail;
        for (size_t i = 0; i < s->nimages; i++) {
                struct mimage *im = &m->images[i];
                const struct lb_image *li = &s->images[i];
                im->index = i;
                im->size = li->size;
                im->dname = image_dname(s, i);
                if (!im->dname)
                        goto fail;
                struct lb_disk_layout lay;
                if (!li->disk || lb_disk_layout_from_json(li->disk, &lay) < 0)
                        continue;
                if (!lay.table[0]) {
                        snprintf(im->fstype, sizeof(im->fstype), "%s", lay.fs.type);
                } else {
                        im->parts = calloc(lay.nparts ? lay.nparts : 1, sizeof(*im->parts));
                        for (size_t j = 0; im->parts && j < lay.nparts; j++) {
                                const struct lb_partition *p = &lay.parts[j];
                                if (p->container || p->start >= li->size)
                                        continue;
                                struct mpart *mp = &im->parts[im->nparts++];
                                mp->number = p->number;
                                mp->start = p->start;
                                mp->size = MIN(p->size, li->size - p->start);
                                snprintf(mp->fstype, sizeof(mp->fstype), "%s", p->fs.type);
                                snprintf(mp->img_name, sizeof(mp->img_name), "part%u.img", p->number);
                                snprintf(mp->dir_name, sizeof(mp->dir_name), "part%u", p->number);
                        }
                }
                lb_disk_layout_done(&lay);
        }
        return m;
fail:
        for (size_t i = 0; m->images && i < m->nimages; i++) {
                free(m->images[i].dname);
                free(m->images[i].parts);
        }
        free(m->images);
        free(m->info);
        free(m);
        return NULL;
}

/* With the write lock held. */
static int msnap_add_nodes(struct msnap *m)
{
        if (!(m->dir_ino = add_node(K_SNAP, 1, m, NULL, NULL)) || !(m->info_ino = add_node(K_INFO, m->dir_ino, m, NULL, NULL)))
                return -ENOMEM;
        for (size_t i = 0; i < m->nimages; i++) {
                struct mimage *im = &m->images[i];
                if (!(im->dir_ino = add_node(K_IMGDIR, m->dir_ino, m, im, NULL)) ||
                    !(im->disk_ino = add_node(K_DISK, im->dir_ino, m, im, NULL)))
                        return -ENOMEM;
                if (m->files && im->fstype[0] && fs_mountable(im->fstype) && !(im->fs_ino = add_node(K_FSDIR, im->dir_ino, m, im, NULL)))
                        return -ENOMEM;
                for (size_t j = 0; j < im->nparts; j++) {
                        struct mpart *p = &im->parts[j];
                        if (!(p->img_ino = add_node(K_PART, im->dir_ino, m, im, p)))
                                return -ENOMEM;
                        if (m->files && fs_mountable(p->fstype) && !(p->dir_ino = add_node(K_FSDIR, im->dir_ino, m, im, p)))
                                return -ENOMEM;
                }
        }
        return 0;
}

static int cmp_msnap(const void *a, const void *b)
{
        const struct msnap *x = *(struct msnap *const *)a, *y = *(struct msnap *const *)b;
        if (x->time != y->time)
                return x->time < y->time ? -1 : 1;
        if (x->time_ns != y->time_ns)
                return x->time_ns < y->time_ns ? -1 : 1;
        return strcmp(x->id, y->id);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Re-list snapshots/: add new snapshots, mark deleted ones gone. At most
 * every REFRESH_MS unless forced. The index is reloaded before a new
 * snapshot becomes visible, so that all its chunks are found. */
static int refresh(bool force)
{
        pthread_mutex_lock(&M.refresh_lock);
        if (!force && M.refreshed_ms && mono_ms() - M.refreshed_ms < REFRESH_MS) {
                pthread_mutex_unlock(&M.refresh_lock);
                return 0;
        }
        char **names;
        size_t n;
        int k = lb_repo_list_meta(M.repo, "snapshots", &names, &n);
        if (k < 0) {
                pthread_mutex_unlock(&M.refresh_lock);
                return k;
        }
        qsort(names, n, sizeof(*names), cmp_str);
        /* known IDs, sorted */
        pthread_rwlock_rdlock(&M.lock);
        size_t nknown = M.nsnaps;
        char **known = calloc(nknown ? nknown : 1, sizeof(*known));
        for (size_t i = 0; known && i < nknown; i++) {
                known[i] = M.snaps[i]->id;
                char *key = M.snaps[i]->id;
                if (!bsearch(&key, names, n, sizeof(*names), cmp_str))
                        atomic_store(&M.snaps[i]->gone, true);
        }
        pthread_rwlock_unlock(&M.lock);
        if (!known) {
                lb_strv_free(names, n);
                pthread_mutex_unlock(&M.refresh_lock);
                return -ENOMEM;
        }
        qsort(known, nknown, sizeof(*known), cmp_str);
        struct msnap **add = calloc(n ? n : 1, sizeof(*add));
        size_t nadd = 0;
        for (size_t i = 0; add && i < n; i++) {
                if (bsearch(&names[i], known, nknown, sizeof(*known), cmp_str))
                        continue;
                struct lb_snapshot *s;
                if (lb_snapshot_load(M.repo, names[i], &s) < 0) {
                        lb_warn("%s; skipping it", lb_error_get() ? lb_error_get() : "unreadable snapshot");
                        continue;
                }
                struct msnap *m = msnap_new(s);
                if (!m) {
                        lb_snapshot_free(s);
                        continue;
                }
                add[nadd++] = m;
        }
        free(known);
        lb_strv_free(names, n);
        if (nadd && M.rc && lb_reader_ctx_reload_index(M.rc) < 0)
                lb_warn("cannot reload the repository index: %s", lb_error_get() ? lb_error_get() : "error");
        if (nadd) {
                pthread_rwlock_wrlock(&M.lock);
                struct msnap **v = realloc(M.snaps, (M.nsnaps + nadd) * sizeof(*v));
                if (v) {
                        M.snaps = v;
                        for (size_t i = 0; i < nadd; i++) {
                                if (msnap_add_nodes(add[i]) < 0)
                                        break;
                                M.snaps[M.nsnaps++] = add[i];
                        }
                        qsort(M.snaps, M.nsnaps, sizeof(*M.snaps), cmp_msnap);
                }
                pthread_rwlock_unlock(&M.lock);
        }
        free(add);
        M.refreshed_ms = mono_ms();
        pthread_mutex_unlock(&M.refresh_lock);
        return 0;
}

/* Whether a snapshot still exists (its file is looked at, at most once a
 * second): a deleted snapshot's files fail, they never read other data. */
static bool snap_alive(struct msnap *m)
{
        if (atomic_load(&m->gone))
                return false;
        uint64_t now = mono_ms();
        if (now - atomic_load(&m->checked_ms) < 1000)
                return true;
        atomic_store(&m->checked_ms, now);
        char path[4096];
        snprintf(path, sizeof(path), "%s/snapshots/%s", lb_repo_path(M.repo), m->id);
        if (access(path, F_OK) < 0 && errno == ENOENT) {
                atomic_store(&m->gone, true);
                return false;
        }
        return true;
}

/* The newest live snapshot, with the read lock held. */
static struct msnap *latest_locked(void)
{
        for (size_t i = M.nsnaps; i-- > 0;)
                if (!atomic_load(&M.snaps[i]->gone))
                        return M.snaps[i];
        return NULL;
}

/* ---- FUSE operations ---- */

static void fill_attr(fuse_ino_t ino, const struct node *n, struct stat *st)
{
        memset(st, 0, sizeof(*st));
        st->st_ino = ino;
        st->st_uid = 0;
        st->st_gid = 0;
        st->st_blksize = 1 << 20;
        time_t t = n->snap ? (time_t)n->snap->time : M.mount_time;
        switch (n->kind) {
        case K_ROOT:
        case K_SNAP:
        case K_IMGDIR:
        case K_FSDIR:
                st->st_mode = S_IFDIR | 0555;
                st->st_nlink = 2;
                break;
        case K_LATEST: {
                struct msnap *l = latest_locked();
                st->st_mode = S_IFLNK | 0777;
                st->st_nlink = 1;
                st->st_size = l ? (off_t)strlen(l->dname) : 0;
                if (l)
                        t = (time_t)l->time;
                break;
        }
        case K_INFO:
                st->st_mode = S_IFREG | 0444;
                st->st_nlink = 1;
                st->st_size = (off_t)n->snap->info_len;
                break;
        case K_DISK:
                st->st_mode = S_IFREG | 0444;
                st->st_nlink = 1;
                st->st_size = (off_t)n->img->size;
                break;
        case K_PART:
                st->st_mode = S_IFREG | 0444;
                st->st_nlink = 1;
                st->st_size = (off_t)n->part->size;
                break;
        }
        st->st_blocks = (blkcnt_t)DIV_ROUND_UP((uint64_t)st->st_size, 512);
        st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = t;
}

/* Long everywhere but for `latest` (whose size follows its target): the
 * paths to inner mounts must resolve from the kernel's caches alone, so that
 * they can be unmounted after the serving process died. */
static double attr_timeout(const struct node *n)
{
        return n->kind == K_LATEST ? 1.0 : LONG_TIMEOUT;
}

/* Calls fn for each entry of directory ino (read lock held); stops when fn
 * returns false. */
typedef bool (*dirent_fn)(const char *name, fuse_ino_t ino, void *userdata);
static int for_each_child(fuse_ino_t ino, dirent_fn fn, void *ud)
{
        struct node *n = get_node(ino);
        if (!n)
                return -ENOENT;
        switch (n->kind) {
        case K_ROOT: {
                struct msnap *l = latest_locked();
                if (l && !fn("latest", 2, ud))
                        return 0;
                for (size_t i = 0; i < M.nsnaps; i++)
                        if (!atomic_load(&M.snaps[i]->gone) && !fn(M.snaps[i]->dname, M.snaps[i]->dir_ino, ud))
                                return 0;
                return 0;
        }
        case K_SNAP:
                if (!fn("info.json", n->snap->info_ino, ud))
                        return 0;
                for (size_t i = 0; i < n->snap->nimages; i++)
                        if (!fn(n->snap->images[i].dname, n->snap->images[i].dir_ino, ud))
                                return 0;
                return 0;
        case K_IMGDIR: {
                struct mimage *im = n->img;
                if (!fn("disk.img", im->disk_ino, ud))
                        return 0;
                if (im->fs_ino && !fn("fs", im->fs_ino, ud))
                        return 0;
                for (size_t j = 0; j < im->nparts; j++) {
                        if (!fn(im->parts[j].img_name, im->parts[j].img_ino, ud))
                                return 0;
                        if (im->parts[j].dir_ino && !fn(im->parts[j].dir_name, im->parts[j].dir_ino, ud))
                                return 0;
                }
                return 0;
        }
        case K_FSDIR:
                return 0;
        default:
                return -ENOTDIR;
        }
}

struct find {
        const char *name;
        fuse_ino_t ino;
};

static bool find_cb(const char *name, fuse_ino_t ino, void *ud)
{
        struct find *f = ud;
        if (strcmp(name, f->name) != 0)
                return true;
        f->ino = ino;
        return false;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
        struct find f = { name, 0 };
        struct fuse_entry_param e;
        if (parent == 1)
                refresh(false);
        pthread_rwlock_rdlock(&M.lock);
        int k = for_each_child(parent, find_cb, &f);
        if (k == 0 && !f.ino && parent == 1) {
                /* maybe a snapshot that appeared since the last listing */
                pthread_rwlock_unlock(&M.lock);
                refresh(false);
                pthread_rwlock_rdlock(&M.lock);
                k = for_each_child(parent, find_cb, &f);
        }
        if (k < 0 || !f.ino) {
                pthread_rwlock_unlock(&M.lock);
                fuse_reply_err(req, k < 0 ? -k : ENOENT);
                return;
        }
        struct node *n = get_node(f.ino);
        memset(&e, 0, sizeof(e));
        e.ino = f.ino;
        fill_attr(f.ino, n, &e.attr);
        e.attr_timeout = attr_timeout(n);
        e.entry_timeout = LONG_TIMEOUT; /* inode numbers never change meaning */
        pthread_rwlock_unlock(&M.lock);
        fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        struct stat st;
        pthread_rwlock_rdlock(&M.lock);
        struct node *n = get_node(ino);
        if (!n) {
                pthread_rwlock_unlock(&M.lock);
                fuse_reply_err(req, ENOENT);
                return;
        }
        fill_attr(ino, n, &st);
        double t = attr_timeout(n);
        pthread_rwlock_unlock(&M.lock);
        fuse_reply_attr(req, &st, t);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
        if (ino != 2) {
                fuse_reply_err(req, EINVAL);
                return;
        }
        refresh(false);
        pthread_rwlock_rdlock(&M.lock);
        struct msnap *l = latest_locked();
        char target[64];
        snprintf(target, sizeof(target), "%s", l ? l->dname : "");
        pthread_rwlock_unlock(&M.lock);
        if (!target[0])
                fuse_reply_err(req, ENOENT);
        else
                fuse_reply_readlink(req, target);
}

struct dirbuf {
        char *p;
        size_t size, cap;
        size_t *ends; /* where each entry ends */
        size_t n, ncap;
        fuse_req_t req;
        int err;
};

static bool dirbuf_add(const char *name, fuse_ino_t ino, void *ud)
{
        struct dirbuf *b = ud;
        struct stat st = { .st_ino = ino };
        struct node *n = get_node(ino);
        st.st_mode = n && (n->kind == K_INFO || n->kind == K_DISK || n->kind == K_PART) ? S_IFREG :
                     n && n->kind == K_LATEST ? S_IFLNK : S_IFDIR;
        size_t need = fuse_add_direntry(b->req, NULL, 0, name, NULL, 0);
        if (b->size + need > b->cap) {
                size_t cap = MAX(b->cap * 2, b->size + need + 4096);
                char *p = realloc(b->p, cap);
                if (!p) {
                        b->err = ENOMEM;
                        return false;
                }
                b->p = p;
                b->cap = cap;
        }
        if (b->n == b->ncap) {
                size_t ncap = b->ncap ? 2 * b->ncap : 32;
                size_t *v = realloc(b->ends, ncap * sizeof(*v));
                if (!v) {
                        b->err = ENOMEM;
                        return false;
                }
                b->ends = v;
                b->ncap = ncap;
        }
        fuse_add_direntry(b->req, b->p + b->size, need, name, &st, (off_t)(b->size + need));
        b->size += need;
        b->ends[b->n++] = b->size;
        return true;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        if (ino == 1)
                refresh(false);
        struct dirbuf *b = calloc(1, sizeof(*b));
        if (!b) {
                fuse_reply_err(req, ENOMEM);
                return;
        }
        b->req = req;
        pthread_rwlock_rdlock(&M.lock);
        struct node *n = get_node(ino);
        int k = !n ? -ENOENT : n->snap && atomic_load(&n->snap->gone) ? -ENOENT : 0;
        if (k == 0) {
                dirbuf_add(".", ino, b);
                dirbuf_add("..", n->parent ? n->parent : 1, b);
                k = for_each_child(ino, dirbuf_add, b);
        }
        pthread_rwlock_unlock(&M.lock);
        if (k == 0 && n->snap && !snap_alive(n->snap))
                k = -ENOENT;
        if (k == 0 && b->err)
                k = -b->err;
        if (k < 0) {
                free(b->p);
                free(b->ends);
                free(b);
                fuse_reply_err(req, -k);
                return;
        }
        fi->fh = (uint64_t)(uintptr_t)b;
        fi->cache_readdir = ino != 1;
        fi->keep_cache = ino != 1;
        fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
        struct dirbuf *b = (struct dirbuf *)(uintptr_t)fi->fh;
        if ((size_t)off >= b->size) {
                fuse_reply_buf(req, NULL, 0);
                return;
        }
        /* whole entries only: those that fit in size */
        size_t end = (size_t)off, lim = (size_t)off + size;
        for (size_t i = 0; i < b->n; i++)
                if (b->ends[i] > (size_t)off && b->ends[i] <= lim)
                        end = b->ends[i];
        /* from a copy: once the reply is written, a releasedir may free b
         * before writev returns */
        char *copy = malloc(end - (size_t)off + 1);
        if (copy)
                memcpy(copy, b->p + off, end - (size_t)off);
        else {
                fuse_reply_err(req, ENOMEM);
                return;
        }
        fuse_reply_buf(req, copy, end - (size_t)off);
        free(copy);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        struct dirbuf *b = (struct dirbuf *)(uintptr_t)fi->fh;
        if (b) {
                free(b->p);
                free(b->ends);
                free(b);
        }
        fuse_reply_err(req, 0);
}

struct handle {
        uint8_t kind;
        struct msnap *snap;
        struct lb_image_reader *rd;
        uint64_t base, len;
};

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        if ((fi->flags & O_ACCMODE) != O_RDONLY) {
                fuse_reply_err(req, EROFS);
                return;
        }
        pthread_rwlock_rdlock(&M.lock);
        struct node *n = get_node(ino);
        struct handle h = { 0 };
        if (n) {
                h.kind = n->kind;
                h.snap = n->snap;
                if (n->kind == K_DISK)
                        h.len = n->img->size;
                else if (n->kind == K_PART) {
                        h.base = n->part->start;
                        h.len = n->part->size;
                } else if (n->kind == K_INFO)
                        h.len = n->snap->info_len;
        }
        pthread_rwlock_unlock(&M.lock);
        if (!n) {
                fuse_reply_err(req, ENOENT);
                return;
        }
        if (h.kind != K_DISK && h.kind != K_PART && h.kind != K_INFO) {
                fuse_reply_err(req, h.kind == K_LATEST ? ELOOP : EISDIR);
                return;
        }
        if (!snap_alive(h.snap)) {
                fuse_reply_err(req, ENOENT);
                return;
        }
        if (h.kind != K_INFO) {
                int k = lb_image_reader_open_ctx(M.rc, h.snap->s, n->img->index, &h.rd);
                if (k < 0) {
                        lb_warn("cannot open image %s of snapshot %.8s: %s", n->img->dname, h.snap->id,
                                lb_error_get() ? lb_error_get() : strerror(-k));
                        fuse_reply_err(req, k == -ENOMEM ? ENOMEM : EIO);
                        return;
                }
        }
        struct handle *hp = malloc(sizeof(*hp));
        if (!hp) {
                lb_image_reader_close(h.rd);
                fuse_reply_err(req, ENOMEM);
                return;
        }
        *hp = h;
        atomic_fetch_add(&M.open_handles, 1);
        fi->fh = (uint64_t)(uintptr_t)hp;
        fi->keep_cache = 1; /* a snapshot never changes */
        /* Image files bypass the page cache: copying one (dd, cp, qemu-img)
         * is twice as fast here without filling it, the loop devices of the
         * inner filesystems use direct I/O on them (the inner filesystem's
         * cache is the only one), and the chunk cache serves re-reads. As for
         * any FUSE direct-I/O file, shared mmap is refused (ENODEV).
         * LIFEBOAT_MOUNT_DIRECT_IO=0: use the page cache. */
        const char *dio = getenv("LIFEBOAT_MOUNT_DIRECT_IO");
        fi->direct_io = h.kind != K_INFO && !(dio && !strcmp(dio, "0"));
        if (fuse_reply_open(req, fi) == -ENOENT) { /* interrupted: no release will come */
                lb_image_reader_close(hp->rd);
                free(hp);
                atomic_fetch_sub(&M.open_handles, 1);
        }
}

static pthread_key_t buf_key;

static void free_buf(void *p) { free(p); }

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
        struct handle *h = (struct handle *)(uintptr_t)fi->fh;
        if (!snap_alive(h->snap)) {
                lb_warn("snapshot %.8s was deleted from the repository: its files cannot be read any more", h->snap->id);
                fuse_reply_err(req, EIO);
                return;
        }
        if (off < 0 || (uint64_t)off >= h->len) {
                fuse_reply_buf(req, NULL, 0);
                return;
        }
        size_t n = (size_t)MIN((uint64_t)size, h->len - (uint64_t)off);
        if (h->kind == K_INFO) {
                fuse_reply_buf(req, h->snap->info + off, n);
                return;
        }
        /* zero-copy: the reply points into the decoded chunks (a request
         * of up to 1 MiB spans at most 18 chunks of 64 KiB) */
        struct iovec iov[32];
        struct lb_image_ref *refs[32];
        size_t done = 0;
        int niov = 0;
        ssize_t k = 0;
        while (done < n && niov < (int)ELEMENTSOF(iov)) {
                const void *p;
                k = lb_image_reader_peek(h->rd, h->base + (uint64_t)off + done, n - done, &p, &refs[niov]);
                if (k <= 0)
                        break;
                iov[niov].iov_base = (void *)p;
                iov[niov++].iov_len = (size_t)k;
                done += (size_t)k;
        }
        /* once replied, the file may be released by another thread: h is
         * not touched after a reply */
        bool replied = k < 0 || done == n || k == 0;
        if (k < 0)
                fuse_reply_err(req, (int)-k);
        else if (replied)
                fuse_reply_iov(req, iov, niov);
        for (int i = 0; i < niov; i++)
                lb_image_ref_release(refs[i]);
        if (replied)
                return;
        /* a larger request: copy */
        struct { size_t cap; uint8_t *p; } *b = pthread_getspecific(buf_key);
        if (!b || b->cap < n) {
                void *nb = realloc(b, sizeof(*b) + MAX(n, (size_t)128 << 10));
                if (!nb) {
                        fuse_reply_err(req, ENOMEM);
                        return;
                }
                b = nb;
                b->cap = MAX(n, (size_t)128 << 10);
                b->p = (uint8_t *)(b + 1);
                pthread_setspecific(buf_key, b);
        }
        k = lb_image_reader_pread(h->rd, b->p, n, h->base + (uint64_t)off);
        if (k < 0)
                fuse_reply_err(req, (int)-k);
        else
                fuse_reply_buf(req, (const char *)b->p, (size_t)k);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        struct handle *h = (struct handle *)(uintptr_t)fi->fh;
        if (h) {
                lb_image_reader_close(h->rd);
                free(h);
                atomic_fetch_sub(&M.open_handles, 1);
        }
        fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
        struct statvfs sv = { .f_bsize = 1 << 20, .f_frsize = 1 << 20, .f_namemax = 255 };
        pthread_rwlock_rdlock(&M.lock);
        for (size_t i = 0; i < M.nsnaps; i++)
                for (size_t j = 0; j < M.snaps[i]->nimages; j++)
                        sv.f_blocks += DIV_ROUND_UP(M.snaps[i]->images[j].size, 1 << 20);
        sv.f_files = M.nnodes;
        pthread_rwlock_unlock(&M.lock);
        fuse_reply_statfs(req, &sv);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
        conn->want |= FUSE_CAP_ASYNC_READ;
        if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
                conn->want |= FUSE_CAP_PARALLEL_DIROPS;
        if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
                conn->want &= ~FUSE_CAP_CACHE_SYMLINKS; /* latest changes */
        conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
        conn->max_background = 32;
        conn->congestion_threshold = 24;
}

static const struct fuse_lowlevel_ops mount_ops = {
        .init = op_init,
        .lookup = op_lookup,
        .getattr = op_getattr,
        .readlink = op_readlink,
        .opendir = op_opendir,
        .readdir = op_readdir,
        .releasedir = op_releasedir,
        .open = op_open,
        .read = op_read,
        .release = op_release,
        .statfs = op_statfs,
};

/* ---- messages of the serving process ---- */

/* A note for the user: to the terminal in the foreground, else through the
 * pipe to the waiting parent (which prints it). */
static void __attribute__((format(printf, 2, 3))) notify(char tag, const char *fmt, ...)
{
        char buf[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (M.notify_fd >= 0) {
                char line[2100];
                int n = snprintf(line, sizeof(line), "%c %s\n", tag, buf);
                if (write(M.notify_fd, line, (size_t)MIN(n, (int)sizeof(line) - 1)) < 0) { /* parent gone */ }
        } else if (tag == 'E') {
                fprintf(stderr, "lifeboat: %s\n", buf);
        } else if (tag == 'W') {
                fprintf(stderr, "lifeboat: warning: %s\n", buf);
        } else if (!M.o.quiet) {
                printf("%s\n", buf);
                fflush(stdout);
        }
}

/* Warnings of the library (damaged chunks...) while serving: stderr in the
 * foreground, else syslog and the log file named in the state file. */
static void daemon_event(enum lb_event ev, const char *msg, const struct lb_progress *p, void *userdata)
{
        if (ev != LB_EVENT_WARNING || !msg)
                return;
        if (M.o.foreground) {
                fprintf(stderr, "lifeboat: warning: %s\n", msg);
                return;
        }
        syslog(LOG_WARNING, "%s", msg);
        if (M.log_fd >= 0) {
                char line[1200], ts[32];
                time_t t = time(NULL);
                struct tm tm;
                localtime_r(&t, &tm);
                strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
                int n = snprintf(line, sizeof(line), "%s lifeboat: %s\n", ts, msg);
                if (write(M.log_fd, line, (size_t)MIN(n, (int)sizeof(line) - 1)) < 0) { /* nowhere to report */ }
        }
}

static void state_record_loop(const char *dev, const char *backing)
{
        pthread_mutex_lock(&M.state_lock);
        struct state_loop *v = realloc(M.st.loops, (M.st.nloops + 1) * sizeof(*v));
        if (v) {
                M.st.loops = v;
                snprintf(v[M.st.nloops].dev, sizeof(v[0].dev), "%s", dev);
                v[M.st.nloops].backing = strdup(backing);
                M.st.nloops++;
        }
        int k = state_save(M.state_path, &M.st);
        pthread_mutex_unlock(&M.state_lock);
        if (k < 0)
                notify('W', "cannot write %s: %s", M.state_path, strerror(-k));
}

static void state_record_mount(const char *path, const char *type, const char *dev)
{
        pthread_mutex_lock(&M.state_lock);
        struct state_mount *v = realloc(M.st.mounts, (M.st.nmounts + 1) * sizeof(*v));
        if (v) {
                M.st.mounts = v;
                v[M.st.nmounts].path = strdup(path);
                snprintf(v[M.st.nmounts].type, sizeof(v[0].type), "%s", type);
                snprintf(v[M.st.nmounts].dev, sizeof(v[0].dev), "%s", dev);
                M.st.nmounts++;
        }
        int k = state_save(M.state_path, &M.st);
        pthread_mutex_unlock(&M.state_lock);
        if (k < 0)
                notify('W', "cannot write %s: %s", M.state_path, strerror(-k));
}

/* ---- inner mounts ---- */

/* Mount the filesystem of type on the loop device dev at dir, read-only and
 * without replaying any journal. Returns 0, or -1 with a message in err. */
static int mount_fs(const char *dev, const char *dir, const char *type, char *err, size_t errlen)
{
        const unsigned long fl = MS_RDONLY | MS_NOSUID | MS_NODEV;
        char out[1024];
        struct {
                const char *type, *data;
        } tries[4] = { { 0 } };
        if (!strcmp(type, "ext3") || !strcmp(type, "ext4")) {
                tries[0].type = "ext4", tries[0].data = "noload";
        } else if (!strcmp(type, "ext2")) {
                tries[0].type = "ext2", tries[0].data = "";
                tries[1].type = "ext4", tries[1].data = "";
        } else if (!strcmp(type, "xfs")) {
                tries[0].type = "xfs", tries[0].data = "norecovery,nouuid";
        } else if (!strcmp(type, "btrfs")) {
                tries[0].type = "btrfs", tries[0].data = "rescue=nologreplay";
                tries[1].type = "btrfs", tries[1].data = "nologreplay";
                tries[2].type = "btrfs", tries[2].data = "";
        } else if (!strcmp(type, "vfat")) {
                if (M.vfat_kernel)
                        tries[0].type = "vfat", tries[0].data = "";
        }
        int e = 0;
        for (size_t i = 0; i < ELEMENTSOF(tries) && tries[i].type; i++) {
                if (mount(dev, dir, tries[i].type, fl, tries[i].data) == 0)
                        return 0;
                e = errno;
        }
        if (e) {
                snprintf(err, errlen, "mount -t %s -o ro %s: %s (see dmesg)", tries[0].type, dev, strerror(e));
                if (strcmp(type, "vfat") != 0 || !M.have_fusefat)
                        return -1;
        }
        if (!strcmp(type, "ntfs")) {
                const char *argv[] = { "ntfs-3g", "-o", "ro", dev, dir, NULL };
                int k = run_program(argv, out, sizeof(out));
                if (k == 0)
                        return 0;
                snprintf(err, errlen, "ntfs-3g -o ro %s failed (%d): %s", dev, k, out);
                return -1;
        }
        if (!strcmp(type, "vfat") && M.have_fusefat) {
                const char *argv[] = { "fusefat", "-o", "ro", dev, dir, NULL };
                int k = run_program(argv, out, sizeof(out));
                if (k == 0 && mounted_at(dir, NULL, 0))
                        return 0;
                snprintf(err, errlen, "fusefat -o ro %s failed (%d): %s", dev, k, out);
                return -1;
        }
        snprintf(err, errlen, "no way to mount %s here", type);
        return -1;
}

/* Loop device over the FUSE file img (read-only), filesystem on dir. */
static int mount_one(const char *img, const char *dir, const char *type, const char *what)
{
        char dev[64], err[1200];
        int fd = open(img, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                notify('W', "%s: cannot open %s: %s", what, img, strerror(errno));
                return -1;
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
                close(fd);
                return -1;
        }
        int lfd = lb_loop_attach(fd, 0, (uint64_t)st.st_size, true, dev, sizeof(dev));
        close(fd);
        if (lfd < 0) {
                notify('W', "%s: no loop device: %s", what, lb_error_get() ? lb_error_get() : strerror(-lfd));
                return -1;
        }
        state_record_loop(dev, img);
        /* Direct I/O: the loop device's reads go to the FUSE daemon
         * straight into the inner filesystem's pages, asynchronously, with
         * no second page cache; and a larger read-ahead for the inner
         * filesystem's files (1 MiB, a chunk). LIFEBOAT_MOUNT_LOOP_DIO=0:
         * buffered, for measurements. */
        const char *dio = getenv("LIFEBOAT_MOUNT_LOOP_DIO");
        if (!(dio && !strcmp(dio, "0")) && ioctl(lfd, LOOP_SET_DIRECT_IO, 1UL) < 0)
                notify('W', "%s: %s: no direct I/O (%s)", what, dev, strerror(errno));
        char sys[128];
        snprintf(sys, sizeof(sys), "/sys/block/%s/queue/read_ahead_kb", dev + strlen("/dev/"));
        int rfd = open(sys, O_WRONLY | O_CLOEXEC);
        if (rfd >= 0) {
                if (write(rfd, "1024", 4) < 0) { /* best effort */ }
                close(rfd);
        }
        /* the node may take a moment to appear without udev */
        for (int i = 0; i < 100 && access(dev, F_OK) < 0; i++)
                sleep_ms(20);
        state_record_mount(dir, type, dev);
        int k = mount_fs(dev, dir, type, err, sizeof(err));
        close(lfd); /* autoclear: the loop device goes with its filesystem */
        if (k < 0) {
                notify('W', "%s (%s) not mounted: %s", what, type, err);
                return -1;
        }
        notify('N', "%s (%s) mounted at %s", what, type, dir);
        return 0;
}

/* ---- the helper process ----
 *
 * The serving process never makes a system call that goes through its own
 * mount: a thread blocked on a request to its own process (mount(2) reading a
 * superblock through a loop device, a stat) keeps the process from exiting
 * if it dies, so its /dev/fuse descriptor stays open, the connection is never
 * aborted and that thread waits for ever (holding, during a mount, the new
 * superblock's lock that sync(2) waits for). So the inner mounts are set up
 * and undone by a helper process, forked before the server starts any thread
 * and without the FUSE descriptor. It waits for "go" (the FUSE loop runs),
 * mounts, reports to the user (the waiting parent, or the terminal), then
 * waits for "stop" (undo the inner mounts and the FUSE mount, answer "done")
 * or the end of the pipe (the server is gone: `lifeboat umount` cleans up). */

static int helper_setup(void)
{
        struct stat st;
        /* the first request: the FUSE mount answers */
        if (stat(M.o.mountpoint, &st) < 0) {
                notify('E', "%s does not answer: %s", M.o.mountpoint, strerror(errno));
                return -1;
        }
        /* inner mounts: snapshots and images in order */
        unsigned mounted = 0, failed = 0;
        for (size_t i = 0; i < M.nsnaps; i++) {
                struct msnap *m = M.snaps[i];
                if (!m->files)
                        continue;
                for (size_t j = 0; j < m->nimages; j++) {
                        struct mimage *im = &m->images[j];
                        char img[4096], dir[4096], what[512];
                        if (!im->fs_ino && im->fstype[0] && !fs_mountable(im->fstype))
                                notify('W', "%s/%s: %s filesystem not mounted (%s)", m->dname, im->dname, im->fstype,
                                       !strcmp(im->fstype, "vfat") ? "FAT needs fusefat here: apt-get install fusefat" :
                                       !strcmp(im->fstype, "ntfs") ? "NTFS needs ntfs-3g" : "not supported");
                        if (im->fs_ino) {
                                snprintf(img, sizeof(img), "%s/%s/%s/disk.img", M.o.mountpoint, m->dname, im->dname);
                                snprintf(dir, sizeof(dir), "%s/%s/%s/fs", M.o.mountpoint, m->dname, im->dname);
                                snprintf(what, sizeof(what), "%s/%s", m->dname, im->dname);
                                if (mount_one(img, dir, im->fstype, what) == 0)
                                        mounted++;
                                else
                                        failed++;
                        }
                        for (size_t p = 0; p < im->nparts; p++) {
                                struct mpart *pt = &im->parts[p];
                                if (!pt->dir_ino) {
                                        if (!strcmp(pt->fstype, "vfat") || !strcmp(pt->fstype, "ntfs"))
                                                notify('W', "%s/%s/%s: %s filesystem not mounted (%s); %s can be read "
                                                       "with its tools", m->dname, im->dname, pt->dir_name, pt->fstype,
                                                       !strcmp(pt->fstype, "vfat") ?
                                                               "the kernel has no vfat and fusefat is not installed" :
                                                               "ntfs-3g is not installed", pt->img_name);
                                        continue;
                                }
                                snprintf(img, sizeof(img), "%s/%s/%s/%s", M.o.mountpoint, m->dname, im->dname, pt->img_name);
                                snprintf(dir, sizeof(dir), "%s/%s/%s/%s", M.o.mountpoint, m->dname, im->dname, pt->dir_name);
                                snprintf(what, sizeof(what), "%s/%s/%s", m->dname, im->dname, pt->dir_name);
                                if (mount_one(img, dir, pt->fstype, what) == 0)
                                        mounted++;
                                else
                                        failed++;
                        }
                }
        }
        if (M.o.files && !mounted && !failed)
                notify('W', "no filesystem to mount in the selected snapshot(s)");
        size_t live = 0;
        for (size_t i = 0; i < M.nsnaps; i++)
                live += !atomic_load(&M.snaps[i]->gone);
        notify('N', "Mounted %zu snapshot(s) of %s at %s%s", live, lb_repo_path(M.repo), M.o.mountpoint,
               M.o.files && failed ? " (some filesystems could not be mounted)" : "");
        return 0;
}

/* Reads a line (a command or an answer); 0 at the end of the pipe. */
static ssize_t read_line(int fd, char *buf, size_t len)
{
        size_t n = 0;
        while (n + 1 < len) {
                ssize_t k = read(fd, buf + n, 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (buf[n] == '\n')
                        break;
                n++;
        }
        buf[n] = 0;
        return (ssize_t)n;
}

static void __attribute__((noreturn)) helper_main(int cmd_fd, int resp_fd)
{
        char cmd[32];
        /* the server decides when to stop: not a Ctrl-C to the process group */
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        M.st.helper_pid = getpid();
        M.st.helper_start = proc_start_time(getpid());
        if (read_line(cmd_fd, cmd, sizeof(cmd)) <= 0 || strcmp(cmd, "go") != 0)
                _exit(0);
        int k = helper_setup();
        if (M.notify_fd >= 0) {
                if (write(M.notify_fd, k == 0 ? "OK\n" : "FAIL\n", k == 0 ? 3 : 5) < 0) { /* parent gone */ }
                close(M.notify_fd);
                M.notify_fd = -1;
        }
        if (k < 0)
                kill(getppid(), SIGTERM); /* the server stops, and asks us to clean up */
        while (read_line(cmd_fd, cmd, sizeof(cmd)) > 0) {
                if (strcmp(cmd, "stop") != 0)
                        continue;
                struct state s;
                if (state_load(M.state_path, &s) == 0) {
                        s.pid = 0; /* the server: it is waiting for us */
                        s.helper_pid = 0;
                        if (undo_mount(&s, false, true, false) != 0)
                                /* busy: detach; it all goes when the last file is closed */
                                undo_mount(&s, true, true, false);
                        state_done(&s);
                }
                if (write(resp_fd, "done\n", 5) < 0) { /* server gone */ }
                break;
        }
        _exit(0);
}

static int helper_cmd = -1, helper_resp = -1; /* in the server */

/* Undo the inner mounts and the FUSE mount, through the helper. From the
 * signal thread, or the main thread after the loop. */
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;

static void stop_serving(void)
{
        pthread_mutex_lock(&stop_lock);
        if (!atomic_exchange(&M.cleaned, true)) {
                char line[32];
                if (helper_cmd >= 0 && write(helper_cmd, "stop\n", 5) == 5)
                        read_line(helper_resp, line, sizeof(line)); /* "done", or nothing if it died */
                fuse_session_exit(M.se);
                /* normally the helper unmounted us; if not, detach (the path
                 * of a mount point does not go through the mount itself) */
                char type[64];
                if (mounted_at(M.o.mountpoint, type, sizeof(type)) && !strcmp(type, "fuse.lifeboat"))
                        umount2(M.o.mountpoint, MNT_DETACH);
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

static int serve_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int serve_fail(const char *fmt, ...)
{
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        notify('E', "%s", buf);
        if (M.notify_fd >= 0 && write(M.notify_fd, "FAIL\n", 5) < 0) { /* parent gone */ }
        return 1;
}

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
        int cmd[2], resp[2];
        if (pipe2(cmd, O_CLOEXEC) < 0 || pipe2(resp, O_CLOEXEC) < 0)
                return serve_fail("pipe: %s", strerror(errno));
        M.st.pid = getpid();
        M.st.start = proc_start_time(getpid());
        fflush(stdout);
        fflush(stderr);
        pid_t helper = fork();
        if (helper < 0)
                return serve_fail("fork: %s", strerror(errno));
        if (helper == 0) {
                close(fuse_session_fd(M.se));
                close(cmd[1]);
                close(resp[0]);
                helper_main(cmd[0], resp[1]);
        }
        close(cmd[0]);
        close(resp[1]);
        helper_cmd = cmd[1];
        helper_resp = resp[0];
        M.st.helper_pid = helper;
        M.st.helper_start = proc_start_time(helper);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        pthread_key_create(&buf_key, free_buf);
        lb_set_event_handler(daemon_event, NULL);
        int k = state_save(M.state_path, &M.st);
        if (k < 0)
                return serve_fail("cannot write %s: %s", M.state_path, strerror(-k));
        struct lb_reader_opts ro = { .cache_bytes = (uint64_t)M.o.cache_mib << 20 };
        k = lb_reader_ctx_new(M.repo, &ro, &M.rc);
        if (k < 0)
                return serve_fail("cannot read the repository index: %s", lb_error_get() ? lb_error_get() : strerror(-k));
        pthread_t sig_thread;
        if (pthread_create(&sig_thread, NULL, signal_main, &set) != 0)
                return serve_fail("cannot start a thread");
        pthread_detach(sig_thread);
        /* from now on the helper reports to the user */
        if (write(helper_cmd, "go\n", 3) != 3)
                return serve_fail("the helper process died");
        if (M.notify_fd >= 0) {
                close(M.notify_fd);
                M.notify_fd = -1;
        }
        struct fuse_loop_config *cfg = fuse_loop_cfg_create();
        fuse_loop_cfg_set_clone_fd(cfg, 0);
        fuse_loop_cfg_set_max_threads(cfg, 16);
        fuse_loop_cfg_set_idle_threads(cfg, 4);
        fuse_session_loop_mt(M.se, cfg);
        fuse_loop_cfg_destroy(cfg);
        /* stopped by a signal (cleanup done), or our filesystem was unmounted
         * from outside (lifeboat umount did the rest) */
        char type[64];
        if (mounted_at(M.o.mountpoint, type, sizeof(type)) && !strcmp(type, "fuse.lifeboat"))
                stop_serving();
        pthread_mutex_lock(&stop_lock); /* a stop under way in the signal thread ends first */
        pthread_mutex_unlock(&stop_lock);
        if (M.rc) {
                struct lb_reader_stats rs;
                lb_reader_ctx_stats(M.rc, &rs);
                lb_warn("unmounted %s: %llu chunk reads (%llu from memory), %llu chunks decoded (%llu MiB; %llu "
                        "ahead of the reads), %llu failed", M.o.mountpoint, (unsigned long long)(rs.hits + rs.misses),
                        (unsigned long long)rs.hits, (unsigned long long)rs.fetched,
                        (unsigned long long)(rs.fetched_bytes >> 20), (unsigned long long)rs.prefetched,
                        (unsigned long long)rs.failures);
        }
        close(helper_cmd); /* the helper exits */
        int st;
        while (waitpid(helper, &st, 0) < 0 && errno == EINTR)
                ;
        /* the state file, if it is still ours */
        struct state s;
        if (state_load(M.state_path, &s) == 0) {
                if (s.pid == getpid())
                        unlink(M.state_path);
                state_done(&s);
        }
        return 0;
}

static const char mount_usage[] =
        "Usage: lifeboat mount --repo PATH [-f] MOUNTPOINT\n"
        "       lifeboat mount --repo PATH [-f] --files [SNAPSHOT|all] MOUNTPOINT\n"
        "Mount the snapshots of a repository read-only (FUSE) at MOUNTPOINT, an empty directory:\n"
        "  MOUNTPOINT/<YYYY-MM-DDTHHMMSS>_<id>/info.json      the snapshot, as 'info --json' shows it\n"
        "  MOUNTPOINT/<...>/<image>/disk.img                  the whole image (unused blocks read as zeros)\n"
        "  MOUNTPOINT/<...>/<image>/part<N>.img               partition N of it\n"
        "  MOUNTPOINT/latest                                  the newest snapshot\n"
        "With --files, the filesystems of SNAPSHOT (default: latest; 'all': every snapshot) are\n"
        "mounted read-only on MOUNTPOINT/<...>/<image>/part<N>/ (a volume without partition table:\n"
        "<image>/fs/), from loop devices: ext2/3/4, XFS, btrfs, NTFS (ntfs-3g), FAT (vfat or fusefat).\n"
        "  -f, --foreground   stay in the foreground (Ctrl-C unmounts)\n"
        "  --cache-size MIB   decoded chunks kept in memory (default 256)\n"
        "Undo everything with 'lifeboat umount MOUNTPOINT'.\n";

int cmd_mount(int argc, char **argv)
{
        static const struct option opts[] = { CLI_COMMON_OPTIONS,
                                              { "foreground", no_argument, NULL, 'f' },
                                              { "files", no_argument, NULL, 'F' },
                                              { "debug", no_argument, NULL, 'd' },
                                              { "cache-size", required_argument, NULL, 'C' },
                                              {} };
        struct cli_common c;
        struct mount_opts o = { .cache_mib = 256 };
        char *end;
        int opt;
        cli_common_init(&c);
        while ((opt = getopt_long(argc, argv, "r:P:Jqhfd", opts, NULL)) != -1) {
                int k = cli_common_opt(&c, opt, mount_usage);
                if (k < 0)
                        return 0;
                if (k)
                        continue;
                switch (opt) {
                case 'f': o.foreground = true; break;
                case 'F': o.files = true; break;
                case 'd': o.debug = o.foreground = true; break;
                case 'C':
                        o.cache_mib = (unsigned)strtoul(optarg, &end, 10);
                        if (*end || o.cache_mib < 16 || o.cache_mib > 65536)
                                return cli_usage_error(mount_usage, "--cache-size takes MiB, from 16 to 65536");
                        break;
                default: return cli_usage_error(mount_usage, "unknown option");
                }
        }
        o.quiet = c.quiet;
        const char *spec = NULL, *mp_arg;
        if (o.files && argc - optind == 2)
                spec = argv[optind++];
        else if (o.files && argc - optind == 1)
                spec = "latest";
        if (argc - optind != 1)
                return cli_usage_error(mount_usage, o.files ? "give [SNAPSHOT] and MOUNTPOINT" : "give one MOUNTPOINT");
        mp_arg = argv[optind];
        if (geteuid() != 0)
                fprintf(stderr, "lifeboat: warning: not root: mounting needs root (FUSE, loop devices)\n");

        /* the mount point: an existing empty directory, not already ours */
        struct stat st;
        DIR *d = NULL;
        if (stat(mp_arg, &st) < 0 || (S_ISDIR(st.st_mode) && !(d = opendir(mp_arg)))) {
                if (errno == ENOTCONN)
                        fprintf(stderr, "lifeboat: %s is a dead FUSE mount (a mount process that died?): run "
                                        "'lifeboat umount %s' first\n", mp_arg, mp_arg);
                else
                        fprintf(stderr, "lifeboat: mount point %s: %s\n", mp_arg, strerror(errno));
                return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
                fprintf(stderr, "lifeboat: mount point %s is not a directory\n", mp_arg);
                return 1;
        }
        struct dirent *de;
        bool empty = true;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        empty = false;
        closedir(d);
        if (!empty) {
                fprintf(stderr, "lifeboat: mount point %s is not empty: give an empty directory\n", mp_arg);
                return 1;
        }
        char *mp = realpath(mp_arg, NULL);
        if (!mp) {
                fprintf(stderr, "lifeboat: %s: %s\n", mp_arg, strerror(errno));
                return 1;
        }
        o.mountpoint = mp;
        if (mkdir(run_dir(), 0700) < 0 && errno != EEXIST) {
                fprintf(stderr, "lifeboat: cannot create %s: %s\n", run_dir(), strerror(errno));
                return 1;
        }
        M.state_path = state_path_for(mp, ".json");
        M.log_path = state_path_for(mp, ".log");
        if (!M.state_path || !M.log_path)
                return cli_fail(-ENOMEM, "out of memory");
        struct state old;
        if (state_load(M.state_path, &old) == 0) {
                bool alive = proc_alive(old.pid, old.start);
                state_done(&old);
                if (alive) {
                        fprintf(stderr, "lifeboat: %s is already a Lifeboat mount: run 'lifeboat umount %s' first\n", mp,
                                mp);
                        return 1;
                }
                /* a stale record: its loops and mounts would have made the directory non-empty or dead */
                unlink(M.state_path);
        }

        /* the serving process works from / */
        char *repo_abs = c.repo && *c.repo ? realpath(c.repo, NULL) : NULL;
        if (repo_abs)
                c.repo = repo_abs;
        struct lb_repo *repo;
        int r = cli_open_repo(&c, &repo);
        if (r)
                return r;
        cli_events_setup(&c);
        M.repo = repo;
        M.o = o;
        M.mount_time = time(NULL);
        M.vfat_kernel = kernel_has_fs("vfat");
        M.have_fusefat = have_program("fusefat");
        M.have_ntfs3g = have_program("ntfs-3g");
        pthread_rwlock_init(&M.lock, NULL);
        pthread_mutex_init(&M.refresh_lock, NULL);
        pthread_mutex_init(&M.state_lock, NULL);
        if (o.files && strcmp(spec, "all") != 0) {
                struct lb_snapshot *s;
                r = lb_snapshot_find(repo, spec, &s);
                if (r < 0) {
                        lb_repo_close(repo);
                        return cli_fail(r, "cannot find snapshot %s", spec);
                }
                snprintf(M.o.files_id, sizeof(M.o.files_id), "%s", s->id);
                lb_snapshot_free(s);
        } else if (o.files) {
                M.o.files_all = true;
        }
        /* root and latest */
        add_node(K_ROOT, 1, NULL, NULL, NULL);
        add_node(K_LATEST, 1, NULL, NULL, NULL);
        r = refresh(true);
        if (r < 0) {
                lb_repo_close(repo);
                return cli_fail(r, "cannot list the snapshots of %s", c.repo);
        }

        /* the FUSE mount, before anything runs in the background: its errors
         * reach the terminal */
        const char *fargv[8];
        int fargc = 0;
        fargv[fargc++] = "lifeboat";
        fargv[fargc++] = "-o";
        fargv[fargc++] = "ro,fsname=lifeboat,subtype=lifeboat";
        if (o.debug)
                fargv[fargc++] = "-d";
        fargv[fargc] = NULL;
        struct fuse_args args = FUSE_ARGS_INIT(fargc, (char **)fargv);
        M.se = fuse_session_new(&args, &mount_ops, sizeof(mount_ops), NULL);
        if (!M.se) {
                lb_repo_close(repo);
                fprintf(stderr, "lifeboat: cannot start FUSE (is the fuse module loaded?)\n");
                return 1;
        }
        if (fuse_session_mount(M.se, mp) != 0) {
                fuse_session_destroy(M.se);
                lb_repo_close(repo);
                fprintf(stderr, "lifeboat: cannot mount FUSE at %s (see above)\n", mp);
                return 1;
        }
        int ffd = fuse_session_fd(M.se);
        fcntl(ffd, F_SETFD, fcntl(ffd, F_GETFD) | FD_CLOEXEC);
        M.st.mountpoint = strdup(mp);
        M.st.repo = strdup(lb_repo_path(repo));
        M.st.log = strdup(M.log_path);
        M.st.pid = getpid();

        if (o.foreground)
                return serve();

        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
                fuse_session_unmount(M.se);
                return cli_fail(-errno, "pipe");
        }
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
                fuse_session_unmount(M.se);
                return cli_fail(-errno, "fork");
        }
        if (pid == 0) {
                close(p[0]);
                M.notify_fd = p[1];
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
                M.log_fd = open(M.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
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
                if (line[0] == 'E')
                        fprintf(stderr, "lifeboat: %s\n", line + 2);
                else if (line[0] == 'W')
                        fprintf(stderr, "lifeboat: warning: %s\n", line + 2);
                else if (!o.quiet)
                        printf("%s\n", line + 2);
        }
        if (f)
                fclose(f);
        if (ok)
                return 0;
        /* the serving process failed or died: undo what it set up */
        fprintf(stderr, "lifeboat: the mount failed; undoing it\n");
        struct state s;
        if (state_load(M.state_path, &s) == 0) {
                if (undo_mount(&s, true, true, false) == 0)
                        unlink(M.state_path);
                state_done(&s);
        } else {
                struct state t = { .mountpoint = mp, .pid = pid };
                undo_mount(&t, true, true, false);
        }
        return 1;
}

static const char umount_usage[] = "Usage: lifeboat umount [--lazy] MOUNTPOINT\n"
                                   "Unmount what 'lifeboat mount' set up at MOUNTPOINT: the filesystems mounted with\n"
                                   "--files, their loop devices, the FUSE filesystem, and stop its process (also after\n"
                                   "that process was killed).\n"
                                   "  -l, --lazy   detach what is busy; it goes when its last file is closed\n";

int cmd_umount(int argc, char **argv)
{
        static const struct option opts[] = { CLI_COMMON_OPTIONS, { "lazy", no_argument, NULL, 'l' }, {} };
        struct cli_common c;
        bool lazy = false;
        int opt;
        cli_common_init(&c);
        while ((opt = getopt_long(argc, argv, "r:P:Jqhl", opts, NULL)) != -1) {
                int k = cli_common_opt(&c, opt, umount_usage);
                if (k < 0)
                        return 0;
                if (k)
                        continue;
                if (opt == 'l')
                        lazy = true;
                else
                        return cli_usage_error(umount_usage, "unknown option");
        }
        if (argc - optind != 1)
                return cli_usage_error(umount_usage, "give one MOUNTPOINT");
        char *mp = canonical_path(argv[optind]);
        if (!mp) {
                fprintf(stderr, "lifeboat: %s: %s\n", argv[optind], strerror(errno));
                return 1;
        }
        char *sp = state_path_for(mp, ".json"), *lp = state_path_for(mp, ".log");
        struct state s;
        int k = sp ? state_load(sp, &s) : -ENOMEM;
        char type[64];
        if (k < 0) {
                if (mounted_at(mp, type, sizeof(type)) && !strcmp(type, "fuse.lifeboat")) {
                        /* no record (removed by hand?): the FUSE mount alone */
                        struct state t = { .mountpoint = mp };
                        k = undo_mount(&t, lazy, c.quiet, false);
                        if (!k && !c.quiet)
                                printf("Unmounted %s\n", mp);
                        free(mp);
                        free(sp);
                        free(lp);
                        return k;
                }
                fprintf(stderr, "lifeboat: %s is not a Lifeboat mount\n", mp);
                free(mp);
                free(sp);
                free(lp);
                return 1;
        }
        k = undo_mount(&s, lazy, c.quiet, false);
        if (k == 0) {
                unlink(sp);
                if (lp)
                        unlink(lp);
                if (!c.quiet)
                        printf("Unmounted %s\n", mp);
        }
        state_done(&s);
        free(mp);
        free(sp);
        free(lp);
        return k ? 1 : 0;
}
