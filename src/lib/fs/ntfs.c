/* SPDX-License-Identifier: GPL-2.0-or-later */
/* NTFS: the cluster allocation bitmap, the unnamed $DATA of $Bitmap (MFT
 * record 6), located through the runlist of $MFT's own $DATA (record 0).
 * The backup boot sector after the last cluster is kept as well. */
#include <inttypes.h>
#include <stdio.h>

#include "fs.h"
#include "util.h"

#define NTFS_AT_DATA 0x80u
#define NTFS_AT_VOLUME_INFORMATION 0x70u
#define NTFS_AT_END 0xffffffffu
#define NTFS_CHUNK (256 * 1024)

struct run {
        uint64_t vcn, len;
        int64_t lcn; /* -1: sparse */
};

struct ntfs {
        int fd;
        uint64_t offset, size;
        uint32_t bps, rec_size;
        uint64_t cluster, nclusters;
        struct run *mft_runs;
        size_t mft_nruns;
};

/* Undo the update sequence ("fixups") protecting a multi-sector record. */
static int ntfs_fixup(uint8_t *rec, uint32_t len, const char *magic)
{
        if (memcmp(rec, magic, 4) != 0)
                return -EUCLEAN;
        uint32_t usa_ofs = le16_get(rec + 4), usa_count = le16_get(rec + 6);
        if (usa_count != len / 512 + 1 || usa_ofs < 8 || usa_ofs % 2 || usa_ofs + usa_count * 2 > len)
                return -EUCLEAN;
        uint16_t usn = le16_get(rec + usa_ofs);
        for (uint32_t i = 1; i < usa_count; i++) {
                uint8_t *end = rec + i * 512 - 2;
                if (le16_get(end) != usn)
                        return -EUCLEAN;
                memcpy(end, rec + usa_ofs + 2 * i, 2);
        }
        return 0;
}

/* Find the first attribute of a type with an empty name and lowest VCN 0 in a
 * fixed-up FILE record; returns its offset, 0 if absent, or -EUCLEAN. */
static int ntfs_find_attr(const uint8_t *rec, uint32_t len, uint32_t type, uint32_t *ret_len)
{
        uint32_t used = le32_get(rec + 0x18), off = le16_get(rec + 0x14);
        if (used > len || off < 0x18 || off >= used)
                return -EUCLEAN;
        while (off + 8 <= used) {
                uint32_t t = le32_get(rec + off), alen;
                if (t == NTFS_AT_END)
                        return 0;
                alen = le32_get(rec + off + 4);
                if (alen < 24 || alen % 8 || alen > used - off)
                        return -EUCLEAN;
                if (t == type && rec[off + 9] == 0) {
                        bool nonres = rec[off + 8];
                        if (!nonres || (alen >= 64 && le64_get(rec + off + 16) == 0)) {
                                *ret_len = alen;
                                return (int)off;
                        }
                }
                off += alen;
        }
        return -EUCLEAN;
}

static int ntfs_runlist(const struct ntfs *n, const uint8_t *a, uint32_t alen, struct run **ret, size_t *ret_n)
{
        uint32_t mp = le16_get(a + 32);
        if (mp < 64 || mp >= alen)
                return -EUCLEAN;
        const uint8_t *p = a + mp, *end = a + alen;
        uint64_t vcn = 0;
        int64_t lcn = 0;
        size_t cnt = 0, cap = 0;
        struct run *v = NULL;

        while (p < end && *p) {
                unsigned lsz = *p & 0xf, osz = *p >> 4;
                p++;
                if (lsz == 0 || lsz > 8 || osz > 8 || (size_t)(end - p) < lsz + osz)
                        goto bad;
                uint64_t len = 0;
                for (unsigned i = 0; i < lsz; i++)
                        len |= (uint64_t)p[i] << (8 * i);
                if (len == 0 || (p[lsz - 1] & 0x80) || len > n->nclusters)
                        goto bad;
                p += lsz;
                int64_t l = -1;
                if (osz > 0) {
                        uint64_t d = 0;
                        for (unsigned i = 0; i < osz; i++)
                                d |= (uint64_t)p[i] << (8 * i);
                        if (osz < 8 && (p[osz - 1] & 0x80))
                                d |= ~0ull << (8 * osz); /* sign-extend */
                        p += osz;
                        lcn += (int64_t)d;
                        if (lcn < 0 || (uint64_t)lcn >= n->nclusters || len > n->nclusters - (uint64_t)lcn)
                                goto bad;
                        l = lcn;
                }
                if (cnt == cap) {
                        cap = cap ? cap * 2 : 16;
                        struct run *nv = reallocarray(v, cap, sizeof(*v));
                        if (!nv) {
                                free(v);
                                return -ENOMEM;
                        }
                        v = nv;
                }
                v[cnt++] = (struct run) { vcn, len, l };
                vcn += len;
        }
        *ret = v;
        *ret_n = cnt;
        return 0;
bad:
        free(v);
        return -EUCLEAN;
}

