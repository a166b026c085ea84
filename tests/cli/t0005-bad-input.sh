#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Wrong arguments, sources, repositories and restore targets: a clear
# "lifeboat: ..." message, exit status 1 (2 for usage errors), and nothing
# touched.
. "$(dirname "$0")/lib.sh"

test_expect_success 'setup: a repository with a snapshot of a 64 MiB image' '
	random_file img 64M img &&
	lifeboat init --repo repo &&
	lifeboat backup --repo repo img --json | json_get "d[\"snapshot\"]" >snap.id &&
	test -s snap.id
'
SNAP=$(cat snap.id 2>/dev/null)

# ---- usage errors: exit 2 ----

test_expect_success 'no command, unknown command: exit 2 with the usage' '
	expect_exit 2 lifeboat &&
	expect_grep "^Usage: lifeboat COMMAND" last.err &&
	expect_fail 2 "unknown command .frobnicate." lifeboat frobnicate &&
	expect_grep "^Usage: lifeboat COMMAND" last.err &&
	lifeboat --help >help.out &&
	expect_grep "^  restore " help.out &&
	lifeboat --version >version.out &&
	expect_grep "^lifeboat [0-9]+\.[0-9]+" version.out
'

test_expect_success 'unknown options: exit 2' '
	for cmd in init backup list info restore verify; do
		expect_fail 2 "unknown option|unrecognized option" lifeboat $cmd --repo repo --no-such-option || exit 1
		expect_grep "^Usage: lifeboat $cmd" last.err || exit 1
	done
'

test_expect_success '--help of every command: exit 0, usage on stdout' '
	for cmd in init backup list info restore verify; do
		lifeboat $cmd --help >help.out 2>help.err &&
		expect_grep "^Usage: lifeboat $cmd" help.out &&
		test ! -s help.err || exit 1
	done
'

test_expect_success 'missing and extra arguments: exit 2' '
	expect_fail 2 "nothing to back up" lifeboat backup --repo repo &&
	expect_fail 2 "SNAPSHOT" lifeboat info --repo repo &&
	expect_fail 2 "SNAPSHOT" lifeboat info --repo repo latest latest &&
	expect_fail 2 "SNAPSHOT and a TARGET" lifeboat restore --repo repo latest &&
	expect_fail 2 "SNAPSHOT and a TARGET" lifeboat restore --repo repo latest a b &&
	expect_fail 2 "unexpected argument" lifeboat list --repo repo extra &&
	expect_fail 2 "unexpected argument" lifeboat init --repo new.repo extra &&
	test ! -e new.repo
'

test_expect_success 'bad option values: exit 2' '
	expect_fail 2 "zstd level" lifeboat backup --repo repo --compression zstd:99 img &&
	expect_fail 2 "zstd level" lifeboat backup --repo repo --compression zstd:0 img &&
	expect_fail 2 "unknown compression" lifeboat backup --repo repo --compression lz4 img &&
	expect_fail 2 "empty --tag" lifeboat backup --repo repo --tag "" img &&
	expect_fail 2 "chunk-size" lifeboat backup --repo repo --chunk-size 12Q img &&
	expect_fail 2 "threads" lifeboat backup --repo repo --threads 0 img &&
	expect_fail 2 "bad --threads .65." lifeboat backup --repo repo --threads 65 img &&
	expect_fail 2 "bad --threads .2x." lifeboat restore --repo repo --threads 2x latest x.img &&
	expect_fail 2 "image" lifeboat restore --repo repo --image 0 latest x.img &&
	expect_fail 2 "image" lifeboat restore --repo repo --image two latest x.img &&
	test ! -e x.img &&
	lifeboat list --repo repo --json >list.json &&
	expect_eq "$(json_get "len(d)" <list.json)" 1 "snapshots"
'

