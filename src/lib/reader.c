/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Random access to images (see reader.h). One cache holds decoded blobs of
 * two classes, chunks and map segments, each with its own LRU list and byte
 * budget, keyed by (class, blob ID, length). An entry is QUEUED (waiting for a
 * prefetch worker), LOADING (someone is fetching it), READY or FAILED.
 * Whoever needs an entry that is absent or only QUEUED fetches it itself;
 * whoever finds it LOADING waits for it. Entries in use (refs > 0) are never
 * evicted; FAILED entries are dropped when the last user lets go, so a later
 * read tries again. Fetching (pack read, decrypt, decompress, re-hash) runs
 * without the lock, with a "fetcher" (pack file cache, codec, buffer) taken
 * from a pool. */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "blob.h"
#include "chunkindex.h"
#include "events.h"
#include "pack.h"
#include "reader.h"
#include "repo.h"
#include "snapshot.h"
#include "util.h"

#define NBUCKETS 4096
#define SEG_BYTES ((uint64_t)LB_MAP_SEGMENT_CHUNKS * LB_ID_SIZE)
#define CHUNK_MAX (8u << 20) /* the largest chunk size the format allows */
#define RELOAD_AFTER_MS 3000 /* a blob not in the index: reload it if older than this */
#define FORWARD_GAP 16       /* chunks: a jump forward up to this still counts as sequential */

enum { ST_QUEUED, ST_LOADING, ST_READY, ST_FAILED };
enum { CL_CHUNK, CL_MAP, NCLASSES };

struct idxref {
        struct lb_chunk_index *x;
        unsigned refs;
        uint64_t gen;       /* the context's count of loads: tells this load from any other */
        uint64_t loaded_ms;
        int dir_known;             /* index_dir_mtime() just before the load ... */
        struct timespec dir_mtime; /* ... and what it read */
};

struct centry {
        struct lb_reader_ctx *ctx;
        uint8_t id[LB_ID_SIZE];
        uint8_t cls, state;
        int err;
        uint32_t len, cap; /* bytes used, allocated */
        uint8_t *data;
        char *msg; /* why it failed */
        unsigned refs;
        struct centry *hnext, *prev, *next;
};

struct fetcher {
        struct fetcher *next;
        struct idxref *idx;
        struct lb_pack_cache pc;
        struct lb_codec *codec;
        uint8_t *raw;
        size_t raw_size;
};

struct lru {
        struct centry *head, *tail; /* head: most recently used */
        uint64_t used, budget;
};

struct lb_reader_ctx {
        struct lb_repo *repo;
        pthread_mutex_t lock;
        pthread_cond_t cond;     /* an entry left LOADING */
        pthread_cond_t job_cond; /* a job was queued, or stop */
        struct centry *buckets[NBUCKETS];
        struct lru lru[NCLASSES];
        struct idxref *idx;
        uint64_t gen; /* loads of the index so far */
        pthread_mutex_t reload_lock;
        struct fetcher *free_fetchers;
        struct {
                uint8_t *p;
                uint32_t cap;
        } spare[8]; /* buffers of evicted entries, for the next ones: no page faults */
        unsigned nspare;
        struct centry **jobs; /* a ring of QUEUED entries */
        size_t jobs_cap, jobs_head, jobs_n;
        pthread_t *workers;
        unsigned nworkers;
        bool stop;
        unsigned readahead;
        atomic_uint_fast64_t hits, misses, fetched, fetched_bytes, prefetched, failures, reloads;
};

struct lb_image_reader {
        struct lb_reader_ctx *c;
        bool own_ctx;
        char snap[9];
        char *name;
        uint64_t size, nchunks;
        uint32_t cs;
        size_t nmaps;
        uint8_t (*maps)[LB_ID_SIZE];
        pthread_mutex_t lock; /* the sequential-access state below */
        bool have_last;
        uint64_t last_c0, last_c1, ra_next;
        unsigned streak;
};

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the index, shared by reference ---- */

