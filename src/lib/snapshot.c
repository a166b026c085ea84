/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "snapshot.h"

#include <stdio.h>

#include "events.h"

#include "repo.h"
#include "util.h"

static void image_done(struct lb_image *im)
{
        free(im->name);
        free(im->source);
        free(im->maps);
        free(im->hints);
        json_object_put(im->disk);
}

void lb_snapshot_free(struct lb_snapshot *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->nimages; i++)
                image_done(&s->images[i]);
        free(s->images);
        lb_strv_free(s->tags, s->ntags);
        free(s->hostname);
        free(s->version);
        free(s);
}

static json_object *stats_to_json(const struct lb_image_stats *st)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "bytes_read", json_object_new_int64((int64_t)st->bytes_read));
        json_object_object_add(o, "zero_bytes", json_object_new_int64((int64_t)st->zero_bytes));
        json_object_object_add(o, "unused_bytes", json_object_new_int64((int64_t)st->unused_bytes));
        json_object_object_add(o, "new_chunks", json_object_new_int64((int64_t)st->new_chunks));
        json_object_object_add(o, "dedup_chunks", json_object_new_int64((int64_t)st->dedup_chunks));
        json_object_object_add(o, "unchanged_chunks", json_object_new_int64((int64_t)st->unchanged_chunks));
        json_object_object_add(o, "new_bytes", json_object_new_int64((int64_t)st->new_bytes));
        json_object_object_add(o, "stored_bytes", json_object_new_int64((int64_t)st->stored_bytes));
        return o;
}

json_object *lb_snapshot_to_json(const struct lb_snapshot *s)
{
        json_object *o = json_object_new_object();
        char hex[2 * LB_ID_SIZE + 1];
        json_object_object_add(o, "version", json_object_new_int(LB_REPO_VERSION));
        json_object_object_add(o, "time", json_object_new_int64(s->time));
        json_object_object_add(o, "time_ns", json_object_new_int64(s->time_ns));
        json_object_object_add(o, "hostname", json_object_new_string(s->hostname ? s->hostname : ""));
        json_object_object_add(o, "lifeboat_version", json_object_new_string(s->version ? s->version : ""));
        json_object_object_add(o, "duration_ms", json_object_new_int64((int64_t)s->duration_ms));
        json_object_object_add(o, "live", json_object_new_boolean(s->live));
        json_object *tags = json_object_new_array();
        for (size_t i = 0; i < s->ntags; i++)
                json_object_array_add(tags, json_object_new_string(s->tags[i]));
        json_object_object_add(o, "tags", tags);
        json_object *imgs = json_object_new_array();
        for (size_t i = 0; i < s->nimages; i++) {
                const struct lb_image *im = &s->images[i];
                json_object *j = json_object_new_object();
                json_object_object_add(j, "name", json_object_new_string(im->name));
                json_object_object_add(j, "source", json_object_new_string(im->source));
                json_object_object_add(j, "size", json_object_new_int64((int64_t)im->size));
                json_object_object_add(j, "chunk_size", json_object_new_int64(im->chunk_size));
                json_object *maps = json_object_new_array();
                for (size_t m = 0; m < im->nmaps; m++) {
                        hex_encode(im->maps[m], LB_ID_SIZE, hex);
                        json_object_array_add(maps, json_object_new_string(hex));
                }
                json_object_object_add(j, "maps", maps);
                if (im->hints) {
                        json_object *hints = json_object_new_array();
                        for (size_t m = 0; m < im->nmaps; m++) {
                                hex_encode(im->hints[m], LB_ID_SIZE, hex);
                                json_object_array_add(hints, json_object_new_string(hex));
                        }
                        json_object_object_add(j, "hints", hints);
                }
                json_object_object_add(j, "stats", stats_to_json(&im->stats));
                if (im->disk)
                        json_object_object_add(j, "disk", json_object_get(im->disk));
                json_object_array_add(imgs, j);
        }
        json_object_object_add(o, "images", imgs);
        return o;
}

int lb_snapshot_write(struct lb_repo *r, struct lb_snapshot *s)
{
        json_object *o = lb_snapshot_to_json(s);
        const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        int k = lb_repo_write_meta(r, "snapshots", LB_SNAPSHOT_MAGIC, LB_BLOB_MANIFEST, txt, strlen(txt), s->id);
        json_object_put(o);
        return k;
}

static json_object *get(json_object *o, const char *k, json_type t)
{
        json_object *v;
        if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, t))
                return NULL;
        return v;
}

