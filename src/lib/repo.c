/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Repository layout (docs/FORMAT.md):
 *   config              JSON: format, version, id, chunk size, encryption
 *   keys/<name>         JSON: the master key wrapped by a passphrase (scrypt)
 *   packs/xx/<sha256>   pack files
 *   index/<sha256>      index files
 *   snapshots/<sha256>  snapshot manifests
 *   tmp/                files being written; renamed into place when complete */
#include "repo.h"

#include <dirent.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "blob.h"
#include "chunkindex.h"
#include "events.h"
#include "lifeboat.h"
#include "util.h"

#define CONFIG_MAX (64u << 10)
#define DEFAULT_CHUNK (1u << 20)
#define DEFAULT_PACK (32u << 20)
#define DEFAULT_KDF_N (1u << 15)
static const char key_aad_label[] = "lifeboat key v1";

static const char *const subdirs[] = { "keys", "packs", "index", "snapshots", "tmp" };

static bool chunk_size_ok(uint64_t c) { return c >= (64u << 10) && c <= (8u << 20) && (c & (c - 1)) == 0; }

static int key_wrap_aad(const uint8_t repo_id[16], uint8_t aad[sizeof(key_aad_label) - 1 + 16])
{
        memcpy(aad, key_aad_label, sizeof(key_aad_label) - 1);
        memcpy(aad + sizeof(key_aad_label) - 1, repo_id, 16);
        return (int)(sizeof(key_aad_label) - 1 + 16);
}

static int write_key_file(const char *repo, const char *tmpdir, const uint8_t repo_id[16],
                          const struct lb_master_key *mk, const char *pass, uint64_t N)
{
        uint8_t salt[32], nonce[LB_AEAD_NONCE], kek[LB_KEY_SIZE], wrapped[sizeof(*mk)], tag[LB_AEAD_TAG];
        uint8_t aad[64];
        char salt_hex[65], nonce_hex[25], wrapped_hex[2 * (sizeof(*mk) + LB_AEAD_TAG) + 1];
        uint8_t wt[sizeof(*mk) + LB_AEAD_TAG];
        int r = random_bytes(salt, sizeof(salt));
        if (r < 0)
                return r;
        r = random_bytes(nonce, sizeof(nonce));
        if (r < 0)
                return r;
        r = lb_kdf_scrypt(pass, strlen(pass), salt, sizeof(salt), N, 8, 1, kek);
        if (r < 0)
                return lb_error_set(r, "key derivation failed");
        int aad_len = key_wrap_aad(repo_id, aad);
        r = lb_aead_seal(kek, nonce, aad, (size_t)aad_len, mk, sizeof(*mk), wrapped, tag);
        lb_secure_zero(kek, sizeof(kek));
        if (r < 0)
                return r;
        memcpy(wt, wrapped, sizeof(wrapped));
        memcpy(wt + sizeof(wrapped), tag, sizeof(tag));
        hex_encode(salt, sizeof(salt), salt_hex);
        hex_encode(nonce, sizeof(nonce), nonce_hex);
        hex_encode(wt, sizeof(wt), wrapped_hex);

        json_object *o = json_object_new_object();
        json_object_object_add(o, "version", json_object_new_int(1));
        json_object_object_add(o, "kdf", json_object_new_string("scrypt"));
        json_object_object_add(o, "N", json_object_new_int64((int64_t)N));
        json_object_object_add(o, "r", json_object_new_int(8));
        json_object_object_add(o, "p", json_object_new_int(1));
        json_object_object_add(o, "salt", json_object_new_string(salt_hex));
        json_object_object_add(o, "cipher", json_object_new_string("aes-256-gcm"));
        json_object_object_add(o, "nonce", json_object_new_string(nonce_hex));
        json_object_object_add(o, "wrapped_key", json_object_new_string(wrapped_hex));
        json_object_object_add(o, "created", json_object_new_int64((int64_t)time(NULL)));
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/keys/default", repo) < 0) {
                json_object_put(o);
                return -ENOMEM;
        }
        r = write_file_atomic(tmpdir, path, s, strlen(s));
        json_object_put(o);
        return r;
}

