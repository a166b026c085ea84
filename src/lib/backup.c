/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Backup: source -> dispatcher -> read/fingerprint/hash/compress/encrypt
 * workers -> pack writers -> index file -> snapshot manifest (the commit,
 * written last).
 *
 * The main thread walks the image, skips the holes of sparse files and
 * queues chunk numbers. Each worker reads its chunks itself (so reading runs
 * on every core too), owns a codec and a pack writer, and shares only the set
 * of IDs stored this session and the list of finished packs.
 *
 * Incremental forever: the previous snapshot of the same source (the parent)
 * left a fingerprint per chunk (a keyed GMAC, see crypto.h). A chunk whose
 * fingerprint matches the parent's at the same position keeps the parent's
 * chunk ID without being hashed with SHA-256 again; --rehash turns this off.
 *
 * The map of an image (a chunk ID per chunk) and its fingerprints are built
 * in segments of LB_MAP_SEGMENT_CHUNKS, allocated when the dispatcher enters
 * a segment and stored as blobs as soon as its last chunk is done, so memory
 * stays bounded whatever the image size. */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "blob.h"
#include "chunkindex.h"
#include "disk.h"
#include "events.h"
#include "idset.h"
#include "pack.h"
#include "repo.h"
#include "snapshot.h"
#include "source.h"
#include "util.h"

#define DEFAULT_LEVEL 2 /* 1.7x faster than 3 for 2.6% more bytes on system files (docs/FORMAT.md) */
#define INDEX_FLUSH_PACKS 32 /* write an index file every so many packs */
#define QUEUE_ITEMS 64
/* A temp file untouched this long has no writer: a backup appends to its
 * open packs continuously, so even a very slow one touches them hourly. */
#define STALE_TMP_S (3 * 24 * 3600)

struct segment {
        uint8_t (*ids)[LB_ID_SIZE];
        uint8_t (*hints)[LB_HINT_SIZE];
        uint8_t (*parent_ids)[LB_ID_SIZE]; /* NULL: no parent for this segment */
        uint8_t (*parent_hints)[LB_HINT_SIZE];
        size_t n;
        atomic_size_t done;
};

struct image_job {
        struct lb_source src;
        struct lb_disk_layout layout;
        struct lb_extents used; /* byte ranges to store; the rest is "unused" */
        struct lb_image *im;           /* in the snapshot being built */
        const struct lb_image *parent; /* same source in an earlier snapshot */
        struct segment *segs;
        size_t nsegs;
        atomic_uint_fast64_t bytes_read, zero_bytes, unused_bytes, new_chunks, dedup_chunks, unchanged_chunks,
                new_bytes, stored_bytes;
};

enum item_kind {
        ITEM_DATA,   /* read and store */
        ITEM_HOLE,   /* a hole of a sparse file: zeros */
        ITEM_UNUSED, /* outside the used map: neither read nor stored */
};

struct item {
        struct image_job *job;
        uint64_t chunk; /* first chunk */
        uint64_t count; /* > 1 only for holes and unused runs */
        enum item_kind kind;
};

struct session {
        struct lb_repo *repo;
        const struct lb_chunk_index *index;
        int level;
        uint32_t chunk_size;

        pthread_mutex_t lock;
        pthread_cond_t cond_items, cond_space;
        struct item queue[QUEUE_ITEMS];
        size_t qhead, qlen;
        bool closed;

        struct lb_idset stored; /* IDs stored (or being stored) this session */
        /* finished packs not yet in an index file */
        uint8_t (*packs)[LB_ID_SIZE];
        size_t npacks, packs_cap;
        struct lb_index_entry *entries;
        size_t nentries, entries_cap;

        atomic_int failed;
        int error;
        char errmsg[512];
};

struct worker {
        pthread_t thread;
        struct session *s;
        struct lb_codec *codec;
        struct lb_fingerprinter *fp;
        struct lb_pack_writer *pw;
        uint8_t *buf; /* one chunk */
        uint8_t *out;
        size_t out_size;
};

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void fail(struct session *s, int r, const char *fallback)
{
        pthread_mutex_lock(&s->lock);
        if (!s->error) {
                s->error = r < 0 ? r : -EIO;
                snprintf(s->errmsg, sizeof(s->errmsg), "%s", lb_error_get() ? lb_error_get() : fallback);
        }
        atomic_store(&s->failed, 1);
        pthread_cond_broadcast(&s->cond_items);
        pthread_cond_broadcast(&s->cond_space);
        pthread_mutex_unlock(&s->lock);
}

