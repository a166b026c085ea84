/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A repository on a local path: config, keys, and the crash-safe
 * "metadata file" (header + one blob, named by its SHA-256) used for index
 * files and snapshot manifests. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "format.h"

struct lb_chunk_index;

struct lb_repo {
        char *path;
        char *tmpdir;
        uint8_t repo_id[16];
        uint32_t chunk_size; /* default for new images */
        uint32_t pack_size;  /* target pack file size */
        bool encrypted;
        struct lb_master_key key; /* valid when encrypted and unlocked */
        uint8_t hint_key[LB_KEY_SIZE]; /* keys the change-detection fingerprints */
        struct lb_chunk_index *index; /* loaded on first use */
        /* Metadata files written through this handle are encrypted with salts
         * derived from their content, so they are reproducible (lifeboat copy). */
        bool fixed_salts;
        int lock_fd;        /* the repository lock (lb_repo_lock), or -1 */
        bool lock_exclusive;
};

static inline const struct lb_master_key *lb_repo_key(const struct lb_repo *r)
{
        return r->encrypted ? &r->key : NULL;
}

/* Make path ready to become a repository: create it (and missing parents,
 * mode 0700) or accept an empty directory (lost+found is tolerated), then
 * its subdirectories. Returns 1 if it created path, 0 if path was there;
 * -EEXIST with a message if path is anything else. */
int lb_repo_create_layout(const char *path);

/* Meta files live in subdir ("index", "snapshots") as <sha256 of file>. */
int lb_repo_write_meta(struct lb_repo *r, const char *subdir, const char *magic, enum lb_blob_type type,
                       const void *plain, size_t n, char ret_name[2 * LB_ID_SIZE + 1]);
int lb_repo_read_meta(struct lb_repo *r, const char *subdir, const char *name, const char *magic,
                      enum lb_blob_type type, uint8_t **ret, size_t *ret_len);
/* List the names in subdir that look like meta files (64 hex digits). */
int lb_repo_list_meta(struct lb_repo *r, const char *subdir, char ***ret, size_t *ret_n);
void lb_strv_free(char **v, size_t n);

/* Remove files in tmp/ not modified for older_than_s seconds: what a killed
 * backup left behind. (Age, not process IDs: a repository on a NAS is shared
 * by several machines.) Returns the number removed. */
int lb_repo_clean_tmp(struct lb_repo *r, int64_t older_than_s);

char *lb_repo_pack_path(const struct lb_repo *r, const uint8_t pack_id[LB_ID_SIZE]);
