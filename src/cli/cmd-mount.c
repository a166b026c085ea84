/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lifeboat mount / umount: options, then src/mount/ (mount.h) does the work. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mount.h"

static const char mount_usage[] =
        "Usage: lifeboat mount --repo PATH [-f] MOUNTPOINT\n"
        "       lifeboat mount --repo PATH [-f] --files [SNAPSHOT|all] MOUNTPOINT\n"
        "Mount the snapshots of a repository read-only (FUSE) at MOUNTPOINT, an empty directory:\n"
        "  MOUNTPOINT/<YYYY-MM-DDTHHMMSS>_<id>/info.json      the snapshot, as 'info --json' shows it\n"
        "  MOUNTPOINT/<...>/<image>/disk.img                  the whole image (unused blocks read as zeros)\n"
        "  MOUNTPOINT/<...>/<image>/part<N>.img               partition N of it\n"
        "  MOUNTPOINT/latest                                  the newest snapshot\n"
        "With --files, the filesystems of SNAPSHOT (default: latest; 'all': every snapshot) are\n"
        "mounted read-only on MOUNTPOINT/<...>/<image>/part<N>/ (a volume without partition table:\n"
        "<image>/fs/), from loop devices: ext2/3/4, XFS, btrfs, NTFS (ntfs-3g), FAT (vfat or fusefat).\n"
        "  -f, --foreground   stay in the foreground (Ctrl-C unmounts)\n"
        "  --cache-size MIB   decoded chunks kept in memory (default 256)\n"
        "Undo everything with 'lifeboat umount MOUNTPOINT'.\n";

int cmd_mount(int argc, char **argv)
{
        static const struct option opts[] = { CLI_COMMON_OPTIONS,
                                              { "foreground", no_argument, NULL, 'f' },
                                              { "files", no_argument, NULL, 'F' },
                                              { "debug", no_argument, NULL, 'd' },
                                              { "cache-size", required_argument, NULL, 'C' },
                                              {} };
        struct cli_common c;
        struct mount_opts o = { .cache_mib = 256 };
        char *end;
        int opt;
        cli_common_init(&c);
        while ((opt = getopt_long(argc, argv, "r:P:Jqhfd", opts, NULL)) != -1) {
                int k = cli_common_opt(&c, opt, mount_usage);
                if (k < 0)
                        return 0;
                if (k)
                        continue;
                switch (opt) {
                case 'f': o.foreground = true; break;
                case 'F': o.files = true; break;
                case 'd': o.debug = o.foreground = true; break;
                case 'C':
                        o.cache_mib = (unsigned)strtoul(optarg, &end, 10);
                        if (*end || o.cache_mib < 16 || o.cache_mib > 65536)
                                return cli_usage_error(mount_usage, "--cache-size takes MiB, from 16 to 65536");
                        break;
                default: return cli_usage_error(mount_usage, "unknown option");
                }
        }
        o.quiet = c.quiet;
        const char *spec = NULL;
        if (o.files && argc - optind == 2)
                spec = argv[optind++];
        else if (o.files && argc - optind == 1)
                spec = "latest";
        if (argc - optind != 1)
                return cli_usage_error(mount_usage, o.files ? "give [SNAPSHOT] and MOUNTPOINT" : "give one MOUNTPOINT");
        if (geteuid() != 0)
                fprintf(stderr, "lifeboat: warning: not root: mounting needs root (FUSE, loop devices)\n");
        char *mp;
        int r = mount_record_claim(argv[optind], &mp);
        if (r)
                return r;
        o.mountpoint = mp;

        /* the serving process works from / */
        char *repo_abs = c.repo && *c.repo ? realpath(c.repo, NULL) : NULL;
        if (repo_abs)
                c.repo = repo_abs;
        struct lb_repo *repo;
        r = cli_open_repo(&c, &repo);
        if (r)
                return r;
        cli_events_setup(&c);
        if (o.files && strcmp(spec, "all") != 0) {
                struct lb_snapshot *s;
                r = lb_snapshot_find(repo, spec, &s);
                if (r < 0) {
                        lb_repo_close(repo);
                        return cli_fail(r, "cannot find snapshot %s", spec);
                }
                struct lb_snapshot_info si;
                lb_snapshot_get_info(s, &si);
                snprintf(o.files_id, sizeof(o.files_id), "%s", si.id);
                lb_snapshot_free(s);
        } else if (o.files) {
                o.files_all = true;
        }
        r = fusefs_init(repo, &o);
        if (r < 0) {
                lb_repo_close(repo);
                return cli_fail(r, "cannot list the snapshots of %s", c.repo);
        }
        return mount_serve(repo, &o);
}

static const char umount_usage[] = "Usage: lifeboat umount [--lazy] MOUNTPOINT\n"
                                   "Unmount what 'lifeboat mount' set up at MOUNTPOINT: the filesystems mounted with\n"
                                   "--files, their loop devices, the FUSE filesystem, and stop its process (also after\n"
                                   "that process was killed).\n"
                                   "  -l, --lazy   detach what is busy; it goes when its last file is closed\n";

int cmd_umount(int argc, char **argv)
{
        static const struct option opts[] = { CLI_COMMON_OPTIONS, { "lazy", no_argument, NULL, 'l' }, {} };
        struct cli_common c;
        bool lazy = false;
        int opt;
        cli_common_init(&c);
        while ((opt = getopt_long(argc, argv, "r:P:Jqhl", opts, NULL)) != -1) {
                int k = cli_common_opt(&c, opt, umount_usage);
                if (k < 0)
                        return 0;
                if (k)
                        continue;
                if (opt == 'l')
                        lazy = true;
                else
                        return cli_usage_error(umount_usage, "unknown option");
        }
        if (argc - optind != 1)
                return cli_usage_error(umount_usage, "give one MOUNTPOINT");
        return mount_umount(argv[optind], lazy, c.quiet);
}
