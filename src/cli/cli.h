/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the commands share: option parsing helpers, opening the repository
 * with a passphrase, error messages, progress display and JSON output. */
#pragma once

#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>

#include "lifeboat.h"

#define EXIT_USAGE 2

struct cli_common {
        const char *repo;          /* --repo or LIFEBOAT_REPO */
        const char *password_file; /* --password-file */
        bool json, quiet;
};

/* Long options every command takes; merge with the command's own. */
#define CLI_COMMON_OPTIONS                                                                                            \
        { "repo", required_argument, NULL, 'r' }, { "password-file", required_argument, NULL, 'P' },                \
                { "json", no_argument, NULL, 'J' }, { "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' }

/* Handles a common option; returns 1 if it was one, 0 if not, -1 to exit (help). */
int cli_common_opt(struct cli_common *c, int opt, const char *usage);
void cli_common_init(struct cli_common *c);

int cli_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_threads_opt(const char *arg, const char *usage, unsigned *ret);
/* Print "lifeboat: <message>" for a failed library call; returns 1. */
int cli_fail(int r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Passphrase from LIFEBOAT_PASSWORD, --password-file or the terminal.
 * confirm: ask twice (for init). Returns NULL with a message printed. */
char *cli_get_passphrase(const struct cli_common *c, const char *prompt, bool confirm);
/* Open c->repo, asking for the passphrase only if it is encrypted. */
int cli_open_repo(const struct cli_common *c, struct lb_repo **ret);
/* The same, handing over the passphrase (NULL if none was needed) to the
 * caller, who wipes and frees it. */
int cli_open_repo_pass(const struct cli_common *c, struct lb_repo **ret, char **ret_pass);

/* Route library events to stderr; progress only when stderr is a terminal. */
void cli_events_setup(const struct cli_common *c);
void cli_progress_end(void);

void cli_print_json(json_object *o); /* prints and releases */
const char *cli_bytes(uint64_t n, char buf[32]);
const char *cli_time(int64_t t, char buf[32]);

int cmd_init(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_copy(int argc, char **argv);
int cmd_forget(int argc, char **argv);
int cmd_prune(int argc, char **argv);
/* Run prune and print its result (forget --prune: after forget's JSON, which
 * it takes over, or NULL). Returns the exit code. */
int cli_prune_run(const struct cli_common *c, struct lb_repo *repo, bool dry_run, int max_unused, json_object *forget);
int cmd_media(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