static bool get_u64(json_object *o, const char *k, uint64_t *ret)
{
        json_object *v = get(o, k, json_type_int);
        if (!v || json_object_get_int64(v) < 0)
                return false;
        *ret = (uint64_t)json_object_get_int64(v);
        return true;
}

static char *get_str(json_object *o, const char *k)
{
        json_object *v = get(o, k, json_type_string);
        return v ? strdup(json_object_get_string(v)) : NULL;
}

static int parse_image(json_object *j, struct lb_image *im)
{
        uint64_t cs;
        json_object *maps = get(j, "maps", json_type_array), *st = get(j, "stats", json_type_object);
        im->name = get_str(j, "name");
        im->source = get_str(j, "source");
        if (!im->name || !im->source || !maps || !get_u64(j, "size", &im->size) || !get_u64(j, "chunk_size", &cs) ||
            cs < 4096 || cs > (64u << 20) || (cs & (cs - 1)))
                return -EBADMSG;
        im->chunk_size = (uint32_t)cs;
        im->nmaps = json_object_array_length(maps);
        if (im->nmaps != lb_image_segments(im))
                return -EBADMSG;
        im->maps = calloc(im->nmaps ? im->nmaps : 1, LB_ID_SIZE);
        if (!im->maps)
                return -ENOMEM;
        for (size_t m = 0; m < im->nmaps; m++) {
                json_object *h = json_object_array_get_idx(maps, m);
                if (!json_object_is_type(h, json_type_string) ||
                    hex_decode(json_object_get_string(h), im->maps[m], LB_ID_SIZE) < 0)
                        return -EBADMSG;
        }
        json_object *disk = get(j, "disk", json_type_object);
        if (disk)
                im->disk = json_object_get(disk);
        json_object *hints = get(j, "hints", json_type_array);
        if (hints) {
                if (json_object_array_length(hints) != im->nmaps)
                        return -EBADMSG;
                im->hints = calloc(im->nmaps ? im->nmaps : 1, LB_ID_SIZE);
                if (!im->hints)
                        return -ENOMEM;
                for (size_t m = 0; m < im->nmaps; m++) {
                        json_object *h = json_object_array_get_idx(hints, m);
                        if (!json_object_is_type(h, json_type_string) ||
                            hex_decode(json_object_get_string(h), im->hints[m], LB_ID_SIZE) < 0)
                                return -EBADMSG;
                }
        }
        if (st) {
                get_u64(st, "bytes_read", &im->stats.bytes_read);
                get_u64(st, "zero_bytes", &im->stats.zero_bytes);
                get_u64(st, "unused_bytes", &im->stats.unused_bytes);
                get_u64(st, "new_chunks", &im->stats.new_chunks);
                get_u64(st, "dedup_chunks", &im->stats.dedup_chunks);
                get_u64(st, "unchanged_chunks", &im->stats.unchanged_chunks);
                get_u64(st, "new_bytes", &im->stats.new_bytes);
                get_u64(st, "stored_bytes", &im->stats.stored_bytes);
        }
        return 0;
}

static int parse_manifest(const char *txt, struct lb_snapshot *s)
{
        json_object *o = json_tokener_parse(txt);
        json_object *imgs = get(o, "images", json_type_array), *tags = get(o, "tags", json_type_array);
        json_object *t = get(o, "time", json_type_int);
        int k = -EBADMSG;
        uint64_t ver = 0;
        if (!o || !imgs || !t || !get_u64(o, "version", &ver))
                goto out;
        if (ver > LB_REPO_VERSION) {
                k = -EPROTONOSUPPORT;
                goto out;
        }
        s->time = json_object_get_int64(t);
        uint64_t ns = 0;
        if (get_u64(o, "time_ns", &ns) && ns < 1000000000)
                s->time_ns = (int64_t)ns;
        s->hostname = get_str(o, "hostname");
        s->version = get_str(o, "lifeboat_version");
        get_u64(o, "duration_ms", &s->duration_ms);
        json_object *live = get(o, "live", json_type_boolean);
        s->live = live && json_object_get_boolean(live);
        if (tags) {
                size_t n = json_object_array_length(tags);
                s->tags = calloc(n ? n : 1, sizeof(char *));
                if (!s->tags) {
                        k = -ENOMEM;
                        goto out;
                }
                for (size_t i = 0; i < n; i++) {
                        json_object *v = json_object_array_get_idx(tags, i);
                        if (!json_object_is_type(v, json_type_string))
                                goto out;
                        if (!(s->tags[s->ntags] = strdup(json_object_get_string(v)))) {
                                k = -ENOMEM;
                                goto out;
                        }
                        s->ntags++;
                }
        }
        size_t n = json_object_array_length(imgs);
        s->images = calloc(n ? n : 1, sizeof(*s->images));
        if (!s->images) {
                k = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                s->nimages++;
                k = parse_image(json_object_array_get_idx(imgs, i), &s->images[i]);
                if (k < 0)
                        goto out;
        }
        k = 0;
out:
        json_object_put(o);
        return k;
}