static void idx_unref_locked(struct idxref *i)
{
        if (i && --i->refs == 0) {
                lb_chunk_index_free(i->x);
                free(i);
        }
}

/* The modification time of the repository's index/ (new index files are
 * renamed into it), to tell whether it changed after a load. Returns 1, 0
 * when it is too recent for that (timestamps are coarse: a change in the
 * same tick would not show), -1 when it cannot be read. */
static int index_dir_mtime(struct lb_reader_ctx *c, struct timespec *ret)
{
        struct timespec now;
        struct stat st;
        _cleanup_free_ char *p = path_join(c->repo->path, "index");
        if (!p || stat(p, &st) < 0)
                return -1;
        clock_gettime(CLOCK_REALTIME, &now);
        *ret = st.st_mtim;
        return now.tv_sec - st.st_mtim.tv_sec >= 2;
}

static int idx_load(struct lb_reader_ctx *c)
{
        struct lb_chunk_index *x;
        struct timespec mtime = { 0 };
        int known = index_dir_mtime(c, &mtime);
        int k = lb_chunk_index_load(c->repo, &x);
        if (k < 0)
                return k;
        struct idxref *i = calloc(1, sizeof(*i));
        if (!i) {
                lb_chunk_index_free(x);
                return -ENOMEM;
        }
        i->x = x;
        i->refs = 1;
        i->loaded_ms = now_ms();
        i->dir_known = known;
        i->dir_mtime = mtime;
        pthread_mutex_lock(&c->lock);
        i->gen = ++c->gen;
        struct idxref *old = c->idx;
        c->idx = i;
        idx_unref_locked(old);
        pthread_mutex_unlock(&c->lock);
        return 0;
}

int lb_reader_ctx_reload_index(struct lb_reader_ctx *c)
{
        pthread_mutex_lock(&c->reload_lock);
        int k = idx_load(c);
        pthread_mutex_unlock(&c->reload_lock);
        if (k == 0)
                atomic_fetch_add(&c->reloads, 1);
        return k;
}

/* The load of the index with generation seen_gen did not have a blob: load
 * it again, unless it is recent and index/ has not changed since. Returns
 * whether the current index is another load than that one. */
static bool maybe_reload(struct lb_reader_ctx *c, uint64_t seen_gen)
{
        pthread_mutex_lock(&c->reload_lock);
        pthread_mutex_lock(&c->lock);
        const struct idxref *cur = c->idx;
        bool changed = cur->gen != seen_gen, stale = false;
        uint64_t loaded_ms = cur->loaded_ms;
        int known = cur->dir_known;
        struct timespec was = cur->dir_mtime, now;
        pthread_mutex_unlock(&c->lock);
        if (!changed) {
                stale = now_ms() - loaded_ms >= RELOAD_AFTER_MS || known == 0;
                if (!stale && known > 0 && index_dir_mtime(c, &now) >= 0)
                        stale = now.tv_sec != was.tv_sec || now.tv_nsec != was.tv_nsec;
        }
        if (stale && idx_load(c) == 0) {
                atomic_fetch_add(&c->reloads, 1);
                changed = true;
        }
        pthread_mutex_unlock(&c->reload_lock);
        return changed;
}

/* ---- fetchers ---- */

static struct fetcher *fetcher_get(struct lb_reader_ctx *c)
{
        pthread_mutex_lock(&c->lock);
        struct fetcher *f = c->free_fetchers;
        if (f)
                c->free_fetchers = f->next;
        struct idxref *cur = c->idx, *old = NULL;
        cur->refs++;
        pthread_mutex_unlock(&c->lock);
        if (!f) {
                f = calloc(1, sizeof(*f));
                if (f)
                        f->codec = lb_codec_new(0);
                if (!f || !f->codec) {
                        free(f);
                        pthread_mutex_lock(&c->lock);
                        idx_unref_locked(cur);
                        pthread_mutex_unlock(&c->lock);
                        return NULL;
                }
                lb_pack_cache_init(&f->pc, c->repo, cur->x);
                f->idx = cur;
                return f;
        }
        if (f->idx != cur) { /* the index was reloaded: pack numbers changed */
                lb_pack_cache_done(&f->pc);
                lb_pack_cache_init(&f->pc, c->repo, cur->x);
                old = f->idx;
                f->idx = cur;
        } else {
                old = cur; /* drop the extra reference */
        }
        pthread_mutex_lock(&c->lock);
        idx_unref_locked(old);
        pthread_mutex_unlock(&c->lock);
        return f;
}

