/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "crypto.h"

#include <errno.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <pthread.h>

static EVP_MD *sha256_md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

/* Fetch the implementation once: the implicit fetch in EVP_sha256() costs a
 * lock and a lookup on every call. */
static void md_init(void) { sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

static const EVP_MD *md(void)
{
        pthread_once(&md_once, md_init);
        return sha256_md ? sha256_md : EVP_sha256();
}

int lb_sha256(const void *data, size_t n, uint8_t ret[LB_ID_SIZE])
{
        unsigned int len = 0;
        if (EVP_Digest(data, n, ret, &len, md(), NULL) != 1 || len != LB_ID_SIZE)
                return -EIO;
        return 0;
}

int lb_chunk_id(const struct lb_master_key *key, const void *data, size_t n, uint8_t ret[LB_ID_SIZE])
{
        if (!key)
                return lb_sha256(data, n, ret);
        unsigned int len = 0;
        if (!HMAC(md(), key->id, LB_KEY_SIZE, data, n, ret, &len) || len != LB_ID_SIZE)
                return -EIO;
        return 0;
}

struct lb_sha256_ctx *lb_sha256_new(void)
{
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        if (c && EVP_DigestInit_ex(c, md(), NULL) != 1) {
                EVP_MD_CTX_free(c);
                return NULL;
        }
        return (struct lb_sha256_ctx *)c;
}

int lb_sha256_update(struct lb_sha256_ctx *c, const void *data, size_t n)
{
        return EVP_DigestUpdate((EVP_MD_CTX *)c, data, n) == 1 ? 0 : -EIO;
}

int lb_sha256_final(struct lb_sha256_ctx *c, uint8_t ret[LB_ID_SIZE])
{
        unsigned int len = 0;
        return EVP_DigestFinal_ex((EVP_MD_CTX *)c, ret, &len) == 1 && len == LB_ID_SIZE ? 0 : -EIO;
}

void lb_sha256_free(struct lb_sha256_ctx *c) { EVP_MD_CTX_free((EVP_MD_CTX *)c); }

static int aead(int enc, const uint8_t key[LB_KEY_SIZE], const uint8_t nonce[LB_AEAD_NONCE], const void *aad,
                size_t aad_len, const void *in, size_t n, void *out, uint8_t tag[LB_AEAD_TAG])
{
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        int len, r = -EIO;
        if (!c)
                return -ENOMEM;
        if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, LB_AEAD_NONCE, NULL) != 1 ||
            EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) != 1)
                goto out;
        if (aad_len && EVP_CipherUpdate(c, NULL, &len, aad, (int)aad_len) != 1)
                goto out;
        if (n && EVP_CipherUpdate(c, out, &len, in, (int)n) != 1)
                goto out;
        if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, LB_AEAD_TAG, tag) != 1)
                goto out;
        uint8_t final[16]; /* GCM writes nothing here; avoid arithmetic on a NULL out */
        if (EVP_CipherFinal_ex(c, final, &len) != 1) {
                r = enc ? -EIO : -EBADMSG;
                goto out;
        }
        if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, LB_AEAD_TAG, tag) != 1)
                goto out;
        r = 0;
out:
        EVP_CIPHER_CTX_free(c);
        return r;
}

int lb_aead_seal(const uint8_t key[LB_KEY_SIZE], const uint8_t nonce[LB_AEAD_NONCE], const void *aad, size_t aad_len,
                 const void *in, size_t n, void *out, uint8_t tag[LB_AEAD_TAG])
{
        return aead(1, key, nonce, aad, aad_len, in, n, out, tag);
}

int lb_aead_open(const uint8_t key[LB_KEY_SIZE], const uint8_t nonce[LB_AEAD_NONCE], const void *aad, size_t aad_len,
                 const void *in, size_t n, void *out, const uint8_t tag[LB_AEAD_TAG])
{
        uint8_t t[LB_AEAD_TAG];
        memcpy(t, tag, sizeof(t));
        return aead(0, key, nonce, aad, aad_len, in, n, out, t);
}

int lb_blob_key(const struct lb_master_key *key, const uint8_t salt[LB_BLOB_SALT], uint8_t ret[LB_KEY_SIZE])
{
        static const char label[] = "lifeboat blob key v1";
        uint8_t msg[sizeof(label) - 1 + LB_BLOB_SALT];
        unsigned int len = 0;
        memcpy(msg, label, sizeof(label) - 1);
        memcpy(msg + sizeof(label) - 1, salt, LB_BLOB_SALT);
        if (!HMAC(md(), key->enc, LB_KEY_SIZE, msg, sizeof(msg), ret, &len) || len != LB_KEY_SIZE)
                return -EIO;
        return 0;
}

int lb_blob_derived_salt(const struct lb_master_key *key, const void *aad, size_t aad_len, const void *body,
                         size_t n, uint8_t ret[LB_BLOB_SALT + LB_AEAD_NONCE])
{
        static const char label[] = "lifeboat derived salt v2";
        uint8_t mac[LB_ID_SIZE];
        size_t len = 0;
        int r = -EIO;
        EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        EVP_MAC_CTX *c = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
        OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                                OSSL_PARAM_construct_end() };
        if (c && EVP_MAC_init(c, key->enc, LB_KEY_SIZE, params) == 1 &&
            EVP_MAC_update(c, (const uint8_t *)label, sizeof(label) - 1) == 1 && EVP_MAC_update(c, aad, aad_len) == 1 &&
            EVP_MAC_update(c, body, n) == 1 && EVP_MAC_final(c, mac, &len, sizeof(mac)) == 1 && len == sizeof(mac)) {
                memcpy(ret, mac, LB_BLOB_SALT + LB_AEAD_NONCE);
                r = 0;
        }
        EVP_MAC_CTX_free(c);
        EVP_MAC_free(hmac);
        return r;
}

int lb_kdf_scrypt(const char *pass, size_t pass_len, const uint8_t *salt, size_t salt_len, uint64_t N, uint64_t r,
                  uint64_t p, uint8_t ret[LB_KEY_SIZE])
{
        /* maxmem: N * r * 128 bytes plus slack */
        uint64_t maxmem = N * r * 128 + (1u << 20);
        if (EVP_PBE_scrypt(pass, pass_len, salt, salt_len, N, r, p, maxmem, ret, LB_KEY_SIZE) != 1)
                return -EINVAL;
        return 0;
}

struct lb_fingerprinter *lb_fingerprinter_new(const uint8_t key[LB_KEY_SIZE])
{
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        if (c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
                EVP_CIPHER_CTX_free(c);
                return NULL;
        }
        return (struct lb_fingerprinter *)c;
}

int lb_fingerprint(struct lb_fingerprinter *f, const void *data, size_t n, uint8_t ret[16])
{
        static const uint8_t iv[LB_AEAD_NONCE] = { 0 };
        EVP_CIPHER_CTX *c = (EVP_CIPHER_CTX *)f;
        int len;
        /* GMAC: everything goes in as additional data, nothing is encrypted. */
        if (EVP_EncryptInit_ex(c, NULL, NULL, NULL, iv) != 1 || EVP_EncryptUpdate(c, NULL, &len, data, (int)n) != 1 ||
            EVP_EncryptFinal_ex(c, ret, &len) != 1 || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, ret) != 1)
                return -EIO;
        return 0;
}

void lb_fingerprinter_free(struct lb_fingerprinter *f) { EVP_CIPHER_CTX_free((EVP_CIPHER_CTX *)f); }

void lb_secure_zero(void *p, size_t n) { OPENSSL_cleanse(p, n); }
