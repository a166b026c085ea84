#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Whole disks that are not as they should be, and targets that must not be
# written: a partition of unknown content and a damaged ext4 (both stored
# whole, restored byte for byte), a target disk that is too small, mounted
# or used as swap (refused, untouched), a source with a filesystem mounted
# read-write (refused without --live, marked with it), a repository on the
# disk being imaged (refused), a damaged primary GPT header and a GPT disk
# with both headers destroyed.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/disk-lib.sh"

require_tools sfdisk partx mkfs.ext4 e2fsck dumpe2fs mkswap swapon swapoff blkid getfattr

DISK_SIZE=$((256 << 20))

# snapshots REPO: how many snapshots the repository has.
snapshots() {
	lifeboat list --repo "$1" --json | json_get "len(d)"
}

test_expect_success 'setup: a GPT disk with ext4, random bytes, and a damaged ext4' '
	make_disk disk.img 256M <<-EOF &&
	label: gpt
	start=2048, size=100MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="good"
	size=32MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="unknown"
	size=64MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="damaged"
	EOF
	src=$(disk_loop disk.img) &&
	echo "$src" >src.dev &&
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L good "$(part $src 1)" &&
	mount_fs "$(part $src 1)" mnt &&
	fill_tree mnt 4 2 &&
	unmount_fs mnt &&
	mount_ro "$(part $src 1)" mnt ext4 &&
	save_tree mnt ref.1 &&
	unmount_fs mnt &&
	random_data 32M unknown >"$(part $src 2)" &&
	test -z "$(blkid_value "$(part $src 2)" TYPE)" &&
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L damaged "$(part $src 3)" &&
	mount_fs "$(part $src 3)" mnt &&
	fill_tree mnt 2 1 &&
	unmount_fs mnt &&
	# invert the first byte of the block bitmap of group 0
	bs=$(dumpe2fs -h "$(part $src 3)" 2>/dev/null | sed -nE "s/^Block size: *//p") &&
	bb=$(dumpe2fs "$(part $src 3)" 2>/dev/null | sed -nE "s/^ *Block bitmap at ([0-9]+) .*/\1/p" | head -n 1) &&
	info "block bitmap of group 0 at block $bb of $bs bytes" &&
	flip_byte "$(part $src 3)" $((bb * bs)) &&
	sync &&
	! e2fsck -fn "$(part $src 3)" >fsck.out 2>&1 &&
	expect_grep "Block bitmap differences" fsck.out &&
	sfdisk -d "$src" >src.table
'
SRC=$(cat src.dev 2>/dev/null)

test_expect_success 'backup stores the unknown and the damaged partition whole, with a warning for the damage' '
	lifeboat init --repo repo &&
	lifeboat backup --repo repo "$SRC" --json >b1.json 2>b1.err &&
	cat b1.err >&2 &&
	expect_grep "^lifeboat: warning: .*partition 3.*ext4.*(bitmap|checksum)" b1.err &&
	lifeboat info --repo repo latest --json >info.json &&
	expect_eq "$(json_parts info.json "fs[\"all_blocks\"]" | tr "\n" " ")" "False True True " all_blocks &&
	expect_eq "$(json_parts info.json "fs[\"used_bytes\"]" | sed -n 2,3p | tr "\n" " ")" "$((32 << 20)) $((64 << 20)) " "used bytes of partitions 2 and 3" &&
	expect_eq "$(json_parts info.json "fs.get(\"note\", \"\")" | sed -n 2p)" "all blocks: no filesystem recognised" "note of partition 2" &&
	json_parts info.json "fs.get(\"note\", \"\")" | sed -n 3p >note.3 &&
	expect_grep "^all blocks: ext4 could not be mapped" note.3 &&
	lifeboat info --repo repo latest >info.out &&
	cat info.out >&2 &&
	expect_grep "^  2 .*all blocks: no filesystem recognised" info.out &&
	expect_grep "^  3 .* ext4 .*all blocks: ext4 could not be mapped" info.out &&
	fast_sum "$(part $SRC 2)" >src.sum.2 &&
	fast_sum "$(part $SRC 3)" >src.sum.3
