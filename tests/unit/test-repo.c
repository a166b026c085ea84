/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Repositories: init and open (plain and encrypted), config checks, meta
 * files, and the manifest parser. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "blob.h"
#include "format.h"
#include "lifeboat.h"
#include "repo.h"
#include "snapshot.h"
#include "testutil.h"
#include "util.h"

#define PASS "correct horse battery staple"

static char *tmp;

static char *sub(const char *name)
{
        char *p = path_join(tmp, name);
        if (!p)
                bail_out("out of memory");
        return p;
}

static bool error_contains(const char *s)
{
        const char *e = lb_error_get();
        return e && strstr(e, s);
}

static void test_init_open(void)
{
        _cleanup_free_ char *plain = sub("plain"), *enc = sub("enc");
        struct lb_init_opts po = { 0 }, eo = { .encrypt = true, .passphrase = PASS, .kdf_n = 1024 };
        struct lb_repo *r = NULL, *r2 = NULL;

        is_int(lb_repo_init(plain, &po), 0, "init an unencrypted repository in a new directory");
        ok(!lb_repo_is_encrypted_at(plain), "lb_repo_is_encrypted_at: no");
        is_int(lb_repo_open(plain, NULL, &r), 0, "open it without a passphrase");
        if (r) {
                ok(!lb_repo_encrypted(r) && lb_repo_key(r) == NULL, "...it is not encrypted");
                is_str(lb_repo_path(r), plain, "...lb_repo_path");
                is_int(r->chunk_size, 1 << 20, "...default chunk size 1 MiB");
                lb_repo_close(r);
                r = NULL;
        }
        is_int(lb_repo_open(plain, "unused", &r), 0, "a passphrase for an unencrypted repository is ignored");
        lb_repo_close(r);
        r = NULL;

        is_int(lb_repo_init(enc, &eo), 0, "init an encrypted repository (scrypt N=1024)");
        ok(lb_repo_is_encrypted_at(enc), "lb_repo_is_encrypted_at: yes");
        _cleanup_free_ char *keyfile = path_join(enc, "keys/default");
        struct stat st;
        ok(stat(keyfile, &st) == 0 && S_ISREG(st.st_mode), "keys/default exists");
        is_int(lb_repo_open(enc, PASS, &r), 0, "open with the right passphrase");
        is_int(lb_repo_open(enc, PASS, &r2), 0, "open again");
        if (r && r2) {
                ok(lb_repo_encrypted(r) && lb_repo_key(r) == &r->key, "...it is encrypted");
                ok(!mem_is_zero(&r->key, sizeof(r->key)) && memcmp(r->key.enc, r->key.id, LB_KEY_SIZE) != 0,
                   "...the master key is not trivial");
                is_mem(&r->key, &r2->key, sizeof(r->key), "...both opens unwrap the same master key");
        } else {
                ok(false, "...it is encrypted");
                ok(false, "...the master key is not trivial");
                ok(false, "...both opens unwrap the same master key");
        }
        lb_repo_close(r);
        lb_repo_close(r2);
        r = (struct lb_repo *)1;
        is_int(lb_repo_open(enc, "wrong horse", &r), -EKEYREJECTED, "wrong passphrase: -EKEYREJECTED");
        ok(r == (struct lb_repo *)1, "...*ret is untouched");
        ok(error_contains("wrong passphrase"), "...message: %s", lb_error_get());
        is_int(lb_repo_open(enc, "", &r), -EKEYREJECTED, "empty passphrase: -EKEYREJECTED");
        is_int(lb_repo_open(enc, PASS " ", &r), -EKEYREJECTED, "passphrase with a trailing space: -EKEYREJECTED");
        is_int(lb_repo_open(enc, NULL, &r), -ENOKEY, "no passphrase: -ENOKEY");
        ok(error_contains("encrypted"), "...message: %s", lb_error_get());

        /* Damaging the wrapped key is not a wrong passphrase... but must not open. */
        uint8_t *kf = NULL;
        size_t kn = 0;
        test_read_file(keyfile, &kf, &kn);
        char *w = kf ? strstr((char *)kf, "\"wrapped_key\"") : NULL;
        if (w && (w = strchr(w + 13, '"'))) {
                char orig = w[1];
                w[1] = orig == '0' ? '1' : '0';
                test_write_file(keyfile, kf, kn);
                r = NULL;
                int k = lb_repo_open(enc, PASS, &r);
                ok(k < 0 && r == NULL, "a damaged wrapped key does not open (r=%d)", k);
                w[1] = orig;
                test_write_file(keyfile, kf, kn);
        } else
                ok(false, "a damaged wrapped key does not open (no wrapped_key in key file)");
        free(kf);
        r = NULL;
        is_int(lb_repo_open(enc, PASS, &r), 0, "restored key file opens again");
        lb_repo_close(r);
}

