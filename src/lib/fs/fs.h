/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Used-block readers: for a filesystem volume, the byte ranges that hold
 * anything the filesystem needs (metadata, data, journal). Everything else
 * may be stored as zeros when imaging a disk. Readers open the volume
 * read-only, distrust every on-disk field and never write. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Byte ranges from the volume start, sorted, non-overlapping, merged. */
struct lb_extent {
        uint64_t start, len;
};

struct lb_extents {
        struct lb_extent *v;
        size_t n, cap;
};

struct lb_fs_info {
        char type[16];   /* libblkid TYPE, or the reader's name */
        char label[256];
        char uuid[64];
        uint64_t block_size;  /* allocation unit (cluster) in bytes */
        uint64_t total_bytes; /* size of the filesystem */
        uint64_t used_bytes;  /* sum of the extents */
};

struct lb_fs_ops {
        const char *name;               /* "ext4" */
        const char *const *blkid_types; /* libblkid TYPE values it handles, NULL-terminated */
        /* Fill ret with the byte ranges the filesystem uses within [0,size) of
         * the volume that starts at byte `offset` of the open fd. Returns 0 or
         * -errno with lb_error_set(): -EUCLEAN for a damaged filesystem,
         * -EOPNOTSUPP for one it cannot map. ret must be empty on entry; on
         * error it may hold partial results (call lb_extents_free()). */
        int (*used)(int fd, uint64_t offset, uint64_t size, struct lb_extents *ret, struct lb_fs_info *info);
};

extern const struct lb_fs_ops lb_fs_ext, lb_fs_swap, lb_fs_fat, lb_fs_xfs, lb_fs_ntfs, lb_fs_btrfs;
extern const struct lb_fs_ops *const lb_fs_table[]; /* NULL-terminated */

/* Probe the volume with libblkid and run the reader for its TYPE (never by
 * partition type code). Returns -ENOTSUP (info->type filled if anything was
 * recognised) when no reader handles it, or the reader's error; on any error
 * ret is left empty and the caller stores every block. On success
 * info->type/label/uuid are what libblkid (and so lsblk) reports. */
int lb_fs_used(int fd, uint64_t offset, uint64_t size, struct lb_extents *ret, struct lb_fs_info *info);
const struct lb_fs_ops *lb_fs_find(const char *blkid_type);

/* Add [start, start+len); merges with overlapping or adjacent ranges, in any
 * order (appending in ascending order is O(1)). */
int lb_extents_add(struct lb_extents *e, uint64_t start, uint64_t len);
uint64_t lb_extents_total(const struct lb_extents *e);
void lb_extents_free(struct lb_extents *e);

/* Shared by the readers. */
int lb_fs_read(int fd, uint64_t offset, uint64_t size, uint64_t pos, void *buf, size_t n);
uint32_t lb_crc32c(uint32_t crc, const void *buf, size_t n);
void lb_fs_uuid_format(const uint8_t u[16], char *out, size_t len);
void lb_fs_info_init(struct lb_fs_info *info, const char *type);
