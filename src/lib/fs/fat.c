/* SPDX-License-Identifier: GPL-2.0-or-later */
/* FAT12/16/32: reserved sectors, the FATs, the FAT12/16 root directory and
 * every cluster the (active) FAT marks allocated. Bad clusters are left out:
 * their contents mean nothing and reading them may fail. */
#include <inttypes.h>
#include <stdio.h>

#include "fs.h"
#include "util.h"

#define FAT_CHUNK (1024 * 1024) /* FAT32 tables are streamed in pieces */

static bool is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

static int fat_used(int fd, uint64_t offset, uint64_t size, struct lb_extents *ret, struct lb_fs_info *info)
{
        _cleanup_free_ uint8_t *buf = NULL;
        uint8_t bs[512];
        int r;

        lb_fs_info_init(info, "vfat");
        r = lb_fs_read(fd, offset, size, 0, bs, sizeof(bs));
        if (r < 0)
                return r;

        uint32_t bps = le16_get(bs + 11), spc = bs[13], rsvd = le16_get(bs + 14), nfats = bs[16];
        uint32_t rootent = le16_get(bs + 17), tot16 = le16_get(bs + 19), fatsz16 = le16_get(bs + 22);
        uint64_t total = tot16 ? tot16 : le32_get(bs + 32);
        uint64_t fatsz = fatsz16 ? fatsz16 : le32_get(bs + 36);

        if (bps < 512 || bps > 4096 || !is_pow2(bps) || spc == 0 || !is_pow2(spc) || rsvd == 0 || nfats == 0 ||
            nfats > 16 || fatsz == 0 || total == 0)
                return lb_error_set(-EUCLEAN, "bad FAT boot sector (bps=%u spc=%u reserved=%u fats=%u fatsize=%" PRIu64 " total=%" PRIu64 ")",
                                    bps, spc, rsvd, nfats, fatsz, total);
        uint64_t rootsecs = DIV_ROUND_UP((uint64_t)rootent * 32, bps);
        uint64_t datastart = rsvd + nfats * fatsz + rootsecs;
        if (datastart >= total)
                return lb_error_set(-EUCLEAN, "FAT metadata (%" PRIu64 " sectors) does not fit in the filesystem (%" PRIu64 " sectors)",
                                    datastart, total);
        if (total > size / bps)
                return lb_error_set(-EUCLEAN, "FAT filesystem (%" PRIu64 " bytes) larger than its volume (%" PRIu64 " bytes)",
                                    total * bps, size);

        uint64_t clusters = (total - datastart) / spc, csize = (uint64_t)bps * spc;
        unsigned bits = clusters < 4085 ? 12 : clusters < 65525 ? 16 : 32;
        if (bits == 32 && (fatsz16 != 0 || rootent != 0))
                return lb_error_set(-EUCLEAN, "FAT32-sized filesystem with a FAT12/16 layout");
        if (bits == 32 && clusters > 0x0FFFFFF5 - 2)
                clusters = 0x0FFFFFF5 - 2;
        /* The table must have an entry for every cluster (plus the two
         * reserved ones); a shorter one limits the usable clusters. */
        uint64_t entries = fatsz * bps * 8 / (bits == 32 ? 32 : bits);
        if (entries < 2)
                return lb_error_set(-EUCLEAN, "FAT too small");
        if (clusters > entries - 2)
                clusters = entries - 2;

        unsigned active = 0;
        if (bits == 32 && (le16_get(bs + 40) & 0x80)) {
                active = le16_get(bs + 40) & 0x0f;
                if (active >= nfats)
                        return lb_error_set(-EUCLEAN, "FAT32 active FAT %u out of range", active);
        }

        info->block_size = csize;
        info->total_bytes = total * bps;
        const uint8_t *lbl = bs + (bits == 32 ? 71 : 43), *serial = bs + (bits == 32 ? 67 : 39);
        if (bs[bits == 32 ? 66 : 38] == 0x29) {
                snprintf(info->label, sizeof(info->label), "%.11s", (const char *)lbl);
                for (size_t n = strlen(info->label); n > 0 && info->label[n - 1] == ' '; n--)
                        info->label[n - 1] = '\0';
                if (strcmp(info->label, "NO NAME") == 0)
                        info->label[0] = '\0';
                snprintf(info->uuid, sizeof(info->uuid), "%02X%02X-%02X%02X", serial[3], serial[2], serial[1], serial[0]);
        }

        /* Reserved area, FATs, root directory. */
        r = lb_extents_add(ret, 0, datastart * bps);
        if (r < 0)
                return r;

        uint64_t fatpos = (rsvd + active * fatsz) * (uint64_t)bps;
        uint64_t databytes = datastart * bps;
        uint64_t last = clusters + 1; /* highest valid cluster number */

        if (bits != 32) {
                /* At most 4084*1.5 or 65524*2 bytes: read the used part whole. */
                size_t len = bits == 12 ? (size_t)((last + 1) * 3 + 1) / 2 : (size_t)(last + 1) * 2;
                buf = malloc(len + 1);
                if (!buf)
                        return -ENOMEM;
                buf[len] = 0;
                r = lb_fs_read(fd, offset, size, fatpos, buf, len);
                if (r < 0)
                        return r;
                for (uint64_t c = 2; c <= last; c++) {
                        uint32_t v;
                        if (bits == 12) {
                                uint16_t w = le16_get(buf + c * 3 / 2);
                                v = c & 1 ? w >> 4 : w & 0xfff;
                                if (v == 0xff7)
                                        continue;
                        } else {
                                v = le16_get(buf + c * 2);
                                if (v == 0xfff7)
                                        continue;
                        }
                        if (v != 0) {
                                r = lb_extents_add(ret, databytes + (c - 2) * csize, csize);
                                if (r < 0)
                                        return r;
                        }
                }
        } else {
                buf = malloc(FAT_CHUNK);
                if (!buf)
                        return -ENOMEM;
                for (uint64_t c0 = 0; c0 <= last; c0 += FAT_CHUNK / 4) {
                        uint64_t n = MIN((uint64_t)FAT_CHUNK / 4, last + 1 - c0);
                        r = lb_fs_read(fd, offset, size, fatpos + c0 * 4, buf, n * 4);
                        if (r < 0)
                                return r;
                        for (uint64_t i = 0; i < n; i++) {
                                uint64_t c = c0 + i;
                                uint32_t v = le32_get(buf + i * 4) & 0x0FFFFFFF;
                                if (c < 2 || v == 0 || v == 0x0FFFFFF7)
                                        continue;
                                r = lb_extents_add(ret, databytes + (c - 2) * csize, csize);
                                if (r < 0)
                                        return r;
                        }
                }
        }

        info->used_bytes = lb_extents_total(ret);
        return 0;
}

static const char *const fat_types[] = { "vfat", "msdos", NULL };

const struct lb_fs_ops lb_fs_fat = {
        .name = "vfat",
        .blkid_types = fat_types,
        .used = fat_used,
};
