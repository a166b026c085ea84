/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lifeboat mount / umount: the snapshots of a repository as a read-only FUSE
 * filesystem. Internal to src/mount/ and src/cli/cmd-mount.c; one file each:
 *
 *   mount-state.c  the state file /run/lifeboat/<escaped mount point>.json
 *                  (a long one: a prefix and its SHA-256):
 *                  what a mount set up (processes, loop devices, inner
 *                  mounts), written before it is used; undoing all of it
 *                  (lifeboat umount, also after the processes were killed)
 *   fusefs.c       the FUSE filesystem: the tree of snapshots, images and
 *                  partitions, and its low-level operations over
 *                  src/lib/reader.c
 *   innermount.c   the helper process of --files: loop devices over the
 *                  image files, read-only mounts of ext2/3/4, XFS, btrfs,
 *                  NTFS and FAT on directories of the FUSE tree
 *   serve.c        the serving process: FUSE session, helper, signals,
 *                  the daemon and the notes it sends its waiting parent
 *
 *   MOUNTPOINT/latest -> <newest snapshot dir>
 *   MOUNTPOINT/<YYYY-MM-DDTHHMMSS>_<id8>/info.json       what `info --json` prints
 *   MOUNTPOINT/<...>/<image>/disk.img                     the whole image
 *   MOUNTPOINT/<...>/<image>/part<N>.img                  a window of disk.img
 *   MOUNTPOINT/<...>/<image>/part<N>/  (--files)          partition N's filesystem
 *   MOUNTPOINT/<...>/<image>/fs/       (--files)          a single volume's filesystem
 *
 * Functions that talk to the user print "lifeboat: ..." themselves and
 * return an exit status (0, or 1); the others return 0 or a negative errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lifeboat.h"

struct fuse_session;

struct mount_opts {
        const char *mountpoint; /* canonical */
        bool files;             /* --files: mount the filesystems of snapshot files_id */
        bool files_all;         /*   ... of every snapshot */
        char files_id[65];
        bool foreground, debug, quiet;
        unsigned cache_mib; /* decoded chunks kept in memory */
};

/* ---- mount-state.c ---- */

struct mount_state_loop {
        char dev[64];
        char *backing;
};
struct mount_state_mount {
        char *path;
        char type[32];
        char dev[64];
};
/* One mount of /proc/self/mountinfo. */
struct mount_info {
        int id, parent;
        char dev[32]; /* MAJOR:MINOR of its filesystem */
        char type[64];
};
struct mount_state {
        char *mountpoint, *repo, *log;
        struct mount_info fuse; /* the FUSE mount (id 0: not recorded) */
        pid_t pid, helper_pid; /* the server, the helper (inner mounts) */
        uint64_t start, helper_start;
        struct mount_state_loop *loops;
        size_t nloops;
        struct mount_state_mount *mounts;
        size_t nmounts;
};

/* The absolute path of a mount point, its symbolic links resolved, without
 * stat'ing the mount point itself (it may be a dead FUSE mount); the same
 * for mount and umount. NULL with errno set. */
char *mount_canonical_path(const char *p);
int mount_state_load(const char *path, struct mount_state *s);
void mount_state_done(struct mount_state *s);
/* Unmount what s records: inner mounts, loop devices, then (unless
 * skip_fuse) the FUSE mount and its processes. Returns 0, or 1 with messages
 * printed when something is still there. Never touches what s does not name. */
int mount_undo(struct mount_state *s, bool lazy, bool skip_fuse);

/* This process's mount: checks that mp (as given) is an empty directory and
 * not a live Lifeboat mount, and sets *ret_mp to its canonical path.
 * Returns an exit status, with a message printed. */
int mount_record_claim(const char *mp, char **ret_mp);
const char *mount_record_path(void); /* the state file */
const char *mount_record_log(void);  /* the log of a background mount */
void mount_record_begin(const char *mountpoint, const char *repo_path);
void mount_record_set_server(pid_t pid);
void mount_record_set_helper(pid_t pid);
int mount_record_save(void);
int mount_record_loop(const char *dev, const char *backing);
int mount_record_mount(const char *path, const char *type, const char *dev);
/* The mount failed: undo what the state file records (if there is none,
 * the FUSE mount and server_pid) and remove it. */
void mount_record_undo_failed(pid_t server_pid);
/* Removes the state file if it still names this process as the server. */
void mount_record_remove(void);

/* lifeboat umount MOUNTPOINT; returns an exit status. */
int mount_umount(const char *mp, bool lazy, bool quiet);

/* Whether something is mounted exactly at path; ret_fstype (may be NULL)
 * gets the type of the topmost such mount. */
bool mounted_at(const char *path, char *ret_fstype, size_t len);
bool mounted_lifeboat_at(const char *path); /* ... and it is fuse.lifeboat */
/* The topmost mount at path (the one nothing is mounted on); false if none. */
bool mount_top_at(const char *path, struct mount_info *ret);
uint64_t proc_start_time(pid_t pid);
void sleep_ms(unsigned ms);

/* ---- fusefs.c ---- */

/* The tree: root, latest, the first listing of snapshots/. */
int fusefs_init(struct lb_repo *repo, const struct mount_opts *o);
/* A session of the filesystem's operations; NULL when FUSE cannot start. */
struct fuse_session *fusefs_session_new(bool debug);
/* The reader context (after the helper was forked: it starts threads). */
int fusefs_reader_start(void);
/* How the chunk cache did, as a warning (the log of a background mount). */
void fusefs_report_stats(void);
size_t fusefs_live_snapshots(void);

/* A filesystem in a snapshot selected by --files; names relative to the
 * mount point. */
struct fusefs_volume {
        const char *snap_dir, *image_dir; /* <snapshot>/<image> */
        const char *file;                 /* "disk.img" or "part<N>.img" */
        const char *dir;                  /* "fs" or "part<N>" */
        const char *fstype;
        bool partition; /* a partition of a disk, not a whole volume */
        bool mountable; /* its directory exists (innermount_supported) */
};
typedef void (*fusefs_volume_fn)(const struct fusefs_volume *v, void *userdata);
/* In order of snapshots, images, partitions. Before the server starts
 * threads (the helper's copy of the tree). */
void fusefs_for_each_volume(fusefs_volume_fn fn, void *userdata);

/* ---- innermount.c ---- */

/* What this system can mount (vfat in the kernel, fusefat, ntfs-3g); once,
 * before innermount_supported. */
void innermount_probe(void);
bool innermount_supported(const char *fstype);
/* Forks the helper (before the server starts any thread) without fuse_fd.
 * Returns its pid, or -errno. */
pid_t innermount_helper_start(const struct mount_opts *o, const char *repo_path, int fuse_fd);
/* The FUSE loop runs: mount. -EPIPE if the helper died. */
int innermount_helper_go(void);
/* Undo the inner mounts and the FUSE mount; returns when done. */
void innermount_helper_stop(void);
/* Lets the helper exit and reaps it. */
void innermount_helper_wait(void);

/* ---- serve.c ---- */

/* Mounts at o->mountpoint and serves, in the foreground or (after the
 * mounts are done) in a background process. Returns an exit status. */
int mount_serve(struct lb_repo *repo, const struct mount_opts *o);
/* A note for the user, tag 'N' (note), 'W' (warning) or 'E' (error): to the
 * terminal in the foreground, else to the waiting parent, which prints it. */
void mount_notify(char tag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last word to the waiting parent ("OK", "FAIL", or NULL: none). */
void mount_notify_end(const char *word);
