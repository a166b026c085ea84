/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The blob codec: round trips in every mode, and that damage of any kind is
 * reported rather than returned as data. */
#include <errno.h>
#include <string.h>

#include "blob.h"
#include "format.h"
#include "testutil.h"
#include "util.h"

#define HDR sizeof(struct lb_blob_header_disk)

/* The highest valid blob type (newer headers define it). */
#ifndef LB_BLOB_TYPE_MAX
#define LB_BLOB_TYPE_MAX LB_BLOB_MANIFEST
#endif

static struct lb_master_key key1, key2;

struct enc {
        uint8_t *buf;
        size_t len;
        uint8_t id[LB_ID_SIZE];
};

static void enc_done(struct enc *e)
{
        free(e->buf);
        memset(e, 0, sizeof(*e));
}

/* Computes the ID the way the backup does, then encodes. */
static int encode(struct lb_codec *c, const struct lb_master_key *key, enum lb_blob_type type, const void *in,
                  size_t n, struct enc *e)
{
        memset(e, 0, sizeof(*e));
        int r = lb_chunk_id(key, in, n, e->id);
        if (r < 0)
                return r;
        e->buf = malloc(lb_blob_bound(n));
        if (!e->buf)
                return -ENOMEM;
        return lb_blob_encode(c, key, type, e->id, in, n, e->buf, &e->len);
}

static int decode(const struct lb_master_key *key, const void *blob, size_t n, enum lb_blob_type type,
                  const uint8_t *expect_id, uint8_t *out, size_t max, size_t *ret_len)
{
        struct lb_codec *c = lb_codec_new(0);
        if (!c)
                bail_out("lb_codec_new failed");
        int r = lb_blob_decode(c, key, blob, n, type, expect_id, out, max, ret_len);
        lb_codec_free(c);
        return r;
}

/* Encode with the given level and key, check the header, decode, compare.
 * expect_comp < 0: either compression is fine. */
static void check_round_trip(const char *what, int level, const struct lb_master_key *key, const uint8_t *data,
                             size_t n, int expect_comp)
{
        struct lb_codec *c = lb_codec_new(level);
        struct enc e;
        const char *mode = key ? "encrypted" : "plain";
        int r = encode(c, key, LB_BLOB_CHUNK, data, n, &e);
        lb_codec_free(c);
        if (!is_int(r, 0, "%s, %s, level %d: encode succeeds", what, mode, level)) {
                enc_done(&e);
                return;
        }
        const struct lb_blob_header_disk *h = (const void *)e.buf;
        uint32_t stored = le32_get(h->stored_len);
        bool hdr_ok = e.len <= lb_blob_bound(n) && memcmp(h->magic, LB_BLOB_MAGIC, 4) == 0 && h->type == LB_BLOB_CHUNK &&
                      h->encryption == (key ? LB_ENC_AES256GCM : LB_ENC_NONE) && h->reserved == 0 &&
                      le32_get(h->plain_len) == n && stored == e.len - HDR && memcmp(h->id, e.id, LB_ID_SIZE) == 0;
        ok(hdr_ok, "%s, %s, level %d: header fields (len %zu, stored %u, plain %u)", what, mode, level, e.len, stored,
           le32_get(h->plain_len));
        if (expect_comp >= 0)
                is_int(h->compression, expect_comp, "%s, %s, level %d: compression byte", what, mode, level);
        if (h->compression == LB_COMP_NONE)
                is_int(stored, n + (key ? LB_BLOB_ENC_OVERHEAD : 0), "%s, %s, level %d: stored raw, exact size", what,
                       mode, level);
        else
                ok(stored < n + (key ? LB_BLOB_ENC_OVERHEAD : 0), "%s, %s, level %d: compressed is smaller (%u < %zu)",
                   what, mode, level, stored, n);

        enum lb_blob_type t = 0;
        uint32_t plain = 0, st = 0;
        uint8_t id[LB_ID_SIZE] = { 0 };
        r = lb_blob_header_parse(e.buf, e.len, &t, &plain, &st, id);
        ok(r == 0 && t == LB_BLOB_CHUNK && plain == n && st == stored && memcmp(id, e.id, LB_ID_SIZE) == 0,
           "%s, %s, level %d: lb_blob_header_parse agrees", what, mode, level);

        uint8_t *out = malloc(n + 1);
        size_t len = 12345;
        memset(out, 0xa5, n + 1);
        r = decode(key, e.buf, e.len, LB_BLOB_CHUNK, e.id, out, n, &len);
        ok(r == 0 && len == n && memcmp(out, data, n) == 0 && out[n] == 0xa5,
           "%s, %s, level %d: decode returns the data (r=%d, len=%zu)", what, mode, level, r, len);
        free(out);
        enc_done(&e);
}

