/* SPDX-License-Identifier: GPL-2.0-or-later */
/* XFS: per allocation group, the free extents from the by-block-number
 * free-space B+tree (AGF bnobt), inverted. Everything not recorded free
 * (AG headers, inodes, B+trees, the AGFL, an internal log, data) is used.
 * The trees are only trusted when the (internal) log is clean: its head
 * record is an unmount record, so log recovery would change nothing. */
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

/* ---- The log --------------------------------------------------------------
 * A circular area of 512-byte basic blocks (BBs) written front to back, pass
 * after pass. Records: a header BB (magic, cycle, version, data length, LSN,
 * tail LSN, CRC, op count, the saved first words of the data BBs, format,
 * UUID, in-core log size), extra header BBs on v2 logs with in-core logs
 * larger than 32 KiB, then the data. The first word of every data and extra
 * header BB is replaced by the pass ("cycle") number, so every BB tells
 * which pass wrote it, and a pass wraps from the end to block 0 with cycle+1.
 * The head (where the next record goes) is where the cycle drops; the log
 * is clean when the record just before the head is an unmount record. */

#define XLOG_MAGIC 0xfeedbabeu
#define XLOG_BB 512u
#define XLOG_CYCLE_DATA 32768u      /* data bytes covered by one header BB */
#define XLOG_MAX_RECORD 262144u     /* largest record data (v2 logs) */
#define XLOG_MAX_RECORD_V1 32768u
#define XLOG_MAX_LOG_BYTES (2ull << 30) /* the kernel's limit */
#define XFS_SB_VERSION_LOGV2BIT 0x0400
#define XLOG_REC_HDR_SIZE 328u      /* struct xlog_rec_header, what the CRC covers */
#define XLOG_EXT_HDR_SIZE 260u      /* struct xlog_rec_ext_header */
#define XLOG_UNMOUNT_TRANS 0x20
#define XLOG_CLIENT_LOG 0xaa
#define XLOG_UNMOUNT_TYPE 0x556e
/* BBs checked on each side of the head: twice what the kernel can have in
 * flight (8 in-core logs of 256 KiB), where torn or out-of-order writes of a
 * crash would show up as a cycle number out of place. */
#define XLOG_WINDOW 8192u
#define XLOG_CHUNK 1024u /* BBs per read; more than the largest record (8 + 512 BBs) */

struct xlog {
        struct xfs *x;
        uint64_t start;    /* byte offset of the log in the volume */
        uint32_t nbb;      /* size in BBs */
        uint32_t head;     /* in [1, nbb]: BBs [0, head) are of pass cyc, the rest of pass prev */
        uint32_t cyc, prev;
        uint8_t *buf;      /* XLOG_CHUNK BBs */
};

static int xlog_unsure(const char *what)
{
        return lb_error_set(-EUCLEAN, "XFS log: %s; cannot tell whether it needs recovery, its free-space trees cannot be trusted",
                            what);
}

static int xlog_dirty(void)
{
        return lb_error_set(-EUCLEAN, "XFS log needs recovery (filesystem mounted or not cleanly unmounted); "
                                      "its free-space trees cannot be trusted");
}

/* The pass that wrote a BB: record headers keep it after the magic. */
static uint32_t xlog_bb_cycle(const uint8_t *b)
{
        uint32_t c = be32(b);
        return c == XLOG_MAGIC ? be32(b + 4) : c;
}

static uint32_t xlog_expected(const struct xlog *l, uint32_t bb) { return bb < l->head ? l->cyc : l->prev; }

static int xlog_read(struct xlog *l, uint32_t bb, uint32_t n, uint8_t *buf)
{
        if (bb >= l->nbb || n > l->nbb - bb || n > XLOG_CHUNK)
                return xlog_unsure("read outside the log");
        return lb_fs_read(l->x->fd, l->x->offset, l->x->size, l->start + (uint64_t)bb * XLOG_BB, buf, (size_t)n * XLOG_BB);
}

static int xlog_cycle_at(struct xlog *l, uint32_t bb, uint32_t *ret)
{
        int r = xlog_read(l, bb, 1, l->buf);
        if (r < 0)
                return r;
        *ret = xlog_bb_cycle(l->buf);
        return 0;
}

/* Check that the count BBs from `from` on (circularly) carry the cycle their
 * side of the head implies; remember the last record header among them. */
