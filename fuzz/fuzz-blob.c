/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the blob codec. Reading side: lb_blob_header_parse, then
 * lb_blob_decode without a key and with fuzz_key; whatever decodes must be
 * consistent with its header and survive a re-encode round trip. Writing
 * side: the input as plaintext, encoded in every mode, must decode to
 * itself (forged blobs cannot pass the ID check, so this is how the fuzzer
 * reaches the decoder's success paths with arbitrary data). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "format.h"
#include "fuzz.h"
#include "util.h"

#define MAX_PLAIN (4u << 20)

static void check(bool cond)
{
        if (!cond)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct lb_codec *enc;
        static uint8_t *out, *out2, *reenc;
        if (!enc) {
                enc = lb_codec_new(3);
                out = malloc(MAX_PLAIN);
                out2 = malloc(MAX_PLAIN);
                reenc = malloc(lb_blob_bound(MAX_PLAIN));
                check(enc && out && out2 && reenc);
        }
        /* A fresh decoder per input, as lb_repo_read_meta uses: its scratch
         * buffer starts out unallocated. */
        struct lb_codec *dec = lb_codec_new(0);
        check(dec != NULL);

        enum lb_blob_type type = 0;
        uint32_t plain = 0, stored = 0;
        uint8_t id[LB_ID_SIZE];
        int hr = lb_blob_header_parse(data, size, &type, &plain, &stored, id);
        if (hr == 0)
                check(size >= sizeof(struct lb_blob_header_disk) && type >= LB_BLOB_CHUNK && plain <= LB_BLOB_MAX_PLAIN);
        else
                check(hr == -EBADMSG);

        for (int k = 0; k < 2; k++) {
                const struct lb_master_key *key = k ? &fuzz_key : NULL;
                size_t len = SIZE_MAX;
                int r = lb_blob_decode(dec, key, data, size, 0, NULL, out, MAX_PLAIN, &len);
                if (r < 0) {
                        check(r == -EBADMSG || r == -EKEYREJECTED || r == -EFBIG || r == -ENOMEM);
                        continue;
                }
                /* Success: the header was valid, sizes agree, the ID is right. */
                const struct lb_blob_header_disk *h = (const void *)data;
                uint8_t check_id[LB_ID_SIZE];
                check(hr == 0 && size == sizeof(*h) + stored && len == plain);
                check(h->encryption == (key ? LB_ENC_AES256GCM : LB_ENC_NONE));
                check(lb_chunk_id(key, out, len, check_id) == 0 && memcmp(check_id, id, LB_ID_SIZE) == 0);

                /* With the expectations it now meets, it decodes the same again. */
                size_t len2 = 0;
                check(lb_blob_decode(dec, key, data, size, type, id, out2, len, &len2) == 0);
                check(len2 == len && memcmp(out, out2, len) == 0);
                if (len > 0)
                        check(lb_blob_decode(dec, key, data, size, type, id, out2, len - 1, &len2) == -EFBIG);

                /* Re-encode and decode: the codec agrees with itself. */
                size_t rl = 0;
                check(lb_blob_encode(enc, key, type, id, out, len, reenc, &rl) == 0 && rl <= lb_blob_bound(len));
                check(lb_blob_decode(dec, key, reenc, rl, type, id, out2, MAX_PLAIN, &len2) == 0);
                check(len2 == len && memcmp(out, out2, len) == 0);
        }

        /* The input as plaintext: plain/encrypted, stored/compressed. */
        if (size <= MAX_PLAIN) {
                for (int mode = 0; mode < 4; mode++) {
                        const struct lb_master_key *key = mode & 1 ? &fuzz_key : NULL;
                        struct lb_codec *c = mode & 2 ? enc : dec; /* dec has level 0: stores raw */
                        size_t rl = 0, len2 = 0;
                        check(lb_chunk_id(key, data, size, id) == 0);
                        check(lb_blob_encode(c, key, LB_BLOB_CHUNK, id, data, size, reenc, &rl) == 0);
                        check(rl <= lb_blob_bound(size));
                        check(lb_blob_header_parse(reenc, rl, &type, &plain, &stored, NULL) == 0 && plain == size);
                        check(lb_blob_decode(dec, key, reenc, rl, LB_BLOB_CHUNK, id, out2, MAX_PLAIN, &len2) == 0);
                        check(len2 == size && (size == 0 || memcmp(data, out2, size) == 0));
                        /* The other key state must refuse it. */
                        check(lb_blob_decode(dec, key ? NULL : &fuzz_key, reenc, rl, 0, NULL, out2, MAX_PLAIN, &len2) < 0);
                }
        }
        lb_codec_free(dec);
        return 0;
}
