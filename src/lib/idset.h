/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A hash map from 32-byte IDs to 64-bit values (open addressing). IDs are
 * already uniformly distributed hashes, so their bytes are the hash, mixed
 * with a per-process seed so crafted inputs cannot force collisions. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

struct lb_idset_slot {
        uint8_t id[LB_ID_SIZE];
        uint64_t value;
        bool used;
};

struct lb_idset {
        struct lb_idset_slot *slots;
        size_t cap, n; /* cap is a power of two */
        uint64_t seed;
};

int lb_idset_init(struct lb_idset *s, size_t expect);
void lb_idset_done(struct lb_idset *s);
/* Returns 1 and fills *ret when present, 0 when absent. */
int lb_idset_get(const struct lb_idset *s, const uint8_t id[LB_ID_SIZE], uint64_t *ret);
/* Insert if absent. Returns 1 if inserted, 0 if it was there (*ret_old gets
 * the stored value), -ENOMEM. */
int lb_idset_add(struct lb_idset *s, const uint8_t id[LB_ID_SIZE], uint64_t value, uint64_t *ret_old);