static void fetcher_put(struct lb_reader_ctx *c, struct fetcher *f)
{
        pthread_mutex_lock(&c->lock);
        f->next = c->free_fetchers;
        c->free_fetchers = f;
        pthread_mutex_unlock(&c->lock);
}

static void fetcher_free(struct fetcher *f)
{
        lb_pack_cache_done(&f->pc);
        lb_codec_free(f->codec);
        free(f->raw);
        free(f);
}

/* Fetch and decode e (LOADING, owned by the caller) into e->data. No lock
 * held. On failure the message is in lb_error_get(). */
static int fetch(struct lb_reader_ctx *c, struct centry *e)
{
        for (int attempt = 0;; attempt++) {
                struct fetcher *f = fetcher_get(c);
                if (!f)
                        return -ENOMEM;
                uint64_t seen_gen = f->idx->gen; /* the load searched (not its address: that is reused) */
                size_t got = 0;
                lb_error_clear();
                int k = lb_blob_fetch(&f->pc, f->codec, c->repo, e->id, e->cls == CL_MAP ? LB_BLOB_MAP : LB_BLOB_CHUNK,
                                      &f->raw, &f->raw_size, e->data, e->len, &got);
                fetcher_put(c, f);
                if (k == 0 && got != e->len)
                        k = lb_error_set(-EBADMSG, "%s has %zu bytes, expected %u",
                                         e->cls == CL_MAP ? "map segment" : "chunk", got, e->len);
                if (k == -ENOENT && attempt == 0) {
                        /* new snapshots may use index files loaded after ours */
                        char msg[512];
                        snprintf(msg, sizeof(msg), "%s", lb_error_get() ? lb_error_get() : "not found");
                        if (maybe_reload(c, seen_gen))
                                continue;
                        lb_error_set(k, "%s", msg);
                }
                if (k == 0) {
                        atomic_fetch_add(&c->fetched, 1);
                        atomic_fetch_add(&c->fetched_bytes, e->len);
                } else {
                        atomic_fetch_add(&c->failures, 1);
                        if (!lb_error_get())
                                lb_error_set(k, "%s", strerror(-k));
                }
                return k;
        }
}

/* ---- the cache (all with c->lock held) ---- */

static size_t bucket_of(uint8_t cls, const uint8_t id[LB_ID_SIZE])
{
        uint64_t h;
        memcpy(&h, id, sizeof(h));
        return (size_t)((h ^ cls) % NBUCKETS);
}

static struct centry *lookup(struct lb_reader_ctx *c, uint8_t cls, const uint8_t id[LB_ID_SIZE], uint32_t len)
{
        for (struct centry *e = c->buckets[bucket_of(cls, id)]; e; e = e->hnext)
                if (e->cls == cls && e->len == len && memcmp(e->id, id, LB_ID_SIZE) == 0)
                        return e;
        return NULL;
}

static void lru_unlink(struct lb_reader_ctx *c, struct centry *e)
{
        struct lru *l = &c->lru[e->cls];
        if (e->prev)
                e->prev->next = e->next;
        else
                l->head = e->next;
        if (e->next)
                e->next->prev = e->prev;
        else
                l->tail = e->prev;
        e->prev = e->next = NULL;
}

static void lru_push(struct lb_reader_ctx *c, struct centry *e)
{
        struct lru *l = &c->lru[e->cls];
        e->prev = NULL;
        e->next = l->head;
        if (l->head)
                l->head->prev = e;
        l->head = e;
        if (!l->tail)
                l->tail = e;
}

