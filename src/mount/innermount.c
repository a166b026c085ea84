/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The inner mounts of `lifeboat mount --files`: each filesystem of the
 * selected snapshots is mounted read-only, without replaying any journal, on
 * its directory of the FUSE tree (<image>/part<N>/ or <image>/fs/), from a
 * read-only loop device (direct I/O, autoclear) over its image file in the
 * same tree: ext2/3/4, XFS and btrfs by the kernel, NTFS with ntfs-3g, FAT
 * with the kernel's vfat or fusefat. Every loop device and mount is recorded
 * in the state file before it is used (mount-state.c).
 *
 * All of it is done by a helper process, never by the serving one (see
 * below). */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "grow.h"
#include "mount.h"
#include "util.h"

static struct {
        bool vfat_kernel, have_fusefat, have_ntfs3g; /* what this system can mount */
        struct mount_opts o;                         /* in the helper */
        const char *repo_path;
        pid_t pid;       /* in the server: the helper */
        int cmd, resp;   /* in the server: commands to it ("go", "stop"), its answers ("done") */
} I = { .cmd = -1, .resp = -1 };

/* ---- what can be mounted ---- */

static bool have_program(const char *name)
{
        const char *path = getenv("PATH");
        char buf[4096];
        if (!path)
                path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        for (const char *p = path; *p;) {
                const char *e = strchr(p, ':');
                size_t n = e ? (size_t)(e - p) : strlen(p);
                snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, name);
                if (access(buf, X_OK) == 0)
                        return true;
                p += n + (e ? 1 : 0);
        }
        return false;
}

static bool kernel_has_fs(const char *type)
{
        FILE *f = fopen("/proc/filesystems", "re");
        char line[256];
        bool found = false;
        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f)) {
                char *t = strrchr(line, '\t');
                t = t ? t + 1 : line;
                t[strcspn(t, "\n")] = 0;
                found = strcmp(t, type) == 0;
        }
        fclose(f);
        return found;
}

void innermount_probe(void)
{
        I.vfat_kernel = kernel_has_fs("vfat");
        I.have_fusefat = have_program("fusefat");
        I.have_ntfs3g = have_program("ntfs-3g");
}

bool innermount_supported(const char *type)
{
        if (!strcmp(type, "ext2") || !strcmp(type, "ext3") || !strcmp(type, "ext4") || !strcmp(type, "xfs") ||
            !strcmp(type, "btrfs"))
                return true;
        if (!strcmp(type, "ntfs"))
                return I.have_ntfs3g;
        if (!strcmp(type, "vfat"))
                return I.vfat_kernel || I.have_fusefat;
        return false;
}

/* ---- mounting one filesystem ---- */

/* A mount helper (ntfs-3g, fusefat); its output on one line, for messages. */
static int run_tool(const char *const argv[], char *out, size_t outlen)
{
        int k = run_program(argv, out, outlen);
        for (char *c = out; *c; c++)
                if (*c == '\n')
                        *c = ' ';
        return k;
}

static void record_checked(int k)
{
        if (k < 0)
                mount_notify('W', "cannot write %s: %s", mount_record_path(), strerror(-k));
}

/* Mount the filesystem of type on the loop device dev at dir, read-only and
 * without replaying any journal. Returns 0, or -1 with a message in err. */
static int mount_fs(const char *dev, const char *dir, const char *type, char *err, size_t errlen)
{
        const unsigned long fl = MS_RDONLY | MS_NOSUID | MS_NODEV;
        char out[1024];
        struct {
                const char *type, *data;
        } tries[4] = { { 0 } };
        if (!strcmp(type, "ext3") || !strcmp(type, "ext4")) {
                tries[0].type = "ext4", tries[0].data = "noload";
        } else if (!strcmp(type, "ext2")) {
                tries[0].type = "ext2", tries[0].data = "";
                tries[1].type = "ext4", tries[1].data = "";
        } else if (!strcmp(type, "xfs")) {
                tries[0].type = "xfs", tries[0].data = "norecovery,nouuid";
        } else if (!strcmp(type, "btrfs")) {
                tries[0].type = "btrfs", tries[0].data = "rescue=nologreplay";
                tries[1].type = "btrfs", tries[1].data = "nologreplay";
                tries[2].type = "btrfs", tries[2].data = "";
        } else if (!strcmp(type, "vfat")) {
                if (I.vfat_kernel)
                        tries[0].type = "vfat", tries[0].data = "";
        }
        int e = 0;
        for (size_t i = 0; i < ELEMENTSOF(tries) && tries[i].type; i++) {
                if (mount(dev, dir, tries[i].type, fl, tries[i].data) == 0)
                        return 0;
                e = errno;
        }
        if (e) {
                snprintf(err, errlen, "mount -t %s -o ro %s: %s (see dmesg)", tries[0].type, dev, strerror(e));
                if (strcmp(type, "vfat") != 0 || !I.have_fusefat)
                        return -1;
        }
        if (!strcmp(type, "ntfs")) {
                const char *argv[] = { "ntfs-3g", "-o", "ro", dev, dir, NULL };
                int k = run_tool(argv, out, sizeof(out));
                if (k == 0)
                        return 0;
                snprintf(err, errlen, "ntfs-3g -o ro %s failed (%d): %s", dev, k, out);
                return -1;
        }
        if (!strcmp(type, "vfat") && I.have_fusefat) {
                const char *argv[] = { "fusefat", "-o", "ro", dev, dir, NULL };
                int k = run_tool(argv, out, sizeof(out));
                if (k == 0 && mounted_at(dir, NULL, 0))
                        return 0;
                snprintf(err, errlen, "fusefat -o ro %s failed (%d): %s", dev, k, out);
                return -1;
        }
        snprintf(err, errlen, "no way to mount %s here", type);
        return -1;
}

