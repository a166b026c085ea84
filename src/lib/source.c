/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "source.h"

#include <dirent.h>
#include <limits.h>
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
        ret->rdev = st.st_rdev;
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

char *lb_blockdev_rw_mounts(dev_t dev)
{
        dev_t devs[256];
        size_t n = related_devs(dev, devs, ELEMENTSOF(devs));
        char *acc = NULL, line[4096];
        FILE *f = fopen("/proc/self/mountinfo", "re");
        while (f && fgets(line, sizeof(line), f)) {
                unsigned ma, mi;
                char mnt[2048], opts[1024];
                /* id parent major:minor root mountpoint options ... */
                if (sscanf(line, "%*d %*d %u:%u %*s %2047s %1023s", &ma, &mi, mnt, opts) != 4)
                        continue;
                bool rw = strncmp(opts, "rw", 2) == 0 && (opts[2] == 0 || opts[2] == ',');
                for (size_t i = 0; rw && i < n; i++)
                        if (devs[i] == makedev(ma, mi))
                                add_use(&acc, mnt);
        }
        if (f)
                fclose(f);
        return acc;
}

/* The whole disks under a block device: through partitions (the parent
 * directory in sysfs) and stacked devices (slaves/). */
static size_t base_disks(dev_t dev, dev_t *v, size_t n, size_t max, int depth)
{
        char path[256], real[PATH_MAX], buf[64];
        unsigned ma, mi;
        if (depth > 8 || n >= max)
                return n;
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", major(dev), minor(dev));
        if (!realpath(path, real))
                return n;
        char p2[PATH_MAX + 32];
        snprintf(p2, sizeof(p2), "%s/partition", real);
        if (access(p2, F_OK) == 0) { /* a partition: its disk is the parent directory */
                snprintf(p2, sizeof(p2), "%s/../dev", real);
                FILE *f = fopen(p2, "re");
                if (f) {
                        if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%u:%u", &ma, &mi) == 2)
                                n = base_disks(makedev(ma, mi), v, n, max, depth + 1);
                        fclose(f);
                }
                return n;
        }
        snprintf(p2, sizeof(p2), "%s/slaves", real);
        DIR *d = opendir(p2);
        bool any = false;
        struct dirent *e;
        while (d && (e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                char p3[PATH_MAX + 600];
                snprintf(p3, sizeof(p3), "%s/%s/dev", p2, e->d_name);
                FILE *f = fopen(p3, "re");
                if (!f)
                        continue;
                if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%u:%u", &ma, &mi) == 2) {
                        n = base_disks(makedev(ma, mi), v, n, max, depth + 1);
                        any = true;
                }
                fclose(f);
        }
        if (d)
                closedir(d);
        if (!any && n < max)
                v[n++] = dev;
        return n;
}

/* The device of the filesystem holding path: st_dev, or for filesystems with
 * anonymous device numbers (btrfs), the mount source in mountinfo. */
static dev_t fs_device(const char *path)
{
        struct stat st, bs;
        if (stat(path, &st) < 0)
                return 0;
        if (major(st.st_dev) != 0)
                return st.st_dev;
        char line[4096];
        dev_t found = 0;
        FILE *f = fopen("/proc/self/mountinfo", "re");
        while (f && fgets(line, sizeof(line), f)) {
                unsigned ma, mi;
                char src[1024];
                const char *sep = strstr(line, " - ");
                if (!sep || sscanf(line, "%*d %*d %u:%u", &ma, &mi) != 2 || makedev(ma, mi) != st.st_dev ||
                    sscanf(sep + 3, "%*s %1023s", src) != 1)
                        continue;
                if (stat(src, &bs) == 0 && S_ISBLK(bs.st_mode))
                        found = bs.st_rdev;
        }
        if (f)
                fclose(f);
        return found;
}

bool lb_blockdev_same_disk(dev_t x, dev_t y)
{
        dev_t a[64], b[64];
        size_t na = base_disks(x, a, 0, ELEMENTSOF(a), 0), nb = base_disks(y, b, 0, ELEMENTSOF(b), 0);
        for (size_t i = 0; i < na; i++)
                for (size_t j = 0; j < nb; j++)
                        if (a[i] == b[j])
                                return true;
        return false;
}