/* Called with s->lock held. */
static int flush_index_locked(struct session *s)
{
        if (s->nentries == 0)
                return 0;
        int r = lb_index_file_write(s->repo, (const uint8_t(*)[LB_ID_SIZE])s->packs, s->npacks, s->entries, s->nentries);
        if (r < 0)
                return r;
        s->npacks = s->nentries = 0;
        return 0;
}

static int finish_pack(struct worker *w)
{
        struct session *s = w->s;
        uint8_t pack_id[LB_ID_SIZE];
        if (w->pw->n == 0)
                return 0;
        int r = lb_pack_writer_finish(w->pw, pack_id);
        if (r < 0)
                return r;
        pthread_mutex_lock(&s->lock);
        if (s->npacks == s->packs_cap) {
                size_t cap = s->packs_cap ? 2 * s->packs_cap : 64;
                void *p = realloc(s->packs, cap * LB_ID_SIZE);
                if (!p) {
                        r = -ENOMEM;
                        goto out;
                }
                s->packs = p;
                s->packs_cap = cap;
        }
        if (s->nentries + w->pw->n > s->entries_cap) {
                size_t cap = MAX(2 * s->entries_cap, s->nentries + w->pw->n);
                void *p = realloc(s->entries, cap * sizeof(*s->entries));
                if (!p) {
                        r = -ENOMEM;
                        goto out;
                }
                s->entries = p;
                s->entries_cap = cap;
        }
        memcpy(s->packs[s->npacks], pack_id, LB_ID_SIZE);
        for (size_t i = 0; i < w->pw->n; i++) {
                struct lb_index_entry *e = &s->entries[s->nentries++];
                memcpy(e->id, w->pw->v[i].id, LB_ID_SIZE);
                e->loc.pack = (uint32_t)s->npacks;
                e->loc.offset = w->pw->v[i].offset;
                e->loc.length = w->pw->v[i].length;
        }
        s->npacks++;
        lb_pack_writer_reset(w->pw);
        if (s->npacks >= INDEX_FLUSH_PACKS)
                r = flush_index_locked(s);
out:
        pthread_mutex_unlock(&s->lock);
        return r;
}

/* Store one blob unless the repository (or this session) has it already.
 * Returns 1 and the bytes added when stored, 0 when deduplicated. */
static int store_blob(struct worker *w, enum lb_blob_type type, const uint8_t id[LB_ID_SIZE], const void *data,
                      size_t len, uint64_t *ret_stored)
{
        struct session *s = w->s;
        *ret_stored = 0;
        if (lb_chunk_index_lookup(s->index, id, NULL))
                return 0;
        pthread_mutex_lock(&s->lock);
        int r = lb_idset_add(&s->stored, id, 0, NULL);
        pthread_mutex_unlock(&s->lock);
        if (r <= 0)
                return r; /* 0: someone in this session stores it */
        size_t need = lb_blob_bound(len), n = 0;
        if (need > w->out_size) {
                uint8_t *p = realloc(w->out, need);
                if (!p)
                        return -ENOMEM;
                w->out = p;
                w->out_size = need;
        }
        r = lb_blob_encode(w->codec, lb_repo_key(s->repo), type, id, data, len, w->out, &n);
        if (r < 0)
                return r;
        r = lb_pack_writer_add(w->pw, id, (uint8_t)type, w->out, n);
        if (r < 0)
                return r;
        if (w->pw->size >= s->repo->pack_size && (r = finish_pack(w)) < 0)
                return r;
        *ret_stored = n;
        return 1;
}

static int store_meta(struct worker *w, struct image_job *job, enum lb_blob_type type, const void *data, size_t len,
                      uint8_t ret_id[LB_ID_SIZE])
{
        uint64_t stored;
        int r = lb_chunk_id(lb_repo_key(w->s->repo), data, len, ret_id);
        if (r < 0)
                return r;
        r = store_blob(w, type, ret_id, data, len, &stored);
        if (r < 0)
                return r;
        atomic_fetch_add(&job->stored_bytes, stored);
        return 0;
}

static void segment_free(struct segment *sg)
{
        free(sg->ids);
        free(sg->hints);
        free(sg->parent_ids);
        free(sg->parent_hints);
        sg->ids = NULL;
        sg->hints = NULL;
        sg->parent_ids = NULL;
        sg->parent_hints = NULL;
}

