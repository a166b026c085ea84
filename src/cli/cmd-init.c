/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
        "Usage: lifeboat init --repo PATH [--encrypt] [--chunk-size BYTES]\n"
        "Create a repository in PATH (a new or empty directory).\n"
        "  --encrypt          encrypt everything (AES-256-GCM); the passphrase comes from\n"
        "                     LIFEBOAT_PASSWORD, --password-file, or is asked twice\n"
        "  --chunk-size N     default chunk size of images, a power of two from 64K to 8M\n";

int cmd_init(int argc, char **argv)
{
        static const struct option opts[] = { CLI_COMMON_OPTIONS, { "encrypt", no_argument, NULL, 'e' },
                                              { "chunk-size", required_argument, NULL, 'c' }, {} };
        struct cli_common c;
        struct lb_init_opts io = { 0 };
        int opt;
        cli_common_init(&c);
        while ((opt = getopt_long(argc, argv, "r:P:Jqhe", opts, NULL)) != -1) {
                int k = cli_common_opt(&c, opt, usage);
                if (k < 0)
                        return 0;
                if (k)
                        continue;
                switch (opt) {
                case 'e': io.encrypt = true; break;
                case 'c': {
                        char *end;
                        unsigned long long v = strtoull(optarg, &end, 10);
                        if (*end == 'K' || *end == 'k') v <<= 10, end++;
                        else if (*end == 'M' || *end == 'm') v <<= 20, end++;
                        if (*end || v == 0 || v > (8u << 20))
                                return cli_usage_error(usage, "bad --chunk-size '%s'", optarg);
                        io.chunk_size = (uint32_t)v;
                        break;
                }
                default: return cli_usage_error(usage, "unknown option");
                }
        }
        if (optind < argc)
                return cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
        if (!c.repo)
                return cli_usage_error(usage, "no repository: use --repo PATH or set LIFEBOAT_REPO");
        char *pass = NULL;
        if (io.encrypt) {
                pass = cli_get_passphrase(&c, "New passphrase: ", true);
                if (!pass)
                        return 1;
                io.passphrase = pass;
        }
        const char *kdf = getenv("LIFEBOAT_TEST_KDF_N"); /* tests: cheaper key derivation */
        if (kdf)
                io.kdf_n = strtoull(kdf, NULL, 10);
        int r = lb_repo_init(c.repo, &io);
        if (pass) {
                memset(pass, 0, strlen(pass));
                free(pass);
        }
        if (r < 0)
                return cli_fail(r, "cannot create repository %s", c.repo);
        if (c.json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "repository", json_object_new_string(c.repo));
                json_object_object_add(o, "encrypted", json_object_new_boolean(io.encrypt));
                cli_print_json(o);
        } else if (!c.quiet) {
                printf("Created %srepository %s\n", io.encrypt ? "encrypted " : "", c.repo);
                if (io.encrypt)
                        printf("Keep the passphrase safe: without it the backups cannot be read.\n");
        }
        return 0;
}
