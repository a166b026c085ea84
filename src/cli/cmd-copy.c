/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
        "Usage: lifeboat copy --repo SRC --to DST [SNAPSHOT...]\n"
        "Copy snapshots ('latest' or IDs; none: all) of SRC into the repository DST, blobs\n"
        "as they are stored, each one checked first. What DST already has is not copied\n"
        "again. A DST that does not exist or is an empty directory is created with SRC's\n"
        "keys, repository ID and chunk parameters (the same passphrase opens it); an\n"
        "existing DST must have SRC's keys. Each snapshot is committed on its own; if one\n"
        "fails, the packs it wrote are removed again. Copies of the same snapshots into\n"
        "new directories are identical, byte for byte.\n"
        "  --to DST     the repository to copy into\n"
        "  --threads N  threads checking blobs (default: one per core)\n";

static json_object *result_json(const char *dst, const struct lb_copy_result *res)
{
        json_object *o = json_object_new_object(), *snaps = json_object_new_array();
        json_object_object_add(o, "repository", json_object_new_string(dst));
        json_object_object_add(o, "created", json_object_new_boolean(res->created));
        for (size_t i = 0; i < res->nsnapshots; i++) {
                const struct lb_copy_snapshot *s = &res->snapshots[i];
                json_object *j = json_object_new_object();
                json_object_object_add(j, "id", json_object_new_string(s->id));
                json_object_object_add(j, "copied", json_object_new_boolean(s->copied));
                json_object_object_add(j, "blobs", json_object_new_int64((int64_t)s->blobs));
                json_object_object_add(j, "stored_bytes", json_object_new_int64((int64_t)s->bytes));
                json_object_object_add(j, "dedup_chunks", json_object_new_int64((int64_t)s->dedup_chunks));
                json_object_array_add(snaps, j);
        }
        json_object_object_add(o, "snapshots", snaps);
        json_object_object_add(o, "copied", json_object_new_int64((int64_t)res->copied));
        json_object_object_add(o, "present", json_object_new_int64((int64_t)res->present));
        json_object_object_add(o, "blobs", json_object_new_int64((int64_t)res->blobs));
        json_object_object_add(o, "stored_bytes", json_object_new_int64((int64_t)res->bytes));
        json_object_object_add(o, "dedup_chunks", json_object_new_int64((int64_t)res->dedup_chunks));
        json_object_object_add(o, "packs", json_object_new_int64((int64_t)res->packs));
        json_object_object_add(o, "bytes_total", json_object_new_int64((int64_t)res->bytes_total));
        json_object_object_add(o, "duration_ms", json_object_new_int64((int64_t)res->duration_ms));
        return o;
}

static void print_result(const char *src, const char *dst, const struct lb_copy_result *res)
{
        char a[32], b[32], d[32];
        if (res->created)
                printf("Created repository %s with the keys of %s\n", dst, src);
        for (size_t i = 0; i < res->nsnapshots; i++) {
                const struct lb_copy_snapshot *s = &res->snapshots[i];
                if (s->copied)
                        printf("Snapshot %.8s copied: %llu blobs, %s added (%llu chunks already there)\n", s->id,
                               (unsigned long long)s->blobs, cli_bytes(s->bytes, a),
                               (unsigned long long)s->dedup_chunks);
                else
                        printf("Snapshot %.8s is already in %s\n", s->id, dst);
        }
        double sec = (double)res->duration_ms / 1000.0;
        printf("Copied %zu snapshot(s) (%zu already there) in %.1f s: %s of images, %s added (%s/s)\n", res->copied,
               res->present, sec, cli_bytes(res->bytes_total, a), cli_bytes(res->bytes, b),
               cli_bytes(sec > 0 ? (uint64_t)((double)res->bytes / sec) : res->bytes, d));
}

int cmd_copy(int argc, char **argv)
{
        static const struct option opts[] = { CLI_COMMON_OPTIONS, { "to", required_argument, NULL, 't' },
                                              { "threads", required_argument, NULL, 'T' }, {} };
        struct cli_common c;
        struct lb_copy_opts co = { 0 };
        const char *dst = NULL;
        int opt;
        cli_common_init(&c);
        while ((opt = getopt_long(argc, argv, "r:P:Jqh", opts, NULL)) != -1) {
                int k = cli_common_opt(&c, opt, usage);
                if (k < 0)
                        return 0;
                if (k)
                        continue;
                switch (opt) {
                case 't':
                        if (!*optarg)
                                return cli_usage_error(usage, "empty --to");
                        dst = optarg;
                        break;
                case 'T':
                        if ((k = cli_threads_opt(optarg, usage, &co.threads)))
                                return k;
                        break;
                default: return cli_usage_error(usage, "unknown option");
                }
        }
        if (!dst)
                return cli_usage_error(usage, "where to? give the destination repository with --to DST");
        struct lb_repo *repo;
        char *pass = NULL;
        int r = cli_open_repo_pass(&c, &repo, &pass);
        if (r)
                return r;
        cli_events_setup(&c);
        co.passphrase = pass;
        struct lb_copy_result res;
        r = lb_copy(repo, dst, (const char *const *)argv + optind, (size_t)(argc - optind), &co, &res);
        cli_progress_end();
        if (pass) {
                memset(pass, 0, strlen(pass));
                free(pass);
        }
        if (r < 0) {
                cli_fail(r, "copy to %s failed", dst);
                if (res.copied && !c.json && !c.quiet)
                        fprintf(stderr, "lifeboat: %zu snapshot(s) copied before the failure are complete in %s\n",
                                res.copied, dst);
                lb_copy_result_free(&res);
                lb_repo_close(repo);
                return 1;
        }
        if (c.json)
                cli_print_json(result_json(dst, &res));
        else if (!c.quiet)
                print_result(lb_repo_path(repo), dst, &res);
        lb_copy_result_free(&res);
        lb_repo_close(repo);
        return 0;
}