static int complete_segment(struct worker *w, struct image_job *job, size_t seg)
{
        struct segment *sg = &job->segs[seg];
        int r = store_meta(w, job, LB_BLOB_MAP, sg->ids, sg->n * LB_ID_SIZE, job->im->maps[seg]);
        if (r >= 0)
                r = store_meta(w, job, LB_BLOB_HINTS, sg->hints, sg->n * LB_HINT_SIZE, job->im->hints[seg]);
        segment_free(sg);
        return r;
}

static int chunk_done(struct worker *w, struct image_job *job, uint64_t chunk, uint64_t count)
{
        while (count > 0) {
                size_t seg = (size_t)(chunk / LB_MAP_SEGMENT_CHUNKS), at = (size_t)(chunk % LB_MAP_SEGMENT_CHUNKS);
                struct segment *sg = &job->segs[seg];
                size_t k = (size_t)MIN(count, (uint64_t)(sg->n - at));
                if (atomic_fetch_add(&sg->done, k) + k == sg->n) {
                        int r = complete_segment(w, job, seg);
                        if (r < 0)
                                return r;
                }
                chunk += k;
                count -= k;
        }
        return 0;
}

/* Read [off, off+len) of the source, but only the bytes in the used map;
 * the rest of the buffer is zeros. */
