/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Linux swap: only the header page (signature, UUID, label) matters; the
 * rest is scratch space. Hibernation images ("swsuspend") are not handled
 * here, so they are stored whole. */
#include <inttypes.h>
#include <stdio.h>

#include "fs.h"
#include "util.h"

static int swap_used(int fd, uint64_t offset, uint64_t size, struct lb_extents *ret, struct lb_fs_info *info)
{
        static const uint32_t page_sizes[] = { 4096, 8192, 16384, 32768, 65536 };
        char magic[10];
        uint8_t hdr[1024 + 48];
        uint32_t page = 0;
        int r;

        lb_fs_info_init(info, "swap");
        for (size_t i = 0; i < ELEMENTSOF(page_sizes) && page_sizes[i] <= size; i++) {
                r = lb_fs_read(fd, offset, size, page_sizes[i] - 10, magic, sizeof(magic));
                if (r < 0)
                        return r;
                if (memcmp(magic, "SWAPSPACE2", 10) == 0 || memcmp(magic, "SWAP-SPACE", 10) == 0) {
                        page = page_sizes[i];
                        break;
                }
                if (memcmp(magic, "S1SUSPEND", 9) == 0 || memcmp(magic, "S2SUSPEND", 9) == 0 ||
                    memcmp(magic, "ULSUSPEND", 9) == 0 || memcmp(magic, "LINHIB0001", 10) == 0)
                        return lb_error_set(-EOPNOTSUPP, "swap area holds a hibernation image");
        }
        if (page == 0)
                return lb_error_set(-EUCLEAN, "no swap signature found");

        info->block_size = page;
        info->total_bytes = size;
        if (memcmp(magic, "SWAPSPACE2", 10) == 0) {
                r = lb_fs_read(fd, offset, size, 0, hdr, sizeof(hdr));
                if (r < 0)
                        return r;
                uint32_t version = le32_get(hdr + 1024), last_page = le32_get(hdr + 1028);
                /* The header is in the creator's byte order. */
                if (version == 0x01000000) {
                        last_page = __builtin_bswap32(last_page);
                        version = 1;
                }
                if (version == 1 && last_page > 0 && (uint64_t)last_page + 1 <= size / page)
                        info->total_bytes = ((uint64_t)last_page + 1) * page;
                lb_fs_uuid_format(hdr + 1036, info->uuid, sizeof(info->uuid));
                snprintf(info->label, sizeof(info->label), "%.16s", (const char *)hdr + 1052);
        }

        r = lb_extents_add(ret, 0, page);
        if (r < 0)
                return r;
        info->used_bytes = page;
        return 0;
}

static const char *const swap_types[] = { "swap", NULL };

const struct lb_fs_ops lb_fs_swap = {
        .name = "swap",
        .blkid_types = swap_types,
        .used = swap_used,
};
