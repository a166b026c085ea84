/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The chunk index: index files written to a real (temporary) repository,
 * loaded, looked up; damaged files are skipped and reported; the plaintext
 * parser rejects inconsistent buffers. */
#include <errno.h>
#include <string.h>

#include "blob.h"
#include "chunkindex.h"
#include "format.h"
#include "lifeboat.h"
#include "repo.h"
#include "testutil.h"
#include "util.h"

#define NIDS 1200
#define NABSENT 1000

static uint8_t ids[NIDS + 16][LB_ID_SIZE], absent[NABSENT][LB_ID_SIZE];
static uint8_t packs[4][LB_ID_SIZE];

/* What the loaded index must say about ids[i]. */
struct want {
        int pack; /* into packs[] */
        uint64_t offset;
        uint32_t length;
};
static struct want want[NIDS];

static char warnings[8192];
static void on_event(enum lb_event ev, const char *msg, const struct lb_progress *p, void *userdata)
{
        (void)p;
        (void)userdata;
        if (ev == LB_EVENT_WARNING && msg && strlen(warnings) + strlen(msg) + 2 < sizeof(warnings)) {
                strcat(warnings, msg);
                strcat(warnings, "\n");
        }
}

static void set_want(int i, int pack, uint64_t offset, uint32_t length)
{
        want[i] = (struct want){ .pack = pack, .offset = offset, .length = length };
}

/* Writes one index file with entries ids[from..to) using the given pack
 * table (indices into packs[]); returns the new file's name. */
static char *write_index(struct lb_repo *r, const int *table, size_t ntable, int from, int to)
{
        uint8_t (*pt)[LB_ID_SIZE] = calloc(ntable ? ntable : 1, LB_ID_SIZE);
        struct lb_index_entry *v = calloc(to > from ? (size_t)(to - from) : 1, sizeof(*v));
        char **before = NULL, **after = NULL, *name = NULL;
        size_t nbefore = 0, nafter = 0;
        for (size_t k = 0; k < ntable; k++)
                memcpy(pt[k], packs[table[k]], LB_ID_SIZE);
        for (int i = from; i < to; i++) {
                struct lb_index_entry *e = &v[i - from];
                memcpy(e->id, ids[i], LB_ID_SIZE);
                for (size_t k = 0; k < ntable; k++)
                        if (table[k] == want[i].pack)
                                e->loc.pack = (uint32_t)k;
                e->loc.offset = want[i].offset;
                e->loc.length = want[i].length;
        }
        if (lb_repo_list_meta(r, "index", &before, &nbefore) < 0)
                bail_out("lb_repo_list_meta failed");
        int k = lb_index_file_write(r, (const uint8_t(*)[LB_ID_SIZE])pt, ntable, v, (size_t)(to - from));
        if (k < 0)
                bail_out("lb_index_file_write: %s", strerror(-k));
        if (lb_repo_list_meta(r, "index", &after, &nafter) < 0 || nafter != nbefore + 1)
                bail_out("index file count did not grow by one");
        for (size_t a = 0; a < nafter && !name; a++) {
                bool old = false;
                for (size_t b = 0; b < nbefore; b++)
                        old = old || strcmp(after[a], before[b]) == 0;
                if (!old)
                        name = strdup(after[a]);
        }
        lb_strv_free(before, nbefore);
        lb_strv_free(after, nafter);
        free(pt);
        free(v);
        return name;
}

static bool in_range(int i, const int (*ranges)[2], size_t n)
{
        for (size_t k = 0; k < n; k++)
                if (i >= ranges[k][0] && i < ranges[k][1])
                        return true;
        return false;
}

/* Checks every lookup of the loaded index: ids in present ranges must be
 * found with their location, all others must be missing. */
