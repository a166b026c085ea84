/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Opening what is backed up (read-only) and what is restored onto. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct lb_source {
        char *path;
        int fd;
        uint64_t size;
        bool is_blockdev;
        dev_t rdev; /* block devices */
};

/* Opens a block device or regular file read-only. Clear messages for a
 * missing, unreadable, empty or wrong-type source. */
int lb_source_open(const char *path, struct lb_source *ret);
void lb_source_close(struct lb_source *s);

struct lb_target {
        char *path;
        int fd;
        uint64_t size;       /* device size; for a file, the image size */
        bool is_blockdev;
};

/* Opens a restore target for writing, exclusively. A device must not be
 * mounted or in use and must hold `need` bytes; a file is created sparse
 * (an existing non-empty file only with force). */
int lb_target_open(const char *path, uint64_t need, bool force, struct lb_target *ret);
void lb_target_close(struct lb_target *t);
/* Is this block device, or a partition of it, mounted, used as swap, or held
 * by another device (RAID, LVM, LUKS)? Returns a description or NULL. */
char *lb_blockdev_users(dev_t dev);
/* Mount points of the device (or its partitions) mounted read-write, or NULL. */
char *lb_blockdev_rw_mounts(dev_t dev);
/* Does the filesystem holding path live on the same disk as block device
 * dev (through partitions, LVM, RAID or encryption)? */
bool lb_path_on_disk_of(const char *path, dev_t dev);
/* Do two block devices share a whole disk (a partition and its disk, two
 * partitions of one disk, LVM or RAID over it)? */
bool lb_blockdev_same_disk(dev_t a, dev_t b);
/* The whole disks holding the given mount points (those that are mounted)
 * and the active swap areas, as /dev paths, without duplicates. */
int lb_system_disks(const char *const *mountpoints, size_t n, char ***ret, size_t *ret_n);

/* What identifies a whole disk, where the hardware tells: empty strings
 * where unknown (partitions, loop devices, RAM disks). */
struct lb_disk_identity {
        char model[64];
        char serial[128];
        char wwid[256];
};
/* Read from a sysfs block directory (/sys/dev/block/M:m or /sys/block/NAME):
 * model from device/model; serial from serial (virtio), device/serial (NVMe,
 * MMC) or the SCSI/ATA unit serial number page device/vpd_pg80; wwid from
 * wwid (NVMe namespaces) or device/wwid (SCSI, ATA). Blanks trimmed; a
 * partition gets nothing (it is not the disk). */
void lb_disk_identity_read(const char *sysdir, struct lb_disk_identity *ret);
void lb_blockdev_identity(dev_t dev, struct lb_disk_identity *ret);