static void test_round_trips(void)
{
        static uint8_t text[65536], rnd[65536];
        for (size_t i = 0; i < sizeof(text); i++)
                text[i] = "Lifeboat keeps system images safe. "[i % 35];
        test_rng_fill(rnd, sizeof(rnd));
        static const uint8_t small[] = "tiny!!";
        static uint8_t zeros[1 << 20];

        for (int e = 0; e < 2; e++) {
                const struct lb_master_key *k = e ? &key1 : NULL;
                check_round_trip("compressible 64 KiB", 3, k, text, sizeof(text), LB_COMP_ZSTD);
                check_round_trip("random 64 KiB", 3, k, rnd, sizeof(rnd), LB_COMP_NONE);
                check_round_trip("random 64 KiB", 19, k, rnd, sizeof(rnd), LB_COMP_NONE);
                check_round_trip("empty", 3, k, small, 0, LB_COMP_NONE);
                check_round_trip("1 byte", 3, k, small, 1, LB_COMP_NONE);
                check_round_trip("7 bytes", 3, k, small, sizeof(small), LB_COMP_NONE);
                check_round_trip("compressible 64 KiB", 0, k, text, sizeof(text), LB_COMP_NONE);
                check_round_trip("compressible 64 KiB", -5, k, text, sizeof(text), LB_COMP_NONE);
                check_round_trip("1 MiB zeros", 1, k, zeros, sizeof(zeros), LB_COMP_ZSTD);
        }
}

/* lb_blob_encode_fixed (reproducible metadata for lifeboat copy): the same
 * plaintext gives the same bytes, which decode like any blob; other data and
 * other keys give other salts; without a key it is the plain encoding. */
static void test_fixed_salt(void)
{
        static const char a[] = "an index blob's plaintext", b[] = "another plaintext";
        uint8_t ida[LB_ID_SIZE], idb[LB_ID_SIZE], out[64];
        size_t la = 0, lb = 0, lr = 0, len = 0;
        struct lb_codec *c = lb_codec_new(3);
        uint8_t *x = malloc(lb_blob_bound(sizeof(a))), *y = malloc(lb_blob_bound(sizeof(a)));
        uint8_t *z = malloc(lb_blob_bound(sizeof(b))), *w = malloc(lb_blob_bound(sizeof(a)));
        if (!c || !x || !y || !z || !w)
                bail_out("out of memory");
        lb_chunk_id(&key1, a, sizeof(a), ida);
        lb_chunk_id(&key1, b, sizeof(b), idb);
        is_int(lb_blob_encode_fixed(c, &key1, LB_BLOB_INDEX, ida, a, sizeof(a), x, &la), 0, "fixed salt: encode");
        is_int(lb_blob_encode_fixed(c, &key1, LB_BLOB_INDEX, ida, a, sizeof(a), y, &lb), 0, "fixed salt: again");
        ok(la == lb && memcmp(x, y, la) == 0, "fixed salt: the same plaintext gives the same bytes");
        ok(decode(&key1, x, la, LB_BLOB_INDEX, ida, out, sizeof(out), &len) == 0 && len == sizeof(a) &&
                   memcmp(out, a, len) == 0,
           "fixed salt: decodes like any blob");
        lb_blob_encode_fixed(c, &key1, LB_BLOB_INDEX, idb, b, sizeof(b), z, &lr);
        ok(memcmp(x + HDR, z + HDR, LB_BLOB_SALT + LB_AEAD_NONCE) != 0, "fixed salt: other data, other salt");
        lb_blob_encode_fixed(c, &key2, LB_BLOB_INDEX, ida, a, sizeof(a), y, &lb);
        ok(memcmp(x + HDR, y + HDR, LB_BLOB_SALT + LB_AEAD_NONCE) != 0, "fixed salt: other key, other salt");
        lb_blob_encode(c, &key1, LB_BLOB_INDEX, ida, a, sizeof(a), w, &lr);
        ok(lr == la && memcmp(x + HDR, w + HDR, LB_BLOB_SALT) != 0, "fixed salt: the usual encoding stays random");
        lb_chunk_id(NULL, a, sizeof(a), ida);
        lb_blob_encode_fixed(c, NULL, LB_BLOB_INDEX, ida, a, sizeof(a), x, &la);
        lb_blob_encode(c, NULL, LB_BLOB_INDEX, ida, a, sizeof(a), y, &lb);
        ok(la == lb && memcmp(x, y, la) == 0, "fixed salt: unencrypted, the same as lb_blob_encode");
        free(x);
        free(y);
        free(z);
        free(w);
        lb_codec_free(c);
}