int lb_repo_create_layout(const char *path)
{
        struct stat st;
        bool existed = false;
        int r;
        if (stat(path, &st) == 0) {
                existed = true;
                if (!S_ISDIR(st.st_mode))
                        return lb_error_set(-EEXIST, "%s exists and is not a directory", path);
                DIR *d = opendir(path);
                if (!d)
                        return lb_error_set(-errno, "cannot open %s: %m", path);
                struct dirent *e;
                bool empty = true;
                while ((e = readdir(d)))
                        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "lost+found"))
                                empty = false;
                closedir(d);
                if (!empty) {
                        _cleanup_free_ char *cfg = path_join(path, "config");
                        if (cfg && access(cfg, F_OK) == 0)
                                return lb_error_set(-EEXIST, "%s is already a Lifeboat repository", path);
                        return lb_error_set(-EEXIST, "%s is not empty; give a new or empty directory", path);
                }
        } else if (errno != ENOENT) {
                return lb_error_set(-errno, "cannot access %s: %m", path);
        }
        r = mkdir_p(path, 0700);
        if (r < 0)
                return lb_error_set(r, "cannot create %s: %s", path, strerror(-r));
        for (size_t i = 0; i < ELEMENTSOF(subdirs); i++) {
                _cleanup_free_ char *p = path_join(path, subdirs[i]);
                if (!p)
                        return -ENOMEM;
                if (mkdir(p, 0700) < 0 && errno != EEXIST)
                        return lb_error_set(-errno, "cannot create %s: %m", p);
        }
        return existed ? 0 : 1;
}

int lb_repo_init(const char *path, const struct lb_init_opts *opts)
{
        int r;
        lb_error_clear();
        uint32_t chunk = opts->chunk_size ? opts->chunk_size : DEFAULT_CHUNK;
        if (!chunk_size_ok(chunk))
                return lb_error_set(-EINVAL, "chunk size %u is not a power of two between 64 KiB and 8 MiB", chunk);
        if (opts->encrypt && (!opts->passphrase || !*opts->passphrase))
                return lb_error_set(-EINVAL, "an encrypted repository needs a non-empty passphrase");

        r = lb_repo_create_layout(path);
        if (r < 0)
                return r;
        _cleanup_free_ char *tmpdir = path_join(path, "tmp");
        _cleanup_free_ char *cfgpath = path_join(path, "config");
        if (!tmpdir || !cfgpath)
                return -ENOMEM;

        uint8_t repo_id[16];
        char id_hex[33];
        r = random_bytes(repo_id, sizeof(repo_id));
        if (r < 0)
                return r;
        hex_encode(repo_id, sizeof(repo_id), id_hex);

        if (opts->encrypt) {
                struct lb_master_key mk;
                r = random_bytes(&mk, sizeof(mk));
                if (r < 0)
                        return r;
                r = write_key_file(path, tmpdir, repo_id, &mk, opts->passphrase,
                                   opts->kdf_n ? opts->kdf_n : DEFAULT_KDF_N);
                lb_secure_zero(&mk, sizeof(mk));
                if (r < 0)
                        return lb_error_get() ? r : lb_error_set(r, "cannot write key file: %s", strerror(-r));
        }

        /* The config is written last: its presence makes the directory a repository. */
        json_object *o = json_object_new_object();
        json_object_object_add(o, "format", json_object_new_string("lifeboat-repository"));
        json_object_object_add(o, "version", json_object_new_int(LB_REPO_VERSION));
        json_object_object_add(o, "id", json_object_new_string(id_hex));
        json_object_object_add(o, "created", json_object_new_int64((int64_t)time(NULL)));
        json_object_object_add(o, "chunk_size", json_object_new_int64(chunk));
        json_object_object_add(o, "pack_size", json_object_new_int64(DEFAULT_PACK));
        json_object_object_add(o, "encryption", json_object_new_string(opts->encrypt ? "aes-256-gcm" : "none"));
        json_object_object_add(o, "incompat_features", json_object_new_array());
        if (!opts->encrypt) {
                /* Encrypted repositories derive this key from the master key. */
                uint8_t hk[LB_KEY_SIZE];
                char hk_hex[2 * LB_KEY_SIZE + 1];
                r = random_bytes(hk, sizeof(hk));
                if (r < 0) {
                        json_object_put(o);
                        return r;
                }
                hex_encode(hk, sizeof(hk), hk_hex);
                json_object_object_add(o, "hint_key", json_object_new_string(hk_hex));
        }
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
        r = write_file_atomic(tmpdir, cfgpath, s, strlen(s));
        json_object_put(o);
        if (r < 0)
                return lb_error_set(r, "cannot write %s: %s", cfgpath, strerror(-r));
        return 0;
}

