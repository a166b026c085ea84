/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lifeboat forget: remove snapshot files, the named ones or those a
 * retention policy does not keep. Only the snapshot files go (the commit
 * points); the data they alone used stays until `lifeboat prune`.
 *
 * The policy follows restic's rules: snapshots newest first; each
 * --keep-<period> N rule keeps the newest snapshot of each period (hour, day,
 * ISO week, month, year in local time) until it has kept N; --keep-last N the
 * N newest; --keep-within D all no more than D older than the newest; --keep-tag
 * those with the tag. A snapshot any rule keeps stays. The policy applies to
 * each group of snapshots of the same host and sources on its own. */
#include <stdio.h>
#include <time.h>

#include "events.h"
#include "lifeboat.h"
#include "repo.h"
#include "snapshot.h"
#include "util.h"

bool lb_keep_policy_any(const struct lb_keep_policy *p)
{
        return p && (p->last || p->hourly || p->daily || p->weekly || p->monthly || p->yearly || p->within ||
                     p->ntags);
}

int lb_keep_parse_duration(const char *s, struct lb_keep_policy *p)
{
        unsigned y = 0, m = 0, d = 0, h = 0;
        if (!*s)
                return -EINVAL;
        while (*s) {
                char *end;
                errno = 0;
                unsigned long v = strtoul(s, &end, 10);
                if (end == s || errno || v > 100000 || *s == '-' || *s == '+')
                        return -EINVAL;
                switch (*end) {
                case 'y': y += (unsigned)v; break;
                case 'm': m += (unsigned)v; break;
                case 'w': d += 7 * (unsigned)v; break;
                case 'd': d += (unsigned)v; break;
                case 'h': h += (unsigned)v; break;
                default: return -EINVAL;
                }
                s = end + 1;
        }
        p->within = true;
        p->within_years = y;
        p->within_months = m;
        p->within_days = d;
        p->within_hours = h;
        return 0;
}

enum { R_LAST, R_HOURLY, R_DAILY, R_WEEKLY, R_MONTHLY, R_YEARLY, NRULES };

/* The period of t for rule, as a number: equal numbers, same period. */
static int64_t period_of(int rule, int64_t t, size_t nr)
{
        time_t tt = (time_t)t;
        struct tm tm;
        char buf[16];
        if (rule == R_LAST)
                return (int64_t)nr;
        if (!localtime_r(&tt, &tm))
                return -2 - (int64_t)nr; /* out of range: a period of its own */
        int64_t y = tm.tm_year + 1900LL;
        switch (rule) {
        case R_HOURLY: return ((y * 100 + tm.tm_mon) * 100 + tm.tm_mday) * 100 + tm.tm_hour;
        case R_DAILY: return (y * 100 + tm.tm_mon) * 100 + tm.tm_mday;
        case R_WEEKLY: /* ISO 8601 week-numbering year and week */
                strftime(buf, sizeof(buf), "%G%V", &tm);
                return strtoll(buf, NULL, 10);
        case R_MONTHLY: return y * 100 + tm.tm_mon;
        default: return y;
        }
}

static int cmp_newest_first(const void *a, const void *b, void *items)
{
        const struct lb_keep_item *v = items;
        int64_t x = v[*(const size_t *)a].time, y = v[*(const size_t *)b].time;
        if (x != y)
                return x > y ? -1 : 1;
        return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static bool has_tag(const struct lb_keep_policy *p, const struct lb_keep_item *it)
{
        for (size_t i = 0; i < p->ntags; i++)
                for (size_t j = 0; j < it->ntags; j++)
                        if (strcmp(p->tags[i], it->tags[j]) == 0)
                                return true;
        return false;
}

int lb_keep_apply(const struct lb_keep_policy *p, const struct lb_keep_item *v, size_t n, unsigned *ret_reasons)
{
        _cleanup_free_ size_t *order = malloc((n ? n : 1) * sizeof(size_t));
        if (!order)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                order[i] = i;
                ret_reasons[i] = 0;
        }
        qsort_r(order, n, sizeof(*order), cmp_newest_first, (void *)v);

        const unsigned counts[NRULES] = { p->last, p->hourly, p->daily, p->weekly, p->monthly, p->yearly };
        unsigned left[NRULES];
        int64_t last[NRULES];
        for (int b = 0; b < NRULES; b++) {
                left[b] = counts[b];
                last[b] = INT64_MIN;
        }
        int64_t cutoff = INT64_MIN;
        if (p->within && n) {
                time_t newest = (time_t)v[order[0]].time;
                struct tm tm;
                if (localtime_r(&newest, &tm)) {
                        tm.tm_year -= (int)p->within_years;
                        tm.tm_mon -= (int)p->within_months;
                        tm.tm_mday -= (int)p->within_days;
                        tm.tm_hour -= (int)p->within_hours;
                        tm.tm_isdst = -1;
                        cutoff = (int64_t)mktime(&tm);
                }
        }
        for (size_t k = 0; k < n; k++) {
                size_t i = order[k];
                unsigned why = 0;
                for (int b = 0; b < NRULES; b++) {
                        if (!left[b])
                                continue;
                        int64_t per = period_of(b, v[i].time, k);
                        if (per != last[b]) {
                                last[b] = per;
                                left[b]--;
                                why |= 1u << b; /* R_* order = LB_KEEP_* order */
                        }
                }
                if (p->within && v[i].time >= cutoff)
                        why |= LB_KEEP_WITHIN;
                if (has_tag(p, &v[i]))
                        why |= LB_KEEP_TAG;
                ret_reasons[i] = why;
        }
        return 0;
}