bool lb_path_on_disk_of(const char *path, dev_t dev)
{
        dev_t pd = fs_device(path);
        return pd && lb_blockdev_same_disk(pd, dev);
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

static char *dev_path(dev_t d)
{
        char path[128], line[256], *res = NULL;
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", major(d), minor(d));
        FILE *f = fopen(path, "re");
        while (f && fgets(line, sizeof(line), f))
                if (strncmp(line, "DEVNAME=", 8) == 0) {
                        line[strcspn(line, "\n")] = 0;
                        if (asprintf(&res, "/dev/%s", line + 8) < 0)
                                res = NULL;
                        break;
                }
        if (f)
                fclose(f);
        return res;
}

static int add_disks_of(dev_t d, dev_t *disks, size_t *n, size_t max)
{
        dev_t v[64];
        size_t k = base_disks(d, v, 0, ELEMENTSOF(v), 0);
        for (size_t i = 0; i < k; i++) {
                bool dup = false;
                for (size_t j = 0; j < *n; j++)
                        dup |= disks[j] == v[i];
                if (!dup && *n < max)
                        disks[(*n)++] = v[i];
        }
        return 0;
}

int lb_system_disks(const char *const *mountpoints, size_t n, char ***ret, size_t *ret_n)
{
        dev_t disks[64];
        size_t nd = 0;
        char line[4096];
        for (size_t i = 0; i < n; i++) {
                /* only real mount points: /boot may just be a directory of / */
                FILE *f = fopen("/proc/self/mountinfo", "re");
                bool mounted = false;
                while (f && fgets(line, sizeof(line), f)) {
                        char mnt[2048];
                        if (sscanf(line, "%*d %*d %*s %*s %2047s", mnt) == 1 && strcmp(mnt, mountpoints[i]) == 0)
                                mounted = true;
                }
                if (f)
                        fclose(f);
                if (!mounted)
                        continue;
                dev_t d = fs_device(mountpoints[i]);
                if (d)
                        add_disks_of(d, disks, &nd, ELEMENTSOF(disks));
        }
        FILE *f = fopen("/proc/swaps", "re");
        while (f && fgets(line, sizeof(line), f)) {
                char name[2048];
                struct stat st;
                if (sscanf(line, "%2047s", name) != 1 || stat(name, &st) < 0)
                        continue;
                if (S_ISBLK(st.st_mode))
                        add_disks_of(st.st_rdev, disks, &nd, ELEMENTSOF(disks));
                else if (S_ISREG(st.st_mode) && major(st.st_dev))
                        add_disks_of(st.st_dev, disks, &nd, ELEMENTSOF(disks)); /* a swap file */
        }
        if (f)
                fclose(f);
        if (nd == 0)
                return lb_error_set(-ENODEV, "cannot find the disks of this system: none of %s%s is on a block device",
                                    n ? mountpoints[0] : "/", n > 1 ? " (and the others)" : "");
        char **v = calloc(nd, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < nd; i++)
                if (!(v[i] = dev_path(disks[i]))) {
                        for (size_t j = 0; j < i; j++)
                                free(v[j]);
                        free(v);
                        return lb_error_set(-ENODEV, "cannot name the block device %u:%u", major(disks[i]), minor(disks[i]));
                }
        *ret = v;
        *ret_n = nd;
        return 0;
}

/* The printable text of a sysfs attribute, blanks and NULs around it
 * trimmed, inner control characters replaced; "" if absent. skip: bytes of
 * binary header to leave out (VPD pages). */
static void sysfs_text(const char *dir, const char *name, size_t skip, char *out, size_t len)
{
        char path[PATH_MAX];
        uint8_t buf[512];
        out[0] = 0;
        if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
                return;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return;
        ssize_t n = read(fd, buf, sizeof(buf));
        close(fd);
        if (n <= (ssize_t)skip)
                return;
        size_t a = skip, b = (size_t)n;
        while (a < b && (buf[a] <= ' ' || buf[a] >= 0x7f))
                a++;
        while (b > a && (buf[b - 1] <= ' ' || buf[b - 1] >= 0x7f))
                b--;
        size_t k = 0;
        for (size_t i = a; i < b && k + 1 < len; i++)
                out[k++] = buf[i] < ' ' || buf[i] >= 0x7f ? '?' : (char)buf[i];
        out[k] = 0;
}

void lb_disk_identity_read(const char *sysdir, struct lb_disk_identity *ret)
{
        char path[PATH_MAX];
        memset(ret, 0, sizeof(*ret));
        if (snprintf(path, sizeof(path), "%s/partition", sysdir) >= (int)sizeof(path) || access(path, F_OK) == 0)
                return;
        sysfs_text(sysdir, "device/model", 0, ret->model, sizeof(ret->model));
        sysfs_text(sysdir, "serial", 0, ret->serial, sizeof(ret->serial));
        if (!ret->serial[0])
                sysfs_text(sysdir, "device/serial", 0, ret->serial, sizeof(ret->serial));
        if (!ret->serial[0]) /* page 0x80: 4 header bytes, then the serial number */
                sysfs_text(sysdir, "device/vpd_pg80", 4, ret->serial, sizeof(ret->serial));
        sysfs_text(sysdir, "wwid", 0, ret->wwid, sizeof(ret->wwid));
        if (!ret->wwid[0])
                sysfs_text(sysdir, "device/wwid", 0, ret->wwid, sizeof(ret->wwid));
}

void lb_blockdev_identity(dev_t dev, struct lb_disk_identity *ret)
{
        char dir[64];
        snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u", major(dev), minor(dev));
        lb_disk_identity_read(dir, ret);
}
