/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the index plaintext parser: anything it accepts must be exactly as
 * long as its counts say, and every entry must name a pack it has. */
#include <errno.h>
#include <stdlib.h>

#include "chunkindex.h"
#include "format.h"
#include "fuzz.h"
#include "util.h"

static void check(bool cond)
{
        if (!cond)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct lb_chunk_index *x = NULL;
        int r = lb_index_parse(data, size, &x);
        if (r < 0) {
                check((r == -EBADMSG || r == -ENOMEM) && x == NULL);
                return 0;
        }
        check(x != NULL && size >= sizeof(struct lb_index_header_disk));
        uint64_t np = le32_get(data), ne = le32_get(data + 4);
        check(size == sizeof(struct lb_index_header_disk) + np * LB_ID_SIZE + ne * sizeof(struct lb_index_entry_disk));
        check(x->n == ne && x->npacks <= np && (np == 0 || x->npacks >= 1) && x->ndamaged == 0);
        for (size_t i = 0; i < x->n; i++) {
                const uint8_t *e = data + 8 + np * LB_ID_SIZE + i * sizeof(struct lb_index_entry_disk);
                check(x->v[i].loc.pack < x->npacks && x->v[i].loc.length >= sizeof(struct lb_blob_header_disk));
                check(memcmp(x->v[i].id, e, LB_ID_SIZE) == 0 && x->v[i].loc.offset == le64_get(e + 40));
                /* The pack the entry names in the file is the pack it maps to. */
                check(memcmp(x->packs[x->v[i].loc.pack], data + 8 + (size_t)le32_get(e + 32) * LB_ID_SIZE,
                             LB_ID_SIZE) == 0);
        }
        lb_chunk_index_free(x);
        return 0;
}
