/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lifeboat media create --usb DEVICE (media-usb.c). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "source.h"

/* What the device checked before the build is, to be found unchanged when
 * it is written. */
struct media_usb_device {
        dev_t rdev;
        uint64_t size;
        struct lb_disk_identity ident; /* serial number, WWID, model ("" where unknown) */
};

/* May the ISO go onto dev? A whole-disk block device, nothing of it mounted,
 * used as swap or held by another device, not a disk of the running system,
 * not the disk of any of the repositories (directories here, or media
 * locations DEVICE[:/PATH]). Prints the reason and returns 1 if not; else
 * records in *ret what the device is. */
int media_usb_check(const char *dev, const char *const *repos, size_t nrepos, struct media_usb_device *ret);
/* Opens dev exclusively, then checks that it is still the device of
 * *checked (device number, size, serial number, WWID: else "the device
 * changed during the build") and passes the checks again, on the open
 * descriptor; writes iso to it (refused if smaller than the image), fsyncs,
 * reads it back past the page cache and compares. Returns 0, or 1 with the
 * reason printed. */
int media_usb_write(const char *iso, const char *dev, const struct media_usb_device *checked,
                    const char *const *repos, size_t nrepos);
