/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lifeboat copy: snapshots from one repository (SRC) into another (DST) that
 * shares its keys, blobs as stored (no re-compression or re-encryption), each
 * one checked on the way so that damage in SRC is never carried over.
 *
 *   SRC's snapshots, in snapshot order → images → map segments, one loaded at
 *   a time: its map blob, its hint blob, then the chunks DST lacks, in map
 *   order, a window at a time: checker threads read each from SRC's pack,
 *   decrypt, decompress and re-hash it; the main thread appends them as
 *   stored, in order, to DST's one pack writer
 *   → per snapshot: finish the pack, write the index files, then copy the
 *   snapshot file byte for byte: the commit. A failure before the index
 *   files removes the failing snapshot's packs; the snapshots before it stay
 *   committed.
 *
 * Nothing random or time-dependent goes into what is written: packs hold the
 * blobs as SRC stored them, in a fixed order; index blobs are encrypted with
 * salts derived from their content; config, key files and snapshot files
 * are copied. So copying the same snapshots into two new directories gives
 * identical trees, whether in one run or several. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "blob.h"
#include "chunkindex.h"
#include "events.h"
#include "idset.h"
#include "pack.h"
#include "repo.h"
#include "snapshot.h"
#include "util.h"

#define INDEX_FLUSH_PACKS 32 /* one index file per 32 packs, as backup writes them */
#define STALE_TMP_S (24 * 3600)
#define PROGRESS_MS 200
#define WINDOW_BYTES (64u << 20) /* chunks checked at once, at most */

/* A chunk to check and copy, in map order. */
struct slot {
        const uint8_t *id;
        uint64_t off;
        size_t want;  /* its length */
        uint8_t *raw; /* as stored, once checked */
        size_t raw_size;
        int r;
        char msg[384];
};

/* Checkers: each reads, decrypts, decompresses and re-hashes the chunks of a
 * window it takes from a shared counter; the main thread (checkers[0]) is
 * one of them, then appends the chunks in order, so the output does not
 * depend on the timing. */
struct checker {
        pthread_t thread;
        struct copy *cp;
        struct lb_pack_cache pc;
        struct lb_codec *codec;
        uint8_t *plain;
        size_t plain_size;
};

struct copy {
        struct lb_repo *src, *dst;
        struct lb_chunk_index *sx, *dx; /* SRC's and DST's index */
        struct lb_pack_cache pc;        /* reads SRC */
        struct lb_codec *codec;
        struct lb_pack_writer *pw;
        struct lb_idset copied; /* blobs this run wrote (or is writing) to DST */

        /* The current snapshot's packs; index files are written for them
         * only when all are finished, just before the commit, so that until
         * then no reader of DST can know of them, and they can be removed if
         * the snapshot fails. packs[0..indexed) are in index files. */
        struct lb_pack_set set;
        size_t indexed;
        struct lb_copy_snapshot *cur;

        struct checker *checkers;
        unsigned nthreads, started; /* checkers, and threads started for checkers[1..] */
        pthread_mutex_t lock;
        pthread_cond_t cond_work, cond_done;
        struct slot *slots;
        size_t maxslots, nslots; /* the window: slots[0..nslots) */
        atomic_size_t next;
        unsigned finished, generation;
        bool stop;
        uint32_t chunk_size; /* of the image being copied */

        uint8_t (*ids)[LB_ID_SIZE]; /* one map segment */
        uint8_t *plain, *raw;
        size_t plain_size, raw_size;
        bool src_damaged; /* the failure is SRC's data, not DST */
        uint64_t done, total, last_progress;
};

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void progress(struct copy *cp, bool force)
{
        uint64_t t = now_ms();
        if (force || t - cp->last_progress >= PROGRESS_MS) {
                cp->last_progress = t;
                lb_progress("copy", cp->done, cp->total);
        }
}

/* ---- files copied as they are ---- */

/* Read a file of SRC whole. With expect, its SHA-256 must be that: SRC's
 * file may have rotted since it was loaded. */
