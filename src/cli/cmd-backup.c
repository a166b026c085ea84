/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
        "Usage: lifeboat backup --repo PATH [OPTIONS] SOURCE...\n"
        "       lifeboat backup --repo PATH [OPTIONS] --system\n"
        "Back up disks, partitions or image files into one new snapshot. A disk is imaged\n"
        "whole: partition table, boot areas, and the blocks each filesystem uses.\n"
        "  --system                image the disks holding /, /boot, /boot/efi and swap\n"
        "  --tag T                 label the snapshot (repeatable)\n"
        "  --compression zstd:N|none   compression (default zstd:2)\n"
        "  --chunk-size N          chunk size for this backup (default: the repository's)\n"
        "  --threads N             worker threads (default: one per core)\n"
        "  --rehash                hash every chunk again instead of trusting the previous\n"
        "                          snapshot's fingerprints of unchanged chunks\n"
        "  --live                  image filesystems that are mounted read-write anyway; the\n"
        "                          snapshot is marked as possibly inconsistent\n";

int cmd_backup(int argc, char **argv)
{
        static const struct option opts[] = { CLI_COMMON_OPTIONS,
                                              { "tag", required_argument, NULL, 't' },
                                              { "compression", required_argument, NULL, 'C' },
                                              { "chunk-size", required_argument, NULL, 'c' },
                                              { "threads", required_argument, NULL, 'T' },
                                              { "rehash", no_argument, NULL, 'H' },
                                              { "live", no_argument, NULL, 'L' },
                                              { "system", no_argument, NULL, 'S' },
                                              {} };
        struct cli_common c;
        struct lb_backup_opts bo = { .compression_level = -1 };
        const char *tags[64];
        bool system_disks = false;
        char **sources = NULL;
        size_t nsources = 0;
        int opt;
        cli_common_init(&c);
        while ((opt = getopt_long(argc, argv, "r:P:Jqht:", opts, NULL)) != -1) {
                int k = cli_common_opt(&c, opt, usage);
                if (k < 0)
                        return 0;
                if (k)
                        continue;
                char *end;
                switch (opt) {
                case 't':
                        if (bo.ntags == 64)
                                return cli_usage_error(usage, "too many tags");
                        if (!*optarg)
                                return cli_usage_error(usage, "empty --tag");
                        tags[bo.ntags++] = optarg;
                        break;
                case 'C':
                        if (!strcmp(optarg, "none"))
                                bo.compression_level = 0;
                        else if (!strncmp(optarg, "zstd", 4) && (optarg[4] == 0 || optarg[4] == ':')) {
                                bo.compression_level = -1; /* the default level */
                                if (optarg[4] == ':') {
                                        long l = strtol(optarg + 5, &end, 10);
                                        if (*end || l < 1 || l > 19)
                                                return cli_usage_error(usage, "bad zstd level in '%s' (1-19)", optarg);
                                        bo.compression_level = (int)l;
                                }
                        } else
                                return cli_usage_error(usage, "unknown compression '%s': use zstd:N or none", optarg);
                        break;
                case 'c': {
                        unsigned long long v = strtoull(optarg, &end, 10);
                        if (*end == 'K' || *end == 'k') v <<= 10, end++;
                        else if (*end == 'M' || *end == 'm') v <<= 20, end++;
                        if (*end || v == 0 || v > (8u << 20))
                                return cli_usage_error(usage, "bad --chunk-size '%s'", optarg);
                        bo.chunk_size = (uint32_t)v;
                        break;
                }
                case 'T':
                        if ((k = cli_threads_opt(optarg, usage, &bo.threads)))
                                return k;
                        break;
                case 'H': bo.rehash = true; break;
                case 'L': bo.live = true; break;
                case 'S': system_disks = true; break;
                default: return cli_usage_error(usage, "unknown option");
                }
        }
        if (system_disks && optind < argc)
                return cli_usage_error(usage, "give either --system or SOURCEs, not both");
        if (!system_disks && optind >= argc)
                return cli_usage_error(usage, "nothing to back up: name a disk, a partition or an image file, or use --system");
        bo.tags = tags;
        struct lb_repo *repo;
        int r = cli_open_repo(&c, &repo);
        if (r)
                return r;
        cli_events_setup(&c);
        if (system_disks) {
                r = lb_find_system_disks(&sources, &nsources);
                if (r < 0) {
                        lb_repo_close(repo);
                        return cli_fail(r, "cannot find the system's disks");
                }
                if (!c.quiet && !c.json)
                        for (size_t i = 0; i < nsources; i++)
                                printf("System disk: %s\n", sources[i]);
        }
        struct lb_backup_result res;
        if (system_disks)
                r = lb_backup(repo, (const char *const *)sources, nsources, &bo, &res);
        else
                r = lb_backup(repo, (const char *const *)argv + optind, (size_t)(argc - optind), &bo, &res);
        lb_strv_free(sources, nsources);
        cli_progress_end();
        lb_repo_close(repo);
        if (r < 0)
                return cli_fail(r, "backup failed");
        char a[32], b[32], d[32], e[32];
        if (c.json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "snapshot", json_object_new_string(res.id));
                json_object_object_add(o, "bytes_total", json_object_new_int64((int64_t)res.bytes_total));
                json_object_object_add(o, "bytes_read", json_object_new_int64((int64_t)res.bytes_read));
                json_object_object_add(o, "zero_bytes", json_object_new_int64((int64_t)res.zero_bytes));
                json_object_object_add(o, "new_chunks", json_object_new_int64((int64_t)res.new_chunks));
                json_object_object_add(o, "dedup_chunks", json_object_new_int64((int64_t)res.dedup_chunks));
                json_object_object_add(o, "stored_bytes", json_object_new_int64((int64_t)res.stored_bytes));
                json_object_object_add(o, "duration_ms", json_object_new_int64((int64_t)res.duration_ms));
                cli_print_json(o);
        } else if (!c.quiet) {
                double s = (double)res.duration_ms / 1000.0;
                printf("Snapshot %.8s saved: %s in %.1f s (%s/s); %s read, %s added to the repository "
                       "(%llu new chunks, %llu already stored)\n",
                       res.id, cli_bytes(res.bytes_total, a), s,
                       cli_bytes(s > 0 ? (uint64_t)((double)res.bytes_total / s) : res.bytes_total, d),
                       cli_bytes(res.bytes_read, b), cli_bytes(res.stored_bytes, e), (unsigned long long)res.new_chunks,
                       (unsigned long long)res.dedup_chunks);
        }
        return 0;
}
