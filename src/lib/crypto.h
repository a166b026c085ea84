/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Hashing, authenticated encryption and key derivation, all from OpenSSL's
 * libcrypto. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define LB_ID_SIZE 32
#define LB_KEY_SIZE 32
#define LB_AEAD_NONCE 12
#define LB_AEAD_TAG 16
#define LB_BLOB_SALT 16

/* The repository's secret material, unwrapped from a key file. */
struct lb_master_key {
        uint8_t enc[LB_KEY_SIZE]; /* derives the per-blob AES keys */
        uint8_t id[LB_KEY_SIZE];  /* keys the chunk-ID MAC */
};

/* Chunk ID: SHA-256(data), or HMAC-SHA256(id key, data) when key != NULL. */
int lb_chunk_id(const struct lb_master_key *key, const void *data, size_t n, uint8_t ret[LB_ID_SIZE]);
int lb_sha256(const void *data, size_t n, uint8_t ret[LB_ID_SIZE]);

/* Incremental SHA-256 for pack files. */
struct lb_sha256_ctx;
struct lb_sha256_ctx *lb_sha256_new(void);
int lb_sha256_update(struct lb_sha256_ctx *c, const void *data, size_t n);
int lb_sha256_final(struct lb_sha256_ctx *c, uint8_t ret[LB_ID_SIZE]);
void lb_sha256_free(struct lb_sha256_ctx *c);

/* AES-256-GCM. open() returns -EBADMSG when authentication fails. */
int lb_aead_seal(const uint8_t key[LB_KEY_SIZE], const uint8_t nonce[LB_AEAD_NONCE], const void *aad, size_t aad_len,
                 const void *in, size_t n, void *out, uint8_t tag[LB_AEAD_TAG]);
int lb_aead_open(const uint8_t key[LB_KEY_SIZE], const uint8_t nonce[LB_AEAD_NONCE], const void *aad, size_t aad_len,
                 const void *in, size_t n, void *out, const uint8_t tag[LB_AEAD_TAG]);

/* Each blob is encrypted under its own key, derived from the master key and
 * a random per-blob salt, so nonces never repeat under one key. */
int lb_blob_key(const struct lb_master_key *key, const uint8_t salt[LB_BLOB_SALT], uint8_t ret[LB_KEY_SIZE]);
/* A salt and nonce derived from what is encrypted instead of random ones,
 * for output that must be reproducible (SIV-style): the first 28 bytes of
 * HMAC-SHA256(enc key, "lifeboat derived salt v2" || aad || body), body the
 * exact bytes encrypted (compressed: not the plaintext, whose compression
 * may differ between zstd versions). A key and nonce thus only ever encrypt
 * the same bytes with the same associated data. */
int lb_blob_derived_salt(const struct lb_master_key *key, const void *aad, size_t aad_len, const void *body,
                         size_t n, uint8_t ret[LB_BLOB_SALT + LB_AEAD_NONCE]);

/* scrypt(passphrase, salt) -> 32-byte key-encryption key. */
int lb_kdf_scrypt(const char *pass, size_t pass_len, const uint8_t *salt, size_t salt_len, uint64_t N, uint64_t r,
                  uint64_t p, uint8_t ret[LB_KEY_SIZE]);

/* Change-detection fingerprint: GMAC (AES-256, fixed IV) of the data under a
 * secret key. GHASH is an almost-universal hash, so without the key a
 * different chunk with the same fingerprint cannot be constructed; 3-4 times
 * faster than SHA-256. One context per thread. */
struct lb_fingerprinter;
struct lb_fingerprinter *lb_fingerprinter_new(const uint8_t key[LB_KEY_SIZE]);
int lb_fingerprint(struct lb_fingerprinter *f, const void *data, size_t n, uint8_t ret[16]);
void lb_fingerprinter_free(struct lb_fingerprinter *f);

void lb_secure_zero(void *p, size_t n);
