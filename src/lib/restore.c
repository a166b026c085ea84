/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Restore: the mirror of backup. For each map segment the workers take chunk
 * numbers from a shared counter, fetch and decode the blob (decrypt,
 * decompress, re-hash against the ID) and write it at its offset. Zero
 * chunks stay holes in a file and are zeroed on a device. A chunk that fails
 * its check is reported with its byte range and never written. */
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "blob.h"
#include "chunkindex.h"
#include "disk.h"
#include "events.h"
#include "grow.h"
#include "pack.h"
#include "repo.h"
#include "snapshot.h"
#include "source.h"
#include "util.h"

#define SPARSE_BLOCK (64u << 10)

struct restore {
        struct lb_repo *repo;
        const struct lb_chunk_index *index;
        const struct lb_image *im;
        uint64_t win_start, win_len; /* the part of the image restored, to target offset 0 */
        struct lb_target *t;
        uint8_t (*ids)[LB_ID_SIZE]; /* current segment */
        uint64_t first;             /* its first chunk */
        size_t n;
        atomic_size_t next;
        atomic_uint_fast64_t done_bytes, written;
        atomic_int failed;
        pthread_mutex_t lock;
        uint64_t *damaged; /* chunk numbers */
        size_t ndamaged, damaged_cap;
        char first_damage[512];
        int error;
        char errmsg[512];
};

struct rworker {
        pthread_t thread;
        struct restore *rs;
        struct lb_codec *codec;
        struct lb_pack_cache pc;
        uint8_t *raw, *plain;
        size_t raw_size;
        bool reporter;
};

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void set_error(struct restore *rs, int r)
{
        pthread_mutex_lock(&rs->lock);
        if (!rs->error) {
                rs->error = r;
                snprintf(rs->errmsg, sizeof(rs->errmsg), "%s", lb_error_get() ? lb_error_get() : strerror(-r));
        }
        atomic_store(&rs->failed, 1);
        pthread_mutex_unlock(&rs->lock);
}

static int add_damage(struct restore *rs, uint64_t chunk)
{
        int r = 0;
        pthread_mutex_lock(&rs->lock);
        if (rs->ndamaged == rs->damaged_cap) {
                size_t cap = rs->damaged_cap ? 2 * rs->damaged_cap : 64;
                void *p = realloc(rs->damaged, cap * sizeof(uint64_t));
                if (!p) {
                        r = -ENOMEM;
                        goto out;
                }
                rs->damaged = p;
                rs->damaged_cap = cap;
        }
        if (rs->ndamaged == 0)
                snprintf(rs->first_damage, sizeof(rs->first_damage), "%s", lb_error_get() ? lb_error_get() : "damaged");
        rs->damaged[rs->ndamaged++] = chunk;
out:
        pthread_mutex_unlock(&rs->lock);
        return r;
}

/* Write a chunk, leaving all-zero blocks of a file target as holes. */
static int write_chunk(struct restore *rs, const uint8_t *p, size_t len, uint64_t off)
{
        if (rs->t->is_blockdev)
                return write_full_at(rs->t->fd, p, len, off);
        size_t i = 0;
        while (i < len) {
                size_t n = MIN((size_t)SPARSE_BLOCK, len - i);
                if (mem_is_zero(p + i, n)) {
                        i += n;
                        continue;
                }
                /* extend over following non-zero blocks: one write for the run */
                size_t j = i + n;
                while (j < len) {
                        size_t m = MIN((size_t)SPARSE_BLOCK, len - j);
                        if (mem_is_zero(p + j, m))
                                break;
                        j += m;
                }
                int r = write_full_at(rs->t->fd, p + i, j - i, off + i);
                if (r < 0)
                        return r;
                i = j;
        }
        return 0;
}

static int zero_range(struct restore *rs, uint64_t off, uint64_t len)
{
        if (!rs->t->is_blockdev)
                return 0; /* the file was created empty: a hole reads as zeros */
        uint64_t range[2] = { off, len };
        if (ioctl(rs->t->fd, BLKZEROOUT, range) == 0)
                return 0;
        /* fall back to writing zeros */
        static const uint8_t zeros[SPARSE_BLOCK];
        while (len > 0) {
                size_t n = (size_t)MIN(len, (uint64_t)sizeof(zeros));
                int r = write_full_at(rs->t->fd, zeros, n, off);
                if (r < 0)
                        return r;
                off += n;
                len -= n;
        }
        return 0;
}

