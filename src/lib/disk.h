/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What a source holds: a partitioned disk (read with libfdisk) or a single
 * volume, the filesystem in each partition, and the byte ranges that must be
 * stored (the used map). Everything outside the used map is stored as
 * "unused": not read, and not written on restore. */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "fs/fs.h"
#include "source.h"

struct lb_partition {
        unsigned number;
        uint64_t start, size; /* bytes */
        char type[64];        /* GPT type GUID or MBR code ("0x83") */
        char type_name[64];
        char uuid[64];        /* GPT partition GUID */
        char name[128];       /* GPT partition name */
        bool container;       /* MBR extended partition */
        struct lb_fs_info fs; /* fs.type empty: nothing recognised */
        bool all_blocks;      /* stored whole (unknown fs, LUKS, damaged...) */
        char note[160];       /* why all blocks */
        uint64_t used_bytes;
        uint64_t stored_bytes; /* what this backup added to the repository for it */
};

struct lb_disk_layout {
        char table[8];        /* "gpt", "dos", or "" for a single volume */
        char id[64];          /* disk GUID or MBR disk identifier */
        struct lb_disk_identity ident; /* the source disk's model, serial, WWID (whole disks) */
        uint32_t sector_size;
        uint64_t size;
        uint64_t first_lba, last_lba; /* usable area (GPT) */
        struct lb_partition *parts;
        size_t nparts;
        struct lb_fs_info fs; /* single volume: its filesystem */
        bool all_blocks;
        char note[160];
        uint64_t used_bytes;  /* total of the used map */
};

/* Scan the open, read-only source. Fills layout and the used map (absolute
 * byte ranges, sorted and merged). Never fails because of what the disk
 * holds: unreadable tables or filesystems fall back to "all blocks" with a
 * warning. */
int lb_disk_scan(int fd, const char *path, uint64_t size, struct lb_disk_layout *layout, struct lb_extents *used);
/* The partition holding byte off of the disk, or NULL (gaps, containers). */
struct lb_partition *lb_disk_partition_at(struct lb_disk_layout *l, uint64_t off);

/* After a disk image was written: rewrite its GPT when the target is larger
 * (always: the backup GPT moves to the new end, so the whole disk is usable
 * and firmware finds the backup where it belongs) or when libfdisk finds
 * anything wrong with it (a primary header that was damaged on the source). */
int lb_disk_relocate_gpt(int fd, const char *path, bool always);
void lb_disk_layout_done(struct lb_disk_layout *l);
json_object *lb_disk_layout_to_json(const struct lb_disk_layout *l);
int lb_disk_layout_from_json(json_object *o, struct lb_disk_layout *l);