static void check_index(const char *what, const struct lb_chunk_index *x, const int (*present)[2], size_t npresent)
{
        size_t expect_n = 0;
        int wrong = 0, missing = 0, extra = 0;
        for (int i = 0; i < NIDS; i++) {
                struct lb_loc loc;
                int f = lb_chunk_index_lookup(x, ids[i], &loc);
                if (in_range(i, present, npresent)) {
                        expect_n++;
                        if (f != 1) {
                                if (!missing)
                                        diag("ids[%d] is missing", i);
                                missing++;
                        } else if (loc.pack >= x->npacks ||
                                   memcmp(x->packs[loc.pack], packs[want[i].pack], LB_ID_SIZE) != 0 ||
                                   loc.offset != want[i].offset || loc.length != want[i].length) {
                                if (!wrong)
                                        diag("ids[%d]: pack %u offset %llu length %u", i, loc.pack,
                                             (unsigned long long)loc.offset, loc.length);
                                wrong++;
                        }
                } else if (f != 0) {
                        if (!extra)
                                diag("ids[%d] should not be there", i);
                        extra++;
                }
        }
        is_int(x->n, expect_n, "%s: index holds %zu entries", what, expect_n);
        is_int(missing, 0, "%s: every present ID is found", what);
        is_int(wrong, 0, "%s: every location is right (pack ID, offset, length)", what);
        is_int(extra, 0, "%s: IDs of damaged/unwritten files are not found", what);

        int found = 0;
        for (int i = 0; i < NABSENT; i++)
                found += lb_chunk_index_lookup(x, absent[i], NULL) != 0;
        found += lb_chunk_index_lookup(x, lb_id_zero, NULL) != 0;
        uint8_t ff[LB_ID_SIZE];
        memset(ff, 0xff, sizeof(ff));
        found += lb_chunk_index_lookup(x, ff, NULL) != 0;
        is_int(found, 0, "%s: %d absent IDs (and 00..00, ff..ff) are not found", what, NABSENT);

        bool sorted = true, fan = x->fanout[0] == 0 && x->fanout[256] == x->n;
        for (size_t i = 1; i < x->n; i++)
                sorted = sorted && memcmp(x->v[i - 1].id, x->v[i].id, LB_ID_SIZE) < 0;
        for (size_t i = 0; i < x->n; i++)
                fan = fan && x->fanout[x->v[i].id[0]] <= i && i < x->fanout[x->v[i].id[0] + 1];
        ok(sorted, "%s: entries are strictly sorted (no duplicates)", what);
        ok(fan, "%s: the fan-out table brackets every entry", what);
}

