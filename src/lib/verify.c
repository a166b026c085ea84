/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Verify, in three passes:
 *  1. structure: every snapshot's maps load and every chunk they name is in
 *     the index (collects the referenced blobs and packs);
 *  2. pack integrity: every referenced pack's SHA-256 matches its name
 *     (needs no key);
 *  3. with read_data: every referenced blob is read, decrypted, decompressed
 *     and re-hashed.
 * Whatever is found bad is then traced back to snapshot, image and byte
 * range. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/sysinfo.h>

#include "blob.h"
#include "chunkindex.h"
#include "events.h"
#include "idset.h"
#include "pack.h"
#include "repo.h"
#include "snapshot.h"
#include "util.h"

enum badness { BAD_MISSING = 1, BAD_PACK = 2, BAD_DATA = 3, BAD_MAP = 4 };
static const char *const bad_reason[] = {
        [BAD_MISSING] = "chunk missing from the repository",
        [BAD_PACK] = "pack file damaged or missing",
        [BAD_DATA] = "chunk data damaged",
        [BAD_MAP] = "image map damaged or missing",
};

struct verify {
        struct lb_repo *repo;
        struct lb_chunk_index *index;
        struct lb_snapshot **snaps;
        size_t nsnaps;
        struct lb_idset refs, bad;
        bool *pack_used, *pack_suspect;
        struct lb_verify_result *res;
        pthread_mutex_t lock;
};

static int add_problem(struct lb_verify_result *res, const char *msg)
{
        char **p = realloc(res->problems, (res->nproblems + 1) * sizeof(char *));
        if (!p)
                return -ENOMEM;
        res->problems = p;
        if (!(p[res->nproblems] = strdup(msg)))
                return -ENOMEM;
        res->nproblems++;
        return 0;
}

static int mark_bad(struct verify *v, const uint8_t id[LB_ID_SIZE], enum badness why)
{
        pthread_mutex_lock(&v->lock);
        int r = lb_idset_add(&v->bad, id, why, NULL);
        pthread_mutex_unlock(&v->lock);
        return r < 0 ? r : 0;
}

static int ref(struct verify *v, const uint8_t id[LB_ID_SIZE])
{
        struct lb_loc loc;
        if (lb_idset_get(&v->refs, id, NULL) || lb_idset_get(&v->bad, id, NULL))
                return 0;
        if (!lb_chunk_index_lookup(v->index, id, &loc))
                return mark_bad(v, id, BAD_MISSING);
        v->pack_used[loc.pack] = true;
        int r = lb_idset_add(&v->refs, id, 0, NULL);
        return r < 0 ? r : 0;
}

/* Pass 1 */
static int walk_structure(struct verify *v, struct lb_pack_cache *pc, struct lb_codec *c, uint8_t (*ids)[LB_ID_SIZE])
{
        for (size_t s = 0; s < v->nsnaps; s++)
                for (size_t i = 0; i < v->snaps[s]->nimages; i++) {
                        const struct lb_image *im = &v->snaps[s]->images[i];
                        for (size_t g = 0; g < im->nmaps; g++) {
                                size_t n;
                                int r = ref(v, im->maps[g]);
                                if (r >= 0 && im->hints)
                                        r = ref(v, im->hints[g]); /* only speed depends on them, but check them */
                                if (r < 0)
                                        return r;
                                if (lb_idset_get(&v->bad, im->maps[g], NULL))
                                        continue;
                                r = lb_image_map_load(pc, c, v->repo, im, g, ids, &n);
                                if (r == -ENOMEM)
                                        return r;
                                if (r < 0) {
                                        lb_error_clear();
                                        if ((r = mark_bad(v, im->maps[g], BAD_MAP)) < 0)
                                                return r;
                                        continue;
                                }
                                for (size_t k = 0; k < n; k++)
                                        if (!lb_id_is_reserved(ids[k]) && (r = ref(v, ids[k])) < 0)
                                                return r;
                        }
                }
        return 0;
}