/* The plaintext compressed otherwise (another zstd level here; another zstd
 * version elsewhere): other bytes encrypted, so another salt and nonce, never
 * the same key and nonce for two different messages. */
static void test_derived_salt_follows_body(void)
{
        static const char *const words[] = { "disk ", "image ", "chunk ", "pack ", "index ", "snapshot ", "restore " };
        static uint8_t text[65536];
        uint32_t x = 12345;
        for (size_t i = 0; i < sizeof(text);) {
                x = x * 1103515245u + 12345u;
                const char *w = words[(x >> 16) % 7];
                for (size_t j = 0; w[j] && i < sizeof(text); j++)
                        text[i++] = (uint8_t)w[j];
        }
        struct lb_codec *fast = lb_codec_new(1), *slow = lb_codec_new(19);
        size_t bound = lb_blob_bound(sizeof(text)), la = 0, lb = 0, len = 0;
        uint8_t *a = malloc(bound), *b = malloc(bound), *out = malloc(sizeof(text)), id[LB_ID_SIZE];
        if (!fast || !slow || !a || !b || !out)
                bail_out("out of memory");
        lb_chunk_id(NULL, text, sizeof(text), id);
        lb_blob_encode(fast, NULL, LB_BLOB_INDEX, id, text, sizeof(text), a, &la);
        lb_blob_encode(slow, NULL, LB_BLOB_INDEX, id, text, sizeof(text), b, &lb);
        ok(la != lb || memcmp(a, b, la) != 0, "zstd levels 1 and 19 compress the plaintext differently");
        lb_chunk_id(&key1, text, sizeof(text), id);
        lb_blob_encode_fixed(fast, &key1, LB_BLOB_INDEX, id, text, sizeof(text), a, &la);
        lb_blob_encode_fixed(slow, &key1, LB_BLOB_INDEX, id, text, sizeof(text), b, &lb);
        ok(memcmp(a + HDR, b + HDR, LB_BLOB_SALT) != 0 &&
                   memcmp(a + HDR + LB_BLOB_SALT, b + HDR + LB_BLOB_SALT, LB_AEAD_NONCE) != 0,
           "derived salt: the same plaintext compressed otherwise gets another salt and nonce");
        ok(decode(&key1, a, la, LB_BLOB_INDEX, id, out, sizeof(text), &len) == 0 && len == sizeof(text) &&
                   memcmp(out, text, len) == 0 &&
                   decode(&key1, b, lb, LB_BLOB_INDEX, id, out, sizeof(text), &len) == 0 && len == sizeof(text) &&
                   memcmp(out, text, len) == 0,
           "derived salt: both decode to the plaintext");
        lb_blob_encode_fixed(slow, &key1, LB_BLOB_INDEX, id, text, sizeof(text), a, &la);
        ok(la == lb && memcmp(a, b, la) == 0, "derived salt: the same bytes again give the same blob");
        free(a);
        free(b);
        free(out);
        lb_codec_free(fast);
        lb_codec_free(slow);
}