static int xlog_check_range(struct xlog *l, uint32_t from, uint32_t count, bool *found, uint32_t *last_hdr)
{
        uint32_t bb = from;
        while (count > 0) {
                uint32_t n = MIN(MIN(count, XLOG_CHUNK), l->nbb - bb);
                int r = xlog_read(l, bb, n, l->buf);
                if (r < 0)
                        return r;
                for (uint32_t k = 0; k < n; k++) {
                        const uint8_t *b = l->buf + (size_t)k * XLOG_BB;
                        if (xlog_bb_cycle(b) != xlog_expected(l, bb + k))
                                return xlog_dirty();
                        if (found && be32(b) == XLOG_MAGIC) {
                                *found = true;
                                *last_hdr = bb + k;
                        }
                }
                count -= n;
                bb = bb + n == l->nbb ? 0 : bb + n;
        }
        return 0;
}

/* The record that ends at the head: whole, sane, and an unmount record. */
static int xlog_check_head_record(struct xlog *l, uint32_t rec, const uint8_t sb_uuid[16], bool v2)
{
        uint8_t *b = l->buf;
        int r = xlog_read(l, rec, 1, b);
        if (r < 0)
                return r;
        uint32_t cycle = be32(b + 4), version = be32(b + 8), len = be32(b + 12), nops = be32(b + 40);
        uint32_t hsize = be32(b + 320);
        uint64_t lsn = be64(b + 16), tail = be64(b + 24);
        uint32_t tail_cycle = (uint32_t)(tail >> 32), tail_bb = (uint32_t)tail;
        static const uint8_t null_uuid[16];

        if (be32(b) != XLOG_MAGIC || cycle != xlog_expected(l, rec))
                return xlog_unsure("head record header changed while reading");
        if (version != (v2 ? 2u : 1u))
                return xlog_unsure("unexpected log record version");
        if (len == 0 || len > (v2 ? XLOG_MAX_RECORD : XLOG_MAX_RECORD_V1) || (v2 && hsize > XLOG_MAX_RECORD))
                return xlog_unsure("bad log record size");
        if (lsn != ((uint64_t)cycle << 32 | rec))
                return xlog_unsure("log record LSN does not match its place");
        if (memcmp(b + 304, sb_uuid, 16) != 0 && memcmp(b + 304, null_uuid, 16) != 0)
                return xlog_unsure("log record of another filesystem");
        if (tail_bb >= l->nbb || !((tail_cycle == cycle && tail_bb <= rec) || (tail_cycle + 1 == cycle && tail_bb > rec)))
                return xlog_unsure("bad log tail");

        uint32_t hblks = v2 && hsize > XLOG_CYCLE_DATA ? DIV_ROUND_UP(hsize, XLOG_CYCLE_DATA) : 1;
        uint32_t total = hblks + DIV_ROUND_UP(len, XLOG_BB);
        uint32_t head = l->head % l->nbb;
        if (total >= l->nbb || total > XLOG_CHUNK || (head + l->nbb - rec) % l->nbb != total)
                return xlog_dirty(); /* the last record does not end at the head: incomplete */
        if (nops != 1)
                return xlog_dirty();

        /* The whole record, in one piece even if it wraps. */
        uint32_t first = MIN(total, l->nbb - rec);
        r = xlog_read(l, rec, first, b);
        if (r >= 0 && first < total)
                r = xlog_read(l, 0, total - first, b + (size_t)first * XLOG_BB);
        if (r < 0)
                return r;
        if (be32(b) != XLOG_MAGIC || be64(b + 16) != lsn || be32(b + 12) != len || be32(b + 320) != hsize)
                return xlog_unsure("head record changed while reading");

        /* v5 filesystems: the CRC over the header, the extra headers and the
         * data as written (mkfs writes 0: not checked then). */
        uint32_t crc = le32_get(b + 32);
        if (l->x->crc && crc != 0) {
                static const uint8_t zero[4];
                uint32_t xheads = DIV_ROUND_UP(len, XLOG_CYCLE_DATA);
                if (xheads > hblks)
                        return xlog_unsure("log record larger than its in-core log");
                uint32_t c = lb_crc32c(~0u, b, 32);
                c = lb_crc32c(c, zero, 4);
                c = lb_crc32c(c, b + 36, XLOG_REC_HDR_SIZE - 36);
                for (uint32_t i = 1; i < xheads; i++)
                        c = lb_crc32c(c, b + (size_t)i * XLOG_BB, XLOG_EXT_HDR_SIZE);
                c = lb_crc32c(c, b + (size_t)hblks * XLOG_BB, len);
                if (~c != crc)
                        return xlog_unsure("head record checksum mismatch");
        }

        /* Its one op: the unmount record (op header: tid, len, client id,
         * flags; the tid's place holds the cycle). Its payload's magic is in
         * the writer's byte order. */
        const uint8_t *op = b + (size_t)hblks * XLOG_BB;
        if (len < 12 + 2 || op[8] != XLOG_CLIENT_LOG || !(op[9] & XLOG_UNMOUNT_TRANS))
                return xlog_dirty();
        if (be32(op + 4) > len - 12 || (be16(op + 12) != XLOG_UNMOUNT_TYPE && le16_get(op + 12) != XLOG_UNMOUNT_TYPE))
                return xlog_unsure("bad unmount record");
        return 0;
}