static void test_init_errors(void)
{
        _cleanup_free_ char *full = sub("full"), *file = sub("file"), *plain = sub("plain"), *lf = sub("lf");
        _cleanup_free_ char *inner = path_join(full, "something"), *lfdir = path_join(lf, "lost+found");
        _cleanup_free_ char *cfg = path_join(full, "config");
        struct lb_init_opts o = { 0 };
        struct stat st;

        mkdir(full, 0700);
        test_write_file(inner, "x", 1);
        is_int(lb_repo_init(full, &o), -EEXIST, "init on a non-empty directory: -EEXIST");
        ok(error_contains("not empty"), "...message: %s", lb_error_get());
        ok(stat(cfg, &st) < 0, "...and no config was written");
        is_int(lb_repo_init(plain, &o), -EEXIST, "init on an existing repository: -EEXIST");
        ok(error_contains("already"), "...message: %s", lb_error_get());
        test_write_file(file, "x", 1);
        is_int(lb_repo_init(file, &o), -EEXIST, "init on a regular file: -EEXIST");

        mkdir(lf, 0700);
        mkdir(lfdir, 0700);
        is_int(lb_repo_init(lf, &o), 0, "init on a directory holding only lost+found works");

        _cleanup_free_ char *p1 = sub("e1"), *p2 = sub("e2"), *p3 = sub("c1"), *p4 = sub("c2"), *p5 = sub("c3");
        _cleanup_free_ char *p6 = sub("c4");
        struct lb_init_opts eo = { .encrypt = true };
        is_int(lb_repo_init(p1, &eo), -EINVAL, "encrypted without passphrase: -EINVAL");
        eo.passphrase = "";
        is_int(lb_repo_init(p2, &eo), -EINVAL, "encrypted with an empty passphrase: -EINVAL");
        o.chunk_size = 1000000;
        is_int(lb_repo_init(p3, &o), -EINVAL, "chunk size not a power of two: -EINVAL");
        o.chunk_size = 32 << 10;
        is_int(lb_repo_init(p4, &o), -EINVAL, "chunk size 32 KiB: -EINVAL");
        o.chunk_size = 16 << 20;
        is_int(lb_repo_init(p5, &o), -EINVAL, "chunk size 16 MiB: -EINVAL");
        o.chunk_size = 64 << 10;
        is_int(lb_repo_init(p6, &o), 0, "chunk size 64 KiB works");
        struct lb_repo *r = NULL;
        ok(lb_repo_open(p6, NULL, &r) == 0 && r->chunk_size == 64 << 10, "...and is kept in the config");
        lb_repo_close(r);
}

/* Init a fresh plain repository at name, let edit() change its config, and
 * return lb_repo_open's result. */
static int open_with_config(const char *name, void (*edit)(json_object *o, void *arg), void *arg)
{
        _cleanup_free_ char *p = sub(name), *cfg = path_join(p, "config");
        struct lb_init_opts o = { 0 };
        if (lb_repo_init(p, &o) < 0)
                bail_out("init %s: %s", p, lb_error_get());
        json_object *j = json_object_from_file(cfg);
        if (!j)
                bail_out("cannot parse %s", cfg);
        edit(j, arg);
        if (json_object_to_file(cfg, j) < 0)
                bail_out("cannot write %s", cfg);
        json_object_put(j);
        struct lb_repo *r = NULL;
        int k = lb_repo_open(p, NULL, &r);
        lb_repo_close(r);
        return k;
}