static void remove_entry(struct lb_reader_ctx *c, struct centry *e)
{
        struct centry **p = &c->buckets[bucket_of(e->cls, e->id)];
        while (*p != e)
                p = &(*p)->hnext;
        *p = e->hnext;
        lru_unlink(c, e);
        c->lru[e->cls].used -= e->len;
        if (c->nspare < ELEMENTSOF(c->spare) && !c->stop) {
                c->spare[c->nspare].p = e->data;
                c->spare[c->nspare++].cap = e->cap;
        } else {
                free(e->data);
        }
        free(e->msg);
        free(e);
}

static uint8_t *buffer_get(struct lb_reader_ctx *c, uint32_t len, uint32_t *ret_cap)
{
        for (unsigned i = 0; i < c->nspare; i++)
                if (c->spare[i].cap >= len && c->spare[i].cap / 2 <= len) {
                        uint8_t *p = c->spare[i].p;
                        *ret_cap = c->spare[i].cap;
                        c->spare[i] = c->spare[--c->nspare];
                        return p;
                }
        *ret_cap = len ? len : 1;
        return malloc(*ret_cap);
}

/* Drop least recently used entries nobody uses until len more bytes fit.
 * Returns whether they fit. */
static bool make_room(struct lb_reader_ctx *c, uint8_t cls, uint32_t len)
{
        struct lru *l = &c->lru[cls];
        struct centry *e = l->tail;
        while (l->used + len > l->budget && e) {
                struct centry *prev = e->prev;
                if (e->refs == 0 && (e->state == ST_READY || e->state == ST_FAILED))
                        remove_entry(c, e);
                e = prev;
        }
        return l->used + len <= l->budget;
}

static struct centry *insert(struct lb_reader_ctx *c, uint8_t cls, const uint8_t id[LB_ID_SIZE], uint32_t len,
                             uint8_t state)
{
        make_room(c, cls, len);
        struct centry *e = calloc(1, sizeof(*e));
        if (!e)
                return NULL;
        e->data = buffer_get(c, len, &e->cap);
        if (!e->data) {
                free(e);
                return NULL;
        }
        memcpy(e->id, id, LB_ID_SIZE);
        e->ctx = c;
        e->cls = cls;
        e->len = len;
        e->state = state;
        e->refs = 1;
        size_t b = bucket_of(cls, id);
        e->hnext = c->buckets[b];
        c->buckets[b] = e;
        lru_push(c, e);
        c->lru[cls].used += len;
        return e;
}

static void release_locked(struct lb_reader_ctx *c, struct centry *e)
{
        if (--e->refs == 0 && e->state == ST_FAILED)
                remove_entry(c, e);
}

static void release(struct lb_reader_ctx *c, struct centry *e)
{
        pthread_mutex_lock(&c->lock);
        release_locked(c, e);
        pthread_mutex_unlock(&c->lock);
}

/* e was LOADING, fetched with result k. With the lock held. */
static void finish_locked(struct lb_reader_ctx *c, struct centry *e, int k)
{
        if (k == 0) {
                e->state = ST_READY;
        } else {
                e->state = ST_FAILED;
                e->err = k;
                free(e->msg);
                e->msg = strdup(lb_error_get() ? lb_error_get() : strerror(-k));
        }
        pthread_cond_broadcast(&c->cond);
}

/* A READY entry for (cls, id, len), referenced; fetched here if needed.
 * On failure: the error, with its message in lb_error_get(). */