/* Pass 2 */
static int check_packs(struct verify *v)
{
        uint64_t total = 0, done = 0;
        for (size_t p = 0; p < v->index->npacks; p++)
                if (v->pack_used[p])
                        total++;
        for (size_t p = 0; p < v->index->npacks; p++) {
                if (!v->pack_used[p])
                        continue;
                uint64_t size = 0;
                v->res->packs_checked++;
                int r = lb_pack_check(v->repo, v->index->packs[p], &size);
                lb_progress("verify packs", ++done, total);
                if (r == -ENOMEM)
                        return r;
                v->res->bytes_checked += size;
                if (r == 0)
                        continue;
                if ((r = add_problem(v->res, lb_error_get() ? lb_error_get() : "pack damaged")) < 0)
                        return r;
                lb_error_clear();
                if (r == -ENOENT) { /* missing: all its blobs are gone */
                        for (size_t e = 0; e < v->index->n; e++)
                                if (v->index->v[e].loc.pack == p && lb_idset_get(&v->refs, v->index->v[e].id, NULL) &&
                                    (r = mark_bad(v, v->index->v[e].id, BAD_PACK)) < 0)
                                        return r;
                        continue;
                }
                /* Damaged somewhere: every blob carries its own check, so read
                 * them all (pass 3 does) to find which ones. */
                v->pack_suspect[p] = true;
        }
        return 0;
}

/* Pass 3: blobs sorted by pack and offset, read by a few threads. */
struct data_job {
        struct verify *v;
        pthread_t reporter;
        struct lb_index_entry *list;
        size_t n;
        atomic_size_t next, done;
        atomic_int nomem;
};

static int cmp_loc(const void *a, const void *b)
{
        const struct lb_index_entry *x = a, *y = b;
        if (x->loc.pack != y->loc.pack)
                return x->loc.pack < y->loc.pack ? -1 : 1;
        return x->loc.offset < y->loc.offset ? -1 : x->loc.offset > y->loc.offset;
}

static void *data_worker(void *arg)
{
        struct data_job *j = arg;
        pthread_mutex_lock(&j->v->lock); /* wait until j->reporter is set */
        pthread_mutex_unlock(&j->v->lock);
        struct lb_pack_cache pc;
        struct lb_codec *c = lb_codec_new(0);
        uint8_t *raw = NULL, *plain = NULL;
        size_t raw_size = 0, plain_size = 0;
        lb_pack_cache_init(&pc, j->v->repo, j->v->index);
        if (!c) {
                atomic_store(&j->nomem, 1);
                return NULL;
        }
        for (;;) {
                size_t i = atomic_fetch_add(&j->next, 1);
                if (i >= j->n)
                        break;
                struct lb_index_entry *e = &j->list[i];
                uint32_t plain_len;
                if (e->loc.length > raw_size) {
                        uint8_t *p = realloc(raw, e->loc.length);
                        if (!p) {
                                atomic_store(&j->nomem, 1);
                                break;
                        }
                        raw = p;
                        raw_size = e->loc.length;
                }
                int r = lb_pack_read(&pc, &e->loc, raw);
                if (r == 0)
                        r = lb_blob_header_parse(raw, e->loc.length, NULL, &plain_len, NULL, NULL);
                if (r == 0 && plain_len > plain_size) {
                        uint8_t *p = realloc(plain, plain_len);
                        if (!p) {
                                atomic_store(&j->nomem, 1);
                                break;
                        }
                        plain = p;
                        plain_size = plain_len;
                }
                size_t got;
                if (r == 0)
                        r = lb_blob_decode(c, lb_repo_key(j->v->repo), raw, e->loc.length, 0, e->id, plain, plain_size, &got);
                if (r < 0) {
                        lb_error_clear();
                        if (mark_bad(j->v, e->id, BAD_DATA) < 0)
                                atomic_store(&j->nomem, 1);
                }
                size_t d = atomic_fetch_add(&j->done, 1) + 1;
                if (i % 64 == 0 && pthread_equal(pthread_self(), j->reporter))
                        lb_progress("verify data", d, j->n); /* one thread reports: handlers need not lock */
        }
        lb_pack_cache_done(&pc);
        lb_codec_free(c);
        free(raw);
        free(plain);
        return NULL;
}

