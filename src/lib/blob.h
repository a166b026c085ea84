/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Blob codec: plaintext <-> header + (compressed, encrypted) payload.
 * Decoding distrusts every field and always re-derives the ID, so damaged or
 * swapped data is reported, never returned. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "format.h"

/* Reserved chunk IDs. No data is stored for them; both read as zeros.
 * ZERO: the source held zeros here. UNUSED: the filesystem does not use
 * this range, a restore need not write it. */
extern const uint8_t lb_id_zero[LB_ID_SIZE];
extern const uint8_t lb_id_unused[LB_ID_SIZE];
bool lb_id_is_reserved(const uint8_t id[LB_ID_SIZE]);

struct lb_codec; /* per-thread scratch: zstd contexts */
struct lb_codec *lb_codec_new(int zstd_level);
void lb_codec_free(struct lb_codec *c);

/* Upper bound of an encoded blob (header included) for n plaintext bytes. */
size_t lb_blob_bound(size_t n);

/* Encode plaintext with a known ID into out (lb_blob_bound(n) bytes).
 * key NULL: not encrypted. level <= 0: store uncompressed. */
int lb_blob_encode(struct lb_codec *c, const struct lb_master_key *key, enum lb_blob_type type,
                   const uint8_t id[LB_ID_SIZE], const void *in, size_t n, void *out, size_t *ret_len);
/* The same, with the salt and nonce derived from the header and the bytes
 * encrypted (lb_blob_derived_salt): the same plaintext, compressed alike,
 * always gives the same bytes. */
int lb_blob_encode_fixed(struct lb_codec *c, const struct lb_master_key *key, enum lb_blob_type type,
                         const uint8_t id[LB_ID_SIZE], const void *in, size_t n, void *out, size_t *ret_len);

/* Parse and check a header. Returns the total blob length (header+payload)
 * via ret_total. -EBADMSG on any inconsistency. */
int lb_blob_header_parse(const void *buf, size_t n, enum lb_blob_type *ret_type, uint32_t *ret_plain,
                         uint32_t *ret_stored, uint8_t ret_id[LB_ID_SIZE]);

/* Decode a whole blob. expect_id may be NULL; expect_type 0 accepts any.
 * out must hold max_plain bytes; *ret_len gets the plaintext length.
 * Errors: -EBADMSG damaged (bad header, authentication, ID mismatch),
 * -EKEYREJECTED encrypted but no key, -EFBIG larger than max_plain. */
int lb_blob_decode(struct lb_codec *c, const struct lb_master_key *key, const void *blob, size_t n,
                   enum lb_blob_type expect_type, const uint8_t *expect_id, void *out, size_t max_plain,
                   size_t *ret_len);
