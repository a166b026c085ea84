/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "chunkindex.h"

#include <pthread.h>

#include "events.h"
#include "format.h"
#include "idset.h"
#include "repo.h"
#include "util.h"

struct loader {
        struct lb_chunk_index *x;
        struct lb_idset packs; /* pack ID -> number */
        size_t packs_cap, cap;
};

static int add_pack(struct loader *l, const uint8_t id[LB_ID_SIZE], uint32_t *ret)
{
        uint64_t old;
        int k = lb_idset_add(&l->packs, id, l->x->npacks, &old);
        if (k < 0)
                return k;
        if (k == 0) {
                *ret = (uint32_t)old;
                return 0;
        }
        if (l->x->npacks == l->packs_cap) {
                size_t cap = l->packs_cap ? 2 * l->packs_cap : 256;
                void *p = realloc(l->x->packs, cap * LB_ID_SIZE);
                if (!p)
                        return -ENOMEM;
                l->x->packs = p;
                l->packs_cap = cap;
        }
        memcpy(l->x->packs[l->x->npacks], id, LB_ID_SIZE);
        *ret = (uint32_t)l->x->npacks++;
        return 0;
}

/* Parse one index blob's plaintext; every count and number is checked. */
static int parse_index(struct loader *l, const uint8_t *p, size_t len)
{
        const struct lb_index_header_disk *h = (const void *)p;
        if (len < sizeof(*h))
                return -EBADMSG;
        uint64_t np = le32_get(h->npacks), ne = le32_get(h->nentries);
        if (len != sizeof(*h) + np * LB_ID_SIZE + ne * sizeof(struct lb_index_entry_disk))
                return -EBADMSG;
        _cleanup_free_ uint32_t *map = malloc((np ? np : 1) * sizeof(uint32_t));
        if (!map)
                return -ENOMEM;
        const uint8_t *q = p + sizeof(*h);
        for (uint64_t i = 0; i < np; i++, q += LB_ID_SIZE) {
                int k = add_pack(l, q, &map[i]);
                if (k < 0)
                        return k;
        }
        if (l->x->n + ne > l->cap) {
                size_t cap = MAX(l->cap * 2, l->x->n + ne);
                void *v = realloc(l->x->v, cap * sizeof(*l->x->v));
                if (!v)
                        return -ENOMEM;
                l->x->v = v;
                l->cap = cap;
        }
        for (uint64_t i = 0; i < ne; i++) {
                const struct lb_index_entry_disk *e = (const void *)(q + i * sizeof(*e));
                uint32_t pk = le32_get(e->pack), length = le32_get(e->length);
                if (pk >= np || length < sizeof(struct lb_blob_header_disk))
                        return -EBADMSG;
                struct lb_index_entry *d = &l->x->v[l->x->n++];
                memcpy(d->id, e->id, LB_ID_SIZE);
                d->loc.pack = map[pk];
                d->loc.length = length;
                d->loc.offset = le64_get(e->offset);
        }
        return 0;
}

static const bool *sort_missing; /* qsort has no context argument */

/* By ID, and for the same ID the copy in an existing pack first. */
static int cmp_entry(const void *a, const void *b)
{
        const struct lb_index_entry *x = a, *y = b;
        int c = memcmp(x->id, y->id, LB_ID_SIZE);
        if (c || !sort_missing)
                return c;
        return (int)sort_missing[x->loc.pack] - (int)sort_missing[y->loc.pack];
}