static void *rworker_main(void *arg)
{
        struct rworker *w = arg;
        struct restore *rs = w->rs;
        const uint32_t cs = rs->im->chunk_size;
        uint64_t last = now_ms();
        for (;;) {
                if (atomic_load(&rs->failed))
                        break;
                size_t i = atomic_fetch_add(&rs->next, 1);
                if (i >= rs->n)
                        break;
                uint64_t chunk = rs->first + i, off = chunk * cs;
                size_t len = (size_t)MIN((uint64_t)cs, rs->im->size - off), got = 0;
                /* the part of this chunk inside the window, and where it goes */
                uint64_t a = MAX(off, rs->win_start), b = MIN(off + len, rs->win_start + rs->win_len);
                if (a >= b)
                        continue;
                const uint8_t *id = rs->ids[i];
                int r = 0;
                if (memcmp(id, lb_id_unused, LB_ID_SIZE) == 0)
                        ;
                else if (memcmp(id, lb_id_zero, LB_ID_SIZE) == 0)
                        r = zero_range(rs, a - rs->win_start, b - a);
                else {
                        r = lb_blob_fetch(&w->pc, w->codec, rs->repo, id, LB_BLOB_CHUNK, &w->raw, &w->raw_size,
                                          w->plain, cs, &got);
                        if (r == 0 && got != len)
                                r = lb_error_set(-EBADMSG, "chunk has %zu bytes, expected %zu", got, len);
                        if (r == -EBADMSG || r == -ENOENT) {
                                r = add_damage(rs, chunk);
                                lb_error_clear();
                        } else if (r == 0) {
                                r = write_chunk(rs, w->plain + (a - off), (size_t)(b - a), a - rs->win_start);
                                if (r < 0)
                                        lb_error_set(r, "cannot write to %s at offset %llu: %s", rs->t->path,
                                                     (unsigned long long)(a - rs->win_start), strerror(-r));
                                else
                                        atomic_fetch_add(&rs->written, b - a);
                        }
                }
                if (r < 0) {
                        set_error(rs, r);
                        break;
                }
                uint64_t done = atomic_fetch_add(&rs->done_bytes, b - a) + (b - a);
                if (w->reporter && now_ms() - last >= 200) {
                        lb_progress("restore", done, rs->win_len);
                        last = now_ms();
                }
        }
        return NULL;
}

/* A partition table is in sectors: a disk with other sectors would read it
 * wrong. Files have no sector size. */
