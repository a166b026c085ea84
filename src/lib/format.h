/* SPDX-License-Identifier: GPL-2.0-or-later */
/* On-disk structures of repository format v1. All integers little-endian;
 * byte arrays only, so the layout does not depend on the compiler. See
 * docs/FORMAT.md, which this file must match. */
#pragma once

#include <assert.h>
#include <stdint.h>

#define LB_REPO_VERSION 1

/* Every stored object is a blob: this header, then stored_len bytes. */
#define LB_BLOB_MAGIC "LBB1"
enum lb_blob_type {
        LB_BLOB_CHUNK = 1,    /* image data */
        LB_BLOB_MAP = 2,      /* array of chunk IDs of one image segment */
        LB_BLOB_INDEX = 3,    /* index file payload */
        LB_BLOB_MANIFEST = 4, /* snapshot manifest (JSON) */
        LB_BLOB_HINTS = 5,    /* change-detection fingerprints of one image segment */
};
#define LB_BLOB_TYPE_MAX LB_BLOB_HINTS
#define LB_HINT_SIZE 16
enum lb_compression { LB_COMP_NONE = 0, LB_COMP_ZSTD = 1 };
enum lb_encryption { LB_ENC_NONE = 0, LB_ENC_AES256GCM = 1 };

struct lb_blob_header_disk {
        uint8_t magic[4];
        uint8_t type;        /* enum lb_blob_type */
        uint8_t compression; /* enum lb_compression */
        uint8_t encryption;  /* enum lb_encryption */
        uint8_t reserved;    /* 0 */
        uint8_t plain_len[4];  /* length of the decoded plaintext */
        uint8_t stored_len[4]; /* length of what follows this header */
        uint8_t id[32];        /* ID of the plaintext */
};
static_assert(sizeof(struct lb_blob_header_disk) == 48, "blob header size");

/* Encrypted payload: salt[16] nonce[12] ciphertext tag[16] */
#define LB_BLOB_ENC_OVERHEAD (16 + 12 + 16)
#define LB_BLOB_MAX_PLAIN (256u << 20)

/* Pack file: blobs back to back, then a directory of entries, then a footer. */
struct lb_pack_entry_disk {
        uint8_t id[32];
        uint8_t offset[8]; /* of the blob header from the start of the pack */
        uint8_t length[4]; /* header + payload */
        uint8_t type;
        uint8_t reserved[3];
};
static_assert(sizeof(struct lb_pack_entry_disk) == 48, "pack entry size");

#define LB_PACK_FOOTER_MAGIC "LBPACKv1"
struct lb_pack_footer_disk {
        uint8_t dir_offset[8];
        uint8_t count[4];
        uint8_t version[4]; /* 1 */
        uint8_t magic[8];
};
static_assert(sizeof(struct lb_pack_footer_disk) == 24, "pack footer size");

/* Index and snapshot files: this header, then exactly one blob. */
#define LB_INDEX_MAGIC "LBIX"
#define LB_SNAPSHOT_MAGIC "LBSN"
struct lb_meta_header_disk {
        uint8_t magic[4];
        uint8_t version[4]; /* LB_REPO_VERSION */
};
static_assert(sizeof(struct lb_meta_header_disk) == 8, "meta header size");

/* Index blob plaintext: header, pack IDs, entries. */
struct lb_index_header_disk {
        uint8_t npacks[4];
        uint8_t nentries[4];
};
struct lb_index_entry_disk {
        uint8_t id[32];
        uint8_t pack[4];   /* number into this file's pack table */
        uint8_t length[4]; /* blob header + payload */
        uint8_t offset[8];
};
static_assert(sizeof(struct lb_index_entry_disk) == 48, "index entry size");

/* Map blob plaintext: chunk IDs, one per chunk of the segment. */
#define LB_MAP_SEGMENT_CHUNKS 65536