static void set_int(json_object *o, void *arg)
{
        const char *const *kv = arg;
        json_object_object_add(o, kv[0], json_object_new_int64(strtoll(kv[1], NULL, 10)));
}
static void set_str(json_object *o, void *arg)
{
        const char *const *kv = arg;
        json_object_object_add(o, kv[0], json_object_new_string(kv[1]));
}
static void del_key(json_object *o, void *arg) { json_object_object_del(o, arg); }
static void add_feature(json_object *o, void *arg)
{
        json_object *a = json_object_new_array();
        json_object_array_add(a, json_object_new_string(arg));
        json_object_object_add(o, "incompat_features", a);
}

static void test_config(void)
{
        is_int(open_with_config("v2", set_int, (const char *[]){ "version", "2" }), -EPROTONOSUPPORT,
               "config version 2: -EPROTONOSUPPORT");
        ok(error_contains("upgrade"), "...message says to upgrade: %s", lb_error_get());
        is_int(open_with_config("feat", add_feature, "zstd-dictionaries"), -EPROTONOSUPPORT,
               "an unknown incompatible feature: -EPROTONOSUPPORT");
        ok(error_contains("upgrade") && error_contains("zstd-dictionaries"), "...message names it: %s", lb_error_get());
        is_int(open_with_config("v0", set_int, (const char *[]){ "version", "0" }), -EBADMSG, "config version 0: -EBADMSG");
        is_int(open_with_config("nov", del_key, "version"), -EBADMSG, "config without version: -EBADMSG");
        is_int(open_with_config("vstr", set_str, (const char *[]){ "version", "1" }), -EBADMSG,
               "config version as a string: -EBADMSG");
        is_int(open_with_config("cipher", set_str, (const char *[]){ "encryption", "rot13" }), -EPROTONOSUPPORT,
               "unknown encryption: -EPROTONOSUPPORT");
        is_int(open_with_config("chunk", set_int, (const char *[]){ "chunk_size", "12345" }), -EBADMSG,
               "bad chunk size in config: -EBADMSG");
        is_int(open_with_config("pack", set_int, (const char *[]){ "pack_size", "100" }), -EBADMSG,
               "bad pack size in config: -EBADMSG");
        is_int(open_with_config("id", set_str, (const char *[]){ "id", "xyz" }), -EBADMSG, "bad repository id: -EBADMSG");
        is_int(open_with_config("fmt", set_str, (const char *[]){ "format", "borg" }), -EBADMSG,
               "wrong format string: -EBADMSG");

        _cleanup_free_ char *garbage = sub("garbage"), *gcfg = path_join(garbage, "config");
        struct lb_init_opts o = { 0 };
        struct lb_repo *r = NULL;
        lb_repo_init(garbage, &o);
        test_write_file(gcfg, "{\"format\": \"lifeboat-repos", 26);
        is_int(lb_repo_open(garbage, NULL, &r), -EBADMSG, "truncated config: -EBADMSG");
        unlink(gcfg);
        is_int(lb_repo_open(garbage, NULL, &r), -ENOENT, "missing config: -ENOENT");
        ok(error_contains("not a Lifeboat repository"), "...message: %s", lb_error_get());
        _cleanup_free_ char *none = sub("does-not-exist"), *file = sub("file");
        is_int(lb_repo_open(none, NULL, &r), -ENOENT, "nonexistent path: -ENOENT");
        is_int(lb_repo_open(file, NULL, &r), -ENOTDIR, "a regular file: -ENOTDIR");
        ok(r == NULL, "failed opens leave *ret alone");
}

/* Rename path to the SHA-256 of its contents, as a forger would. Returns the new name. */
static char *rename_to_sha(struct lb_repo *r, const char *subdir, const char *path)
{
        uint8_t *buf, d[LB_ID_SIZE];
        size_t n;
        char *name = malloc(2 * LB_ID_SIZE + 1), *np = NULL;
        if (test_read_file(path, &buf, &n) < 0 || !name)
                bail_out("cannot read %s", path);
        lb_sha256(buf, n, d);
        hex_encode(d, sizeof(d), name);
        if (asprintf(&np, "%s/%s/%s", r->path, subdir, name) < 0 || rename(path, np) < 0)
                bail_out("rename %s", path);
        free(np);
        free(buf);
        return name;
}

