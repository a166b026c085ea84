#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A whole MBR (dos) disk: two primary partitions (ext4, FAT16) and an
# extended partition with two logical ones (ext2, swap); random boot code in
# the first 440 bytes, random data in the gap before the first partition and
# between the EBRs and their logical partitions. Back it up, restore it to a
# file and to a larger disk: boot code, gaps, every EBR, the table, the
# filesystems and their files must come back.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/disk-lib.sh"

require_tools sfdisk partx mkfs.vfat mcopy mdir mmd fsck.vfat mkfs.ext4 mkfs.ext2 e2fsck mkswap blkid getfattr

DISK_SIZE=$((640 << 20))
FILESYSTEMS="1:ext4 2:vfat 5:ext2 6:swap"

# ebr_sectors DEV|FILE: the sector of every EBR of the extended partition,
# following the chain.
ebr_sectors() {
	python3 - "$1" <<'EOF'
import struct, sys
f = open(sys.argv[1], "rb")
def entries(lba):
    f.seek(lba * 512)
    s = f.read(512)
    assert s[510:512] == b"\x55\xaa", "no boot signature at sector %d" % lba
    return [struct.unpack_from("<BBBBBBBBII", s, 446 + 16 * i) for i in range(4)]
ext = [e for e in entries(0) if e[4] in (0x05, 0x0f, 0x85)]
assert len(ext) == 1, "no extended partition"
base = ext[0][8]
ebr, seen = base, 0
while True:
    print(ebr)
    seen += 1
    assert seen < 64
    e = entries(ebr)
    if e[1][4] == 0 or e[1][8] == 0:
        break
    ebr = base + e[1][8]
EOF
}

test_expect_success 'setup: a 640 MiB MBR disk: ext4, FAT16, extended with ext2 and swap' '
	make_disk disk.img 640M <<-EOF &&
	label: dos
	label-id: 0x5eed1e55
	start=2048, size=200MiB, type=83, bootable
	size=64MiB, type=e
	type=5
	size=200MiB, type=83
	size=64MiB, type=82
	EOF
	src=$(disk_loop disk.img) &&
	echo "$src" >src.dev &&
	sfdisk -d "$src" >src.table &&
	cat src.table >&2 &&
	expect_eq "$(grep -c "^$src" src.table)" 5 "partitions" &&

	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L mbr-root "$(part $src 1)" &&
	mount_fs "$(part $src 1)" mnt &&
	fill_tree mnt 4 3 &&
	random_file mnt/deleted.bin 60M deleted && sync -f mnt && rm mnt/deleted.bin &&
	unmount_fs mnt &&

	mkfs.vfat -F 16 -n DOSDATA -i 0BADF00D "$(part $src 2)" >/dev/null &&
	export MTOOLS_SKIP_CHECK=1 &&
	mmd -i "$(part $src 2)" ::/DOS ::/DOS/DEEP &&
	random_file command.com 60K && random_file game.dat 2M && seq 1 3000 >"A long name.txt" &&
	mcopy -i "$(part $src 2)" command.com ::/ &&
	mcopy -i "$(part $src 2)" game.dat "A long name.txt" ::/DOS/DEEP/ &&

	mkfs.ext2 -q -F -L mbr-ext2 "$(part $src 5)" &&
	mount_fs "$(part $src 5)" mnt &&
	fill_tree mnt 3 2 &&
	unmount_fs mnt &&

	mkswap -L mbr-swap -U 11111111-2222-4333-8444-555555555555 "$(part $src 6)" >/dev/null &&

	# boot code, the gap before partition 1, the gaps between each EBR
	# and its logical partition
	random_data 440 mbr-boot-code | dd of=disk.img bs=440 count=1 conv=notrunc status=none &&
	write_sectors disk.img 1 2047 mbr-gap &&
	ebr_sectors disk.img >ebrs &&
	expect_eq "$(wc -l <ebrs)" 2 "EBRs" &&
	for e in $(cat ebrs); do
		write_sectors disk.img $((e + 1)) 2047 "ebr-gap-$e" || exit 1
	done &&
	sync &&
	# still the same table, and no EBR was overwritten
	expect_eq "$(sfdisk -d "$src")" "$(cat src.table)" "partition table" &&
	expect_eq "$(ebr_sectors disk.img)" "$(cat ebrs)" "EBR chain" &&
	info "EBRs at sectors $(cat ebrs | tr "\n" " ")"
'
SRC=$(cat src.dev 2>/dev/null)