static int acquire(struct lb_reader_ctx *c, uint8_t cls, const uint8_t id[LB_ID_SIZE], uint32_t len,
                   struct centry **ret)
{
        pthread_mutex_lock(&c->lock);
        struct centry *e = lookup(c, cls, id, len);
        if (e && e->state == ST_READY) {
                e->refs++;
                lru_unlink(c, e);
                lru_push(c, e);
                pthread_mutex_unlock(&c->lock);
                if (cls == CL_CHUNK)
                        atomic_fetch_add(&c->hits, 1);
                *ret = e;
                return 0;
        }
        if (cls == CL_CHUNK)
                atomic_fetch_add(&c->misses, 1);
        bool mine;
        if (!e) {
                e = insert(c, cls, id, len, ST_LOADING);
                if (!e) {
                        pthread_mutex_unlock(&c->lock);
                        return -ENOMEM;
                }
                mine = true;
        } else {
                e->refs++;
                mine = e->state == ST_QUEUED; /* a prefetch not started yet: take it over */
                if (mine)
                        e->state = ST_LOADING;
        }
        if (mine) {
                pthread_mutex_unlock(&c->lock);
                int k = fetch(c, e);
                pthread_mutex_lock(&c->lock);
                finish_locked(c, e, k);
        } else {
                while (e->state == ST_LOADING)
                        pthread_cond_wait(&c->cond, &c->lock);
        }
        if (e->state == ST_READY) {
                pthread_mutex_unlock(&c->lock);
                *ret = e;
                return 0;
        }
        int k = e->err;
        lb_error_set(k, "%s", e->msg ? e->msg : strerror(-k));
        release_locked(c, e);
        pthread_mutex_unlock(&c->lock);
        return k;
}

/* ---- prefetch ---- */

static void *worker_main(void *arg)
{
        struct lb_reader_ctx *c = arg;
        pthread_mutex_lock(&c->lock);
        for (;;) {
                while (!c->stop && c->jobs_n == 0)
                        pthread_cond_wait(&c->job_cond, &c->lock);
                if (c->stop)
                        break;
                struct centry *e = c->jobs[c->jobs_head];
                c->jobs_head = (c->jobs_head + 1) % c->jobs_cap;
                c->jobs_n--;
                if (e->state == ST_QUEUED) {
                        e->state = ST_LOADING;
                        pthread_mutex_unlock(&c->lock);
                        int k = fetch(c, e);
                        if (k == 0)
                                atomic_fetch_add(&c->prefetched, 1);
                        pthread_mutex_lock(&c->lock);
                        finish_locked(c, e, k);
                }
                release_locked(c, e);
        }
        pthread_mutex_unlock(&c->lock);
        return NULL;
}

/* Queue chunks [from, to] of rd that are not cached, as long as their map
 * segment is already decoded and they fit in the cache. */
static void schedule(struct lb_image_reader *rd, uint64_t from, uint64_t to)
{
        struct lb_reader_ctx *c = rd->c;
        struct centry *seg = NULL;
        size_t segno = SIZE_MAX;
        pthread_mutex_lock(&c->lock);
        for (uint64_t ch = from; ch <= to && ch < rd->nchunks; ch++) {
                size_t s = (size_t)(ch / LB_MAP_SEGMENT_CHUNKS);
                if (s != segno) {
                        uint64_t n = MIN((uint64_t)LB_MAP_SEGMENT_CHUNKS, rd->nchunks - (uint64_t)s * LB_MAP_SEGMENT_CHUNKS);
                        seg = s < rd->nmaps ? lookup(c, CL_MAP, rd->maps[s], (uint32_t)(n * LB_ID_SIZE)) : NULL;
                        if (!seg || seg->state != ST_READY)
                                break;
                        segno = s;
                }
                const uint8_t *id = seg->data + (size_t)(ch % LB_MAP_SEGMENT_CHUNKS) * LB_ID_SIZE;
                if (lb_id_is_reserved(id))
                        continue;
                uint32_t len = (uint32_t)MIN((uint64_t)rd->cs, rd->size - ch * rd->cs);
                if (lookup(c, CL_CHUNK, id, len))
                        continue;
                if (c->jobs_n == c->jobs_cap || !make_room(c, CL_CHUNK, len))
                        break;
                struct centry *e = insert(c, CL_CHUNK, id, len, ST_QUEUED); /* its reference is the queue's */
                if (!e)
                        break;
                c->jobs[(c->jobs_head + c->jobs_n) % c->jobs_cap] = e;
                c->jobs_n++;
                pthread_cond_signal(&c->job_cond);
        }
        pthread_mutex_unlock(&c->lock);
}