static const char *const reason_names[] = { "last", "hourly", "daily", "weekly", "monthly",
                                            "yearly", "within", "tag", "not named" };

const char *lb_keep_reason_name(unsigned bit)
{
        for (size_t b = 0; b < ELEMENTSOF(reason_names); b++)
                if (bit == 1u << b)
                        return reason_names[b];
        return NULL;
}

const char *lb_keep_reasons_str(unsigned reasons, char *buf, size_t len)
{
        size_t o = 0;
        buf[0] = 0;
        for (size_t b = 0; b < ELEMENTSOF(reason_names); b++)
                if (reasons & (1u << b) && o < len)
                        o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", reason_names[b]);
        return buf;
}

/* ---- removing snapshot files ---- */

static void put_escaped(FILE *f, const char *s)
{
        for (; s && *s; s++) {
                if (*s == ':' || *s == ',' || *s == '\\')
                        fputc('\\', f);
                fputc(*s, f);
        }
}

/* The group of a snapshot, whole (never cut short: snapshots of different
 * sources must never share a group), or NULL when out of memory. */
static char *group_of(const struct lb_snapshot *s)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        put_escaped(f, s->hostname);
        for (size_t i = 0; i < s->nimages; i++) {
                fputc(i ? ',' : ':', f);
                put_escaped(f, s->images[i].source);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static int remove_snapshot(struct lb_repo *r, const char *id)
{
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/snapshots/%s", r->path, id) < 0)
                return -ENOMEM;
        if (unlink(path) < 0 && errno != ENOENT)
                return lb_error_set(-errno, "cannot remove snapshot file %s: %m", path);
        return 0;
}

/* A name to its snapshot ID: 'latest', or an ID or unique prefix of a
 * snapshot file, which need not load (a damaged snapshot can be forgotten). */
static int resolve(struct lb_repo *r, const char *spec, char id[2 * LB_ID_SIZE + 1])
{
        struct lb_snapshot *s;
        if (strcmp(spec, "latest") == 0) {
                int k = lb_snapshot_find(r, spec, &s);
                if (k < 0)
                        return k;
                snprintf(id, 2 * LB_ID_SIZE + 1, "%s", s->id);
                lb_snapshot_free(s);
                return 0;
        }
        size_t len = strlen(spec), hits = 0, n;
        char **names;
        if (len < 4 || len > 2 * LB_ID_SIZE || strspn(spec, "0123456789abcdef") != len)
                return lb_error_set(-EINVAL, "'%s' is not a snapshot: give 'latest' or an ID (at least 4 hex digits, "
                                    "see 'lifeboat list')", spec);
        int k = lb_repo_list_meta(r, "snapshots", &names, &n);
        if (k < 0)
                return k;
        for (size_t i = 0; i < n; i++)
                if (strncmp(names[i], spec, len) == 0 && hits++ == 0)
                        snprintf(id, 2 * LB_ID_SIZE + 1, "%s", names[i]);
        lb_strv_free(names, n);
        if (hits == 0)
                return lb_error_set(-ENOENT, "no snapshot %s in %s (see 'lifeboat list')", spec, r->path);
        if (hits > 1)
                return lb_error_set(-EINVAL, "snapshot ID %s is ambiguous: give more digits", spec);
        return 0;
}

static int cmp_item(const void *a, const void *b)
{
        const struct lb_forget_item *x = a, *y = b;
        int c = strcmp(x->group, y->group);
        if (c)
                return c;
        if (x->time != y->time)
                return x->time > y->time ? -1 : 1;
        if (x->time_ns != y->time_ns)
                return x->time_ns > y->time_ns ? -1 : 1;
        return strcmp(x->id, y->id);
}

/* Apply the policy to each group: items [from, to) share one. */
static int apply_groups(const struct lb_keep_policy *p, struct lb_snapshot **snaps, size_t nsnaps,
                        struct lb_forget_item *v, size_t n)
{
        _cleanup_free_ struct lb_keep_item *items = calloc(n ? n : 1, sizeof(*items));
        _cleanup_free_ unsigned *why = calloc(n ? n : 1, sizeof(*why));
        if (!items || !why)
                return -ENOMEM;
        for (size_t from = 0, to; from < n; from = to) {
                for (to = from; to < n && strcmp(v[to].group, v[from].group) == 0; to++) {
                        const struct lb_snapshot *s = NULL;
                        for (size_t j = 0; j < nsnaps && !s; j++)
                                if (strcmp(snaps[j]->id, v[to].id) == 0)
                                        s = snaps[j];
                        items[to - from] = (struct lb_keep_item){ .time = v[to].time,
                                                                  .tags = (const char *const *)s->tags,
                                                                  .ntags = s->ntags };
                }
                int k = lb_keep_apply(p, items, to - from, why);
                if (k < 0)
                        return k;
                for (size_t i = from; i < to; i++)
                        v[i].reasons = why[i - from];
        }
        return 0;
}

int lb_forget(struct lb_repo *r, const struct lb_forget_opts *o, struct lb_forget_result *ret)
{
        struct lb_snapshot **snaps = NULL;
        size_t n = 0, nsnaps = 0;
        int k;

        lb_error_clear();
        memset(ret, 0, sizeof(*ret));
        bool policy = lb_keep_policy_any(o->policy);
        if (!o->nspecs && !policy)
                return lb_error_set(-EINVAL, "forget what? Name snapshots or give a --keep-* rule "
                                    "(nothing is removed by default)");
        if (o->nspecs && policy)
                return lb_error_set(-EINVAL, "give either snapshots or --keep-* rules, not both");
        if (!o->dry_run && (k = lb_repo_lock(r, LB_LOCK_EXCLUSIVE)) < 0)
                return k;
        k = lb_snapshot_list(r, &snaps, &nsnaps);
        if (k < 0)
                return k;
        n = nsnaps;
        ret->v = calloc(n + o->nspecs + 1, sizeof(*ret->v));
        if (!ret->v) {
                k = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                struct lb_forget_item *it = &ret->v[i];
                snprintf(it->id, sizeof(it->id), "%s", snaps[i]->id);
                it->time = snaps[i]->time;
                it->time_ns = snaps[i]->time_ns;
                it->group = group_of(snaps[i]);
                if (!it->group) {
                        ret->n = i;
                        k = -ENOMEM;
                        goto out;
                }
                it->reasons = LB_KEEP_NAMED;
        }
        ret->n = n;
        /* Resolve every name first: a wrong one removes nothing. */
        for (size_t i = 0; i < o->nspecs; i++) {
                char id[2 * LB_ID_SIZE + 1];
                k = resolve(r, o->specs[i], id);
                if (k < 0)
                        goto out;
                size_t j = 0;
                while (j < ret->n && strcmp(ret->v[j].id, id) != 0)
                        j++;
                if (j == ret->n) { /* a snapshot file that does not load: it can go too */
                        snprintf(ret->v[j].id, sizeof(ret->v[j].id), "%s", id);
                        ret->v[j].group = strdup("(unreadable)");
                        if (!ret->v[j].group) {
                                k = -ENOMEM;
                                goto out;
                        }
                        ret->n++;
                }
                ret->v[j].reasons = 0;
        }
        n = ret->n;
        qsort(ret->v, n, sizeof(*ret->v), cmp_item);
        if (policy && (k = apply_groups(o->policy, snaps, nsnaps, ret->v, n)) < 0)
                goto out;
        for (size_t i = 0; i < n; i++) {
                if (ret->v[i].reasons) {
                        ret->kept++;
                        continue;
                }
                if (!o->dry_run && (k = remove_snapshot(r, ret->v[i].id)) < 0)
                        goto out;
                ret->removed++;
        }
        if (ret->removed && !o->dry_run) {
                _cleanup_free_ char *dir = path_join(r->path, "snapshots/x");
                if (!dir) {
                        k = -ENOMEM;
                        goto out;
                }
                k = fsync_dir_of(dir);
                if (k < 0)
                        lb_error_set(k, "cannot flush %s/snapshots: %s", r->path, strerror(-k));
        }
out:
        lb_snapshot_list_free(snaps, nsnaps);
        return k < 0 ? k : 0;
}

void lb_forget_result_free(struct lb_forget_result *r)
{
        for (size_t i = 0; r->v && i < r->n; i++)
                free(r->v[i].group);
        free(r->v);
        r->v = NULL;
        r->n = 0;
}
