/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lifeboat media: recovery media. The work is done by the builder script
 * media/mkrescue.sh (in the style of wimlib's mkwinpeimg); this command finds
 * the script next to the binary, in the source tree or in the installed share
 * directory and executes it with the options, telling it which lifeboat binary
 * to put on the media (this one) through LIFEBOAT_BIN. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "media-usb.h"

static const char usage[] =
        "Usage: lifeboat media create --output FILE.iso [--kernel VMLINUZ] [--repo LOCATION]\n"
        "                             [--config FILE] [--timeout S] [--append ARGS]\n"
        "       lifeboat media create --usb DEVICE [--output FILE.iso] [OPTIONS]\n"
        "Build recovery media: a hybrid ISO image (CD or USB stick, BIOS or UEFI) with a\n"
        "Linux kernel, this lifeboat binary and the tools a restore needs. Booted, it\n"
        "runs a menu on the console, or an unattended restore or backup when the\n"
        "configuration names one. See docs/RECOVERY.md.\n"
        "  --output FILE    the ISO image to write\n"
        "  --kernel FILE    the kernel (default: the newest /boot/vmlinuz-*); its modules\n"
        "                   come from /lib/modules/VERSION\n"
        "  --repo LOCATION  where the media looks for the repository: DEVICE:/PATH\n"
        "                   (DEVICE: /dev/sdb1, LABEL=name or UUID=uuid) or auto\n"
        "  --config FILE    the media's configuration (key=value lines; see\n"
        "                   media/lifeboat.conf.example)\n"
        "  --timeout S      seconds the boot menu waits (default 5)\n"
        "  --append ARGS    more kernel command line arguments\n"
        "  --include-snapshot SNAPSHOT\n"
        "                   copy this snapshot (latest or an ID) into the media: a\n"
        "                   self-contained recovery drive that restores with no other\n"
        "                   disk or network (its repository is then repo=media)\n"
        "  --include-repo PATH  the repository to copy it from (default: LIFEBOAT_REPO)\n"
        "  --password-file FILE its passphrase (or LIFEBOAT_PASSWORD)\n"
        "  --usb DEVICE     then write the image to this USB stick (the whole disk, e.g.\n"
        "                   /dev/sdc), read it back and compare; refused if it is mounted,\n"
        "                   in use, holds the running system or the repository, or is\n"
        "                   too small. Without --output the image is only on the stick\n"
        "The builder is media/mkrescue.sh; LIFEBOAT_MEDIA_DIR names its directory.\n";

/* out = a + b, if that fits and is a readable file */
static bool try_path(char *out, size_t len, const char *a, const char *b)
{
        int n = snprintf(out, len, "%s%s", a, b);
        return n > 0 && (size_t)n < len && access(out, R_OK) == 0;
}

/* The directory of the running binary, or "" */
static void exe_dir(char *buf, size_t len)
{
        ssize_t n = readlink("/proc/self/exe", buf, len - 1);
        if (n <= 0) {
                buf[0] = 0;
                return;
        }
        buf[n] = 0;
        char *slash = strrchr(buf, '/');
        if (slash)
                *slash = 0;
}

static int find_script(char *out, size_t len)
{
        const char *env = getenv("LIFEBOAT_MEDIA_DIR");
        if (env && *env)
                return try_path(out, len, env, "/mkrescue.sh") ? 0 : -ENOENT;
        char dir[PATH_MAX];
        exe_dir(dir, sizeof(dir));
        if (dir[0]) {
                /* next to it, the source tree (build/src/cli/lifeboat: media/ three levels up), or installed */
                static const char *const up[] = { "/media/mkrescue.sh", "/../media/mkrescue.sh",
                                                  "/../../media/mkrescue.sh", "/../../../media/mkrescue.sh",
                                                  "/../../../../media/mkrescue.sh",
                                                  "/../share/lifeboat/media/mkrescue.sh" };
                for (size_t i = 0; i < sizeof(up) / sizeof(up[0]); i++)
                        if (try_path(out, len, dir, up[i]))
                                return 0;
        }
        static const char *const fixed[] = { "/usr/local/share/lifeboat/media/mkrescue.sh",
                                             "/usr/share/lifeboat/media/mkrescue.sh" };
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
                if (try_path(out, len, fixed[i], ""))
                        return 0;
        return -ENOENT;
}

/* Options of mkrescue.sh that take a value (so that a value is never taken
 * for --usb). */
static bool takes_value(const char *a)
{
        static const char *const v[] = { "--output", "-o", "--kernel", "--repo", "--config", "--timeout", "--append",
                                         "--lifeboat", "--include-snapshot", "--include-repo", "--password-file" };
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
                if (!strcmp(a, v[i]))
                        return true;
        return false;
}

/* --usb: check the stick, build the image (into --output, or a temporary
 * file), then write it. args: bash, the script, the options but --usb. */
static int create_on_usb(char **args, int nargs, const char *usb)
{
        const char *repos[3] = { NULL, NULL, getenv("LIFEBOAT_REPO") }, *output = NULL;
        for (int i = 2; i + 1 < nargs; i++) {
                if (!strcmp(args[i], "--repo"))
                        repos[0] = args[i + 1];
                else if (!strcmp(args[i], "--include-repo"))
                        repos[1] = args[i + 1];
                else if (!strcmp(args[i], "--output") || !strcmp(args[i], "-o"))
                        output = args[i + 1];
        }
        for (int i = 2; i < nargs; i++) {
                if (!strncmp(args[i], "--repo=", 7))
                        repos[0] = args[i] + 7;
                else if (!strncmp(args[i], "--include-repo=", 15))
                        repos[1] = args[i] + 15;
                else if (!strncmp(args[i], "--output=", 9))
                        output = args[i] + 9;
        }
        struct media_usb_device checked;
        if (media_usb_check(usb, repos, 3, &checked))
                return 1;
        char tmpdir[PATH_MAX] = "", tmpiso[PATH_MAX + 32];
        if (!output) {
                const char *t = getenv("TMPDIR");
                snprintf(tmpdir, sizeof(tmpdir), "%s/lifeboat-usb.XXXXXX", t && *t ? t : "/tmp");
                if (!mkdtemp(tmpdir))
                        return cli_fail(-errno, "cannot make a temporary directory %s", tmpdir);
                snprintf(tmpiso, sizeof(tmpiso), "%s/lifeboat-rescue.iso", tmpdir);
                output = tmpiso;
                args[nargs++] = (char *)"--output";
                args[nargs++] = tmpiso;
        }
        args[nargs] = NULL;
        int rc = 1;
        pid_t pid = fork();
        if (pid == 0) {
                execvp("bash", args);
                fprintf(stderr, "lifeboat: cannot run %s with bash: %s\n", args[1], strerror(errno));
                _exit(127);
        }
        int status = 0;
        if (pid < 0)
                cli_fail(-errno, "cannot start %s", args[1]);
        else if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
                rc = media_usb_write(output, usb, &checked, repos, 3);
        else
                fprintf(stderr, "lifeboat: the media were not built: nothing was written to %s\n", usb);
        if (tmpdir[0]) {
                unlink(tmpiso);
                rmdir(tmpdir);
        }
        return rc;
}

int cmd_media(int argc, char **argv)
{
        if (argc < 2)
                return cli_usage_error(usage, "give a subcommand: create");
        const char *sub = argv[1];
        if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
                fputs(usage, stdout);
                return 0;
        }
        if (strcmp(sub, "create") != 0)
                return cli_usage_error(usage, "unknown subcommand '%s': use create", sub);
        for (int i = 2; i < argc; i++)
                if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                        fputs(usage, stdout);
                        return 0;
                }
        char script[PATH_MAX];
        if (find_script(script, sizeof(script)) < 0) {
                fprintf(stderr, "lifeboat: cannot find the media builder mkrescue.sh (looked next to the binary, "
                                "in the source tree and in share/lifeboat/media; set LIFEBOAT_MEDIA_DIR)\n");
                return 1;
        }
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                self[n] = 0;
                setenv("LIFEBOAT_BIN", self, 0);
        }
        char **args = calloc((size_t)argc + 4, sizeof(*args));
        if (!args)
                return cli_fail(-ENOMEM, "out of memory");
        args[0] = (char *)"bash";
        args[1] = script;
        int nargs = 2;
        const char *usb = NULL;
        for (int i = 2; i < argc; i++) {
                if (!strcmp(argv[i], "--usb") || !strncmp(argv[i], "--usb=", 6)) {
                        usb = argv[i][5] == '=' ? argv[i] + 6 : argv[i + 1];
                        if (!usb || !*usb) {
                                free(args);
                                return cli_usage_error(usage, "--usb needs a device");
                        }
                        i += argv[i][5] != '=';
                        continue;
                }
                args[nargs++] = argv[i];
                if (takes_value(argv[i]) && i + 1 < argc)
                        args[nargs++] = argv[++i];
        }
        if (usb) {
                int rc = create_on_usb(args, nargs, usb);
                free(args);
                return rc;
        }
        execvp("bash", args);
        int e = errno;
        free(args);
        fprintf(stderr, "lifeboat: cannot run %s with bash: %s\n", script, strerror(e));
        return 1;
}
