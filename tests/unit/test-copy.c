/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lb_copy through the library: what it reports per snapshot, snapshot
 * selection, refusals, a failure half-way through a list of snapshots, and
 * that the result does not depend on the number of threads. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "lifeboat.h"
#include "testutil.h"
#include "util.h"

#define PASS "copy unit test"
#define MIB (1u << 20)

static char *tmp;

static char *sub(const char *name)
{
        char *p = path_join(tmp, name);
        if (!p)
                bail_out("out of memory");
        return p;
}

/* An image of n MiB: random data from the test PRNG, the last MiB zeros. */
static char *make_image(const char *name, size_t n)
{
        char *path = sub(name);
        uint8_t *buf = calloc(n, MIB);
        if (!buf)
                bail_out("out of memory");
        test_rng_fill(buf, (n - 1) * MIB);
        if (test_write_file(path, buf, n * MIB) < 0)
                bail_out("cannot write %s", path);
        free(buf);
        return path;
}

static void backup(struct lb_repo *r, const char *image, char id[65])
{
        struct lb_backup_opts bo = { .compression_level = -1, .threads = 1 };
        struct lb_backup_result res;
        const char *src[] = { image };
        if (lb_backup(r, src, 1, &bo, &res) < 0)
                bail_out("backup of %s failed: %s", image, lb_error_get() ? lb_error_get() : "?");
        memcpy(id, res.id, 65);
}

/* Every file under a/dir and b/dir has the same name and contents. */
static bool same_files(const char *a, const char *b, const char *dir)
{
        char *cmd;
        if (asprintf(&cmd, "cd '%s' && diff -r '%s/%s' '%s/%s' >/dev/null", tmp, a, dir, b, dir) < 0)
                bail_out("out of memory");
        int r = system(cmd);
        free(cmd);
        return r == 0;
}

static bool same_tree(const char *a, const char *b)
{
        return same_files(a, b, "config") && same_files(a, b, "keys") && same_files(a, b, "packs") &&
               same_files(a, b, "index") && same_files(a, b, "snapshots");
}