static void test_meta(const char *which, const char *pass)
{
        _cleanup_free_ char *p = sub(which);
        struct lb_repo *r = NULL;
        char name[2 * LB_ID_SIZE + 1];
        static const char text[] = "{\"hello\": \"meta file\"}";
        uint8_t *out = NULL, *file = NULL;
        size_t len = 0, flen = 0;

        if (lb_repo_open(p, pass, &r) < 0)
                bail_out("open %s: %s", p, lb_error_get());
        is_int(lb_repo_write_meta(r, "snapshots", LB_SNAPSHOT_MAGIC, LB_BLOB_MANIFEST, text, strlen(text), name), 0,
               "%s: lb_repo_write_meta", which);
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/snapshots/%s", p, name) < 0)
                bail_out("out of memory");
        uint8_t d[LB_ID_SIZE];
        char dhex[2 * LB_ID_SIZE + 1] = "";
        if (test_read_file(path, &file, &flen) == 0) {
                lb_sha256(file, flen, d);
                hex_encode(d, sizeof(d), dhex);
        }
        is_str(name, dhex, "%s: the file is named by its SHA-256", which);
        ok(file && flen >= 8 && memcmp(file, LB_SNAPSHOT_MAGIC, 4) == 0 && le32_get(file + 4) == LB_REPO_VERSION,
           "%s: the file starts with magic and version", which);
        ok(file && (memmem(file, flen, "meta file", 9) == NULL) == (pass != NULL), "%s: the content is %s", which,
           pass ? "encrypted" : "readable");

        is_int(lb_repo_read_meta(r, "snapshots", name, LB_SNAPSHOT_MAGIC, LB_BLOB_MANIFEST, &out, &len), 0,
               "%s: lb_repo_read_meta", which);
        ok(out && len == strlen(text) && memcmp(out, text, len) == 0 && out[len] == 0,
           "%s: round trip gives the same bytes, NUL-terminated", which);
        free(out);
        out = NULL;

        char **names = NULL;
        size_t nn = 0;
        ok(lb_repo_list_meta(r, "snapshots", &names, &nn) == 0 && nn == 1 && strcmp(names[0], name) == 0,
           "%s: lb_repo_list_meta lists it", which);
        lb_strv_free(names, nn);

        /* Larger and empty contents. */
        size_t big_n = 3 << 20;
        uint8_t *big = malloc(big_n);
        for (size_t i = 0; i < big_n; i++)
                big[i] = (uint8_t)(i / 1000);
        char bname[2 * LB_ID_SIZE + 1], ename[2 * LB_ID_SIZE + 1];
        int k = lb_repo_write_meta(r, "index", LB_INDEX_MAGIC, LB_BLOB_INDEX, big, big_n, bname);
        k = k ? k : lb_repo_read_meta(r, "index", bname, LB_INDEX_MAGIC, LB_BLOB_INDEX, &out, &len);
        ok(k == 0 && len == big_n && memcmp(out, big, big_n) == 0, "%s: 3 MiB round trip", which);
        free(out);
        out = NULL;
        free(big);
        k = lb_repo_write_meta(r, "index", LB_INDEX_MAGIC, LB_BLOB_INDEX, "", 0, ename);
        k = k ? k : lb_repo_read_meta(r, "index", ename, LB_INDEX_MAGIC, LB_BLOB_INDEX, &out, &len);
        ok(k == 0 && len == 0 && out && out[0] == 0, "%s: empty round trip", which);
        free(out);
        out = NULL;

        is_int(lb_repo_read_meta(r, "snapshots", name, LB_INDEX_MAGIC, LB_BLOB_MANIFEST, &out, &len), -EBADMSG,
               "%s: wrong magic: -EBADMSG", which);
        is_int(lb_repo_read_meta(r, "snapshots", name, LB_SNAPSHOT_MAGIC, LB_BLOB_INDEX, &out, &len), -EBADMSG,
               "%s: wrong blob type: -EBADMSG", which);
        is_int(lb_repo_read_meta(r, "snapshots", "../config", LB_SNAPSHOT_MAGIC, LB_BLOB_MANIFEST, &out, &len), -EINVAL,
               "%s: a name that is not 64 hex digits: -EINVAL", which);
        char absent[2 * LB_ID_SIZE + 1];
        memset(absent, 'a', 2 * LB_ID_SIZE);
        absent[2 * LB_ID_SIZE] = 0;
        is_int(lb_repo_read_meta(r, "snapshots", absent, LB_SNAPSHOT_MAGIC, LB_BLOB_MANIFEST, &out, &len), -ENOENT,
               "%s: a missing file: -ENOENT", which);

        /* One flipped byte: the name no longer matches. */
        test_flip_byte(path, flen / 2, 0x20);
        lb_error_clear();
        is_int(lb_repo_read_meta(r, "snapshots", name, LB_SNAPSHOT_MAGIC, LB_BLOB_MANIFEST, &out, &len), -EBADMSG,
               "%s: read_meta of a file with one flipped byte: -EBADMSG", which);
        ok(error_contains("damaged"), "%s: ...message: %s", which, lb_error_get());
        test_flip_byte(path, flen / 2, 0x20);

        /* Flip each byte and rename the file to its new checksum: the blob
         * layer must catch what the name no longer can. */
        int accepted = 0;
        for (size_t i = 0; i < flen; i++) {
                file[i] ^= 0xff;
                test_write_file(path, file, flen);
                file[i] ^= 0xff;
                char *fn = rename_to_sha(r, "snapshots", path);
                char *fp = NULL;
                if (asprintf(&fp, "%s/snapshots/%s", p, fn) < 0)
                        bail_out("out of memory");
                if (lb_repo_read_meta(r, "snapshots", fn, LB_SNAPSHOT_MAGIC, LB_BLOB_MANIFEST, &out, &len) == 0) {
                        if (!accepted)
                                diag("%s: inverted byte %zu of %zu accepted", which, i, flen);
                        accepted++;
                        free(out);
                        out = NULL;
                }
                unlink(fp);
                free(fp);
                free(fn);
        }
        test_write_file(path, file, flen);
        is_int(accepted, 0, "%s: inverting any byte, even with a matching file name, fails", which);

        /* A newer meta header version. */
        le32_put(file + 4, LB_REPO_VERSION + 1);
        test_write_file(path, file, flen);
        char *vn = rename_to_sha(r, "snapshots", path);
        is_int(lb_repo_read_meta(r, "snapshots", vn, LB_SNAPSHOT_MAGIC, LB_BLOB_MANIFEST, &out, &len), -EPROTONOSUPPORT,
               "%s: meta header version %d: -EPROTONOSUPPORT", which, LB_REPO_VERSION + 1);
        ok(error_contains("upgrade"), "%s: ...message says to upgrade", which);
        free(vn);
        le32_put(file + 4, LB_REPO_VERSION);
        test_write_file(path, file, flen);
        free(file);

        lb_repo_close(r);
}

