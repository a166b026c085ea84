/* SPDX-License-Identifier: GPL-2.0-or-later */
/* btrfs, single device: every extent recorded in the extent tree (data
 * extents and tree blocks, which covers all trees including the chunk and
 * extent trees themselves), mapped through the chunk tree to this device
 * (both copies for DUP), plus the first MiB (reserved; primary superblock,
 * boot loader) and the superblock mirrors. */
#include <inttypes.h>
#include <stdio.h>

#include "fs.h"
#include "util.h"

#define BTRFS_SUPER_OFFSET 65536
#define BTRFS_SUPER_SIZE 4096
#define BTRFS_HEADER_SIZE 101
#define BTRFS_MAX_LEVEL 8
#define BTRFS_KEY_SIZE 17

#define BTRFS_EXTENT_ITEM_KEY 168
#define BTRFS_METADATA_ITEM_KEY 169
#define BTRFS_ROOT_ITEM_KEY 132
#define BTRFS_CHUNK_ITEM_KEY 228
#define BTRFS_EXTENT_TREE_OBJECTID 2
#define BTRFS_FIRST_CHUNK_TREE_OBJECTID 256

#define BTRFS_BLOCK_GROUP_PROFILE_MASK 0x7f8ull /* RAID0..RAID1C4 and DUP */
#define BTRFS_BLOCK_GROUP_DUP (1ull << 5)

/* Incompat features whose on-disk layout this reader knows: mixed backref,
 * default subvol, mixed groups, lzo, zstd, big metadata, extended iref,
 * raid56, skinny metadata, no holes, metadata uuid, raid1c34. Zoned,
 * extent tree v2, raid stripe tree and anything newer are refused. */
#define BTRFS_INCOMPAT_KNOWN 0xfffull
#define BTRFS_INCOMPAT_ZONED (1ull << 12)
#define BTRFS_INCOMPAT_METADATA_UUID (1ull << 10)

struct stripe {
        uint64_t devid, offset;
};

struct chunk {
        uint64_t logical, length, type;
        size_t nstripes;
        struct stripe *stripes;
};

struct chunks {
        struct chunk *v;
        size_t n, cap;
};

struct btrfs {
        int fd;
        uint64_t offset, size, devid, dev_bytes;
        uint32_t nodesize, sectorsize;
        uint16_t csum_type;
        uint8_t fsid[16]; /* metadata uuid */
        struct chunks map;
        uint8_t *buf[BTRFS_MAX_LEVEL]; /* one node per level */
        uint64_t nodes_read, max_nodes;
};

typedef int (*item_fn)(struct btrfs *b, const uint8_t *key, const uint8_t *data, uint32_t len, void *userdata);

static void chunks_free(struct chunks *c)
{
        for (size_t i = 0; i < c->n; i++)
                free(c->v[i].stripes);
        free(c->v);
        *c = (struct chunks) {};
}

static int chunk_cmp(const void *a, const void *b)
{
        const struct chunk *x = a, *y = b;
        return x->logical < y->logical ? -1 : x->logical > y->logical;
}

/* Parse a btrfs_chunk item (key offset = logical start) into the map. */
static int chunks_add(struct btrfs *b, struct chunks *c, uint64_t logical, const uint8_t *p, uint32_t len)
{
        if (len < 48)
                return -EUCLEAN;
        uint64_t length = le64_get(p), type = le64_get(p + 24);
        uint16_t nstripes = le16_get(p + 44);
        if (nstripes == 0 || len < 48 + 32u * nstripes || length == 0 || logical + length < logical)
                return -EUCLEAN;
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 32;
                struct chunk *v = reallocarray(c->v, cap, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                c->v = v;
                c->cap = cap;
        }
        struct stripe *s = calloc(nstripes, sizeof(*s));
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < nstripes; i++)
                s[i] = (struct stripe) { le64_get(p + 48 + 32 * i), le64_get(p + 48 + 32 * i + 8) };
        c->v[c->n++] = (struct chunk) { logical, length, type, nstripes, s };
        return 0;
}

/* Sort, reject overlaps and profiles that stripe (only SINGLE and DUP are
 * possible on one device), check our stripes lie on the device. */