'

test_expect_success 'restore to a file: the unknown and the damaged partition byte for byte' '
	lifeboat restore --repo repo latest r1.img &&
	r1=$(disk_loop r1.img) &&
	expect_eq "$(table_dump "$r1")" "$(table_dump "$SRC")" "partition table" &&
	expect_cmp "$(part $SRC 2)" "$(part $r1 2)" &&
	expect_cmp "$(part $SRC 3)" "$(part $r1 3)" &&
	fs_check "$(part $r1 1)" ext4 &&
	mount_ro "$(part $r1 1)" dst.mnt ext4 &&
	compare_tree ref.1 dst.mnt &&
	unmount_fs dst.mnt &&
	free_loop "$r1"
'

# ---- targets that must not be written ----

test_expect_success 'a target disk smaller than the image is refused, untouched' '
	truncate -s 200M small.img &&
	write_at small.img 0 2 small-head &&
	write_at small.img 198 2 small-tail &&
	before=$(fast_sum small.img) &&
	small=$(make_loop small.img) &&
	expect_fail 1 "200.0 MiB.*256.0 MiB" lifeboat restore --repo repo latest "$small" &&
	cat last.err >&2 &&
	expect_grep "$small" last.err &&
	expect_eq "$(fast_sum small.img)" "$before" "checksum of the target" &&
	free_loop "$small"
'

test_expect_success 'a target disk with a mounted partition is refused, untouched' '
	make_disk busy.img 256M <<-EOF &&
	label: gpt
	start=2048, size=64MiB
	EOF
	busy=$(disk_loop busy.img) &&
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$(part $busy 1)" &&
	mount_fs "$(part $busy 1)" busy.mnt &&
	echo "in use" >busy.mnt/file &&
	sync -f busy.mnt &&
	before=$(fast_sum busy.img) &&
	expect_fail 1 "in use.*mounted on .*busy.mnt" lifeboat restore --repo repo latest "$busy" &&
	cat last.err >&2 &&
	expect_eq "$(fast_sum busy.img)" "$before" "checksum of the target" &&
	expect_eq "$(cat busy.mnt/file)" "in use" "the file on the mounted partition" &&
	unmount_fs busy.mnt &&
	free_loop "$busy"
'

test_expect_success 'a whole target device with a mounted filesystem is refused, untouched' '
	truncate -s 256M whole.img &&
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 whole.img &&
	whole=$(make_loop whole.img) &&
	mount_fs "$whole" whole.mnt -o ro &&
	before=$(fast_sum whole.img) &&
	expect_fail 1 "in use.*mounted on .*whole.mnt" lifeboat restore --repo repo latest "$whole" &&
	expect_eq "$(fast_sum whole.img)" "$before" "checksum of the target" &&
	unmount_fs whole.mnt &&
	free_loop "$whole"
'

test_expect_success 'a target disk with an active swap partition is refused, untouched' '
	make_disk swapdisk.img 256M <<-EOF &&
	label: gpt
	start=2048, size=32MiB, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F
	EOF
	sw=$(disk_loop swapdisk.img) &&
	mkswap "$(part $sw 1)" >/dev/null &&
	swap_on "$(part $sw 1)" &&
	before=$(fast_sum swapdisk.img) &&
	expect_fail 1 "in use.*swap" lifeboat restore --repo repo latest "$sw" &&
	expect_eq "$(fast_sum swapdisk.img)" "$before" "checksum of the target" &&
	swap_off "$(part $sw 1)" &&
	free_loop "$sw"
'

# ---- sources that must not be imaged as they are ----

