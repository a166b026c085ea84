/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lifeboat prune: garbage collection, under the exclusive repository lock.
 *
 *   mark: every snapshot file → every image's map segments (each distinct
 *   one loaded and checked once) → the set of blobs in use: map, hint and
 *   chunk blobs. A snapshot, map or index file that cannot be read stops
 *   prune before anything is touched: what it references is unknown.
 *   account: per pack of the index, the bytes of blobs in use; packs with
 *   none are deleted, full ones kept, partly used ones kept while the unused
 *   bytes stay within --max-unused, the emptiest repacked otherwise.
 *   sweep, in an order that a crash at any point leaves restorable:
 *     1. stale files in tmp/ (nothing else writes under the lock)
 *     2. repack: each used blob of those packs read, checked (decrypted,
 *        decompressed, re-hashed, as copy does) and appended as stored to
 *        new packs
 *     3. new index files listing every used blob (in kept and new packs)
 *     4. the old index files removed
 *     5. the deleted and repacked packs removed, and pack files no index
 *        lists (left by a killed backup, copy or prune)
 *   Until 3 the old index still holds; between 3 and 4 both list every used
 *   blob (readers take either copy); after 4 only packs nothing lists are
 *   left to remove, which a re-run finds as unlisted. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "blob.h"
#include "chunkindex.h"
#include "events.h"
#include "idset.h"
#include "pack.h"
#include "repo.h"
#include "snapshot.h"
#include "util.h"

#define PACKS_PER_INDEX 256
#define PROGRESS_MS 200
#define DEFAULT_MAX_UNUSED 5

enum fate { F_KEEP, F_PARTIAL, F_DELETE, F_REPACK, F_MISSING };

struct packinfo {
        uint64_t size, used; /* file size; used blobs with their directory entries, plus the footer */
        uint64_t nused;
        enum fate fate;
};

struct prune {
        struct lb_repo *r;
        struct lb_prune_result *res;
        struct lb_chunk_index *x;
        struct lb_idset used; /* blob ID -> type | plaintext bound << 8 */
        struct packinfo *pk;  /* per x->packs[] */
        char **old_index;     /* the index files loaded */
        size_t nold;
        struct lb_idset listed; /* the packs of the index */
        char **unlisted; /* pack files no index file lists */
        size_t nunlisted, unlisted_cap;
        uint64_t unlisted_bytes;
        struct lb_pack_set set; /* the new packs */
        uint64_t done, total, last_progress;
};

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void progress(struct prune *p, bool force)
{
        uint64_t t = now_ms();
        if (force || t - p->last_progress >= PROGRESS_MS) {
                p->last_progress = t;
                lb_progress("prune", p->done, p->total);
        }
}

/* Tests stop prune at a step with SIGKILL: LIFEBOAT_TEST_PRUNE_KILL=<step>
 * (pack, index, unindex, delete), to check what a crash there leaves. */
static void crash_point(const char *step)
{
        const char *e = getenv("LIFEBOAT_TEST_PRUNE_KILL");
        if (e && strcmp(e, step) == 0)
                raise(SIGKILL);
}

/* ---- mark ---- */

/* Something prune must know cannot be read: stop before touching anything. */
static int refuse(int k, const char *advice, const char *fmt, ...) _printf_(3, 4);
static int refuse(int k, const char *advice, const char *fmt, ...)
{
        char what[1024];
        va_list ap;
        if (k == -ENOMEM)
                return k;
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        return lb_error_set(k, "%s: prune cannot know what is in use, so it deletes nothing%s", what, advice);
}

/* 1: newly marked, 0: marked before. */
static int mark_id(struct prune *p, const uint8_t id[LB_ID_SIZE], enum lb_blob_type type, uint64_t bound)
{
        return lb_idset_add(&p->used, id, (uint64_t)type | bound << 8, NULL);
}

#define FORGET_ADVICE ". 'lifeboat verify' shows what is affected; 'lifeboat forget' the snapshots beyond repair, then prune again"