/* ---- the context ---- */

int lb_reader_ctx_new(struct lb_repo *r, const struct lb_reader_opts *opts, struct lb_reader_ctx **ret)
{
        struct lb_reader_opts o = opts ? *opts : (struct lb_reader_opts){ 0 };
        struct lb_reader_ctx *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->repo = r;
        pthread_mutex_init(&c->lock, NULL);
        pthread_mutex_init(&c->reload_lock, NULL);
        pthread_cond_init(&c->cond, NULL);
        pthread_cond_init(&c->job_cond, NULL);
        c->lru[CL_CHUNK].budget = o.cache_bytes ? o.cache_bytes : 64u << 20;
        c->lru[CL_MAP].budget = (o.map_segments ? o.map_segments : 8) * SEG_BYTES;
        c->readahead = o.no_readahead ? 0 : o.readahead ? o.readahead : 8;
        /* Shared, for as long as the repository is open (a mount: until it is
         * unmounted), so that no prune removes packs under the reader. */
        int k = lb_repo_lock(r, LB_LOCK_SHARED);
        if (k == 0)
                k = idx_load(c);
        if (k < 0) {
                lb_reader_ctx_free(c);
                return k;
        }
        if (c->readahead) {
                unsigned n = o.threads ? o.threads : (unsigned)get_nprocs();
                n = MAX(1u, MIN(n, 8u));
                c->jobs_cap = 4 * (size_t)c->readahead;
                c->jobs = calloc(c->jobs_cap, sizeof(*c->jobs));
                c->workers = calloc(n, sizeof(*c->workers));
                if (!c->jobs || !c->workers) {
                        lb_reader_ctx_free(c);
                        return -ENOMEM;
                }
                for (unsigned i = 0; i < n; i++) {
                        if (pthread_create(&c->workers[i], NULL, worker_main, c) != 0)
                                break;
                        c->nworkers++;
                }
                if (!c->nworkers)
                        c->readahead = 0;
        }
        *ret = c;
        return 0;
}

void lb_reader_ctx_stats(struct lb_reader_ctx *c, struct lb_reader_stats *ret)
{
        ret->hits = c->hits;
        ret->misses = c->misses;
        ret->fetched = c->fetched;
        ret->fetched_bytes = c->fetched_bytes;
        ret->prefetched = c->prefetched;
        ret->failures = c->failures;
        ret->index_reloads = c->reloads;
}

void lb_reader_ctx_free(struct lb_reader_ctx *c)
{
        if (!c)
                return;
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_broadcast(&c->job_cond);
        pthread_mutex_unlock(&c->lock);
        for (unsigned i = 0; i < c->nworkers; i++)
                pthread_join(c->workers[i], NULL);
        free(c->workers);
        free(c->jobs); /* their entries are freed with the table below */
        for (size_t b = 0; b < NBUCKETS; b++)
                while (c->buckets[b]) {
                        struct centry *e = c->buckets[b];
                        e->refs = 0;
                        remove_entry(c, e);
                }
        while (c->free_fetchers) {
                struct fetcher *f = c->free_fetchers;
                c->free_fetchers = f->next;
                idx_unref_locked(f->idx);
                fetcher_free(f);
        }
        idx_unref_locked(c->idx);
        for (unsigned i = 0; i < c->nspare; i++)
                free(c->spare[i].p);
        pthread_mutex_destroy(&c->lock);
        pthread_mutex_destroy(&c->reload_lock);
        pthread_cond_destroy(&c->cond);
        pthread_cond_destroy(&c->job_cond);
        free(c);
}

/* ---- readers ---- */

