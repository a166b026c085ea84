/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
        "Usage: lifeboat verify --repo PATH [--read-data] [SNAPSHOT...]\n"
        "Check that every chunk the snapshots need is present and that every pack file is\n"
        "intact. With --read-data, also decrypt, decompress and re-hash all the data.\n"
        "Any damage is reported with its snapshot, image and byte range; the exit status\n"
        "is 1 when damage was found.\n";

int cmd_verify(int argc, char **argv)
{
        static const struct option opts[] = { CLI_COMMON_OPTIONS, { "read-data", no_argument, NULL, 'd' }, {} };
        struct cli_common c;
        struct lb_verify_opts vo = { 0 };
        int opt;
        cli_common_init(&c);
        while ((opt = getopt_long(argc, argv, "r:P:Jqh", opts, NULL)) != -1) {
                int k = cli_common_opt(&c, opt, usage);
                if (k < 0)
                        return 0;
                if (k)
                        continue;
                if (opt == 'd')
                        vo.read_data = true;
                else
                        return cli_usage_error(usage, "unknown option");
        }
        struct lb_repo *repo;
        int r = cli_open_repo(&c, &repo);
        if (r)
                return r;
        cli_events_setup(&c);
        struct lb_verify_result res;
        r = lb_verify(repo, (const char *const *)argv + optind, (size_t)(argc - optind), &vo, &res);
        cli_progress_end();
        lb_repo_close(repo);
        if (r < 0 && r != -EBADMSG) {
                lb_verify_result_free(&res);
                return cli_fail(r, "verify failed");
        }
        char a[32], b[32];
        if (c.json) {
                json_object *o = json_object_new_object(), *dmg = json_object_new_array(), *pr = json_object_new_array();
                json_object_object_add(o, "ok", json_object_new_boolean(r == 0));
                json_object_object_add(o, "read_data", json_object_new_boolean(vo.read_data));
                json_object_object_add(o, "snapshots", json_object_new_int64((int64_t)res.snapshots));
                json_object_object_add(o, "packs_checked", json_object_new_int64((int64_t)res.packs_checked));
                json_object_object_add(o, "blobs", json_object_new_int64((int64_t)res.blobs));
                json_object_object_add(o, "blobs_checked", json_object_new_int64((int64_t)res.blobs_checked));
                json_object_object_add(o, "bytes_checked", json_object_new_int64((int64_t)res.bytes_checked));
                for (size_t i = 0; i < res.nproblems; i++)
                        json_object_array_add(pr, json_object_new_string(res.problems[i]));
                for (size_t i = 0; i < res.ndamage; i++) {
                        json_object *d = json_object_new_object();
                        json_object_object_add(d, "snapshot", json_object_new_string(res.damage[i].snapshot));
                        json_object_object_add(d, "image", json_object_new_string(res.damage[i].image));
                        json_object_object_add(d, "offset", json_object_new_int64((int64_t)res.damage[i].offset));
                        json_object_object_add(d, "length", json_object_new_int64((int64_t)res.damage[i].length));
                        json_object_object_add(d, "reason", json_object_new_string(res.damage[i].reason));
                        json_object_array_add(dmg, d);
                }
                json_object_object_add(o, "problems", pr);
                json_object_object_add(o, "damage", dmg);
                cli_print_json(o);
        } else {
                for (size_t i = 0; i < res.nproblems; i++)
                        fprintf(stderr, "lifeboat: %s\n", res.problems[i]);
                for (size_t i = 0; i < res.ndamage; i++) {
                        const struct lb_damage *d = &res.damage[i];
                        fprintf(stderr, "lifeboat: snapshot %.8s image %s bytes %llu-%llu (%s): %s\n", d->snapshot,
                                d->image, (unsigned long long)d->offset, (unsigned long long)(d->offset + d->length - 1),
                                cli_bytes(d->length, a), d->reason);
                }
                if (!c.quiet)
                        printf("%s: %llu snapshot(s), %llu blobs, %llu pack(s) checked (%s)%s\n",
                               r == 0 ? "No damage found" : "DAMAGE FOUND", (unsigned long long)res.snapshots,
                               (unsigned long long)res.blobs, (unsigned long long)res.packs_checked,
                               cli_bytes(res.bytes_checked, b), vo.read_data ? ", all data read and re-hashed" : "");
        }
        lb_verify_result_free(&res);
        return r == 0 ? 0 : 1;
}