/* Copy a meta file between repositories and read it there. */
static int cross_read(const char *from, const char *from_pass, const char *to, const char *to_pass)
{
        _cleanup_free_ char *pf = sub(from), *pt = sub(to);
        struct lb_repo *rf = NULL, *rt = NULL;
        char name[2 * LB_ID_SIZE + 1];
        uint8_t *buf = NULL, *out = NULL;
        size_t n, len;
        if (lb_repo_open(pf, from_pass, &rf) < 0 || lb_repo_open(pt, to_pass, &rt) < 0)
                bail_out("open: %s", lb_error_get());
        lb_repo_write_meta(rf, "snapshots", LB_SNAPSHOT_MAGIC, LB_BLOB_MANIFEST, "{}", 2, name);
        _cleanup_free_ char *src = NULL, *dst = NULL;
        if (asprintf(&src, "%s/snapshots/%s", pf, name) < 0 || asprintf(&dst, "%s/snapshots/%s", pt, name) < 0)
                bail_out("out of memory");
        if (test_read_file(src, &buf, &n) < 0 || test_write_file(dst, buf, n) < 0)
                bail_out("copy %s", src);
        int k = lb_repo_read_meta(rt, "snapshots", name, LB_SNAPSHOT_MAGIC, LB_BLOB_MANIFEST, &out, &len);
        if (k == 0)
                free(out);
        unlink(dst);
        unlink(src);
        free(buf);
        lb_repo_close(rf);
        lb_repo_close(rt);
        return k;
}