/* Loop device over the FUSE file img (read-only), filesystem on dir. */
static int mount_one(const char *img, const char *dir, const char *type, const char *what)
{
        char dev[64], err[1200];
        int fd = open(img, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                mount_notify('W', "%s: cannot open %s: %s", what, img, strerror(errno));
                return -1;
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
                close(fd);
                return -1;
        }
        int lfd = lb_loop_attach(fd, 0, (uint64_t)st.st_size, true, dev, sizeof(dev));
        close(fd);
        if (lfd < 0) {
                mount_notify('W', "%s: no loop device: %s", what, lb_error_get() ? lb_error_get() : strerror(-lfd));
                return -1;
        }
        record_checked(mount_record_loop(dev, img));
        /* Direct I/O: the loop device's reads go to the FUSE daemon
         * straight into the inner filesystem's pages, asynchronously, with
         * no second page cache; and a larger read-ahead for the inner
         * filesystem's files (1 MiB, a chunk). LIFEBOAT_MOUNT_LOOP_DIO=0:
         * buffered, for measurements. */
        const char *dio = getenv("LIFEBOAT_MOUNT_LOOP_DIO");
        if (!(dio && !strcmp(dio, "0")) && ioctl(lfd, LOOP_SET_DIRECT_IO, 1UL) < 0)
                mount_notify('W', "%s: %s: no direct I/O (%s)", what, dev, strerror(errno));
        char sys[128];
        snprintf(sys, sizeof(sys), "/sys/block/%s/queue/read_ahead_kb", dev + strlen("/dev/"));
        int rfd = open(sys, O_WRONLY | O_CLOEXEC);
        if (rfd >= 0) {
                if (write(rfd, "1024", 4) < 0) { /* best effort */ }
                close(rfd);
        }
        /* the node may take a moment to appear without udev */
        for (int i = 0; i < 100 && access(dev, F_OK) < 0; i++)
                sleep_ms(20);
        record_checked(mount_record_mount(dir, type, dev));
        int k = mount_fs(dev, dir, type, err, sizeof(err));
        close(lfd); /* autoclear: the loop device goes with its filesystem */
        if (k < 0) {
                mount_notify('W', "%s (%s) not mounted: %s", what, type, err);
                return -1;
        }
        mount_notify('N', "%s (%s) mounted at %s", what, type, dir);
        return 0;
}

/* ---- the helper process ----
 *
 * The serving process never makes a system call that goes through its own
 * mount: a thread blocked on a request to its own process (mount(2) reading a
 * superblock through a loop device, a stat) keeps the process from exiting
 * if it dies, so its /dev/fuse descriptor stays open, the connection is never
 * aborted and that thread waits for ever (holding, during a mount, the new
 * superblock's lock that sync(2) waits for). So the inner mounts are set up
 * and undone by a helper process, forked before the server starts any thread
 * and without the FUSE descriptor. It waits for "go" (the FUSE loop runs),
 * mounts, reports to the user (the waiting parent, or the terminal), then
 * waits for "stop" (undo the inner mounts and the FUSE mount, answer "done")
 * or the end of the pipe (the server is gone: `lifeboat umount` cleans up). */

