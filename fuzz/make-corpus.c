/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Writes the seed corpora of the fuzz targets:
 *   make-corpus DIR   ->  DIR/blob/  DIR/index/  DIR/manifest/
 * Valid inputs (made with the library's own encoders, so they follow the
 * current format) and a few malformed ones. Encrypted blobs use fuzz_key
 * and a random salt, so they differ on every run; everything else is
 * reproducible. See README.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blob.h"
#include "format.h"
#include "fuzz.h"
#include "snapshot.h"
#include "util.h"

static const char *outdir;
static int failed;

static void put(const char *sub, const char *name, const void *buf, size_t n)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", outdir, sub);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "mkdir %s: %m\n", path);
                failed = 1;
                return;
        }
        snprintf(path, sizeof(path), "%s/%s/%s", outdir, sub, name);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
                fprintf(stderr, "cannot write %s\n", path);
                failed = 1;
        }
}

/* Deterministic filler. */
static void fill(uint8_t *p, size_t n, uint32_t seed)
{
        for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                p[i] = (uint8_t)(seed >> 16);
        }
}

static size_t blob(const struct lb_master_key *key, int level, enum lb_blob_type type, const void *in, size_t n,
                   uint8_t *out)
{
        struct lb_codec *c = lb_codec_new(level);
        uint8_t id[LB_ID_SIZE];
        size_t len = 0;
        if (!c || lb_chunk_id(key, in, n, id) < 0 || lb_blob_encode(c, key, type, id, in, n, out, &len) < 0) {
                fprintf(stderr, "encoding failed\n");
                exit(1);
        }
        lb_codec_free(c);
        return len;
}

static void blobs(void)
{
        static uint8_t rnd[64], text[1000], ids[3 * LB_ID_SIZE], out[4096], bad[4096];
        size_t n;
        fill(rnd, sizeof(rnd), 1);
        for (size_t i = 0; i < sizeof(text); i++)
                text[i] = "lifeboat corpus text "[i % 21];
        fill(ids, sizeof(ids), 2);

        n = blob(NULL, 0, LB_BLOB_CHUNK, rnd, sizeof(rnd), out);
        put("blob", "plain-raw", out, n);
        memcpy(bad, out, n);
        bad[48 + 10] ^= 1;
        put("blob", "bad-plain-raw-data", bad, n);
        memcpy(bad, out, n);
        bad[0] = 'X';
        put("blob", "bad-magic", bad, n);

        n = blob(NULL, 3, LB_BLOB_CHUNK, text, sizeof(text), out);
        put("blob", "plain-zstd", out, n);
        put("blob", "bad-plain-zstd-truncated", out, n - 5);
        memcpy(bad, out, n);
        le32_put(bad + 8, sizeof(text) + 1);
        put("blob", "bad-plain-zstd-plain-len", bad, n);

        n = blob(NULL, 3, LB_BLOB_CHUNK, text, 0, out);
        put("blob", "plain-empty", out, n);
        n = blob(NULL, 3, LB_BLOB_MAP, ids, sizeof(ids), out);
        put("blob", "plain-map", out, n);
        n = blob(NULL, 3, LB_BLOB_MANIFEST, "{\"version\":1,\"time\":0,\"images\":[]}", 35, out);
        put("blob", "plain-manifest", out, n);

        n = blob(&fuzz_key, 0, LB_BLOB_CHUNK, rnd, sizeof(rnd), out);
        put("blob", "enc-raw", out, n);
        memcpy(bad, out, n);
        bad[n - 1] ^= 0x80;
        put("blob", "bad-enc-tag", bad, n);
        n = blob(&fuzz_key, 3, LB_BLOB_INDEX, text, sizeof(text), out);
        put("blob", "enc-zstd", out, n);
        n = blob(&fuzz_key, 3, LB_BLOB_CHUNK, text, 0, out);
        put("blob", "enc-empty", out, n);
}

static size_t index_plain(uint8_t *buf, uint32_t np, uint32_t ne, uint32_t seed)
{
        le32_put(buf, np);
        le32_put(buf + 4, ne);
        uint8_t *q = buf + 8;
        fill(q, np * LB_ID_SIZE, seed);
        q += np * LB_ID_SIZE;
        for (uint32_t i = 0; i < ne; i++, q += sizeof(struct lb_index_entry_disk)) {
                fill(q, LB_ID_SIZE, seed + 100 + i);
                le32_put(q + 32, np ? i % np : 0);
                le32_put(q + 36, 48 + 100 * i);
                le64_put(q + 40, (uint64_t)i * 4096);
        }
        return (size_t)(q - buf);
}

