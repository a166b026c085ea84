/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ID -> value hash map: many inserts, lookups, duplicates, growth and
 * IDs that collide in the hashed bytes. */
#include <errno.h>
#include <string.h>

#include "idset.h"
#include "testutil.h"
#include "util.h"

#define N 100000

static uint8_t (*ids)[LB_ID_SIZE];
static uint8_t (*absent)[LB_ID_SIZE];

static bool is_power_of_two(size_t x) { return x && !(x & (x - 1)); }

static void test_many(void)
{
        struct lb_idset s;
        size_t grows = 0, cap0;
        int bad_insert = 0;

        is_int(lb_idset_init(&s, 10), 0, "lb_idset_init(expect 10)");
        cap0 = s.cap;
        ok(is_power_of_two(s.cap) && s.cap >= 20 && s.n == 0, "initial capacity %zu is a power of two >= 2*expect",
           s.cap);

        for (size_t i = 0; i < N; i++) {
                size_t cap = s.cap;
                if (lb_idset_add(&s, ids[i], (uint64_t)i * 3 + 7, NULL) != 1)
                        bad_insert++;
                if (s.cap != cap)
                        grows++;
        }
        is_int(bad_insert, 0, "%d distinct random IDs: every insert returns 1", N);
        is_int(s.n, N, "n counts the entries");
        ok(grows > 0 && s.cap > cap0, "the table grew %zu times (capacity %zu -> %zu)", grows, cap0, s.cap);
        ok(is_power_of_two(s.cap) && s.cap >= 2 * s.n, "capacity %zu is a power of two with load <= 1/2", s.cap);

        size_t used = 0;
        for (size_t i = 0; i < s.cap; i++)
                used += s.slots[i].used;
        is_int(used, N, "exactly n slots are in use");

        int missing = 0, wrong_value = 0;
        for (size_t i = 0; i < N; i++) {
                uint64_t v = 0;
                if (lb_idset_get(&s, ids[i], &v) != 1)
                        missing++;
                else if (v != (uint64_t)i * 3 + 7)
                        wrong_value++;
        }
        is_int(missing, 0, "every inserted ID is found after growth");
        is_int(wrong_value, 0, "every ID has its value");
        ok(lb_idset_get(&s, ids[N / 2], NULL) == 1, "lookup with ret NULL works");

        int found = 0;
        for (size_t i = 0; i < N; i++)
                if (lb_idset_get(&s, absent[i], NULL) != 0)
                        found++;
        is_int(found, 0, "%d absent IDs are not found", N);

        /* Duplicates: 0, the old value, nothing changes. */
        int dup_bad = 0;
        for (size_t i = 0; i < N; i += 7) {
                uint64_t old = 0, v = 0;
                if (lb_idset_add(&s, ids[i], 999999999, &old) != 0 || old != (uint64_t)i * 3 + 7 ||
                    lb_idset_get(&s, ids[i], &v) != 1 || v != (uint64_t)i * 3 + 7)
                        dup_bad++;
        }
        is_int(dup_bad, 0, "re-inserting present IDs returns 0 and the old value, and keeps it");
        is_int(s.n, N, "duplicates do not change n");
        is_int(lb_idset_add(&s, ids[0], 1, NULL), 0, "duplicate insert with ret_old NULL returns 0");

        lb_idset_done(&s);
        ok(s.slots == NULL && s.n == 0 && s.cap == 0, "lb_idset_done() resets the set");
}

static void test_collisions(void)
{
        /* The slot hash only reads the first 16 bytes: IDs that share them all
         * land on one probe chain. They must still be told apart. */
        struct lb_idset s;
        uint8_t id[LB_ID_SIZE];
        int bad = 0;
        lb_idset_init(&s, 0);
        memset(id, 0x5a, sizeof(id));
        for (uint32_t i = 0; i < 2000; i++) {
                le32_put(id + 28, i);
                if (lb_idset_add(&s, id, i, NULL) != 1)
                        bad++;
        }
        is_int(bad, 0, "2000 IDs with equal first 16 bytes: all inserted");
        bad = 0;
        for (uint32_t i = 0; i < 2000; i++) {
                uint64_t v;
                le32_put(id + 28, i);
                if (lb_idset_get(&s, id, &v) != 1 || v != i)
                        bad++;
        }
        is_int(bad, 0, "...all found with their values");
        le32_put(id + 28, 2000);
        is_int(lb_idset_get(&s, id, NULL), 0, "...a further one on the same chain is not found");

        /* The reserved IDs are ordinary keys here. */
        is_int(lb_idset_add(&s, (const uint8_t[LB_ID_SIZE]){ 0 }, 42, NULL), 1, "the all-zero ID can be inserted");
        uint64_t v = 0;
        ok(lb_idset_get(&s, (const uint8_t[LB_ID_SIZE]){ 0 }, &v) == 1 && v == 42, "...and found");
        lb_idset_done(&s);
}

static void test_seeded(void)
{
        /* Two sets have independent seeds but the same contents behave the same. */
        struct lb_idset a, b;
        lb_idset_init(&a, 1000);
        lb_idset_init(&b, 1000);
        int bad = 0;
        for (size_t i = 0; i < 1000; i++) {
                lb_idset_add(&a, ids[i], i, NULL);
                lb_idset_add(&b, ids[i], i, NULL);
        }
        for (size_t i = 0; i < 1000; i++) {
                uint64_t x = 1, y = 2;
                if (lb_idset_get(&a, ids[i], &x) != 1 || lb_idset_get(&b, ids[i], &y) != 1 || x != y)
                        bad++;
        }
        is_int(bad, 0, "two sets with different seeds agree");
        ok(a.cap >= 2000 && a.cap == b.cap, "expect 1000 preallocates (capacity %zu), no growth needed", a.cap);
        lb_idset_done(&a);
        lb_idset_done(&b);
}

int main(void)
{
        uint64_t seed = 0x1d5e7;
        test_rng_seed(seed);
        diag("PRNG seed %#llx", (unsigned long long)seed);
        ids = calloc(N, LB_ID_SIZE);
        absent = calloc(N, LB_ID_SIZE);
        if (!ids || !absent)
                bail_out("out of memory");
        test_rng_fill(ids, (size_t)N * LB_ID_SIZE);
        test_rng_fill(absent, (size_t)N * LB_ID_SIZE);
        test_many();
        test_collisions();
        test_seeded();
        free(ids);
        free(absent);
        return done_testing();
}
