/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lifeboat media create --usb DEVICE (media-usb.c). */
#pragma once

#include <stddef.h>

/* May the ISO go onto dev? A whole-disk block device, nothing of it mounted,
 * used as swap or held by another device, not a disk of the running system,
 * not the disk of any of the repositories (directories here, or media
 * locations DEVICE[:/PATH]). Prints the reason and returns 1 if not. */
int media_usb_check(const char *dev, const char *const *repos, size_t nrepos);
/* Checks again, then writes iso to dev (exclusively; refused if smaller than
 * the image), fsyncs, reads it back past the page cache and compares.
 * Returns 0, or 1 with the reason printed. */
int media_usb_write(const char *iso, const char *dev, const char *const *repos, size_t nrepos);
