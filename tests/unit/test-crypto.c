/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Known-answer tests for the primitives in crypto.c, and the AEAD's
 * rejection of every kind of tampering. */
#include <errno.h>
#include <string.h>

#include "crypto.h"
#include "tap.h"
#include "util.h"

static void test_sha256(void)
{
        uint8_t d[LB_ID_SIZE];

        /* FIPS 180-2, appendix B.1 and the empty message. */
        is_int(lb_sha256("abc", 3, d), 0, "lb_sha256(\"abc\") succeeds");
        is_hex(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "SHA-256(\"abc\") (FIPS 180-2 B.1)");
        is_int(lb_sha256("", 0, d), 0, "lb_sha256(\"\") succeeds");
        is_hex(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "SHA-256(\"\")");

        /* FIPS 180-2, appendix B.2. */
        static const char two_block[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        lb_sha256(two_block, strlen(two_block), d);
        is_hex(d, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "SHA-256 of the 448-bit message (FIPS 180-2 B.2)");

        /* Without a key, the chunk ID is plain SHA-256. */
        memset(d, 0, sizeof(d));
        is_int(lb_chunk_id(NULL, "abc", 3, d), 0, "lb_chunk_id(NULL key) succeeds");
        is_hex(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "lb_chunk_id without key is SHA-256");

        /* Incremental: one million 'a' (FIPS 180-2 B.3) fed in uneven pieces. */
        static uint8_t a[1000000];
        memset(a, 'a', sizeof(a));
        struct lb_sha256_ctx *c = lb_sha256_new();
        ok(c != NULL, "lb_sha256_new()");
        int r = 0;
        for (size_t off = 0, step = 1; off < sizeof(a); off += step, step = step * 3 + 1)
                r |= lb_sha256_update(c, a + off, MIN(step, sizeof(a) - off));
        is_int(r, 0, "lb_sha256_update() in pieces of growing size");
        is_int(lb_sha256_final(c, d), 0, "lb_sha256_final()");
        lb_sha256_free(c);
        is_hex(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", "incremental SHA-256 of 10^6 'a' (FIPS 180-2 B.3)");
}

static void test_hmac(void)
{
        struct lb_master_key k;
        uint8_t d[LB_ID_SIZE];
        static const char msg[] = "what do ya want for nothing?";

        /* RFC 4231 test case 2 uses the 4-byte key "Jefe". HMAC pads short keys
         * with zeros to the block size, so "Jefe" followed by 28 zero bytes is
         * the same key: this is the RFC's vector verbatim. */
        memset(&k, 0xee, sizeof(k));
        memset(k.id, 0, sizeof(k.id));
        memcpy(k.id, "Jefe", 4);
        is_int(lb_chunk_id(&k, msg, strlen(msg), d), 0, "lb_chunk_id(key) succeeds");
        is_hex(d, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
               "HMAC-SHA256 via lb_chunk_id: RFC 4231 test case 2");

        /* A full 32-byte key 00 01 .. 1f. Expected values were computed when
         * this test was written with
         *   printf '<msg>' | openssl dgst -sha256 -mac HMAC \
         *     -macopt hexkey:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
         * and cross-checked with Python's hmac module. */
        for (size_t i = 0; i < LB_KEY_SIZE; i++)
                k.id[i] = (uint8_t)i;
        lb_chunk_id(&k, msg, strlen(msg), d);
        is_hex(d, "099805f4ac310786968565c098db515cc50862b420ae31e20238312344bed36a",
               "HMAC-SHA256 with a 32-byte key (openssl dgst reference)");
        lb_chunk_id(&k, "abc", 3, d);
        is_hex(d, "f0133729c4163dede81e21cd47839256da58171238c8a0d874397c73b14e1e47",
               "HMAC-SHA256 of \"abc\" with a 32-byte key (openssl dgst reference)");

        /* Only the id half of the master key may matter. */
        uint8_t d2[LB_ID_SIZE];
        memset(k.enc, 0x11, sizeof(k.enc));
        lb_chunk_id(&k, "abc", 3, d2);
        is_mem(d2, d, LB_ID_SIZE, "chunk ID does not depend on the encryption key");
}

static void test_blob_key(void)
{
        struct lb_master_key k;
        uint8_t s1[LB_BLOB_SALT] = { 1 }, s2[LB_BLOB_SALT] = { 2 };
        uint8_t a[LB_KEY_SIZE], b[LB_KEY_SIZE], c[LB_KEY_SIZE];
        for (size_t i = 0; i < sizeof(k); i++)
                ((uint8_t *)&k)[i] = (uint8_t)(i * 7 + 3);
        is_int(lb_blob_key(&k, s1, a), 0, "lb_blob_key() succeeds");
        lb_blob_key(&k, s1, b);
        lb_blob_key(&k, s2, c);
        is_mem(a, b, LB_KEY_SIZE, "lb_blob_key() is deterministic");
        ok(memcmp(a, c, LB_KEY_SIZE) != 0, "lb_blob_key() differs for different salts");
        memset(k.id, 0, sizeof(k.id));
        lb_blob_key(&k, s1, c);
        is_mem(c, a, LB_KEY_SIZE, "lb_blob_key() depends only on the enc half of the master key");
        k.enc[0] ^= 1;
        lb_blob_key(&k, s1, c);
        ok(memcmp(a, c, LB_KEY_SIZE) != 0, "lb_blob_key() changes with the master key");
}

/* Decrypt after flipping each byte of buf (n bytes) in turn; returns how many
 * flips were NOT rejected with -EBADMSG. */
static int count_accepted_flips(uint8_t *buf, size_t n, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
                                size_t aad_len, const uint8_t *ct, size_t ct_len, const uint8_t *tag)
{
        uint8_t out[256];
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
                buf[i] ^= 0x01;
                int r = lb_aead_open(key, nonce, aad, aad_len, ct, ct_len, out, tag);
                buf[i] ^= 0x01;
                if (r != -EBADMSG) {
                        if (bad == 0)
                                diag("flip of byte %zu returned %d", i, r);
                        bad++;
                }
        }
        return bad;
}

static void test_aead(void)
{
        /* The AES-256-GCM vector of McGrew & Viega, "The Galois/Counter Mode
         * of Operation", test case 16 (256-bit key, 96-bit IV, with AAD). */
        uint8_t key[LB_KEY_SIZE], nonce[LB_AEAD_NONCE], aad[20], pt[60], ct[60], tag[LB_AEAD_TAG], out[60];
        hex_decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", key, sizeof(key));
        hex_decode("cafebabefacedbaddecaf888", nonce, sizeof(nonce));
        hex_decode("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, sizeof(aad));
        hex_decode("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                   "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", pt, sizeof(pt));
        is_int(lb_aead_seal(key, nonce, aad, sizeof(aad), pt, sizeof(pt), ct, tag), 0, "lb_aead_seal() succeeds");
        is_hex(ct, "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                   "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
               "AES-256-GCM ciphertext (GCM spec test case 16)");
        is_hex(tag, "76fc6ece0f4e1768cddf8853bb2d551b", "AES-256-GCM tag (GCM spec test case 16)");

        memset(out, 0, sizeof(out));
        is_int(lb_aead_open(key, nonce, aad, sizeof(aad), ct, sizeof(ct), out, tag), 0, "lb_aead_open() of the vector succeeds");
        is_mem(out, pt, sizeof(pt), "round trip returns the plaintext");

        /* Every single-byte change anywhere must be rejected. */
        is_int(count_accepted_flips(ct, sizeof(ct), key, nonce, aad, sizeof(aad), ct, sizeof(ct), tag), 0,
               "every flipped ciphertext byte is rejected with -EBADMSG");
        is_int(count_accepted_flips(tag, sizeof(tag), key, nonce, aad, sizeof(aad), ct, sizeof(ct), tag), 0,
               "every flipped tag byte is rejected with -EBADMSG");
        is_int(count_accepted_flips(nonce, sizeof(nonce), key, nonce, aad, sizeof(aad), ct, sizeof(ct), tag), 0,
               "every flipped nonce byte is rejected with -EBADMSG");
        is_int(count_accepted_flips(aad, sizeof(aad), key, nonce, aad, sizeof(aad), ct, sizeof(ct), tag), 0,
               "every flipped AAD byte is rejected with -EBADMSG");
        is_int(count_accepted_flips(key, sizeof(key), key, nonce, aad, sizeof(aad), ct, sizeof(ct), tag), 0,
               "every flipped key byte is rejected with -EBADMSG");

        /* Shortened ciphertext, missing or extra AAD. */
        is_int(lb_aead_open(key, nonce, aad, sizeof(aad), ct, sizeof(ct) - 1, out, tag), -EBADMSG,
               "truncated ciphertext is rejected");
        is_int(lb_aead_open(key, nonce, NULL, 0, ct, sizeof(ct), out, tag), -EBADMSG, "missing AAD is rejected");
        is_int(lb_aead_open(key, nonce, aad, sizeof(aad) - 1, ct, sizeof(ct), out, tag), -EBADMSG,
               "shortened AAD is rejected");

        /* Empty plaintext: the tag alone authenticates the AAD. */
        uint8_t tag0[LB_AEAD_TAG];
        is_int(lb_aead_seal(key, nonce, aad, sizeof(aad), NULL, 0, out, tag0), 0, "seal of an empty message");
        is_int(lb_aead_open(key, nonce, aad, sizeof(aad), NULL, 0, out, tag0), 0, "open of an empty message");
        aad[0] ^= 0x80;
        is_int(lb_aead_open(key, nonce, aad, sizeof(aad), NULL, 0, out, tag0), -EBADMSG,
               "empty message with changed AAD is rejected");
        aad[0] ^= 0x80;

        /* Larger random round trip without AAD. */
        static uint8_t big[100000], bigct[100000], bigout[100000];
        random_bytes(big, sizeof(big));
        random_bytes(key, sizeof(key));
        is_int(lb_aead_seal(key, nonce, NULL, 0, big, sizeof(big), bigct, tag), 0, "seal 100000 random bytes");
        is_int(lb_aead_open(key, nonce, NULL, 0, bigct, sizeof(big), bigout, tag), 0, "open 100000 random bytes");
        is_mem(bigout, big, sizeof(big), "100000-byte round trip");
        bigct[sizeof(big) / 2] ^= 0x40;
        is_int(lb_aead_open(key, nonce, NULL, 0, bigct, sizeof(big), bigout, tag), -EBADMSG,
               "a flipped bit in the middle of 100000 bytes is rejected");
}

static void test_scrypt(void)
{
        uint8_t k[LB_KEY_SIZE];

        /* RFC 7914 section 12, vector 2; lb_kdf_scrypt returns 32 bytes, which are
         * the first 32 bytes of the RFC's 64-byte output (PBKDF2 output is a prefix). */
        is_int(lb_kdf_scrypt("password", 8, (const uint8_t *)"NaCl", 4, 1024, 8, 16, k), 0,
               "scrypt(password, NaCl, N=1024, r=8, p=16) succeeds");
        is_hex(k, "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162", "scrypt RFC 7914 vector 2");

        /* RFC 7914 vector 1: empty password and salt. */
        static const uint8_t nosalt[1];
        is_int(lb_kdf_scrypt("", 0, nosalt, 0, 16, 1, 1, k), 0, "scrypt(\"\", \"\", N=16, r=1, p=1) succeeds");
        is_hex(k, "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442", "scrypt RFC 7914 vector 1");

        ok(lb_kdf_scrypt("password", 8, (const uint8_t *)"NaCl", 4, 1000, 8, 1, k) < 0,
           "scrypt rejects N that is not a power of two");
}

int main(void)
{
        test_sha256();
        test_hmac();
        test_blob_key();
        test_aead();
        test_scrypt();
        return done_testing();
}