/* Read n bytes at byte pos of non-resident data described by runs. */
static int ntfs_read_runs(const struct ntfs *n, const struct run *runs, size_t nruns, uint64_t pos, uint8_t *buf, size_t len)
{
        size_t k = 0;
        while (len > 0) {
                uint64_t vcn = pos / n->cluster;
                while (k < nruns && vcn >= runs[k].vcn + runs[k].len)
                        k++;
                if (k == nruns || vcn < runs[k].vcn)
                        return lb_error_set(-EUCLEAN, "NTFS attribute data beyond its runlist");
                uint64_t in_run = (runs[k].vcn + runs[k].len) * n->cluster - pos;
                size_t chunk = (size_t)MIN((uint64_t)len, in_run);
                if (runs[k].lcn < 0)
                        memset(buf, 0, chunk);
                else {
                        uint64_t phys = ((uint64_t)runs[k].lcn + vcn - runs[k].vcn) * n->cluster + pos % n->cluster;
                        int r = lb_fs_read(n->fd, n->offset, n->size, phys, buf, chunk);
                        if (r < 0)
                                return r;
                }
                buf += chunk;
                pos += chunk;
                len -= chunk;
        }
        return 0;
}

static int ntfs_read_record(const struct ntfs *n, uint64_t no, uint8_t *rec)
{
        int r = ntfs_read_runs(n, n->mft_runs, n->mft_nruns, no * n->rec_size, rec, n->rec_size);
        if (r < 0)
                return r;
        if (ntfs_fixup(rec, n->rec_size, "FILE") < 0)
                return lb_error_set(-EUCLEAN, "NTFS MFT record %" PRIu64 " is damaged (bad magic or update sequence)", no);
        if (!(le16_get(rec + 0x16) & 1))
                return lb_error_set(-EUCLEAN, "NTFS MFT record %" PRIu64 " is not in use", no);
        return 0;
}

