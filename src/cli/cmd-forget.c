/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
        "Usage: lifeboat forget --repo PATH [SNAPSHOT...] [--keep-last N] [--keep-hourly N]\n"
        "         [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-yearly N]\n"
        "         [--keep-within DURATION] [--keep-tag TAG] [--dry-run] [--prune]\n"
        "Remove snapshots: the ones named ('latest' or IDs), or those that no --keep rule\n"
        "keeps. Each --keep-<period> N keeps the newest snapshot of each of the last N\n"
        "periods (hours, days, ISO weeks, months, years in local time) that have one; a\n"
        "snapshot any rule keeps stays. The rules apply to each group of snapshots of the\n"
        "same host and sources on its own. Without a snapshot or a rule, nothing is removed.\n"
        "Only the snapshot files go: 'lifeboat prune' (or --prune) frees their data.\n"
        "  --keep-last N           the N newest snapshots\n"
        "  --keep-hourly N         ... --keep-yearly N: the newest of each of N periods\n"
        "  --keep-within DURATION  all no more than DURATION older than the newest\n"
        "                          (e.g. 30d, 2w, 6m, 1y6m, 12h)\n"
        "  --keep-tag TAG          snapshots with this tag (may be repeated)\n"
        "  --dry-run               show what would be removed, remove nothing\n"
        "  --prune                 run 'lifeboat prune' afterwards\n";

static int parse_count(const char *opt, const char *arg, unsigned *ret)
{
        char *end;
        long l = strtol(arg, &end, 10);
        if (*end || end == arg || l < 1 || l > 1000000)
                return cli_usage_error(usage, "bad --%s '%s' (a number, at least 1)", opt, arg);
        *ret = (unsigned)l;
        return 0;
}

static json_object *result_json(const struct lb_forget_result *res, bool dry_run)
{
        json_object *o = json_object_new_object(), *keep = json_object_new_array(), *rm = json_object_new_array();
        for (size_t i = 0; i < res->n; i++) {
                const struct lb_forget_item *it = &res->v[i];
                json_object *j = json_object_new_object();
                json_object_object_add(j, "id", json_object_new_string(it->id));
                json_object_object_add(j, "time", json_object_new_int64(it->time));
                json_object_object_add(j, "group", json_object_new_string(it->group));
                if (it->reasons) {
                        json_object *reasons = json_object_new_array();
                        for (unsigned b = 1; b; b <<= 1)
                                if (it->reasons & b && lb_keep_reason_name(b))
                                        json_object_array_add(reasons, json_object_new_string(lb_keep_reason_name(b)));
                        json_object_object_add(j, "reasons", reasons);
                        json_object_array_add(keep, j);
                } else {
                        json_object_array_add(rm, j);
                }
        }
        json_object_object_add(o, "dry_run", json_object_new_boolean(dry_run));
        json_object_object_add(o, "keep", keep);
        json_object_object_add(o, "remove", rm);
        return o;
}

static void print_result(const struct lb_forget_result *res, bool dry_run, bool named, bool prune)
{
        char t[32], why[128];
        const char *group = NULL;
        for (size_t i = 0; i < res->n; i++) {
                const struct lb_forget_item *it = &res->v[i];
                if (named && it->reasons)
                        continue; /* not named: nothing to say */
                if (!named && (!group || strcmp(group, it->group) != 0)) {
                        group = it->group;
                        printf("Snapshots of %s:\n", group);
                }
                if (it->reasons)
                        printf("  keep    %.8s  %s  (%s)\n", it->id, cli_time(it->time, t),
                               lb_keep_reasons_str(it->reasons, why, sizeof(why)));
                else
                        printf("  %s  %.8s  %s\n", dry_run ? "would remove" : "remove", it->id,
                               it->time ? cli_time(it->time, t) : "(unreadable)");
        }
        printf("%s %zu snapshot(s), kept %zu.%s\n", dry_run ? "Would remove" : "Removed", res->removed, res->kept,
               res->removed && !dry_run && !prune ? " Run 'lifeboat prune' to free the space only they used." : "");
}

