/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The record of a mount and its undoing. Everything `lifeboat mount` sets up
 * is written to /run/lifeboat/<escaped mount point>.json (serving and helper
 * processes, loop devices and their backing files, inner mounts) before it is
 * used, so that `lifeboat umount` undoes all of it, also after the processes
 * were killed: inner mounts first (their paths resolve through the kernel's
 * cached dentries, whose timeouts are long: the tree of a snapshot never
 * changes; failing that, the whole tree is detached), then loop devices that
 * autoclear left, then the FUSE mount, then the processes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <linux/loop.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "mount.h"
#include "util.h"

/* ---- small helpers ---- */

void sleep_ms(unsigned ms)
{
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
        nanosleep(&ts, NULL);
}

/* The absolute path of a mount point, the same for `mount` (a live
 * directory) and `umount` (perhaps a dead FUSE mount, which cannot be
 * stat'ed): its directory through realpath(3), then its last component,
 * followed with lstat/readlink while it is a symbolic link (never stat'ed
 * itself). */
char *mount_canonical_path(const char *p)
{
        char *cur = strdup(p), *res = NULL;
        for (int hops = 0; cur && hops < 40; hops++) {
                char *a = strdup(cur), *b = strdup(cur), *dir = NULL, *link = NULL;
                if (!a || !b)
                        goto next;
                size_t n = strlen(b);
                while (n > 1 && b[n - 1] == '/')
                        b[--n] = 0;
                const char *base = basename(b);
                if (!strcmp(base, "/")) {
                        res = strdup("/");
                        goto next;
                }
                if (!strcmp(base, ".") || !strcmp(base, "..")) {
                        res = realpath(cur, NULL);
                        goto next;
                }
                dir = realpath(dirname(a), NULL);
                if (!dir)
                        goto next;
                if (asprintf(&res, "%s/%s", strcmp(dir, "/") ? dir : "", base) < 0) {
                        res = NULL;
                        goto next;
                }
                struct stat st;
                if (lstat(res, &st) < 0 || !S_ISLNK(st.st_mode))
                        goto next;
                /* a symbolic link: again with its target, relative to dir */
                char target[PATH_MAX];
                ssize_t k = readlink(res, target, sizeof(target) - 1);
                free(res);
                res = NULL;
                if (k <= 0)
                        goto next;
                target[k] = 0;
                if (target[0] == '/')
                        link = strdup(target);
                else if (asprintf(&link, "%s/%s", dir, target) < 0)
                        link = NULL;
        next:
                free(a);
                free(b);
                free(dir);
                free(cur);
                cur = link;
                if (res || !link)
                        break;
        }
        if (!res && cur)
                errno = ELOOP; /* links all the way down */
        free(cur);
        return res;
}
static const char *run_dir(void)
{
        const char *d = getenv("LIFEBOAT_RUN_DIR");
        return d && *d ? d : "/run/lifeboat";
}

/* /run/lifeboat/<mount point with '/' as '-', other bytes but [A-Za-z0-9.] as _XX>.json;
 * a name of more than STATE_NAME_MAX bytes (NAME_MAX is 255) becomes its
 * first STATE_NAME_KEEP bytes, '~' and the SHA-256 of the mount point (whose
 * whole path the file holds, "mountpoint"). */
#define STATE_NAME_MAX 200
#define STATE_NAME_KEEP 120
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
        if (j > STATE_NAME_MAX) {
                uint8_t h[LB_ID_SIZE];
                lb_sha256(mp, n, h);
                esc[STATE_NAME_KEEP] = '~';
                hex_encode(h, sizeof(h), esc + STATE_NAME_KEEP + 1);
        }
        if (asprintf(&res, "%s/%s%s", run_dir(), esc, suffix) < 0)
                res = NULL;
        free(esc);
        return res;
}

/* Field 22 of /proc/PID/stat: tells a process from a later one with its PID. */
uint64_t proc_start_time(pid_t pid)
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

