/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Snapshots: the manifest (JSON in a blob) naming each image and the map
 * blobs that give, for every chunk of the image, its chunk ID. */
#pragma once

#include <json-c/json.h>

#include "blob.h"
#include "lifeboat.h"
#include "pack.h"
#include "util.h"

struct lb_image {
        char *name, *source;
        uint64_t size;
        uint32_t chunk_size;
        uint8_t (*maps)[LB_ID_SIZE];
        size_t nmaps;
        uint8_t (*hints)[LB_ID_SIZE]; /* per segment, or NULL */
        json_object *disk;            /* layout: partition table, filesystems (disk.h) */
        struct lb_image_stats stats;
};

struct lb_snapshot {
        char id[2 * LB_ID_SIZE + 1];
        int64_t time;     /* unix seconds */
        int64_t time_ns;  /* and nanoseconds, for ordering */
        char *hostname, *version;
        char **tags;
        size_t ntags;
        uint64_t duration_ms;
        bool live; /* taken from filesystems mounted read-write: may be inconsistent */
        struct lb_image *images;
        size_t nimages;
};

static inline uint64_t lb_image_chunks(const struct lb_image *im) { return DIV_ROUND_UP(im->size, im->chunk_size); }
static inline size_t lb_image_segments(const struct lb_image *im)
{
        return (size_t)DIV_ROUND_UP(lb_image_chunks(im), LB_MAP_SEGMENT_CHUNKS);
}

/* Parse manifest JSON (no repository needed; for tests and fuzzing). */
int lb_manifest_parse(const char *txt, struct lb_snapshot **ret);
int lb_snapshot_load(struct lb_repo *r, const char *name, struct lb_snapshot **ret);
/* Writes the manifest (the commit point of a backup) and fills s->id. */
int lb_snapshot_write(struct lb_repo *r, struct lb_snapshot *s);
json_object *lb_snapshot_to_json(const struct lb_snapshot *s);

/* Load segment seg of an image's map into ids (LB_MAP_SEGMENT_CHUNKS slots);
 * *ret_n gets the number of chunks in it. */
int lb_image_map_load(struct lb_pack_cache *pc, struct lb_codec *c, const struct lb_repo *r,
                      const struct lb_image *im, size_t seg, uint8_t (*ids)[LB_ID_SIZE], size_t *ret_n);

/* Load segment seg's change-detection fingerprints (LB_HINT_SIZE each). */
int lb_image_hints_load(struct lb_pack_cache *pc, struct lb_codec *c, const struct lb_repo *r,
                        const struct lb_image *im, size_t seg, uint8_t (*hints)[LB_HINT_SIZE], size_t *ret_n);
/* As the two above, reading through the caller's buffer (*buf, *buf_size as
 * for lb_blob_fetch): on success it holds the blob as stored, to copy it. */
int lb_image_map_fetch(struct lb_pack_cache *pc, struct lb_codec *c, const struct lb_repo *r,
                       const struct lb_image *im, size_t seg, uint8_t (*ids)[LB_ID_SIZE], size_t *ret_n,
                       uint8_t **buf, size_t *buf_size);
int lb_image_hints_fetch(struct lb_pack_cache *pc, struct lb_codec *c, const struct lb_repo *r,
                         const struct lb_image *im, size_t seg, uint8_t (*hints)[LB_HINT_SIZE], size_t *ret_n,
                         uint8_t **buf, size_t *buf_size);

/* Snapshot order: time, then nanoseconds, then ID. */
int lb_snapshot_cmp(const struct lb_snapshot *a, const struct lb_snapshot *b);

/* Read one blob by ID through the index into out (max bytes). */
int lb_blob_fetch(struct lb_pack_cache *pc, struct lb_codec *c, const struct lb_repo *r, const uint8_t id[LB_ID_SIZE],
                  enum lb_blob_type type, uint8_t **buf, size_t *buf_size, void *out, size_t max, size_t *ret_len);
