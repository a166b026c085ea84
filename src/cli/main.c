/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lifeboat: the command table. Each command lives in cmd-<verb>.c and owns
 * its usage text and options. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *summary;
} commands[] = {
        { "init", cmd_init, "create a repository" },
        { "backup", cmd_backup, "back up block devices or image files into a snapshot" },
        { "list", cmd_list, "list the snapshots of a repository" },
        { "info", cmd_info, "show a snapshot's images and statistics" },
        { "restore", cmd_restore, "restore an image of a snapshot to a device or file" },
        { "verify", cmd_verify, "check a repository's structure and data" },
        { "diff", cmd_diff, "show which byte ranges of a disk changed between two snapshots" },
        { "copy", cmd_copy, "copy snapshots into another repository (an off-site copy)" },
        { "forget", cmd_forget, "remove snapshots: named ones, or those a retention policy does not keep" },
        { "prune", cmd_prune, "delete the data no snapshot uses any more, repack partly used packs" },
        { "media", cmd_media, "build recovery media: a bootable ISO that restores or backs up offline" },
        { "mount", cmd_mount, "mount the snapshots read-only (FUSE), with --files their filesystems" },
        { "umount", cmd_umount, "undo what 'lifeboat mount' set up at a mount point" },
};

static void usage(FILE *f)
{
        fprintf(f, "Usage: lifeboat COMMAND [OPTIONS]\n\nCommands:\n");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "\nEvery command takes --repo PATH (or LIFEBOAT_REPO), --password-file FILE\n"
                   "(or LIFEBOAT_PASSWORD), --json and --help. See lifeboat(1).\n");
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                usage(stderr);
                return EXIT_USAGE;
        }
        const char *cmd = argv[1];
        if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
                usage(stdout);
                return 0;
        }
        if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
                printf("lifeboat %s\n", LIFEBOAT_VERSION);
                return 0;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (!strcmp(cmd, commands[i].name))
                        return commands[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "lifeboat: unknown command '%s'\n", cmd);
        usage(stderr);
        return EXIT_USAGE;
}
