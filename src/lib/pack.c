/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "pack.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "format.h"
#include "repo.h"
#include "util.h"

int lb_pack_writer_new(struct lb_repo *r, struct lb_pack_writer **ret)
{
        struct lb_pack_writer *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->repo = r;
        w->fd = -1;
        *ret = w;
        return 0;
}

static int open_tmp(struct lb_pack_writer *w)
{
        uint8_t rnd[8];
        char hex[17];
        int k = random_bytes(rnd, sizeof(rnd));
        if (k < 0)
                return k;
        hex_encode(rnd, sizeof(rnd), hex);
        free(w->tmp);
        if (asprintf(&w->tmp, "%s/%d-%s.pack", w->repo->tmpdir, (int)getpid(), hex) < 0) {
                w->tmp = NULL;
                return -ENOMEM;
        }
        w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (w->fd < 0)
                return lb_error_set(-errno, "cannot create %s: %m", w->tmp);
        w->sha = lb_sha256_new();
        if (!w->sha)
                return -ENOMEM;
        w->size = 0;
        return 0;
}

static int append(struct lb_pack_writer *w, const void *buf, size_t len)
{
        int k = write_full(w->fd, buf, len);
        if (k < 0) {
                /* Part of buf may be in the file now: it no longer matches
                 * what we know of it, so it can only be discarded. */
                w->broken = true;
                return lb_error_set(k, "cannot write pack file %s: %s", w->tmp, strerror(-k));
        }
        k = lb_sha256_update(w->sha, buf, len);
        if (k < 0)
                return k;
        w->size += len;
        return 0;
}

int lb_pack_writer_add(struct lb_pack_writer *w, const uint8_t id[LB_ID_SIZE], uint8_t type, const void *blob,
                       size_t len)
{
        int k;
        if (w->fd < 0 && (k = open_tmp(w)) < 0)
                return k;
        if (w->n == w->cap) {
                size_t cap = w->cap ? 2 * w->cap : 64;
                void *v = realloc(w->v, cap * sizeof(*w->v));
                if (!v)
                        return -ENOMEM;
                w->v = v;
                w->cap = cap;
        }
        uint64_t off = w->size;
        k = append(w, blob, len);
        if (k < 0)
                return k;
        struct lb_pack_blob *b = &w->v[w->n++];
        memcpy(b->id, id, LB_ID_SIZE);
        b->offset = off;
        b->length = (uint32_t)len;
        b->type = type;
        return 0;
}

static void discard(struct lb_pack_writer *w)
{
        if (w->fd >= 0)
                close(w->fd);
        w->fd = -1;
        if (w->tmp)
                unlink(w->tmp);
        free(w->tmp);
        w->tmp = NULL;
        lb_sha256_free(w->sha);
        w->sha = NULL;
        w->n = 0;
        w->size = 0;
        w->broken = false;
}

int lb_pack_writer_finish(struct lb_pack_writer *w, uint8_t ret_id[LB_ID_SIZE])
{
        int k;
        if (w->fd < 0)
                return -EINVAL;
        if (w->broken) {
                discard(w);
                return -EIO;
        }
        size_t dlen = w->n * sizeof(struct lb_pack_entry_disk);
        _cleanup_free_ uint8_t *dir = calloc(1, dlen + sizeof(struct lb_pack_footer_disk));
        if (!dir)
                return -ENOMEM;
        for (size_t i = 0; i < w->n; i++) {
                struct lb_pack_entry_disk *e = (void *)(dir + i * sizeof(*e));
                memcpy(e->id, w->v[i].id, LB_ID_SIZE);
                le64_put(e->offset, w->v[i].offset);
                le32_put(e->length, w->v[i].length);
                e->type = w->v[i].type;
        }
        struct lb_pack_footer_disk *f = (void *)(dir + dlen);
        le64_put(f->dir_offset, w->size);
        le32_put(f->count, (uint32_t)w->n);
        le32_put(f->version, 1);
        memcpy(f->magic, LB_PACK_FOOTER_MAGIC, 8);
        k = append(w, dir, dlen + sizeof(*f));
        if (k < 0) {
                discard(w);
                return k;
        }
        k = lb_sha256_final(w->sha, ret_id);
        lb_sha256_free(w->sha);
        w->sha = NULL;
        if (k < 0)
                return k;
        if (fsync(w->fd) < 0 || close(w->fd) < 0) {
                k = lb_error_set(-errno, "cannot write pack file %s: %m", w->tmp);
                w->fd = -1;
                discard(w);
                return k;
        }
        w->fd = -1;
        _cleanup_free_ char *path = lb_repo_pack_path(w->repo, ret_id);
        if (!path)
                return -ENOMEM;
        /* packs/xx/ is made on demand */
        char *slash = strrchr(path, '/');
        *slash = 0;
        if (mkdir(path, 0700) == 0) {
                int k2 = fsync_dir_of(path); /* make the new packs/xx/ itself durable */
                if (k2 < 0)
                        return lb_error_set(k2, "cannot flush %s: %s", path, strerror(-k2));
        } else if (errno != EEXIST)
                return lb_error_set(-errno, "cannot create %s: %m", path);
        *slash = '/';
        if (rename(w->tmp, path) < 0)
                return lb_error_set(-errno, "cannot rename %s to %s: %m", w->tmp, path);
        free(w->tmp);
        w->tmp = NULL;
        return fsync_dir_of(path);
}

void lb_pack_writer_reset(struct lb_pack_writer *w) { w->n = 0; }