static int chunks_finish(struct btrfs *b, struct chunks *c)
{
        qsort(c->v, c->n, sizeof(*c->v), chunk_cmp);
        for (size_t i = 0; i < c->n; i++) {
                const struct chunk *k = &c->v[i];
                if (i > 0 && c->v[i - 1].logical + c->v[i - 1].length > k->logical)
                        return lb_error_set(-EUCLEAN, "btrfs chunks overlap at %" PRIu64, k->logical);
                uint64_t prof = k->type & BTRFS_BLOCK_GROUP_PROFILE_MASK;
                if (prof != 0 && prof != BTRFS_BLOCK_GROUP_DUP)
                        return lb_error_set(-EOPNOTSUPP, "btrfs chunk at %" PRIu64 " uses a striped/mirrored profile (0x%" PRIx64 ")",
                                            k->logical, k->type);
                if (k->nstripes != (prof ? 2u : 1u))
                        return lb_error_set(-EUCLEAN, "btrfs chunk at %" PRIu64 " has %zu stripes", k->logical, k->nstripes);
                for (size_t s = 0; s < k->nstripes; s++) {
                        if (k->stripes[s].devid != b->devid)
                                return lb_error_set(-EOPNOTSUPP, "btrfs chunk at %" PRIu64 " lives on another device", k->logical);
                        if (k->stripes[s].offset > b->dev_bytes || k->length > b->dev_bytes - k->stripes[s].offset)
                                return lb_error_set(-EUCLEAN, "btrfs chunk at %" PRIu64 " beyond the device", k->logical);
                }
        }
        return 0;
}

static const struct chunk *chunk_find(const struct chunks *c, uint64_t logical, uint64_t len)
{
        size_t lo = 0, hi = c->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (c->v[mid].logical + c->v[mid].length <= logical)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == c->n || c->v[lo].logical > logical || len > c->v[lo].logical + c->v[lo].length - logical)
                return NULL;
        return &c->v[lo];
}

static bool btrfs_csum_ok(const struct btrfs *b, const uint8_t *p, size_t len)
{
        if (b->csum_type != 0) /* only crc32c is verified */
                return true;
        return ~lb_crc32c(~0u, p + 32, len - 32) == le32_get(p);
}

/* Read the tree block at a logical address (trying each copy). */
static int btrfs_read_node(struct btrfs *b, uint64_t logical, unsigned level, uint8_t *buf)
{
        const struct chunk *c = chunk_find(&b->map, logical, b->nodesize);
        if (!c)
                return lb_error_set(-EUCLEAN, "btrfs tree block %" PRIu64 " not in any chunk", logical);
        if (++b->nodes_read > b->max_nodes)
                return lb_error_set(-EUCLEAN, "btrfs trees larger than the device (loop?)");
        int r = -EUCLEAN;
        for (size_t s = 0; s < c->nstripes; s++) {
                uint64_t phys = c->stripes[s].offset + (logical - c->logical);
                r = lb_fs_read(b->fd, b->offset, b->size, phys, buf, b->nodesize);
                if (r < 0)
                        continue;
                if (!btrfs_csum_ok(b, buf, b->nodesize) || le64_get(buf + 48) != logical || memcmp(buf + 32, b->fsid, 16) != 0 ||
                    buf[100] != level) {
                        r = lb_error_set(-EUCLEAN, "btrfs tree block %" PRIu64 " (level %u) is damaged", logical, level);
                        continue;
                }
                return 0;
        }
        return r;
}

