/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <string.h>

#include "cli.h"

static const char usage[] = "Usage: lifeboat list --repo PATH [--json]\n"
                            "List the snapshots of a repository, oldest first.\n";

int cmd_list(int argc, char **argv)
{
        static const struct option opts[] = { CLI_COMMON_OPTIONS, {} };
        struct cli_common c;
        int opt;
        cli_common_init(&c);
        while ((opt = getopt_long(argc, argv, "r:P:Jqh", opts, NULL)) != -1) {
                int k = cli_common_opt(&c, opt, usage);
                if (k < 0)
                        return 0;
                if (!k)
                        return cli_usage_error(usage, "unknown option");
        }
        if (optind < argc)
                return cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
        struct lb_repo *repo;
        int r = cli_open_repo(&c, &repo);
        if (r)
                return r;
        cli_events_setup(&c);
        struct lb_snapshot **v;
        size_t n;
        r = lb_snapshot_list(repo, &v, &n);
        if (r < 0) {
                lb_repo_close(repo);
                return cli_fail(r, "cannot list snapshots");
        }
        json_object *arr = c.json ? json_object_new_array() : NULL;
        if (!c.json && n)
                printf("%-8s  %-19s  %-16s  %10s  %s\n", "ID", "Time", "Host", "Size", "Images / tags");
        for (size_t i = 0; i < n; i++) {
                struct lb_snapshot_info si;
                struct lb_image_info ii;
                uint64_t size = 0;
                char t[32], b[32];
                lb_snapshot_get_info(v[i], &si);
                for (size_t k = 0; k < si.nimages; k++)
                        if (lb_snapshot_get_image(v[i], k, &ii) == 0)
                                size += ii.size;
                if (arr) {
                        json_object *o = json_object_new_object(), *imgs = json_object_new_array(),
                                    *tags = json_object_new_array();
                        json_object_object_add(o, "id", json_object_new_string(si.id));
                        json_object_object_add(o, "time", json_object_new_int64(si.time));
                        json_object_object_add(o, "hostname", json_object_new_string(si.hostname));
                        json_object_object_add(o, "size", json_object_new_int64((int64_t)size));
                        for (size_t k = 0; k < si.nimages; k++)
                                if (lb_snapshot_get_image(v[i], k, &ii) == 0)
                                        json_object_array_add(imgs, json_object_new_string(ii.name));
                        for (size_t k = 0; k < si.ntags; k++)
                                json_object_array_add(tags, json_object_new_string(si.tags[k]));
                        json_object_object_add(o, "images", imgs);
                        json_object_object_add(o, "tags", tags);
                        json_object_array_add(arr, o);
                        continue;
                }
                printf("%.8s  %-19s  %-16.16s  %10s  ", si.id, cli_time(si.time, t), si.hostname, cli_bytes(size, b));
                for (size_t k = 0; k < si.nimages; k++)
                        if (lb_snapshot_get_image(v[i], k, &ii) == 0)
                                printf("%s%s", k ? "," : "", ii.name);
                for (size_t k = 0; k < si.ntags; k++)
                        printf(" [%s]", si.tags[k]);
                printf("\n");
        }
        if (arr)
                cli_print_json(arr);
        else if (n == 0 && !c.quiet)
                printf("No snapshots in %s yet.\n", c.repo);
        lb_snapshot_list_free(v, n);
        lb_repo_close(repo);
        return 0;
}
