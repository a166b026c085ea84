/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lifeboat media create --usb DEVICE: the checks that keep the ISO off any
 * disk but a spare stick, and the write itself (exclusive open, fsync, then
 * the device read back with O_DIRECT and compared with the image). The
 * checks run twice: before the build (a refusal costs nothing), which also
 * records what the device is (its device number, size and, where the
 * hardware tells, serial number and WWID), and again on the descriptor the
 * image is written through, once it is open: a stick swapped during the
 * build, or a /dev/disk/by-id link that now names another disk, is refused
 * rather than written. */
#include <blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "media-usb.h"
#include "source.h"
#include "util.h"

#define BLOCK (4u << 20)

/* "lifeboat: <message>" on stderr; 1 */
#define refuse(...) cli_fail(lb_error_set(-EINVAL, __VA_ARGS__), "%s", "")

/* The block device a repository location names on this machine, if any:
 * DEVICE:/PATH or DEVICE with DEVICE /dev/NAME, LABEL=, UUID=, PARTLABEL=,
 * PARTUUID= (as the media take them). 0 when it names none here. */
static dev_t location_device(const char *loc)
{
        char spec[1024];
        struct stat st;
        const char *colon = strstr(loc, ":/");
        size_t n = colon ? (size_t)(colon - loc) : strlen(loc);
        if (n == 0 || n >= sizeof(spec))
                return 0;
        memcpy(spec, loc, n);
        spec[n] = 0;
        char *dev = NULL;
        if (!strncmp(spec, "/dev/", 5))
                dev = strdup(spec);
        else if (strchr(spec, '='))
                dev = blkid_evaluate_tag(spec, NULL, NULL);
        dev_t r = dev && stat(dev, &st) == 0 && S_ISBLK(st.st_mode) ? st.st_rdev : 0;
        free(dev);
        return r;
}

/* Is the repository at loc (a directory here, or a media location) on the
 * disk of rdev? */
static bool repo_on(const char *loc, dev_t rdev)
{
        struct stat st;
        if (!loc || !*loc)
                return false;
        if (stat(loc, &st) == 0 && S_ISDIR(st.st_mode))
                return lb_path_on_disk_of(loc, rdev);
        dev_t d = location_device(loc);
        return d && lb_blockdev_same_disk(d, rdev);
}

/* The checks that depend only on what the device is (its device number):
 * a whole disk, not of the running system, not in use, not holding a
 * repository. */
static int check_rdev(const char *dev, dev_t rdev, const char *const *repos, size_t nrepos)
{
        char path[128];
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/partition", major(rdev), minor(rdev));
        if (access(path, F_OK) == 0)
                return refuse("--usb %s is a partition: give the whole disk it is on (the media take the whole stick)",
                              dev);
        char **sys = NULL;
        size_t nsys = 0;
        bool is_sys = false;
        if (lb_find_system_disks(&sys, &nsys) == 0) {
                for (size_t i = 0; i < nsys; i++) {
                        struct stat ss;
                        if (stat(sys[i], &ss) == 0 && S_ISBLK(ss.st_mode) && lb_blockdev_same_disk(ss.st_rdev, rdev))
                                is_sys = true;
                        free(sys[i]);
                }
                free(sys);
        }
        if (is_sys)
                return refuse("--usb %s holds the running system (/, /boot or swap): refusing to overwrite it", dev);
        _cleanup_free_ char *users = lb_blockdev_users(rdev);
        if (users)
                return refuse("--usb %s is in use (%s): unmount it first; nothing was written", dev, users);
        for (size_t i = 0; i < nrepos; i++)
                if (repo_on(repos[i], rdev))
                        return refuse("--usb %s holds the repository %s: refusing to overwrite it", dev, repos[i]);
        return 0;
}