int lb_image_reader_open_ctx(struct lb_reader_ctx *c, const struct lb_snapshot *s, size_t image,
                             struct lb_image_reader **ret)
{
        if (image >= s->nimages)
                return lb_error_set(-ENOENT, "snapshot %.8s has no image %zu", s->id, image + 1);
        const struct lb_image *im = &s->images[image];
        if (im->chunk_size == 0 || im->chunk_size > CHUNK_MAX || im->nmaps != lb_image_segments(im))
                return lb_error_set(-EBADMSG, "image %s of snapshot %.8s has a damaged manifest", im->name, s->id);
        struct lb_image_reader *rd = calloc(1, sizeof(*rd));
        if (!rd)
                return -ENOMEM;
        rd->c = c;
        snprintf(rd->snap, sizeof(rd->snap), "%.8s", s->id);
        rd->name = strdup(im->name ? im->name : "");
        rd->size = im->size;
        rd->cs = im->chunk_size;
        rd->nchunks = lb_image_chunks(im);
        rd->nmaps = im->nmaps;
        rd->maps = im->nmaps ? memdup(im->maps, im->nmaps * LB_ID_SIZE) : calloc(1, LB_ID_SIZE);
        if (!rd->name || !rd->maps) {
                free(rd->name);
                free(rd->maps);
                free(rd);
                return -ENOMEM;
        }
        pthread_mutex_init(&rd->lock, NULL);
        *ret = rd;
        return 0;
}

int lb_image_reader_open(struct lb_repo *r, const struct lb_snapshot *s, size_t image, struct lb_image_reader **ret)
{
        struct lb_reader_ctx *c;
        int k = lb_reader_ctx_new(r, NULL, &c);
        if (k < 0)
                return k;
        k = lb_image_reader_open_ctx(c, s, image, ret);
        if (k < 0) {
                lb_reader_ctx_free(c);
                return k;
        }
        (*ret)->own_ctx = true;
        return 0;
}

uint64_t lb_image_reader_size(const struct lb_image_reader *rd) { return rd->size; }

void lb_image_reader_close(struct lb_image_reader *rd)
{
        if (!rd)
                return;
        if (rd->own_ctx)
                lb_reader_ctx_free(rd->c);
        pthread_mutex_destroy(&rd->lock);
        free(rd->name);
        free(rd->maps);
        free(rd);
}

/* Notes the access to chunks [c0, c1]; when the reader goes forward
 * sequentially, queues the next chunks. */
static void note_access(struct lb_image_reader *rd, uint64_t c0, uint64_t c1)
{
        unsigned ra = rd->c->readahead;
        uint64_t from = 0, to = 0;
        bool go = false;
        if (!ra)
                return;
        pthread_mutex_lock(&rd->lock);
        /* forward, or slightly back: requests of one stream arrive a little
         * out of order from several threads, and a filesystem reading files
         * one after the other skips what they do not hold */
        if (rd->have_last && c0 + 2 >= rd->last_c0 && c0 <= rd->last_c1 + FORWARD_GAP) {
                if (rd->streak < 100)
                        rd->streak++;
        } else {
                rd->streak = 0;
                rd->ra_next = 0;
        }
        rd->last_c1 = rd->streak > 0 ? MAX(c1, rd->last_c1) : c1;
        rd->have_last = true;
        rd->last_c0 = c0;
        if (rd->streak >= 2) {
                from = MAX(c1 + 1, rd->ra_next);
                to = c1 + ra;
                go = from <= to;
                if (go)
                        rd->ra_next = to + 1;
        }
        pthread_mutex_unlock(&rd->lock);
        if (go)
                schedule(rd, from, to);
}

/* An all-zero area as large as the largest chunk, never written: reads of
 * zero and unused chunks point into it (the kernel's zero page backs it). */