static int check_sector_size(const char *target, uint32_t want)
{
        struct stat st;
        if (stat(target, &st) < 0 || !S_ISBLK(st.st_mode))
                return 0;
        int fd = open(target, O_RDONLY | O_CLOEXEC), ss = 0;
        if (fd < 0)
                return 0; /* lb_target_open reports it */
        int r = ioctl(fd, BLKSSZGET, &ss);
        close(fd);
        if (r == 0 && ss > 0 && (uint32_t)ss != want)
                return lb_error_set(-EINVAL, "target %s has %d-byte sectors, the image's partition table is for "
                                    "%u-byte sectors: it would not be readable there", target, ss, want);
        return 0;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

int lb_restore(struct lb_repo *r, const struct lb_snapshot *s, const char *target, const struct lb_restore_opts *opts,
               struct lb_restore_result *ret)
{
        struct restore rs = { .repo = r };
        struct lb_target t = { .fd = -1 };
        struct rworker *ws = NULL;
        unsigned nthreads = opts->threads ? opts->threads : (unsigned)get_nprocs();
        uint64_t t0 = now_ms();
        struct lb_chunk_index *index;
        struct lb_pack_cache pc;
        struct lb_codec *codec = NULL;
        int k;

        lb_error_clear();
        memset(ret, 0, sizeof(*ret));
        if (opts->image >= s->nimages)
                return lb_error_set(-ENOENT, "snapshot %.8s has %zu image(s); there is no image %zu", s->id, s->nimages,
                                    opts->image + 1);
        rs.im = &s->images[opts->image];
        rs.win_len = rs.im->size;
        if (opts->grow && opts->partition)
                return lb_error_set(-EINVAL, "--grow applies to a whole-disk restore, not to --partition");
        if (opts->partition) {
                struct lb_disk_layout lay;
                const struct lb_partition *p = NULL;
                if (!rs.im->disk || lb_disk_layout_from_json(rs.im->disk, &lay) < 0 || !lay.table[0]) {
                        if (rs.im->disk)
                                lb_disk_layout_done(&lay);
                        return lb_error_set(-ENOENT, "image %s has no partition table: restore it whole", rs.im->name);
                }
                for (size_t i = 0; i < lay.nparts; i++)
                        if (lay.parts[i].number == opts->partition && !lay.parts[i].container)
                                p = &lay.parts[i];
                if (!p) {
                        lb_disk_layout_done(&lay);
                        return lb_error_set(-ENOENT, "image %s has no partition %u (see 'lifeboat info')", rs.im->name,
                                            opts->partition);
                }
                rs.win_start = p->start;
                rs.win_len = p->size;
                char a[32], b[32], c[32];
                struct stat st;
                uint64_t tsize = 0;
                int fd = stat(target, &st) == 0 && S_ISBLK(st.st_mode) ? open(target, O_RDONLY | O_CLOEXEC) : -1;
                if (fd >= 0) {
                        if (ioctl(fd, BLKGETSIZE64, &tsize) < 0)
                                tsize = 0;
                        close(fd);
                }
                if (tsize && tsize < p->size) {
                        k = lb_error_set(-ENOSPC,
                                         "target %s is %s, partition %u is %s (its filesystem uses %s): restoring "
                                         "onto a smaller target would need the filesystem shrunk, which Lifeboat "
                                         "cannot do yet",
                                         target, format_bytes(tsize, a, sizeof(a)), p->number,
                                         format_bytes(p->size, b, sizeof(b)), format_bytes(p->used_bytes, c, sizeof(c)));
                        lb_disk_layout_done(&lay);
                        return k;
                }
                lb_disk_layout_done(&lay);
        }
        k = lb_repo_lock(r, LB_LOCK_SHARED);
        if (k < 0)
                return k;
        _cleanup_free_ char *snap_path = NULL;
        if (asprintf(&snap_path, "%s/snapshots/%s", r->path, s->id) < 0)
                return -ENOMEM;
        if (access(snap_path, F_OK) < 0 && errno == ENOENT) /* forgotten while we waited for the lock */
                return lb_error_set(-ENOENT, "snapshot %.8s was removed from %s (by 'lifeboat forget')", s->id, r->path);
        k = lb_repo_index(r, &index);
        if (k < 0)
                return k;
        rs.index = index;
        /* Check that the first map is readable before touching the target. */
        lb_pack_cache_init(&pc, r, index);
        codec = lb_codec_new(0);
        rs.ids = malloc((size_t)LB_MAP_SEGMENT_CHUNKS * LB_ID_SIZE);
        if (!codec || !rs.ids) {
                k = -ENOMEM;
                goto out;
        }
        size_t nsegs = lb_image_segments(rs.im);
        size_t first_loaded = (size_t)(rs.win_start / ((uint64_t)LB_MAP_SEGMENT_CHUNKS * rs.im->chunk_size));
        if (nsegs > 0) {
                k = lb_image_map_load(&pc, codec, r, rs.im, first_loaded, rs.ids, &rs.n);
                if (k < 0) {
                        lb_error_set(k, "cannot read the map of image %s: %s", rs.im->name, lb_error_get());
                        goto out;
                }
        }
        if (!opts->partition && rs.im->disk) {
                struct lb_disk_layout lay;
                if (lb_disk_layout_from_json(rs.im->disk, &lay) == 0) {
                        k = 0;
                        if (opts->grow)
                                k = lb_grow_check(&lay);
                        if (k == 0 && lay.table[0])
                                k = check_sector_size(target, lay.sector_size);
                        lb_disk_layout_done(&lay);
                        if (k < 0)
                                goto out;
                }
        }
        k = lb_target_open(target, rs.win_len, opts->force, &t);
        if (k < 0)
                goto out;
        rs.t = &t;
        pthread_mutex_init(&rs.lock, NULL);
        nthreads = MAX(1u, MIN(nthreads, 64u));
        ws = calloc(nthreads, sizeof(*ws));
        if (!ws) {
                k = -ENOMEM;
                goto out_lock;
        }
        for (unsigned i = 0; i < nthreads; i++)
                lb_pack_cache_init(&ws[i].pc, r, index);
        for (unsigned i = 0; i < nthreads; i++) {
                ws[i].rs = &rs;
                ws[i].reporter = i == 0;
                ws[i].codec = lb_codec_new(0);
                ws[i].plain = malloc(rs.im->chunk_size);
                if (!ws[i].codec || !ws[i].plain) {
                        k = -ENOMEM;
                        goto out_workers;
                }
        }
        uint64_t seg_bytes = (uint64_t)LB_MAP_SEGMENT_CHUNKS * rs.im->chunk_size;
        size_t seg_first = (size_t)(rs.win_start / seg_bytes);
        size_t seg_end = rs.win_len ? (size_t)DIV_ROUND_UP(rs.win_start + rs.win_len, seg_bytes) : 0;
        for (size_t seg = seg_first; seg < MIN(nsegs, seg_end) && !atomic_load(&rs.failed); seg++) {
                if (seg != first_loaded) {
                        k = lb_image_map_load(&pc, codec, r, rs.im, seg, rs.ids, &rs.n);
                        if (k < 0) {
                                /* the whole segment is lost; note it and go on */
                                uint64_t first = (uint64_t)seg * LB_MAP_SEGMENT_CHUNKS;
                                for (uint64_t c = first; c < MIN(first + LB_MAP_SEGMENT_CHUNKS, lb_image_chunks(rs.im)); c++)
                                        if (add_damage(&rs, c) < 0) {
                                                k = -ENOMEM;
                                                goto out_workers;
                                        }
                                continue;
                        }
                }
                rs.first = (uint64_t)seg * LB_MAP_SEGMENT_CHUNKS;
                atomic_store(&rs.next, 0);
                unsigned started = 0;
                for (unsigned i = 0; i < nthreads; i++) {
                        if (pthread_create(&ws[i].thread, NULL, rworker_main, &ws[i]) != 0)
                                break;
                        started++;
                }
                for (unsigned i = 0; i < started; i++)
                        pthread_join(ws[i].thread, NULL);
                if (!started) {
                        k = lb_error_set(-EAGAIN, "cannot start threads");
                        goto out_workers;
                }
        }
        k = 0;
        if (rs.error) {
                k = lb_error_set(rs.error, "%s", rs.errmsg);
                goto out_workers;
        }
        if (fsync(t.fd) < 0) {
                k = lb_error_set(-errno, "cannot flush %s: %m", target);
                goto out_workers;
        }
        if (!opts->partition && !rs.ndamaged) {
                struct lb_disk_layout lay;
                if (rs.im->disk && lb_disk_layout_from_json(rs.im->disk, &lay) == 0) {
                        if (!strcmp(lay.table, "gpt") &&
                            (k = lb_disk_relocate_gpt(t.fd, target, t.size > rs.im->size)) < 0) {
                                lb_disk_layout_done(&lay);
                                goto out_workers;
                        }
                        if (opts->grow && lay.table[0] && t.size > rs.im->size &&
                            (k = lb_grow_last_partition(t.fd, target, &lay, &ret->grown_partition)) < 0) {
                                lb_disk_layout_done(&lay);
                                goto out_workers;
                        }
                        lb_disk_layout_done(&lay);
                }
                if (fsync(t.fd) < 0) {
                        k = lb_error_set(-errno, "cannot flush %s: %m", target);
                        goto out_workers;
                }
        }
        ret->bytes_total = rs.win_len;
        ret->bytes_written = rs.written;
        ret->damaged_chunks = rs.ndamaged;
        ret->duration_ms = now_ms() - t0;
        if (rs.ndamaged) {
                qsort(rs.damaged, rs.ndamaged, sizeof(uint64_t), cmp_u64);
                uint64_t cs = rs.im->chunk_size, a = MAX(rs.damaged[0] * cs, rs.win_start);
                k = lb_error_set(-EBADMSG,
                                 "%zu chunk(s) of image %s could not be restored (first: bytes %llu-%llu; %s); "
                                 "those ranges of %s were not written. Run 'lifeboat verify --read-data'",
                                 rs.ndamaged, rs.im->name, (unsigned long long)a,
                                 (unsigned long long)MIN(a + cs, rs.im->size) - 1, rs.first_damage, target);
        } else {
                lb_progress("restore", rs.win_len, rs.win_len);
        }
out_workers:
        for (unsigned i = 0; i < nthreads; i++) {
                lb_codec_free(ws[i].codec);
                lb_pack_cache_done(&ws[i].pc);
                free(ws[i].raw);
                free(ws[i].plain);
        }
        free(ws);
out_lock:
        pthread_mutex_destroy(&rs.lock);
out:
        lb_target_close(&t);
        lb_pack_cache_done(&pc);
        lb_codec_free(codec);
        free(rs.ids);
        free(rs.damaged);
        return k;
}