int lb_chunk_index_load(struct lb_repo *r, struct lb_chunk_index **ret)
{
        char **names = NULL;
        size_t nnames = 0;
        struct loader l = { 0 };
        int k = lb_repo_list_meta(r, "index", &names, &nnames);
        if (k < 0)
                return k;
        l.x = calloc(1, sizeof(*l.x));
        if (!l.x || lb_idset_init(&l.packs, 1024) < 0) {
                k = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < nnames; i++) {
                _cleanup_free_ uint8_t *buf = NULL;
                size_t len;
                size_t before = l.x->n;
                k = lb_repo_read_meta(r, "index", names[i], LB_INDEX_MAGIC, LB_BLOB_INDEX, &buf, &len);
                if (k == -ENOMEM)
                        goto fail;
                if (k >= 0) {
                        k = parse_index(&l, buf, len);
                        if (k == -ENOMEM)
                                goto fail;
                        if (k < 0)
                                lb_error_set(k, "index file %s is damaged (inconsistent contents)", names[i]);
                }
                if (k < 0) {
                        /* A damaged index file is not fatal: its chunks look missing,
                         * a new backup stores them again and verify reports them. */
                        l.x->n = before;
                        lb_warn("%s; ignoring it ('lifeboat verify' reports what it affects)", lb_error_get());
                        char **d = realloc(l.x->damaged, (l.x->ndamaged + 1) * sizeof(char *));
                        if (!d) {
                                k = -ENOMEM;
                                goto fail;
                        }
                        l.x->damaged = d;
                        d[l.x->ndamaged++] = TAKE_PTR(names[i]);
                        lb_error_clear();
                }
        }
        /* One stat per pack: a lost pack must not hide a good copy. */
        l.x->pack_missing = calloc(l.x->npacks ? l.x->npacks : 1, sizeof(bool));
        if (!l.x->pack_missing) {
                k = -ENOMEM;
                goto fail;
        }
        for (size_t p = 0; p < l.x->npacks; p++) {
                _cleanup_free_ char *path = lb_repo_pack_path(r, l.x->packs[p]);
                if (!path) {
                        k = -ENOMEM;
                        goto fail;
                }
                if (access(path, F_OK) < 0 && errno == ENOENT) {
                        l.x->pack_missing[p] = true;
                        l.x->nmissing++;
                }
        }
        static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&sort_lock);
        sort_missing = l.x->pack_missing;
        if (l.x->n)
                qsort(l.x->v, l.x->n, sizeof(*l.x->v), cmp_entry);
        sort_missing = NULL;
        pthread_mutex_unlock(&sort_lock);
        /* Drop duplicates (the same blob stored by two concurrent backups). */
        size_t w = 0;
        for (size_t i = 0; i < l.x->n; i++)
                if (w == 0 || memcmp(l.x->v[w - 1].id, l.x->v[i].id, LB_ID_SIZE) != 0)
                        l.x->v[w++] = l.x->v[i];
        l.x->n = w;
        for (size_t b = 0, i = 0; b <= 256; b++) {
                while (i < l.x->n && l.x->v[i].id[0] < b)
                        i++;
                l.x->fanout[b] = (uint32_t)i;
        }
        lb_idset_done(&l.packs);
        lb_strv_free(names, nnames);
        *ret = l.x;
        return 0;
fail:
        lb_idset_done(&l.packs);
        lb_strv_free(names, nnames);
        lb_chunk_index_free(l.x);
        return k;
}

int lb_chunk_index_drop_missing(struct lb_repo *r, struct lb_chunk_index *x)
{
        (void)r;
        if (!x->nmissing)
                return 0;
        size_t w = 0;
        for (size_t i = 0; i < x->n; i++)
                if (!x->pack_missing[x->v[i].loc.pack])
                        x->v[w++] = x->v[i];
        x->n = w;
        for (size_t b = 0, i = 0; b <= 256; b++) { /* rebuild the fan-out */
                while (i < x->n && x->v[i].id[0] < b)
                        i++;
                x->fanout[b] = (uint32_t)i;
        }
        return (int)x->nmissing;
}

int lb_index_parse(const uint8_t *p, size_t len, struct lb_chunk_index **ret)
{
        struct loader l = { 0 };
        int k = -ENOMEM;
        l.x = calloc(1, sizeof(*l.x));
        if (!l.x || lb_idset_init(&l.packs, 64) < 0)
                goto out;
        k = parse_index(&l, p, len);
out:
        lb_idset_done(&l.packs);
        if (k < 0) {
                lb_chunk_index_free(l.x);
                return k;
        }
        *ret = l.x;
        return 0;
}