int cmd_forget(int argc, char **argv)
{
        enum { O_LAST = 1000, O_HOURLY, O_DAILY, O_WEEKLY, O_MONTHLY, O_YEARLY, O_WITHIN, O_TAG, O_DRY, O_PRUNE };
        static const struct option opts[] = { CLI_COMMON_OPTIONS,
                                              { "keep-last", required_argument, NULL, O_LAST },
                                              { "keep-hourly", required_argument, NULL, O_HOURLY },
                                              { "keep-daily", required_argument, NULL, O_DAILY },
                                              { "keep-weekly", required_argument, NULL, O_WEEKLY },
                                              { "keep-monthly", required_argument, NULL, O_MONTHLY },
                                              { "keep-yearly", required_argument, NULL, O_YEARLY },
                                              { "keep-within", required_argument, NULL, O_WITHIN },
                                              { "keep-tag", required_argument, NULL, O_TAG },
                                              { "dry-run", no_argument, NULL, O_DRY },
                                              { "prune", no_argument, NULL, O_PRUNE },
                                              {} };
        struct cli_common c;
        struct lb_keep_policy pol = { 0 };
        struct lb_forget_opts fo = { .policy = &pol };
        bool prune = false;
        const char **tags = NULL;
        int opt, r = 0;
        cli_common_init(&c);
        tags = calloc((size_t)argc + 1, sizeof(*tags));
        if (!tags)
                return cli_fail(-ENOMEM, "out of memory");
        while (r == 0 && (opt = getopt_long(argc, argv, "r:P:Jqh", opts, NULL)) != -1) {
                int k = cli_common_opt(&c, opt, usage);
                if (k < 0) {
                        free(tags);
                        return 0;
                }
                if (k)
                        continue;
                switch (opt) {
                case O_LAST: r = parse_count("keep-last", optarg, &pol.last); break;
                case O_HOURLY: r = parse_count("keep-hourly", optarg, &pol.hourly); break;
                case O_DAILY: r = parse_count("keep-daily", optarg, &pol.daily); break;
                case O_WEEKLY: r = parse_count("keep-weekly", optarg, &pol.weekly); break;
                case O_MONTHLY: r = parse_count("keep-monthly", optarg, &pol.monthly); break;
                case O_YEARLY: r = parse_count("keep-yearly", optarg, &pol.yearly); break;
                case O_WITHIN:
                        if (lb_keep_parse_duration(optarg, &pol) < 0)
                                r = cli_usage_error(usage, "bad --keep-within '%s' (e.g. 30d, 2w, 6m, 1y6m, 12h)",
                                                    optarg);
                        break;
                case O_TAG:
                        if (!*optarg)
                                r = cli_usage_error(usage, "empty --keep-tag");
                        tags[pol.ntags++] = optarg;
                        break;
                case O_DRY: fo.dry_run = true; break;
                case O_PRUNE: prune = true; break;
                default: r = cli_usage_error(usage, "unknown option");
                }
        }
        pol.tags = tags;
        fo.specs = (const char *const *)argv + optind;
        fo.nspecs = (size_t)(argc - optind);
        if (r == 0 && !fo.nspecs && !lb_keep_policy_any(&pol))
                r = cli_usage_error(usage, "forget what? Name snapshots or give a --keep-* rule "
                                    "(nothing is removed by default)");
        if (r == 0 && fo.nspecs && lb_keep_policy_any(&pol))
                r = cli_usage_error(usage, "give either snapshots or --keep-* rules, not both");
        if (r) {
                free(tags);
                return r;
        }
        struct lb_repo *repo;
        r = cli_open_repo(&c, &repo);
        if (r) {
                free(tags);
                return r;
        }
        cli_events_setup(&c);
        struct lb_forget_result res;
        r = lb_forget(repo, &fo, &res);
        if (r < 0) {
                cli_fail(r, "forget failed");
                if (res.removed && !c.quiet)
                        fprintf(stderr, "lifeboat: %zu snapshot(s) were removed before the failure\n", res.removed);
                r = 1;
        } else if (c.json && !prune) {
                cli_print_json(result_json(&res, fo.dry_run));
        } else if (!c.quiet && !c.json) {
                print_result(&res, fo.dry_run, fo.nspecs > 0, prune);
        }
        if (r == 0 && prune)
                r = cli_prune_run(&c, repo, fo.dry_run, -1, c.json ? result_json(&res, fo.dry_run) : NULL);
        lb_forget_result_free(&res);
        lb_repo_close(repo);
        free(tags);
        return r;
}
