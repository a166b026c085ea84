/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The FUSE filesystem of `lifeboat mount` (libfuse3, low-level API,
 * multi-threaded): a tree of nodes, one per snapshot directory, info.json,
 * image directory, image file, partition file and --files mount directory,
 * grown as snapshots appear in the repository (refresh) and never shrunk: an
 * inode number always means the same thing. A deleted snapshot's files fail.
 *
 * Data comes from src/lib/reader.c (chunks fetched through the map, cached
 * decoded, prefetched ahead of sequential readers). Image files are direct
 * I/O: no page cache of their own. */
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "disk.h"
#include "events.h"
#include "mount.h"
#include "reader.h"
#include "repo.h"
#include "snapshot.h"

#define LONG_TIMEOUT 86400.0 /* what never changes: the tree of a snapshot */
#define REFRESH_MS 2000      /* re-list snapshots/ at most this often */

static uint64_t mono_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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

/* The filesystem: the options, the repository, the reader context and the
 * tree. */
static struct {
        struct lb_repo *repo;
        struct lb_reader_ctx *rc;
        struct mount_opts o;
        pthread_rwlock_t lock; /* nodes and snaps */
        struct node **nodes;
        size_t nnodes, cap;
        struct msnap **snaps; /* by time */
        size_t nsnaps;
        pthread_mutex_t refresh_lock;
        uint64_t refreshed_ms;
        time_t mount_time;
        atomic_int open_handles;
} M;

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

/* The directory name of image i: its name with '/' as '_' ("image" if it
 * has none), made unique among the directory names of the images before it
 * (prev) and "info.json" with "-2", "-3"... */
static char *image_dname(const struct lb_snapshot *s, size_t i, const struct mimage *prev)
{
        const char *n = s->images[i].name;
        char buf[240]; /* with a suffix, within NAME_MAX */
        snprintf(buf, sizeof(buf), "%s", n && *n && strcmp(n, ".") && strcmp(n, "..") ? n : "image");
        for (char *c = buf; *c; c++)
                if (*c == '/')
                        *c = '_';
        char out[256];
        snprintf(out, sizeof(out), "%s", buf);
        for (int k = 2;; k++) {
                bool taken = !strcmp(out, "info.json");
                for (size_t j = 0; j < i && !taken; j++)
                        taken = !strcmp(prev[j].dname, out);
                if (!taken)
                        break;
                snprintf(out, sizeof(out), "%s-%d", buf, k);
        }
        return strdup(out);
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
        m->info = lb_snapshot_info_json(s);
        m->info_len = m->info ? strlen(m->info) : 0;
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
                im->dname = image_dname(s, i, m->images);
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
                if (m->files && im->fstype[0] && innermount_supported(im->fstype) && !(im->fs_ino = add_node(K_FSDIR, im->dir_ino, m, im, NULL)))
                        return -ENOMEM;
                for (size_t j = 0; j < im->nparts; j++) {
                        struct mpart *p = &im->parts[j];
                        if (!(p->img_ino = add_node(K_PART, im->dir_ino, m, im, p)))
                                return -ENOMEM;
                        if (m->files && innermount_supported(p->fstype) && !(p->dir_ino = add_node(K_FSDIR, im->dir_ino, m, im, p)))
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

/* The size of a file node: info.json, disk.img, part<N>.img. */
static uint64_t file_size(const struct node *n)
{
        switch (n->kind) {
        case K_INFO: return n->snap->info_len;
        case K_DISK: return n->img->size;
        case K_PART: return n->part->size;
        default: return 0;
        }
}

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
        case K_DISK:
        case K_PART:
                st->st_mode = S_IFREG | 0444;
                st->st_nlink = 1;
                st->st_size = (off_t)file_size(n);
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
                h.base = n->kind == K_PART ? n->part->start : 0;
                h.len = file_size(n);
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

static const struct fuse_lowlevel_ops fusefs_ops = {
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


/* ---- the interface to the rest of the mount ---- */

int fusefs_init(struct lb_repo *repo, const struct mount_opts *o)
{
        M.repo = repo;
        M.o = *o;
        M.mount_time = time(NULL);
        pthread_rwlock_init(&M.lock, NULL);
        pthread_mutex_init(&M.refresh_lock, NULL);
        innermount_probe(); /* which --files directories there are */
        /* root and latest */
        add_node(K_ROOT, 1, NULL, NULL, NULL);
        add_node(K_LATEST, 1, NULL, NULL, NULL);
        return refresh(true);
}

struct fuse_session *fusefs_session_new(bool debug)
{
        const char *fargv[8];
        int fargc = 0;
        fargv[fargc++] = "lifeboat";
        fargv[fargc++] = "-o";
        fargv[fargc++] = "ro,fsname=lifeboat,subtype=lifeboat";
        if (debug)
                fargv[fargc++] = "-d";
        fargv[fargc] = NULL;
        struct fuse_args args = FUSE_ARGS_INIT(fargc, (char **)fargv);
        return fuse_session_new(&args, &fusefs_ops, sizeof(fusefs_ops), NULL);
}

int fusefs_reader_start(void)
{
        pthread_key_create(&buf_key, free_buf);
        struct lb_reader_opts ro = { .cache_bytes = (uint64_t)M.o.cache_mib << 20 };
        return lb_reader_ctx_new(M.repo, &ro, &M.rc);
}

void fusefs_report_stats(void)
{
        if (!M.rc)
                return;
        struct lb_reader_stats rs;
        lb_reader_ctx_stats(M.rc, &rs);
        lb_warn("unmounted %s: %llu chunk reads (%llu from memory), %llu chunks decoded (%llu MiB; %llu "
                "ahead of the reads), %llu failed", M.o.mountpoint, (unsigned long long)(rs.hits + rs.misses),
                (unsigned long long)rs.hits, (unsigned long long)rs.fetched,
                (unsigned long long)(rs.fetched_bytes >> 20), (unsigned long long)rs.prefetched,
                (unsigned long long)rs.failures);
}

size_t fusefs_live_snapshots(void)
{
        size_t live = 0;
        pthread_rwlock_rdlock(&M.lock);
        for (size_t i = 0; i < M.nsnaps; i++)
                live += !atomic_load(&M.snaps[i]->gone);
        pthread_rwlock_unlock(&M.lock);
        return live;
}

void fusefs_for_each_volume(fusefs_volume_fn fn, void *userdata)
{
        for (size_t i = 0; i < M.nsnaps; i++) {
                struct msnap *m = M.snaps[i];
                if (!m->files)
                        continue;
                for (size_t j = 0; j < m->nimages; j++) {
                        struct mimage *im = &m->images[j];
                        struct fusefs_volume v = { .snap_dir = m->dname, .image_dir = im->dname };
                        if (im->fstype[0]) {
                                v.file = "disk.img";
                                v.dir = "fs";
                                v.fstype = im->fstype;
                                v.mountable = im->fs_ino != 0;
                                fn(&v, userdata);
                        }
                        for (size_t p = 0; p < im->nparts; p++) {
                                struct mpart *pt = &im->parts[p];
                                v.file = pt->img_name;
                                v.dir = pt->dir_name;
                                v.fstype = pt->fstype;
                                v.partition = true;
                                v.mountable = pt->dir_ino != 0;
                                fn(&v, userdata);
                        }
                }
        }
}