static int mark_segment(struct prune *p, struct lb_pack_cache *pc, struct lb_codec *c, const struct lb_snapshot *s,
                        const struct lb_image *im, size_t g, uint8_t (*ids)[LB_ID_SIZE])
{
        struct lb_loc loc;
        size_t n;
        if (im->hints && lb_chunk_index_lookup(p->x, im->hints[g], &loc) && !p->x->pack_missing[loc.pack]) {
                /* Hints are optional: kept when present, not required. */
                int k = mark_id(p, im->hints[g], LB_BLOB_HINTS, (uint64_t)LB_MAP_SEGMENT_CHUNKS * LB_HINT_SIZE);
                if (k < 0)
                        return k;
        }
        int fresh = mark_id(p, im->maps[g], LB_BLOB_MAP, (uint64_t)LB_MAP_SEGMENT_CHUNKS * LB_ID_SIZE);
        if (fresh <= 0)
                return fresh; /* the same segment was marked before, and so were its chunks */
        int k = lb_image_map_load(pc, c, p->r, im, g, ids, &n);
        if (k < 0)
                return refuse(k, FORGET_ADVICE, "snapshot %.8s: map segment %zu of image %s cannot be read (%s)", s->id,
                              g, im->name,
                              lb_error_get() ? lb_error_get() : strerror(-k));
        for (size_t i = 0; i < n; i++) {
                if (lb_id_is_reserved(ids[i]))
                        continue;
                bool found = lb_chunk_index_lookup(p->x, ids[i], &loc);
                if (!found || p->x->pack_missing[loc.pack])
                        return refuse(-EBADMSG, FORGET_ADVICE, "snapshot %.8s: the chunk at byte %llu of image %s is %s",
                                      s->id,
                                      (unsigned long long)((uint64_t)g * LB_MAP_SEGMENT_CHUNKS + i) * im->chunk_size,
                                      im->name, found ? "in a pack file that is missing" : "not in the index");
                if ((k = mark_id(p, ids[i], LB_BLOB_CHUNK, im->chunk_size)) < 0)
                        return k;
        }
        return 0;
}

static int mark(struct prune *p)
{
        char **names = NULL;
        size_t n = 0;
        struct lb_pack_cache pc;
        struct lb_codec *c = lb_codec_new(0);
        uint8_t(*ids)[LB_ID_SIZE] = malloc((size_t)LB_MAP_SEGMENT_CHUNKS * LB_ID_SIZE);
        int k = c && ids ? lb_repo_list_meta(p->r, "snapshots", &names, &n) : -ENOMEM;
        lb_pack_cache_init(&pc, p->r, p->x);
        p->total = n;
        for (size_t i = 0; k == 0 && i < n; i++) {
                struct lb_snapshot *s;
                k = lb_snapshot_load(p->r, names[i], &s);
                if (k < 0) {
                        char advice[512];
                        snprintf(advice, sizeof(advice), ". If it is beyond repair, remove it with 'lifeboat forget "
                                 "--repo %s %.8s', then prune again", p->r->path, names[i]);
                        k = refuse(k, advice, "snapshot %.8s cannot be read (%s)", names[i],
                                   lb_error_get() ? lb_error_get() : strerror(-k));
                        break;
                }
                for (size_t j = 0; k == 0 && j < s->nimages; j++)
                        for (size_t g = 0; k == 0 && g < s->images[j].nmaps; g++)
                                k = mark_segment(p, &pc, c, s, &s->images[j], g, ids);
                lb_snapshot_free(s);
                p->res->snapshots++;
                p->done = i + 1;
                progress(p, false);
        }
        lb_pack_cache_done(&pc);
        lb_strv_free(names, n);
        lb_codec_free(c);
        free(ids);
        p->res->blobs_used = p->used.n;
        return k;
}

/* ---- account ---- */

static int cmp_unused_desc(const void *a, const void *b)
{
        const struct packinfo *x = *(struct packinfo *const *)a, *y = *(struct packinfo *const *)b;
        uint64_t ux = x->size - x->used, uy = y->size - y->used;
        return ux == uy ? 0 : ux > uy ? -1 : 1;
}