static void test_cross(void)
{
        is_int(cross_read("enc", PASS, "plain", NULL), -EKEYREJECTED,
               "an encrypted meta file in an unencrypted repository: -EKEYREJECTED");
        ok(error_contains("encrypted"), "...message: %s", lb_error_get());
        is_int(cross_read("plain", NULL, "enc", PASS), -EBADMSG,
               "an unencrypted meta file in an encrypted repository: -EBADMSG (substitution)");

        _cleanup_free_ char *enc2 = sub("enc2");
        struct lb_init_opts eo = { .encrypt = true, .passphrase = PASS, .kdf_n = 1024 };
        is_int(lb_repo_init(enc2, &eo), 0, "a second encrypted repository with the same passphrase");
        is_int(cross_read("enc", PASS, "enc2", PASS), -EBADMSG,
               "a meta file of another encrypted repository (other master key): -EBADMSG");
}

/* ---- manifests ---- */

static json_object *good_manifest(void)
{
        static uint8_t maps_a[1][LB_ID_SIZE], maps_b[3][LB_ID_SIZE];
        static char *tags[] = { (char *)"nightly", (char *)"before upgrade" };
        for (size_t i = 0; i < LB_ID_SIZE; i++) {
                maps_a[0][i] = (uint8_t)i;
                for (int m = 0; m < 3; m++)
                        maps_b[m][i] = (uint8_t)(0xf0 - i - m);
        }
        struct lb_image images[2] = {
                { .name = (char *)"sda", .source = (char *)"/dev/sda", .size = (3u << 20) + 5, .chunk_size = 1 << 20,
                  .maps = maps_a, .nmaps = 1,
                  .stats = { .bytes_read = 1, .zero_bytes = 2, .new_chunks = 3, .dedup_chunks = 4, .new_bytes = 5,
                             .stored_bytes = 6 } },
                /* 2 * 65536 + 1 chunks of 4 KiB: three map segments. */
                { .name = (char *)"nvme0n1p2", .source = (char *)"/dev/nvme0n1p2",
                  .size = 4096ull * LB_MAP_SEGMENT_CHUNKS * 2 + 1, .chunk_size = 4096, .maps = maps_b, .nmaps = 3 },
        };
        struct lb_snapshot s = { .time = 1700000000, .time_ns = 123456789, .hostname = (char *)"rescue",
                                 .version = (char *)"0.1.0", .tags = tags, .ntags = 2, .duration_ms = 4242,
                                 .images = images, .nimages = 2 };
        return lb_snapshot_to_json(&s);
}

static int parse_json(json_object *o, struct lb_snapshot **ret)
{
        const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        *ret = NULL;
        return lb_manifest_parse(txt, ret);
}

static json_object *image(json_object *o, size_t i)
{
        json_object *imgs;
        json_object_object_get_ex(o, "images", &imgs);
        return json_object_array_get_idx(imgs, i);
}

static json_object *maps_of(json_object *o, size_t i)
{
        json_object *m;
        json_object_object_get_ex(image(o, i), "maps", &m);
        return m;
}

