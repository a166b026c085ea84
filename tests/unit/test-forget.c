/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The retention policy of lifeboat forget (lb_keep_apply), a pure function
 * of snapshot times and tags, at fixed times in Europe/Berlin: across both
 * DST changes, month, year and ISO-week boundaries; --keep-within in
 * calendar time; durations. */
#include <time.h>

#include "lifeboat.h"
#include "testutil.h"
#include "util.h"

#define MAXN 64

/* Local wall-clock time in Europe/Berlin; isdst -1: let mktime decide,
 * 0/1 to pick one of the two 02:xx of the autumn change. */
static int64_t at(int y, int mo, int d, int h, int mi, int isdst)
{
        struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi,
                         .tm_isdst = isdst };
        return (int64_t)mktime(&tm);
}

/* Apply p to times[0..n) (no tags) and return the kept ones as a string of
 * 'k' and '-' in input order. */
static const char *run(const struct lb_keep_policy *p, const int64_t *times, size_t n, unsigned *why)
{
        static char out[MAXN + 1];
        struct lb_keep_item items[MAXN] = { 0 };
        unsigned local[MAXN];
        if (!why)
                why = local;
        for (size_t i = 0; i < n; i++)
                items[i].time = times[i];
        if (lb_keep_apply(p, items, n, why) < 0)
                return "error";
        for (size_t i = 0; i < n; i++)
                out[i] = why[i] ? 'k' : '-';
        out[n] = 0;
        return out;
}

static void test_daily_spring_dst(void)
{
        /* Every 6 hours from 27 to 30 March 2026; clocks go 02:00 -> 03:00 on
         * the 29th, so that day has 23 hours. */
        int64_t t[16];
        size_t n = 0;
        for (int d = 27; d <= 30; d++)
                for (int h = 0; h < 24; h += 6)
                        t[n++] = at(2026, 3, d, h == 0 ? 1 : h, 0, -1);
        struct lb_keep_policy p = { .daily = 3 };
        /* 27: 01 06 12 18 | 28: ... | 29: ... | 30: ... -> the 18:00 of the 28th, 29th, 30th */
        is_str(run(&p, t, n, NULL), "-------k---k---k", "--keep-daily 3 across the spring DST change");
        p = (struct lb_keep_policy){ .hourly = 3 };
        int64_t h[] = { at(2026, 3, 29, 1, 10, -1), at(2026, 3, 29, 1, 50, -1), at(2026, 3, 29, 3, 5, -1),
                        at(2026, 3, 29, 3, 55, -1) };
        ok(h[2] - h[1] == 15 * 60, "01:50 CET and 03:05 CEST are 15 minutes apart");
        is_str(run(&p, h, 4, NULL), "-k-k", "--keep-hourly: hours 1 and 3 (there is no 2 o'clock), newest of each");
}

static void test_hourly_autumn_dst(void)
{
        /* 25 October 2026: 03:00 CEST -> 02:00 CET, the hour 2 happens twice. */
        int64_t t[] = { at(2026, 10, 25, 1, 30, 1), at(2026, 10, 25, 2, 15, 1), at(2026, 10, 25, 2, 15, 0),
                        at(2026, 10, 25, 2, 45, 0), at(2026, 10, 25, 3, 10, 0) };
        ok(t[2] - t[1] == 3600, "02:15 CEST and 02:15 CET are an hour apart");
        struct lb_keep_policy p = { .hourly = 10 };
        is_str(run(&p, t, 5, NULL), "k--kk", "--keep-hourly: both 02:xx hours are one local hour, its newest kept");
        p = (struct lb_keep_policy){ .hourly = 2 };
        is_str(run(&p, t, 5, NULL), "---kk", "--keep-hourly 2: the two newest hours");
        p = (struct lb_keep_policy){ .daily = 1 };
        is_str(run(&p, t, 5, NULL), "----k", "--keep-daily 1 on a 25-hour day: its newest");
}

static void test_month_year_boundaries(void)
{
        int64_t t[] = { at(2025, 11, 30, 12, 0, -1), at(2025, 12, 31, 23, 59, -1), at(2026, 1, 1, 0, 1, -1),
                        at(2026, 1, 15, 8, 0, -1) };
        struct lb_keep_policy p = { .monthly = 2 };
        is_str(run(&p, t, 4, NULL), "-k-k", "--keep-monthly 2 across new year: Jan 15 and Dec 31 23:59");
        p = (struct lb_keep_policy){ .yearly = 5 };
        is_str(run(&p, t, 4, NULL), "-k-k", "--keep-yearly 5: the newest of 2025 and of 2026");
        p = (struct lb_keep_policy){ .daily = 2 };
        is_str(run(&p, t, 4, NULL), "--kk", "--keep-daily 2: Jan 15 and Jan 1, whatever the gap");
        /* Leap day and month lengths. */
        int64_t u[] = { at(2028, 2, 28, 10, 0, -1), at(2028, 2, 29, 10, 0, -1), at(2028, 3, 1, 10, 0, -1),
                        at(2028, 3, 31, 10, 0, -1) };
        p = (struct lb_keep_policy){ .monthly = 3 };
        is_str(run(&p, u, 4, NULL), "-k-k", "--keep-monthly: Feb 29 is February's newest");
}

