#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The recovery media's shell library (media/rescue-lib.sh) and unattended
# plan (media/unattended.sh) on the host, without QEMU: busybox sh sources
# them with LIFEBOAT_RUN in the scratch directory, and the disks they see are
# this test's loop devices only (disks() is replaced: the host's own disks
# are never looked at); finish() and umount_all() are replaced too, and
# poweroff/reboot are stubs, so nothing ends the host.
#
#   - resolve_dev: a symbolic link to a block device gives /dev/NAME (so that
#     the repository-disk check compares the real disk); a character device
#     and a regular file are refused; a LABEL= that two devices carry is
#     refused, naming both;
#   - load_password records the disk of password_file= (PW_DISK) and
#     target_candidates leaves it out, as it leaves out the repository's
#     disk and any Lifeboat medium;
#   - target=auto: the disk of the backup (its partition table ID) is taken;
#     a single other disk only if it is blank; one holding a filesystem is
#     refused with the reason (after waiting wait= seconds for the disk of
#     the backup); a whole unattended plan whose only other disk is the key
#     stick stops and writes nothing; one with a blank disk restores onto it;
#   - repo=media: of two Lifeboat media, the one whose /lifeboat-media has
#     this boot's media ID; none or two with it: refused;
#   - the menu's number answers (nth_line): digits only, in range.
. "$(dirname "$0")/../cli/lib.sh"
. "$TEST_DIR/media-lib.sh"
[ "${RUN_MEDIA_TESTS:-1}" != 0 ] || skip_all "RUN_MEDIA_TESTS=0"
for t in busybox blkid losetup partx mkfs.ext4; do
	command -v "$t" >/dev/null 2>&1 || skip_all "missing: $t"
done

# a link in /dev (as /dev/disk/by-id/... would be), removed by the cleanup
DEVLINK=/dev/lifeboat-t0506-$$
_t0506_cleanup() {
	local rc=$?
	[ -L "$DEVLINK" ] && rm -f "$DEVLINK"
	(exit $rc)
	_cleanup
}
trap '_t0506_cleanup' EXIT
trap '_t0506_cleanup; exit 130' INT
trap '_t0506_cleanup; exit 143' TERM

# labels no other device on this machine carries
TAG=$(printf '%05d' $(($$ % 100000)))
echo "$TAG" >tag

# lib SNIPPET: run SNIPPET in busybox sh after sourcing rescue-lib.sh, with
# only the loop devices in loops.names as disks. The log goes to run/log.
mkdir -p run stubs
for p in poweroff reboot; do
	printf '#!/bin/sh\necho "stub %s called" >&2\nexit 1\n' "$p" >"stubs/$p"
	chmod +x "stubs/$p"
done
ln -s "$LIFEBOAT" stubs/lifeboat
echo /dev/null >run/consoles
: >loops.names
lib() {
	SCRATCH=$SCRATCH LIFEBOAT_RUN=$SCRATCH/run LIFEBOAT_MEDIA_INFO=$SCRATCH/media-info PATH=$SCRATCH/stubs:$PATH \
		busybox sh -c '
		. "$1"
		shift
		disks() { cat "$SCRATCH/loops.names"; }
		finish() { echo "finish $1"; exit 0; }
		umount_all() { :; }
		eval "$1"' lib "$TOP/media/rescue-lib.sh" "$@"
}
# add_loop FILE: a loop device this test made, seen as a disk by lib.
add_loop() {
	local dev
	dev=$(make_loop "$1") || return 1
	echo "${dev#/dev/}" >>loops.names
	echo "$dev"
}

test_expect_success 'setup: a GPT disk backed up into an encrypted repository on an ext4 loop device' '
	gpt_disk src.img $((16 << 20)) 5E1F0C7E-2B3D-4E5F-8A9B-0C1D2E3F4A06 <<-EOF &&
	2048 20480 0FC63DAF-8483-4772-8E79-3D69D8477DE4 9A7F6E5D-4C3B-4A29-8817-0F6E5D4C3B06 data
	EOF
	random_data 2M data | dd of=src.img bs=512 seek=2048 conv=notrunc status=none &&
	mkdir -p repo.tree &&
	printf "%s\n" "$PW" >pw &&
	lifeboat init --encrypt --repo repo.tree/repo --password-file pw >/dev/null &&
	lifeboat backup --repo repo.tree/repo --password-file pw src.img >/dev/null &&
	truncate -s 64M repo.img &&
	mkfs.ext4 -q -F -L "R$TAG" -d repo.tree repo.img &&
	add_loop repo.img >repo.dev &&
	mkdir key.tree && cp pw key.tree/pw &&
	truncate -s 8M key.img && mkfs.ext4 -q -F -L "K$TAG" -d key.tree key.img &&
	add_loop key.img >key.dev