static int account(struct prune *p, int max_unused)
{
        struct lb_chunk_index *x = p->x;
        struct lb_prune_result *res = p->res;
        p->pk = calloc(x->npacks ? x->npacks : 1, sizeof(*p->pk));
        _cleanup_free_ struct packinfo **partial = calloc(x->npacks ? x->npacks : 1, sizeof(*partial));
        size_t npartial = 0;
        uint64_t unused = 0;
        if (!p->pk || !partial)
                return -ENOMEM;
        for (size_t i = 0; i < x->n; i++)
                if (lb_idset_get(&p->used, x->v[i].id, NULL)) {
                        struct packinfo *pi = &p->pk[x->v[i].loc.pack];
                        pi->used += x->v[i].loc.length + sizeof(struct lb_pack_entry_disk);
                        pi->nused++;
                }
        for (size_t i = 0; i < x->npacks; i++) {
                struct packinfo *pi = &p->pk[i];
                struct stat st;
                _cleanup_free_ char *path = lb_repo_pack_path(p->r, x->packs[i]);
                if (!path)
                        return -ENOMEM;
                if (x->pack_missing[i] || (stat(path, &st) < 0 && errno == ENOENT)) {
                        pi->fate = F_MISSING;
                        continue;
                }
                if (!S_ISREG(st.st_mode))
                        return lb_error_set(-EINVAL, "%s is not a pack file: prune deletes nothing", path);
                pi->size = (uint64_t)st.st_size;
                res->packs++;
                res->bytes_before += pi->size;
                if (pi->nused == 0) {
                        pi->fate = F_DELETE;
                        continue;
                }
                pi->used += sizeof(struct lb_pack_footer_disk);
                res->bytes_used += pi->used;
                if (pi->used >= pi->size) {
                        pi->used = pi->size;
                        pi->fate = F_KEEP;
                        continue;
                }
                pi->fate = F_PARTIAL;
                partial[npartial++] = pi;
                unused += pi->size - pi->used;
        }
        /* Unused at most max_unused % of what stays: unused <= used * p / (100 - p). */
        uint64_t allowed = max_unused >= 100 ? UINT64_MAX
                                             : res->bytes_used * (uint64_t)max_unused / (uint64_t)(100 - max_unused);
        qsort(partial, npartial, sizeof(*partial), cmp_unused_desc);
        for (size_t i = 0; i < npartial && unused > allowed; i++) {
                partial[i]->fate = F_REPACK;
                unused -= partial[i]->size - partial[i]->used;
        }
        res->bytes_unused_left = unused;
        return 0;
}

