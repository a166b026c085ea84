/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What changed between two snapshots of a disk: the byte ranges whose chunks
 * differ, found by comparing the image maps (no data is read). */
#include <stdio.h>

#include "blob.h"
#include "chunkindex.h"
#include "pack.h"
#include "repo.h"
#include "snapshot.h"
#include "util.h"

static int add_range(struct lb_diff_range **v, size_t *n, size_t *cap, uint64_t off, uint64_t len)
{
        if (*n && (*v)[*n - 1].offset + (*v)[*n - 1].length == off) {
                (*v)[*n - 1].length += len;
                return 0;
        }
        if (*n == *cap) {
                size_t c = *cap ? 2 * *cap : 64;
                void *p = realloc(*v, c * sizeof(**v));
                if (!p)
                        return -ENOMEM;
                *v = p;
                *cap = c;
        }
        (*v)[(*n)++] = (struct lb_diff_range){ off, len };
        return 0;
}

int lb_snapshot_diff(struct lb_repo *r, const struct lb_snapshot *a, const struct lb_snapshot *b, size_t image,
                     struct lb_diff_range **ret, size_t *ret_n, uint64_t *ret_bytes)
{
        lb_error_clear();
        if (image >= a->nimages || image >= b->nimages)
                return lb_error_set(-ENOENT, "both snapshots must have an image %zu", image + 1);
        const struct lb_image *x = &a->images[image], *y = &b->images[image];
        if (x->chunk_size != y->chunk_size)
                return lb_error_set(-EINVAL, "images %s and %s have different chunk sizes: cannot compare", x->name,
                                    y->name);
        struct lb_chunk_index *index;
        int k = lb_repo_index(r, &index);
        if (k < 0)
                return k;
        struct lb_pack_cache pc;
        lb_pack_cache_init(&pc, r, index);
        struct lb_codec *c = lb_codec_new(0);
        uint8_t(*ix)[LB_ID_SIZE] = malloc((size_t)LB_MAP_SEGMENT_CHUNKS * LB_ID_SIZE);
        uint8_t(*iy)[LB_ID_SIZE] = malloc((size_t)LB_MAP_SEGMENT_CHUNKS * LB_ID_SIZE);
        struct lb_diff_range *v = NULL;
        size_t n = 0, cap = 0;
        uint64_t bytes = 0, cs = x->chunk_size, common = MIN(x->size, y->size);
        if (!c || !ix || !iy) {
                k = -ENOMEM;
                goto out;
        }
        for (size_t g = 0; g < MIN(x->nmaps, y->nmaps); g++) {
                size_t nx, ny;
                /* the same map blob: the whole segment is unchanged */
                if (memcmp(x->maps[g], y->maps[g], LB_ID_SIZE) == 0 && x->size == y->size)
                        continue;
                if ((k = lb_image_map_load(&pc, c, r, x, g, ix, &nx)) < 0 ||
                    (k = lb_image_map_load(&pc, c, r, y, g, iy, &ny)) < 0)
                        goto out;
                for (size_t i = 0; i < MIN(nx, ny); i++) {
                        uint64_t off = ((uint64_t)g * LB_MAP_SEGMENT_CHUNKS + i) * cs;
                        if (off >= common)
                                break;
                        /* zero and unused both read as zeros */
                        if (memcmp(ix[i], iy[i], LB_ID_SIZE) == 0 ||
                            (lb_id_is_reserved(ix[i]) && lb_id_is_reserved(iy[i])))
                                continue;
                        uint64_t len = MIN(cs, common - off);
                        if ((k = add_range(&v, &n, &cap, off, len)) < 0)
                                goto out;
                        bytes += len;
                }
        }
        if (x->size != y->size) { /* what only one of them has */
                uint64_t len = MAX(x->size, y->size) - common;
                if ((k = add_range(&v, &n, &cap, common, len)) < 0)
                        goto out;
                bytes += len;
        }
        *ret = v;
        *ret_n = n;
        *ret_bytes = bytes;
        v = NULL;
        k = 0;
out:
        free(v);
        free(ix);
        free(iy);
        lb_codec_free(c);
        lb_pack_cache_done(&pc);
        return k;
}
