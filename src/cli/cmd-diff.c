/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
        "Usage: lifeboat diff --repo PATH SNAPSHOT1 SNAPSHOT2 [--disk N] [--json]\n"
        "Show the byte ranges of a disk (image) that differ between two snapshots, at\n"
        "chunk granularity, from the snapshots' maps alone (no data is read). Ranges\n"
        "that read as zeros in both count as equal.\n"
        "  --disk N    which disk (image) of the snapshots (1 = first, the default)\n";

int cmd_diff(int argc, char **argv)
{
        static const struct option opts[] = { CLI_COMMON_OPTIONS, { "disk", required_argument, NULL, 'i' },
                                              { "image", required_argument, NULL, 'i' }, {} };
        struct cli_common c;
        size_t image = 0;
        int opt;
        cli_common_init(&c);
        while ((opt = getopt_long(argc, argv, "r:P:Jqh", opts, NULL)) != -1) {
                int k = cli_common_opt(&c, opt, usage);
                if (k < 0)
                        return 0;
                if (k)
                        continue;
                if (opt == 'i') {
                        char *end;
                        long l = strtol(optarg, &end, 10);
                        if (*end || l < 1)
                                return cli_usage_error(usage, "bad --disk '%s': give 1 for the first disk", optarg);
                        image = (size_t)l - 1;
                } else
                        return cli_usage_error(usage, "unknown option");
        }
        if (argc - optind != 2)
                return cli_usage_error(usage, "give two snapshots");
        struct lb_repo *repo;
        int r = cli_open_repo(&c, &repo);
        if (r)
                return r;
        cli_events_setup(&c);
        struct lb_snapshot *a = NULL, *b = NULL;
        struct lb_diff_range *v = NULL;
        size_t n = 0;
        uint64_t bytes = 0;
        r = lb_snapshot_find(repo, argv[optind], &a);
        if (r >= 0)
                r = lb_snapshot_find(repo, argv[optind + 1], &b);
        if (r >= 0)
                r = lb_snapshot_diff(repo, a, b, image, &v, &n, &bytes);
        if (r < 0) {
                lb_snapshot_free(a);
                lb_snapshot_free(b);
                lb_repo_close(repo);
                return cli_fail(r, "cannot compare the snapshots");
        }
        char x[32], y[32];
        if (c.json) {
                json_object *o = json_object_new_object(), *arr = json_object_new_array();
                json_object_object_add(o, "changed_bytes", json_object_new_int64((int64_t)bytes));
                for (size_t i = 0; i < n; i++) {
                        json_object *d = json_object_new_object();
                        json_object_object_add(d, "offset", json_object_new_int64((int64_t)v[i].offset));
                        json_object_object_add(d, "length", json_object_new_int64((int64_t)v[i].length));
                        json_object_array_add(arr, d);
                }
                json_object_object_add(o, "ranges", arr);
                cli_print_json(o);
        } else {
                for (size_t i = 0; i < n; i++)
                        printf("%14llu %14llu  %s\n", (unsigned long long)v[i].offset,
                               (unsigned long long)(v[i].offset + v[i].length - 1), cli_bytes(v[i].length, x));
                if (!c.quiet)
                        printf("%zu range(s), %s changed\n", n, cli_bytes(bytes, y));
        }
        free(v);
        lb_snapshot_free(a);
        lb_snapshot_free(b);
        lb_repo_close(repo);
        return 0;
}