int lb_pack_set_finish(struct lb_pack_set *set, struct lb_pack_writer *w)
{
        uint8_t id[LB_ID_SIZE];
        if (w->n == 0)
                return 0;
        if (set->npacks == set->packs_cap) {
                size_t cap = set->packs_cap ? 2 * set->packs_cap : 16;
                void *p = realloc(set->packs, cap * LB_ID_SIZE);
                if (!p)
                        return -ENOMEM;
                set->packs = p;
                set->packs_cap = cap;
        }
        if (set->nentries + w->n > set->entries_cap) {
                size_t cap = MAX(2 * set->entries_cap, set->nentries + w->n);
                void *p = realloc(set->entries, cap * sizeof(*set->entries));
                if (!p)
                        return -ENOMEM;
                set->entries = p;
                set->entries_cap = cap;
        }
        memset(id, 0, sizeof(id));
        int k = lb_pack_writer_finish(w, id);
        if (k < 0) {
                if (!mem_is_zero(id, sizeof(id)))
                        memcpy(set->packs[set->npacks++], id, LB_ID_SIZE);
                return k;
        }
        memcpy(set->packs[set->npacks], id, LB_ID_SIZE);
        for (size_t i = 0; i < w->n; i++) {
                struct lb_index_entry *e = &set->entries[set->nentries++];
                memcpy(e->id, w->v[i].id, LB_ID_SIZE);
                e->loc.pack = (uint32_t)set->npacks;
                e->loc.offset = w->v[i].offset;
                e->loc.length = w->v[i].length;
        }
        set->npacks++;
        lb_pack_writer_reset(w);
        return 0;
}

void lb_pack_set_done(struct lb_pack_set *set)
{
        free(set->packs);
        free(set->entries);
        memset(set, 0, sizeof(*set));
}

void lb_pack_writer_free(struct lb_pack_writer *w)
{
        if (!w)
                return;
        discard(w);
        free(w->v);
        free(w);
}

void lb_pack_cache_init(struct lb_pack_cache *c, struct lb_repo *r, const struct lb_chunk_index *x)
{
        memset(c, 0, sizeof(*c));
        c->repo = r;
        c->index = x;
        for (size_t i = 0; i < ELEMENTSOF(c->slot); i++)
                c->slot[i].fd = -1;
}

void lb_pack_cache_done(struct lb_pack_cache *c)
{
        for (size_t i = 0; i < ELEMENTSOF(c->slot); i++)
                if (c->slot[i].fd >= 0)
                        close(c->slot[i].fd);
}

static int pack_fd(struct lb_pack_cache *c, uint32_t pack)
{
        for (size_t i = 0; i < ELEMENTSOF(c->slot); i++)
                if (c->slot[i].fd >= 0 && c->slot[i].pack == pack)
                        return c->slot[i].fd;
        _cleanup_free_ char *path = lb_repo_pack_path(c->repo, c->index->packs[pack]);
        if (!path)
                return -ENOMEM;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                int e = errno;
                if (e == ENOENT)
                        return lb_error_set(-ENOENT, "pack file %s is missing", path);
                return lb_error_set(-e, "cannot open pack file %s: %s", path, strerror(e));
        }
        unsigned s = c->next++ % ELEMENTSOF(c->slot);
        if (c->slot[s].fd >= 0)
                close(c->slot[s].fd);
        c->slot[s].fd = fd;
        c->slot[s].pack = pack;
        return fd;
}

int lb_pack_read(struct lb_pack_cache *c, const struct lb_loc *loc, void *buf)
{
        int fd = pack_fd(c, loc->pack);
        if (fd < 0)
                return fd;
        int k = read_full_at(fd, buf, loc->length, loc->offset);
        if (k == -EIO) {
                char hex[2 * LB_ID_SIZE + 1];
                hex_encode(c->index->packs[loc->pack], LB_ID_SIZE, hex);
                return lb_error_set(-EBADMSG, "pack file %s is truncated or unreadable", hex);
        }
        if (k < 0)
                return lb_error_set(k, "cannot read pack file: %s", strerror(-k));
        return 0;
}

int lb_pack_check(struct lb_repo *r, const uint8_t pack_id[LB_ID_SIZE], uint64_t *ret_size)
{
        _cleanup_free_ char *path = lb_repo_pack_path(r, pack_id);
        if (!path)
                return -ENOMEM;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return lb_error_set(-ENOENT, "pack file %s is missing", path);
                return lb_error_set(-errno, "cannot open %s: %m", path);
        }
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        struct lb_sha256_ctx *sha = lb_sha256_new();
        const size_t bufsize = 1u << 20;
        _cleanup_free_ uint8_t *buf = malloc(bufsize);
        uint8_t digest[LB_ID_SIZE];
        uint64_t size = 0;
        int k = 0;
        if (!sha || !buf) {
                lb_sha256_free(sha);
                return -ENOMEM;
        }
        for (;;) {
                ssize_t n = read(fd, buf, bufsize);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        k = lb_error_set(-errno, "cannot read %s: %m", path);
                        break;
                }
                if (n == 0)
                        break;
                lb_sha256_update(sha, buf, (size_t)n);
                size += (uint64_t)n;
        }
        if (k == 0)
                k = lb_sha256_final(sha, digest);
        lb_sha256_free(sha);
        if (k < 0)
                return k;
        if (memcmp(digest, pack_id, LB_ID_SIZE) != 0)
                return lb_error_set(-EBADMSG, "pack file %s is damaged (its checksum does not match its name)", path);
        if (ret_size)
                *ret_size = size;
        return 0;
}
