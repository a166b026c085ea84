#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A GPT disk with 4096-byte logical sectors (a loop device made with
# losetup -b 4096): backed up, restored to a file, to a larger 4K-sector disk
# with --grow; a target whose sector size differs from the image's (the
# table would be unreadable there) must be refused before it is written.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/disk-lib.sh"

require_tools sfdisk partx mkfs.ext4 e2fsck dumpe2fs getfattr

DISK_SIZE=$((256 << 20))

test_expect_success 'setup: a 256 MiB GPT disk with 4096-byte sectors, ext4 and swap' '
	truncate -s 256M disk.img &&
	src=$(loop_4k disk.img) &&
	echo "$src" >src.dev &&
	printf "label: gpt\nstart=256, size=100MiB, name=root\nsize=16MiB, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F\n" |
		sfdisk -q "$src" 2>/dev/null &&
	attach_parts "$src" &&
	expect_eq "$(blockdev --getss "$(part $src 1)")" 4096 "sector size" &&
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L root4k "$(part $src 1)" &&
	mount_fs "$(part $src 1)" mnt &&
	fill_tree mnt 4 2 &&
	unmount_fs mnt &&
	mount_ro "$(part $src 1)" mnt ext4 &&
	save_tree mnt ref.1 &&
	unmount_fs mnt &&
	mkswap -L swap4k "$(part $src 2)" >/dev/null &&
	sfdisk -d "$src" >src.table &&
	cat src.table >&2 &&
	fast_sum disk.img >src.sum
'
SRC=$(cat src.dev 2>/dev/null)

test_expect_success 'backup; info shows 4096-byte sectors and the partitions in bytes' '
	lifeboat init --repo repo &&
	lifeboat backup --repo repo "$SRC" 2>b.err &&
	expect_no_grep warning b.err &&
	lifeboat info --repo repo latest --json >info.json &&
	expect_eq "$(json_get "d[\"images\"][0][\"disk\"][\"sector_size\"]" <info.json)" 4096 sector_size &&
	expect_eq "$(json_parts info.json "\"%d %d %s %s\" % (p[\"start\"], p[\"size\"], fs[\"type\"], fs[\"label\"])" | tr "\n" ,)" \
		"1048576 104857600 ext4 root4k,105906176 16777216 swap swap4k," partitions &&
	lifeboat info --repo repo latest >info.out &&
	expect_grep "4096-byte sectors" info.out
'

test_expect_success 'restore to a file: the same disk, readable with 4096-byte sectors' '
	lifeboat restore --repo repo latest r.img &&
	expect_cmp r.img disk.img &&
	r=$(disk_loop r.img 4096) &&
	diff -u <(table_dump "$SRC") <(table_dump "$r") >&2 &&
	fs_check "$(part $r 1)" ext4 &&
	free_loop "$r"
'

test_expect_success 'restore --grow onto a 4K-sector disk twice the size' '
	truncate -s $((2 * DISK_SIZE)) big.img &&
	big=$(loop_4k big.img) &&
	lifeboat restore --repo repo latest "$big" --grow >grow.out &&
	expect_grep "^Partition 2 and its filesystem now extend" grow.out &&
	attach_parts "$big" &&
	sectors=$((2 * DISK_SIZE / 4096)) &&
	expect_eq "$(gpt_header_ok "$big" 1 4096)" $((sectors - 1)) "backup LBA in the primary header" &&
	expect_eq "$(gpt_header_ok "$big" $((sectors - 1)) 4096)" 1 "primary LBA in the backup header" &&
	sfdisk --verify "$big" >&2 &&
	diff -u <(table_dump "$SRC" --no-last-lba | sed -E "/^2 : /s/size= *[0-9]+/size=?/") \
		<(table_dump "$big" --no-last-lba | sed -E "/^2 : /s/size= *[0-9]+/size=?/") >&2 &&
	fs_check "$(part $big 1)" ext4 &&
	mount_ro "$(part $big 1)" dst.mnt ext4 &&
	compare_tree ref.1 dst.mnt &&
	unmount_fs dst.mnt &&
	expect_eq "$(blkid_value "$(part $big 2)" LABEL)" swap4k "swap label" &&
	free_loop "$big"
'

test_expect_success 'restore onto a larger disk with 512-byte sectors is refused, the disk untouched' '
	truncate -s $((2 * DISK_SIZE)) d512.img &&
	write_at d512.img 0 1 d512-head &&
	before=$(fast_sum d512.img) &&
	d512=$(make_loop d512.img) &&
	expect_fail 1 "sector" lifeboat restore --repo repo latest "$d512" &&
	cat last.err >&2 &&
	expect_eq "$(fast_sum d512.img)" "$before" "checksum of the target" &&
	free_loop "$d512"
'

test_expect_success 'the source disk was never written' '
	expect_eq "$(fast_sum disk.img)" "$(cat src.sum)" "checksum of the source"
'

test_done