static const char *jstr(json_object *o, const char *k)
{
        json_object *v;
        return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                                               : NULL;
}

static bool jint(json_object *o, const char *k, int64_t *ret)
{
        json_object *v;
        if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
                return false;
        *ret = json_object_get_int64(v);
        return true;
}

static int try_key_file(struct lb_repo *r, const char *file, const char *pass)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len;
        int k = read_file(file, CONFIG_MAX, &buf, &len);
        if (k < 0)
                return k;
        json_object *o = json_tokener_parse((char *)buf);
        if (!o)
                return -EBADMSG;
        int64_t N = 0, rr = 0, p = 0;
        uint8_t salt[32], nonce[LB_AEAD_NONCE], wt[sizeof(r->key) + LB_AEAD_TAG], kek[LB_KEY_SIZE], aad[64];
        const char *kdf = jstr(o, "kdf"), *cipher = jstr(o, "cipher");
        k = -EBADMSG;
        if (!kdf || strcmp(kdf, "scrypt") || !cipher || strcmp(cipher, "aes-256-gcm") || !jint(o, "N", &N) ||
            !jint(o, "r", &rr) || !jint(o, "p", &p) || N < 2 || N > (1 << 24) || (N & (N - 1)) || rr < 1 || rr > 64 ||
            p < 1 || p > 16 || hex_decode(jstr(o, "salt"), salt, sizeof(salt)) < 0 ||
            hex_decode(jstr(o, "nonce"), nonce, sizeof(nonce)) < 0 ||
            hex_decode(jstr(o, "wrapped_key"), wt, sizeof(wt)) < 0)
                goto out;
        k = lb_kdf_scrypt(pass, strlen(pass), salt, sizeof(salt), (uint64_t)N, (uint64_t)rr, (uint64_t)p, kek);
        if (k < 0)
                goto out;
        int aad_len = key_wrap_aad(r->repo_id, aad);
        k = lb_aead_open(kek, nonce, aad, (size_t)aad_len, wt, sizeof(r->key), &r->key, wt + sizeof(r->key));
        lb_secure_zero(kek, sizeof(kek));
        if (k == -EBADMSG)
                k = -EKEYREJECTED;
out:
        json_object_put(o);
        return k;
}

static int unlock(struct lb_repo *r, const char *pass)
{
        _cleanup_free_ char *dir = path_join(r->path, "keys");
        if (!dir)
                return -ENOMEM;
        DIR *d = opendir(dir);
        if (!d)
                return lb_error_set(-errno, "cannot open %s: %m", dir);
        struct dirent *e;
        int res = -ENOENT;
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *f = path_join(dir, e->d_name);
                if (!f) {
                        res = -ENOMEM;
                        break;
                }
                int k = try_key_file(r, f, pass);
                if (k == 0) {
                        res = 0;
                        break;
                }
                if (k == -EKEYREJECTED || res == -ENOENT)
                        res = k;
        }
        closedir(d);
        if (res == -EKEYREJECTED)
                return lb_error_set(res, "wrong passphrase for repository %s", r->path);
        if (res == -ENOENT)
                return lb_error_set(-EBADMSG, "repository %s is encrypted but has no key file in keys/", r->path);
        if (res < 0)
                return lb_error_set(res, "cannot read the key files of %s: %s", r->path, strerror(-res));
        return 0;
}