int lb_manifest_parse(const char *txt, struct lb_snapshot **ret)
{
        struct lb_snapshot *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        int k = parse_manifest(txt, s);
        if (k < 0) {
                lb_snapshot_free(s);
                return k;
        }
        *ret = s;
        return 0;
}

int lb_snapshot_load(struct lb_repo *r, const char *name, struct lb_snapshot **ret)
{
        _cleanup_free_ uint8_t *txt = NULL;
        size_t len;
        int k = lb_repo_read_meta(r, "snapshots", name, LB_SNAPSHOT_MAGIC, LB_BLOB_MANIFEST, &txt, &len);
        if (k < 0)
                return k;
        struct lb_snapshot *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        snprintf(s->id, sizeof(s->id), "%s", name);
        k = parse_manifest((const char *)txt, s);
        if (k < 0) {
                lb_snapshot_free(s);
                if (k == -EPROTONOSUPPORT)
                        return lb_error_set(k, "snapshot %.8s was written by a newer Lifeboat: upgrade Lifeboat", name);
                if (k == -EBADMSG)
                        return lb_error_set(k, "snapshot %.8s has a damaged manifest", name);
                return k;
        }
        *ret = s;
        return 0;
}

static int cmp_time(const void *a, const void *b)
{
        return lb_snapshot_cmp(*(struct lb_snapshot *const *)a, *(struct lb_snapshot *const *)b);
}

int lb_snapshot_cmp(const struct lb_snapshot *x, const struct lb_snapshot *y)
{
        if (x->time != y->time)
                return x->time < y->time ? -1 : 1;
        if (x->time_ns != y->time_ns)
                return x->time_ns < y->time_ns ? -1 : 1;
        return strcmp(x->id, y->id);
}

int lb_snapshot_list(struct lb_repo *r, struct lb_snapshot ***ret, size_t *ret_n)
{
        char **names;
        size_t n, m = 0;
        int k = lb_repo_list_meta(r, "snapshots", &names, &n);
        if (k < 0)
                return k;
        struct lb_snapshot **v = calloc(n ? n : 1, sizeof(*v));
        if (!v) {
                lb_strv_free(names, n);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                k = lb_snapshot_load(r, names[i], &v[m]);
                if (k == -ENOMEM) {
                        lb_snapshot_list_free(v, m);
                        lb_strv_free(names, n);
                        return k;
                }
                if (k < 0) {
                        lb_warn("%s; skipping it", lb_error_get() ? lb_error_get() : "unreadable snapshot");
                        lb_error_clear();
                        continue;
                }
                m++;
        }
        lb_strv_free(names, n);
        if (m)
                qsort(v, m, sizeof(*v), cmp_time);
        *ret = v;
        *ret_n = m;
        return 0;
}

void lb_snapshot_list_free(struct lb_snapshot **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                lb_snapshot_free(v[i]);
        free(v);
}

int lb_snapshot_find(struct lb_repo *r, const char *spec, struct lb_snapshot **ret)
{
        char **names;
        size_t n;
        lb_error_clear();
        if (strcmp(spec, "latest") == 0) {
                struct lb_snapshot **v;
                int k = lb_snapshot_list(r, &v, &n);
                if (k < 0)
                        return k;
                if (n == 0) {
                        free(v);
                        return lb_error_set(-ENOENT, "repository %s has no snapshots yet", r->path);
                }
                *ret = v[n - 1];
                v[n - 1] = NULL;
                lb_snapshot_list_free(v, n);
                return 0;
        }
        size_t len = strlen(spec);
        if (len < 4 || len > 2 * LB_ID_SIZE || strspn(spec, "0123456789abcdef") != len)
                return lb_error_set(-EINVAL, "'%s' is not a snapshot: give 'latest' or an ID (at least 4 hex digits, see 'lifeboat list')", spec);
        int k = lb_repo_list_meta(r, "snapshots", &names, &n);
        if (k < 0)
                return k;
        const char *match = NULL;
        size_t hits = 0;
        for (size_t i = 0; i < n; i++)
                if (strncmp(names[i], spec, len) == 0) {
                        match = names[i];
                        hits++;
                }
        if (hits == 0)
                k = lb_error_set(-ENOENT, "no snapshot %s in %s (see 'lifeboat list')", spec, r->path);
        else if (hits > 1)
                k = lb_error_set(-EINVAL, "snapshot ID %s is ambiguous: give more digits", spec);
        else
                k = lb_snapshot_load(r, match, ret);
        lb_strv_free(names, n);
        return k;
}

