/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "source.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "util.h"

static int dev_size(int fd, uint64_t *ret)
{
        uint64_t sz;
        if (ioctl(fd, BLKGETSIZE64, &sz) < 0)
                return -errno;
        *ret = sz;
        return 0;
}

int lb_source_open(const char *path, struct lb_source *ret)
{
        struct stat st;
        memset(ret, 0, sizeof(*ret));
        ret->fd = -1;
        if (stat(path, &st) < 0) {
                if (errno == ENOENT)
                        return lb_error_set(-ENOENT, "source %s does not exist", path);
                return lb_error_set(-errno, "cannot access source %s: %m", path);
        }
        if (S_ISDIR(st.st_mode))
                return lb_error_set(-EISDIR, "source %s is a directory: give a block device or an image file", path);
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return lb_error_set(-EINVAL, "source %s is neither a block device nor a regular file", path);
        /* Sources are only ever opened read-only. */
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return lb_error_set(-errno, "cannot open source %s for reading: %m", path);
        ret->fd = fd;
        ret->is_blockdev = S_ISBLK(st.st_mode);
        if (ret->is_blockdev) {
                int k = dev_size(fd, &ret->size);
                if (k < 0) {
                        lb_source_close(ret);
                        return lb_error_set(k, "cannot get the size of %s: %s", path, strerror(-k));
                }
        } else {
                ret->size = (uint64_t)st.st_size;
        }
        if (ret->size == 0) {
                lb_source_close(ret);
                return lb_error_set(-EINVAL, "source %s is empty", path);
        }
        ret->path = strdup(path);
        if (!ret->path) {
                lb_source_close(ret);
                return -ENOMEM;
        }
        posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        return 0;
}

void lb_source_close(struct lb_source *s)
{
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        free(s->path);
        s->path = NULL;
}

/* Append "what" to a growing description. */
static void add_use(char **acc, const char *what)
{
        char *n;
        if (asprintf(&n, "%s%s%s", *acc ? *acc : "", *acc ? ", " : "", what) >= 0) {
                free(*acc);
                *acc = n;
        }
}

/* Collect dev_t of the device and its partitions from sysfs. */
static size_t related_devs(dev_t dev, dev_t *v, size_t max)
{
        char path[128], buf[64];
        size_t n = 0;
        v[n++] = dev;
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", major(dev), minor(dev));
        DIR *d = opendir(path);
        if (!d)
                return n;
        struct dirent *e;
        while ((e = readdir(d)) && n < max) {
                char p2[512];
                unsigned ma, mi;
                snprintf(p2, sizeof(p2), "%s/%s/partition", path, e->d_name);
                if (access(p2, F_OK) < 0)
                        continue;
                snprintf(p2, sizeof(p2), "%s/%s/dev", path, e->d_name);
                FILE *f = fopen(p2, "re");
                if (!f)
                        continue;
                if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%u:%u", &ma, &mi) == 2)
                        v[n++] = makedev(ma, mi);
                fclose(f);
        }
        closedir(d);
        return n;
}

static bool has_holders(dev_t dev)
{
        char path[128];
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/holders", major(dev), minor(dev));
        DIR *d = opendir(path);
        if (!d)
                return false;
        struct dirent *e;
        bool any = false;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.')
                        any = true;
        closedir(d);
        return any;
}

char *lb_blockdev_users(dev_t dev)
{
        dev_t devs[256];
        size_t n = related_devs(dev, devs, ELEMENTSOF(devs));
        char *acc = NULL, line[4096], what[2100];
        FILE *f = fopen("/proc/self/mountinfo", "re");
        while (f && fgets(line, sizeof(line), f)) {
                unsigned ma, mi;
                char mnt[2048];
                if (sscanf(line, "%*d %*d %u:%u %*s %2047s", &ma, &mi, mnt) != 3)
                        continue;
                for (size_t i = 0; i < n; i++)
                        if (devs[i] == makedev(ma, mi)) {
                                snprintf(what, sizeof(what), "mounted on %s", mnt);
                                add_use(&acc, what);
                        }
        }
        if (f)
                fclose(f);
        f = fopen("/proc/swaps", "re");
        while (f && fgets(line, sizeof(line), f)) {
                char name[2048];
                struct stat st;
                if (sscanf(line, "%2047s", name) != 1 || stat(name, &st) < 0 || !S_ISBLK(st.st_mode))
                        continue;
                for (size_t i = 0; i < n; i++)
                        if (devs[i] == st.st_rdev)
                                add_use(&acc, "used as swap");
        }
        if (f)
                fclose(f);
        for (size_t i = 0; i < n; i++)
                if (has_holders(devs[i]))
                        add_use(&acc, "held by another device (RAID, LVM or encryption)");
        return acc;
}

int lb_target_open(const char *path, uint64_t need, bool force, struct lb_target *ret)
{
        struct stat st;
        char a[32], b[32];
        memset(ret, 0, sizeof(*ret));
        ret->fd = -1;
        int sr = stat(path, &st);
        if (sr < 0 && errno != ENOENT)
                return lb_error_set(-errno, "cannot access target %s: %m", path);
        if (sr == 0 && S_ISBLK(st.st_mode)) {
                _cleanup_free_ char *users = lb_blockdev_users(st.st_rdev);
                if (users)
                        return lb_error_set(-EBUSY, "target %s is in use (%s): unmount it first; Lifeboat never restores over a device in use", path, users);
                /* O_EXCL on a block device fails with EBUSY while anyone holds it. */
                int fd = open(path, O_RDWR | O_EXCL | O_CLOEXEC | O_NOCTTY);
                if (fd < 0) {
                        if (errno == EBUSY)
                                return lb_error_set(-EBUSY, "target %s is in use by another program", path);
                        return lb_error_set(-errno, "cannot open target %s for writing: %m", path);
                }
                ret->fd = fd;
                ret->is_blockdev = true;
                int k = dev_size(fd, &ret->size);
                if (k < 0) {
                        lb_target_close(ret);
                        return lb_error_set(k, "cannot get the size of %s: %s", path, strerror(-k));
                }
                if (ret->size < need) {
                        lb_target_close(ret);
                        return lb_error_set(-ENOSPC, "target %s is %s, the image needs %s", path,
                                            format_bytes(ret->size, a, sizeof(a)), format_bytes(need, b, sizeof(b)));
                }
        } else {
                bool exists = sr == 0;
                if (exists && S_ISDIR(st.st_mode))
                        return lb_error_set(-EISDIR, "target %s is a directory: give a block device or a file name", path);
                if (exists && !S_ISREG(st.st_mode))
                        return lb_error_set(-EINVAL, "target %s is neither a block device nor a regular file", path);
                if (exists && st.st_size > 0 && !force)
                        return lb_error_set(-EEXIST, "target file %s exists and is not empty: use --force to overwrite it", path);
                int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
                if (fd < 0)
                        return lb_error_set(-errno, "cannot create target %s: %m", path);
                ret->fd = fd;
                /* Start from an empty file so skipped zero chunks read back as holes. */
                if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)need) < 0) {
                        int e = errno;
                        lb_target_close(ret);
                        return lb_error_set(-e, "cannot size target %s to %s: %s", path,
                                            format_bytes(need, a, sizeof(a)), strerror(e));
                }
                ret->size = need;
        }
        ret->path = strdup(path);
        if (!ret->path) {
                lb_target_close(ret);
                return -ENOMEM;
        }
        return 0;
}

void lb_target_close(struct lb_target *t)
{
        if (t->fd >= 0)
                close(t->fd);
        t->fd = -1;
        free(t->path);
        t->path = NULL;
}