static void test_repo(bool encrypted)
{
        const char *mode = encrypted ? "encrypted" : "plain";
        char *dir = test_mkdtemp("index");
        struct lb_init_opts o = { .encrypt = encrypted, .passphrase = "index test", .kdf_n = 1024 };
        struct lb_repo *r = NULL;
        struct lb_chunk_index *x = NULL, *x2 = NULL;

        is_int(lb_repo_init(dir, &o), 0, "%s: lb_repo_init(%s)", mode, dir);
        is_int(lb_repo_open(dir, encrypted ? o.passphrase : NULL, &r), 0, "%s: lb_repo_open", mode);
        if (!r)
                bail_out("cannot open the test repository: %s", lb_error_get());

        is_int(lb_chunk_index_load(r, &x), 0, "%s: loading the index of an empty repository", mode);
        ok(x && x->n == 0 && x->npacks == 0 && x->ndamaged == 0, "%s: ...gives an empty index", mode);
        ok(x && lb_chunk_index_lookup(x, ids[0], NULL) == 0, "%s: ...where nothing is found", mode);
        lb_chunk_index_free(x);

        /* A: ids 0..499 in packs 0 and 1; B: 400..899 (400..499 again, at the
         * same place) in packs 1 and 2 with pack 1 numbered differently; C:
         * 900..1199 in pack 3; D: an empty index file. */
        for (int i = 0; i < NIDS; i++) {
                if (i < 400)
                        set_want(i, i % 2, (uint64_t)i * 1000, 100 + (uint32_t)i);
                else if (i < 500)
                        set_want(i, 1, (uint64_t)i * 1000, 100 + (uint32_t)i);
                else if (i < 900)
                        set_want(i, 2, (uint64_t)i << 33, 48 + (uint32_t)i); /* offsets beyond 4 GiB */
                else
                        set_want(i, 3, (uint64_t)i * 77, LB_BLOB_MAX_PLAIN + 48 + LB_BLOB_ENC_OVERHEAD);
        }
        char *a = write_index(r, (const int[]){ 0, 1 }, 2, 0, 500);
        char *b = write_index(r, (const int[]){ 1, 2 }, 2, 400, 900);
        char *c = write_index(r, (const int[]){ 3 }, 1, 900, 1200);
        char *d = write_index(r, NULL, 0, 0, 0);
        ok(a && b && c && d, "%s: four index files written", mode);

        /* Not index files: ignored by the loader. */
        char *junk = NULL;
        if (asprintf(&junk, "%s/index/README", dir) < 0)
                bail_out("out of memory");
        test_write_file(junk, "not an index", 12);
        free(junk);

        warnings[0] = 0;
        is_int(lb_chunk_index_load(r, &x), 0, "%s: lb_chunk_index_load", mode);
        is_int(x->ndamaged, 0, "%s: no damaged files", mode);
        is_int(x->npacks, 4, "%s: four distinct packs", mode);
        is_str(warnings, "", "%s: no warnings", mode);
        check_index(mode, x, (const int[][2]){ { 0, NIDS } }, 1);
        lb_chunk_index_free(x);

        is_int(lb_repo_index(r, &x), 0, "%s: lb_repo_index loads", mode);
        is_int(lb_repo_index(r, &x2), 0, "%s: lb_repo_index again", mode);
        ok(x == x2 && x == r->index, "%s: ...returns the cached index", mode);

        /* Damage B: its own entries (500..899) disappear, 400..499 stay (A has them). */
        _cleanup_free_ char *bpath = NULL;
        if (asprintf(&bpath, "%s/index/%s", dir, b) < 0)
                bail_out("out of memory");
        is_int(test_flip_byte(bpath, 100, 0x04), 0, "%s: flip a byte of index file B", mode);
        warnings[0] = 0;
        is_int(lb_chunk_index_load(r, &x), 0, "%s: loading with a damaged file still succeeds", mode);
        ok(x->ndamaged == 1 && strcmp(x->damaged[0], b) == 0, "%s: B is listed as damaged", mode);
        ok(strstr(warnings, b) != NULL, "%s: a warning names B", mode);
        check_index("damaged B", x, (const int[][2]){ { 0, 500 }, { 900, NIDS } }, 2);
        lb_chunk_index_free(x);

        /* Files with a valid checksum and blob but inconsistent contents. */
        char name[2 * LB_ID_SIZE + 1];
        uint8_t buf[8 + 2 * LB_ID_SIZE + 4 * 48];
        memset(buf, 0, sizeof(buf));
        le32_put(buf, 1);     /* npacks */
        le32_put(buf + 4, 5); /* nentries: does not match the length */
        is_int(lb_repo_write_meta(r, "index", LB_INDEX_MAGIC, LB_BLOB_INDEX, buf, 8 + LB_ID_SIZE + 4 * 48, name), 0,
               "%s: write an index file whose counts do not add up", mode);
        char *e = strdup(name);
        /* Four entries for ids 1200..1203; the last names pack 1 of 1. */
        le32_put(buf + 4, 4);
        memcpy(buf + 8, packs[3], LB_ID_SIZE);
        for (int i = 0; i < 4; i++) {
                uint8_t *q = buf + 8 + LB_ID_SIZE + 48 * i;
                memcpy(q, ids[NIDS + i], LB_ID_SIZE);
                le32_put(q + 32, i == 3 ? 1 : 0);
                le32_put(q + 36, 1000);
                le64_put(q + 40, 4096 * (uint64_t)i);
        }
        is_int(lb_repo_write_meta(r, "index", LB_INDEX_MAGIC, LB_BLOB_INDEX, buf, 8 + LB_ID_SIZE + 4 * 48, name), 0,
               "%s: write an index file with a pack number out of range", mode);
        char *f = strdup(name);
        /* A manifest blob in index/: wrong blob type. */
        is_int(lb_repo_write_meta(r, "index", LB_INDEX_MAGIC, LB_BLOB_MANIFEST, buf, 8, name), 0,
               "%s: write an index file holding a blob of the wrong type", mode);
        char *g = strdup(name);

        warnings[0] = 0;
        is_int(lb_chunk_index_load(r, &x), 0, "%s: loading with four bad files succeeds", mode);
        is_int(x->ndamaged, 4, "%s: four files listed as damaged", mode);
        bool listed = true;
        const char *bad_names[] = { b, e, f, g };
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
                bool in = false;
                for (size_t k = 0; k < x->ndamaged; k++)
                        in = in || strcmp(x->damaged[k], bad_names[i]) == 0;
                listed = listed && in;
        }
        ok(listed, "%s: ...namely B, the bad-count, bad-pack and wrong-type files", mode);
        int leaked = 0;
        for (int i = 0; i < 4; i++)
                leaked += lb_chunk_index_lookup(x, ids[NIDS + i], NULL);
        is_int(leaked, 0, "%s: valid-looking entries before the bad one in the same file are dropped too", mode);
        check_index("four bad files", x, (const int[][2]){ { 0, 500 }, { 900, NIDS } }, 2);
        lb_chunk_index_free(x);

        free(a), free(b), free(c), free(d), free(e), free(f), free(g);
        lb_repo_close(r);
        is_int(test_rm_rf(dir), 0, "%s: remove %s", mode, dir);
        free(dir);
}

