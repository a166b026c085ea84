/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The chunk index: where each stored blob lives (pack, offset, length).
 * Loaded from every index/ file into one array sorted by ID; lookups are a
 * binary search narrowed by a fan-out table on the first byte. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

struct lb_repo;

struct lb_loc {
        uint32_t pack;   /* number into lb_chunk_index.packs */
        uint32_t length; /* blob header + payload */
        uint64_t offset;
};

struct lb_index_entry {
        uint8_t id[LB_ID_SIZE];
        struct lb_loc loc;
};

struct lb_chunk_index {
        uint8_t (*packs)[LB_ID_SIZE];
        size_t npacks;
        struct lb_index_entry *v;
        size_t n;
        uint32_t fanout[257];
        char **damaged; /* names of index files that could not be read */
        size_t ndamaged;
        bool *pack_missing; /* per pack: the file does not exist */
        size_t nmissing;
};

/* Loads (once) and returns the repository's index. */
int lb_repo_index(struct lb_repo *r, struct lb_chunk_index **ret);
int lb_chunk_index_load(struct lb_repo *r, struct lb_chunk_index **ret);
void lb_chunk_index_free(struct lb_chunk_index *x);
/* 1 and *ret when found, 0 when not. */
int lb_chunk_index_lookup(const struct lb_chunk_index *x, const uint8_t id[LB_ID_SIZE], struct lb_loc *ret);

/* Forget every entry whose pack file does not exist, so a backup stores
 * those chunks again instead of pointing at lost data. (Loading already
 * prefers, for a blob stored twice, the copy whose pack exists.) Returns the
 * number of missing packs. */
int lb_chunk_index_drop_missing(struct lb_repo *r, struct lb_chunk_index *x);

/* Parse an index blob's plaintext on its own (unsorted; for tests and fuzzing). */
int lb_index_parse(const uint8_t *p, size_t len, struct lb_chunk_index **ret);

/* Writes one index file for entries whose loc.pack numbers the given packs. */
int lb_index_file_write(struct lb_repo *r, const uint8_t (*packs)[LB_ID_SIZE], size_t npacks,
                        const struct lb_index_entry *v, size_t n);
/* Index files for packs[*indexed..npacks), per_file packs each, listing the
 * entries v (sorted by loc.pack, which numbers packs[]). *indexed advances
 * past each file written. ret_names, if not NULL, gets each file's name
 * (DIV_ROUND_UP(npacks - *indexed, per_file) slots). */
int lb_index_files_write(struct lb_repo *r, const uint8_t (*packs)[LB_ID_SIZE], size_t npacks,
                         const struct lb_index_entry *v, size_t n, size_t per_file, size_t *indexed,
                         char (*ret_names)[2 * LB_ID_SIZE + 1]);