static const uint8_t *zeros;
static pthread_once_t zeros_once = PTHREAD_ONCE_INIT;
static void zeros_init(void)
{
        void *p = mmap(NULL, CHUNK_MAX, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        zeros = p == MAP_FAILED ? NULL : p;
}

/* The bytes at off, up to len and the end of their chunk. */
static ssize_t peek(struct lb_image_reader *rd, uint64_t off, size_t len, const void **ret, struct centry **ref)
{
        struct lb_reader_ctx *c = rd->c;
        uint64_t ch = off / rd->cs, start = ch * rd->cs;
        size_t in = (size_t)(off - start), n = MIN((size_t)rd->cs - in, len);
        uint32_t clen = (uint32_t)MIN((uint64_t)rd->cs, rd->size - start);
        size_t s = (size_t)(ch / LB_MAP_SEGMENT_CHUNKS);
        uint64_t nseg = MIN((uint64_t)LB_MAP_SEGMENT_CHUNKS, rd->nchunks - (uint64_t)s * LB_MAP_SEGMENT_CHUNKS);
        struct centry *seg, *e;
        *ref = NULL;
        int k = acquire(c, CL_MAP, rd->maps[s], (uint32_t)(nseg * LB_ID_SIZE), &seg);
        if (k < 0) {
                uint64_t a = (uint64_t)s * LB_MAP_SEGMENT_CHUNKS * rd->cs;
                lb_warn("snapshot %s, image %s: cannot read the map of bytes %llu-%llu: %s", rd->snap, rd->name,
                        (unsigned long long)a, (unsigned long long)MIN(a + nseg * rd->cs, rd->size) - 1,
                        lb_error_get() ? lb_error_get() : strerror(-k));
                return k == -ENOMEM ? -ENOMEM : -EIO;
        }
        uint8_t id[LB_ID_SIZE];
        memcpy(id, seg->data + (size_t)(ch % LB_MAP_SEGMENT_CHUNKS) * LB_ID_SIZE, LB_ID_SIZE);
        release(c, seg);
        if (lb_id_is_reserved(id)) {
                pthread_once(&zeros_once, zeros_init);
                if (!zeros)
                        return -ENOMEM;
                *ret = zeros + in;
                return (ssize_t)n;
        }
        k = acquire(c, CL_CHUNK, id, clen, &e);
        if (k < 0) {
                lb_warn("snapshot %s, image %s: bytes %llu-%llu cannot be read: %s", rd->snap, rd->name,
                        (unsigned long long)start, (unsigned long long)(start + clen - 1),
                        lb_error_get() ? lb_error_get() : strerror(-k));
                return k == -ENOMEM ? -ENOMEM : -EIO;
        }
        *ret = e->data + in;
        *ref = e;
        return (ssize_t)n;
}

ssize_t lb_image_reader_peek(struct lb_image_reader *rd, uint64_t off, size_t len, const void **ret,
                             struct lb_image_ref **ref)
{
        *ref = NULL;
        if (off >= rd->size || len == 0)
                return 0;
        len = (size_t)MIN((uint64_t)len, rd->size - off);
        note_access(rd, off / rd->cs, (off + len - 1) / rd->cs);
        return peek(rd, off, len, ret, (struct centry **)ref);
}

void lb_image_ref_release(struct lb_image_ref *ref)
{
        struct centry *e = (struct centry *)ref;
        if (e)
                release(e->ctx, e);
}

ssize_t lb_image_reader_pread(struct lb_image_reader *rd, void *buf, size_t len, uint64_t off)
{
        uint8_t *out = buf;
        if (off >= rd->size || len == 0)
                return 0;
        len = (size_t)MIN((uint64_t)len, rd->size - off);
        if (len > SSIZE_MAX)
                len = SSIZE_MAX;
        note_access(rd, off / rd->cs, (off + len - 1) / rd->cs);
        size_t done = 0;
        while (done < len) {
                const void *p;
                struct centry *e;
                ssize_t k = peek(rd, off + done, len - done, &p, &e);
                if (k < 0)
                        return k;
                memcpy(out + done, p, (size_t)k);
                if (e)
                        release(rd->c, e);
                done += (size_t)k;
        }
        return (ssize_t)done;
}
