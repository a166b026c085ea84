/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "grow.h"

#include <fcntl.h>
#include <libfdisk/libfdisk.h>
#include <linux/loop.h>
#include <poll.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "util.h"

int lb_loop_attach(int fd, uint64_t offset, uint64_t size, bool read_only, char *ret_path, size_t len)
{
        _cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (ctl < 0)
                return lb_error_set(-errno, "cannot open /dev/loop-control: %m (is the loop module loaded?)");
        for (int attempt = 0; attempt < 16; attempt++) {
                int n = ioctl(ctl, LOOP_CTL_GET_FREE);
                if (n < 0)
                        return lb_error_set(-errno, "no free loop device: %m");
                snprintf(ret_path, len, "/dev/loop%d", n);
                int lfd = open(ret_path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
                if (lfd < 0)
                        return lb_error_set(-errno, "cannot open %s: %m", ret_path);
                struct loop_config cfg = { .fd = (uint32_t)fd };
                cfg.info.lo_offset = offset;
                cfg.info.lo_sizelimit = size;
                cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
                if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0)
                        return lfd; /* keep it open: the device lives while this fd does */
                int e = errno;
                close(lfd);
                if (e != EBUSY) /* EBUSY: someone took it meanwhile, try the next */
                        return lb_error_set(-e, "cannot set up %s: %s", ret_path, strerror(e));
        }
        return lb_error_set(-EBUSY, "no free loop device");
}

static int run_checked(const char *what, const char *const argv[], int ok_max)
{
        char out[1024] = "";
        int r = run_program(argv, out, sizeof(out));
        if (r == -ENOENT)
                return lb_error_set(-ENOENT, "%s needs %s, which is not installed", what, argv[0]);
        if (r < 0)
                return lb_error_set(r, "cannot run %s: %s", argv[0], strerror(-r));
        if (r > ok_max) {
                const char *last = strrchr(out, '\n');
                return lb_error_set(-EIO, "%s: %s failed (exit %d): %s", what, argv[0], r, last ? last + 1 : out);
        }
        return 0;
}

/* Mount, run the grow command on the mount point, unmount. */
static int grow_mounted(const char *dev, const char *fstype, const char *what, const char *const argv_tmpl[])
{
        char dir[] = "/tmp/lifeboat-grow.XXXXXX";
        if (!mkdtemp(dir))
                return lb_error_set(-errno, "cannot make a temporary mount point: %m");
        if (mount(dev, dir, fstype, 0, NULL) < 0) {
                int e = errno;
                rmdir(dir);
                return lb_error_set(-e, "%s: cannot mount %s to grow it: %s", what, dev, strerror(e));
        }
        const char *argv[8];
        size_t i = 0;
        for (; argv_tmpl[i] && i < 7; i++)
                argv[i] = strcmp(argv_tmpl[i], "@") == 0 ? dir : argv_tmpl[i];
        argv[i] = NULL;
        int r = run_checked(what, argv, 0);
        if (umount(dir) < 0 && r == 0)
                r = lb_error_set(-errno, "cannot unmount %s: %m", dir);
        rmdir(dir);
        return r;
}

static int grow_fs(const char *dev, const struct lb_partition *p)
{
        const char *t = p->fs.type;
        char what[64];
        snprintf(what, sizeof(what), "growing %s in partition %u", t, p->number);
        if (!strcmp(t, "ext2") || !strcmp(t, "ext3") || !strcmp(t, "ext4")) {
                /* resize2fs insists on a freshly checked filesystem */
                const char *fsck[] = { "e2fsck", "-f", "-p", dev, NULL };
                int r = run_checked(what, fsck, 1);
                if (r < 0)
                        return r;
                const char *rs[] = { "resize2fs", dev, NULL };
                return run_checked(what, rs, 0);
        }
        if (!strcmp(t, "xfs")) {
                const char *g[] = { "xfs_growfs", "@", NULL };
                return grow_mounted(dev, "xfs", what, g);
        }
        if (!strcmp(t, "btrfs")) {
                const char *g[] = { "btrfs", "filesystem", "resize", "max", "@", NULL };
                return grow_mounted(dev, "btrfs", what, g);
        }
        if (!strcmp(t, "ntfs")) {
                const char *g[] = { "ntfsresize", "--force", "--no-progress-bar", dev, NULL };
                /* ntfsresize asks for confirmation on stdin unless forced twice */
                const char *g2[] = { "ntfsresize", "--force", "--force", "--no-progress-bar", dev, NULL };
                (void)g;
                return run_checked(what, g2, 0);
        }
        if (!strcmp(t, "swap")) {
                const char *mk[] = { "mkswap", "-U", p->fs.uuid, "-L", p->fs.label[0] ? p->fs.label : "", dev, NULL };
                if (!p->fs.label[0]) {
                        const char *mk2[] = { "mkswap", "-U", p->fs.uuid, dev, NULL };
                        return run_checked(what, mk2, 0);
                }
                return run_checked(what, mk, 0);
        }
        return lb_error_set(-EOPNOTSUPP, "partition %u was extended, but its filesystem (%s) cannot be grown by Lifeboat: "
                            "grow it with its own tools", p->number, t[0] ? t : "unknown");
}

