/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The reader (the mount's random access to images): a snapshot made after
 * the context loaded the index is read at once, through a reload of the
 * index when index/ changed, not only once the load is a few seconds old. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "lifeboat.h"
#include "reader.h"
#include "testutil.h"
#include "util.h"

#define MIB (1u << 20)

static char *tmp;

/* An image of n MiB of random data from the test PRNG. */
static char *make_image(const char *name, size_t n, uint8_t **ret_data)
{
        char *path = path_join(tmp, name);
        uint8_t *buf = malloc(n * MIB);
        if (!path || !buf)
                bail_out("out of memory");
        test_rng_fill(buf, n * MIB);
        if (test_write_file(path, buf, n * MIB) < 0)
                bail_out("cannot write %s", path);
        *ret_data = buf;
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

/* Reads image 0 of snapshot id through c and compares it with want. */
static int read_all(struct lb_reader_ctx *c, struct lb_repo *r, const char *id, const uint8_t *want, size_t n)
{
        struct lb_snapshot *s;
        struct lb_image_reader *rd;
        if (lb_snapshot_find(r, id, &s) < 0)
                bail_out("cannot find snapshot %s", id);
        int k = lb_image_reader_open_ctx(c, s, 0, &rd);
        lb_snapshot_free(s);
        if (k < 0)
                return k;
        uint8_t *buf = malloc(n);
        ssize_t got = buf ? lb_image_reader_pread(rd, buf, n, 0) : -ENOMEM;
        k = got < 0 ? (int)got : (size_t)got != n || memcmp(buf, want, n) ? -EBADMSG : 0;
        free(buf);
        lb_image_reader_close(rd);
        return k;
}

int main(void)
{
        struct lb_init_opts io = { 0 };
        struct lb_repo *r = NULL, *writer = NULL;
        struct lb_reader_ctx *c = NULL;
        struct lb_reader_stats st;
        uint8_t *d1, *d2;
        char id1[65], id2[65];
        test_rng_seed(0x4eade4);
        tmp = test_mkdtemp("reader");
        _cleanup_free_ char *repo = path_join(tmp, "repo"), *img1 = make_image("one.img", 2, &d1),
                            *img2 = make_image("two.img", 2, &d2);
        if (!repo || lb_repo_init(repo, &io) < 0 || lb_repo_open(repo, NULL, &r) < 0 ||
            lb_repo_open(repo, NULL, &writer) < 0)
                bail_out("cannot make the repository: %s", lb_error_get() ? lb_error_get() : "?");
        backup(writer, img1, id1);
        /* index/ changed more than a second before the load: its time can be trusted */
        sleep(2);
        struct lb_reader_opts o = { .no_readahead = true };
        is_int(lb_reader_ctx_new(r, &o, &c), 0, "a reader context");
        is_int(read_all(c, r, id1, d1, 2 * MIB), 0, "the first snapshot reads back");
        /* a new snapshot, well within the 3 s after the load */
        backup(writer, img2, id2);
        is_int(read_all(c, r, id2, d2, 2 * MIB), 0, "a snapshot made right after the load reads back");
        lb_reader_ctx_stats(c, &st);
        ok(st.index_reloads == 1 && st.failures == 0, "...through one reload of the index (%llu), no failure (%llu)",
           (unsigned long long)st.index_reloads, (unsigned long long)st.failures);
        is_int(read_all(c, r, id1, d1, 2 * MIB), 0, "the first snapshot still reads back");

        lb_reader_ctx_free(c);
        lb_repo_close(writer);
        lb_repo_close(r);
        free(d1);
        free(d2);
        test_rm_rf(tmp);
        free(tmp);
        return done_testing();
}