static int read_config(const char *path, json_object **ret)
{
        struct stat st;
        if (stat(path, &st) < 0) {
                if (errno == ENOENT)
                        return lb_error_set(-ENOENT, "repository %s does not exist", path);
                return lb_error_set(-errno, "cannot access repository %s: %m", path);
        }
        if (!S_ISDIR(st.st_mode))
                return lb_error_set(-ENOTDIR, "%s is not a Lifeboat repository (not a directory)", path);
        _cleanup_free_ char *cfg = path_join(path, "config");
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len;
        if (!cfg)
                return -ENOMEM;
        int r = read_file(cfg, CONFIG_MAX, &buf, &len);
        if (r == -ENOENT)
                return lb_error_set(-ENOENT, "%s is not a Lifeboat repository (no config file); create one with 'lifeboat init'", path);
        if (r < 0)
                return lb_error_set(r, "cannot read %s: %s", cfg, strerror(-r));
        json_object *o = json_tokener_parse((char *)buf);
        const char *fmt = o ? jstr(o, "format") : NULL;
        if (!fmt || strcmp(fmt, "lifeboat-repository") != 0) {
                json_object_put(o);
                return lb_error_set(-EBADMSG, "%s is not a Lifeboat repository (config file unreadable or damaged)", path);
        }
        *ret = o;
        return 0;
}

bool lb_repo_is_encrypted_at(const char *path)
{
        json_object *o;
        if (read_config(path, &o) < 0) {
                lb_error_clear();
                return false;
        }
        const char *enc = jstr(o, "encryption");
        bool e = enc && strcmp(enc, "none") != 0;
        json_object_put(o);
        return e;
}