/* A valid index plaintext: packs p0 p1, three entries. */
static size_t build_plain(uint8_t *buf, uint32_t np, uint32_t ne)
{
        le32_put(buf, np);
        le32_put(buf + 4, ne);
        uint8_t *q = buf + 8;
        for (uint32_t i = 0; i < np; i++, q += LB_ID_SIZE)
                memcpy(q, packs[i], LB_ID_SIZE);
        for (uint32_t i = 0; i < ne; i++, q += 48) {
                memcpy(q, ids[i], LB_ID_SIZE);
                le32_put(q + 32, np ? (i + 1) % np : 0);
                le32_put(q + 36, 48 + i);
                le64_put(q + 40, ((uint64_t)i << 40) | 12345);
        }
        return (size_t)(q - buf);
}

static void test_parse(void)
{
        uint8_t buf[8 + 4 * LB_ID_SIZE + 8 * 48 + 1];
        struct lb_chunk_index *x = NULL;
        size_t len = build_plain(buf, 2, 3);
        int r;

        r = lb_index_parse(buf, len, &x);
        is_int(r, 0, "lb_index_parse of a valid plaintext");
        if (r == 0) {
                bool same = x->n == 3 && x->npacks == 2 && memcmp(x->packs[0], packs[0], LB_ID_SIZE) == 0 &&
                            memcmp(x->packs[1], packs[1], LB_ID_SIZE) == 0;
                for (uint32_t i = 0; same && i < 3; i++)
                        same = memcmp(x->v[i].id, ids[i], LB_ID_SIZE) == 0 && x->v[i].loc.pack == (i + 1) % 2 &&
                               x->v[i].loc.length == 48 + i && x->v[i].loc.offset == (((uint64_t)i << 40) | 12345);
                ok(same, "...gives the packs and entries in file order");
                lb_chunk_index_free(x);
        } else
                ok(false, "...gives the packs and entries in file order");

        len = build_plain(buf, 0, 0);
        ok(lb_index_parse(buf, len, &x) == 0 && x->n == 0 && x->npacks == 0, "empty index (0 packs, 0 entries) parses");
        lb_chunk_index_free(x);

        /* The same pack twice in one table: both numbers map to one pack. */
        len = build_plain(buf, 2, 2);
        memcpy(buf + 8 + LB_ID_SIZE, packs[0], LB_ID_SIZE);
        r = lb_index_parse(buf, len, &x);
        ok(r == 0 && x->npacks == 1 && x->v[0].loc.pack == 0 && x->v[1].loc.pack == 0,
           "a pack listed twice is stored once and both numbers map to it");
        if (r == 0)
                lb_chunk_index_free(x);

#define BAD(what, l)                                                                          \
        do {                                                                                  \
                x = NULL;                                                                     \
                is_int(lb_index_parse(buf, (l), &x), -EBADMSG, "malformed: %s", what);        \
                ok(x == NULL, "...and *ret is untouched");                                    \
        } while (0)

        len = build_plain(buf, 2, 3);
        BAD("empty buffer", 0);
        BAD("7 bytes", 7);
        BAD("one byte short", len - 1);
        BAD("one byte too long", len + 1);
        le32_put(buf + 4, 4);
        BAD("nentries one too many", len);
        le32_put(buf + 4, 2);
        BAD("nentries one too few", len);
        le32_put(buf + 4, 0xffffffffu);
        BAD("nentries 2^32-1", len);
        le32_put(buf + 4, 3);
        le32_put(buf, 3);
        BAD("npacks one too many", len);
        le32_put(buf, 0xffffffffu);
        BAD("npacks 2^32-1", len);
        len = build_plain(buf, 2, 3);
        uint8_t *e2 = buf + 8 + 2 * LB_ID_SIZE + 2 * 48;
        le32_put(e2 + 32, 2);
        BAD("pack number == npacks", len);
        le32_put(e2 + 32, 0xffffffffu);
        BAD("pack number 2^32-1", len);
        le32_put(e2 + 32, 0);
        le32_put(e2 + 36, 47);
        BAD("blob length 47 (shorter than a blob header)", len);
        le32_put(e2 + 36, 48);
        x = NULL;
        ok(lb_index_parse(buf, len, &x) == 0, "blob length 48 is accepted");
        lb_chunk_index_free(x);

        len = build_plain(buf, 0, 1);
        BAD("an entry but no packs", len);
}

int main(void)
{
        test_rng_seed(0x1de7);
        test_rng_fill(ids, sizeof(ids));
        test_rng_fill(absent, sizeof(absent));
        test_rng_fill(packs, sizeof(packs));
        lb_set_event_handler(on_event, NULL);
        test_repo(false);
        test_repo(true);
        test_parse();
        return done_testing();
}