int main(void)
{
        struct lb_init_opts io = { .encrypt = true, .passphrase = PASS, .kdf_n = 1024 };
        struct lb_copy_opts co = { .passphrase = PASS };
        struct lb_copy_result res;
        struct lb_repo *src = NULL;
        char id1[65], id2[65];
        test_rng_seed(0xc0b1e5);
        tmp = test_mkdtemp("copy");
        _cleanup_free_ char *srcp = sub("src"), *img1 = make_image("one.img", 4), *img2 = NULL;
        _cleanup_free_ char *d1 = sub("d1"), *d2 = sub("d2"), *d3 = sub("d3"), *d4 = sub("d4"), *d5 = sub("d5");

        if (lb_repo_init(srcp, &io) < 0 || lb_repo_open(srcp, PASS, &src) < 0)
                bail_out("cannot make the source repository: %s", lb_error_get());
        backup(src, img1, id1);
        img2 = make_image("two.img", 3);
        backup(src, img2, id2);

        /* the same snapshot twice, by "latest" and by ID: copied once */
        const char *twice[] = { "latest", id2 };
        is_int(lb_copy(src, d1, twice, 2, &co, &res), 0, "copy 'latest' and its own ID");
        ok(res.created && res.nsnapshots == 1 && res.copied == 1 && res.present == 0 &&
                   strcmp(res.snapshots[0].id, id2) == 0 && res.snapshots[0].copied,
           "...one snapshot copied, into a new repository");
        ok(res.blobs == 2 + 2 && res.bytes > 2 * MIB && res.packs == 1 && res.bytes_total == 3 * MIB,
           "...2 chunks (the zero one is not stored), map and hints: blobs %llu, bytes %llu, packs %llu, image bytes %llu", (unsigned long long)res.blobs,
           (unsigned long long)res.bytes, (unsigned long long)res.packs, (unsigned long long)res.bytes_total);
        lb_copy_result_free(&res);

        /* all: the older one is copied, the newer one is there */
        is_int(lb_copy(src, d1, NULL, 0, &co, &res), 0, "copy all into the same repository");
        ok(!res.created && res.nsnapshots == 2 && res.copied == 1 && res.present == 1,
           "...one copied, one already there");
        ok(res.nsnapshots == 2 && strcmp(res.snapshots[0].id, id1) == 0 && res.snapshots[0].copied &&
                   strcmp(res.snapshots[1].id, id2) == 0 && !res.snapshots[1].copied,
           "...listed in snapshot order");
        lb_copy_result_free(&res);
        is_int(lb_copy(src, d1, NULL, 0, &co, &res), 0, "copy all again");
        ok(res.copied == 0 && res.present == 2 && res.blobs == 0 && res.bytes == 0, "...adds nothing");
        lb_copy_result_free(&res);

        /* threads do not change the output, nor does the order of the runs */
        co.threads = 1;
        is_int(lb_copy(src, d2, NULL, 0, &co, &res), 0, "copy all with 1 thread");
        lb_copy_result_free(&res);
        co.threads = 5;
        is_int(lb_copy(src, d3, NULL, 0, &co, &res), 0, "copy all with 5 threads");
        lb_copy_result_free(&res);
        co.threads = 0;
        ok(same_tree("d2", "d3"), "1 and 5 threads: identical repositories");
        ok(same_tree("d1", "d2"), "newest first, then all: identical to all at once");

        /* refusals */
        is_int(lb_copy(src, srcp, NULL, 0, &co, &res), -EINVAL, "the source itself is refused");
        ok(lb_error_get() && strstr(lb_error_get(), "is the repository being copied"), "...with a message");
        lb_copy_result_free(&res);
        const char *missing[] = { id1, "abcdef12" };
        is_int(lb_copy(src, d4, missing, 2, &co, &res), -ENOENT, "a missing snapshot is refused");
        struct stat st;
        ok(stat(d4, &st) < 0 && errno == ENOENT, "...before anything is created");
        lb_copy_result_free(&res);
        struct lb_copy_opts wrong = { .passphrase = "wrong" };
        is_int(lb_copy(src, d1, NULL, 0, &wrong, &res), -EKEYREJECTED, "a wrong passphrase for DST");
        lb_copy_result_free(&res);

        /* damage in the newer snapshot's data: the older one is copied, the
         * newer one not, and the result says so */
        lb_repo_close(src);
        src = NULL;
        _cleanup_free_ char *cmd = NULL;
        /* the pack of the second backup: the newest file in src/packs */
        if (asprintf(&cmd, "cd '%s/src' && p=$(ls -t packs/*/* | head -n1) && "
                           "printf '\\377' | dd of=$p bs=1 seek=100000 conv=notrunc status=none",
                     tmp) < 0 ||
            system(cmd) != 0)
                bail_out("cannot damage the source");
        if (lb_repo_open(srcp, PASS, &src) < 0)
                bail_out("cannot open the source again");
        int r = lb_copy(src, d5, NULL, 0, &co, &res);
        is_int(r, -EBADMSG, "copy all from a damaged source fails");
        char short2[9] = { 0 };
        memcpy(short2, id2, 8);
        ok(lb_error_get() && strstr(lb_error_get(), short2) && strstr(lb_error_get(), "is damaged in"),
           "...naming the damage: %s", lb_error_get() ? lb_error_get() : "(none)");
        ok(res.nsnapshots == 1 && res.copied == 1 && strcmp(res.snapshots[0].id, id1) == 0,
           "...after copying the older snapshot");
        lb_copy_result_free(&res);
        ok(same_files("d5", "d2", "config") && same_files("d5", "d2", "keys"), "...into a repository with the keys");

        lb_repo_close(src);
        test_rm_rf(tmp);
        free(tmp);
        return done_testing();
}
