/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *jstr(json_object *o, const char *k)
{
        json_object *v;
        return o && json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static uint64_t jnum(json_object *o, const char *k)
{
        json_object *v;
        return o && json_object_object_get_ex(o, k, &v) ? (uint64_t)json_object_get_int64(v) : 0;
}

static void print_fs(json_object *fs, uint64_t stored, bool with_stored)
{
        char a[32], b[32];
        json_object *v;
        const char *type = jstr(fs, "type");
        printf("%-8s %-12.12s %-36s %10s", *type ? type : "-", *jstr(fs, "label") ? jstr(fs, "label") : "-",
               *jstr(fs, "uuid") ? jstr(fs, "uuid") : "-", cli_bytes(jnum(fs, "used_bytes"), a));
        if (with_stored)
                printf(" %10s", cli_bytes(stored, b));
        if (json_object_object_get_ex(fs, "note", &v))
                printf("  (%s)", json_object_get_string(v));
        printf("\n");
}

/* What identified the source disk (model, serial number, WWID), if known. */
static void print_identity(json_object *d)
{
        const char *model = jstr(d, "model"), *serial = jstr(d, "serial"), *wwid = jstr(d, "wwid");
        if (!*model && !*serial && !*wwid)
                return;
        printf("  disk        %s", *model ? model : "(model unknown)");
        if (*serial)
                printf(", serial %s", serial);
        if (*wwid)
                printf(", wwid %s", wwid);
        printf("\n");
}

/* The partition table and filesystems of a disk image. */
static void print_layout(const char *layout_json)
{
        json_object *d = json_tokener_parse(layout_json), *parts, *fs;
        char a[32], b[32], c[32];
        if (!d)
                return;
        const char *table = jstr(d, "table");
        print_identity(d);
        if (!*table) {
                printf("  contents    single volume\n  %-8s %-12s %-36s %10s\n  ", "fs", "label", "uuid", "used");
                if (json_object_object_get_ex(d, "filesystem", &fs))
                        print_fs(fs, 0, false);
                json_object_put(d);
                return;
        }
        printf("  table       %s, disk id %s, %llu-byte sectors\n", !strcmp(table, "dos") ? "MBR (dos)" : "GPT",
               jstr(d, "id"), (unsigned long long)jnum(d, "sector_size"));
        printf("  %-3s %10s %10s  %-22s %-8s %-12s %-36s %10s %10s\n", "#", "start", "size", "type", "fs", "label",
               "uuid", "used", "stored");
        if (json_object_object_get_ex(d, "partitions", &parts))
                for (size_t i = 0; i < json_object_array_length(parts); i++) {
                        json_object *p = json_object_array_get_idx(parts, i);
                        const char *tn = jstr(p, "type_name");
                        printf("  %-3llu %10s %10s  %-22.22s ", (unsigned long long)jnum(p, "number"),
                               cli_bytes(jnum(p, "start"), a), cli_bytes(jnum(p, "size"), b), *tn ? tn : jstr(p, "type"));
                        if (json_object_object_get_ex(p, "filesystem", &fs))
                                print_fs(fs, jnum(p, "stored_bytes"), true);
                        else
                                printf("(extended partition)\n");
                }
        printf("  used map    %s of %s\n", cli_bytes(jnum(d, "used_bytes"), c), cli_bytes(jnum(d, "size"), a));
        json_object_put(d);
}

static const char usage[] = "Usage: lifeboat info --repo PATH SNAPSHOT [--json]\n"
                            "Show a snapshot: its images, sizes and what each added to the repository.\n"
                            "SNAPSHOT is 'latest' or an ID prefix from 'lifeboat list'.\n";

int cmd_info(int argc, char **argv)
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
        if (optind != argc - 1)
                return cli_usage_error(usage, "give one SNAPSHOT ('latest' or an ID)");
        struct lb_repo *repo;
        int r = cli_open_repo(&c, &repo);
        if (r)
                return r;
        cli_events_setup(&c);
        struct lb_snapshot *s;
        r = lb_snapshot_find(repo, argv[optind], &s);
        if (r < 0) {
                lb_repo_close(repo);
                return cli_fail(r, "cannot find snapshot %s", argv[optind]);
        }
        struct lb_snapshot_info si;
        struct lb_image_info ii;
        char t[32], a[32], b[32], d[32], e[32], f[32], g[32];
        lb_snapshot_get_info(s, &si);
        if (c.json) {
                char *text = lb_snapshot_info_json(s);
                if (!text) {
                        lb_snapshot_free(s);
                        lb_repo_close(repo);
                        return cli_fail(-ENOMEM, "out of memory");
                }
                fputs(text, stdout);
                free(text);
        } else {
                printf("Snapshot  %s\nTime      %s\nHost      %s\nLifeboat  %s\nDuration  %.1f s\n", si.id,
                       cli_time(si.time, t), si.hostname, si.version, (double)si.duration_ms / 1000);
                if (si.live)
                        printf("Warning   taken from mounted read-write filesystems (--live): may be inconsistent\n");
                if (si.ntags) {
                        printf("Tags     ");
                        for (size_t k = 0; k < si.ntags; k++)
                                printf(" %s", si.tags[k]);
                        printf("\n");
                }
                for (size_t k = 0; k < si.nimages; k++) {
                        if (lb_snapshot_get_image(s, k, &ii) < 0)
                                continue;
                        printf("\nImage %zu: %s\n  source      %s\n  size        %s (%llu bytes)\n  chunk size  %s\n"
                               "  read        %s (zeros: %s; not in use by any filesystem: %s)\n"
                               "  added       %s in %llu new chunks (%s before compression); "
                               "%llu chunks already stored\n",
                               k + 1, ii.name, ii.source, cli_bytes(ii.size, a), (unsigned long long)ii.size,
                               cli_bytes(ii.chunk_size, b), cli_bytes(ii.stats.bytes_read, d),
                               cli_bytes(ii.stats.zero_bytes, e), cli_bytes(ii.stats.unused_bytes, t),
                               cli_bytes(ii.stats.stored_bytes, f),
                               (unsigned long long)ii.stats.new_chunks, cli_bytes(ii.stats.new_bytes, g),
                               (unsigned long long)ii.stats.dedup_chunks);
                        if (ii.layout_json)
                                print_layout(ii.layout_json);
                }
        }
        lb_snapshot_free(s);
        lb_repo_close(repo);
        return 0;
}