test_expect_success 'a source with a partition mounted read-write is refused; --live images it, marked' '
	mount_fs "$(part $SRC 1)" live.mnt &&
	n=$(snapshots repo) &&
	expect_fail 1 "mounted read-write.*live.mnt.*--live" lifeboat backup --repo repo "$SRC" &&
	cat last.err >&2 &&
	expect_eq "$(snapshots repo)" "$n" "snapshots after the refused backup" &&
	echo "written while imaged" >live.mnt/live-file &&
	lifeboat backup --repo repo --live "$SRC" --json >live.json 2>live.err &&
	cat live.err >&2 &&
	expect_eq "$(snapshots repo)" $((n + 1)) "snapshots after the --live backup" &&
	lifeboat info --repo repo latest >live.info &&
	expect_grep "^Warning +taken from mounted read-write filesystems \(--live\)" live.info &&
	lifeboat info --repo repo latest --json >live-info.json &&
	expect_eq "$(json_get "d[\"live\"]" <live-info.json)" true live &&
	# the mounted ext4 has a journal that needs recovery: stored whole
	expect_eq "$(json_parts live-info.json "fs[\"all_blocks\"]" | sed -n 1p)" True "all_blocks of partition 1" &&
	expect_grep "^lifeboat: warning: .*partition 1: .*journal needs recovery" live.err &&
	unmount_fs live.mnt &&
	# a read-only mount is no reason to refuse
	mount_fs "$(part $SRC 1)" live.mnt -o ro &&
	lifeboat backup --repo repo "$SRC" &&
	lifeboat info --repo repo latest --json >ro-info.json &&
	expect_eq "$(json_get "d[\"live\"]" <ro-info.json)" false live &&
	unmount_fs live.mnt
'

test_expect_success 'the --live snapshot names the filesystem it stored whole: ext4, its label and UUID' '
	uuid=$(blkid_value "$(part $SRC 1)" UUID) &&
	test -n "$uuid" &&
	expect_eq "$(json_parts live-info.json "fs[\"type\"] + \" \" + fs[\"label\"] + \" \" + fs[\"uuid\"]" | sed -n 1p)" \
		"ext4 good $uuid" "filesystem of partition 1 in the --live snapshot"
'

test_expect_success 'a repository on a partition of the disk being imaged is refused' '
	mount_fs "$(part $SRC 1)" repo.mnt &&
	lifeboat init --repo repo.mnt/repo &&
	expect_fail 1 "repository .*repo.mnt/repo is on $SRC.*disk being imaged" lifeboat backup --repo repo.mnt/repo "$SRC" &&
	expect_fail 1 "disk being imaged" lifeboat backup --repo repo.mnt/repo --live "$SRC" &&
	expect_fail 1 "disk being imaged" lifeboat backup --repo repo.mnt/repo --live "$(part $SRC 3)" &&
	expect_eq "$(snapshots repo.mnt/repo)" 0 "snapshots" &&
	rm -rf repo.mnt/repo &&
	unmount_fs repo.mnt
'

# ---- damaged partition tables ----

test_expect_success 'setup: two small GPT disks with an ext4 partition' '
	for d in gpt1 gpt2; do
		make_disk $d.img 64M <<-EOF || exit 1
		label: gpt
		start=2048, size=40MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="$d"
		size=10MiB, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F
		EOF
		dev=$(disk_loop $d.img) &&
		echo "$dev" >$d.dev &&
		sfdisk -d "$dev" >$d.table &&
		mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L $d "$(part $dev 1)" &&
		mount_fs "$(part $dev 1)" mnt &&
		fill_tree mnt 2 1 &&
		unmount_fs mnt &&
		mount_ro "$(part $dev 1)" mnt ext4 &&
		save_tree mnt ref.$d &&
		unmount_fs mnt &&
		mkswap -L swap-$d "$(part $dev 2)" >/dev/null || exit 1
	done
'
GPT1=$(cat gpt1.dev 2>/dev/null)
GPT2=$(cat gpt2.dev 2>/dev/null)