/* The mounts at path, from /proc/self/mountinfo (at most max of them);
 * returns how many there are. */
static size_t mounts_at(const char *path, struct mount_info *v, size_t max)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char *line = NULL;
        size_t cap = 0, n = 0;
        if (!f)
                return 0;
        while (getline(&line, &cap, f) > 0) {
                /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [FIELDS...] - TYPE SOURCE ... */
                char *save, *tok[5];
                tok[0] = strtok_r(line, " ", &save);
                for (int i = 1; i < 5; i++)
                        tok[i] = tok[i - 1] ? strtok_r(NULL, " ", &save) : NULL;
                if (!tok[4])
                        continue;
                unescape_octal(tok[4]);
                if (strcmp(tok[4], path) != 0)
                        continue;
                char *t;
                while ((t = strtok_r(NULL, " ", &save)) && strcmp(t, "-") != 0)
                        ;
                t = t ? strtok_r(NULL, " ", &save) : NULL;
                if (n < max) {
                        struct mount_info *m = &v[n];
                        m->id = atoi(tok[0]);
                        m->parent = atoi(tok[1]);
                        snprintf(m->dev, sizeof(m->dev), "%s", tok[2]);
                        snprintf(m->type, sizeof(m->type), "%s", t ? t : "");
                }
                n++;
        }
        free(line);
        fclose(f);
        return n;
}

/* The topmost of the mounts at one path: the one no other is mounted on
 * (the last listed, if that does not tell). */
static const struct mount_info *mount_top(const struct mount_info *v, size_t n)
{
        for (size_t i = n; i-- > 0;) {
                bool covered = false;
                for (size_t j = 0; j < n && !covered; j++)
                        covered = j != i && v[j].parent == v[i].id;
                if (!covered)
                        return &v[i];
        }
        return NULL;
}

bool mount_top_at(const char *path, struct mount_info *ret)
{
        struct mount_info v[32];
        size_t n = mounts_at(path, v, ELEMENTSOF(v));
        const struct mount_info *top = mount_top(v, MIN(n, ELEMENTSOF(v)));
        if (top && ret)
                *ret = *top;
        return top != NULL;
}

bool mounted_at(const char *path, char *fstype, size_t len)
{
        struct mount_info top;
        if (!mount_top_at(path, &top))
                return false;
        if (fstype && len)
                snprintf(fstype, len, "%s", top.type);
        return true;
}

