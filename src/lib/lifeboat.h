/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Lifeboat's library interface: everything the CLI (and later the FUSE
 * mount and the recovery menu) call. Functions return 0 or a negative errno;
 * lb_error_get() then often holds a message a user can act on. The library
 * never prints. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lb_repo;
struct lb_snapshot;

const char *lb_error_get(void);
void lb_error_clear(void);

/* Events the library reports while it works (warnings, progress). */
enum lb_event { LB_EVENT_WARNING, LB_EVENT_PROGRESS };
struct lb_progress {
        const char *what; /* "backup", "restore", "verify" */
        uint64_t done, total; /* bytes */
};
typedef void (*lb_event_fn)(enum lb_event ev, const char *msg, const struct lb_progress *p, void *userdata);
void lb_set_event_handler(lb_event_fn fn, void *userdata);

/* ---- repository ---- */
struct lb_init_opts {
        bool encrypt;
        const char *passphrase; /* required when encrypt */
        uint32_t chunk_size;    /* 0: default 1 MiB */
        uint64_t kdf_n;         /* 0: default (scrypt N = 2^15) */
};
int lb_repo_init(const char *path, const struct lb_init_opts *opts);
/* passphrase may be NULL for an unencrypted repository; -ENOKEY when one is
 * needed, -EKEYREJECTED when it is wrong. */
int lb_repo_open(const char *path, const char *passphrase, struct lb_repo **ret);
bool lb_repo_is_encrypted_at(const char *path); /* peek at config, no key needed */
void lb_repo_close(struct lb_repo *r);
const char *lb_repo_path(const struct lb_repo *r);
bool lb_repo_encrypted(const struct lb_repo *r);
/* The repository lock: flock(2) on REPO/lock, held until lb_repo_close().
 * Backup, copy, restore, verify and the mount take it shared (waiting, with a
 * warning, while forget or prune runs); forget and prune take it exclusive
 * and fail at once (-EBUSY, with a message) while anything else holds it. A
 * repository on read-only media is used without a lock when shared (nothing
 * can prune it). Taking it again, or shared after exclusive, is a no-op. */
/* SHARED: reads (restore, verify, mount, copy's source); SHARED_WRITER:
 * appends (backup, copy's destination), which must never run unlocked;
 * EXCLUSIVE: forget, prune. */
enum lb_lock_mode { LB_LOCK_SHARED, LB_LOCK_SHARED_WRITER, LB_LOCK_EXCLUSIVE };
int lb_repo_lock(struct lb_repo *r, enum lb_lock_mode mode);

/* ---- snapshots ---- */
struct lb_image_stats {
        uint64_t bytes_read;       /* read from the source */
        uint64_t zero_bytes;       /* all-zero chunks, stored as nothing */
        uint64_t unused_bytes;     /* not used by any filesystem: not read, not stored */
        uint64_t new_chunks, dedup_chunks;
        uint64_t unchanged_chunks; /* found unchanged by fingerprint (subset of dedup) */
        uint64_t new_bytes;        /* plaintext bytes of new chunks */
        uint64_t stored_bytes;     /* bytes this image added to packs */
};
struct lb_image_info {
        const char *name, *source;
        uint64_t size;
        uint32_t chunk_size;
        struct lb_image_stats stats;
        /* What the image holds, as JSON (docs/FORMAT.md, "disk"): partition
         * table, partitions, filesystems, used bytes. NULL if not recorded. */
        const char *layout_json;
};
struct lb_snapshot_info {
        const char *id; /* 64 hex digits */
        int64_t time;   /* unix seconds */
        const char *hostname, *version;
        const char *const *tags;
        size_t ntags;
        size_t nimages;
        uint64_t duration_ms;
        bool live; /* taken from filesystems mounted read-write: may be inconsistent */
};
int lb_snapshot_list(struct lb_repo *r, struct lb_snapshot ***ret, size_t *ret_n); /* sorted by time */
void lb_snapshot_list_free(struct lb_snapshot **v, size_t n);
/* spec: "latest", a full ID or a unique prefix (>= 4 digits). */
int lb_snapshot_find(struct lb_repo *r, const char *spec, struct lb_snapshot **ret);
void lb_snapshot_free(struct lb_snapshot *s);
void lb_snapshot_get_info(const struct lb_snapshot *s, struct lb_snapshot_info *ret);
int lb_snapshot_get_image(const struct lb_snapshot *s, size_t i, struct lb_image_info *ret);
/* The snapshot as one JSON document (what `lifeboat info --json` prints and a
 * mount's info.json holds), pretty-printed, ending in a newline; free() it.
 * NULL when out of memory. */
char *lb_snapshot_info_json(const struct lb_snapshot *s);