static int read_used(struct image_job *job, uint8_t *buf, uint64_t off, size_t len)
{
        const struct lb_extents *u = &job->used;
        uint64_t end = off + len, got = 0;
        size_t lo = 0, hi = u->n;
        while (lo < hi) { /* first extent ending after off */
                size_t mid = lo + (hi - lo) / 2;
                if (u->v[mid].start + u->v[mid].len <= off)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        bool whole = lo < u->n && u->v[lo].start <= off && u->v[lo].start + u->v[lo].len >= end;
        if (!whole)
                memset(buf, 0, len);
        for (size_t i = lo; i < u->n && u->v[i].start < end; i++) {
                uint64_t a = MAX(off, u->v[i].start), b = MIN(end, u->v[i].start + u->v[i].len);
                int r = read_full_at(job->src.fd, buf + (a - off), (size_t)(b - a), a);
                if (r == -EIO)
                        return lb_error_set(r, "cannot read source %s at offset %llu: it ended early or has a read error",
                                            job->src.path, (unsigned long long)a);
                if (r < 0)
                        return lb_error_set(r, "cannot read source %s at offset %llu: %s", job->src.path,
                                            (unsigned long long)a, strerror(-r));
                got += b - a;
        }
        atomic_fetch_add(&job->bytes_read, got);
        return 0;
}

static int process_chunk(struct worker *w, struct image_job *job, uint64_t chunk)
{
        struct session *s = w->s;
        const uint64_t cs = s->chunk_size, off = chunk * cs;
        const size_t len = (size_t)MIN(cs, job->src.size - off);
        struct segment *sg = &job->segs[chunk / LB_MAP_SEGMENT_CHUNKS];
        const size_t at = (size_t)(chunk % LB_MAP_SEGMENT_CHUNKS);
        uint8_t *id = sg->ids[at], *hint = sg->hints[at];
        uint64_t stored;

        int r = read_used(job, w->buf, off, len);
        if (r < 0)
                return r;
        if (mem_is_zero(w->buf, len)) {
                memcpy(id, lb_id_zero, LB_ID_SIZE);
                memset(hint, 0, LB_HINT_SIZE);
                atomic_fetch_add(&job->zero_bytes, len);
                return 0;
        }
        if ((r = lb_fingerprint(w->fp, w->buf, len, hint)) < 0)
                return r;
        if (sg->parent_hints && memcmp(hint, sg->parent_hints[at], LB_HINT_SIZE) == 0 &&
            !lb_id_is_reserved(sg->parent_ids[at]) && lb_chunk_index_lookup(s->index, sg->parent_ids[at], NULL)) {
                memcpy(id, sg->parent_ids[at], LB_ID_SIZE);
                atomic_fetch_add(&job->unchanged_chunks, 1);
                atomic_fetch_add(&job->dedup_chunks, 1);
                return 0;
        }
        if ((r = lb_chunk_id(lb_repo_key(s->repo), w->buf, len, id)) < 0)
                return r;
        r = store_blob(w, LB_BLOB_CHUNK, id, w->buf, len, &stored);
        if (r < 0)
                return r;
        if (r > 0) {
                atomic_fetch_add(&job->new_chunks, 1);
                atomic_fetch_add(&job->new_bytes, len);
                atomic_fetch_add(&job->stored_bytes, stored);
                struct lb_partition *p = lb_disk_partition_at(&job->layout, off);
                if (p) /* the partition the chunk starts in gets the credit */
                        __atomic_fetch_add(&p->stored_bytes, stored, __ATOMIC_RELAXED);
        } else {
                atomic_fetch_add(&job->dedup_chunks, 1);
        }
        return 0;
}

static int process(struct worker *w, const struct item *it)
{
        struct image_job *job = it->job;
        const uint64_t cs = w->s->chunk_size;
        if (it->kind != ITEM_DATA) {
                const uint8_t *id = it->kind == ITEM_HOLE ? lb_id_zero : lb_id_unused;
                for (uint64_t c = it->chunk; c < it->chunk + it->count; c++) {
                        struct segment *sg = &job->segs[c / LB_MAP_SEGMENT_CHUNKS];
                        size_t at = (size_t)(c % LB_MAP_SEGMENT_CHUNKS);
                        memcpy(sg->ids[at], id, LB_ID_SIZE);
                        memset(sg->hints[at], 0, LB_HINT_SIZE);
                        atomic_fetch_add(it->kind == ITEM_HOLE ? &job->zero_bytes : &job->unused_bytes,
                                         MIN(cs, job->src.size - c * cs));
                }
        } else {
                int r = process_chunk(w, job, it->chunk);
                if (r < 0)
                        return r;
        }
        return chunk_done(w, job, it->chunk, it->count);
}

static void *worker_main(void *arg)
{
        struct worker *w = arg;
        struct session *s = w->s;
        for (;;) {
                pthread_mutex_lock(&s->lock);
                while (s->qlen == 0 && !s->closed)
                        pthread_cond_wait(&s->cond_items, &s->lock);
                if (s->qlen == 0) {
                        pthread_mutex_unlock(&s->lock);
                        break;
                }
                struct item it = s->queue[s->qhead];
                s->qhead = (s->qhead + 1) % QUEUE_ITEMS;
                s->qlen--;
                pthread_cond_signal(&s->cond_space);
                pthread_mutex_unlock(&s->lock);
                if (!atomic_load(&s->failed)) {
                        int r = process(w, &it);
                        if (r < 0)
                                fail(s, r, "backup failed");
                }
        }
        return NULL;
}

static int enqueue(struct session *s, const struct item *it)
{
        pthread_mutex_lock(&s->lock);
        while (s->qlen == QUEUE_ITEMS && !atomic_load(&s->failed))
                pthread_cond_wait(&s->cond_space, &s->lock);
        if (atomic_load(&s->failed)) {
                pthread_mutex_unlock(&s->lock);
                return -ECANCELED;
        }
        s->queue[(s->qhead + s->qlen) % QUEUE_ITEMS] = *it;
        s->qlen++;
        pthread_cond_signal(&s->cond_items);
        pthread_mutex_unlock(&s->lock);
        return 0;
}

/* Allocate segment g and load what the parent snapshot knows about it. */
static int enter_segment(struct session *s, struct image_job *job, size_t g, struct lb_pack_cache *pc,
                         struct lb_codec *c)
{
        struct segment *sg = &job->segs[g];
        sg->ids = malloc(sg->n * LB_ID_SIZE);
        sg->hints = malloc(sg->n * LB_HINT_SIZE);
        if (!sg->ids || !sg->hints)
                return -ENOMEM;
        if (!job->parent)
                return 0;
        size_t n1 = 0, n2 = 0;
        sg->parent_ids = malloc((size_t)LB_MAP_SEGMENT_CHUNKS * LB_ID_SIZE);
        sg->parent_hints = malloc((size_t)LB_MAP_SEGMENT_CHUNKS * LB_HINT_SIZE);
        if (!sg->parent_ids || !sg->parent_hints)
                return -ENOMEM;
        int r = lb_image_map_load(pc, c, s->repo, job->parent, g, sg->parent_ids, &n1);
        /* fall through to the full path on any problem */
        if (r >= 0)
                r = lb_image_hints_load(pc, c, s->repo, job->parent, g, sg->parent_hints, &n2);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || n1 != sg->n || n2 != sg->n) {
                /* Not fatal: this segment is simply read and hashed in full. */
                lb_warn("cannot use the previous snapshot's map of %s (%s); hashing everything",
                        job->src.path, lb_error_get() ? lb_error_get() : "size mismatch");
                lb_error_clear();
                free(sg->parent_ids);
                free(sg->parent_hints);
                sg->parent_ids = NULL;
                sg->parent_hints = NULL;
        }
        return 0;
}