static void test_id_recomputed(void)
{
        static const char data[] = "the data whose ID is checked";
        uint8_t wrong[LB_ID_SIZE], out[64];
        size_t len;

        for (int e = 0; e < 2; e++) {
                const struct lb_master_key *k = e ? &key1 : NULL;
                const char *mode = e ? "encrypted" : "plain";
                struct lb_codec *c = lb_codec_new(3);
                struct enc b = { .buf = malloc(lb_blob_bound(sizeof(data))) };
                lb_chunk_id(k, "other data", 10, wrong);
                /* A blob that claims an ID its data does not have. */
                is_int(lb_blob_encode(c, k, LB_BLOB_CHUNK, wrong, data, sizeof(data), b.buf, &b.len), 0,
                       "%s: encode with a wrong ID succeeds (the encoder trusts its caller)", mode);
                is_int(decode(k, b.buf, b.len, LB_BLOB_CHUNK, NULL, out, sizeof(out), &len), -EBADMSG,
                       "%s: decode recomputes the ID and rejects a wrong one", mode);
                is_int(decode(k, b.buf, b.len, LB_BLOB_CHUNK, wrong, out, sizeof(out), &len), -EBADMSG,
                       "%s: ...even when expect_id matches the header", mode);
                /* The unkeyed ID in a keyed blob (and vice versa) is wrong too. */
                lb_chunk_id(e ? NULL : &key1, data, sizeof(data), wrong);
                is_int(lb_blob_encode(c, k, LB_BLOB_CHUNK, wrong, data, sizeof(data), b.buf, &b.len), 0,
                       "%s: encode with the ID of the other mode", mode);
                is_int(decode(k, b.buf, b.len, LB_BLOB_CHUNK, NULL, out, sizeof(out), &len), -EBADMSG,
                       "%s: an ID computed %s the key is rejected", mode, e ? "without" : "with");
                lb_codec_free(c);
                enc_done(&b);
        }
}

/* Flip bytes of an encoded blob, one at a time, and count the decodes that
 * did not fail. wrong_data counts successes with data that differs. */
static void flip_all(const struct enc *b, const struct lb_master_key *key, const uint8_t *data, size_t n,
                     uint8_t mask_from, uint8_t mask_to, enum lb_blob_type expect_type, int *accepted,
                     int *wrong_data)
{
        uint8_t *copy = memdup(b->buf, b->len), *out = malloc(n + 64);
        struct lb_codec *c = lb_codec_new(0);
        *accepted = *wrong_data = 0;
        for (size_t i = 0; i < b->len; i++)
                for (unsigned m = mask_from; m <= mask_to; m = m == 0xff ? 0x100 : m << 1) {
                        size_t len = 0;
                        copy[i] ^= (uint8_t)m;
                        int r = lb_blob_decode(c, key, copy, b->len, expect_type, NULL, out, n + 64, &len);
                        copy[i] ^= (uint8_t)m;
                        if (r == 0) {
                                if (*accepted == 0)
                                        diag("byte %zu ^ 0x%02x accepted (header is %zu bytes)", i, m, HDR);
                                (*accepted)++;
                                if (len != n || memcmp(out, data, n) != 0)
                                        (*wrong_data)++;
                        }
                }
        lb_codec_free(c);
        free(copy);
        free(out);
}