/* ---- backup ---- */
struct lb_backup_opts {
        const char *const *tags;
        size_t ntags;
        int compression_level; /* zstd level; 0 = store raw; <0 default */
        uint32_t chunk_size;   /* 0: repository default */
        unsigned threads;      /* 0: one per core */
        bool rehash;           /* do not trust the previous snapshot's fingerprints */
        bool live;             /* image filesystems mounted read-write anyway (marked in the snapshot) */
};
struct lb_backup_result {
        char id[65];
        uint64_t bytes_total, bytes_read, stored_bytes, new_chunks, dedup_chunks, zero_bytes;
        uint64_t duration_ms;
};
/* The disks holding /, /boot, /boot/efi and active swap (override the mount
 * points with LIFEBOAT_SYSTEM_MOUNTS="/a:/b" for tests), as /dev paths. */
int lb_find_system_disks(char ***ret, size_t *ret_n);
void lb_strv_free(char **v, size_t n);
int lb_backup(struct lb_repo *r, const char *const *sources, size_t nsources, const struct lb_backup_opts *opts,
              struct lb_backup_result *ret);

/* ---- restore ---- */
struct lb_restore_opts {
        size_t image;  /* which image (disk) of the snapshot */
        unsigned partition; /* 0: the whole image; N: only partition N, to the target's start */
        bool grow;          /* extend the last partition and its filesystem to the target's end */
        bool force;    /* overwrite an existing non-empty file target */
        unsigned threads;
};
struct lb_restore_result {
        uint64_t bytes_total, bytes_written, damaged_chunks;
        unsigned grown_partition; /* with grow: the partition extended */
        uint64_t duration_ms;
};
int lb_restore(struct lb_repo *r, const struct lb_snapshot *s, const char *target, const struct lb_restore_opts *opts,
               struct lb_restore_result *ret);

/* ---- diff ---- */
struct lb_diff_range {
        uint64_t offset, length;
};
/* Byte ranges of image `image` that differ between snapshots a and b
 * (compared chunk by chunk through their maps; no data is read). */
int lb_snapshot_diff(struct lb_repo *r, const struct lb_snapshot *a, const struct lb_snapshot *b, size_t image,
                     struct lb_diff_range **ret, size_t *ret_n, uint64_t *ret_bytes);

/* ---- verify ---- */
struct lb_verify_opts {
        bool read_data;
        unsigned threads;
};
struct lb_damage {
        char snapshot[65];
        char image[64];
        uint64_t offset, length; /* byte range of the image */
        char reason[128];
};
struct lb_verify_result {
        uint64_t snapshots, packs, packs_checked, blobs, blobs_checked, bytes_checked;
        struct lb_damage *damage;
        size_t ndamage;
        char **problems; /* repository-level problems (damaged index file, ...) */
        size_t nproblems;
};
/* snapshots: NULL/0 = all. Returns 0 when clean, -EBADMSG when damage was found
 * (details in ret), other errors when it could not run. */
int lb_verify(struct lb_repo *r, const char *const *snapshots, size_t n, const struct lb_verify_opts *opts,
              struct lb_verify_result *ret);
void lb_verify_result_free(struct lb_verify_result *v);

/* ---- copy ---- */
struct lb_copy_opts {
        /* Opens DST, which shares SRC's keys and so its passphrase; NULL when
         * SRC is not encrypted. */
        const char *passphrase;
        unsigned threads; /* checking blobs; 0: one per core */
};
struct lb_copy_snapshot {
        char id[65];
        bool copied;           /* false: DST had it already */
        uint64_t blobs, bytes; /* blobs it added to DST, and their stored bytes */
        uint64_t dedup_chunks; /* chunks DST already had (or got earlier in this copy) */
};
struct lb_copy_result {
        bool created;                       /* DST was created by this copy */
        struct lb_copy_snapshot *snapshots; /* in snapshot order; after a failure, those done before it */
        size_t nsnapshots;
        size_t copied, present;             /* snapshots copied, and already in DST */
        uint64_t blobs, bytes, dedup_chunks, packs;
        uint64_t bytes_total; /* image bytes of the snapshots copied */
        uint64_t duration_ms;
};
/* Copy snapshots (specs as for lb_snapshot_find; NULL/0 = all) of src into
 * the repository at dst, creating it with src's config and key files when dst
 * does not exist or is an empty directory. Each snapshot is committed on its
 * own, in snapshot order; a failure removes the failing one's packs (unless it
 * came after its index files were written).
 * Free ret with lb_copy_result_free(), also after a failure. */
int lb_copy(struct lb_repo *src, const char *dst, const char *const *specs, size_t nspecs,
            const struct lb_copy_opts *opts, struct lb_copy_result *ret);