static void test_manifest(void)
{
        struct lb_snapshot *s = NULL;
        json_object *o = good_manifest();
        int k = parse_json(o, &s);
        is_int(k, 0, "lb_manifest_parse of lb_snapshot_to_json output");
        if (k == 0) {
                ok(s->time == 1700000000 && s->time_ns == 123456789 && s->duration_ms == 4242, "...times");
                ok(s->hostname && strcmp(s->hostname, "rescue") == 0 && s->version && strcmp(s->version, "0.1.0") == 0,
                   "...hostname and version");
                ok(s->ntags == 2 && strcmp(s->tags[0], "nightly") == 0 && strcmp(s->tags[1], "before upgrade") == 0,
                   "...tags");
                is_int(s->nimages, 2, "...two images");
        }
        if (k == 0 && s->nimages == 2) {
                const struct lb_image *a = &s->images[0], *b = &s->images[1];
                ok(strcmp(a->name, "sda") == 0 && strcmp(a->source, "/dev/sda") == 0 && a->size == (3u << 20) + 5 &&
                   a->chunk_size == 1 << 20 && a->nmaps == 1,
                   "...image 0 fields");
                ok(a->stats.bytes_read == 1 && a->stats.zero_bytes == 2 && a->stats.new_chunks == 3 &&
                   a->stats.dedup_chunks == 4 && a->stats.new_bytes == 5 && a->stats.stored_bytes == 6,
                   "...image 0 stats");
                bool maps = a->maps[0][0] == 0 && a->maps[0][31] == 31;
                for (int m = 0; m < 3 && b->nmaps == 3; m++)
                        maps = maps && b->maps[m][0] == 0xf0 - m && b->maps[m][31] == 0xf0 - 31 - m;
                ok(strcmp(b->name, "nvme0n1p2") == 0 && b->size == 4096ull * 65536 * 2 + 1 && b->chunk_size == 4096 &&
                   b->nmaps == 3 && lb_image_segments(b) == 3,
                   "...image 1 fields (three segments)");
                ok(maps, "...map IDs");
        }
        lb_snapshot_free(s);
        json_object_put(o);

#define VARIANT(expect, what, ...)                                        \
        do {                                                              \
                json_object *j = good_manifest();                         \
                __VA_ARGS__;                                              \
                s = (struct lb_snapshot *)1;                              \
                is_int(parse_json(j, &s), expect, "manifest %s", what);   \
                if (s != (struct lb_snapshot *)1 && s)                    \
                        lb_snapshot_free(s);                              \
                json_object_put(j);                                       \
        } while (0)

        VARIANT(0, "with an image of size 0 and no maps", {
                json_object_object_add(image(j, 0), "size", json_object_new_int(0));
                json_object_object_add(image(j, 0), "maps", json_object_new_array());
        });
        VARIANT(0, "without tags, hostname and stats", {
                json_object_object_del(j, "tags");
                json_object_object_del(j, "hostname");
                json_object_object_del(image(j, 0), "stats");
        });
        VARIANT(-EBADMSG, "without images", json_object_object_del(j, "images"));
        VARIANT(-EBADMSG, "with images not an array", json_object_object_add(j, "images", json_object_new_string("sda")));
        VARIANT(-EBADMSG, "with an image that is not an object",
                json_object_array_add(json_object_object_get(j, "images"), json_object_new_int(5)));
        VARIANT(-EBADMSG, "without time", json_object_object_del(j, "time"));
        VARIANT(-EBADMSG, "without version", json_object_object_del(j, "version"));
        VARIANT(-EBADMSG, "with version -1", json_object_object_add(j, "version", json_object_new_int(-1)));
        VARIANT(-EPROTONOSUPPORT, "with version 2", json_object_object_add(j, "version", json_object_new_int(2)));
        VARIANT(-EBADMSG, "with a tag that is not a string",
                json_object_array_add(json_object_object_get(j, "tags"), json_object_new_int(1)));
        VARIANT(-EBADMSG, "with one map too many",
                json_object_array_add(maps_of(j, 0), json_object_new_string(
                        "0000000000000000000000000000000000000000000000000000000000000000")));
        VARIANT(-EBADMSG, "with one map too few", json_object_array_del_idx(maps_of(j, 1), 2, 1));
        VARIANT(-EBADMSG, "with no maps for a non-empty image", json_object_array_del_idx(maps_of(j, 0), 0, 1));
        VARIANT(-EBADMSG, "with negative size", json_object_object_add(image(j, 0), "size", json_object_new_int(-1)));
        VARIANT(-EBADMSG, "with size as a string", json_object_object_add(image(j, 0), "size", json_object_new_string("5")));
        VARIANT(-EBADMSG, "with size 2^63-1 (nmaps cannot match)",
                json_object_object_add(image(j, 0), "size", json_object_new_int64(INT64_MAX)));
        VARIANT(-EBADMSG, "with chunk size 0", json_object_object_add(image(j, 0), "chunk_size", json_object_new_int(0)));
        VARIANT(-EBADMSG, "with chunk size 3000",
                json_object_object_add(image(j, 0), "chunk_size", json_object_new_int(3000)));
        VARIANT(-EBADMSG, "with chunk size 2^40",
                json_object_object_add(image(j, 0), "chunk_size", json_object_new_int64(1ll << 40)));
        VARIANT(-EBADMSG, "with bad hex in a map ID", json_object_array_put_idx(maps_of(j, 1), 1, json_object_new_string(
                "zz00000000000000000000000000000000000000000000000000000000000000")));
        VARIANT(-EBADMSG, "with a 63-digit map ID", json_object_array_put_idx(maps_of(j, 1), 1, json_object_new_string(
                "000000000000000000000000000000000000000000000000000000000000000")));
        VARIANT(-EBADMSG, "with a 66-digit map ID", json_object_array_put_idx(maps_of(j, 1), 0, json_object_new_string(
                "000000000000000000000000000000000000000000000000000000000000000000")));
        VARIANT(-EBADMSG, "with a map ID that is a number",
                json_object_array_put_idx(maps_of(j, 0), 0, json_object_new_int(7)));
        VARIANT(-EBADMSG, "without an image name", json_object_object_del(image(j, 1), "name"));
        VARIANT(-EBADMSG, "without an image source", json_object_object_del(image(j, 0), "source"));

        static const char *const junk[] = { "", "{", "[]", "null", "42", "\"images\"", "{\"images\": []", "{}" };
        for (size_t i = 0; i < ELEMENTSOF(junk); i++) {
                s = NULL;
                is_int(lb_manifest_parse(junk[i], &s), -EBADMSG, "manifest text '%s': -EBADMSG", junk[i]);
                ok(s == NULL, "...*ret untouched");
        }
        s = NULL;
        k = lb_manifest_parse("{\"version\": 1, \"time\": 5, \"images\": []}", &s);
        ok(k == 0 && s && s->nimages == 0 && s->time == 5, "a minimal manifest (no images) parses");
        lb_snapshot_free(s);
}