static int read_src_file(const char *path, const uint8_t *expect, uint8_t **ret, size_t *ret_len)
{
        _cleanup_free_ uint8_t *buf = NULL;
        uint8_t digest[LB_ID_SIZE];
        int k = read_file(path, LB_BLOB_MAX_PLAIN + 4096, &buf, ret_len);
        if (k < 0)
                return lb_error_set(k, "cannot read %s: %s", path, strerror(-k));
        if (expect) {
                k = lb_sha256(buf, *ret_len, digest);
                if (k < 0)
                        return k;
                if (memcmp(digest, expect, LB_ID_SIZE) != 0)
                        return lb_error_set(-EBADMSG, "%s is damaged (its checksum does not match its name)", path);
        }
        *ret = TAKE_PTR(buf);
        return 0;
}

static int write_dst_file(const char *tmpdir, const char *path, const uint8_t *buf, size_t len)
{
        int k = write_file_atomic(tmpdir, path, buf, len);
        if (k < 0)
                return lb_error_set(k, "cannot write %s: %s", path, strerror(-k));
        return 0;
}

/* Copy a small file of SRC as it is (config, key files). */
static int copy_file(const char *src, const char *dst, const char *tmpdir)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len;
        int k = read_src_file(src, NULL, &buf, &len);
        return k < 0 ? k : write_dst_file(tmpdir, dst, buf, len);
}

/* A new DST: the layout, SRC's key files, then SRC's config (last: it makes
 * the directory a repository). The same repository ID, keys and chunk
 * parameters: the key files are bound to the ID, and chunk IDs, blobs and
 * fingerprints stay valid. On failure, what was made is removed again. */