/* Pack files in packs/xx/ that no index file lists. */
static int find_unlisted(struct prune *p)
{
        int k = 0;
        for (size_t i = 0; i < p->x->npacks && k >= 0; i++)
                k = lb_idset_add(&p->listed, p->x->packs[i], 0, NULL);
        for (unsigned b = 0; b < 256 && k >= 0; b++) {
                _cleanup_free_ char *dir = NULL;
                if (asprintf(&dir, "%s/packs/%02x", p->r->path, b) < 0) {
                        k = -ENOMEM;
                        break;
                }
                DIR *d = opendir(dir);
                if (!d) {
                        if (errno != ENOENT)
                                k = lb_error_set(-errno, "cannot read %s: %m", dir);
                        continue;
                }
                struct dirent *e;
                while (k >= 0 && (e = readdir(d))) {
                        uint8_t id[LB_ID_SIZE];
                        struct stat st;
                        if (strlen(e->d_name) != 2 * LB_ID_SIZE || strspn(e->d_name, "0123456789abcdef") != 2 * LB_ID_SIZE ||
                            hex_decode(e->d_name, id, sizeof(id)) < 0 || id[0] != b || lb_idset_get(&p->listed, id, NULL) ||
                            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                                continue;
                        if (p->nunlisted == p->unlisted_cap) {
                                size_t cap = p->unlisted_cap ? 2 * p->unlisted_cap : 16;
                                char **v = realloc(p->unlisted, cap * sizeof(*v));
                                if (!v) {
                                        k = -ENOMEM;
                                        break;
                                }
                                p->unlisted = v;
                                p->unlisted_cap = cap;
                        }
                        if (!(p->unlisted[p->nunlisted] = path_join(dir, e->d_name))) {
                                k = -ENOMEM;
                                break;
                        }
                        p->nunlisted++;
                        p->unlisted_bytes += (uint64_t)st.st_size;
                }
                closedir(d);
        }
        p->res->packs_unlisted = p->nunlisted;
        p->res->bytes_before += p->unlisted_bytes;
        return k < 0 ? k : 0;
}

/* ---- sweep ---- */

static int cmp_location(const void *a, const void *b, void *index)
{
        const struct lb_chunk_index *ix = index;
        const struct lb_loc *x = &ix->v[*(const size_t *)a].loc, *y = &ix->v[*(const size_t *)b].loc;
        if (x->pack != y->pack)
                return x->pack < y->pack ? -1 : 1;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Finish the writer's pack into p->set. */
static int finish(struct prune *p, struct lb_pack_writer *pw)
{
        size_t before = p->set.npacks;
        int k = lb_pack_set_finish(&p->set, pw);
        if (k == 0 && before == 0 && p->set.npacks == 1)
                crash_point("pack");
        return k;
}

/* Packs are named by their contents, so a new pack can be one that exists
 * already: one that a killed prune wrote (unlisted), or a listed one. */
static bool is_new(const struct prune *p, const uint8_t id[LB_ID_SIZE])
{
        for (size_t i = 0; i < p->set.npacks; i++)
                if (memcmp(p->set.packs[i], id, LB_ID_SIZE) == 0)
                        return true;
        return false;
}

static void remove_new_packs(struct prune *p)
{
        for (size_t i = 0; i < p->set.npacks; i++) {
                if (lb_idset_get(&p->listed, p->set.packs[i], NULL))
                        continue; /* the old index lists it: not ours to remove */
                char *path = lb_repo_pack_path(p->r, p->set.packs[i]);
                if (path) {
                        unlink(path);
                        free(path);
                }
        }
        p->set.npacks = p->set.nentries = 0;
}

/* Copy the used blobs of the packs to repack, in pack order, each checked
 * as a reader checks it, as stored, into new packs. */
static int repack(struct prune *p)
{
        struct lb_chunk_index *x = p->x;
        _cleanup_free_ size_t *order = NULL;
        _cleanup_free_ uint8_t *raw = NULL, *plain = NULL;
        size_t n = 0, raw_size = 0, plain_size = 0;
        struct lb_pack_writer *pw = NULL;
        struct lb_pack_cache pc;
        struct lb_codec *c = lb_codec_new(0);
        int k = 0;

        for (size_t i = 0; i < x->n; i++)
                n += p->pk[x->v[i].loc.pack].fate == F_REPACK && lb_idset_get(&p->used, x->v[i].id, NULL);
        order = malloc((n ? n : 1) * sizeof(*order));
        if (!c || !order) {
                lb_codec_free(c);
                return -ENOMEM;
        }
        n = 0;
        for (size_t i = 0; i < x->n; i++)
                if (p->pk[x->v[i].loc.pack].fate == F_REPACK && lb_idset_get(&p->used, x->v[i].id, NULL)) {
                        order[n++] = i;
                        p->total += x->v[i].loc.length;
                }
        qsort_r(order, n, sizeof(*order), cmp_location, x);

        lb_pack_cache_init(&pc, p->r, x);
        k = lb_pack_writer_new(p->r, &pw);
        for (size_t j = 0; k == 0 && j < n; j++) {
                const struct lb_index_entry *e = &x->v[order[j]];
                uint64_t v = 0;
                size_t len;
                lb_idset_get(&p->used, e->id, &v);
                size_t bound = (size_t)(v >> 8);
                if (plain_size < bound) {
                        uint8_t *q = realloc(plain, bound);
                        if (!q) {
                                k = -ENOMEM;
                                break;
                        }
                        plain = q;
                        plain_size = bound;
                }
                k = lb_blob_fetch(&pc, c, p->r, e->id, (enum lb_blob_type)(v & 0xff), &raw, &raw_size, plain, bound,
                                  &len);
                if (k < 0) {
                        if (k != -ENOMEM)
                                k = lb_error_set(k, "a blob in use cannot be repacked: %s. Prune stopped and deleted "
                                                 "nothing; 'lifeboat verify --read-data' shows which snapshots are "
                                                 "affected", lb_error_get() ? lb_error_get() : strerror(-k));
                        break;
                }
                k = lb_pack_writer_add(pw, e->id, (uint8_t)(v & 0xff), raw, e->loc.length);
                if (k == 0 && pw->size >= p->r->pack_size)
                        k = finish(p, pw);
                p->res->blobs_repacked++;
                p->res->bytes_repacked += e->loc.length;
                p->done += e->loc.length;
                progress(p, false);
        }
        if (k == 0)
                k = finish(p, pw);
        lb_pack_writer_free(pw); /* removes an unfinished temp file */
        lb_pack_cache_done(&pc);
        lb_codec_free(c);
        p->res->packs_written = p->set.npacks;
        return k;
}

static int cmp_entry_pack(const void *a, const void *b)
{
        const struct lb_index_entry *x = a, *y = b;
        if (x->loc.pack != y->loc.pack)
                return x->loc.pack < y->loc.pack ? -1 : 1;
        return x->loc.offset < y->loc.offset ? -1 : x->loc.offset > y->loc.offset;
}

/* Index files listing every used blob: those in kept packs where they are,
 * the repacked ones in the new packs. Their names go to *ret_names. */
static int write_index(struct prune *p, char (**ret_names)[2 * LB_ID_SIZE + 1], size_t *ret_n)
{
        struct lb_chunk_index *x = p->x;
        _cleanup_free_ uint32_t *num = calloc(x->npacks ? x->npacks : 1, sizeof(*num));
        _cleanup_free_ uint8_t(*table)[LB_ID_SIZE] = malloc((x->npacks + p->set.npacks + 1) * LB_ID_SIZE);
        _cleanup_free_ struct lb_index_entry *v = malloc((p->used.n + 1) * sizeof(*v));
        size_t ntable = 0, n = 0, indexed = 0;
        if (!num || !table || !v)
                return -ENOMEM;
        for (size_t i = 0; i < x->npacks; i++)
                if (p->pk[i].fate == F_KEEP || p->pk[i].fate == F_PARTIAL) {
                        num[i] = (uint32_t)ntable;
                        memcpy(table[ntable++], x->packs[i], LB_ID_SIZE);
                }
        for (size_t i = 0; i < x->n; i++) {
                enum fate f = p->pk[x->v[i].loc.pack].fate;
                if ((f == F_KEEP || f == F_PARTIAL) && lb_idset_get(&p->used, x->v[i].id, NULL) && n < p->used.n) {
                        v[n] = x->v[i];
                        v[n++].loc.pack = num[x->v[i].loc.pack];
                }
        }
        for (size_t i = 0; i < p->set.nentries && n < p->used.n; i++) {
                v[n] = p->set.entries[i];
                v[n++].loc.pack += (uint32_t)ntable;
        }
        if (n != p->used.n)
                return lb_error_set(-EIO, "internal error: %zu of %zu used blobs placed", n, p->used.n);
        memcpy(table + ntable, p->set.packs, p->set.npacks * LB_ID_SIZE);
        ntable += p->set.npacks;
        qsort(v, n, sizeof(*v), cmp_entry_pack);
        *ret_n = DIV_ROUND_UP(ntable, PACKS_PER_INDEX);
        *ret_names = calloc(*ret_n + 1, sizeof(**ret_names));
        if (!*ret_names)
                return -ENOMEM;
        int k = lb_index_files_write(p->r, (const uint8_t(*)[LB_ID_SIZE])table, ntable, v, n, PACKS_PER_INDEX, &indexed,
                                     *ret_names);
        p->res->index_written = DIV_ROUND_UP(indexed, PACKS_PER_INDEX);
        for (size_t i = 0; k < 0 && i < p->res->index_written; i++) {
                /* They list the new packs, which go again; but not one
                 * that is an old file written again (the same contents). */
                _cleanup_free_ char *path = NULL;
                bool old = false;
                for (size_t j = 0; j < p->nold && !old; j++)
                        old = strcmp(p->old_index[j], (*ret_names)[i]) == 0;
                if (!old && asprintf(&path, "%s/index/%s", p->r->path, (*ret_names)[i]) > 0)
                        unlink(path);
        }
        return k;
}

static int remove_file(const char *path, uint64_t *bytes)
{
        struct stat st;
        if (bytes && stat(path, &st) == 0)
                *bytes += (uint64_t)st.st_size;
        if (unlink(path) < 0 && errno != ENOENT)
                return lb_error_set(-errno, "cannot remove %s: %m", path);
        return 0;
}

static int remove_old_index(struct prune *p, char (*names)[2 * LB_ID_SIZE + 1], size_t nnames)
{
        int k = 0;
        for (size_t i = 0; i < p->nold && k == 0; i++) {
                bool rewritten = false; /* the same contents as a new one, so the same name */
                for (size_t j = 0; j < nnames && !rewritten; j++)
                        rewritten = strcmp(names[j], p->old_index[i]) == 0;
                if (rewritten)
                        continue;
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/index/%s", p->r->path, p->old_index[i]) < 0)
                        return -ENOMEM;
                k = remove_file(path, NULL);
                if (k == 0 && ++p->res->index_removed == 1)
                        crash_point("unindex");
        }
        _cleanup_free_ char *any = path_join(p->r->path, "index/x");
        if (k == 0 && (!any || (k = fsync_dir_of(any)) < 0))
                k = any ? lb_error_set(k, "cannot flush %s/index: %s", p->r->path, strerror(-k)) : -ENOMEM;
        return k;
}

static int remove_packs(struct prune *p)
{
        bool dirty[256] = { false };
        uint64_t freed = 0;
        int k = 0;
        for (size_t i = 0; i < p->x->npacks && k == 0; i++) {
                enum fate f = p->pk[i].fate;
                if ((f != F_DELETE && f != F_REPACK) || is_new(p, p->x->packs[i]))
                        continue;
                _cleanup_free_ char *path = lb_repo_pack_path(p->r, p->x->packs[i]);
                if (!path)
                        return -ENOMEM;
                k = remove_file(path, &freed);
                dirty[p->x->packs[i][0]] = true;
                p->res->packs_deleted += f == F_DELETE;
                p->res->packs_repacked += f == F_REPACK;
                if (k == 0 && p->res->packs_deleted + p->res->packs_repacked == 1)
                        crash_point("delete");
        }
        for (size_t i = 0; i < p->nunlisted && k == 0; i++) {
                uint8_t id[LB_ID_SIZE];
                if (hex_decode(strrchr(p->unlisted[i], '/') + 1, id, sizeof(id)) < 0 || is_new(p, id))
                        continue;
                k = remove_file(p->unlisted[i], &freed);
                dirty[id[0]] = true;
        }
        for (unsigned b = 0; b < 256 && k == 0; b++) {
                _cleanup_free_ char *any = NULL;
                if (!dirty[b])
                        continue;
                if (asprintf(&any, "%s/packs/%02x/x", p->r->path, b) < 0)
                        return -ENOMEM;
                if ((k = fsync_dir_of(any)) < 0)
                        k = lb_error_set(k, "cannot flush %s: %s", any, strerror(-k));
        }
        return k;
}

static uint64_t new_pack_bytes(struct prune *p)
{
        uint64_t n = 0;
        for (size_t i = 0; i < p->set.npacks; i++) {
                _cleanup_free_ char *path = lb_repo_pack_path(p->r, p->set.packs[i]);
                struct stat st;
                if (path && stat(path, &st) == 0)
                        n += (uint64_t)st.st_size;
        }
        return n;
}

static int sweep(struct prune *p)
{
        struct lb_prune_result *res = p->res;
        char(*names)[2 * LB_ID_SIZE + 1] = NULL;
        size_t nnames = 0;
        bool rewrite = p->x->nmissing > 0;
        int k;
        for (size_t i = 0; i < p->x->npacks; i++)
                rewrite |= p->pk[i].fate == F_DELETE || p->pk[i].fate == F_REPACK;

        k = lb_repo_clean_tmp(p->r, 0); /* under the exclusive lock, nothing is being written */
        if (k > 0)
                res->tmp_removed = (uint64_t)k;
        k = rewrite ? repack(p) : 0;
        if (k == 0 && rewrite) {
                k = write_index(p, &names, &nnames);
                if (k == 0)
                        crash_point("index");
        }
        if (k < 0) {
                /* Nothing lists the new packs yet: they go, and all stays as it was. */
                char msg[768];
                snprintf(msg, sizeof(msg), "%s", lb_error_get() ? lb_error_get() : strerror(-k));
                uint64_t wrote = new_pack_bytes(p);
                remove_new_packs(p);
                free(names);
                if (k == -ENOSPC || k == -EDQUOT) {
                        char a[32];
                        return lb_error_set(k, "%s is full: %s. Repacking needs room for the new packs (%s written "
                                            "so far) before the old ones can go; nothing was removed. Free some "
                                            "space, or run 'lifeboat prune --max-unused 100', which only deletes "
                                            "packs that hold nothing in use", p->r->path, msg,
                                            format_bytes(wrote, a, sizeof(a)));
                }
                return lb_error_set(k, "%s", msg);
        }
        if (rewrite)
                k = remove_old_index(p, names, nnames);
        free(names);
        if (k == 0)
                k = remove_packs(p);
        return k;
}

int lb_prune(struct lb_repo *r, const struct lb_prune_opts *opts, struct lb_prune_result *ret)
{
        struct prune p = { .r = r, .res = ret };
        uint64_t t0 = now_ms();
        int max_unused = opts->max_unused < 0 ? DEFAULT_MAX_UNUSED : opts->max_unused;
        int k;

        lb_error_clear();
        memset(ret, 0, sizeof(*ret));
        if (max_unused > 100)
                return lb_error_set(-EINVAL, "--max-unused %d%% is more than 100%%", max_unused);
        k = lb_repo_lock(r, opts->dry_run ? LB_LOCK_SHARED : LB_LOCK_EXCLUSIVE);
        if (k < 0)
                return k;
        /* The index as it is now, not as this handle may have loaded it. */
        lb_chunk_index_free(r->index);
        r->index = NULL;
        k = lb_repo_list_meta(r, "index", &p.old_index, &p.nold);
        if (k == 0)
                k = lb_chunk_index_load(r, &p.x);
        if (k == 0 && p.x->ndamaged)
                k = refuse(-EBADMSG, ". 'lifeboat verify' shows what is affected", "index file %s is damaged",
                           p.x->damaged[0]);
        if (k == 0)
                k = lb_idset_init(&p.used, p.x->n + 16);
        if (k == 0)
                k = lb_idset_init(&p.listed, p.x->npacks + 16);
        if (k == 0)
                k = mark(&p);
        if (k == 0)
                k = account(&p, max_unused);
        if (k == 0)
                k = find_unlisted(&p);
        if (k < 0)
                goto out;
        progress(&p, true);
        if (opts->dry_run) {
                uint64_t gone = p.unlisted_bytes, added = 0;
                for (size_t i = 0; i < p.x->npacks; i++) {
                        struct packinfo *pi = &p.pk[i];
                        ret->packs_deleted += pi->fate == F_DELETE;
                        ret->packs_repacked += pi->fate == F_REPACK;
                        if (pi->fate == F_DELETE || pi->fate == F_REPACK)
                                gone += pi->size;
                        if (pi->fate == F_REPACK)
                                added += pi->used;
                }
                ret->bytes_after = ret->bytes_before - gone + added; /* about: new packs hold the used blobs */
        } else {
                p.done = 0;
                p.total = 0;
                k = sweep(&p);
                if (k < 0)
                        goto out;
                ret->bytes_after = ret->bytes_before - (p.unlisted_bytes) + new_pack_bytes(&p);
                for (size_t i = 0; i < p.x->npacks; i++)
                        if (p.pk[i].fate == F_DELETE || p.pk[i].fate == F_REPACK)
                                ret->bytes_after -= p.pk[i].size;
        }
        for (size_t i = 0; i < p.x->npacks; i++) {
                ret->packs_kept += p.pk[i].fate == F_KEEP || p.pk[i].fate == F_PARTIAL;
                ret->packs_partial_kept += p.pk[i].fate == F_PARTIAL;
        }
        progress(&p, true);
out:
        ret->duration_ms = now_ms() - t0;
        lb_chunk_index_free(p.x);
        lb_idset_done(&p.used);
        lb_idset_done(&p.listed);
        free(p.pk);
        lb_strv_free(p.old_index, p.nold);
        lb_strv_free(p.unlisted, p.nunlisted);
        lb_pack_set_done(&p.set);
        return k;
}
