/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
        "Usage: lifeboat prune --repo PATH [--dry-run] [--max-unused PERCENT]\n"
        "Free the space of data no snapshot uses any more (after 'lifeboat forget'):\n"
        "delete the packs no snapshot uses, copy the used blobs of mostly unused packs\n"
        "into new packs (each one checked first), and rewrite the index. Refuses, and\n"
        "deletes nothing, when a snapshot, map or index file cannot be read. Needs the\n"
        "repository to itself: fails at once while a backup, restore, verify, copy or a\n"
        "mount uses it. Safe to interrupt: a new run finishes the job.\n"
        "  --dry-run             show what would be deleted and repacked, change nothing\n"
        "  --max-unused PERCENT  leave partly used packs alone while at most this much\n"
        "                        of the repository is unused (default 5; 100: only delete\n"
        "                        packs that hold nothing in use, repack nothing)\n";

static json_object *result_json(const struct lb_prune_result *res, bool dry_run)
{
        json_object *o = json_object_new_object();
#define ADD(name, v) json_object_object_add(o, name, json_object_new_int64((int64_t)(v)))
        json_object_object_add(o, "dry_run", json_object_new_boolean(dry_run));
        ADD("snapshots", res->snapshots);
        ADD("blobs_used", res->blobs_used);
        ADD("packs", res->packs);
        ADD("packs_kept", res->packs_kept);
        ADD("packs_partly_used_kept", res->packs_partial_kept);
        ADD("packs_deleted", res->packs_deleted);
        ADD("packs_repacked", res->packs_repacked);
        ADD("packs_unlisted_deleted", res->packs_unlisted);
        ADD("packs_written", res->packs_written);
        ADD("blobs_repacked", res->blobs_repacked);
        ADD("bytes_repacked", res->bytes_repacked);
        ADD("bytes_before", res->bytes_before);
        ADD("bytes_after", res->bytes_after);
        ADD("bytes_freed", res->bytes_before - res->bytes_after);
        ADD("bytes_used", res->bytes_used);
        ADD("bytes_unused", res->bytes_unused_left);
        ADD("index_files_written", res->index_written);
        ADD("index_files_removed", res->index_removed);
        ADD("tmp_files_removed", res->tmp_removed);
        ADD("duration_ms", res->duration_ms);
#undef ADD
        return o;
}

static void print_result(const struct lb_prune_result *res, bool dry_run)
{
        char a[32], b[32], c[32], d[32];
        const char *would = dry_run ? "would be " : "";
        printf("%llu snapshot(s) use %llu blobs, %s.\n", (unsigned long long)res->snapshots,
               (unsigned long long)res->blobs_used, cli_bytes(res->bytes_used, a));
        printf("Packs: %llu kept (%llu of them partly used), %llu %sdeleted (nothing in use), %llu %srepacked",
               (unsigned long long)res->packs_kept, (unsigned long long)res->packs_partial_kept,
               (unsigned long long)res->packs_deleted, would, (unsigned long long)res->packs_repacked, would);
        if (!dry_run)
                printf(" into %llu new (%llu blobs, %s)", (unsigned long long)res->packs_written,
                       (unsigned long long)res->blobs_repacked, cli_bytes(res->bytes_repacked, b));
        printf(", %llu listed in no index %sdeleted.\n", (unsigned long long)res->packs_unlisted, would);
        printf("%s %s of %s (%s left, %s of it unused) in %.1f s.\n", dry_run ? "Would free about" : "Freed",
               cli_bytes(res->bytes_before - res->bytes_after, a), cli_bytes(res->bytes_before, b),
               cli_bytes(res->bytes_after, c), cli_bytes(res->bytes_unused_left, d), (double)res->duration_ms / 1000);
        if (dry_run)
                printf("Dry run: nothing was changed.\n");
}

int cli_prune_run(const struct cli_common *c, struct lb_repo *repo, bool dry_run, int max_unused, json_object *forget)
{
        struct lb_prune_opts po = { .dry_run = dry_run, .max_unused = max_unused };
        struct lb_prune_result res;
        int r = lb_prune(repo, &po, &res);
        cli_progress_end();
        if (r < 0) {
                json_object_put(forget);
                return cli_fail(r, "prune failed");
        }
        if (c->json) {
                json_object *o = result_json(&res, dry_run);
                if (forget) {
                        json_object_object_add(forget, "prune", o);
                        o = forget;
                }
                cli_print_json(o);
        } else if (!c->quiet) {
                print_result(&res, dry_run);
        }
        return 0;
}

int cmd_prune(int argc, char **argv)
{
        enum { O_DRY = 1000, O_MAX };
        static const struct option opts[] = { CLI_COMMON_OPTIONS, { "dry-run", no_argument, NULL, O_DRY },
                                              { "max-unused", required_argument, NULL, O_MAX }, {} };
        struct cli_common c;
        bool dry_run = false;
        int max_unused = -1, opt;
        cli_common_init(&c);
        while ((opt = getopt_long(argc, argv, "r:P:Jqh", opts, NULL)) != -1) {
                int k = cli_common_opt(&c, opt, usage);
                if (k < 0)
                        return 0;
                if (k)
                        continue;
                char *end;
                long l;
                switch (opt) {
                case O_DRY: dry_run = true; break;
                case O_MAX:
                        l = strtol(optarg, &end, 10);
                        if (end == optarg || (*end && strcmp(end, "%") != 0) || l < 0 || l > 100)
                                return cli_usage_error(usage, "bad --max-unused '%s' (a percentage, 0-100)", optarg);
                        max_unused = (int)l;
                        break;
                default: return cli_usage_error(usage, "unknown option");
                }
        }
        if (optind < argc)
                return cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
        struct lb_repo *repo;
        int r = cli_open_repo(&c, &repo);
        if (r)
                return r;
        cli_events_setup(&c);
        r = cli_prune_run(&c, repo, dry_run, max_unused, NULL);
        lb_repo_close(repo);
        return r;
}