test_expect_success 'no repository given: exit 2' '
	expect_fail 2 "no repository.*--repo.*LIFEBOAT_REPO" lifeboat list &&
	expect_fail 2 "no repository" lifeboat backup img &&
	expect_fail 2 "no repository" lifeboat restore latest x.img &&
	expect_fail 2 "no repository" lifeboat verify &&
	expect_fail 2 "no repository" lifeboat init &&
	test ! -e x.img
'

# ---- bad sources ----

test_expect_success 'a missing source' '
	expect_fail 1 "source /nonexistent/disk.img does not exist" lifeboat backup --repo repo /nonexistent/disk.img
'

test_expect_success 'a directory as source' '
	mkdir adir &&
	expect_fail 1 "adir is a directory" lifeboat backup --repo repo adir
'

test_expect_success 'a source that cannot be opened (a device node without a device)' '
	major=$(for m in $(seq 240 254); do
		sed -n "/^Block devices:/,\$p" /proc/devices | grep -q "^ *$m " || { echo $m; break; }
	done) &&
	test -n "$major" &&
	mknod nodev b $major 77 &&
	expect_fail 1 "cannot open source .*nodev" lifeboat backup --repo repo nodev
'

test_expect_success 'a character device, a FIFO, an empty file as source' '
	expect_fail 1 "neither a block device nor a regular file" lifeboat backup --repo repo /dev/null &&
	mkfifo fifo &&
	expect_fail 1 "neither a block device nor a regular file" lifeboat backup --repo repo fifo &&
	: >empty &&
	expect_fail 1 "empty" lifeboat backup --repo repo empty
'

test_expect_success 'one bad source among good ones: no snapshot at all' '
	expect_fail 1 "does not exist" lifeboat backup --repo repo img /nonexistent img &&
	lifeboat list --repo repo --json >list.json &&
	expect_eq "$(json_get "len(d)" <list.json)" 1 "snapshots" &&
	test -z "$(ls -A repo/tmp)"
'

# A regular file with mode 000 is still readable by root, so "unreadable"
# is covered by the device node above.

# ---- bad repositories ----

test_expect_success 'a repository path that does not exist, is a file, is not a repository' '
	expect_fail 1 "does not exist" lifeboat list --repo /nonexistent/repo &&
	expect_fail 1 "not a Lifeboat repository" lifeboat list --repo img &&
	mkdir notrepo && echo hello >notrepo/file &&
	expect_fail 1 "notrepo is not a Lifeboat repository.*lifeboat init" lifeboat list --repo notrepo &&
	expect_fail 1 "not a Lifeboat repository" lifeboat backup --repo notrepo img &&
	expect_fail 1 "not a Lifeboat repository" lifeboat restore --repo notrepo latest x.img &&
	expect_fail 1 "not a Lifeboat repository" lifeboat verify --repo notrepo &&
	test ! -e x.img && test "$(ls notrepo)" = file
'

test_expect_success 'a damaged config file' '
	cp -a repo repo.badcfg &&
	echo "{ this is not json" >repo.badcfg/config &&
	expect_fail 1 "config" lifeboat list --repo repo.badcfg
'

test_expect_success 'a repository of format version 2: upgrade, and nothing written' '
	cp -a repo repo.v2 &&
	sed -i -E "s/\"version\": *1/\"version\": 2/" repo.v2/config &&
	expect_grep "\"version\": 2" repo.v2/config &&
	(cd repo.v2 && find . -type f | sort | xargs sha256sum) >v2.before &&
	expect_fail 1 "version 2.*upgrade" lifeboat list --repo repo.v2 &&
	expect_fail 1 "upgrade" lifeboat info --repo repo.v2 latest &&
	expect_fail 1 "upgrade" lifeboat backup --repo repo.v2 img &&
	expect_fail 1 "upgrade" lifeboat restore --repo repo.v2 latest x.img &&
	expect_fail 1 "upgrade" lifeboat verify --repo repo.v2 &&
	test ! -e x.img &&
	(cd repo.v2 && find . -type f | sort | xargs sha256sum) >v2.after &&
	expect_cmp v2.after v2.before
'

