/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
        "Usage: lifeboat restore --repo PATH SNAPSHOT TARGET [--disk N] [--partition N] [--force]\n"
        "Restore a disk image of SNAPSHOT ('latest' or an ID) onto TARGET, a block device or a\n"
        "file (created sparse). A device that is mounted, in use or too small is refused.\n"
        "Partition table, boot areas, UUIDs and labels are restored as they were; on a\n"
        "larger disk the backup GPT is moved to the new end.\n"
        "  --disk N       which disk (image) of the snapshot (1 = first, the default);\n"
        "                 --image N is the same\n"
        "  --partition N  restore only partition N, onto a partition or a file\n"
        "  --grow         on a larger target, extend the last partition and its filesystem\n"
        "                 (ext2/3/4, XFS, btrfs, NTFS, swap) to the end of the disk\n"
        "  --force      overwrite an existing, non-empty target file\n"
        "  --threads N  worker threads (default: one per core)\n";

int cmd_restore(int argc, char **argv)
{
        static const struct option opts[] = { CLI_COMMON_OPTIONS,
                                              { "force", no_argument, NULL, 'f' },
                                              { "image", required_argument, NULL, 'i' },
                                              { "disk", required_argument, NULL, 'i' },
                                              { "partition", required_argument, NULL, 'p' },
                                              { "grow", no_argument, NULL, 'g' },
                                              { "threads", required_argument, NULL, 'T' },
                                              {} };
        struct cli_common c;
        struct lb_restore_opts ro = { 0 };
        int opt;
        cli_common_init(&c);
        while ((opt = getopt_long(argc, argv, "r:P:Jqhf", opts, NULL)) != -1) {
                int k = cli_common_opt(&c, opt, usage);
                if (k < 0)
                        return 0;
                if (k)
                        continue;
                char *end;
                long l;
                switch (opt) {
                case 'f': ro.force = true; break;
                case 'g': ro.grow = true; break;
                case 'i':
                        l = strtol(optarg, &end, 10);
                        if (*end || l < 1)
                                return cli_usage_error(usage, "bad --image '%s': give 1 for the first image", optarg);
                        ro.image = (size_t)l - 1;
                        break;
                case 'p':
                        l = strtol(optarg, &end, 10);
                        if (*end || l < 1 || l > 4096)
                                return cli_usage_error(usage, "bad --partition '%s': give a partition number", optarg);
                        ro.partition = (unsigned)l;
                        break;
                case 'T':
                        if ((k = cli_threads_opt(optarg, usage, &ro.threads)))
                                return k;
                        break;
                default: return cli_usage_error(usage, "unknown option");
                }
        }
        if (argc - optind != 2)
                return cli_usage_error(usage, "give a SNAPSHOT and a TARGET");
        const char *spec = argv[optind], *target = argv[optind + 1];
        struct lb_repo *repo;
        int r = cli_open_repo(&c, &repo);
        if (r)
                return r;
        cli_events_setup(&c);
        struct lb_snapshot *s;
        r = lb_snapshot_find(repo, spec, &s);
        if (r < 0) {
                lb_repo_close(repo);
                return cli_fail(r, "cannot find snapshot %s", spec);
        }
        struct lb_restore_result res;
        r = lb_restore(repo, s, target, &ro, &res);
        cli_progress_end();
        lb_snapshot_free(s);
        lb_repo_close(repo);
        if (r < 0)
                return cli_fail(r, "restore failed");
        char a[32], b[32];
        if (c.json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "target", json_object_new_string(target));
                json_object_object_add(o, "bytes_total", json_object_new_int64((int64_t)res.bytes_total));
                json_object_object_add(o, "bytes_written", json_object_new_int64((int64_t)res.bytes_written));
                json_object_object_add(o, "duration_ms", json_object_new_int64((int64_t)res.duration_ms));
                cli_print_json(o);
        } else if (!c.quiet) {
                double sec = (double)res.duration_ms / 1000.0;
                printf("Restored %s to %s in %.1f s (%s/s)\n", cli_bytes(res.bytes_total, a), target, sec,
                       cli_bytes(sec > 0 ? (uint64_t)((double)res.bytes_total / sec) : res.bytes_total, b));
                if (res.grown_partition)
                        printf("Partition %u and its filesystem now extend to the end of %s\n", res.grown_partition,
                               target);
        }
        return 0;
}
