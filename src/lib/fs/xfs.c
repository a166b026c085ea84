/* SPDX-License-Identifier: GPL-2.0-or-later */
/* XFS: per allocation group, the free extents from the by-block-number
 * free-space B+tree (AGF bnobt), inverted. Everything not recorded free
 * (AG headers, inodes, B+trees, the AGFL, an internal log, data) is used. */
#include <inttypes.h>
#include <stdio.h>

#include "fs.h"
#include "util.h"

#define NULLAGBLOCK 0xffffffffu
#define XFS_MAX_LEVELS 9

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

struct xfs {
        int fd;
        uint64_t offset, size;
        uint32_t bs, sectsize, agblocks;
        bool crc;
        uint8_t uuid[16]; /* sb_meta_uuid on v5 */
        uint8_t *buf;     /* one block */
};

/* CRC-32C of a metadata object with its 4-byte checksum field taken as 0;
 * stored little-endian and inverted. */
static bool xfs_crc_ok(const uint8_t *p, size_t len, size_t crc_off)
{
        static const uint8_t zero[4];
        uint32_t c = lb_crc32c(~0u, p, crc_off);
        c = lb_crc32c(c, zero, 4);
        c = lb_crc32c(c, p + crc_off + 4, len - crc_off - 4);
        return ~c == le32_get(p + crc_off);
}

static int xfs_read_btree_block(struct xfs *x, uint32_t agno, uint32_t agbno, unsigned level)
{
        uint64_t blk = (uint64_t)agno * x->agblocks + agbno;
        int r = lb_fs_read(x->fd, x->offset, x->size, blk * x->bs, x->buf, x->bs);
        if (r < 0)
                return r;
        const uint8_t *b = x->buf;
        if (memcmp(b, x->crc ? "AB3B" : "ABTB", 4) != 0)
                return lb_error_set(-EUCLEAN, "XFS AG %u block %u: bad free-space B+tree magic", agno, agbno);
        if (be16(b + 4) != level)
                return lb_error_set(-EUCLEAN, "XFS AG %u block %u: free-space B+tree level %u, expected %u", agno, agbno,
                                    be16(b + 4), level);
        if (x->crc) {
                if (be64(b + 16) != blk * (x->bs / 512))
                        return lb_error_set(-EUCLEAN, "XFS AG %u block %u: free-space B+tree block at the wrong place", agno, agbno);
                if (memcmp(b + 32, x->uuid, 16) != 0 || be32(b + 48) != agno)
                        return lb_error_set(-EUCLEAN, "XFS AG %u block %u: free-space B+tree block of another filesystem/AG",
                                            agno, agbno);
                if (!xfs_crc_ok(b, x->bs, 52))
                        return lb_error_set(-EUCLEAN, "XFS AG %u block %u: free-space B+tree checksum mismatch", agno, agbno);
        }
        return 0;
}

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

/* Add AG blocks [from, to) as used, leaving out the (sorted) AGFL blocks:
 * they are free space reserved for B+tree growth and hold nothing. */
static int add_used(struct xfs *x, uint64_t agstart, uint64_t from, uint64_t to, const uint32_t *fl, size_t nfl, size_t *k,
                    struct lb_extents *ret)
{
        while (*k < nfl && fl[*k] < from)
                (*k)++;
        for (; *k < nfl && fl[*k] < to; (*k)++) {
                int r = lb_extents_add(ret, agstart + from * x->bs, (fl[*k] - from) * (uint64_t)x->bs);
                if (r < 0)
                        return r;
                from = (uint64_t)fl[*k] + 1;
        }
        return from < to ? lb_extents_add(ret, agstart + from * x->bs, (to - from) * (uint64_t)x->bs) : 0;
}

/* The AGFL: the third sector of the AG, an array of block numbers used as
 * a ring from flfirst to fllast. */
static int xfs_agfl(struct xfs *x, uint32_t agno, uint32_t aglen, uint32_t flfirst, uint32_t fllast, uint32_t flcount,
                    uint32_t *fl)
{
        uint64_t agstart = (uint64_t)agno * x->agblocks * x->bs;
        size_t hdr = x->crc ? 36 : 0, size = (x->sectsize - hdr) / 4;
        int r = lb_fs_read(x->fd, x->offset, x->size, agstart + 3 * (uint64_t)x->sectsize, x->buf, x->sectsize);
        if (r < 0)
                return r;
        if (flcount == 0)
                return 0;
        if (flcount > size || flfirst >= size || fllast >= size || (fllast + size - flfirst) % size + 1 != flcount)
                return lb_error_set(-EUCLEAN, "XFS AG %u: bad AGFL ring", agno);
        if (x->crc) {
                if (memcmp(x->buf, "XAFL", 4) != 0 || be32(x->buf + 4) != agno || memcmp(x->buf + 8, x->uuid, 16) != 0)
                        return lb_error_set(-EUCLEAN, "XFS AG %u: bad AGFL header", agno);
                if (!xfs_crc_ok(x->buf, x->sectsize, 32))
                        return lb_error_set(-EUCLEAN, "XFS AG %u: AGFL checksum mismatch", agno);
        }
        for (uint32_t i = 0; i < flcount; i++) {
                fl[i] = be32(x->buf + hdr + (size_t)((flfirst + i) % size) * 4);
                if (fl[i] == 0 || fl[i] >= aglen)
                        return lb_error_set(-EUCLEAN, "XFS AG %u: AGFL block out of range", agno);
        }
        qsort(fl, flcount, sizeof(*fl), cmp_u32);
        for (uint32_t i = 1; i < flcount; i++)
                if (fl[i] == fl[i - 1])
                        return lb_error_set(-EUCLEAN, "XFS AG %u: AGFL block listed twice", agno);
        return 0;
}