/* all: every referenced blob; otherwise only those in suspect packs */
static int read_data(struct verify *v, unsigned nthreads, bool all)
{
        struct data_job j = { .v = v };
        j.list = malloc((v->refs.n ? v->refs.n : 1) * sizeof(*j.list));
        if (!j.list)
                return -ENOMEM;
        for (size_t i = 0; i < v->refs.cap; i++) {
                const struct lb_idset_slot *sl = &v->refs.slots[i];
                if (!sl->used || lb_idset_get(&v->bad, sl->id, NULL))
                        continue;
                memcpy(j.list[j.n].id, sl->id, LB_ID_SIZE);
                lb_chunk_index_lookup(v->index, sl->id, &j.list[j.n].loc);
                if (all || v->pack_suspect[j.list[j.n].loc.pack])
                        j.n++;
        }
        qsort(j.list, j.n, sizeof(*j.list), cmp_loc);
        pthread_t th[64];
        unsigned started = 0;
        /* the first thread is the reporter; it is set before any work is done */
        pthread_mutex_lock(&v->lock);
        for (unsigned i = 0; i < nthreads && i < 64; i++)
                if (pthread_create(&th[started], NULL, data_worker, &j) == 0)
                        started++;
        if (started)
                j.reporter = th[0];
        pthread_mutex_unlock(&v->lock);
        for (unsigned i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        v->res->blobs_checked += j.done;
        free(j.list);
        if (!started)
                return -EAGAIN;
        return j.nomem ? -ENOMEM : 0;
}

static int add_damage(struct lb_verify_result *res, const struct lb_snapshot *s, const struct lb_image *im,
                      uint64_t off, uint64_t len, enum badness why)
{
        /* extend the previous range when contiguous and of the same kind */
        if (res->ndamage) {
                struct lb_damage *d = &res->damage[res->ndamage - 1];
                if (strcmp(d->snapshot, s->id) == 0 && strcmp(d->image, im->name) == 0 && d->offset + d->length == off &&
                    strcmp(d->reason, bad_reason[why]) == 0) {
                        d->length += len;
                        return 0;
                }
        }
        struct lb_damage *p = realloc(res->damage, (res->ndamage + 1) * sizeof(*p));
        if (!p)
                return -ENOMEM;
        res->damage = p;
        struct lb_damage *d = &p[res->ndamage++];
        memset(d, 0, sizeof(*d));
        snprintf(d->snapshot, sizeof(d->snapshot), "%s", s->id);
        snprintf(d->image, sizeof(d->image), "%s", im->name);
        snprintf(d->reason, sizeof(d->reason), "%s", bad_reason[why]);
        d->offset = off;
        d->length = len;
        return 0;
}

/* Trace bad blobs back to byte ranges. */
static int report(struct verify *v, struct lb_pack_cache *pc, struct lb_codec *c, uint8_t (*ids)[LB_ID_SIZE])
{
        for (size_t s = 0; s < v->nsnaps; s++)
                for (size_t i = 0; i < v->snaps[s]->nimages; i++) {
                        const struct lb_image *im = &v->snaps[s]->images[i];
                        uint64_t cs = im->chunk_size;
                        for (size_t g = 0; g < im->nmaps; g++) {
                                uint64_t why, first = (uint64_t)g * LB_MAP_SEGMENT_CHUNKS;
                                size_t n;
                                int r;
                                if (lb_idset_get(&v->bad, im->maps[g], &why)) {
                                        uint64_t end = MIN((first + LB_MAP_SEGMENT_CHUNKS) * cs, im->size);
                                        if ((r = add_damage(v->res, v->snaps[s], im, first * cs, end - first * cs,
                                                            why == BAD_MISSING ? BAD_MAP : (enum badness)why)) < 0)
                                                return r;
                                        continue;
                                }
                                r = lb_image_map_load(pc, c, v->repo, im, g, ids, &n);
                                if (r < 0) {
                                        lb_error_clear();
                                        continue;
                                }
                                for (size_t k = 0; k < n; k++) {
                                        if (!lb_idset_get(&v->bad, ids[k], &why))
                                                continue;
                                        uint64_t off = (first + k) * cs;
                                        if ((r = add_damage(v->res, v->snaps[s], im, off, MIN(cs, im->size - off),
                                                            (enum badness)why)) < 0)
                                                return r;
                                }
                        }
                }
        return 0;
}

int lb_verify(struct lb_repo *r, const char *const *snapshots, size_t n, const struct lb_verify_opts *opts,
              struct lb_verify_result *ret)
{
        struct verify v = { .repo = r, .res = ret };
        struct lb_pack_cache pc;
        struct lb_codec *c = NULL;
        uint8_t(*ids)[LB_ID_SIZE] = NULL;
        unsigned nthreads = opts->threads ? opts->threads : (unsigned)get_nprocs();
        int k;

        lb_error_clear();
        memset(ret, 0, sizeof(*ret));
        pthread_mutex_init(&v.lock, NULL);
        k = lb_repo_lock(r, LB_LOCK_SHARED);
        if (k == 0)
                k = lb_repo_index(r, &v.index);
        if (k < 0)
                goto out0;
        for (size_t i = 0; i < v.index->ndamaged; i++) {
                char msg[256];
                snprintf(msg, sizeof(msg), "index file %s is damaged", v.index->damaged[i]);
                if ((k = add_problem(ret, msg)) < 0)
                        goto out0;
        }
        if (n == 0) {
                k = lb_snapshot_list(r, &v.snaps, &v.nsnaps);
                if (k < 0)
                        goto out0;
                /* manifests that did not load */
                char **names;
                size_t nn;
                if ((k = lb_repo_list_meta(r, "snapshots", &names, &nn)) < 0)
                        goto out;
                for (size_t i = 0; i < nn; i++) {
                        bool loaded = false;
                        for (size_t j = 0; j < v.nsnaps; j++)
                                loaded |= strcmp(v.snaps[j]->id, names[i]) == 0;
                        if (!loaded) {
                                char msg[256];
                                snprintf(msg, sizeof(msg), "snapshot %.8s is damaged: its manifest cannot be read", names[i]);
                                if ((k = add_problem(ret, msg)) < 0)
                                        break;
                        }
                }
                lb_strv_free(names, nn);
                if (k < 0)
                        goto out;
        } else {
                v.snaps = calloc(n, sizeof(*v.snaps));
                if (!v.snaps) {
                        k = -ENOMEM;
                        goto out0;
                }
                for (size_t i = 0; i < n; i++) {
                        k = lb_snapshot_find(r, snapshots[i], &v.snaps[v.nsnaps]);
                        if (k == -EBADMSG || k == -EPROTONOSUPPORT) {
                                /* found but unreadable: that is damage to report */
                                if ((k = add_problem(ret, lb_error_get() ? lb_error_get() : "snapshot damaged")) < 0)
                                        goto out;
                                lb_error_clear();
                                continue;
                        }
                        if (k < 0)
                                goto out;
                        v.nsnaps++;
                }
        }
        ret->snapshots = v.nsnaps;
        ret->packs = v.index->npacks;
        lb_pack_cache_init(&pc, r, v.index);
        c = lb_codec_new(0);
        ids = malloc((size_t)LB_MAP_SEGMENT_CHUNKS * LB_ID_SIZE);
        v.pack_used = calloc(v.index->npacks ? v.index->npacks : 1, sizeof(bool));
        v.pack_suspect = calloc(v.index->npacks ? v.index->npacks : 1, sizeof(bool));
        if (!c || !ids || !v.pack_used || !v.pack_suspect || lb_idset_init(&v.refs, v.index->n) < 0 || lb_idset_init(&v.bad, 64) < 0) {
                k = -ENOMEM;
                goto out1;
        }
        if ((k = walk_structure(&v, &pc, c, ids)) < 0)
                goto out1;
        ret->blobs += v.refs.n;
        if ((k = check_packs(&v)) < 0)
                goto out1;
        if ((k = read_data(&v, MAX(1u, nthreads), opts->read_data)) < 0)
                goto out1;
        /* Say, for each damaged pack, whether any data in it is lost. */
        for (size_t p = 0; p < v.index->npacks; p++) {
                if (!v.pack_suspect[p])
                        continue;
                size_t nbad = 0, nblobs = 0;
                for (size_t e = 0; e < v.index->n; e++)
                        if (v.index->v[e].loc.pack == p && lb_idset_get(&v.refs, v.index->v[e].id, NULL)) {
                                nblobs++;
                                nbad += lb_idset_get(&v.bad, v.index->v[e].id, NULL);
                        }
                char hex[2 * LB_ID_SIZE + 1], msg[256];
                hex_encode(v.index->packs[p], LB_ID_SIZE, hex);
                if (nbad == 0)
                        snprintf(msg, sizeof(msg), "pack file %.16s is damaged, but every blob in it is intact "
                                 "(%zu checked): only its directory or footer is hit", hex, nblobs);
                else
                        snprintf(msg, sizeof(msg), "pack file %.16s: %zu of the %zu blobs the snapshots use are damaged",
                                 hex, nbad, nblobs);
                if ((k = add_problem(ret, msg)) < 0)
                        goto out1;
        }
        if (v.bad.n && (k = report(&v, &pc, c, ids)) < 0)
                goto out1;
        k = ret->ndamage || ret->nproblems ? -EBADMSG : 0;
out1:
        lb_pack_cache_done(&pc);
out:
        lb_snapshot_list_free(v.snaps, v.nsnaps);
out0:
        lb_codec_free(c);
        free(ids);
        free(v.pack_used);
        free(v.pack_suspect);
        lb_idset_done(&v.refs);
        lb_idset_done(&v.bad);
        pthread_mutex_destroy(&v.lock);
        return k;
}

void lb_verify_result_free(struct lb_verify_result *v)
{
        free(v->damage);
        lb_strv_free(v->problems, v->nproblems);
        memset(v, 0, sizeof(*v));
}
