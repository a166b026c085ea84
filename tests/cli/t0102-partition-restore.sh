#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# restore --partition N: one partition of a disk snapshot onto a file, onto
# a partition of the same size, onto a larger device; refused onto a smaller
# device (the target untouched), for a partition that does not exist, for a
# snapshot of a single volume, and together with --grow.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/disk-lib.sh"

require_tools sfdisk partx mkfs.ext4 e2fsck mkfs.vfat mcopy mdir mmd fsck.vfat getfattr

P1_SIZE=$((200 << 20))

test_expect_success 'setup: a GPT disk with ext4 (partition 1) and FAT (partition 2), backed up' '
	make_disk disk.img 512M <<-EOF &&
	label: gpt
	start=2048, size=200MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="data"
	size=100MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="esp"
	EOF
	src=$(disk_loop disk.img) &&
	echo "$src" >src.dev &&
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L part-data "$(part $src 1)" &&
	mount_fs "$(part $src 1)" mnt &&
	fill_tree mnt 8 5 &&
	setfattr -n user.test -v partition-restore mnt/random/big.bin &&
	random_file mnt/deleted.bin 50M deleted && sync -f mnt && rm mnt/deleted.bin &&
	unmount_fs mnt &&
	mount_ro "$(part $src 1)" mnt ext4 &&
	save_tree mnt ref.1 &&
	unmount_fs mnt &&
	mkfs.vfat -F 16 -n PARTESP "$(part $src 2)" >/dev/null &&
	export MTOOLS_SKIP_CHECK=1 &&
	random_file loader.efi 700K &&
	mmd -i "$(part $src 2)" ::/EFI &&
	mcopy -i "$(part $src 2)" loader.efi ::/EFI/ &&
	fat_save "$(part $src 2)" ref.2 &&
	lifeboat init --repo repo &&
	lifeboat backup --repo repo "$src" &&
	fast_sum disk.img >src.sum
'
SRC=$(cat src.dev 2>/dev/null)

test_expect_success 'restore --partition 1 to a file: the ext4 filesystem, files identical' '
	lifeboat restore --repo repo latest p1.img --partition 1 >p1.out &&
	expect_grep "^Restored 200.0 MiB to p1.img" p1.out &&
	expect_eq "$(file_size p1.img)" $P1_SIZE "size of the file" &&
	fs_check p1.img ext4 &&
	expect_eq "$(blkid_value p1.img LABEL)" part-data label &&
	expect_eq "$(blkid_value p1.img UUID)" "$(blkid_value "$(part $SRC 1)" UUID)" UUID &&
	loop=$(make_loop p1.img) &&
	mount_ro "$loop" dst.mnt ext4 &&
	compare_tree ref.1 dst.mnt &&
	unmount_fs dst.mnt &&
	free_loop "$loop"
'

test_expect_success 'restore --partition 2 (FAT) to a file' '
	lifeboat restore --repo repo latest p2.img --partition 2 &&
	expect_eq "$(file_size p2.img)" $((100 << 20)) "size of the file" &&
	fs_check p2.img vfat &&
	fat_compare ref.2 p2.img
'

test_expect_success 'restore --partition 1 onto partition 1 of another disk, over old data' '
	sfdisk -d "$SRC" | sed "/^label-id/d; s/, uuid=[0-9A-F-]*//" >other.table &&
	make_disk other.img 512M <other.table &&
	other=$(disk_loop other.img) &&
	random_data 200M other-old >"$(part $other 1)" &&
	write_at other.img 300 10 other-p2 &&
	p2_before=$(head -c $((100 << 20)) "$(part $other 2)" | cksum) &&
	table_before=$(sfdisk -d "$other") &&
	lifeboat restore --repo repo latest "$(part $other 1)" --partition 1 &&
	fs_check "$(part $other 1)" ext4 &&
	mount_ro "$(part $other 1)" dst.mnt ext4 &&
	compare_tree ref.1 dst.mnt &&
	unmount_fs dst.mnt &&
	# nothing outside partition 1 was written
	expect_eq "$(head -c $((100 << 20)) "$(part $other 2)" | cksum)" "$p2_before" "checksum of partition 2" &&
	expect_eq "$(sfdisk -d "$other")" "$table_before" "partition table of the other disk" &&
	free_loop "$other"
'

test_expect_success 'restore --partition 1 onto a loop device of the same size: the same bytes as the file' '
	truncate -s $P1_SIZE same.img &&
	same=$(make_loop same.img) &&
	lifeboat restore --repo repo latest "$same" --partition 1 &&
	expect_cmp "$same" p1.img &&
	free_loop "$same"
'

test_expect_success 'restore --partition 1 onto a larger device' '
	truncate -s 300M larger.img &&
	write_at larger.img 250 20 larger-old &&
	tail_before=$(tail -c $((100 << 20)) larger.img | cksum) &&
	larger=$(make_loop larger.img) &&
	lifeboat restore --repo repo latest "$larger" --partition 1 &&
	fs_check "$larger" ext4 &&
	mount_ro "$larger" dst.mnt ext4 &&
	compare_tree ref.1 dst.mnt &&
	unmount_fs dst.mnt &&
	# the filesystem keeps its size; nothing after it was written
	expect_eq "$(tail -c $((100 << 20)) larger.img | cksum)" "$tail_before" "checksum of the last 100 MiB" &&
	free_loop "$larger"
'

test_expect_success 'restore --partition 1 onto a smaller device is refused, the device untouched' '
	truncate -s 120M small.img &&
	write_at small.img 0 4 small-old &&
	write_at small.img 116 4 small-old-end &&
	before=$(fast_sum small.img) &&
	small=$(make_loop small.img) &&
	expect_fail 1 "120.0 MiB.*200.0 MiB" lifeboat restore --repo repo latest "$small" --partition 1 &&
	cat last.err >&2 &&
	expect_grep "$small" last.err &&
	expect_grep "shr[iu]nk" last.err &&
	expect_grep "not supported|cannot" last.err &&
	expect_eq "$(fast_sum small.img)" "$before" "checksum of the smaller device" &&
	free_loop "$small"
'

test_expect_success 'restore --partition of a partition that does not exist' '
	expect_fail 1 "no partition 3" lifeboat restore --repo repo latest p3.img --partition 3 &&
	test ! -e p3.img &&
	expect_fail 1 "no partition 9" lifeboat restore --repo repo latest p9.img --partition 9 &&
	test ! -e p9.img &&
	expect_fail 2 "bad --partition" lifeboat restore --repo repo latest p0.img --partition 0 &&
	test ! -e p0.img
'

test_expect_success 'restore --partition together with --grow is refused' '
	expect_fail 1 "grow" lifeboat restore --repo repo latest pg.img --partition 1 --grow &&
	test ! -e pg.img
'

test_expect_success 'restore --partition of a single-volume snapshot is refused' '
	make_fs_image vol.img 64M 2 1 &&
	lifeboat init --repo repo.vol &&
	lifeboat backup --repo repo.vol vol.img &&
	lifeboat info --repo repo.vol latest >vol.info &&
	expect_grep "single volume" vol.info &&
	expect_fail 1 "no partition table" lifeboat restore --repo repo.vol latest pv.img --partition 1 &&
	test ! -e pv.img &&
	lifeboat restore --repo repo.vol latest whole.img &&
	expect_cmp whole.img vol.img
'

test_expect_success 'the source disk was never written' '
	expect_eq "$(fast_sum disk.img)" "$(cat src.sum)" "checksum of the source"
'

test_done