test_expect_success 'setup: reference copies of the source file trees' '
	for n in 1:ext4 5:ext2; do
		mount_ro "$(part $SRC ${n%%:*})" ref.mnt ${n#*:} &&
		save_tree ref.mnt ref.${n%%:*} &&
		unmount_fs ref.mnt || exit 1
	done &&
	fat_save "$(part $SRC 2)" ref.2 &&
	test -f "ref.2/DOS/DEEP/A long name.txt" &&
	fast_sum disk.img >src.sum
'

test_expect_success 'backup of the MBR disk' '
	lifeboat init --repo repo &&
	lifeboat backup --repo repo "$SRC" --json >b1.json 2>b1.err &&
	cat b1.err >&2 &&
	expect_no_grep "warning" b1.err &&
	lifeboat info --repo repo latest --json >info.json &&
	expect_eq "$(json_get "d[\"images\"][0][\"disk\"][\"table\"]" <info.json)" dos table &&
	expect_eq "$(json_get "d[\"images\"][0][\"disk\"][\"id\"]" <info.json)" 0x5eed1e55 "disk id" &&
	expect_eq "$(json_parts info.json "p[\"number\"]" | tr "\n" " ")" "1 2 3 5 6 " "partition numbers" &&
	expect_eq "$(json_parts info.json "p[\"container\"]" | tr "\n" " ")" "False False True False False " "containers" &&
	expect_eq "$(json_parts info.json "p[\"type\"]" | tr "\n" " ")" "0x83 0x0e 0x05 0x83 0x82 " "types" &&
	expect_eq "$(json_parts info.json "fs.get(\"type\")" | tr "\n" " ")" "ext4 vfat None ext2 swap " "filesystems" &&
	expect_eq "$(json_parts info.json "fs.get(\"label\")" | tr "\n" " ")" "mbr-root DOSDATA None mbr-ext2 mbr-swap " "labels" &&
	expect_eq "$(json_parts info.json "fs.get(\"all_blocks\")" | tr "\n" " ")" "False False None False False " "all_blocks" &&
	lifeboat info --repo repo latest >info.out &&
	cat info.out >&2 &&
	expect_grep "table +MBR \(dos\), disk id 0x5eed1e55" info.out &&
	expect_grep "^  3 .*\(extended partition\)" info.out
'

# 60 MiB of deleted data lie in the free space of partition 1; 109 MiB of
# the extended partition after partition 6 are not partitioned (zeros).
test_expect_success 'the backup did not read the free space of the filesystems' '
	read=$(json_get "d[\"bytes_read\"]" <b1.json) &&
	fs_used=$(json_parts info.json "0 if p[\"container\"] else fs[\"used_bytes\"]" | awk "{ s += \$1 } END { print s }") &&
	p6_end=$(json_parts info.json "p[\"start\"] + p[\"size\"] if p[\"number\"] == 6 else 0" | sort -n | tail -1) &&
	info "read $read bytes; the filesystems use $fs_used bytes; partition 6 ends at byte $p6_end of $DISK_SIZE" &&
	ext4_used=$(json_parts info.json "fs.get(\"used_bytes\")" | sed -n 1p) &&
	info "partition 1 (ext4) uses $ext4_used bytes" &&
	test "$ext4_used" -lt $((45 << 20)) &&
	test "$read" -le $((fs_used + (4 << 20) + DISK_SIZE - p6_end))
'

test_expect_failure 'unpartitioned space after the last partition is not read' '
	read=$(json_get "d[\"bytes_read\"]" <b1.json) &&
	info "read $read bytes of $DISK_SIZE" &&
	test "$read" -lt $((120 << 20))
'

# check_disk DST: the restored disk DST against the source.
check_disk() {
	local dst=$1 e n
	# table (with the disk identifier and the bootable flag)
	diff -u <(table_dump "$SRC") <(table_dump "$dst") >&2 || return 1
	# boot code, disk signature, table and the gap before partition 1
	sectors_cmp "$SRC" "$dst" 0 2048 || return 1
	# every EBR and the gap after it
	expect_eq "$(ebr_sectors "$dst")" "$(cat ebrs)" "EBR chain" || return 1
	for e in $(cat ebrs); do
		sectors_cmp "$SRC" "$dst" "$e" 2048 || return 1
	done
	for n in $FILESYSTEMS; do
		fs_check "$(part $dst ${n%%:*})" ${n#*:} || return 1
	done
	expect_eq "$(blkid_value "$(part $dst 6)" UUID)" 11111111-2222-4333-8444-555555555555 "swap UUID" || return 1
	expect_eq "$(blkid_value "$(part $dst 6)" LABEL)" mbr-swap "swap label" || return 1
	for n in 1:ext4 5:ext2; do
		mount_ro "$(part $dst ${n%%:*})" dst.mnt ${n#*:} || return 1
		compare_tree ref.${n%%:*} dst.mnt || { unmount_fs dst.mnt; return 1; }
		unmount_fs dst.mnt || return 1
	done
	fat_compare ref.2 "$(part $dst 2)"
}

test_expect_success 'restore to a file: boot code, EBRs, table, filesystems and files' '
	lifeboat restore --repo repo latest r1.img &&
	expect_eq "$(file_size r1.img)" $DISK_SIZE size &&
	r1=$(disk_loop r1.img) &&
	check_disk "$r1"
'

test_expect_success 'restore to a larger disk over old data: the same disk in its first 640 MiB' '
	truncate -s 768M big.img &&
	for mib in 0 100 300 600 650 760; do
		write_at big.img $mib 8 || exit 1
	done &&
	tail=$(tail -c +$((DISK_SIZE + 1)) big.img | cksum) &&
	big=$(make_loop big.img) &&
	echo "$big" >big.dev &&
	lifeboat restore --repo repo latest "$big" &&
	attach_parts "$big" &&
	check_disk "$big" &&
	# an MBR has no backup table: nothing was written after the image
	expect_eq "$(tail -c +$((DISK_SIZE + 1)) big.img | cksum)" "$tail" "checksum of the last 128 MiB"
'
BIG=$(cat big.dev 2>/dev/null)

# The last partition is a logical one, which --grow does not support; the
# refusal must come before the target is written.
test_expect_success 'restore --grow with a logical last partition is refused, the target untouched' '
	truncate -s 768M grow.img &&
	write_at grow.img 0 2 grow-old &&
	before=$(fast_sum grow.img) &&
	loop=$(make_loop grow.img) &&
	expect_fail 1 "logical partition" lifeboat restore --repo repo latest "$loop" --grow &&
	cat last.err >&2 &&
	expect_eq "$(fast_sum grow.img)" "$before" "checksum of the target" &&
	free_loop "$loop"
'

test_expect_success 'the source disk was never written' '
	expect_eq "$(fast_sum disk.img)" "$(cat src.sum)" "checksum of the source"
'

test_done