test_expect_success 'a repository that needs an unknown feature: upgrade' '
	cp -a repo repo.feat &&
	python3 -c "
import json, sys
c = json.load(open(sys.argv[1]))
c[\"incompat_features\"] = [\"time-travel\"]
json.dump(c, open(sys.argv[1], \"w\"))" repo.feat/config &&
	expect_fail 1 "time-travel.*upgrade" lifeboat list --repo repo.feat
'

test_expect_success 'init refuses a non-empty directory, an existing repository, a file' '
	mkdir full && echo keep >full/file &&
	expect_fail 1 "full is not empty" lifeboat init --repo full &&
	test "$(ls -A full)" = file && test "$(cat full/file)" = keep &&
	(cd repo && find . -type f | sort | xargs sha256sum) >repo.before &&
	expect_fail 1 "already a Lifeboat repository" lifeboat init --repo repo &&
	LIFEBOAT_PASSWORD=x expect_fail 1 "already a Lifeboat repository" lifeboat init --repo repo --encrypt &&
	(cd repo && find . -type f | sort | xargs sha256sum) >repo.after &&
	expect_cmp repo.after repo.before &&
	expect_fail 1 "not a directory" lifeboat init --repo img &&
	mkdir emptydir &&
	lifeboat init --repo emptydir &&
	test -s emptydir/config
'

test_expect_success 'a repository on a read-only filesystem: reading works, backup fails clearly' '
	truncate -s 96M rofs.img &&
	mkfs.ext4 -q -F rofs.img &&
	dev=$(make_loop rofs.img) &&
	mount_fs "$dev" rofs &&
	cp -a repo rofs/repo &&
	unmount_fs rofs &&
	mount_fs "$dev" rofs -o ro &&
	lifeboat list --repo rofs/repo >/dev/null &&
	lifeboat info --repo rofs/repo latest >/dev/null &&
	lifeboat verify --repo rofs/repo --read-data &&
	lifeboat restore --repo rofs/repo latest ro.img &&
	expect_cmp ro.img img &&
	expect_fail 1 "[Rr]ead-only" lifeboat backup --repo rofs/repo img &&
	unmount_fs rofs &&
	free_loop "$dev"
'

# ---- bad snapshot IDs ----

test_expect_success 'a snapshot ID that does not exist' '
	missing=$(printf "%s" "$SNAP" | cut -c1-8 | tr "0-9a-f" "1-9a-f0") &&
	expect_fail 1 "no snapshot $missing" lifeboat info --repo repo $missing &&
	expect_fail 1 "no snapshot" lifeboat restore --repo repo $missing x.img &&
	expect_fail 1 "no snapshot" lifeboat verify --repo repo $missing &&
	test ! -e x.img
'

test_expect_success 'a snapshot ID that is too short or not hex' '
	expect_fail 1 "at least 4 hex digits" lifeboat info --repo repo "$(echo $SNAP | cut -c1-3)" &&
	expect_fail 1 "not a snapshot" lifeboat info --repo repo zzzz &&
	expect_fail 1 "not a snapshot" lifeboat restore --repo repo ../../etc x.img &&
	expect_fail 1 "not a snapshot" lifeboat info --repo repo "$(echo $SNAP | tr a-f A-F)" &&
	test ! -e x.img
'

# Two real IDs sharing 4 digits would take ~300 snapshots; a second manifest
# file whose name shares the prefix is enough for the lookup.
test_expect_success 'an ambiguous snapshot ID prefix' '
	cp -a repo repo.amb &&
	p4=$(echo $SNAP | cut -c1-4) &&
	other=${p4}$(printf "%060d" 0) &&
	if [ "$other" = "$SNAP" ]; then other=${p4}$(printf "%060d" 1); fi &&
	cp repo.amb/snapshots/$SNAP repo.amb/snapshots/$other &&
	expect_fail 1 "ambiguous" lifeboat info --repo repo.amb $p4 &&
	expect_fail 1 "ambiguous" lifeboat restore --repo repo.amb $p4 x.img &&
	test ! -e x.img &&
	lifeboat info --repo repo.amb $(echo $SNAP | cut -c1-8) >info.out 2>info.err &&
	expect_grep "$SNAP" info.out
'

test_expect_success 'latest in an empty repository' '
	lifeboat init --repo empty.repo &&
	expect_fail 1 "no snapshots" lifeboat info --repo empty.repo latest &&
	expect_fail 1 "no snapshots" lifeboat restore --repo empty.repo latest x.img &&
	test ! -e x.img
'

# ---- bad restore targets ----

test_expect_success 'restore onto a directory or a character device is refused' '
	expect_fail 1 "is a directory" lifeboat restore --repo repo latest adir &&
	expect_fail 1 "neither a block device nor a regular file" lifeboat restore --repo repo latest /dev/null &&
	expect_fail 1 "cannot create target" lifeboat restore --repo repo latest no/such/dir/x.img
'

test_expect_success 'restore onto a mounted loop device is refused; the device is untouched' '
	truncate -s 64M mounted.img &&
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 mounted.img &&
	dev=$(make_loop mounted.img) &&
	mount_fs "$dev" mnt -o ro &&
	before=$(sha "$dev") &&
	expect_fail 1 "in use.*mounted on .*mnt" lifeboat restore --repo repo latest "$dev" &&
	expect_eq "$(sha "$dev")" "$before" "checksum of the device" &&
	expect_fail 1 "in use" lifeboat restore --repo repo latest "$dev" --force &&
	expect_eq "$(sha "$dev")" "$before" "checksum of the device" &&
	unmount_fs mnt &&
	free_loop "$dev"
'

test_expect_success 'restore onto a disk whose partition is mounted is refused' '
	truncate -s 80M parted.img &&
	echo "start=2048, size=100000, type=83" | sfdisk -q parted.img &&
	dev=$(make_loop_parts parted.img) &&
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 ${dev}p1 &&
	mount_fs ${dev}p1 pmnt -o ro &&
	before=$(sha "$dev") &&
	expect_fail 1 "in use.*mounted on .*pmnt" lifeboat restore --repo repo latest "$dev" &&
	expect_eq "$(sha "$dev")" "$before" "checksum of the device" &&
	unmount_fs pmnt &&
	free_loop "$dev"
'

test_expect_success 'restore onto a device smaller than the image is refused with both sizes' '
	random_file smalldev.img 32M smalldev &&
	dev=$(make_loop smalldev.img) &&
	before=$(sha "$dev") &&
	expect_fail 1 "$dev is 32.0 MiB, the image needs 64.0 MiB" lifeboat restore --repo repo latest "$dev" &&
	expect_eq "$(sha "$dev")" "$before" "checksum of the device" &&
	expect_eq "$(sha smalldev.img)" "$before" "checksum of the backing file" &&
	free_loop "$dev"
'

test_expect_success 'restore onto a device one sector too small is refused' '
	random_file almost.img $((64 * 1024 * 1024 - 512)) almost &&
	dev=$(make_loop almost.img) &&
	before=$(sha "$dev") &&
	expect_fail 1 "the image needs" lifeboat restore --repo repo latest "$dev" &&
	expect_eq "$(sha "$dev")" "$before" "checksum of the device" &&
	free_loop "$dev"
'

test_expect_success 'restore onto a larger device works and leaves the rest alone' '
	random_file bigdev.img 80M bigdev &&
	dev=$(make_loop bigdev.img) &&
	tail_before=$(tail -c 16M bigdev.img | sha256sum) &&
	lifeboat restore --repo repo latest "$dev" &&
	cmp -n 67108864 "$dev" img &&
	free_loop "$dev" &&
	expect_eq "$(tail -c 16M bigdev.img | sha256sum)" "$tail_before" "the rest of the device"
'

test_expect_success 'the repository is still clean' '
	lifeboat verify --repo repo --read-data
'

test_done