static int create_dst(const struct lb_repo *src, const char *path)
{
        _cleanup_free_ char *skeys = path_join(src->path, "keys"), *dkeys = path_join(path, "keys");
        _cleanup_free_ char *scfg = path_join(src->path, "config"), *dcfg = path_join(path, "config");
        _cleanup_free_ char *tmpdir = path_join(path, "tmp");
        char **names = NULL;
        size_t n = 0, cap = 0, written = 0;
        if (!skeys || !dkeys || !scfg || !dcfg || !tmpdir)
                return -ENOMEM;
        int made = lb_repo_create_layout(path);
        if (made < 0)
                return made;
        int k = 0;
        DIR *d = opendir(skeys);
        if (!d) {
                k = lb_error_set(-errno, "cannot open %s: %m", skeys);
                goto undo;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                if (n == cap) {
                        cap = cap ? 2 * cap : 4;
                        char **v = realloc(names, cap * sizeof(*names));
                        if (!v) {
                                k = -ENOMEM;
                                break;
                        }
                        names = v;
                }
                if (!(names[n] = strdup(e->d_name))) {
                        k = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(d);
        for (; k == 0 && written < n; written++) {
                _cleanup_free_ char *a = path_join(skeys, names[written]), *b = path_join(dkeys, names[written]);
                k = a && b ? copy_file(a, b, tmpdir) : -ENOMEM;
        }
        if (k == 0)
                k = copy_file(scfg, dcfg, tmpdir);
        if (k == 0) {
                lb_strv_free(names, n);
                return 0;
        }
undo:
        for (size_t i = 0; i < written; i++) {
                _cleanup_free_ char *b = path_join(dkeys, names[i]);
                if (b)
                        unlink(b);
        }
        lb_strv_free(names, n);
        static const char *const subdirs[] = { "keys", "packs", "index", "snapshots", "tmp" };
        for (size_t i = 0; i < ELEMENTSOF(subdirs); i++) {
                _cleanup_free_ char *p = path_join(path, subdirs[i]);
                if (p)
                        rmdir(p);
        }
        if (made)
                rmdir(path);
        return k;
}

static int mismatch(const struct lb_repo *src, const char *path, bool dst_encrypted)
{
        return lb_error_set(-EINVAL, "%s is %sencrypted and %s is %sencrypted: blobs cannot be copied between them. "
                            "Copy into a new or empty directory instead", path, dst_encrypted ? "" : "not ",
                            src->path, src->encrypted ? "" : "not ");
}

/* Open DST, creating it if needed, and make sure blobs of SRC are valid
 * there: the same encryption and, when encrypted, the same master key. */
static int open_dst(struct lb_repo *src, const char *path, const char *pass, struct lb_repo **ret, bool *ret_created)
{
        _cleanup_free_ char *cfg = path_join(path, "config");
        struct lb_repo *dst = NULL;
        if (!cfg)
                return -ENOMEM;
        *ret_created = false;
        /* (Opening an encrypted DST without a passphrase would only ask for one.) */
        if (!src->encrypted && access(cfg, F_OK) == 0 && lb_repo_is_encrypted_at(path))
                return mismatch(src, path, true);
        if (access(cfg, F_OK) < 0 && errno == ENOENT) {
                int k = create_dst(src, path);
                if (k == -EEXIST)
                        return lb_error_set(k, "%s is neither a Lifeboat repository nor an empty directory: "
                                            "copy into a new or empty directory, or into a copy of %s",
                                            path, src->path);
                if (k < 0)
                        return k;
                *ret_created = true;
        }
        int k = lb_repo_open(path, src->encrypted ? pass : NULL, &dst);
        if (k == -EKEYREJECTED)
                return lb_error_set(k, "%s does not open with the passphrase of %s: it has other keys, so the "
                                    "blobs of %s would be unreadable there. Copy into a new or empty directory "
                                    "(it is created with the keys of %s)", path, src->path, src->path, src->path);
        if (k < 0)
                return k;
        if (dst->encrypted != src->encrypted) {
                lb_repo_close(dst);
                return mismatch(src, path, !src->encrypted);
        }
        if (src->encrypted && memcmp(&dst->key, &src->key, sizeof(src->key)) != 0) {
                lb_repo_close(dst);
                return lb_error_set(-EINVAL, "%s has the same passphrase as %s but another master key (it was "
                                    "made by 'lifeboat init', not by 'lifeboat copy' from %s), so chunk IDs and "
                                    "blobs differ. Copy into a new or empty directory instead", path, src->path,
                                    src->path);
        }
        *ret = dst;
        return 0;
}

static int same_dir(const char *a, const char *b)
{
        struct stat sa, sb;
        if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
                return 0;
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---- selection ---- */

static int cmp_snap(const void *a, const void *b)
{
        return lb_snapshot_cmp(*(struct lb_snapshot *const *)a, *(struct lb_snapshot *const *)b);
}

/* The snapshots to copy, in snapshot order, each once. All are resolved
 * before anything is written, so a wrong ID changes nothing. */
static int select_snapshots(struct lb_repo *src, const char *const *specs, size_t nspecs,
                            struct lb_snapshot ***ret, size_t *ret_n)
{
        if (nspecs == 0)
                return lb_snapshot_list(src, ret, ret_n);
        struct lb_snapshot **v = calloc(nspecs, sizeof(*v));
        size_t n = 0;
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < nspecs; i++) {
                int k = lb_snapshot_find(src, specs[i], &v[n]);
                if (k < 0) {
                        lb_snapshot_list_free(v, n);
                        return k;
                }
                n++;
        }
        qsort(v, n, sizeof(*v), cmp_snap);
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
                if (w > 0 && strcmp(v[w - 1]->id, v[i]->id) == 0)
                        lb_snapshot_free(v[i]);
                else
                        v[w++] = v[i];
        }
        *ret = v;
        *ret_n = w;
        return 0;
}

/* ---- writing blobs ---- */

static bool in_dst(struct copy *cp, const uint8_t id[LB_ID_SIZE])
{
        return lb_chunk_index_lookup(cp->dx, id, NULL) || lb_idset_get(&cp->copied, id, NULL);
}

/* Index files for the snapshot's packs, one per INDEX_FLUSH_PACKS of them. */
static int write_index(struct copy *cp)
{
        return lb_index_files_write(cp->dst, (const uint8_t(*)[LB_ID_SIZE])cp->set.packs, cp->set.npacks,
                                    cp->set.entries, cp->set.nentries, INDEX_FLUSH_PACKS, &cp->indexed, NULL);
}

/* A pack that fails after its rename is still remembered, for undo_snapshot. */
static int finish_pack(struct copy *cp) { return lb_pack_set_finish(&cp->set, cp->pw); }

/* Append a checked blob, as SRC stored it (raw: header and payload), that
 * in_dst() said DST lacks. */
static int put_blob(struct copy *cp, const uint8_t id[LB_ID_SIZE], enum lb_blob_type type, const uint8_t *raw)
{
        const struct lb_blob_header_disk *h = (const void *)raw;
        size_t len = sizeof(*h) + le32_get(h->stored_len);
        int k = lb_pack_writer_add(cp->pw, id, (uint8_t)type, raw, len);
        if (k < 0)
                return k;
        cp->cur->blobs++;
        cp->cur->bytes += len;
        if (cp->pw->size >= cp->dst->pack_size)
                return finish_pack(cp);
        return 0;
}

/* in_dst() said no: from now on it says yes. */
static int mark_copied(struct copy *cp, const uint8_t id[LB_ID_SIZE])
{
        int k = lb_idset_add(&cp->copied, id, 0, NULL);
        return k < 0 ? k : 0;
}

/* SRC could not give a blob: say which part of which image, and that it is
 * SRC's problem. */
static int src_damage(struct copy *cp, int k, const struct lb_image *im, const char *what, uint64_t from,
                      uint64_t to)
{
        char msg[512];
        if (k == -ENOMEM)
                return k;
        snprintf(msg, sizeof(msg), "%s", lb_error_get() ? lb_error_get() : strerror(-k));
        cp->src_damaged = true;
        return lb_error_set(k, "the %s of image %s (bytes %llu-%llu) is %s in %s: %s", what, im->name,
                            (unsigned long long)from, (unsigned long long)to,
                            k == -ENOENT ? "missing" : "damaged", cp->src->path, msg);
}

static void check_slot(struct checker *w, struct slot *sl)
{
        struct copy *cp = w->cp;
        size_t len;
        int k = 0;
        if (w->plain_size < cp->chunk_size) {
                uint8_t *p = realloc(w->plain, cp->chunk_size);
                if (!p)
                        k = -ENOMEM;
                else {
                        w->plain = p;
                        w->plain_size = cp->chunk_size;
                }
        }
        if (k == 0)
                k = lb_blob_fetch(&w->pc, w->codec, cp->src, sl->id, LB_BLOB_CHUNK, &sl->raw, &sl->raw_size, w->plain,
                                  cp->chunk_size, &len);
        if (k == 0 && len != sl->want)
                k = lb_error_set(-EBADMSG, "the chunk has %zu bytes instead of %zu", len, sl->want);
        sl->r = k;
        if (k < 0)
                snprintf(sl->msg, sizeof(sl->msg), "%s", lb_error_get() ? lb_error_get() : strerror(-k));
}

static void *checker_main(void *arg)
{
        struct checker *w = arg;
        struct copy *cp = w->cp;
        unsigned seen = 0;
        for (;;) {
                pthread_mutex_lock(&cp->lock);
                while (!cp->stop && cp->generation == seen)
                        pthread_cond_wait(&cp->cond_work, &cp->lock);
                if (cp->stop) {
                        pthread_mutex_unlock(&cp->lock);
                        return NULL;
                }
                seen = cp->generation;
                pthread_mutex_unlock(&cp->lock);
                for (size_t i; (i = atomic_fetch_add(&cp->next, 1)) < cp->nslots;)
                        check_slot(w, &cp->slots[i]);
                pthread_mutex_lock(&cp->lock);
                if (++cp->finished == cp->started)
                        pthread_cond_signal(&cp->cond_done);
                pthread_mutex_unlock(&cp->lock);
        }
}

/* Check the window's chunks in parallel, then append them in map order. */
static int copy_window(struct copy *cp, const struct lb_image *im)
{
        if (cp->nslots == 0)
                return 0;
        pthread_mutex_lock(&cp->lock);
        atomic_store(&cp->next, 0);
        cp->finished = 0;
        cp->generation++;
        pthread_cond_broadcast(&cp->cond_work);
        pthread_mutex_unlock(&cp->lock);
        for (size_t i; (i = atomic_fetch_add(&cp->next, 1)) < cp->nslots;)
                check_slot(&cp->checkers[0], &cp->slots[i]);
        pthread_mutex_lock(&cp->lock);
        while (cp->finished < cp->started)
                pthread_cond_wait(&cp->cond_done, &cp->lock);
        pthread_mutex_unlock(&cp->lock);
        for (size_t i = 0; i < cp->nslots; i++) {
                struct slot *sl = &cp->slots[i];
                if (sl->r < 0) {
                        lb_error_set(sl->r, "%s", sl->msg);
                        return src_damage(cp, sl->r, im, "chunk", sl->off, sl->off + sl->want - 1);
                }
                int k = put_blob(cp, sl->id, LB_BLOB_CHUNK, sl->raw);
                if (k < 0)
                        return k;
        }
        cp->nslots = 0;
        progress(cp, false);
        return 0;
}

static int copy_segment(struct copy *cp, const struct lb_snapshot *s, const struct lb_image *im, size_t g)
{
        uint64_t first = (uint64_t)g * LB_MAP_SEGMENT_CHUNKS, cs = im->chunk_size;
        size_t n, len, window = MIN(cp->maxslots, MAX((size_t)2, WINDOW_BYTES / im->chunk_size));
        int k = lb_image_map_fetch(&cp->pc, cp->codec, cp->src, im, g, cp->ids, &n, &cp->raw, &cp->raw_size);
        if (k < 0)
                return src_damage(cp, k, im, "map", first * cs,
                                  MIN(im->size, (first + LB_MAP_SEGMENT_CHUNKS) * cs) - 1);
        if (!in_dst(cp, im->maps[g]) && ((k = mark_copied(cp, im->maps[g])) < 0 ||
                                         (k = put_blob(cp, im->maps[g], LB_BLOB_MAP, cp->raw)) < 0))
                return k;
        if (im->hints && !in_dst(cp, im->hints[g])) {
                /* Hints only spare the next backup some hashing: a damaged one
                 * is left behind, as if it had not been written. */
                k = lb_image_hints_fetch(&cp->pc, cp->codec, cp->src, im, g, (uint8_t(*)[LB_HINT_SIZE])cp->plain,
                                         &len, &cp->raw, &cp->raw_size);
                if (k == -ENOMEM)
                        return k;
                if (k < 0) {
                        lb_warn("snapshot %.8s image %s: change-detection hints of segment %zu not copied: %s "
                                "(the next backup hashes that part in full)", s->id, im->name, g,
                                lb_error_get() ? lb_error_get() : strerror(-k));
                        lb_error_clear();
                } else if ((k = mark_copied(cp, im->hints[g])) < 0 ||
                           (k = put_blob(cp, im->hints[g], LB_BLOB_HINTS, cp->raw)) < 0)
                        return k;
        }
        cp->chunk_size = im->chunk_size;
        cp->nslots = 0;
        for (size_t i = 0; i < n; i++) {
                const uint8_t *id = cp->ids[i];
                uint64_t off = (first + i) * cs;
                size_t want = (size_t)MIN(cs, im->size - off);
                cp->done += want;
                if (lb_id_is_reserved(id))
                        continue;
                if (in_dst(cp, id)) {
                        cp->cur->dedup_chunks++;
                        continue;
                }
                if ((k = mark_copied(cp, id)) < 0)
                        return k;
                struct slot *sl = &cp->slots[cp->nslots++];
                sl->id = id;
                sl->off = off;
                sl->want = want;
                if (cp->nslots == window && (k = copy_window(cp, im)) < 0)
                        return k;
        }
        return copy_window(cp, im);
}

/* Remove the packs of a failed snapshot that no index file lists: nothing
 * can refer to them. (Packs in index files this run wrote stay, as after a
 * failed backup: valid data that later copies and backups deduplicate
 * against, since a reader may have loaded those files already. A pack that
 * DST's index listed before this run is not ours either.) */
static void undo_snapshot(struct copy *cp)
{
        for (size_t i = cp->indexed; i < cp->set.npacks; i++) {
                bool listed = false;
                for (size_t j = 0; j < cp->dx->npacks && !listed; j++)
                        listed = memcmp(cp->dx->packs[j], cp->set.packs[i], LB_ID_SIZE) == 0;
                char *p = listed ? NULL : lb_repo_pack_path(cp->dst, cp->set.packs[i]);
                if (p) {
                        unlink(p);
                        free(p);
                }
        }
}

static int ensure_plain(struct copy *cp, size_t n)
{
        n = MAX(n, (size_t)LB_MAP_SEGMENT_CHUNKS * LB_HINT_SIZE);
        if (cp->plain_size >= n)
                return 0;
        void *p = realloc(cp->plain, n);
        if (!p)
                return -ENOMEM;
        cp->plain = p;
        cp->plain_size = n;
        return 0;
}

static int copy_snapshot(struct copy *cp, const struct lb_snapshot *s)
{
        _cleanup_free_ char *from = NULL, *to = NULL;
        _cleanup_free_ uint8_t *manifest = NULL;
        uint8_t want[LB_ID_SIZE];
        size_t mlen = 0;
        int k = 0;
        cp->set.npacks = cp->indexed = cp->set.nentries = 0;
        if (asprintf(&from, "%s/snapshots/%s", cp->src->path, s->id) < 0 ||
            asprintf(&to, "%s/snapshots/%s", cp->dst->path, s->id) < 0)
                return -ENOMEM;
        if (hex_decode(s->id, want, sizeof(want)) < 0)
                return -EINVAL;
        /* The snapshot file is copied as it is, so its name (the snapshot ID)
         * stays; read it first, so that nothing is written if it is bad. */
        k = read_src_file(from, want, &manifest, &mlen);
        if (k < 0)
                cp->src_damaged = k != -ENOMEM;
        for (size_t i = 0; k == 0 && i < s->nimages; i++) {
                const struct lb_image *im = &s->images[i];
                k = ensure_plain(cp, im->chunk_size);
                for (size_t g = 0; k == 0 && g < im->nmaps; g++)
                        k = copy_segment(cp, s, im, g);
        }
        if (k == 0)
                k = finish_pack(cp);
        if (k == 0)
                k = write_index(cp);
        if (k == 0)
                k = write_dst_file(cp->dst->tmpdir, to, manifest, mlen); /* the commit */
        if (k == 0)
                return 0;

        char msg[768], what[512];
        snprintf(msg, sizeof(msg), "%s", lb_error_get() ? lb_error_get() : strerror(-k));
        /* The writer's half-written pack goes too: the run stops here. */
        lb_pack_writer_free(cp->pw);
        cp->pw = NULL;
        undo_snapshot(cp);
        snprintf(what, sizeof(what),
                 cp->indexed ? "Its blobs copied so far stay in %s, unused, as after a failed backup"
                             : "Nothing of it was kept in %s",
                 cp->dst->path);
        if (k == -ENOSPC || k == -EDQUOT)
                return lb_error_set(k, "%s is full, snapshot %.8s does not fit: %s. %s. Free space there or copy to "
                                    "a larger disk", cp->dst->path, s->id, msg, what);
        if (cp->src_damaged)
                return lb_error_set(k, "cannot copy snapshot %.8s: %s. %s; 'lifeboat verify --read-data --repo %s' "
                                    "shows what is affected", s->id, msg, what, cp->src->path);
        return lb_error_set(k, "cannot copy snapshot %.8s: %s. %s", s->id, msg, what);
}

static bool dst_has_snapshot(const struct lb_repo *dst, const char *id)
{
        _cleanup_free_ char *p = NULL;
        if (asprintf(&p, "%s/snapshots/%s", dst->path, id) < 0)
                return false;
        return access(p, F_OK) == 0;
}

int lb_copy(struct lb_repo *src, const char *dst_path, const char *const *specs, size_t nspecs,
            const struct lb_copy_opts *opts, struct lb_copy_result *ret)
{
        struct copy cp = { .src = src };
        struct lb_snapshot **sel = NULL;
        size_t nsel = 0;
        _cleanup_close_ int lock = -1;
        bool pc_init = false, set_init = false;
        uint64_t t0 = now_ms();
        int k;

        lb_error_clear();
        memset(ret, 0, sizeof(*ret));
        if (same_dir(src->path, dst_path))
                return lb_error_set(-EINVAL, "%s is the repository being copied: give another directory with --to",
                                    dst_path);
        k = lb_repo_lock(src, LB_LOCK_SHARED);
        if (k < 0)
                return k;
        k = select_snapshots(src, specs, nspecs, &sel, &nsel);
        if (k < 0)
                return k;
        ret->snapshots = calloc(nsel ? nsel : 1, sizeof(*ret->snapshots));
        if (!ret->snapshots) {
                k = -ENOMEM;
                goto out;
        }
        k = open_dst(src, dst_path, opts ? opts->passphrase : NULL, &cp.dst, &ret->created);
        if (k < 0)
                goto out;
        /* One copy into DST at a time: each removes what a failed snapshot
         * wrote, which must not be another's. */
        lock = open(cp.dst->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
                if (lock >= 0 && errno == EWOULDBLOCK)
                        k = lb_error_set(-EBUSY, "another 'lifeboat copy' is writing to %s: wait until it has finished",
                                         cp.dst->path);
                else
                        k = lb_error_set(-errno, "cannot lock %s against another copy: %m; nothing was copied",
                                         cp.dst->path);
                goto out;
        }
        k = lb_repo_lock(cp.dst, LB_LOCK_SHARED_WRITER);
        if (k < 0)
                goto out;
        if (lb_repo_clean_tmp(cp.dst, STALE_TMP_S) < 0)
                lb_error_clear(); /* only housekeeping */
        k = lb_repo_index(src, &cp.sx);
        if (k < 0)
                goto out;
        k = lb_repo_index(cp.dst, &cp.dx);
        if (k < 0)
                goto out;
        k = lb_chunk_index_drop_missing(cp.dst, cp.dx);
        if (k > 0)
                lb_warn("%d pack file(s) listed in the index of %s are missing: what they held is copied again",
                        k, cp.dst->path);
        cp.dst->fixed_salts = true;
        lb_pack_cache_init(&cp.pc, src, cp.sx);
        pc_init = true;
        cp.codec = lb_codec_new(0);
        cp.ids = malloc((size_t)LB_MAP_SEGMENT_CHUNKS * LB_ID_SIZE);
        cp.nthreads = MAX(1u, MIN(opts && opts->threads ? opts->threads : (unsigned)get_nprocs(), 64u));
        cp.maxslots = MIN((size_t)4 * cp.nthreads, (size_t)64);
        cp.slots = calloc(cp.maxslots, sizeof(*cp.slots));
        cp.checkers = calloc(cp.nthreads, sizeof(*cp.checkers));
        k = lb_pack_writer_new(cp.dst, &cp.pw);
        if (k < 0)
                goto out;
        if (!cp.codec || !cp.ids || !cp.slots || !cp.checkers || lb_idset_init(&cp.copied, 4096) < 0) {
                k = -ENOMEM;
                goto out;
        }
        set_init = true;
        pthread_mutex_init(&cp.lock, NULL);
        pthread_cond_init(&cp.cond_work, NULL);
        pthread_cond_init(&cp.cond_done, NULL);
        for (unsigned i = 0; i < cp.nthreads; i++) {
                cp.checkers[i].cp = &cp;
                lb_pack_cache_init(&cp.checkers[i].pc, src, cp.sx);
        }
        for (unsigned i = 0; i < cp.nthreads; i++) {
                struct checker *w = &cp.checkers[i];
                w->codec = lb_codec_new(0);
                if (!w->codec) {
                        k = -ENOMEM;
                        goto out;
                }
                if (i > 0 && pthread_create(&w->thread, NULL, checker_main, w) != 0) {
                        k = lb_error_set(-EAGAIN, "cannot start threads");
                        goto out;
                }
                cp.started += i > 0;
        }

        for (size_t i = 0; i < nsel; i++)
                if (!dst_has_snapshot(cp.dst, sel[i]->id))
                        for (size_t j = 0; j < sel[i]->nimages; j++)
                                cp.total += sel[i]->images[j].size;
        progress(&cp, true);
        for (size_t i = 0; i < nsel; i++) {
                struct lb_copy_snapshot *cs = &ret->snapshots[ret->nsnapshots];
                snprintf(cs->id, sizeof(cs->id), "%s", sel[i]->id);
                if (dst_has_snapshot(cp.dst, sel[i]->id)) {
                        ret->nsnapshots++;
                        ret->present++;
                        continue;
                }
                cp.cur = cs;
                k = copy_snapshot(&cp, sel[i]);
                if (k < 0) {
                        memset(cs, 0, sizeof(*cs));
                        break;
                }
                cs->copied = true;
                ret->nsnapshots++;
                ret->copied++;
                ret->blobs += cs->blobs;
                ret->bytes += cs->bytes;
                ret->dedup_chunks += cs->dedup_chunks;
                ret->packs += cp.set.npacks;
                for (size_t j = 0; j < sel[i]->nimages; j++)
                        ret->bytes_total += sel[i]->images[j].size;
        }
        if (k == 0)
                progress(&cp, true);

out:
        ret->duration_ms = now_ms() - t0;
        if (set_init) {
                pthread_mutex_lock(&cp.lock);
                cp.stop = true;
                pthread_cond_broadcast(&cp.cond_work);
                pthread_mutex_unlock(&cp.lock);
                for (unsigned i = 1; i <= cp.started; i++)
                        pthread_join(cp.checkers[i].thread, NULL);
                for (unsigned i = 0; i < cp.nthreads; i++) {
                        lb_pack_cache_done(&cp.checkers[i].pc);
                        lb_codec_free(cp.checkers[i].codec);
                        free(cp.checkers[i].plain);
                }
                pthread_mutex_destroy(&cp.lock);
                pthread_cond_destroy(&cp.cond_work);
                pthread_cond_destroy(&cp.cond_done);
                lb_idset_done(&cp.copied);
        }
        for (size_t i = 0; cp.slots && i < cp.maxslots; i++)
                free(cp.slots[i].raw);
        free(cp.slots);
        free(cp.checkers);
        if (pc_init)
                lb_pack_cache_done(&cp.pc);
        lb_pack_writer_free(cp.pw);
        lb_codec_free(cp.codec);
        free(cp.ids);
        free(cp.plain);
        free(cp.raw);
        lb_pack_set_done(&cp.set);
        lb_repo_close(cp.dst);
        lb_snapshot_list_free(sel, nsel);
        return k < 0 ? k : 0;
}

void lb_copy_result_free(struct lb_copy_result *r)
{
        free(r->snapshots);
        r->snapshots = NULL;
        r->nsnapshots = 0;
}