test_expect_success 'a damaged primary GPT header: backup warns and uses the backup header' '
	dd if=/dev/zero of=gpt1.img bs=512 seek=1 count=1 conv=notrunc status=none &&
	! gpt_header_ok gpt1.img 1 &&
	lifeboat backup --repo repo "$GPT1" --json >g1.json 2>g1.err &&
	cat g1.err >&2 &&
	expect_grep "^lifeboat: warning: .*primary GPT .*corrupt" g1.err &&
	lifeboat info --repo repo latest --json >g1.info &&
	expect_eq "$(json_get "d[\"images\"][0][\"disk\"][\"table\"]" <g1.info)" gpt table &&
	expect_eq "$(json_parts g1.info "fs[\"type\"]" | tr "\n" " ")" "ext4 swap " filesystems &&
	expect_eq "$(json_parts g1.info "fs[\"all_blocks\"]" | tr "\n" " ")" "False False " all_blocks
'

test_expect_success 'a damaged primary GPT header: the restored disk has a valid GPT with the same partitions' '
	lifeboat restore --repo repo latest g1.img &&
	expect_eq "$(gpt_header_ok g1.img 1)" $((64 * 2048 - 1)) "backup LBA in the primary header" &&
	expect_eq "$(gpt_header_ok g1.img $((64 * 2048 - 1)))" 1 "primary LBA in the backup header" &&
	sfdisk -d g1.img >g1.dump 2>g1.dump.err &&
	cat g1.dump.err >&2 &&
	expect_no_grep "corrupt" g1.dump.err &&
	diff -u <(sed -E "/^device:/d; s/^[^ ]+([0-9]) :/\1 :/" gpt1.table) <(table_dump g1.img) >&2
'

test_expect_success 'a damaged primary GPT header: the restored partitions are intact' '
	g1=$(disk_loop g1.img) &&
	fs_check "$(part $g1 1)" ext4 &&
	mount_ro "$(part $g1 1)" dst.mnt ext4 &&
	compare_tree ref.gpt1 dst.mnt &&
	unmount_fs dst.mnt &&
	expect_eq "$(blkid_value "$(part $g1 2)" LABEL)" swap-gpt1 "swap label" &&
	free_loop "$g1"
'

test_expect_success 'both GPT headers destroyed: imaged whole as a raw disk, with a warning' '
	sectors=$((64 * 2048)) &&
	dd if=/dev/zero of=gpt2.img bs=512 seek=1 count=1 conv=notrunc status=none &&
	dd if=/dev/zero of=gpt2.img bs=512 seek=$((sectors - 1)) count=1 conv=notrunc status=none &&
	lifeboat backup --repo repo "$GPT2" --json >g2.json 2>g2.err &&
	cat g2.err >&2 &&
	expect_eq "$(json_get "d[\"bytes_read\"]" <g2.json)" $((64 << 20)) bytes_read &&
	lifeboat info --repo repo latest >g2.info &&
	cat g2.info >&2 &&
	expect_grep "^lifeboat: warning: .*$GPT2" g2.err
'

test_expect_success 'both GPT headers destroyed: restores byte for byte over old data' '
	random_file g2.img 64M g2-old &&
	g2=$(make_loop g2.img) &&
	lifeboat restore --repo repo latest "$g2" &&
	expect_cmp "$g2" "$GPT2" &&
	free_loop "$g2"
'

# Partition 1 was mounted above (--live, the repository): only the others
# are still as they were.
test_expect_success 'the source disk was never written by Lifeboat' '
	expect_eq "$(fast_sum "$(part $SRC 2)")" "$(cat src.sum.2)" "checksum of partition 2" &&
	expect_eq "$(fast_sum "$(part $SRC 3)")" "$(cat src.sum.3)" "checksum of partition 3" &&
	expect_eq "$(sfdisk -d "$SRC")" "$(cat src.table)" "partition table"
'

test_done