int lb_repo_index(struct lb_repo *r, struct lb_chunk_index **ret)
{
        if (!r->index) {
                int k = lb_chunk_index_load(r, &r->index);
                if (k < 0)
                        return k;
        }
        *ret = r->index;
        return 0;
}

void lb_chunk_index_free(struct lb_chunk_index *x)
{
        if (!x)
                return;
        free(x->packs);
        free(x->v);
        free(x->pack_missing);
        lb_strv_free(x->damaged, x->ndamaged);
        free(x);
}

int lb_chunk_index_lookup(const struct lb_chunk_index *x, const uint8_t id[LB_ID_SIZE], struct lb_loc *ret)
{
        size_t lo = x->fanout[id[0]], hi = x->fanout[id[0] + 1];
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = memcmp(x->v[mid].id, id, LB_ID_SIZE);
                if (c == 0) {
                        if (ret)
                                *ret = x->v[mid].loc;
                        return 1;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return 0;
}

static int index_file_write(struct lb_repo *r, const uint8_t (*packs)[LB_ID_SIZE], size_t npacks,
                            const struct lb_index_entry *v, size_t n, uint32_t first, char name[2 * LB_ID_SIZE + 1]);

int lb_index_file_write(struct lb_repo *r, const uint8_t (*packs)[LB_ID_SIZE], size_t npacks,
                        const struct lb_index_entry *v, size_t n)
{
        char name[2 * LB_ID_SIZE + 1];
        return index_file_write(r, packs, npacks, v, n, 0, name);
}

int lb_index_files_write(struct lb_repo *r, const uint8_t (*packs)[LB_ID_SIZE], size_t npacks,
                         const struct lb_index_entry *v, size_t n, size_t per_file, size_t *indexed,
                         char (*ret_names)[2 * LB_ID_SIZE + 1])
{
        char name[2 * LB_ID_SIZE + 1];
        size_t e = 0, f = 0;
        while (*indexed < npacks) {
                size_t first = *indexed, end = MIN(npacks, first + per_file), from;
                while (e < n && v[e].loc.pack < first)
                        e++;
                for (from = e; e < n && v[e].loc.pack < end; e++)
                        ;
                int k = index_file_write(r, packs + first, end - first, v + from, e - from, (uint32_t)first,
                                         ret_names ? ret_names[f++] : name);
                if (k < 0)
                        return k;
                *indexed = end;
        }
        return 0;
}

/* Entries number packs from `first` on: the file's table is packs[0..npacks). */
static int index_file_write(struct lb_repo *r, const uint8_t (*packs)[LB_ID_SIZE], size_t npacks,
                            const struct lb_index_entry *v, size_t n, uint32_t first, char name[2 * LB_ID_SIZE + 1])
{
        size_t len = sizeof(struct lb_index_header_disk) + npacks * LB_ID_SIZE + n * sizeof(struct lb_index_entry_disk);
        _cleanup_free_ uint8_t *buf = malloc(len);
        if (!buf)
                return -ENOMEM;
        struct lb_index_header_disk *h = (void *)buf;
        le32_put(h->npacks, (uint32_t)npacks);
        le32_put(h->nentries, (uint32_t)n);
        uint8_t *q = buf + sizeof(*h);
        memcpy(q, packs, npacks * LB_ID_SIZE);
        q += npacks * LB_ID_SIZE;
        for (size_t i = 0; i < n; i++) {
                struct lb_index_entry_disk *e = (void *)(q + i * sizeof(*e));
                memcpy(e->id, v[i].id, LB_ID_SIZE);
                le32_put(e->pack, v[i].loc.pack - first);
                le32_put(e->length, v[i].loc.length);
                le64_put(e->offset, v[i].loc.offset);
        }
        return lb_repo_write_meta(r, "index", LB_INDEX_MAGIC, LB_BLOB_INDEX, buf, len, name);
}