static void indexes(void)
{
        static uint8_t buf[8 + 4 * LB_ID_SIZE + 8 * 48];
        size_t n;
        n = index_plain(buf, 2, 3, 10);
        put("index", "valid-2-packs-3-entries", buf, n);
        put("index", "bad-short", buf, n - 1);
        le32_put(buf + 8 + 2 * LB_ID_SIZE + 32, 2);
        put("index", "bad-pack-number", buf, n);
        le32_put(buf + 8 + 2 * LB_ID_SIZE + 32, 0);
        le32_put(buf + 8 + 2 * LB_ID_SIZE + 36, 47);
        put("index", "bad-length", buf, n);
        le32_put(buf + 4, 4);
        put("index", "bad-count", buf, n);

        n = index_plain(buf, 0, 0, 20);
        put("index", "valid-empty", buf, n);
        n = index_plain(buf, 4, 8, 30);
        memcpy(buf + 8 + LB_ID_SIZE, buf + 8, LB_ID_SIZE); /* pack 1 == pack 0 */
        put("index", "valid-duplicate-pack", buf, n);
        n = index_plain(buf, 1, 0, 40);
        put("index", "valid-pack-no-entries", buf, n);
}

static void put_json(const char *name, json_object *o)
{
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        put("manifest", name, s, strlen(s));
}

static json_object *manifest(void)
{
        static uint8_t maps_a[1][LB_ID_SIZE], maps_b[3][LB_ID_SIZE];
        static char *tags[] = { (char *)"nightly", (char *)"pre-upgrade" };
        fill(&maps_a[0][0], sizeof(maps_a), 50);
        fill(&maps_b[0][0], sizeof(maps_b), 51);
        struct lb_image images[2] = {
                { .name = (char *)"sda", .source = (char *)"/dev/sda", .size = (3u << 20) + 5, .chunk_size = 1 << 20,
                  .maps = maps_a, .nmaps = 1,
                  .stats = { .bytes_read = 3145733, .new_chunks = 4, .new_bytes = 3145733, .stored_bytes = 1000 } },
                { .name = (char *)"part2", .source = (char *)"/dev/nvme0n1p2",
                  .size = 4096ull * LB_MAP_SEGMENT_CHUNKS * 2 + 1, .chunk_size = 4096, .maps = maps_b, .nmaps = 3 },
        };
        struct lb_snapshot s = { .time = 1700000000, .time_ns = 5, .hostname = (char *)"host",
                                 .version = (char *)"0.1.0", .tags = tags, .ntags = 2, .duration_ms = 1234,
                                 .images = images, .nimages = 2 };
        return lb_snapshot_to_json(&s);
}

static json_object *first_image(json_object *o)
{
        json_object *imgs;
        json_object_object_get_ex(o, "images", &imgs);
        return json_object_array_get_idx(imgs, 0);
}

static void manifests(void)
{
        json_object *o = manifest(), *maps;
        put_json("valid", o);
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
        put("manifest", "valid-pretty", s, strlen(s));
        put("manifest", "bad-truncated", s, strlen(s) / 2);
        json_object_put(o);

        static const char minimal[] = "{\"version\":1,\"time\":0,\"images\":[]}";
        put("manifest", "valid-minimal", minimal, strlen(minimal));
        static const char empty_image[] =
                "{\"version\":1,\"time\":1,\"images\":[{\"name\":\"a\",\"source\":\"b\",\"size\":0,\"chunk_size\":4096,\"maps\":[]}]}";
        put("manifest", "valid-empty-image", empty_image, strlen(empty_image));

        o = manifest();
        json_object_object_get_ex(first_image(o), "maps", &maps);
        json_object_array_add(maps, json_object_new_string("00"));
        put_json("bad-nmaps", o);
        json_object_put(o);

        o = manifest();
        json_object_object_get_ex(first_image(o), "maps", &maps);
        json_object_array_put_idx(maps, 0, json_object_new_string(
                "g000000000000000000000000000000000000000000000000000000000000000"));
        put_json("bad-hex", o);
        json_object_put(o);

        o = manifest();
        json_object_object_add(first_image(o), "size", json_object_new_int(-1));
        put_json("bad-negative-size", o);
        json_object_put(o);

        o = manifest();
        json_object_object_add(first_image(o), "chunk_size", json_object_new_int(0));
        put_json("bad-chunk-size-0", o);
        json_object_put(o);

        o = manifest();
        json_object_object_add(o, "version", json_object_new_int(2));
        put_json("bad-version-2", o);
        json_object_put(o);

        put("manifest", "bad-not-json", "lifeboat", 8);
}

int main(int argc, char **argv)
{
        outdir = argc > 1 ? argv[1] : "corpus";
        if (mkdir(outdir, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "mkdir %s: %m\n", outdir);
                return 1;
        }
        blobs();
        indexes();
        manifests();
        return failed;
}