static void test_iso_weeks(void)
{
        /* 2026 has 53 ISO weeks: Mon 28 Dec 2026 to Sun 3 Jan 2027 is 2026-W53. */
        int64_t t[] = { at(2026, 12, 21, 9, 0, -1), at(2026, 12, 28, 9, 0, -1), at(2026, 12, 31, 9, 0, -1),
                        at(2027, 1, 3, 23, 0, -1), at(2027, 1, 4, 0, 30, -1) };
        struct lb_keep_policy p = { .weekly = 3 };
        is_str(run(&p, t, 5, NULL), "k--kk", "--keep-weekly 3: 2027-W01 (Mon), 2026-W53 (Sun 3 Jan), 2026-W52");
        p = (struct lb_keep_policy){ .yearly = 2 };
        is_str(run(&p, t, 5, NULL), "--k-k", "--keep-yearly is calendar years, not ISO years");
}

static void test_within(void)
{
        /* Newest: 10 April 12:00 CEST. 30d back is 11 March 12:00 CET by the
         * calendar (30 * 24 h would be 11:00 CET). */
        int64_t t[] = { at(2026, 3, 11, 11, 59, -1), at(2026, 3, 11, 12, 0, -1), at(2026, 3, 20, 0, 0, -1),
                        at(2026, 4, 10, 12, 0, -1) };
        struct lb_keep_policy p = { 0 };
        is_int(lb_keep_parse_duration("30d", &p), 0, "parse 30d");
        unsigned why[4];
        is_str(run(&p, t, 4, why), "-kkk", "--keep-within 30d: from 11 March 12:00 on, across the DST change");
        ok(why[3] == LB_KEEP_WITHIN, "the reason is 'within'");
        /* 1m back from 31 March is "31 February" = 3 March. */
        int64_t u[] = { at(2026, 3, 2, 23, 0, -1), at(2026, 3, 3, 12, 0, -1), at(2026, 3, 31, 12, 0, -1) };
        p = (struct lb_keep_policy){ 0 };
        is_int(lb_keep_parse_duration("1m", &p), 0, "parse 1m");
        is_str(run(&p, u, 3, NULL), "-kk", "--keep-within 1m from 31 March reaches 3 March");
        p = (struct lb_keep_policy){ 0 };
        is_int(lb_keep_parse_duration("1y2m3w4d5h", &p), 0, "parse 1y2m3w4d5h");
        ok(p.within && p.within_years == 1 && p.within_months == 2 && p.within_days == 25 && p.within_hours == 5,
           "1y2m3w4d5h = 1 year, 2 months, 25 days, 5 hours");
        static const char *const bad[] = { "", "5", "d", "-3d", "3x", "3d4", "+1d", "1.5d" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct lb_keep_policy q = { 0 };
                is_int(lb_keep_parse_duration(bad[i], &q), -EINVAL, "duration '%s' is refused", bad[i]);
        }
}

static void test_last_tags_and_union(void)
{
        int64_t t[8];
        for (int i = 0; i < 8; i++)
                t[i] = at(2026, 6, 1 + i, 12, 0, -1);
        /* Input in any order: reversed here. */
        int64_t r[8];
        for (int i = 0; i < 8; i++)
                r[i] = t[7 - i];
        struct lb_keep_policy p = { .last = 3 };
        is_str(run(&p, r, 8, NULL), "kkk-----", "--keep-last 3 on input newest first");
        is_str(run(&p, t, 8, NULL), "-----kkk", "--keep-last 3 on input oldest first");

        const char *const ta[] = { "monthly-ok" }, *const tb[] = { "x", "keep" };
        const char *const want[] = { "keep" };
        struct lb_keep_item items[8] = { 0 };
        unsigned why[8];
        for (int i = 0; i < 8; i++)
                items[i].time = t[i];
        items[0].tags = ta;
        items[0].ntags = 1;
        items[1].tags = tb;
        items[1].ntags = 2;
        items[7].tags = tb;
        items[7].ntags = 2;
        p = (struct lb_keep_policy){ .last = 2, .daily = 3, .tags = want, .ntags = 1 };
        is_int(lb_keep_apply(&p, items, 8, why), 0, "apply last 2 + daily 3 + tag");
        ok(why[0] == 0, "untagged old snapshot: removed");
        ok(why[1] == LB_KEEP_TAG, "tagged old snapshot: kept for its tag only");
        ok(why[5] == LB_KEEP_DAILY, "third newest: daily only");
        ok(why[6] == (LB_KEEP_LAST | LB_KEEP_DAILY), "second newest: last and daily");
        ok(why[7] == (LB_KEEP_LAST | LB_KEEP_DAILY | LB_KEEP_TAG), "newest: last, daily and tag");
        char buf[128];
        is_str(lb_keep_reasons_str(why[7], buf, sizeof(buf)), "last, daily, tag", "reasons as text");
        is_str(lb_keep_reason_name(LB_KEEP_WEEKLY), "weekly", "name of one reason");

        /* Two snapshots in the same second: the earlier in the input is the newer. */
        int64_t same[] = { t[0], t[0] };
        p = (struct lb_keep_policy){ .last = 1 };
        is_str(run(&p, same, 2, NULL), "k-", "equal times: the first counts as the newer");

        p = (struct lb_keep_policy){ 0 };
        ok(!lb_keep_policy_any(&p), "an empty policy has no rule");
        is_str(run(&p, t, 8, NULL), "--------", "and keeps nothing (lb_forget refuses it)");
        is_str(run(&p, t, 0, NULL), "", "no snapshots");
}

int main(void)
{
        setenv("TZ", "Europe/Berlin", 1);
        tzset();
        if (at(2026, 7, 1, 12, 0, -1) - at(2026, 1, 1, 12, 0, -1) != 181 * 86400 - 3600)
                bail_out("no Europe/Berlin time zone data (tzdata)");
        test_daily_spring_dst();
        test_hourly_autumn_dst();
        test_month_year_boundaries();
        test_iso_weeks();
        test_within();
        test_last_tags_and_union();
        return done_testing();
}