void lb_copy_result_free(struct lb_copy_result *r);

/* ---- forget: retention policy ---- */
/* Why a snapshot is kept (bits); 0 means the policy removes it. */
enum {
        LB_KEEP_LAST = 1 << 0,
        LB_KEEP_HOURLY = 1 << 1,
        LB_KEEP_DAILY = 1 << 2,
        LB_KEEP_WEEKLY = 1 << 3,
        LB_KEEP_MONTHLY = 1 << 4,
        LB_KEEP_YEARLY = 1 << 5,
        LB_KEEP_WITHIN = 1 << 6,
        LB_KEEP_TAG = 1 << 7,
        LB_KEEP_NAMED = 1 << 8, /* forget by name: every snapshot not named */
};
struct lb_keep_policy {
        /* Each keeps the newest snapshot of each of the last N periods that
         * have one (local time; weeks are ISO weeks); 0: rule not used. */
        unsigned last, hourly, daily, weekly, monthly, yearly;
        /* Keep what is at most this much older than the newest snapshot
         * (calendar arithmetic in local time). */
        bool within;
        unsigned within_years, within_months, within_days, within_hours;
        const char *const *tags; /* keep snapshots with any of these tags */
        size_t ntags;
};
struct lb_keep_item {
        int64_t time; /* unix seconds */
        const char *const *tags;
        size_t ntags;
};
/* True when the policy has at least one rule. */
bool lb_keep_policy_any(const struct lb_keep_policy *p);
/* "30d", "2w", "1y6m", "12h": years, months, weeks, days, hours. -EINVAL. */
int lb_keep_parse_duration(const char *s, struct lb_keep_policy *p);
/* Apply the policy to n snapshots (any order; of two with the same time,
 * the one earlier in v counts as the newer), in the local time zone (TZ):
 * ret_reasons[i] gets the LB_KEEP_* bits of the rules that keep item i. */
int lb_keep_apply(const struct lb_keep_policy *p, const struct lb_keep_item *v, size_t n, unsigned *ret_reasons);
/* "daily, monthly" for the bits set; buf of at least 96 bytes. */
const char *lb_keep_reasons_str(unsigned reasons, char *buf, size_t len);
/* The name of one LB_KEEP_* bit ("daily"), NULL for others. */
const char *lb_keep_reason_name(unsigned bit);

struct lb_forget_opts {
        const char *const *specs; /* snapshots to remove ('latest', IDs), or NULL/0 */
        size_t nspecs;
        const struct lb_keep_policy *policy; /* with no specs: what to keep; the rest goes */
        bool dry_run;
};
struct lb_forget_item {
        char id[65];
        int64_t time, time_ns;
        char *group; /* hostname:source,source… (':', ',' and backslashes in the names escaped
                      * with a backslash, so two groups never share a string; never cut
                      * short): the policy applies per group */
        unsigned reasons; /* LB_KEEP_*; 0: removed (or would be, with dry_run) */
};
struct lb_forget_result {
        struct lb_forget_item *v; /* every snapshot, newest first within each group */
        size_t n, kept, removed;
};
/* Remove snapshot files: the named ones, or those the policy does not keep
 * (applied per group of snapshots of the same host and sources). Needs the
 * exclusive lock (not for dry_run). Neither specs nor a rule: -EINVAL. Free
 * ret with lb_forget_result_free(), also after a failure. */
int lb_forget(struct lb_repo *r, const struct lb_forget_opts *opts, struct lb_forget_result *ret);
void lb_forget_result_free(struct lb_forget_result *r);

/* ---- prune ---- */
struct lb_prune_opts {
        bool dry_run;
        int max_unused; /* percent of the repository that may stay unused (0-100); <0: 5 */
};
struct lb_prune_result {
        uint64_t snapshots, blobs_used;
        uint64_t packs, packs_kept, packs_partial_kept, packs_deleted, packs_repacked, packs_unlisted;
        uint64_t packs_written, blobs_repacked, bytes_repacked; /* new packs and what they hold */
        uint64_t bytes_before, bytes_after; /* pack files */
        uint64_t bytes_used, bytes_unused_left;
        uint64_t index_written, index_removed, tmp_removed;
        uint64_t duration_ms;
};
/* Garbage collection: delete the packs no snapshot uses, repack partly used
 * ones while more than max_unused percent would stay unused, rewrite the
 * index. Refuses (deleting nothing) when a snapshot, map or index file
 * cannot be read. Takes the exclusive lock (shared for dry_run). */
int lb_prune(struct lb_repo *r, const struct lb_prune_opts *opts, struct lb_prune_result *ret);
