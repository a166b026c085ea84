/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "blob.h"

#include <zstd.h>

#include "util.h"

const uint8_t lb_id_zero[LB_ID_SIZE] = { 0 };
const uint8_t lb_id_unused[LB_ID_SIZE] = { [LB_ID_SIZE - 1] = 1 };

bool lb_id_is_reserved(const uint8_t id[LB_ID_SIZE])
{
        return memcmp(id, lb_id_zero, LB_ID_SIZE - 1) == 0 && id[LB_ID_SIZE - 1] <= 1;
}

struct lb_codec {
        ZSTD_CCtx *cctx;
        ZSTD_DCtx *dctx;
        int level;
        uint8_t *scratch;
        size_t scratch_size;
};

struct lb_codec *lb_codec_new(int zstd_level)
{
        struct lb_codec *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->level = zstd_level;
        c->cctx = ZSTD_createCCtx();
        c->dctx = ZSTD_createDCtx();
        if (!c->cctx || !c->dctx) {
                lb_codec_free(c);
                return NULL;
        }
        /* Chunks are independent: no checksum (the chunk ID covers it), no
         * dictionary ID, content size recorded for a cheap sanity check. */
        ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, zstd_level > 0 ? zstd_level : 1);
        ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 0);
        ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_contentSizeFlag, 1);
        return c;
}

void lb_codec_free(struct lb_codec *c)
{
        if (!c)
                return;
        ZSTD_freeCCtx(c->cctx);
        ZSTD_freeDCtx(c->dctx);
        free(c->scratch);
        free(c);
}

static int scratch_reserve(struct lb_codec *c, size_t n)
{
        if (c->scratch_size >= n)
                return 0;
        uint8_t *p = realloc(c->scratch, n);
        if (!p)
                return -ENOMEM;
        c->scratch = p;
        c->scratch_size = n;
        return 0;
}

size_t lb_blob_bound(size_t n)
{
        return sizeof(struct lb_blob_header_disk) + LB_BLOB_ENC_OVERHEAD + ZSTD_compressBound(n);
}

static int encode(struct lb_codec *c, const struct lb_master_key *key, enum lb_blob_type type,
                  const uint8_t id[LB_ID_SIZE], const void *in, size_t n, void *out, size_t *ret_len, bool fixed_salt)
{
        struct lb_blob_header_disk *h = out;
        uint8_t *payload = (uint8_t *)out + sizeof(*h);
        const uint8_t *body = in; /* what gets stored (before encryption) */
        size_t body_len = n;
        enum lb_compression comp = LB_COMP_NONE;
        int r;

        if (n > LB_BLOB_MAX_PLAIN)
                return -EFBIG;

        if (c->level > 0 && n > 0) {
                /* Compress straight into place when not encrypting. */
                uint8_t *dst = payload;
                size_t cap = ZSTD_compressBound(n);
                if (key) {
                        r = scratch_reserve(c, cap);
                        if (r < 0)
                                return r;
                        dst = c->scratch;
                }
                size_t k = ZSTD_compress2(c->cctx, dst, cap, in, n);
                if (ZSTD_isError(k))
                        return -EIO;
                if (k < n) { /* keep it only when it shrinks */
                        comp = LB_COMP_ZSTD;
                        body = dst;
                        body_len = k;
                }
        }

        memcpy(h->magic, LB_BLOB_MAGIC, 4);
        h->type = (uint8_t)type;
        h->compression = (uint8_t)comp;
        h->encryption = key ? LB_ENC_AES256GCM : LB_ENC_NONE;
        h->reserved = 0;
        le32_put(h->plain_len, (uint32_t)n);
        le32_put(h->stored_len, (uint32_t)(body_len + (key ? LB_BLOB_ENC_OVERHEAD : 0)));
        memcpy(h->id, id, LB_ID_SIZE);

        if (key) {
                uint8_t *salt = payload, *nonce = payload + LB_BLOB_SALT;
                uint8_t *ct = nonce + LB_AEAD_NONCE, *tag = ct + body_len;
                uint8_t bkey[LB_KEY_SIZE];
                r = fixed_salt ? lb_blob_derived_salt(key, h, sizeof(*h), body, body_len, salt) :
                                 random_bytes(salt, LB_BLOB_SALT + LB_AEAD_NONCE);
                if (r < 0)
                        return r;
                r = lb_blob_key(key, salt, bkey);
                if (r >= 0)
                        r = lb_aead_seal(bkey, nonce, h, sizeof(*h), body, body_len, ct, tag);
                lb_secure_zero(bkey, sizeof(bkey));
                if (r < 0)
                        return r;
        } else if (body != payload) {
                memcpy(payload, body, body_len);
        }
        *ret_len = sizeof(*h) + le32_get(h->stored_len);
        return 0;
}