static void test_flips(void)
{
        static uint8_t text[300], rnd[40];
        for (size_t i = 0; i < sizeof(text); i++)
                text[i] = "abcabcabd"[i % 9];
        test_rng_fill(rnd, sizeof(rnd));
        struct {
                const char *what;
                const uint8_t *data;
                size_t n;
                int comp;
        } cases[] = {
                { "raw", rnd, sizeof(rnd), LB_COMP_NONE },
                { "zstd", text, sizeof(text), LB_COMP_ZSTD },
        };

        for (size_t ci = 0; ci < ELEMENTSOF(cases); ci++)
                for (int e = 0; e < 2; e++) {
                        const struct lb_master_key *k = e ? &key1 : NULL;
                        const char *mode = e ? "encrypted" : "plain";
                        struct lb_codec *c = lb_codec_new(3);
                        struct enc b;
                        int accepted, wrong;
                        encode(c, k, LB_BLOB_MAP, cases[ci].data, cases[ci].n, &b);
                        lb_codec_free(c);
                        is_int(b.buf[5], cases[ci].comp, "%s %s blob: compression as intended", mode, cases[ci].what);

                        flip_all(&b, k, cases[ci].data, cases[ci].n, 0xff, 0xff, LB_BLOB_MAP, &accepted, &wrong);
                        is_int(accepted, 0, "%s %s blob (%zu bytes): inverting any one byte makes decode fail", mode,
                               cases[ci].what, b.len);
                        flip_all(&b, k, cases[ci].data, cases[ci].n, 0x01, 0x80, LB_BLOB_MAP, &accepted, &wrong);
                        if (e || cases[ci].comp == LB_COMP_NONE)
                                is_int(accepted, 0, "%s %s blob: every single-bit flip makes decode fail", mode,
                                       cases[ci].what);
                        else
                                /* Unauthenticated zstd framing has bits the decoder
                                 * ignores (e.g. the frame header's unused bit 4);
                                 * flipping them yields the same plaintext, which the
                                 * ID check then rightly accepts. */
                                ok(true, "%s %s blob: %d of %zu single-bit flips decode to the same data", mode,
                                   cases[ci].what, accepted, 8 * b.len);
                        is_int(wrong, 0, "%s %s blob: no flip returns success with wrong data", mode, cases[ci].what);
                        if (e) {
                                /* The header is authenticated: even the type byte,
                                 * when the caller accepts any type. */
                                flip_all(&b, k, cases[ci].data, cases[ci].n, 0x01, 0x80, 0, &accepted, &wrong);
                                is_int(accepted, 0, "%s %s blob: single-bit flips fail even with expect_type 0", mode,
                                       cases[ci].what);
                        }

                        /* Truncated at every length, and one byte too long. */
                        uint8_t out[512];
                        size_t len;
                        int bad = 0;
                        for (size_t l = 0; l < b.len; l++)
                                if (decode(k, b.buf, l, LB_BLOB_MAP, NULL, out, sizeof(out), &len) == 0)
                                        bad++;
                        is_int(bad, 0, "%s %s blob: every truncation fails", mode, cases[ci].what);
                        uint8_t *longer = calloc(1, b.len + 1);
                        memcpy(longer, b.buf, b.len);
                        ok(decode(k, longer, b.len + 1, LB_BLOB_MAP, NULL, out, sizeof(out), &len) < 0,
                           "%s %s blob: a trailing byte makes decode fail", mode, cases[ci].what);
                        free(longer);
                        enc_done(&b);
                }
}