'

test_expect_success 'resolve_dev: a link to a block device gives /dev/NAME' '
	ln -s "$(cat key.dev)" "$DEVLINK" &&
	lib "resolve_dev $DEVLINK 1 && echo \"\$RESOLVED\"; echo \"size \$(dev_size \"\$RESOLVED\") disk \$(disk_of \"\$RESOLVED\")\"" >out &&
	rm -f "$DEVLINK" &&
	expect_eq "$(sed -n 1p out)" "$(cat key.dev)" "resolved" &&
	expect_eq "$(sed -n 2p out)" "size $((8 << 20)) disk $(basename "$(cat key.dev)")" "size and disk" &&
	ln -s key.dev.link keylink && ln -s "$(cat key.dev)" key.dev.link &&
	lib "canon_dev $SCRATCH/keylink" >out &&
	expect_eq "$(cat out)" "$(cat key.dev)" "canon_dev through two links"
'

test_expect_success 'resolve_dev: a character device, a regular file, nothing: refused with the reason' '
	lib "resolve_dev /dev/null 1 && echo TAKEN \$RESOLVED; echo \"\$REASON\"" >out &&
	expect_no_grep TAKEN out &&
	expect_grep "/dev/null is not a block device" out &&
	lib "canon_dev $SCRATCH/pw && echo TAKEN; :" >out &&
	expect_no_grep TAKEN out &&
	lib "resolve_dev /dev/lifeboat-t0506-none-$$ 1 && echo TAKEN; echo \"\$REASON\"" >out &&
	expect_no_grep TAKEN out &&
	expect_grep "does not exist \(waited 1 s\)" out
'

test_expect_success 'resolve_dev: LABEL= of one device; of two devices: refused, naming both' '
	lib "resolve_dev LABEL=K$TAG 1 && echo \$RESOLVED" >out &&
	expect_eq "$(cat out)" "$(cat key.dev)" "LABEL=K$TAG" &&
	cp key.img key2.img &&
	add_loop key2.img >key2.dev &&
	lib "resolve_dev LABEL=K$TAG 1 && echo TAKEN \$RESOLVED; echo \"\$REASON\"" >out &&
	expect_no_grep TAKEN out &&
	expect_grep "LABEL=K$TAG is ambiguous: 2 devices carry it" out &&
	expect_grep "$(cat key.dev)" out &&
	expect_grep "$(cat key2.dev)" out &&
	free_loop "$(cat key2.dev)" &&
	sed -i "/^$(basename "$(cat key2.dev)")\$/d" loops.names
'

# the disks of the target tests: blank (64 MiB), the same disk as the source
# (a copy: the same partition table ID), one holding an ext4 filesystem
test_expect_success 'setup: a blank disk, a copy of the source disk, a disk with a filesystem' '
	truncate -s 64M blank.img && add_loop blank.img >blank.dev &&
	cp --sparse=always src.img same.img && truncate -s 32M same.img && add_loop same.img >same.dev &&
	truncate -s 64M full.img && mkfs.ext4 -q -F -L "F$TAG" full.img && add_loop full.img >full.dev
'

