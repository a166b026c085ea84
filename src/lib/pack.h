/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Pack files: write-once containers of blobs, named by the SHA-256 of their
 * bytes so their integrity can be checked without the key. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunkindex.h"
#include "crypto.h"

struct lb_repo;

struct lb_pack_blob {
        uint8_t id[LB_ID_SIZE];
        uint64_t offset;
        uint32_t length;
        uint8_t type;
};

struct lb_pack_writer {
        struct lb_repo *repo;
        int fd;
        char *tmp;
        uint64_t size;
        struct lb_sha256_ctx *sha;
        struct lb_pack_blob *v; /* blobs written so far */
        size_t n, cap;
        bool broken; /* a write failed part-way: the file must be thrown away */
};

int lb_pack_writer_new(struct lb_repo *r, struct lb_pack_writer **ret);
/* Append an encoded blob (header + payload). */
int lb_pack_writer_add(struct lb_pack_writer *w, const uint8_t id[LB_ID_SIZE], uint8_t type, const void *blob,
                       size_t len);
/* Write the directory and footer, fsync, and rename to packs/xx/<sha256>.
 * The blobs stay in w->v until lb_pack_writer_reset(). A writer that had a
 * failed write is never finished (-EIO): its temp file is removed and its
 * blobs are forgotten. */
int lb_pack_writer_finish(struct lb_pack_writer *w, uint8_t ret_id[LB_ID_SIZE]);
void lb_pack_writer_reset(struct lb_pack_writer *w);
void lb_pack_writer_free(struct lb_pack_writer *w); /* removes an unfinished temp file */

/* Packs a writer finished, with the index entries of their blobs (loc.pack
 * numbers packs[]): what index files will list (copy, prune). */
struct lb_pack_set {
        uint8_t (*packs)[LB_ID_SIZE];
        size_t npacks, packs_cap;
        struct lb_index_entry *entries;
        size_t nentries, entries_cap;
};
/* Finish w's pack (if it has blobs), add it and its blobs to set and reset
 * w. A pack that failed after it was renamed into place is added without
 * entries, so that the caller can remove it. */
int lb_pack_set_finish(struct lb_pack_set *set, struct lb_pack_writer *w);
void lb_pack_set_done(struct lb_pack_set *set);

/* Readers keep a few pack files open (one cache per thread). */
struct lb_pack_cache {
        struct lb_repo *repo;
        const struct lb_chunk_index *index;
        struct {
                uint32_t pack;
                int fd;
        } slot[8];
        unsigned next;
};
void lb_pack_cache_init(struct lb_pack_cache *c, struct lb_repo *r, const struct lb_chunk_index *x);
void lb_pack_cache_done(struct lb_pack_cache *c);
/* Read loc->length bytes of the blob at loc into buf. -ENOENT: pack missing,
 * -EBADMSG: pack shorter than the index says. Sets an error message. */
int lb_pack_read(struct lb_pack_cache *c, const struct lb_loc *loc, void *buf);

/* Checks a pack file: its SHA-256 matches its name (needs no key).
 * Returns 0, -ENOENT, or -EBADMSG (with a message). */
int lb_pack_check(struct lb_repo *r, const uint8_t pack_id[LB_ID_SIZE], uint64_t *ret_size);
