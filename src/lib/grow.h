/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Growing a restored disk's last partition and its filesystem into the extra
 * space of a larger target. Filesystems are grown with their own tools
 * (resize2fs, xfs_growfs, ntfsresize, btrfs, mkswap), run on a loop device
 * that covers exactly the partition. */
#pragma once

#include "disk.h"

/* Extends the last partition of the table on fd (a GPT or an MBR primary
 * partition) to the end of the usable area, then its filesystem. *ret_part
 * gets the partition number grown. */
int lb_grow_last_partition(int fd, const char *target, const struct lb_disk_layout *layout, unsigned *ret_part);

/* Can the last partition of this layout and its filesystem be grown? Checked
 * before a restore writes anything. */
int lb_grow_check(const struct lb_disk_layout *layout);

/* A loop device over [offset, offset+size) of fd, detached on last close. */
int lb_loop_attach(int fd, uint64_t offset, uint64_t size, bool read_only, char *ret_path, size_t len);