static void test_snapshot_store(void)
{
        _cleanup_free_ char *p = sub("plain");
        struct lb_repo *r = NULL;
        struct lb_snapshot *s = NULL, *l = NULL;
        if (lb_repo_open(p, NULL, &r) < 0)
                bail_out("open: %s", lb_error_get());
        json_object *o = good_manifest();
        if (parse_json(o, &s) < 0)
                bail_out("cannot parse the test manifest");
        json_object_put(o);
        is_int(lb_snapshot_write(r, s), 0, "lb_snapshot_write");
        ok(strlen(s->id) == 64, "...fills in the ID");
        is_int(lb_snapshot_find(r, "latest", &l), 0, "lb_snapshot_find(latest)");
        ok(l && strcmp(l->id, s->id) == 0 && l->nimages == 2 && strcmp(l->images[1].name, "nvme0n1p2") == 0,
           "...is the snapshot written");
        lb_snapshot_free(l);
        l = NULL;
        char prefix[9];
        snprintf(prefix, sizeof(prefix), "%.8s", s->id);
        is_int(lb_snapshot_find(r, prefix, &l), 0, "lb_snapshot_find(8-digit prefix)");
        lb_snapshot_free(l);
        l = NULL;
        prefix[4] = 0;
        prefix[0] = prefix[0] == 'f' ? '0' : 'f';
        is_int(lb_snapshot_find(r, prefix, &l), -ENOENT, "an unknown prefix: -ENOENT");
        is_int(lb_snapshot_find(r, "abc", &l), -EINVAL, "a 3-digit prefix: -EINVAL");
        is_int(lb_snapshot_find(r, "ABCD", &l), -EINVAL, "upper-case digits: -EINVAL");
        lb_snapshot_free(s);
        lb_repo_close(r);
}

int main(void)
{
        tmp = test_mkdtemp("repo");
        diag("working in %s", tmp);
        test_init_open();
        test_init_errors();
        test_config();
        test_meta("plain", NULL);
        test_meta("enc", PASS);
        test_cross();
        test_manifest();
        test_snapshot_store();
        is_int(test_rm_rf(tmp), 0, "remove the temporary directory");
        free(tmp);
        return done_testing();
}