static int btrfs_walk(struct btrfs *b, uint64_t logical, unsigned level, item_fn fn, void *userdata)
{
        if (level >= BTRFS_MAX_LEVEL)
                return lb_error_set(-EUCLEAN, "btrfs tree too deep");
        uint8_t *buf = b->buf[level];
        int r = btrfs_read_node(b, logical, level, buf);
        if (r < 0)
                return r;
        uint32_t nritems = le32_get(buf + 96), space = b->nodesize - BTRFS_HEADER_SIZE;
        const uint8_t *p = buf + BTRFS_HEADER_SIZE;

        if (level > 0) {
                if (nritems == 0 || nritems > space / 33)
                        return lb_error_set(-EUCLEAN, "btrfs node %" PRIu64 ": bad item count", logical);
                for (uint32_t i = 0; i < nritems; i++) {
                        /* buf is reused by the level below: re-read the pointer each time */
                        uint64_t child = le64_get(b->buf[level] + BTRFS_HEADER_SIZE + i * 33 + BTRFS_KEY_SIZE);
                        r = btrfs_walk(b, child, level - 1, fn, userdata);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (nritems > space / 25)
                return lb_error_set(-EUCLEAN, "btrfs leaf %" PRIu64 ": bad item count", logical);
        for (uint32_t i = 0; i < nritems; i++) {
                const uint8_t *item = p + i * 25;
                uint32_t off = le32_get(item + 17), len = le32_get(item + 21);
                if (off > space || len > space - off || off < nritems * 25)
                        return lb_error_set(-EUCLEAN, "btrfs leaf %" PRIu64 ": item %u out of bounds", logical, i);
                r = fn(b, item, p + off, len, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int chunk_item(struct btrfs *b, const uint8_t *key, const uint8_t *data, uint32_t len, void *userdata)
{
        if (key[8] != BTRFS_CHUNK_ITEM_KEY)
                return 0;
        int r = chunks_add(b, userdata, le64_get(key + 9), data, len);
        return r == -EUCLEAN ? lb_error_set(r, "bad btrfs chunk item") : r;
}

struct root_lookup {
        uint64_t objectid, bytenr;
        unsigned level;
        bool found;
};

static int root_item(struct btrfs *b, const uint8_t *key, const uint8_t *data, uint32_t len, void *userdata)
{
        struct root_lookup *l = userdata;
        if (key[8] != BTRFS_ROOT_ITEM_KEY || le64_get(key) != l->objectid)
                return 0;
        if (len < 239)
                return lb_error_set(-EUCLEAN, "short btrfs root item");
        l->bytenr = le64_get(data + 176);
        l->level = data[238];
        l->found = true;
        return 0;
}

static int extent_item(struct btrfs *b, const uint8_t *key, const uint8_t *data, uint32_t len, void *userdata)
{
        uint64_t start = le64_get(key), n;
        if (key[8] == BTRFS_EXTENT_ITEM_KEY)
                n = le64_get(key + 9);
        else if (key[8] == BTRFS_METADATA_ITEM_KEY)
                n = b->nodesize;
        else
                return 0;
        const struct chunk *c = chunk_find(&b->map, start, n);
        if (!c || n == 0)
                return lb_error_set(-EUCLEAN, "btrfs extent %" PRIu64 "+%" PRIu64 " not inside a chunk", start, n);
        for (size_t s = 0; s < c->nstripes; s++) {
                int r = lb_extents_add(userdata, c->stripes[s].offset + (start - c->logical), n);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int btrfs_used(int fd, uint64_t offset, uint64_t size, struct lb_extents *ret, struct lb_fs_info *info)
{
        uint8_t sb[BTRFS_SUPER_SIZE];
        struct chunks tree_map = {};
        int r;

        lb_fs_info_init(info, "btrfs");
        r = lb_fs_read(fd, offset, size, BTRFS_SUPER_OFFSET, sb, sizeof(sb));
        if (r < 0)
                return r;
        if (memcmp(sb + 0x40, "_BHRfS_M", 8) != 0)
                return lb_error_set(-EUCLEAN, "no btrfs superblock");

        struct btrfs b = { .fd = fd, .offset = offset, .size = size };
        b.csum_type = le16_get(sb + 0xc4);
        if (b.csum_type > 3)
                return lb_error_set(-EOPNOTSUPP, "unknown btrfs checksum type %u", b.csum_type);
        if (!btrfs_csum_ok(&b, sb, sizeof(sb)))
                return lb_error_set(-EUCLEAN, "btrfs superblock checksum mismatch");
        if (le64_get(sb + 0x30) != BTRFS_SUPER_OFFSET)
                return lb_error_set(-EUCLEAN, "btrfs superblock at the wrong place");

        uint64_t incompat = le64_get(sb + 0xbc), ndev = le64_get(sb + 0x88);
        if ((incompat & ~BTRFS_INCOMPAT_KNOWN) || (incompat & BTRFS_INCOMPAT_ZONED))
                return lb_error_set(-EOPNOTSUPP, "btrfs incompat features 0x%" PRIx64 " not supported", incompat);
        if (ndev != 1)
                return lb_error_set(-EOPNOTSUPP, "btrfs filesystem spans %" PRIu64 " devices", ndev);
        if (le64_get(sb + 0x60) != 0)
                return lb_error_set(-EUCLEAN, "btrfs has a tree log to replay (not cleanly unmounted); "
                                    "its extent tree is not complete");
        b.sectorsize = le32_get(sb + 0x90);
        b.nodesize = le32_get(sb + 0x94);
        if (b.sectorsize < 4096 || b.sectorsize > 65536 || (b.sectorsize & (b.sectorsize - 1)) || b.nodesize < b.sectorsize ||
            b.nodesize > 65536 || (b.nodesize & (b.nodesize - 1)))
                return lb_error_set(-EUCLEAN, "bad btrfs sector/node size");
        const uint8_t *dev = sb + 0xc9;
        b.devid = le64_get(dev);
        b.dev_bytes = le64_get(dev + 8);
        if (b.dev_bytes < 1024 * 1024 || b.dev_bytes > size)
                return lb_error_set(-EUCLEAN, "btrfs device (%" PRIu64 " bytes) larger than its volume (%" PRIu64 " bytes)",
                                    b.dev_bytes, size);
        memcpy(b.fsid, incompat & BTRFS_INCOMPAT_METADATA_UUID ? sb + 0x23b : sb + 0x20, 16);
        b.max_nodes = b.dev_bytes / b.nodesize * 2;

        info->block_size = b.sectorsize;
        info->total_bytes = b.dev_bytes;
        snprintf(info->label, sizeof(info->label), "%.255s", (const char *)sb + 0x12b);
        lb_fs_uuid_format(sb + 0x20, info->uuid, sizeof(info->uuid));

        for (size_t i = 0; i < BTRFS_MAX_LEVEL; i++)
                if (!(b.buf[i] = malloc(b.nodesize))) {
                        r = -ENOMEM;
                        goto finish;
                }

        /* Bootstrap: the system chunks stored in the superblock. */
        uint32_t arr = le32_get(sb + 0xa0);
        if (arr > 2048) {
                r = lb_error_set(-EUCLEAN, "bad btrfs system chunk array size");
                goto finish;
        }
        for (uint32_t pos = 0; pos < arr;) {
                const uint8_t *k = sb + 0x32b + pos;
                if (arr - pos < BTRFS_KEY_SIZE + 48 || k[8] != BTRFS_CHUNK_ITEM_KEY) {
                        r = lb_error_set(-EUCLEAN, "bad btrfs system chunk array");
                        goto finish;
                }
                uint32_t ilen = 48 + 32u * le16_get(k + BTRFS_KEY_SIZE + 44);
                if (ilen > arr - pos - BTRFS_KEY_SIZE) {
                        r = lb_error_set(-EUCLEAN, "bad btrfs system chunk array");
                        goto finish;
                }
                r = chunks_add(&b, &b.map, le64_get(k + 9), k + BTRFS_KEY_SIZE, ilen);
                if (r < 0)
                        goto finish;
                pos += BTRFS_KEY_SIZE + ilen;
        }
        r = chunks_finish(&b, &b.map);
        if (r < 0)
                goto finish;

        /* All chunks, from the chunk tree. */
        r = btrfs_walk(&b, le64_get(sb + 0x58), sb[0xc7], chunk_item, &tree_map);
        if (r < 0)
                goto finish;
        chunks_free(&b.map);
        b.map = tree_map;
        tree_map = (struct chunks) {};
        r = chunks_finish(&b, &b.map);
        if (r < 0)
                goto finish;

        /* The extent tree, found in the root tree. */
        struct root_lookup l = { .objectid = BTRFS_EXTENT_TREE_OBJECTID };
        r = btrfs_walk(&b, le64_get(sb + 0x50), sb[0xc6], root_item, &l);
        if (r < 0)
                goto finish;
        if (!l.found) {
                r = lb_error_set(-EUCLEAN, "btrfs root tree has no extent tree");
                goto finish;
        }

        /* Reserved first MiB (primary superblock, boot loader) and mirrors. */
        r = lb_extents_add(ret, 0, 1024 * 1024);
        for (uint64_t m = 64ull << 20; r >= 0 && m + BTRFS_SUPER_SIZE <= b.dev_bytes && m <= (256ull << 30); m <<= 12)
                r = lb_extents_add(ret, m, BTRFS_SUPER_SIZE);
        if (r < 0)
                goto finish;

        r = btrfs_walk(&b, l.bytenr, l.level, extent_item, ret);
        if (r < 0)
                goto finish;
        info->used_bytes = lb_extents_total(ret);
        r = 0;
finish:
        for (size_t i = 0; i < BTRFS_MAX_LEVEL; i++)
                free(b.buf[i]);
        chunks_free(&b.map);
        chunks_free(&tree_map);
        return r;
}

static const char *const btrfs_types[] = { "btrfs", NULL };

const struct lb_fs_ops lb_fs_btrfs = {
        .name = "btrfs",
        .blkid_types = btrfs_types,
        .used = btrfs_used,
};
