/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the manifest parser on a NUL-terminated copy of the input. What it
 * accepts must be self-consistent and survive lb_snapshot_to_json and a
 * second parse unchanged. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "snapshot.h"
#include "util.h"

static void check(bool cond)
{
        if (!cond)
                abort();
}

static void check_images(const struct lb_snapshot *s)
{
        for (size_t i = 0; i < s->nimages; i++) {
                const struct lb_image *im = &s->images[i];
                check(im->name && im->source && im->maps);
                check(im->chunk_size >= 4096 && (im->chunk_size & (im->chunk_size - 1)) == 0);
                check(im->nmaps == lb_image_segments(im));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *txt = malloc(size + 1);
        struct lb_snapshot *s = NULL, *s2 = NULL;
        check(txt != NULL);
        memcpy(txt, data, size);
        txt[size] = 0;
        int r = lb_manifest_parse(txt, &s);
        free(txt);
        if (r < 0) {
                check((r == -EBADMSG || r == -EPROTONOSUPPORT || r == -ENOMEM) && s == NULL);
                return 0;
        }
        check(s != NULL);
        check_images(s);

        struct lb_snapshot_info info;
        lb_snapshot_get_info(s, &info);
        check(info.nimages == s->nimages && info.ntags == s->ntags);
        for (size_t i = 0; i < s->nimages; i++) {
                struct lb_image_info ii;
                check(lb_snapshot_get_image(s, i, &ii) == 0 && ii.size == s->images[i].size);
        }
        check(lb_snapshot_get_image(s, s->nimages, &(struct lb_image_info){ 0 }) == -ENOENT);

        json_object *o = lb_snapshot_to_json(s);
        check(o != NULL);
        const char *again = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        check(again && lb_manifest_parse(again, &s2) == 0);
        json_object_put(o);
        check(s2->time == s->time && s2->nimages == s->nimages && s2->ntags == s->ntags);
        for (size_t i = 0; i < s->nimages; i++) {
                const struct lb_image *a = &s->images[i], *b = &s2->images[i];
                check(strcmp(a->name, b->name) == 0 && strcmp(a->source, b->source) == 0);
                check(a->size == b->size && a->chunk_size == b->chunk_size && a->nmaps == b->nmaps);
                check(memcmp(a->maps, b->maps, a->nmaps * LB_ID_SIZE) == 0);
        }
        lb_snapshot_free(s2);
        lb_snapshot_free(s);
        return 0;
}