/* Walk one image and queue its chunks. Chunks outside the used map are
 * "unused"; chunks in a hole of a sparse file are zeros: neither is read, and
 * runs of them go to the workers as one item. */
static int dispatch_image(struct session *s, struct image_job *job, uint64_t base, uint64_t total,
                          struct lb_pack_cache *pc, struct lb_codec *c)
{
        const uint32_t cs = s->chunk_size;
        const uint64_t size = job->src.size, nch = DIV_ROUND_UP(size, cs);
        uint64_t data_start = 0, data_end = 0, last_report = 0;
        bool sparse = !job->src.is_blockdev;
        struct item run = { .job = job };
        size_t ei = 0; /* first used extent that may overlap the current chunk */
        int r;

        for (uint64_t ch = 0; ch < nch; ch++) {
                const uint64_t off = ch * cs, len = MIN((uint64_t)cs, size - off);
                enum item_kind kind = ITEM_DATA;
                if (ch % LB_MAP_SEGMENT_CHUNKS == 0) {
                        if (run.count && (r = enqueue(s, &run)) < 0)
                                return r;
                        run.count = 0;
                        if ((r = enter_segment(s, job, (size_t)(ch / LB_MAP_SEGMENT_CHUNKS), pc, c)) < 0)
                                return r;
                }
                while (ei < job->used.n && job->used.v[ei].start + job->used.v[ei].len <= off)
                        ei++;
                if (ei == job->used.n || job->used.v[ei].start >= off + len)
                        kind = ITEM_UNUSED;
                if (kind == ITEM_DATA && sparse && off >= data_end) {
                        off_t d = lseek(job->src.fd, (off_t)off, SEEK_DATA);
                        if (d >= 0) {
                                off_t h = lseek(job->src.fd, d, SEEK_HOLE);
                                data_start = (uint64_t)d;
                                data_end = h < 0 ? size : (uint64_t)h;
                        } else if (errno == ENXIO) { /* nothing but a hole after off */
                                data_start = data_end = size;
                        } else { /* no hole support here: read everything */
                                sparse = false;
                        }
                }
                if (kind == ITEM_DATA && sparse && off + len <= data_start)
                        kind = ITEM_HOLE;
                if (run.count && (kind != run.kind || kind == ITEM_DATA)) {
                        if ((r = enqueue(s, &run)) < 0)
                                return r;
                        run.count = 0;
                }
                if (!run.count) {
                        run.chunk = ch;
                        run.kind = kind;
                }
                run.count++;
                if (kind == ITEM_DATA) {
                        if ((r = enqueue(s, &run)) < 0)
                                return r;
                        run.count = 0;
                }
                uint64_t t = now_ms();
                if (t - last_report >= 200) {
                        lb_progress("backup", base + off, total);
                        last_report = t;
                }
        }
        if (run.count && (r = enqueue(s, &run)) < 0)
                return r;
        return 0;
}

static char *image_name(const char *path, const struct lb_snapshot *snap, size_t upto)
{
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        if (!*b)
                b = "image";
        for (unsigned n = 1;; n++) {
                char *name;
                if (n == 1)
                        name = strdup(b);
                else if (asprintf(&name, "%s-%u", b, n) < 0)
                        name = NULL;
                if (!name)
                        return NULL;
                bool taken = false;
                for (size_t i = 0; i < upto; i++)
                        if (strcmp(snap->images[i].name, name) == 0)
                                taken = true;
                if (!taken)
                        return name;
                free(name);
        }
}