static int xfs_ag(struct xfs *x, uint32_t agno, uint32_t aglen, struct lb_extents *ret)
{
        uint64_t agstart = (uint64_t)agno * x->agblocks * x->bs;
        size_t hdr = x->crc ? 56 : 16;
        int r;

        /* The AGF is the second sector of the AG. */
        r = lb_fs_read(x->fd, x->offset, x->size, agstart + x->sectsize, x->buf, x->sectsize);
        if (r < 0)
                return r;
        const uint8_t *agf = x->buf;
        if (memcmp(agf, "XAGF", 4) != 0 || be32(agf + 4) != 1)
                return lb_error_set(-EUCLEAN, "XFS AG %u: bad AGF magic/version", agno);
        if (be32(agf + 8) != agno || be32(agf + 12) != aglen)
                return lb_error_set(-EUCLEAN, "XFS AG %u: AGF sequence/length mismatch", agno);
        if (x->crc) {
                if (x->sectsize < 224 || !xfs_crc_ok(agf, x->sectsize, 216))
                        return lb_error_set(-EUCLEAN, "XFS AG %u: AGF checksum mismatch", agno);
                if (memcmp(agf + 64, x->uuid, 16) != 0)
                        return lb_error_set(-EUCLEAN, "XFS AG %u: AGF of another filesystem", agno);
        }
        uint32_t root = be32(agf + 16), levels = be32(agf + 28), freeblks = be32(agf + 52);
        uint32_t flfirst = be32(agf + 40), fllast = be32(agf + 44), flcount = be32(agf + 48);
        if (root == 0 || root >= aglen || levels == 0 || levels > XFS_MAX_LEVELS || freeblks > aglen)
                return lb_error_set(-EUCLEAN, "XFS AG %u: bad free-space B+tree root", agno);

        _cleanup_free_ uint32_t *fl = malloc(x->sectsize);
        size_t nfl = flcount, k = 0;
        if (!fl)
                return -ENOMEM;
        r = xfs_agfl(x, agno, aglen, flfirst, fllast, flcount, fl);
        if (r < 0)
                return r;

        /* Down the leftmost path to the first leaf. */
        uint32_t agbno = root;
        for (unsigned level = levels - 1; level > 0; level--) {
                r = xfs_read_btree_block(x, agno, agbno, level);
                if (r < 0)
                        return r;
                size_t maxrecs = (x->bs - hdr) / (8 + 4);
                if (be16(x->buf + 6) == 0 || be16(x->buf + 6) > maxrecs)
                        return lb_error_set(-EUCLEAN, "XFS AG %u block %u: bad record count", agno, agbno);
                agbno = be32(x->buf + hdr + maxrecs * 8);
                if (agbno == 0 || agbno >= aglen)
                        return lb_error_set(-EUCLEAN, "XFS AG %u: free-space B+tree pointer out of range", agno);
        }

        /* Along the leaves, inverting the free extents. */
        uint64_t used_from = 0, nfree = 0;
        for (uint64_t steps = 0;; steps++) {
                if (steps >= aglen)
                        return lb_error_set(-EUCLEAN, "XFS AG %u: free-space B+tree leaf chain loops", agno);
                r = xfs_read_btree_block(x, agno, agbno, 0);
                if (r < 0)
                        return r;
                size_t n = be16(x->buf + 6), maxrecs = (x->bs - hdr) / 8;
                if (n > maxrecs)
                        return lb_error_set(-EUCLEAN, "XFS AG %u block %u: bad record count", agno, agbno);
                for (size_t i = 0; i < n; i++) {
                        uint32_t start = be32(x->buf + hdr + i * 8), count = be32(x->buf + hdr + i * 8 + 4);
                        if (count == 0 || start < used_from || start > aglen || count > aglen - start)
                                return lb_error_set(-EUCLEAN, "XFS AG %u: bad or unsorted free extent %u+%u", agno, start, count);
                        r = add_used(x, agstart, used_from, start, fl, nfl, &k, ret);
                        if (r < 0)
                                return r;
                        used_from = (uint64_t)start + count;
                        nfree += count;
                }
                agbno = be32(x->buf + 12);
                if (agbno == NULLAGBLOCK)
                        break;
                if (agbno == 0 || agbno >= aglen)
                        return lb_error_set(-EUCLEAN, "XFS AG %u: free-space B+tree sibling out of range", agno);
        }
        if (nfree != freeblks)
                return lb_error_set(-EUCLEAN, "XFS AG %u: free-space B+tree holds %" PRIu64 " blocks, AGF says %u", agno, nfree,
                                    freeblks);
        return add_used(x, agstart, used_from, aglen, fl, nfl, &k, ret);
}