# open.sh: open the repository, read the password file and the snapshot,
# the identity of image 1
test_expect_success 'load_password records the key stick; target_candidates leaves it and the repository out' '
	OPEN="open_repo $(cat repo.dev):/repo ro || { echo \"\$REASON\"; exit 1; }
	CFG_password_file=LABEL=K$TAG:/pw
	load_password || { echo \"\$REASON\"; exit 1; }
	snapshot_images latest >/dev/null || { echo \"\$REASON\"; exit 1; }
	image_identity 1
	CFG_wait=1" &&
	echo "$OPEN" >open.sh &&
	lib ". $SCRATCH/open.sh; echo pw \$PW_DISK repo \$REPO_DISK ptid \$IMG_PTID; echo cands \$(target_candidates 1 \$REPO_DISK \$PW_DISK); close_repo" >out &&
	key=$(basename "$(cat key.dev)") && repo=$(basename "$(cat repo.dev)") &&
	expect_grep "^pw $key repo $repo ptid 5e1f0c7e-2b3d-4e5f-8a9b-0c1d2e3f4a06\$" out &&
	expect_no_grep "cands.* $key" out &&
	expect_no_grep "cands.* $repo" out &&
	expect_grep "cands .*$(basename "$(cat blank.dev)")" out &&
	lib "echo cands \$(target_candidates 1)" >out &&
	expect_grep "cands .*$key" out
'

test_expect_success 'target=auto: the disk of the backup (its partition table ID), not the blank one' '
	lib ". $SCRATCH/open.sh; auto_target 1000000 \$REPO_DISK \$PW_DISK && echo TARGET \$AUTO_TARGET; cat \$RUN/auto.reason 2>/dev/null; close_repo" >out &&
	expect_grep "^TARGET $(basename "$(cat same.dev)")\$" out
'

# leave_only DEV...: of the target disks, only these are seen
leave_only() {
	local d
	{
		basename "$(cat repo.dev)"
		basename "$(cat key.dev)"
		for d in "$@"; do basename "$(cat "$d.dev")"; done
	} >loops.names
}

test_expect_success 'target=auto: a single disk that is not the disk of the backup: taken only if blank' '
	leave_only blank full &&
	lib ". $SCRATCH/open.sh; auto_target 1000000 \$REPO_DISK \$PW_DISK && echo TARGET \$AUTO_TARGET; cat \$RUN/auto.reason 2>/dev/null; close_repo" >out &&
	expect_no_grep TARGET out &&
	expect_grep "several disks could take the image" out &&
	leave_only blank &&
	lib ". $SCRATCH/open.sh; auto_target 1000000 \$REPO_DISK \$PW_DISK && echo TARGET \$AUTO_TARGET; close_repo" >out &&
	expect_grep "^TARGET $(basename "$(cat blank.dev)")\$" out &&
	expect_grep "waiting up to 1 s \(wait=\) for it to appear" run/log &&
	leave_only full &&
	t0=$(date +%s) &&
	lib ". $SCRATCH/open.sh; auto_target 1000000 \$REPO_DISK \$PW_DISK && echo TARGET \$AUTO_TARGET; cat \$RUN/auto.reason; close_repo" >out &&
	expect_no_grep TARGET out &&
	expect_grep "the only disk that could take the image, $(basename "$(cat full.dev)") .*ext4.*, is not the disk of the backup \(partition table ID 5e1f0c7e-2b3d-4e5f-8a9b-0c1d2e3f4a06\) and is not blank" out &&
	expect_grep "name it with lifeboat.target=$(cat full.dev)" out
'

# plan CONF...: the whole unattended plan (unattended.sh) with these
# configuration lines; its log in plan.log
plan() {
	: >run/log
	printf '%s\n' "$@" >plan.conf
	lib "load_conf_file $SCRATCH/plan.conf test; . $TOP/media/unattended.sh" >plan.out 2>&1
	cp run/log plan.log
}

test_expect_success 'unattended, target=auto: the key stick is the only other disk: stops, nothing written' '
	leave_only &&
	sha "$(cat key.dev)" >key.before &&
	plan restore=latest "repo=$(cat repo.dev):/repo" target=auto "password_file=LABEL=K$TAG:/pw" wait=1 &&
	expect_grep "LIFEBOAT FAILED: no disk to restore onto" plan.log &&
	expect_grep "Nothing was written to any disk, but for this log next to the repository" plan.log &&
	expect_grep "^finish poweroff" plan.out &&
	expect_eq "$(sha "$(cat key.dev)")" "$(cat key.before)" "SHA-256 of the key stick"
'

test_expect_success 'unattended, target=the key stick: refused' '
	plan restore=latest "repo=$(cat repo.dev):/repo" "target=$(cat key.dev)" "password_file=LABEL=K$TAG:/pw" wait=1 &&
	expect_grep "LIFEBOAT FAILED: the target $(cat key.dev) is the disk that holds the passphrase file" plan.log &&
	expect_eq "$(sha "$(cat key.dev)")" "$(cat key.before)" "SHA-256 of the key stick"
'

test_expect_success 'unattended, target=auto, a disk holding a filesystem: refused; a blank one: restored' '
	leave_only full &&
	sha "$(cat full.dev)" >full.before &&
	plan restore=latest "repo=$(cat repo.dev):/repo" target=auto "password_file=LABEL=K$TAG:/pw" wait=1 &&
	expect_grep "LIFEBOAT FAILED: the only disk that could take the image" plan.log &&
	expect_eq "$(sha "$(cat full.dev)")" "$(cat full.before)" "SHA-256 of the disk with a filesystem" &&
	leave_only blank &&
	plan restore=latest "repo=$(cat repo.dev):/repo" target=auto "password_file=LABEL=K$TAG:/pw" wait=1 &&
	expect_grep "Lifeboat: restore finished" plan.log &&
	cmp -n $((20480 * 512)) -i $((2048 * 512)):$((2048 * 512)) src.img "$(cat blank.dev)" &&
	expect_eq "$(blkid -p -s PTUUID -o value "$(cat blank.dev)")" 5e1f0c7e-2b3d-4e5f-8a9b-0c1d2e3f4a06 "its partition table ID" &&
	expect_eq "$(sha "$(cat key.dev)")" "$(cat key.before)" "SHA-256 of the key stick"
'

# medium NAME ID: a Lifeboat medium: a filesystem labelled LIFEBOAT_RESCUE
# with /lifeboat-media carrying ID (ext4 here, not ISO 9660: the host's
# kernel need not have isofs; the library mounts either by its type)
medium() {
	rm -rf "$1.tree" && mkdir "$1.tree" &&
		printf 'Lifeboat recovery media\nvolume=LIFEBOAT_RESCUE\nmedia_id=%s\n' "$2" >"$1.tree/lifeboat-media" &&
		truncate -s 8M "$1.img" && mkfs.ext4 -q -F -L LIFEBOAT_RESCUE -d "$1.tree" "$1.img" &&
		add_loop "$1.img" >"$1.dev"
}

test_expect_success 'repo=media: of two Lifeboat media, the one with this boot'"'"'s media ID' '
	medium old 0123456789abcdef0123456789abcdef &&
	medium new fedcba9876543210fedcba9876543210 &&
	leave_only old new blank &&
	echo media_id=fedcba9876543210fedcba9876543210 >media-info &&
	lib "boot_medium_dev && echo MEDIUM \$BOOT_MEDIUM; echo \"\$REASON\"; echo cands \$(target_candidates 1)" >out &&
	expect_grep "^MEDIUM $(cat new.dev)\$" out &&
	expect_grep "^cands $(basename "$(cat repo.dev)") $(basename "$(cat key.dev)") $(basename "$(cat blank.dev)")\$" out &&
	echo media_id=00000000000000000000000000000000 >media-info &&
	lib "boot_medium_dev && echo MEDIUM \$BOOT_MEDIUM; echo \"\$REASON\"" >out &&
	expect_no_grep MEDIUM out &&
	expect_grep "the filesystem of these media .* is not visible; other Lifeboat media, not taken: .*$(cat old.dev)" out &&
	medium new2 fedcba9876543210fedcba9876543210 &&
	leave_only old new new2 &&
	echo media_id=fedcba9876543210fedcba9876543210 >media-info &&
	lib "open_repo media ro && echo MEDIUM \$REPO_DEV; echo \"\$REASON\"" >out &&
	expect_no_grep MEDIUM out &&
	expect_grep "repo=media: several filesystems carry the ID of these media" out
'

test_expect_success 'menu numbers: digits only, in range' '
	lib ". $TOP/media/menu.sh
		for a in 1 3 03 0 4 -1 1a \"\" \"1 2\" 2p \"1;p\" \"\\\$\"; do
			printf \"%s\\n\" a b c | nth_line \"\$a\" >o && echo \"[\$a] \$(cat o)\" || echo \"[\$a] refused\"
		done" >out &&
	cat >expect <<-\EOF &&
	[1] a
	[3] c
	[03] c
	[0] refused
	[4] refused
	[-1] refused
	[1a] refused
	[] refused
	[1 2] refused
	[2p] refused
	[1;p] refused
	[$] refused
	EOF
	expect_cmp expect out
'

test_done