static void test_keys_and_expectations(void)
{
        static const char data[] = "some data for the key tests, some data for the key tests";
        uint8_t out[256], other[LB_ID_SIZE];
        size_t len;
        struct lb_codec *c = lb_codec_new(3);
        struct enc p, e, e2;
        encode(c, NULL, LB_BLOB_MANIFEST, data, sizeof(data), &p);
        encode(c, &key1, LB_BLOB_MANIFEST, data, sizeof(data), &e);
        encode(c, &key1, LB_BLOB_MANIFEST, data, sizeof(data), &e2);
        lb_codec_free(c);

        ok(e.len == e2.len && memcmp(e.buf + HDR, e2.buf + HDR, e.len - HDR) != 0,
           "encrypting the same data twice gives different payloads (random salt and nonce)");
        is_int(decode(&key1, e2.buf, e2.len, LB_BLOB_MANIFEST, e.id, out, sizeof(out), &len), 0,
               "...and both decode");

        is_int(decode(&key2, e.buf, e.len, LB_BLOB_MANIFEST, NULL, out, sizeof(out), &len), -EBADMSG,
               "encrypted blob with a different master key: -EBADMSG");
        struct lb_master_key mixed = key1;
        memcpy(mixed.id, key2.id, sizeof(mixed.id));
        is_int(decode(&mixed, e.buf, e.len, LB_BLOB_MANIFEST, NULL, out, sizeof(out), &len), -EBADMSG,
               "right encryption key but different ID key: -EBADMSG");
        mixed = key1;
        memcpy(mixed.enc, key2.enc, sizeof(mixed.enc));
        is_int(decode(&mixed, e.buf, e.len, LB_BLOB_MANIFEST, NULL, out, sizeof(out), &len), -EBADMSG,
               "right ID key but different encryption key: -EBADMSG");
        is_int(decode(NULL, e.buf, e.len, LB_BLOB_MANIFEST, NULL, out, sizeof(out), &len), -EKEYREJECTED,
               "encrypted blob without key: -EKEYREJECTED");
        is_int(decode(&key1, p.buf, p.len, LB_BLOB_MANIFEST, NULL, out, sizeof(out), &len), -EBADMSG,
               "unencrypted blob decoded with a key: -EBADMSG");

        is_int(decode(NULL, p.buf, p.len, LB_BLOB_CHUNK, NULL, out, sizeof(out), &len), -EBADMSG,
               "plain: wrong expect_type: -EBADMSG");
        is_int(decode(&key1, e.buf, e.len, LB_BLOB_INDEX, NULL, out, sizeof(out), &len), -EBADMSG,
               "encrypted: wrong expect_type: -EBADMSG");
        is_int(decode(NULL, p.buf, p.len, 0, NULL, out, sizeof(out), &len), 0, "expect_type 0 accepts any type");
        memcpy(other, p.id, LB_ID_SIZE);
        other[LB_ID_SIZE - 1] ^= 1;
        is_int(decode(NULL, p.buf, p.len, LB_BLOB_MANIFEST, other, out, sizeof(out), &len), -EBADMSG,
               "plain: wrong expect_id: -EBADMSG");
        memcpy(other, e.id, LB_ID_SIZE);
        other[0] ^= 0x80;
        is_int(decode(&key1, e.buf, e.len, LB_BLOB_MANIFEST, other, out, sizeof(out), &len), -EBADMSG,
               "encrypted: wrong expect_id: -EBADMSG");

        is_int(decode(NULL, p.buf, p.len, LB_BLOB_MANIFEST, NULL, out, sizeof(data) - 1, &len), -EFBIG,
               "max_plain one byte too small: -EFBIG");
        len = 0;
        ok(decode(NULL, p.buf, p.len, LB_BLOB_MANIFEST, NULL, out, sizeof(data), &len) == 0 && len == sizeof(data),
           "max_plain exactly the size: decodes");

        c = lb_codec_new(3);
        size_t l;
        is_int(lb_blob_encode(c, NULL, LB_BLOB_CHUNK, p.id, data, (size_t)LB_BLOB_MAX_PLAIN + 1, out, &l), -EFBIG,
               "encode of more than LB_BLOB_MAX_PLAIN: -EFBIG");
        lb_codec_free(c);
        enc_done(&p);
        enc_done(&e);
        enc_done(&e2);
}