void lb_snapshot_get_info(const struct lb_snapshot *s, struct lb_snapshot_info *ret)
{
        ret->id = s->id;
        ret->time = s->time;
        ret->hostname = s->hostname ? s->hostname : "";
        ret->version = s->version ? s->version : "";
        ret->tags = (const char *const *)s->tags;
        ret->ntags = s->ntags;
        ret->nimages = s->nimages;
        ret->duration_ms = s->duration_ms;
        ret->live = s->live;
}

int lb_snapshot_get_image(const struct lb_snapshot *s, size_t i, struct lb_image_info *ret)
{
        if (i >= s->nimages)
                return -ENOENT;
        const struct lb_image *im = &s->images[i];
        ret->name = im->name;
        ret->source = im->source;
        ret->size = im->size;
        ret->chunk_size = im->chunk_size;
        ret->stats = im->stats;
        ret->layout_json = im->disk ? json_object_to_json_string_ext(im->disk, JSON_C_TO_STRING_PLAIN) : NULL;
        return 0;
}

char *lb_snapshot_info_json(const struct lb_snapshot *s)
{
        struct lb_snapshot_info si;
        struct lb_image_info ii;
        lb_snapshot_get_info(s, &si);
        json_object *o = json_object_new_object(), *imgs = json_object_new_array(), *tags = json_object_new_array();
        json_object_object_add(o, "id", json_object_new_string(si.id));
        json_object_object_add(o, "time", json_object_new_int64(si.time));
        json_object_object_add(o, "hostname", json_object_new_string(si.hostname));
        json_object_object_add(o, "lifeboat_version", json_object_new_string(si.version));
        json_object_object_add(o, "duration_ms", json_object_new_int64((int64_t)si.duration_ms));
        json_object_object_add(o, "live", json_object_new_boolean(si.live));
        for (size_t k = 0; k < si.ntags; k++)
                json_object_array_add(tags, json_object_new_string(si.tags[k]));
        json_object_object_add(o, "tags", tags);
        for (size_t k = 0; k < si.nimages; k++) {
                if (lb_snapshot_get_image(s, k, &ii) < 0)
                        continue;
                json_object *j = json_object_new_object();
                json_object_object_add(j, "name", json_object_new_string(ii.name));
                json_object_object_add(j, "source", json_object_new_string(ii.source));
                json_object_object_add(j, "size", json_object_new_int64((int64_t)ii.size));
                json_object_object_add(j, "chunk_size", json_object_new_int64(ii.chunk_size));
                json_object_object_add(j, "bytes_read", json_object_new_int64((int64_t)ii.stats.bytes_read));
                json_object_object_add(j, "zero_bytes", json_object_new_int64((int64_t)ii.stats.zero_bytes));
                json_object_object_add(j, "new_chunks", json_object_new_int64((int64_t)ii.stats.new_chunks));
                json_object_object_add(j, "dedup_chunks", json_object_new_int64((int64_t)ii.stats.dedup_chunks));
                json_object_object_add(j, "new_bytes", json_object_new_int64((int64_t)ii.stats.new_bytes));
                json_object_object_add(j, "stored_bytes", json_object_new_int64((int64_t)ii.stats.stored_bytes));
                json_object_object_add(j, "unused_bytes", json_object_new_int64((int64_t)ii.stats.unused_bytes));
                json_object_object_add(j, "unchanged_chunks", json_object_new_int64((int64_t)ii.stats.unchanged_chunks));
                if (ii.layout_json)
                        json_object_object_add(j, "disk", json_tokener_parse(ii.layout_json));
                json_object_array_add(imgs, j);
        }
        json_object_object_add(o, "images", imgs);
        char *res = NULL;
        if (asprintf(&res, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
                res = NULL;
        json_object_put(o);
        return res;
}

int lb_blob_fetch(struct lb_pack_cache *pc, struct lb_codec *c, const struct lb_repo *r, const uint8_t id[LB_ID_SIZE],
                  enum lb_blob_type type, uint8_t **buf, size_t *buf_size, void *out, size_t max, size_t *ret_len)
{
        struct lb_loc loc;
        char hex[2 * LB_ID_SIZE + 1];
        if (!lb_chunk_index_lookup(pc->index, id, &loc)) {
                hex_encode(id, LB_ID_SIZE, hex);
                return lb_error_set(-ENOENT, "blob %.16s is not in the repository index", hex);
        }
        if (*buf_size < loc.length) {
                uint8_t *p = realloc(*buf, loc.length);
                if (!p)
                        return -ENOMEM;
                *buf = p;
                *buf_size = loc.length;
        }
        int k = lb_pack_read(pc, &loc, *buf);
        if (k < 0)
                return k;
        k = lb_blob_decode(c, lb_repo_key(r), *buf, loc.length, type, id, out, max, ret_len);
        if (k < 0) {
                hex_encode(pc->index->packs[loc.pack], LB_ID_SIZE, hex);
                return lb_error_set(k, "data damaged in pack %.16s at offset %llu", hex, (unsigned long long)loc.offset);
        }
        return 0;
}

int lb_image_map_load(struct lb_pack_cache *pc, struct lb_codec *c, const struct lb_repo *r,
                      const struct lb_image *im, size_t seg, uint8_t (*ids)[LB_ID_SIZE], size_t *ret_n)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t buf_size = 0;
        return lb_image_map_fetch(pc, c, r, im, seg, ids, ret_n, &buf, &buf_size);
}

int lb_image_map_fetch(struct lb_pack_cache *pc, struct lb_codec *c, const struct lb_repo *r,
                       const struct lb_image *im, size_t seg, uint8_t (*ids)[LB_ID_SIZE], size_t *ret_n,
                       uint8_t **buf, size_t *buf_size)
{
        uint64_t nch = lb_image_chunks(im), first = (uint64_t)seg * LB_MAP_SEGMENT_CHUNKS;
        size_t n = (size_t)MIN((uint64_t)LB_MAP_SEGMENT_CHUNKS, nch - first), len;
        if (seg >= im->nmaps)
                return -EINVAL;
        int k = lb_blob_fetch(pc, c, r, im->maps[seg], LB_BLOB_MAP, buf, buf_size, ids,
                              (size_t)LB_MAP_SEGMENT_CHUNKS * LB_ID_SIZE, &len);
        if (k < 0)
                return k;
        if (len != n * LB_ID_SIZE)
                return lb_error_set(-EBADMSG, "map %zu of image %s has %zu entries, expected %zu", seg, im->name,
                                    len / LB_ID_SIZE, n);
        *ret_n = n;
        return 0;
}

int lb_image_hints_load(struct lb_pack_cache *pc, struct lb_codec *c, const struct lb_repo *r,
                        const struct lb_image *im, size_t seg, uint8_t (*hints)[LB_HINT_SIZE], size_t *ret_n)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t buf_size = 0;
        return lb_image_hints_fetch(pc, c, r, im, seg, hints, ret_n, &buf, &buf_size);
}

int lb_image_hints_fetch(struct lb_pack_cache *pc, struct lb_codec *c, const struct lb_repo *r,
                         const struct lb_image *im, size_t seg, uint8_t (*hints)[LB_HINT_SIZE], size_t *ret_n,
                         uint8_t **buf, size_t *buf_size)
{
        size_t len;
        uint64_t nch = lb_image_chunks(im), first = (uint64_t)seg * LB_MAP_SEGMENT_CHUNKS;
        size_t n = (size_t)MIN((uint64_t)LB_MAP_SEGMENT_CHUNKS, nch - first);
        if (!im->hints || seg >= im->nmaps)
                return -ENOENT;
        int k = lb_blob_fetch(pc, c, r, im->hints[seg], LB_BLOB_HINTS, buf, buf_size, hints,
                              (size_t)LB_MAP_SEGMENT_CHUNKS * LB_HINT_SIZE, &len);
        if (k < 0)
                return k;
        if (len != n * LB_HINT_SIZE)
                return lb_error_set(-EBADMSG, "hints %zu of image %s have the wrong size", seg, im->name);
        *ret_n = n;
        return 0;
}
