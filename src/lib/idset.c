/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "idset.h"

#include <stdint.h>

#include "util.h"

static size_t slot_of(const struct lb_idset *s, const uint8_t id[LB_ID_SIZE])
{
        uint64_t h = le64_get(id) ^ le64_get(id + 8) ^ s->seed;
        h ^= h >> 31;
        h *= 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
        return (size_t)h & (s->cap - 1);
}

int lb_idset_init(struct lb_idset *s, size_t expect)
{
        size_t cap = 64;
        if (expect > SIZE_MAX / 4)
                return -ENOMEM;
        while (cap < 2 * expect)
                cap *= 2;
        memset(s, 0, sizeof(*s));
        s->slots = calloc(cap, sizeof(*s->slots));
        if (!s->slots)
                return -ENOMEM;
        s->cap = cap;
        random_bytes(&s->seed, sizeof(s->seed));
        return 0;
}

void lb_idset_done(struct lb_idset *s)
{
        free(s->slots);
        memset(s, 0, sizeof(*s));
}

int lb_idset_get(const struct lb_idset *s, const uint8_t id[LB_ID_SIZE], uint64_t *ret)
{
        for (size_t i = slot_of(s, id);; i = (i + 1) & (s->cap - 1)) {
                const struct lb_idset_slot *e = &s->slots[i];
                if (!e->used)
                        return 0;
                if (memcmp(e->id, id, LB_ID_SIZE) == 0) {
                        if (ret)
                                *ret = e->value;
                        return 1;
                }
        }
}

static int grow(struct lb_idset *s)
{
        struct lb_idset bigger = { .cap = s->cap * 2, .seed = s->seed };
        bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
        if (!bigger.slots)
                return -ENOMEM;
        for (size_t i = 0; i < s->cap; i++) {
                if (!s->slots[i].used)
                        continue;
                size_t j = slot_of(&bigger, s->slots[i].id);
                while (bigger.slots[j].used)
                        j = (j + 1) & (bigger.cap - 1);
                bigger.slots[j] = s->slots[i];
        }
        bigger.n = s->n;
        free(s->slots);
        *s = bigger;
        return 0;
}

int lb_idset_add(struct lb_idset *s, const uint8_t id[LB_ID_SIZE], uint64_t value, uint64_t *ret_old)
{
        if (2 * (s->n + 1) > s->cap) {
                int r = grow(s);
                if (r < 0)
                        return r;
        }
        size_t i = slot_of(s, id);
        for (;; i = (i + 1) & (s->cap - 1)) {
                struct lb_idset_slot *e = &s->slots[i];
                if (!e->used)
                        break;
                if (memcmp(e->id, id, LB_ID_SIZE) == 0) {
                        if (ret_old)
                                *ret_old = e->value;
                        return 0;
                }
        }
        memcpy(s->slots[i].id, id, LB_ID_SIZE);
        s->slots[i].value = value;
        s->slots[i].used = true;
        s->n++;
        return 1;
}