int lb_find_system_disks(char ***ret, size_t *ret_n)
{
        const char *defaults[] = { "/", "/boot", "/boot/efi" }, *list[16];
        const char *env = getenv("LIFEBOAT_SYSTEM_MOUNTS");
        size_t n = 0;
        _cleanup_free_ char *copy = env ? strdup(env) : NULL;
        lb_error_clear();
        if (copy) {
                char *save = NULL;
                for (char *t = strtok_r(copy, ":", &save); t && n < ELEMENTSOF(list); t = strtok_r(NULL, ":", &save))
                        list[n++] = t;
        } else {
                for (; n < ELEMENTSOF(defaults); n++)
                        list[n] = defaults[n];
        }
        return lb_system_disks(list, n, ret, ret_n);
}

/* The newest earlier image of the same source, size and chunk size. */
static const struct lb_image *find_parent(struct lb_snapshot **v, size_t n, const struct lb_image *im)
{
        for (size_t i = n; i-- > 0;)
                for (size_t k = 0; k < v[i]->nimages; k++) {
                        const struct lb_image *p = &v[i]->images[k];
                        if (p->hints && p->size == im->size && p->chunk_size == im->chunk_size &&
                            strcmp(p->source, im->source) == 0)
                                return p;
                }
        return NULL;
}

int lb_backup(struct lb_repo *r, const char *const *sources, size_t nsources, const struct lb_backup_opts *opts,
              struct lb_backup_result *ret)
{
        struct session s = { .repo = r };
        struct lb_snapshot snap = { 0 };
        struct image_job *jobs = NULL;
        struct worker *workers = NULL;
        struct lb_snapshot **earlier = NULL;
        size_t nearlier = 0, started = 0;
        unsigned nthreads = opts->threads ? opts->threads : (unsigned)get_nprocs();
        uint64_t total = 0, t0 = now_ms();
        struct lb_pack_cache pc;
        struct lb_codec *codec = NULL;
        bool pc_init = false;
        int k;

        lb_error_clear();
        memset(ret, 0, sizeof(*ret));
        if (nsources == 0)
                return lb_error_set(-EINVAL, "nothing to back up: name a block device or an image file");
        s.chunk_size = opts->chunk_size ? opts->chunk_size : r->chunk_size;
        if (s.chunk_size < (64u << 10) || s.chunk_size > (8u << 20) || (s.chunk_size & (s.chunk_size - 1)))
                return lb_error_set(-EINVAL, "chunk size %u is not a power of two between 64 KiB and 8 MiB", s.chunk_size);
        s.level = opts->compression_level < 0 ? DEFAULT_LEVEL : opts->compression_level;
        if (s.level > 19)
                return lb_error_set(-EINVAL, "zstd level %d is out of range (1-19, or none)", s.level);
        nthreads = MAX(1u, MIN(nthreads, 64u));

        jobs = calloc(nsources, sizeof(*jobs));
        snap.images = calloc(nsources, sizeof(*snap.images));
        if (!jobs || !snap.images) {
                k = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < nsources; i++)
                jobs[i].src.fd = -1;
        /* Open every source first: a bad one fails the backup before any work. */
        for (size_t i = 0; i < nsources; i++) {
                struct image_job *j = &jobs[i];
                k = lb_source_open(sources[i], &j->src);
                if (k < 0)
                        goto out;
                if (j->src.is_blockdev) {
                        if (lb_path_on_disk_of(r->path, j->src.rdev)) {
                                k = lb_error_set(-EINVAL, "the repository %s is on %s, the disk being imaged: "
                                                 "put the repository on another disk", r->path, sources[i]);
                                goto out;
                        }
                        _cleanup_free_ char *rw = lb_blockdev_rw_mounts(j->src.rdev);
                        if (rw && !opts->live) {
                                k = lb_error_set(-EBUSY, "%s has filesystems mounted read-write (%s): an image of them "
                                                 "could be inconsistent. Unmount them, back up from the recovery "
                                                 "media, or use --live to image them anyway (the snapshot is then "
                                                 "marked as possibly inconsistent)", sources[i], rw);
                                goto out;
                        }
                        if (rw)
                                snap.live = true;
                }
                k = lb_disk_scan(j->src.fd, j->src.path, j->src.size, &j->layout, &j->used);
                if (k < 0) {
                        if (!lb_error_get())
                                lb_error_set(k, "cannot scan %s: %s", sources[i], strerror(-k));
                        goto out;
                }
                if (j->src.is_blockdev)
                        lb_blockdev_identity(j->src.rdev, &j->layout.ident);
                struct lb_image *im = &snap.images[i];
                snap.nimages = i + 1;
                j->im = im;
                im->name = image_name(sources[i], &snap, i);
                im->source = strdup(sources[i]);
                im->size = j->src.size;
                im->chunk_size = s.chunk_size;
                im->disk = lb_disk_layout_to_json(&j->layout);
                im->nmaps = lb_image_segments(im);
                im->maps = calloc(im->nmaps, LB_ID_SIZE);
                im->hints = calloc(im->nmaps, LB_ID_SIZE);
                j->nsegs = im->nmaps;
                j->segs = calloc(j->nsegs, sizeof(*j->segs));
                if (!im->name || !im->source || !im->maps || !im->hints || !j->segs) {
                        k = -ENOMEM;
                        goto out;
                }
                uint64_t nch = lb_image_chunks(im);
                for (size_t g = 0; g < j->nsegs; g++)
                        j->segs[g].n = (size_t)MIN((uint64_t)LB_MAP_SEGMENT_CHUNKS, nch - (uint64_t)g * LB_MAP_SEGMENT_CHUNKS);
                total += j->src.size;
        }

