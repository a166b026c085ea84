/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Without libFuzzer: run LLVMFuzzerTestOneInput once on every file named on
 * the command line or found (non-recursively) in a directory named there.
 * Arguments starting with '-' are ignored, so libFuzzer-style options do
 * no harm. Fails when an input cannot be read or no input was found. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        if (!f) {
                fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
                return -1;
        }
        uint8_t *buf = NULL;
        size_t n = 0, cap = 0;
        for (;;) {
                if (n == cap) {
                        cap = cap ? 2 * cap : 65536;
                        uint8_t *nb = realloc(buf, cap);
                        if (!nb) {
                                fclose(f);
                                free(buf);
                                return -1;
                        }
                        buf = nb;
                }
                size_t k = fread(buf + n, 1, cap - n, f);
                n += k;
                if (k == 0)
                        break;
        }
        int err = ferror(f);
        fclose(f);
        if (err) {
                fprintf(stderr, "cannot read %s\n", path);
                free(buf);
                return -1;
        }
        /* An exact-size copy, so that AddressSanitizer sees reads past the end. */
        uint8_t *exact = malloc(n ? n : 1);
        if (!exact) {
                free(buf);
                return -1;
        }
        memcpy(exact, buf, n);
        free(buf);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
        return 0;
}

static int filter(const struct dirent *e) { return e->d_name[0] != '.'; }

int main(int argc, char **argv)
{
        size_t runs = 0;
        int failed = 0;
        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (argv[i][0] == '-')
                        continue;
                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        failed = 1;
                        continue;
                }
                if (!S_ISDIR(st.st_mode)) {
                        if (run_file(argv[i]) < 0)
                                failed = 1;
                        else
                                runs++;
                        continue;
                }
                struct dirent **v;
                int n = scandir(argv[i], &v, filter, alphasort);
                if (n < 0) {
                        fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
                        failed = 1;
                        continue;
                }
                for (int k = 0; k < n; k++) {
                        char *p;
                        if (asprintf(&p, "%s/%s", argv[i], v[k]->d_name) < 0)
                                return 1;
                        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
                                if (run_file(p) < 0)
                                        failed = 1;
                                else
                                        runs++;
                        }
                        free(p);
                        free(v[k]);
                }
                free(v);
        }
        printf("%s: ran %zu inputs\n", argc > 0 ? argv[0] : "replay", runs);
        if (runs == 0) {
                fprintf(stderr, "no inputs found\n");
                return 1;
        }
        return failed;
}