static int xfs_used(int fd, uint64_t offset, uint64_t size, struct lb_extents *ret, struct lb_fs_info *info)
{
        uint8_t sb[512];
        int r;

        lb_fs_info_init(info, "xfs");
        r = lb_fs_read(fd, offset, size, 0, sb, sizeof(sb));
        if (r < 0)
                return r;
        if (memcmp(sb, "XFSB", 4) != 0)
                return lb_error_set(-EUCLEAN, "no XFS superblock");

        struct xfs x = { .fd = fd, .offset = offset, .size = size };
        x.bs = be32(sb + 4);
        x.sectsize = be16(sb + 102);
        x.agblocks = be32(sb + 84);
        uint64_t dblocks = be64(sb + 8), logstart = be64(sb + 48);
        uint32_t agcount = be32(sb + 88), logblocks = be32(sb + 96);
        unsigned blocklog = sb[120], sectlog = sb[121], agblklog = sb[124];
        unsigned version = be16(sb + 100) & 0xf;

        if (version < 4 || version > 5)
                return lb_error_set(-EOPNOTSUPP, "XFS superblock version %u not supported", version);
        x.crc = version == 5;
        if (blocklog < 9 || blocklog > 16 || x.bs != 1u << blocklog || sectlog < 9 || sectlog > 15 ||
            x.sectsize != 1u << sectlog || x.sectsize > x.bs)
                return lb_error_set(-EUCLEAN, "bad XFS block/sector size");
        if (x.agblocks < 16 || agblklog > 31 || x.agblocks > 1u << agblklog || x.agblocks <= (1u << agblklog) / 2 ||
            agcount == 0 || dblocks <= (uint64_t)(agcount - 1) * x.agblocks || dblocks > (uint64_t)agcount * x.agblocks)
                return lb_error_set(-EUCLEAN, "bad XFS allocation group geometry");
        if (sb[126] != 0)
                return lb_error_set(-EUCLEAN, "XFS filesystem creation did not finish");
        if (dblocks > size / x.bs)
                return lb_error_set(-EUCLEAN, "XFS filesystem (%" PRIu64 " bytes) larger than its volume (%" PRIu64 " bytes)",
                                    dblocks * x.bs, size);

        _cleanup_free_ uint8_t *sbsect = malloc(x.sectsize);
        x.buf = malloc(x.bs);
        _cleanup_free_ uint8_t *buf = x.buf;
        if (!sbsect || !x.buf)
                return -ENOMEM;
        if (x.crc) {
                r = lb_fs_read(fd, offset, size, 0, sbsect, x.sectsize);
                if (r < 0)
                        return r;
                if (!xfs_crc_ok(sbsect, x.sectsize, 224))
                        return lb_error_set(-EUCLEAN, "XFS superblock checksum mismatch");
                /* incompat META_UUID (0x4): blocks carry sb_meta_uuid */
                memcpy(x.uuid, be32(sb + 216) & 0x4 ? sb + 248 : sb + 32, 16);
        } else
                memcpy(x.uuid, sb + 32, 16);

        info->block_size = x.bs;
        info->total_bytes = dblocks * x.bs;
        snprintf(info->label, sizeof(info->label), "%.12s", (const char *)sb + 108);
        lb_fs_uuid_format(sb + 32, info->uuid, sizeof(info->uuid));

        for (uint32_t agno = 0; agno < agcount; agno++) {
                uint32_t aglen = agno + 1 < agcount ? x.agblocks : (uint32_t)(dblocks - (uint64_t)agno * x.agblocks);
                r = xfs_ag(&x, agno, aglen, ret);
                if (r < 0)
                        return r;
        }

        /* An internal log is never in the free-space trees; keep it anyway. */
        if (logstart != 0) {
                uint64_t agno = logstart >> agblklog, agbno = logstart & ((1ull << agblklog) - 1);
                uint64_t blk = agno * x.agblocks + agbno;
                if (agno >= agcount || agbno >= x.agblocks || blk > dblocks || logblocks > dblocks - blk)
                        return lb_error_set(-EUCLEAN, "XFS internal log out of range");
                r = lb_extents_add(ret, blk * x.bs, (uint64_t)logblocks * x.bs);
                if (r < 0)
                        return r;
        }

        info->used_bytes = lb_extents_total(ret);
        return 0;
}

static const char *const xfs_types[] = { "xfs", NULL };

const struct lb_fs_ops lb_fs_xfs = {
        .name = "xfs",
        .blkid_types = xfs_types,
        .used = xfs_used,
};