        /* Shared: a prune must not delete what this backup deduplicates against. */
        k = lb_repo_lock(r, LB_LOCK_SHARED_WRITER);
        if (k < 0)
                goto out;
        if (lb_repo_clean_tmp(r, STALE_TMP_S) < 0)
                lb_error_clear(); /* only housekeeping */
        struct lb_chunk_index *index;
        k = lb_repo_index(r, &index);
        if (k < 0)
                goto out;
        s.index = index;
        k = lb_chunk_index_drop_missing(r, index);
        if (k < 0)
                goto out;
        if (k > 0)
                lb_warn("%d pack file(s) listed in the index are missing: what they held is stored again "
                        "('lifeboat verify' lists the snapshots that lost data)", k);
        if (!opts->rehash) {
                k = lb_snapshot_list(r, &earlier, &nearlier);
                if (k < 0)
                        goto out;
                for (size_t i = 0; i < nsources; i++)
                        jobs[i].parent = find_parent(earlier, nearlier, jobs[i].im);
        }
        lb_pack_cache_init(&pc, r, index);
        pc_init = true;
        codec = lb_codec_new(0);
        pthread_mutex_init(&s.lock, NULL);
        pthread_cond_init(&s.cond_items, NULL);
        pthread_cond_init(&s.cond_space, NULL);
        workers = calloc(nthreads, sizeof(*workers));
        if (!codec || !workers || lb_idset_init(&s.stored, 4096) < 0) {
                k = -ENOMEM;
                goto out;
        }
        for (unsigned i = 0; i < nthreads; i++) {
                struct worker *w = &workers[i];
                w->s = &s;
                w->codec = lb_codec_new(s.level);
                w->fp = lb_fingerprinter_new(r->hint_key);
                w->buf = malloc(s.chunk_size);
                if (!w->codec || !w->fp || !w->buf || lb_pack_writer_new(r, &w->pw) < 0) {
                        k = -ENOMEM;
                        goto out;
                }
        }
        for (unsigned i = 0; i < nthreads; i++) {
                if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
                        k = lb_error_set(-EAGAIN, "cannot start worker threads");
                        goto out;
                }
                started++;
        }

        uint64_t base = 0;
        k = 0;
        for (size_t i = 0; i < nsources && k == 0; i++) {
                k = dispatch_image(&s, &jobs[i], base, total, &pc, codec);
                base += jobs[i].src.size;
        }
        if (k < 0 && k != -ECANCELED)
                fail(&s, k, "backup failed");