static void test_header_parse(void)
{
        struct lb_blob_header_disk h0 = { .type = LB_BLOB_CHUNK }, h;
        memcpy(h0.magic, LB_BLOB_MAGIC, 4);
        le32_put(h0.plain_len, 100);
        le32_put(h0.stored_len, 100);
        uint32_t plain;

        h = h0;
        ok(lb_blob_header_parse(&h, sizeof(h), NULL, &plain, NULL, NULL) == 0 && plain == 100, "a valid raw header parses");
        is_int(lb_blob_header_parse(&h, sizeof(h) - 1, NULL, NULL, NULL, NULL), -EBADMSG, "47 bytes: -EBADMSG");
        h = h0, h.magic[3] = '2';
        is_int(lb_blob_header_parse(&h, sizeof(h), NULL, NULL, NULL, NULL), -EBADMSG, "bad magic: -EBADMSG");
        h = h0, h.type = 0;
        is_int(lb_blob_header_parse(&h, sizeof(h), NULL, NULL, NULL, NULL), -EBADMSG, "type 0: -EBADMSG");
        h = h0, h.type = LB_BLOB_TYPE_MAX + 1;
        is_int(lb_blob_header_parse(&h, sizeof(h), NULL, NULL, NULL, NULL), -EBADMSG, "type %d: -EBADMSG",
               LB_BLOB_TYPE_MAX + 1);
        h = h0, h.type = 0xff;
        is_int(lb_blob_header_parse(&h, sizeof(h), NULL, NULL, NULL, NULL), -EBADMSG, "type 255: -EBADMSG");
        h = h0, h.type = LB_BLOB_TYPE_MAX;
        is_int(lb_blob_header_parse(&h, sizeof(h), NULL, NULL, NULL, NULL), 0, "type %d (the highest) parses",
               LB_BLOB_TYPE_MAX);
        h = h0, h.compression = 2;
        is_int(lb_blob_header_parse(&h, sizeof(h), NULL, NULL, NULL, NULL), -EBADMSG, "compression 2: -EBADMSG");
        h = h0, h.encryption = 2;
        is_int(lb_blob_header_parse(&h, sizeof(h), NULL, NULL, NULL, NULL), -EBADMSG, "encryption 2: -EBADMSG");
        h = h0, h.reserved = 1;
        is_int(lb_blob_header_parse(&h, sizeof(h), NULL, NULL, NULL, NULL), -EBADMSG, "reserved != 0: -EBADMSG");
        h = h0, le32_put(h.stored_len, 99);
        is_int(lb_blob_header_parse(&h, sizeof(h), NULL, NULL, NULL, NULL), -EBADMSG, "raw with stored != plain: -EBADMSG");
        h = h0, h.encryption = LB_ENC_AES256GCM;
        is_int(lb_blob_header_parse(&h, sizeof(h), NULL, NULL, NULL, NULL), -EBADMSG,
               "encrypted raw without room for salt, nonce and tag: -EBADMSG");
        le32_put(h.stored_len, 100 + LB_BLOB_ENC_OVERHEAD);
        is_int(lb_blob_header_parse(&h, sizeof(h), NULL, NULL, NULL, NULL), 0, "encrypted raw with overhead parses");
        h = h0, h.encryption = LB_ENC_AES256GCM, h.compression = LB_COMP_ZSTD, le32_put(h.stored_len, LB_BLOB_ENC_OVERHEAD - 1);
        is_int(lb_blob_header_parse(&h, sizeof(h), NULL, NULL, NULL, NULL), -EBADMSG,
               "encrypted compressed with stored < overhead: -EBADMSG");
        h = h0, h.compression = LB_COMP_ZSTD, le32_put(h.plain_len, LB_BLOB_MAX_PLAIN + 1);
        is_int(lb_blob_header_parse(&h, sizeof(h), NULL, NULL, NULL, NULL), -EBADMSG, "plain_len over the maximum: -EBADMSG");
        h = h0, h.compression = LB_COMP_ZSTD, le32_put(h.stored_len, 0xffffffffu);
        is_int(lb_blob_header_parse(&h, sizeof(h), NULL, NULL, NULL, NULL), -EBADMSG, "stored_len 2^32-1: -EBADMSG");
}

static void test_reserved_ids(void)
{
        uint8_t id[LB_ID_SIZE];
        ok(mem_is_zero(lb_id_zero, LB_ID_SIZE), "lb_id_zero is all zeros");
        ok(mem_is_zero(lb_id_unused, LB_ID_SIZE - 1) && lb_id_unused[LB_ID_SIZE - 1] == 1, "lb_id_unused is 00..01");
        ok(lb_id_is_reserved(lb_id_zero), "lb_id_zero is reserved");
        ok(lb_id_is_reserved(lb_id_unused), "lb_id_unused is reserved");
        lb_sha256("abc", 3, id);
        ok(!lb_id_is_reserved(id), "SHA-256(\"abc\") is not reserved");
        memset(id, 0, sizeof(id));
        id[LB_ID_SIZE - 1] = 2;
        ok(!lb_id_is_reserved(id), "00..02 is not reserved");
        memset(id, 0, sizeof(id));
        id[0] = 1;
        ok(!lb_id_is_reserved(id), "01 00..00 is not reserved");
}

int main(void)
{
        test_rng_seed(0x11feb0a7);
        for (size_t i = 0; i < sizeof(key1); i++) {
                ((uint8_t *)&key1)[i] = (uint8_t)(i + 1);
                ((uint8_t *)&key2)[i] = (uint8_t)(200 - i);
        }
        test_round_trips();
        test_fixed_salt();
        test_derived_salt_follows_body();
        test_id_recomputed();
        test_flips();
        test_keys_and_expectations();
        test_header_parse();
        test_reserved_ids();
        return done_testing();
}
