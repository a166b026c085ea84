/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Random access to the images of a snapshot, for the FUSE mount: a read at
 * any offset fetches only the chunks it needs, through the image's map.
 *
 * A reader context holds what readers share: the repository index, a cache
 * of decoded map segments (LRU, a few) and of decoded chunks (LRU, bounded
 * in bytes), both keyed by blob ID, so a chunk common to several snapshots
 * is decoded once. Memory stays bounded whatever the size of the snapshots.
 * Workers prefetch the next chunks when a reader is read sequentially.
 * Every function here is thread-safe: any number of threads may read
 * through the same or different readers at once.
 *
 * A chunk that fails its check (or cannot be found) makes the read return
 * -EIO, with a warning through the event handler (lb_set_event_handler)
 * naming the snapshot, image and byte range: a read never returns wrong
 * bytes. Zero and unused chunks read as zeros without any I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lifeboat.h"

struct lb_reader_ctx;
struct lb_image_reader;
struct lb_image_ref;

struct lb_reader_opts {
        uint64_t cache_bytes;  /* decoded chunks kept; 0: 64 MiB */
        unsigned map_segments; /* decoded map segments kept; 0: 8 */
        unsigned readahead;    /* chunks prefetched ahead of a sequential reader; 0: 8 */
        unsigned threads;      /* prefetch workers; 0: one per core (at most 8) */
        bool no_readahead;
};

struct lb_reader_stats {
        uint64_t hits, misses;      /* chunk lookups found decoded / not */
        uint64_t fetched, fetched_bytes; /* chunks read and decoded */
        uint64_t prefetched;        /* of which by the prefetch workers */
        uint64_t failures;          /* chunk or map fetches that failed */
        uint64_t index_reloads;
};

/* The repository must stay open while the context lives; the index is loaded
 * here (and again by lb_reader_ctx_reload_index, or by itself when a blob is
 * not found in it and the last load is more than a few seconds old). */
int lb_reader_ctx_new(struct lb_repo *r, const struct lb_reader_opts *opts, struct lb_reader_ctx **ret);
/* Load the index again: after new snapshots appeared in the repository. */
int lb_reader_ctx_reload_index(struct lb_reader_ctx *c);
void lb_reader_ctx_stats(struct lb_reader_ctx *c, struct lb_reader_stats *ret);
/* Every reader of the context must be closed first. */
void lb_reader_ctx_free(struct lb_reader_ctx *c);

/* A reader of image `image` (0-based) of snapshot s. The reader keeps what
 * it needs: s may be freed afterwards. */
int lb_image_reader_open_ctx(struct lb_reader_ctx *c, const struct lb_snapshot *s, size_t image,
                             struct lb_image_reader **ret);
/* The same with a private context (default options), freed with the reader. */
int lb_image_reader_open(struct lb_repo *r, const struct lb_snapshot *s, size_t image, struct lb_image_reader **ret);
uint64_t lb_image_reader_size(const struct lb_image_reader *rd);
/* Up to len bytes at off; fewer only at the end of the image (0 past it).
 * -EIO when a chunk is damaged or missing, -ENOMEM. */
ssize_t lb_image_reader_pread(struct lb_image_reader *rd, void *buf, size_t len, uint64_t off);
/* Zero-copy: *ret points to the bytes at off, up to len and the end of the
 * chunk holding them; returns their count (0 past the end), -EIO, -ENOMEM.
 * The bytes stay valid until lb_image_ref_release(*ref), which may come
 * after the reader was closed (not after its context was freed). */
struct lb_image_ref;
ssize_t lb_image_reader_peek(struct lb_image_reader *rd, uint64_t off, size_t len, const void **ret,
                             struct lb_image_ref **ref);
void lb_image_ref_release(struct lb_image_ref *ref);
void lb_image_reader_close(struct lb_image_reader *rd);