static int ntfs_used(int fd, uint64_t offset, uint64_t size, struct lb_extents *ret, struct lb_fs_info *info)
{
        uint8_t bs[512];
        int r, a;
        uint32_t alen;

        lb_fs_info_init(info, "ntfs");
        r = lb_fs_read(fd, offset, size, 0, bs, sizeof(bs));
        if (r < 0)
                return r;
        if (memcmp(bs + 3, "NTFS    ", 8) != 0)
                return lb_error_set(-EUCLEAN, "no NTFS boot sector");

        struct ntfs n = { .fd = fd, .offset = offset, .size = size };
        _cleanup_free_ struct run *mft_runs = NULL;
        n.bps = le16_get(bs + 11);
        unsigned spc_raw = bs[13];
        uint64_t spc = spc_raw <= 0x80 ? spc_raw : spc_raw >= 0xf4 ? 1ull << (256 - spc_raw) : 0;
        if (n.bps < 256 || n.bps > 4096 || (n.bps & (n.bps - 1)) || spc == 0 || (spc & (spc - 1)))
                return lb_error_set(-EUCLEAN, "bad NTFS sector/cluster size");
        n.cluster = n.bps * spc;
        if (n.cluster > 2 * 1024 * 1024)
                return lb_error_set(-EUCLEAN, "bad NTFS cluster size");
        int8_t cpr = (int8_t)bs[0x40];
        uint64_t rec = cpr > 0 ? (uint64_t)cpr * n.cluster : cpr < 0 && cpr >= -31 ? 1ull << -cpr : 0;
        if (rec < 512 || rec > 65536 || (rec & (rec - 1)))
                return lb_error_set(-EUCLEAN, "bad NTFS MFT record size");
        n.rec_size = (uint32_t)rec;
        uint64_t total_sectors = le64_get(bs + 0x28), mft_lcn = le64_get(bs + 0x30);
        if (total_sectors == 0 || total_sectors > size / n.bps)
                return lb_error_set(-EUCLEAN, "NTFS filesystem (%" PRIu64 " sectors) larger than its volume (%" PRIu64 " bytes)",
                                    total_sectors, size);
        n.nclusters = total_sectors / spc;
        if (mft_lcn == 0 || mft_lcn >= n.nclusters || (rec + n.cluster - 1) / n.cluster > n.nclusters - mft_lcn)
                return lb_error_set(-EUCLEAN, "NTFS MFT location out of range");

        info->block_size = n.cluster;
        info->total_bytes = total_sectors * n.bps;
        snprintf(info->uuid, sizeof(info->uuid), "%016" PRIX64, le64_get(bs + 0x48));

        _cleanup_free_ uint8_t *recbuf = malloc(n.rec_size);
        _cleanup_free_ uint8_t *buf = malloc(NTFS_CHUNK);
        if (!recbuf || !buf)
                return -ENOMEM;

        /* Record 0 ($MFT), read directly, maps the rest of the MFT. */
        n.mft_runs = &(struct run) { 0, (rec + n.cluster - 1) / n.cluster, (int64_t)mft_lcn };
        n.mft_nruns = 1;
        r = ntfs_read_record(&n, 0, recbuf);
        if (r < 0)
                return r;
        a = ntfs_find_attr(recbuf, n.rec_size, NTFS_AT_DATA, &alen);
        if (a <= 0 || !recbuf[a + 8])
                return lb_error_set(-EUCLEAN, "NTFS $MFT has no usable $DATA attribute");
        r = ntfs_runlist(&n, recbuf + a, alen, &mft_runs, &n.mft_nruns);
        if (r < 0)
                return lb_error_set(r, "bad NTFS $MFT runlist");
        n.mft_runs = mft_runs;

        /* $Volume (record 3): refuse a volume that needs chkdsk. */
        r = ntfs_read_record(&n, 3, recbuf);
        if (r < 0)
                return r;
        a = ntfs_find_attr(recbuf, n.rec_size, NTFS_AT_VOLUME_INFORMATION, &alen);
        if (a > 0 && !recbuf[a + 8]) {
                uint32_t vlen = le32_get(recbuf + a + 16), voff = le16_get(recbuf + a + 20);
                if (vlen >= 12 && voff <= alen && vlen <= alen - voff && (le16_get(recbuf + a + voff + 10) & 0x0001))
                        return lb_error_set(-EUCLEAN, "NTFS volume is marked dirty (mounted, or needs chkdsk)");
        }

        /* $Bitmap (record 6). */
        r = ntfs_read_record(&n, 6, recbuf);
        if (r < 0)
                return r;
        a = ntfs_find_attr(recbuf, n.rec_size, NTFS_AT_DATA, &alen);
        if (a < 0)
                return lb_error_set(-EUCLEAN, "NTFS $Bitmap record is damaged");
        if (a == 0)
                return lb_error_set(-EOPNOTSUPP, "NTFS $Bitmap data not in its base record (attribute list)");

        uint64_t need = DIV_ROUND_UP(n.nclusters, 8);
        _cleanup_free_ struct run *runs = NULL;
        size_t nruns = 0;
        const uint8_t *resident = NULL;
        if (recbuf[a + 8]) {
                uint64_t highest = le64_get(recbuf + a + 24), data_size = le64_get(recbuf + a + 48);
                uint64_t init_size = le64_get(recbuf + a + 56);
                if (le16_get(recbuf + a + 12) & 0x00ff)
                        return lb_error_set(-EOPNOTSUPP, "compressed NTFS $Bitmap");
                if (data_size < need || init_size < need)
                        return lb_error_set(-EUCLEAN, "NTFS $Bitmap too small for the volume");
                if ((highest + 1) * n.cluster < need)
                        return lb_error_set(-EOPNOTSUPP, "NTFS $Bitmap continues in an attribute list");
                r = ntfs_runlist(&n, recbuf + a, alen, &runs, &nruns);
                if (r < 0)
                        return lb_error_set(r, "bad NTFS $Bitmap runlist");
        } else {
                uint32_t vlen = le32_get(recbuf + a + 16), voff = le16_get(recbuf + a + 20);
                if (voff > alen || vlen > alen - voff || vlen < need)
                        return lb_error_set(-EUCLEAN, "bad resident NTFS $Bitmap");
                resident = recbuf + a + voff;
        }

        for (uint64_t pos = 0; pos < need; pos += NTFS_CHUNK) {
                size_t len = (size_t)MIN((uint64_t)NTFS_CHUNK, need - pos);
                const uint8_t *p;
                if (resident)
                        p = resident + pos;
                else {
                        r = ntfs_read_runs(&n, runs, nruns, pos, buf, len);
                        if (r < 0)
                                return r;
                        p = buf;
                }
                for (size_t i = 0; i < len; i++) {
                        if (p[i] == 0)
                                continue;
                        for (unsigned bit = 0; bit < 8; bit++) {
                                uint64_t c = (pos + i) * 8 + bit;
                                if (c >= n.nclusters)
                                        break;
                                if (p[i] & (1u << bit)) {
                                        r = lb_extents_add(ret, c * n.cluster, n.cluster);
                                        if (r < 0)
                                                return r;
                                }
                        }
                }
        }

        /* The boot sector is in the bitmap ($Boot); its backup is the sector
         * after the last one counted. */
        r = lb_extents_add(ret, 0, n.bps);
        if (r >= 0 && (total_sectors + 1) * n.bps <= size) {
                r = lb_extents_add(ret, total_sectors * n.bps, n.bps);
                info->total_bytes += n.bps;
        }
        if (r < 0)
                return r;
        info->used_bytes = lb_extents_total(ret);
        return 0;
}

static const char *const ntfs_types[] = { "ntfs", NULL };

const struct lb_fs_ops lb_fs_ntfs = {
        .name = "ntfs",
        .blkid_types = ntfs_types,
        .used = ntfs_used,
};