int lb_blob_encode(struct lb_codec *c, const struct lb_master_key *key, enum lb_blob_type type,
                   const uint8_t id[LB_ID_SIZE], const void *in, size_t n, void *out, size_t *ret_len)
{
        return encode(c, key, type, id, in, n, out, ret_len, false);
}

int lb_blob_encode_fixed(struct lb_codec *c, const struct lb_master_key *key, enum lb_blob_type type,
                         const uint8_t id[LB_ID_SIZE], const void *in, size_t n, void *out, size_t *ret_len)
{
        return encode(c, key, type, id, in, n, out, ret_len, true);
}

int lb_blob_header_parse(const void *buf, size_t n, enum lb_blob_type *ret_type, uint32_t *ret_plain,
                         uint32_t *ret_stored, uint8_t ret_id[LB_ID_SIZE])
{
        const struct lb_blob_header_disk *h = buf;
        if (n < sizeof(*h) || memcmp(h->magic, LB_BLOB_MAGIC, 4) != 0)
                return -EBADMSG;
        if (h->type < LB_BLOB_CHUNK || h->type > LB_BLOB_TYPE_MAX || h->compression > LB_COMP_ZSTD ||
            h->encryption > LB_ENC_AES256GCM || h->reserved != 0)
                return -EBADMSG;
        uint32_t plain = le32_get(h->plain_len), stored = le32_get(h->stored_len);
        if (plain > LB_BLOB_MAX_PLAIN || stored > LB_BLOB_MAX_PLAIN + LB_BLOB_ENC_OVERHEAD)
                return -EBADMSG;
        if (h->encryption && stored < LB_BLOB_ENC_OVERHEAD)
                return -EBADMSG;
        uint32_t body = stored - (h->encryption ? LB_BLOB_ENC_OVERHEAD : 0);
        if (h->compression == LB_COMP_NONE && body != plain)
                return -EBADMSG;
        if (h->compression == LB_COMP_ZSTD && body == 0) /* never written: a frame is never empty */
                return -EBADMSG;
        if (ret_type)
                *ret_type = h->type;
        if (ret_plain)
                *ret_plain = plain;
        if (ret_stored)
                *ret_stored = stored;
        if (ret_id)
                memcpy(ret_id, h->id, LB_ID_SIZE);
        return 0;
}

int lb_blob_decode(struct lb_codec *c, const struct lb_master_key *key, const void *blob, size_t n,
                   enum lb_blob_type expect_type, const uint8_t *expect_id, void *out, size_t max_plain,
                   size_t *ret_len)
{
        const struct lb_blob_header_disk *h = blob;
        enum lb_blob_type type;
        uint32_t plain, stored;
        uint8_t id[LB_ID_SIZE];
        int r = lb_blob_header_parse(blob, n, &type, &plain, &stored, id);
        if (r < 0)
                return r;
        if (n - sizeof(*h) != stored)
                return -EBADMSG;
        if (expect_type && type != expect_type)
                return -EBADMSG;
        if (expect_id && memcmp(expect_id, id, LB_ID_SIZE) != 0)
                return -EBADMSG;
        if (plain > max_plain)
                return -EFBIG;
        /* An unencrypted blob in an encrypted repository would be a substitution. */
        if (h->encryption && !key)
                return -EKEYREJECTED;
        if (!h->encryption && key)
                return -EBADMSG;

        const uint8_t *body = (const uint8_t *)blob + sizeof(*h);
        size_t body_len = stored;
        if (key) {
                const uint8_t *salt = body, *nonce = body + LB_BLOB_SALT, *ct = nonce + LB_AEAD_NONCE;
                body_len = stored - LB_BLOB_ENC_OVERHEAD;
                uint8_t bkey[LB_KEY_SIZE];
                uint8_t *dst = out;
                if (h->compression != LB_COMP_NONE) {
                        r = scratch_reserve(c, body_len);
                        if (r < 0)
                                return r;
                        dst = c->scratch;
                }
                r = lb_blob_key(key, salt, bkey);
                if (r >= 0)
                        r = lb_aead_open(bkey, nonce, h, sizeof(*h), ct, body_len, dst, ct + body_len);
                lb_secure_zero(bkey, sizeof(bkey));
                if (r < 0)
                        return r;
                body = dst;
        }

        if (h->compression == LB_COMP_ZSTD) {
                unsigned long long fcs = ZSTD_getFrameContentSize(body, body_len);
                if (fcs != plain)
                        return -EBADMSG;
                size_t k = ZSTD_decompressDCtx(c->dctx, out, plain, body, body_len);
                if (ZSTD_isError(k) || k != plain)
                        return -EBADMSG;
        } else if (body != out) {
                memcpy(out, body, plain);
        }

        uint8_t check[LB_ID_SIZE];
        r = lb_chunk_id(key, out, plain, check);
        if (r < 0)
                return r;
        if (memcmp(check, id, LB_ID_SIZE) != 0)
                return -EBADMSG;
        *ret_len = plain;
        return 0;
}