static const struct lb_partition *last_partition(const struct lb_disk_layout *layout)
{
        const struct lb_partition *last = NULL;
        for (size_t i = 0; i < layout->nparts; i++)
                if (!layout->parts[i].container && (!last || layout->parts[i].start > last->start))
                        last = &layout->parts[i];
        return last;
}

static bool growable(const char *t)
{
        static const char *const types[] = { "ext2", "ext3", "ext4", "xfs", "btrfs", "ntfs", "swap" };
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if (!strcmp(t, types[i]))
                        return true;
        return false;
}

int lb_grow_check(const struct lb_disk_layout *layout)
{
        const struct lb_partition *last = last_partition(layout);
        if (!layout->table[0])
                return lb_error_set(-EINVAL, "--grow: the image has no partition table; nothing to grow");
        if (!last)
                return lb_error_set(-ENOENT, "--grow: the image has no partition to grow");
        if (!strcmp(layout->table, "dos") && last->number > 4)
                return lb_error_set(-EOPNOTSUPP, "--grow: the last partition (%u) is a logical partition; growing "
                                    "those is not supported. Nothing was written", last->number);
        if (!growable(last->fs.type))
                return lb_error_set(-EOPNOTSUPP, "--grow: the last partition (%u) holds %s, which Lifeboat cannot "
                                    "grow (it grows ext2/3/4, XFS, btrfs, NTFS and swap). Nothing was written",
                                    last->number, last->fs.type[0] ? last->fs.type : "no filesystem it knows");
        return 0;
}

int lb_grow_last_partition(int fd, const char *target, const struct lb_disk_layout *layout, unsigned *ret_part)
{
        int r = lb_grow_check(layout);
        if (r < 0)
                return r;
        const struct lb_partition *last = last_partition(layout);

        struct fdisk_context *cxt = fdisk_new_context();
        struct fdisk_partition *pa = NULL;
        if (!cxt)
                return -ENOMEM;
        r = fdisk_assign_device_by_fd(cxt, fd, target, 0);
        uint64_t ss = 512, start = 0, size = 0;
        if (r == 0)
                r = fdisk_has_label(cxt) ? 0 : -EBADMSG;
        if (r == 0) {
                ss = fdisk_get_sector_size(cxt);
                r = fdisk_get_partition(cxt, last->number - 1, &pa);
        }
        if (r == 0) {
                start = fdisk_partition_get_start(pa);
                uint64_t end = fdisk_get_last_lba(cxt);
                /* keep the end on the table's alignment grain */
                uint64_t grain = fdisk_get_grain_size(cxt) / ss;
                uint64_t new_end = grain > 1 ? ((end + 1) / grain) * grain - 1 : end;
                size = new_end >= start ? new_end - start + 1 : 0;
                if (size > (uint64_t)fdisk_partition_get_size(pa)) {
                        struct fdisk_partition *np = fdisk_new_partition();
                        if (!np)
                                r = -ENOMEM;
                        else {
                                fdisk_partition_set_size(np, size);
                                r = fdisk_set_partition(cxt, last->number - 1, np);
                                fdisk_unref_partition(np);
                        }
                        if (r == 0)
                                r = fdisk_write_disklabel(cxt);
                } else {
                        size = fdisk_partition_get_size(pa);
                }
        }
        fdisk_unref_partition(pa);
        fdisk_unref_context(cxt);
        if (r < 0)
                return lb_error_set(r, "--grow: cannot extend partition %u of %s: %s", last->number, target, strerror(-r));
        if (fsync(fd) < 0)
                return lb_error_set(-errno, "cannot flush %s: %m", target);

        char dev[64];
        int lfd = lb_loop_attach(fd, start * ss, size * ss, false, dev, sizeof(dev));
        if (lfd < 0)
                return lfd;
        r = grow_fs(dev, last);
        close(lfd);
        *ret_part = last->number;
        return r;
}