bool mounted_lifeboat_at(const char *path)
{
        char type[64];
        return mounted_at(path, type, sizeof(type)) && !strcmp(type, "fuse.lifeboat");
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

/* ---- the state file ---- */

void mount_state_done(struct mount_state *s)
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

int mount_state_load(const char *path, struct mount_state *s)
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
        s->fuse.id = (int)jget_int(o, "mount_id");
        snprintf(s->fuse.dev, sizeof(s->fuse.dev), "%s", jget_str(o, "mount_dev") ? jget_str(o, "mount_dev") : "");
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
                        struct mount_state_mount *m = &s->mounts[s->nmounts++];
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

static int state_save(const char *path, const struct mount_state *s)
{
        json_object *o = json_object_new_object(), *loops = json_object_new_array(), *mounts = json_object_new_array();
        json_object_object_add(o, "mountpoint", json_object_new_string(s->mountpoint));
        json_object_object_add(o, "repo", json_object_new_string(s->repo ? s->repo : ""));
        json_object_object_add(o, "log", json_object_new_string(s->log ? s->log : ""));
        json_object_object_add(o, "pid", json_object_new_int64(s->pid));
        json_object_object_add(o, "start_time", json_object_new_int64((int64_t)s->start));
        json_object_object_add(o, "helper_pid", json_object_new_int64(s->helper_pid));
        json_object_object_add(o, "helper_start_time", json_object_new_int64((int64_t)s->helper_start));
        json_object_object_add(o, "mount_id", json_object_new_int64(s->fuse.id));
        json_object_object_add(o, "mount_dev", json_object_new_string(s->fuse.dev));
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


/* ---- undoing a mount (lifeboat umount, a failed start, the server's exit) ---- */

/* One umount2 of the topmost mount at path; tries: how many were made
 * before (a busy mount is tried again after 100 ms, 30 times). Returns 0
 * (unmounted), 1 (busy: try again) or -errno (-EBUSY with a message
 * printed). */
static int umount_once(const char *path, bool lazy, int tries)
{
        if (umount2(path, lazy ? MNT_DETACH : 0) == 0)
                return 0;
        int e = errno;
        if (e == EBUSY && tries < 30) {
                sleep_ms(100);
                return 1;
        }
        if (e == EBUSY)
                fprintf(stderr, "lifeboat: %s is busy (files under it are in use); close them, or use "
                                "'lifeboat umount --lazy'\n", path);
        return -e;
}

/* Unmount what is at path (an inner mount). Returns 0 when nothing is
 * mounted there any more, -EBUSY with a message printed, or the -errno of
 * umount2 (not printed). */
static int umount_retrying(const char *path, bool lazy)
{
        for (int tries = 0; mounted_at(path, NULL, 0); tries++) {
                int k = umount_once(path, lazy, tries);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* Unmount Lifeboat's FUSE filesystem at s->mountpoint, waiting up to 3 s
 * while it is busy: the mount s->fuse names (its mount ID and device, as
 * mounted), or, when s names none, the topmost mount there if it is
 * fuse.lifeboat, once. Never another filesystem mounted there, below or
 * above it. Returns 0 when Lifeboat's is gone, -EBUSY or -EPERM with a
 * message printed, or the -errno of umount2 (not printed). */
static int umount_fuse(const struct mount_state *s, bool lazy)
{
        const char *path = s->mountpoint;
        bool unmounted = false;
        for (int tries = 0;; tries++) {
                struct mount_info v[32];
                size_t n = MIN(mounts_at(path, v, ELEMENTSOF(v)), ELEMENTSOF(v));
                const struct mount_info *top = mount_top(v, n), *ours = NULL;
                if (s->fuse.id > 0) {
                        for (size_t i = 0; i < n; i++)
                                if (v[i].id == s->fuse.id && !strcmp(v[i].dev, s->fuse.dev))
                                        ours = &v[i];
                } else if (!unmounted && top && strcmp(top->type, "fuse.lifeboat") != 0) {
                        fprintf(stderr, "lifeboat: %s: the top mount is %s, not Lifeboat's; not touching it\n", path,
                                top->type);
                        return -EPERM;
                } else if (!unmounted) {
                        ours = top;
                }
                if (!ours)
                        return 0;
                if (ours != top) {
                        fprintf(stderr, "lifeboat: %s: a %s filesystem is mounted over Lifeboat's; unmount it first\n",
                                path, top->type);
                        return -EPERM;
                }
                int k = umount_once(path, lazy, tries);
                if (k < 0)
                        return k;
                unmounted |= k == 0;
        }
}

/* Detach a loop device that still reads backing (autoclear normally does it
 * when its filesystem goes). Returns false, with a message printed, if it is
 * still there after 6 s. */
static bool loop_release(const char *dev, const char *backing)
{
        char back[4096];
        for (int tries = 0; tries < 60; tries++) {
                loop_backing(dev, back, sizeof(back));
                if (strcmp(back, backing) != 0)
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
        if (!strcmp(back, backing)) {
                fprintf(stderr, "lifeboat: loop device %s (%s) is still in use\n", dev, back);
                return false;
        }
        return true;
}

/* Wait for a process of the mount to exit (it does when its filesystem
 * goes); TERM after 5 s, KILL after 8 s. */
static bool proc_wait_gone(pid_t pid, uint64_t start, const char *mountpoint)
{
        if (pid <= 0 || pid == getpid())
                return true;
        for (int tries = 0; proc_alive(pid, start); tries++) {
                if (tries == 50)
                        kill(pid, SIGTERM);
                if (tries == 80)
                        kill(pid, SIGKILL);
                if (tries > 120) {
                        fprintf(stderr, "lifeboat: process %d of the mount at %s does not exit\n", (int)pid, mountpoint);
                        return false;
                }
                sleep_ms(100);
        }
        return true;
}

int mount_undo(struct mount_state *s, bool lazy, bool skip_fuse)
{
        int failed = 0;
        bool detach_tree = false;
        /* 1. inner mounts, last first */
        for (size_t i = s->nmounts; i-- > 0;) {
                int k = umount_retrying(s->mounts[i].path, lazy);
                if (k == -EBUSY)
                        failed = 1;
                else if (k < 0)
                        /* its path does not resolve any more (the FUSE
                         * process died and the kernel had to ask it):
                         * detach the whole tree below the mount point */
                        detach_tree = true;
        }
        if (failed)
                return 1;
        if (detach_tree && !skip_fuse && mounted_lifeboat_at(s->mountpoint)) {
                if (umount2(s->mountpoint, MNT_DETACH) < 0) {
                        fprintf(stderr, "lifeboat: cannot detach %s: %s\n", s->mountpoint, strerror(errno));
                        return 1;
                }
        }
        /* 2. loop devices: autoclear detaches them when their filesystem is
         * released; what is left (and still reads our file) is detached here */
        for (size_t i = 0; i < s->nloops; i++)
                if (!loop_release(s->loops[i].dev, s->loops[i].backing))
                        failed = 1;
        if (skip_fuse)
                return failed;
        /* 3. the FUSE filesystem */
        int k = umount_fuse(s, lazy);
        if (k == -EBUSY || k == -EPERM)
                return 1;
        if (k < 0 && umount2(s->mountpoint, MNT_DETACH) < 0) {
                fprintf(stderr, "lifeboat: cannot unmount %s: %s\n", s->mountpoint, strerror(errno));
                return 1;
        }
        /* 4. the process serving it ends when its filesystem goes, and its
         * helper with it */
        if (!proc_wait_gone(s->pid, s->start, s->mountpoint) ||
            !proc_wait_gone(s->helper_pid, s->helper_start, s->mountpoint))
                return 1;
        return failed;
}

/* ---- this process's mount ---- */

static struct {
        pthread_mutex_t lock; /* st, between the threads of a process */
        struct mount_state st;
        char *path, *log_path;
} R = { .lock = PTHREAD_MUTEX_INITIALIZER };

const char *mount_record_path(void) { return R.path; }
const char *mount_record_log(void) { return R.log_path; }

int mount_record_claim(const char *mp_arg, char **ret_mp)
{
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
        char *mp = mount_canonical_path(mp_arg);
        if (!mp) {
                fprintf(stderr, "lifeboat: %s: %s\n", mp_arg, strerror(errno));
                return 1;
        }
        if (mkdir(run_dir(), 0700) < 0 && errno != EEXIST) {
                fprintf(stderr, "lifeboat: cannot create %s: %s\n", run_dir(), strerror(errno));
                free(mp);
                return 1;
        }
        R.path = state_path_for(mp, ".json");
        R.log_path = state_path_for(mp, ".log");
        if (!R.path || !R.log_path) {
                fprintf(stderr, "lifeboat: out of memory\n");
                free(mp);
                return 1;
        }
        struct mount_state old;
        if (mount_state_load(R.path, &old) == 0) {
                bool alive = proc_alive(old.pid, old.start);
                mount_state_done(&old);
                if (alive) {
                        fprintf(stderr, "lifeboat: %s is already a Lifeboat mount: run 'lifeboat umount %s' first\n", mp,
                                mp);
                        free(mp);
                        return 1;
                }
                /* a stale record: its loops and mounts would have made the directory non-empty or dead */
                unlink(R.path);
        }
        *ret_mp = mp;
        return 0;
}

void mount_record_begin(const char *mountpoint, const char *repo_path)
{
        R.st.mountpoint = strdup(mountpoint);
        R.st.repo = strdup(repo_path);
        R.st.log = strdup(R.log_path);
        R.st.pid = getpid();
        /* the FUSE mount just made: the topmost there */
        struct mount_info top;
        if (mount_top_at(mountpoint, &top) && !strcmp(top.type, "fuse.lifeboat"))
                R.st.fuse = top;
}

void mount_record_set_server(pid_t pid)
{
        R.st.pid = pid;
        R.st.start = proc_start_time(pid);
}

void mount_record_set_helper(pid_t pid)
{
        R.st.helper_pid = pid;
        R.st.helper_start = proc_start_time(pid);
}

int mount_record_save(void)
{
        pthread_mutex_lock(&R.lock);
        int k = state_save(R.path, &R.st);
        pthread_mutex_unlock(&R.lock);
        return k;
}

int mount_record_loop(const char *dev, const char *backing)
{
        pthread_mutex_lock(&R.lock);
        struct mount_state_loop *v = realloc(R.st.loops, (R.st.nloops + 1) * sizeof(*v));
        if (v) {
                R.st.loops = v;
                snprintf(v[R.st.nloops].dev, sizeof(v[0].dev), "%s", dev);
                v[R.st.nloops].backing = strdup(backing);
                R.st.nloops++;
        }
        int k = state_save(R.path, &R.st);
        pthread_mutex_unlock(&R.lock);
        return k;
}

int mount_record_mount(const char *path, const char *type, const char *dev)
{
        pthread_mutex_lock(&R.lock);
        struct mount_state_mount *v = realloc(R.st.mounts, (R.st.nmounts + 1) * sizeof(*v));
        if (v) {
                R.st.mounts = v;
                v[R.st.nmounts].path = strdup(path);
                snprintf(v[R.st.nmounts].type, sizeof(v[0].type), "%s", type);
                snprintf(v[R.st.nmounts].dev, sizeof(v[0].dev), "%s", dev);
                R.st.nmounts++;
        }
        int k = state_save(R.path, &R.st);
        pthread_mutex_unlock(&R.lock);
        return k;
}

void mount_record_undo_failed(pid_t server_pid)
{
        struct mount_state s;
        if (mount_state_load(R.path, &s) == 0) {
                if (mount_undo(&s, true, false) == 0)
                        unlink(R.path);
                mount_state_done(&s);
        } else {
                struct mount_state t = { .mountpoint = R.st.mountpoint, .fuse = R.st.fuse, .pid = server_pid };
                mount_undo(&t, true, false);
        }
}

void mount_record_remove(void)
{
        struct mount_state s;
        if (mount_state_load(R.path, &s) == 0) {
                if (s.pid == getpid())
                        unlink(R.path);
                mount_state_done(&s);
        }
}

/* ---- lifeboat umount ---- */

int mount_umount(const char *mp_arg, bool lazy, bool quiet)
{
        char *mp = mount_canonical_path(mp_arg);
        if (!mp) {
                fprintf(stderr, "lifeboat: %s: %s\n", mp_arg, strerror(errno));
                return 1;
        }
        char *sp = state_path_for(mp, ".json"), *lp = state_path_for(mp, ".log");
        struct mount_state s;
        int k = sp ? mount_state_load(sp, &s) : -ENOMEM;
        if (k == 0) {
                k = mount_undo(&s, lazy, false);
                if (k == 0) {
                        unlink(sp);
                        if (lp)
                                unlink(lp);
                }
                mount_state_done(&s);
        } else if (mounted_lifeboat_at(mp)) {
                /* no record (removed by hand?): the FUSE mount alone */
                struct mount_state t = { .mountpoint = mp };
                k = mount_undo(&t, lazy, false);
        } else {
                fprintf(stderr, "lifeboat: %s is not a Lifeboat mount\n", mp);
                k = 1;
        }
        if (k == 0 && !quiet)
                printf("Unmounted %s\n", mp);
        free(mp);
        free(sp);
        free(lp);
        return k ? 1 : 0;
}
