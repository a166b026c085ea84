#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A walkthrough of Lifeboat on a sample disk (make demo): a 512 MiB ext4
# disk image on a loop device is backed up, changed, backed up again, then
# the repository is listed and verified and the latest snapshot restored to
# a file, which must be identical to the disk; then the snapshots are
# mounted (lifeboat mount --files) and the latest one's files compared. (The changes only add and
# rename files: Lifeboat does not store blocks no filesystem uses, so data
# left behind by deleted files would make the byte-wise comparison differ.) Each command is shown as it
# runs. Needs root (loop device, mount); cleans up after itself.
#
#   tests/demo.sh [-k]      -k: keep the work directory (under /tmp)
set -u
LB_DEMO=1
. "$(dirname "$0")/cli/lib.sh"
[ "${1:-}" = -k ] && TEST_KEEP=1

if [ ! -x "$LIFEBOAT" ]; then
	echo "demo: no lifeboat binary at $LIFEBOAT: run 'make build' first" >&2
	exit 1
fi

if [ -t 1 ]; then B=$'\033[1m' C=$'\033[36m' N=$'\033[0m'; else B='' C='' N=''; fi
step() {
	printf '\n%s== %s%s\n' "$B" "$*" "$N"
}
run() {
	printf '%s$ %s%s\n' "$C" "$*" "$N"
	"$@" || {
		echo "demo: FAILED: $*" >&2
		exit 1
	}
}
lifeboat() {
	"$LIFEBOAT" "$@"
}

export LIFEBOAT_REPO=$SCRATCH/repo
cd "$SCRATCH" || exit 1
echo "Lifeboat demo in $SCRATCH (binary: $LIFEBOAT)"

step "Make a sample disk: a 512 MiB sparse file with ext4 and files, on a loop device"
run truncate -s 512M disk.img
run mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L demo-disk disk.img
DISK=$(make_loop disk.img) || exit 1
echo "disk: $DISK"
run mount_fs "$DISK" mnt
fill_tree mnt 16 40
run df -h mnt
run umount mnt

step "Create a repository (LIFEBOAT_REPO=$LIFEBOAT_REPO)"
run lifeboat init

step "First backup of the disk"
run lifeboat backup "$DISK" --tag first

step "Change some files, then back up again: only the changes are stored"
run mount_fs "$DISK" mnt
run mv mnt/doc/"$(ls mnt/doc | head -n1)" mnt/moved-doc
run sh -c "openssl rand 8388608 >mnt/new-file.bin"
run cp mnt/deep/a/b/c/d/numbers.txt mnt/numbers-copy.txt
echo "a line added after the first backup" >>mnt/with*
run umount mnt
run lifeboat backup "$DISK" --tag second

step "The snapshots"
run lifeboat list
run lifeboat info latest

step "Verify the repository, reading all the data back"
run lifeboat verify --read-data

step "Restore the latest snapshot to a new file"
run lifeboat restore latest restored.img
run ls -lsh disk.img restored.img

step "Compare the restored image with the disk, byte by byte and file by file"
run cmp restored.img "$DISK"
run e2fsck -fn restored.img
run mount_fs "$DISK" mnt -o ro
run mount_fs restored.img mnt.restored -o ro,loop
run diff -r --no-dereference mnt mnt.restored
run umount mnt.restored
run umount mnt

step "Browse the snapshots without restoring them: a read-only FUSE mount"
run mkdir snapshots
run lifeboat mount --files all snapshots
run ls -l snapshots
run sh -c 'ls -l snapshots/latest/*/'
run mount_fs "$DISK" mnt -o ro
run sh -c 'diff -r --no-dereference mnt snapshots/latest/*/fs'
run sh -c 'ls snapshots/*/*/fs/new-file.bin'
run umount mnt
run lifeboat umount snapshots

echo
echo "DEMO OK: the restored image is identical to the disk ($(blockdev --getsize64 "$DISK") bytes)."