/* 0 if the internal log of nbb BBs at byte `start` is clean, else -EUCLEAN. */
static int xlog_check_clean(struct xfs *x, uint64_t start, uint32_t nbb, const uint8_t sb_uuid[16], bool v2)
{
        _cleanup_free_ uint8_t *buf = malloc((size_t)XLOG_CHUNK * XLOG_BB);
        struct xlog l = { .x = x, .start = start, .nbb = nbb, .buf = buf };
        uint32_t last;
        int r;

        if (!buf)
                return -ENOMEM;
        if (nbb < 64)
                return xlog_unsure("log too small");

        /* Find the head: the cycle numbers of the BBs, from block 0 to the
         * end, are the current pass's up to the head and the previous pass's
         * after it. Block 0 gives the current pass, the last block the
         * previous one (or the same: the head is at the wrap). */
        r = xlog_cycle_at(&l, 0, &l.cyc);
        if (r >= 0)
                r = xlog_cycle_at(&l, nbb - 1, &last);
        if (r < 0)
                return r;
        if (l.cyc == 0)
                return xlog_unsure("log never written");
        if (last == l.cyc) {
                l.head = nbb;
                l.prev = l.cyc;
        } else if (last < l.cyc) {
                /* Binary search for the first BB of the previous pass, as the
                 * kernel does; the windows below confirm it. */
                uint32_t lo = 0, hi = nbb - 1, mid = (lo + hi) / 2;
                while (mid != lo && mid != hi) {
                        uint32_t c;
                        r = xlog_cycle_at(&l, mid, &c);
                        if (r < 0)
                                return r;
                        if (c == last)
                                hi = mid;
                        else
                                lo = mid;
                        mid = lo + (hi - lo) / 2;
                }
                l.head = hi;
                l.prev = last;
        } else
                return xlog_dirty(); /* the end of the log is newer than its start */

        /* Around the head every BB must carry the cycle of its side: a hole
         * or a block written ahead means writes in flight at a crash. */
        uint32_t before = MIN(XLOG_WINDOW, nbb), after = MIN(XLOG_WINDOW, nbb - before), rec = 0;
        bool found = false;
        r = xlog_check_range(&l, (uint32_t)(((uint64_t)l.head + nbb - before) % nbb), before, &found, &rec);
        if (r >= 0 && after > 0)
                r = xlog_check_range(&l, l.head % nbb, after, NULL, NULL);
        if (r < 0)
                return r;
        if (!found)
                return xlog_unsure("no record header before the head");
        return xlog_check_head_record(&l, rec, sb_uuid, v2);
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

        /* The free-space trees are only current if log recovery has
         * nothing to replay. */
        if (logstart == 0)
                return lb_error_set(-EOPNOTSUPP, "XFS with an external log device: cannot check that its log is clean");
        uint64_t log_agno = logstart >> agblklog, log_agbno = logstart & ((1ull << agblklog) - 1);
        uint64_t logblk = log_agno * x.agblocks + log_agbno;
        if (log_agno >= agcount || log_agbno >= x.agblocks || logblocks == 0 || logblocks > x.agblocks - log_agbno ||
            logblk > dblocks || logblocks > dblocks - logblk)
                return lb_error_set(-EUCLEAN, "XFS internal log out of range");
        if ((uint64_t)logblocks * x.bs > XLOG_MAX_LOG_BYTES)
                return xlog_unsure("log larger than 2 GiB");
        bool logv2 = x.crc || (be16(sb + 100) & XFS_SB_VERSION_LOGV2BIT);
        r = xlog_check_clean(&x, logblk * x.bs, (uint32_t)((uint64_t)logblocks * x.bs / XLOG_BB), sb + 32, logv2);
        if (r < 0)
                return r;

        for (uint32_t agno = 0; agno < agcount; agno++) {
                uint32_t aglen = agno + 1 < agcount ? x.agblocks : (uint32_t)(dblocks - (uint64_t)agno * x.agblocks);
                r = xfs_ag(&x, agno, aglen, ret);
                if (r < 0)
                        return r;
        }

        /* An internal log is never in the free-space trees; keep it anyway. */
        r = lb_extents_add(ret, logblk * x.bs, (uint64_t)logblocks * x.bs);
        if (r < 0)
                return r;

        info->used_bytes = lb_extents_total(ret);
        return 0;
}

static const char *const xfs_types[] = { "xfs", NULL };

const struct lb_fs_ops lb_fs_xfs = {
        .name = "xfs",
        .blkid_types = xfs_types,
        .used = xfs_used,
};