out:
        if (started) {
                pthread_mutex_lock(&s.lock);
                s.closed = true;
                pthread_cond_broadcast(&s.cond_items);
                pthread_mutex_unlock(&s.lock);
                for (size_t i = 0; i < started; i++)
                        pthread_join(workers[i].thread, NULL);
                /* Finish the last packs, even after a failure: what is complete
                 * stays usable for the next backup. */
                for (size_t i = 0; i < started; i++) {
                        int r2 = finish_pack(&workers[i]);
                        if (r2 < 0)
                                fail(&s, r2, "cannot finish pack file");
                }
                pthread_mutex_lock(&s.lock);
                int r2 = flush_index_locked(&s);
                pthread_mutex_unlock(&s.lock);
                if (r2 < 0)
                        fail(&s, r2, "cannot write index file");
                if (s.error) {
                        k = s.error;
                        lb_error_set(k, "%s", s.errmsg);
                }
        }
        if (k == 0) {
                /* Every segment must have been stored. */
                for (size_t i = 0; i < nsources; i++)
                        for (size_t g = 0; g < jobs[i].nsegs; g++)
                                if (atomic_load(&jobs[i].segs[g].done) != jobs[i].segs[g].n)
                                        k = lb_error_set(-EIO, "internal error: image map incomplete");
        }
        if (k == 0) {
                char host[HOST_NAME_MAX + 1] = "";
                struct timespec ts;
                gethostname(host, sizeof(host) - 1);
                clock_gettime(CLOCK_REALTIME, &ts);
                snap.time = (int64_t)ts.tv_sec;
                snap.time_ns = ts.tv_nsec;
                snap.hostname = strdup(host);
                snap.version = strdup(LIFEBOAT_VERSION);
                snap.tags = calloc(opts->ntags ? opts->ntags : 1, sizeof(char *));
                if (!snap.hostname || !snap.version || !snap.tags)
                        k = -ENOMEM;
                for (size_t i = 0; k == 0 && i < opts->ntags; i++)
                        if (!(snap.tags[snap.ntags++] = strdup(opts->tags[i])))
                                k = -ENOMEM;
                for (size_t i = 0; k == 0 && i < nsources; i++) {
                        struct image_job *j = &jobs[i];
                        struct lb_image_stats *st = &j->im->stats;
                        st->bytes_read = j->bytes_read;
                        st->zero_bytes = j->zero_bytes;
                        st->unused_bytes = j->unused_bytes;
                        st->new_chunks = j->new_chunks;
                        st->dedup_chunks = j->dedup_chunks;
                        st->unchanged_chunks = j->unchanged_chunks;
                        st->new_bytes = j->new_bytes;
                        st->stored_bytes = j->stored_bytes;
                        json_object_put(j->im->disk); /* again, now with what each partition added */
                        j->im->disk = lb_disk_layout_to_json(&j->layout);
                        ret->bytes_total += j->src.size;
                        ret->bytes_read += st->bytes_read;
                        ret->stored_bytes += st->stored_bytes;
                        ret->new_chunks += st->new_chunks;
                        ret->dedup_chunks += st->dedup_chunks;
                        ret->zero_bytes += st->zero_bytes;
                }
                snap.duration_ms = now_ms() - t0;
                if (k == 0)
                        k = lb_snapshot_write(r, &snap);
                if (k == 0) {
                        memcpy(ret->id, snap.id, sizeof(ret->id));
                        ret->duration_ms = snap.duration_ms;
                        lb_progress("backup", total, total);
                }
        }

        if (workers)
                for (unsigned i = 0; i < nthreads; i++) {
                        lb_codec_free(workers[i].codec);
                        lb_fingerprinter_free(workers[i].fp);
                        lb_pack_writer_free(workers[i].pw);
                        free(workers[i].buf);
                        free(workers[i].out);
                }
        free(workers);
        free(s.packs);
        free(s.entries);
        lb_idset_done(&s.stored);
        if (pc_init) {
                lb_pack_cache_done(&pc);
                pthread_mutex_destroy(&s.lock);
                pthread_cond_destroy(&s.cond_items);
                pthread_cond_destroy(&s.cond_space);
        }
        lb_codec_free(codec);
        lb_snapshot_list_free(earlier, nearlier);
        if (jobs)
                for (size_t i = 0; i < nsources; i++) {
                        lb_source_close(&jobs[i].src);
                        lb_disk_layout_done(&jobs[i].layout);
                        lb_extents_free(&jobs[i].used);
                        for (size_t g = 0; jobs[i].segs && g < jobs[i].nsegs; g++)
                                segment_free(&jobs[i].segs[g]);
                        free(jobs[i].segs);
                }
        free(jobs);
        for (size_t i = 0; i < snap.nimages; i++) {
                free(snap.images[i].name);
                free(snap.images[i].source);
                free(snap.images[i].maps);
                free(snap.images[i].hints);
                json_object_put(snap.images[i].disk);
        }
        free(snap.images);
        lb_strv_free(snap.tags, snap.ntags);
        free(snap.hostname);
        free(snap.version);
        /* The session's chunks are in the index now; reload it on next use. */
        lb_chunk_index_free(r->index);
        r->index = NULL;
        return k;
}