int media_usb_check(const char *dev, const char *const *repos, size_t nrepos, struct media_usb_device *ret)
{
        struct stat st;
        if (stat(dev, &st) < 0)
                return refuse("--usb %s: %s", dev, strerror(errno));
        if (!S_ISBLK(st.st_mode))
                return refuse("--usb %s is not a block device: give the whole disk of a USB stick, /dev/sdX", dev);
        int rc = check_rdev(dev, st.st_rdev, repos, nrepos);
        if (rc)
                return rc;
        /* what the device is, to be found unchanged at the write */
        _cleanup_(closep) int fd = open(dev, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        struct stat fst;
        if (fd < 0)
                return refuse("--usb %s: cannot open it: %s", dev, strerror(errno));
        if (fstat(fd, &fst) < 0 || fst.st_rdev != st.st_rdev)
                return refuse("--usb %s changed while it was checked: nothing was written", dev);
        memset(ret, 0, sizeof(*ret));
        ret->rdev = st.st_rdev;
        if (ioctl(fd, BLKGETSIZE64, &ret->size) < 0)
                return refuse("cannot get the size of %s: %s", dev, strerror(errno));
        lb_blockdev_identity(st.st_rdev, &ret->ident);
        return 0;
}

/* The device open for writing (fd) is the one checked before the build:
 * the same device number, size, serial number and WWID; and it passes the
 * checks again, on what fd is rather than on what the path names now. */
static int recheck_fd(int fd, const char *dev, const struct media_usb_device *was, const char *const *repos,
                      size_t nrepos, uint64_t *ret_size)
{
        struct stat st;
        struct lb_disk_identity ident;
        uint64_t size = 0;
        if (fstat(fd, &st) < 0)
                return refuse("cannot stat %s: %s; nothing was written", dev, strerror(errno));
        if (!S_ISBLK(st.st_mode))
                return refuse("--usb %s is not a block device any more: nothing was written", dev);
        if (ioctl(fd, BLKGETSIZE64, &size) < 0)
                return refuse("cannot get the size of %s: %s", dev, strerror(errno));
        lb_blockdev_identity(st.st_rdev, &ident);
        char a[32], b[32], what[320] = "";
        if (st.st_rdev != was->rdev)
                snprintf(what, sizeof(what), "device %u:%u, was %u:%u", major(st.st_rdev), minor(st.st_rdev),
                         major(was->rdev), minor(was->rdev));
        else if (size != was->size)
                snprintf(what, sizeof(what), "%s, was %s", cli_bytes(size, a), cli_bytes(was->size, b));
        else if (strcmp(ident.serial, was->ident.serial))
                snprintf(what, sizeof(what), "serial number '%s', was '%s'", ident.serial, was->ident.serial);
        else if (strcmp(ident.wwid, was->ident.wwid) || strcmp(ident.model, was->ident.model))
                snprintf(what, sizeof(what), "another WWID or model");
        if (what[0])
                return refuse("--usb %s: the device changed during the build (%s): another stick? Nothing was "
                              "written; run the command again",
                              dev, what);
        int rc = check_rdev(dev, st.st_rdev, repos, nrepos);
        if (rc)
                return rc;
        *ret_size = size;
        return 0;
}

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Read the device written through wfd back, bypassing the page cache, and
 * compare. It is opened again through /proc/self/fd: the same device, whatever
 * the path dev names now. */
static int verify(int img, int wfd, const char *dev, uint64_t size, uint8_t *a)
{
        char self[64];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", wfd);
        int fd = open(self, O_RDONLY | O_DIRECT | O_CLOEXEC);
        if (fd < 0) {
                /* no O_DIRECT: drop the cached pages instead */
                fd = open(self, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return refuse("cannot open %s to read it back: %s", dev, strerror(errno));
                ioctl(fd, BLKFLSBUF, 0);
                posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        }
        uint8_t *b = a + BLOCK;
        int rc = 0;
        for (uint64_t off = 0; off < size && rc == 0; off += BLOCK) {
                size_t want = size - off < BLOCK ? (size_t)(size - off) : BLOCK;
                /* O_DIRECT reads whole logical blocks */
                size_t rd = (want + 4095) & ~(size_t)4095;
                ssize_t n = pread(fd, b, rd, (off_t)off);
                if (n < (ssize_t)want) {
                        rc = refuse("reading %s back at byte %llu: %s", dev, (unsigned long long)off,
                                    n < 0 ? strerror(errno) : "short read");
                        break;
                }
                if (pread(img, a, want, (off_t)off) != (ssize_t)want) {
                        rc = refuse("reading the image again at byte %llu: %s", (unsigned long long)off, strerror(errno));
                        break;
                }
                if (memcmp(a, b, want) != 0) {
                        size_t i = 0;
                        while (a[i] == b[i])
                                i++;
                        rc = refuse("%s does not hold what was written: the first difference is at byte %llu (a bad "
                                    "or fake-capacity stick?)",
                                    dev, (unsigned long long)(off + i));
                }
        }
        close(fd);
        return rc;
}

int media_usb_write(const char *iso, const char *dev, const struct media_usb_device *checked,
                    const char *const *repos, size_t nrepos)
{
        char a[32], b[32];
        struct stat st;
        _cleanup_(closep) int img = open(iso, O_RDONLY | O_CLOEXEC);
        if (img < 0 || fstat(img, &st) < 0)
                return refuse("cannot read the image %s: %s", iso, strerror(errno));
        uint64_t size = (uint64_t)st.st_size, devsize = 0;
        /* O_EXCL: fails while anything (a mount, a holder) has the device;
         * then every check on what was opened, not on the path */
        _cleanup_(closep) int fd = open(dev, O_WRONLY | O_EXCL | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return refuse("cannot open %s for writing: %s%s", dev, strerror(errno),
                              errno == EBUSY ? " (in use by another program); nothing was written" : "");
        int rc = recheck_fd(fd, dev, checked, repos, nrepos, &devsize);
        if (rc)
                return rc;
        if (devsize < size)
                return refuse("--usb %s is %s, the image needs %s: too small; nothing was written", dev,
                              cli_bytes(devsize, a), cli_bytes(size, b));
        uint8_t *buf = NULL;
        if (posix_memalign((void **)&buf, 4096, 2 * (size_t)BLOCK) != 0)
                return cli_fail(-ENOMEM, "out of memory");
        printf("Writing %s (%s) to %s ...\n", iso, cli_bytes(size, a), dev);
        fflush(stdout);
        double t0 = now();
        for (uint64_t off = 0; off < size; off += BLOCK) {
                size_t want = size - off < BLOCK ? (size_t)(size - off) : BLOCK;
                ssize_t n = pread(img, buf, want, (off_t)off);
                if (n != (ssize_t)want) {
                        free(buf);
                        return refuse("reading %s: %s", iso, n < 0 ? strerror(errno) : "short read");
                }
                for (size_t done = 0; done < want;) {
                        ssize_t k = pwrite(fd, buf + done, want - done, (off_t)(off + done));
                        if (k <= 0) {
                                int e = k < 0 ? errno : EIO;
                                free(buf);
                                return refuse("writing %s at byte %llu: %s (the stick is now partly written)", dev,
                                              (unsigned long long)(off + done), strerror(e));
                        }
                        done += (size_t)k;
                }
        }
        if (fsync(fd) < 0) {
                int e = errno;
                free(buf);
                return refuse("flushing %s: %s (the stick may be partly written)", dev, strerror(e));
        }
        /* the kernel's view of the partition table the hybrid image carries */
        ioctl(fd, BLKRRPART, 0);
        rc = verify(img, fd, dev, size, buf);
        free(buf);
        if (rc == 0)
                printf("Wrote and verified %s on %s in %.1f s: it boots with BIOS and UEFI.\n", cli_bytes(size, a), dev,
                       now() - t0);
        return rc;
}