int lb_repo_open(const char *path, const char *passphrase, struct lb_repo **ret)
{
        json_object *o = NULL;
        lb_error_clear();
        int r = read_config(path, &o);
        if (r < 0)
                return r;
        struct lb_repo *repo = calloc(1, sizeof(*repo));
        if (!repo) {
                json_object_put(o);
                return -ENOMEM;
        }
        repo->lock_fd = -1;
        int64_t version = 0, chunk = 0, pack = 0;
        const char *enc = jstr(o, "encryption");
        json_object *feat = NULL;
        r = -EBADMSG;
        if (!jint(o, "version", &version)) {
                lb_error_set(r, "%s: config has no format version", path);
                goto fail;
        }
        if (version > LB_REPO_VERSION) {
                r = lb_error_set(-EPROTONOSUPPORT,
                                 "repository %s uses format version %lld, this Lifeboat reads version %d: upgrade Lifeboat",
                                 path, (long long)version, LB_REPO_VERSION);
                goto fail;
        }
        if (json_object_object_get_ex(o, "incompat_features", &feat) &&
            (!json_object_is_type(feat, json_type_array) || json_object_array_length(feat) > 0)) {
                r = lb_error_set(-EPROTONOSUPPORT, "repository %s needs features this Lifeboat does not have (%s): upgrade Lifeboat",
                                 path, json_object_to_json_string(feat));
                goto fail;
        }
        if (version < 1 || !jint(o, "chunk_size", &chunk) || !chunk_size_ok((uint64_t)chunk) || !jint(o, "pack_size", &pack) ||
            pack < (1 << 20) || pack > (1 << 30) || !enc || hex_decode(jstr(o, "id"), repo->repo_id, 16) < 0) {
                lb_error_set(r, "%s: config file is damaged", path);
                goto fail;
        }
        if (strcmp(enc, "none") == 0) {
                repo->encrypted = false;
                if (hex_decode(jstr(o, "hint_key"), repo->hint_key, sizeof(repo->hint_key)) < 0) {
                        /* No fingerprint key: fingerprints are made with a key
                         * nobody keeps, so they never match and every chunk is
                         * hashed in full. Slower, never wrong. */
                        r = random_bytes(repo->hint_key, sizeof(repo->hint_key));
                        if (r < 0)
                                goto fail;
                        r = -EBADMSG;
                }
        }
        else if (strcmp(enc, "aes-256-gcm") == 0)
                repo->encrypted = true;
        else {
                r = lb_error_set(-EPROTONOSUPPORT, "%s: unknown encryption '%s'", path, enc);
                goto fail;
        }
        repo->chunk_size = (uint32_t)chunk;
        repo->pack_size = (uint32_t)pack;
        repo->path = strdup(path);
        repo->tmpdir = path_join(path, "tmp");
        if (!repo->path || !repo->tmpdir) {
                r = -ENOMEM;
                goto fail;
        }
        if (repo->encrypted) {
                if (!passphrase) {
                        r = lb_error_set(-ENOKEY, "repository %s is encrypted: give the passphrase (LIFEBOAT_PASSWORD, --password-file, or type it on a terminal)", path);
                        goto fail;
                }
                r = unlock(repo, passphrase);
                if (r < 0)
                        goto fail;
                static const char label[] = "lifeboat hint key v1";
                unsigned int hl = 0;
                if (!HMAC(EVP_sha256(), repo->key.id, LB_KEY_SIZE, (const uint8_t *)label, sizeof(label) - 1,
                          repo->hint_key, &hl)) {
                        r = -EIO;
                        goto fail;
                }
        }
        json_object_put(o);
        *ret = repo;
        return 0;
fail:
        json_object_put(o);
        lb_repo_close(repo);
        return r;
}

void lb_repo_close(struct lb_repo *r)
{
        if (!r)
                return;
        lb_chunk_index_free(r->index);
        if (r->lock_fd >= 0)
                close(r->lock_fd); /* releases the lock */
        lb_secure_zero(&r->key, sizeof(r->key));
        lb_secure_zero(r->hint_key, sizeof(r->hint_key));
        free(r->path);
        free(r->tmpdir);
        free(r);
}

int lb_repo_clean_tmp(struct lb_repo *r, int64_t older_than_s)
{
        DIR *d = opendir(r->tmpdir);
        if (!d)
                return lb_error_set(-errno, "cannot open %s: %m", r->tmpdir);
        struct dirent *e;
        int n = 0;
        time_t now = time(NULL);
        while ((e = readdir(d))) {
                struct stat st;
                if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode) || now - st.st_mtime < older_than_s)
                        continue;
                if (unlinkat(dirfd(d), e->d_name, 0) == 0)
                        n++;
        }
        closedir(d);
        return n;
}