/* Reads a line (a command or an answer); 0 at the end of the pipe. */
static ssize_t read_line(int fd, char *buf, size_t len)
{
        size_t n = 0;
        while (n + 1 < len) {
                ssize_t k = read(fd, buf + n, 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                if (buf[n] == '\n')
                        break;
                n++;
        }
        buf[n] = 0;
        return (ssize_t)n;
}


struct setup {
        unsigned mounted, failed;
};

static void mount_volume(const struct fusefs_volume *v, void *userdata)
{
        struct setup *su = userdata;
        const char *mp = I.o.mountpoint;
        char img[4096], dir[4096], what[512];
        if (!v->mountable) {
                if (!v->partition && !innermount_supported(v->fstype))
                        mount_notify('W', "%s/%s: %s filesystem not mounted (%s)", v->snap_dir, v->image_dir, v->fstype,
                                     !strcmp(v->fstype, "vfat") ? "FAT needs fusefat here: apt-get install fusefat" :
                                     !strcmp(v->fstype, "ntfs") ? "NTFS needs ntfs-3g" : "not supported");
                else if (v->partition && (!strcmp(v->fstype, "vfat") || !strcmp(v->fstype, "ntfs")))
                        mount_notify('W', "%s/%s/%s: %s filesystem not mounted (%s); %s can be read with its tools",
                                     v->snap_dir, v->image_dir, v->dir, v->fstype,
                                     !strcmp(v->fstype, "vfat") ? "the kernel has no vfat and fusefat is not installed" :
                                                                  "ntfs-3g is not installed", v->file);
                return;
        }
        snprintf(img, sizeof(img), "%s/%s/%s/%s", mp, v->snap_dir, v->image_dir, v->file);
        snprintf(dir, sizeof(dir), "%s/%s/%s/%s", mp, v->snap_dir, v->image_dir, v->dir);
        if (v->partition)
                snprintf(what, sizeof(what), "%s/%s/%s", v->snap_dir, v->image_dir, v->dir);
        else
                snprintf(what, sizeof(what), "%s/%s", v->snap_dir, v->image_dir);
        if (mount_one(img, dir, v->fstype, what) == 0)
                su->mounted++;
        else
                su->failed++;
}

static int helper_setup(void)
{
        struct stat st;
        /* the first request: the FUSE mount answers */
        if (stat(I.o.mountpoint, &st) < 0) {
                mount_notify('E', "%s does not answer: %s", I.o.mountpoint, strerror(errno));
                return -1;
        }
        /* inner mounts: snapshots and images in order */
        struct setup su = { 0 };
        fusefs_for_each_volume(mount_volume, &su);
        if (I.o.files && !su.mounted && !su.failed)
                mount_notify('W', "no filesystem to mount in the selected snapshot(s)");
        mount_notify('N', "Mounted %zu snapshot(s) of %s at %s%s", fusefs_live_snapshots(), I.repo_path, I.o.mountpoint,
                     I.o.files && su.failed ? " (some filesystems could not be mounted)" : "");
        return 0;
}

static void __attribute__((noreturn)) helper_main(int cmd_fd, int resp_fd)
{
        char cmd[32];
        /* the server decides when to stop: not a Ctrl-C to the process group */
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        mount_record_set_helper(getpid());
        if (read_line(cmd_fd, cmd, sizeof(cmd)) <= 0 || strcmp(cmd, "go") != 0)
                _exit(0);
        int k = helper_setup();
        mount_notify_end(k == 0 ? "OK" : "FAIL");
        if (k < 0)
                kill(getppid(), SIGTERM); /* the server stops, and asks us to clean up */
        while (read_line(cmd_fd, cmd, sizeof(cmd)) > 0) {
                if (strcmp(cmd, "stop") != 0)
                        continue;
                struct mount_state s;
                if (mount_state_load(mount_record_path(), &s) == 0) {
                        s.pid = 0; /* the server: it is waiting for us */
                        s.helper_pid = 0;
                        if (mount_undo(&s, false, false) != 0)
                                /* busy: detach; it all goes when the last file is closed */
                                mount_undo(&s, true, false);
                        mount_state_done(&s);
                }
                if (write(resp_fd, "done\n", 5) < 0) { /* server gone */ }
                break;
        }
        _exit(0);
}

/* ---- the server's side ---- */

pid_t innermount_helper_start(const struct mount_opts *o, const char *repo_path, int fuse_fd)
{
        int cmd[2], resp[2];
        if (pipe2(cmd, O_CLOEXEC) < 0)
                return -errno;
        if (pipe2(resp, O_CLOEXEC) < 0) {
                int e = errno;
                close(cmd[0]);
                close(cmd[1]);
                return -e;
        }
        I.o = *o;
        I.repo_path = repo_path;
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                close(fuse_fd);
                close(cmd[1]);
                close(resp[0]);
                helper_main(cmd[0], resp[1]);
        }
        close(cmd[0]);
        close(resp[1]);
        I.cmd = cmd[1];
        I.resp = resp[0];
        I.pid = pid;
        return pid;
}

int innermount_helper_go(void)
{
        return write(I.cmd, "go\n", 3) == 3 ? 0 : -EPIPE;
}

void innermount_helper_stop(void)
{
        char line[32];
        if (I.cmd >= 0 && write(I.cmd, "stop\n", 5) == 5)
                read_line(I.resp, line, sizeof(line)); /* "done", or nothing if it died */
}

void innermount_helper_wait(void)
{
        if (I.pid <= 0)
                return; /* never started */
        close(I.cmd); /* the helper exits */
        I.cmd = -1;
        int st;
        while (waitpid(I.pid, &st, 0) < 0 && errno == EINTR)
                ;
        I.pid = 0;
}
