/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fs.h"

#include <blkid.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "util.h"

const struct lb_fs_ops *const lb_fs_table[] = {
        &lb_fs_ext,
        &lb_fs_xfs,
        &lb_fs_btrfs,
        &lb_fs_fat,
        &lb_fs_ntfs,
        &lb_fs_swap,
        NULL,
};

int lb_extents_add(struct lb_extents *e, uint64_t start, uint64_t len)
{
        if (len == 0)
                return 0;
        if (start + len < start)
                return -EOVERFLOW;
        uint64_t end = start + len;

        /* Fast path: ascending order. */
        if (e->n > 0) {
                struct lb_extent *last = &e->v[e->n - 1];
                if (start >= last->start && start <= last->start + last->len) {
                        if (end > last->start + last->len)
                                last->len = end - last->start;
                        return 0;
                }
        }

        /* First extent whose end is >= start (ends are ascending). */
        size_t lo = 0, hi = e->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (e->v[mid].start + e->v[mid].len < start)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        size_t i = lo;

        if (i == e->n || e->v[i].start > end) {
                if (e->n == e->cap) {
                        size_t cap = e->cap ? e->cap * 2 : 64;
                        struct lb_extent *v = reallocarray(e->v, cap, sizeof(*v));
                        if (!v)
                                return -ENOMEM;
                        e->v = v;
                        e->cap = cap;
                }
                memmove(e->v + i + 1, e->v + i, (e->n - i) * sizeof(*e->v));
                e->v[i] = (struct lb_extent) { start, len };
                e->n++;
                return 0;
        }

        /* Overlaps or touches e->v[i], maybe more after it. */
        uint64_t s = MIN(start, e->v[i].start);
        uint64_t t = MAX(end, e->v[i].start + e->v[i].len);
        size_t j = i;
        while (j + 1 < e->n && e->v[j + 1].start <= t) {
                j++;
                t = MAX(t, e->v[j].start + e->v[j].len);
        }
        e->v[i] = (struct lb_extent) { s, t - s };
        memmove(e->v + i + 1, e->v + j + 1, (e->n - j - 1) * sizeof(*e->v));
        e->n -= j - i;
        return 0;
}

uint64_t lb_extents_total(const struct lb_extents *e)
{
        uint64_t sum = 0;
        for (size_t i = 0; i < e->n; i++)
                sum += e->v[i].len;
        return sum;
}

void lb_extents_free(struct lb_extents *e)
{
        free(e->v);
        *e = (struct lb_extents) {};
}

int lb_fs_read(int fd, uint64_t offset, uint64_t size, uint64_t pos, void *buf, size_t n)
{
        if (pos > size || n > size - pos)
                return lb_error_set(-EUCLEAN, "read of %zu bytes at %" PRIu64 " beyond the end of the volume (%" PRIu64 " bytes)",
                                    n, pos, size);
        if (offset + pos < offset)
                return -EOVERFLOW;
        int r = read_full_at(fd, buf, n, offset + pos);
        if (r < 0)
                return lb_error_set(r, "cannot read %zu bytes at %" PRIu64 ": %s", n, offset + pos, strerror(-r));
        return 0;
}

/* CRC-32C (Castagnoli, reflected 0x82F63B78), no pre/post inversion: callers
 * pass ~0 as the seed and invert as their format requires. */
uint32_t lb_crc32c(uint32_t crc, const void *buf, size_t n)
{
        static uint32_t table[256];
        static bool init;
        if (!__atomic_load_n(&init, __ATOMIC_ACQUIRE)) {
                for (uint32_t i = 0; i < 256; i++) {
                        uint32_t c = i;
                        for (int k = 0; k < 8; k++)
                                c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
                        table[i] = c;
                }
                __atomic_store_n(&init, true, __ATOMIC_RELEASE);
        }
        const uint8_t *p = buf;
        while (n--)
                crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
        return crc;
}

void lb_fs_uuid_format(const uint8_t u[16], char *out, size_t len)
{
        snprintf(out, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

void lb_fs_info_init(struct lb_fs_info *info, const char *type)
{
        *info = (struct lb_fs_info) {};
        snprintf(info->type, sizeof(info->type), "%s", type);
}

const struct lb_fs_ops *lb_fs_find(const char *blkid_type)
{
        for (size_t i = 0; lb_fs_table[i]; i++)
                for (const char *const *t = lb_fs_table[i]->blkid_types; t && *t; t++)
                        if (strcmp(*t, blkid_type) == 0)
                                return lb_fs_table[i];
        return NULL;
}

static void blkid_free_probep(blkid_probe *pr)
{
        if (*pr)
                blkid_free_probe(*pr);
}

int lb_fs_used(int fd, uint64_t offset, uint64_t size, struct lb_extents *ret, struct lb_fs_info *info)
{
        _cleanup_(blkid_free_probep) blkid_probe pr = NULL;
        const char *v;
        char type[16] = "", label[256] = "", uuid[64] = "";
        int r;

        lb_fs_info_init(info, "");
        if (size == 0)
                return lb_error_set(-ENOTSUP, "empty volume");

        pr = blkid_new_probe();
        if (!pr)
                return -ENOMEM;
        if (blkid_probe_set_device(pr, fd, (blkid_loff_t)offset, (blkid_loff_t)size) < 0)
                return lb_error_set(-EIO, "cannot probe the volume at offset %" PRIu64, offset);
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID);
        blkid_probe_enable_partitions(pr, 0);

        errno = 0;
        r = blkid_do_safeprobe(pr);
        if (r == -2)
                return lb_error_set(-ENOTSUP, "several filesystem signatures found, not guessing");
        if (r < 0)
                return lb_error_set(errno > 0 ? -errno : -EIO, "cannot probe the volume");
        if (r == 1)
                return lb_error_set(-ENOTSUP, "no known filesystem found");

        if (blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0)
                snprintf(type, sizeof(type), "%s", v);
        if (blkid_probe_lookup_value(pr, "LABEL", &v, NULL) == 0)
                snprintf(label, sizeof(label), "%s", v);
        if (blkid_probe_lookup_value(pr, "UUID", &v, NULL) == 0)
                snprintf(uuid, sizeof(uuid), "%s", v);

        const struct lb_fs_ops *ops = type[0] ? lb_fs_find(type) : NULL;
        if (!ops) {
                snprintf(info->type, sizeof(info->type), "%s", type);
                return lb_error_set(-ENOTSUP, "no used-block reader for filesystem type '%s'", type);
        }

        r = ops->used(fd, offset, size, ret, info);
        /* Report what blkid (and so lsblk) shows, also when the reader failed. */
        snprintf(info->type, sizeof(info->type), "%s", type);
        if (r < 0) {
                lb_extents_free(ret); /* no partial results */
                if (label[0])
                        snprintf(info->label, sizeof(info->label), "%s", label);
                if (uuid[0])
                        snprintf(info->uuid, sizeof(info->uuid), "%s", uuid);
                return r;
        }
        if (label[0])
                snprintf(info->label, sizeof(info->label), "%s", label);
        if (uuid[0])
                snprintf(info->uuid, sizeof(info->uuid), "%s", uuid);
        info->used_bytes = lb_extents_total(ret);
        return 0;
}