int lb_repo_lock(struct lb_repo *r, enum lb_lock_mode mode)
{
        bool excl = mode == LB_LOCK_EXCLUSIVE, writer = mode != LB_LOCK_SHARED;
        if (r->lock_fd >= 0 && (r->lock_exclusive || !excl))
                return 0;
        if (r->lock_fd < 0) {
                _cleanup_free_ char *path = path_join(r->path, "lock");
                if (!path)
                        return -ENOMEM;
                /* flock needs no write access: O_RDONLY also works on a
                 * repository of another user, once the file exists. */
                r->lock_fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
                if (r->lock_fd < 0) {
                        int e = errno;
                        /* Read-only media: nothing can prune them. A reader
                         * that may not open the file (another user's
                         * repository) goes on unlocked: a prune then makes
                         * it fail, never read wrong data. A writer never. */
                        if (e == EROFS && !excl)
                                return 0;
                        if (e == EACCES && !writer)
                                return 0;
                        return lb_error_set(-e, "cannot open the lock file %s: %s%s", path, strerror(e),
                                            e == EACCES ? " (it must be readable by everyone who backs up "
                                                          "into this repository: chmod 644 it)" : "");
                }
                /* Whatever the umask: everyone who may read the repository
                 * must be able to take the lock. Only the owner can. */
                struct stat st;
                if (fstat(r->lock_fd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 0444) != 0444)
                        (void)fchmod(r->lock_fd, 0644);
        }
        if (flock(r->lock_fd, (excl ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) {
                r->lock_exclusive = excl;
                return 0;
        }
        int e = errno;
        if (e == EWOULDBLOCK && excl)
                return lb_error_set(-EBUSY, "the repository %s is in use by another lifeboat process (backup, restore, "
                                    "verify, copy, or a 'lifeboat mount' of it, which holds it until it is "
                                    "unmounted); try again when it has finished", r->path);
        if (e == EWOULDBLOCK) {
                lb_warn("the repository %s is being pruned by another lifeboat process (forget or prune): waiting "
                        "until it has finished", r->path);
                while (flock(r->lock_fd, LOCK_SH) < 0)
                        if (errno != EINTR)
                                return lb_error_set(-errno, "cannot lock the repository %s: %m", r->path);
                /* What was loaded before may name packs that are gone now. */
                lb_chunk_index_free(r->index);
                r->index = NULL;
                r->lock_exclusive = false;
                return 0;
        }
        return lb_error_set(-e, "cannot lock the repository %s: %s", r->path, strerror(e));
}

const char *lb_repo_path(const struct lb_repo *r) { return r->path; }
bool lb_repo_encrypted(const struct lb_repo *r) { return r->encrypted; }

char *lb_repo_pack_path(const struct lb_repo *r, const uint8_t pack_id[LB_ID_SIZE])
{
        char hex[2 * LB_ID_SIZE + 1], *p;
        hex_encode(pack_id, LB_ID_SIZE, hex);
        if (asprintf(&p, "%s/packs/%.2s/%s", r->path, hex, hex) < 0)
                return NULL;
        return p;
}

int lb_repo_write_meta(struct lb_repo *r, const char *subdir, const char *magic, enum lb_blob_type type,
                       const void *plain, size_t n, char ret_name[2 * LB_ID_SIZE + 1])
{
        uint8_t id[LB_ID_SIZE], digest[LB_ID_SIZE];
        int k = lb_chunk_id(lb_repo_key(r), plain, n, id);
        if (k < 0)
                return k;
        struct lb_codec *c = lb_codec_new(3);
        if (!c)
                return -ENOMEM;
        size_t hdr = sizeof(struct lb_meta_header_disk), len = 0;
        _cleanup_free_ uint8_t *buf = malloc(hdr + lb_blob_bound(n));
        if (!buf) {
                lb_codec_free(c);
                return -ENOMEM;
        }
        struct lb_meta_header_disk *h = (void *)buf;
        memcpy(h->magic, magic, 4);
        le32_put(h->version, LB_REPO_VERSION);
        if (r->fixed_salts)
                k = lb_blob_encode_fixed(c, lb_repo_key(r), type, id, plain, n, buf + hdr, &len);
        else
                k = lb_blob_encode(c, lb_repo_key(r), type, id, plain, n, buf + hdr, &len);
        lb_codec_free(c);
        if (k < 0)
                return k;
        k = lb_sha256(buf, hdr + len, digest);
        if (k < 0)
                return k;
        hex_encode(digest, sizeof(digest), ret_name);
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s/%s", r->path, subdir, ret_name) < 0)
                return -ENOMEM;
        k = write_file_atomic(r->tmpdir, path, buf, hdr + len);
        if (k < 0)
                return lb_error_set(k, "cannot write %s: %s", path, strerror(-k));
        return 0;
}

int lb_repo_read_meta(struct lb_repo *r, const char *subdir, const char *name, const char *magic,
                      enum lb_blob_type type, uint8_t **ret, size_t *ret_len)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len, plain_len = 0;
        uint8_t digest[LB_ID_SIZE], want[LB_ID_SIZE];
        uint32_t plain;
        if (asprintf(&path, "%s/%s/%s", r->path, subdir, name) < 0)
                return -ENOMEM;
        if (hex_decode(name, want, sizeof(want)) < 0)
                return lb_error_set(-EINVAL, "%s: not a valid file name", path);
        int k = read_file(path, LB_BLOB_MAX_PLAIN + 4096, &buf, &len);
        if (k < 0)
                return lb_error_set(k, "cannot read %s: %s", path, strerror(-k));
        k = lb_sha256(buf, len, digest);
        if (k < 0)
                return k;
        if (memcmp(digest, want, sizeof(want)) != 0)
                return lb_error_set(-EBADMSG, "%s is damaged (its checksum does not match its name)", path);
        const struct lb_meta_header_disk *h = (const void *)buf;
        size_t hdr = sizeof(*h);
        if (len < hdr || memcmp(h->magic, magic, 4) != 0)
                return lb_error_set(-EBADMSG, "%s is not a %s file", path, subdir);
        if (le32_get(h->version) < 1)
                return lb_error_set(-EBADMSG, "%s is damaged (bad version)", path);
        if (le32_get(h->version) > LB_REPO_VERSION)
                return lb_error_set(-EPROTONOSUPPORT, "%s has format version %u, this Lifeboat reads %d: upgrade Lifeboat",
                                    path, le32_get(h->version), LB_REPO_VERSION);
        k = lb_blob_header_parse(buf + hdr, len - hdr, NULL, &plain, NULL, NULL);
        if (k < 0)
                return lb_error_set(k, "%s is damaged (bad blob header)", path);
        _cleanup_free_ uint8_t *out = malloc(plain + 1);
        struct lb_codec *c = lb_codec_new(0);
        if (!out || !c) {
                lb_codec_free(c);
                return -ENOMEM;
        }
        k = lb_blob_decode(c, lb_repo_key(r), buf + hdr, len - hdr, type, NULL, out, plain, &plain_len);
        lb_codec_free(c);
        if (k == -EKEYREJECTED)
                return lb_error_set(k, "%s is encrypted but the repository config says it is not", path);
        if (k < 0)
                return lb_error_set(k, "%s is damaged or was not written with this repository's key", path);
        out[plain_len] = 0;
        *ret = TAKE_PTR(out);
        *ret_len = plain_len;
        return 0;
}

static bool is_hex_name(const char *s)
{
        size_t n = 0;
        for (; s[n]; n++)
                if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
                        return false;
        return n == 2 * LB_ID_SIZE;
}

static int strcmp_p(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int lb_repo_list_meta(struct lb_repo *r, const char *subdir, char ***ret, size_t *ret_n)
{
        _cleanup_free_ char *dir = path_join(r->path, subdir);
        if (!dir)
                return -ENOMEM;
        DIR *d = opendir(dir);
        if (!d)
                return lb_error_set(-errno, "cannot open %s: %m", dir);
        char **v = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                if (!is_hex_name(e->d_name))
                        continue;
                if (n == cap) {
                        cap = cap ? 2 * cap : 64;
                        char **nv = realloc(v, cap * sizeof(*v));
                        if (!nv)
                                goto oom;
                        v = nv;
                }
                if (!(v[n] = strdup(e->d_name)))
                        goto oom;
                n++;
        }
        closedir(d);
        if (n)
                qsort(v, n, sizeof(*v), strcmp_p);
        *ret = v;
        *ret_n = n;
        return 0;
oom:
        closedir(d);
        lb_strv_free(v, n);
        return -ENOMEM;
}

void lb_strv_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}
