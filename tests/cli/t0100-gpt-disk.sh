#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A whole GPT disk with every filesystem Lifeboat reads: an EFI system
# partition (FAT32), a BIOS boot partition (raw bytes), an ext4 root with
# 220 MiB of deleted data in its free space, swap, NTFS, btrfs and XFS (the
# last partition), random bytes in the gap after the GPT entries and in a gap
# between two partitions, random MBR boot code. Back it up from its loop
# device; check what `info` says about it; restore it to a file, to a disk
# twice its size and, with --grow, onto that disk again, and compare tables,
# boot areas, raw partitions, filesystem checks and file trees each time.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/disk-lib.sh"

require_tools sfdisk partx mkfs.vfat mcopy mdir mmd fsck.vfat mkfs.ext4 e2fsck mkswap mkfs.ntfs ntfs-3g ntfsfix \
	mkfs.btrfs btrfs mkfs.xfs xfs_repair xfs_info setfattr getfattr blkid

DISK_SIZE=$((1536 << 20))
BIG_SIZE=$((2 * DISK_SIZE))
# partitions: number:filesystem
FILESYSTEMS="1:vfat 3:ext4 5:ntfs 6:btrfs 7:xfs"
# the unpartitioned 1 MiB before partition 6 (sectors)
GAP_START=1757184
GAP_LEN=2048

test_expect_success 'setup: a 1.5 GiB GPT disk with FAT32, BIOS boot, ext4, swap, NTFS, btrfs and XFS' '
	make_disk disk.img 1536M <<-EOF &&
	label: gpt
	label-id: 5B1D0E6C-3A4F-4C2B-9E57-1F0A2B3C4D5E
	start=2048, size=64MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system partition"
	size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name="BIOS boot"
	size=600MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"
	size=64MiB, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name="swap"
	size=128MiB, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="windows data"
	start=$((GAP_START + GAP_LEN)), size=256MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="btrfs"
	type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="xfs (last)"
	EOF
	src=$(disk_loop disk.img) &&
	echo "$src" >src.dev &&

	# 1: EFI system partition, filled with mtools
	mkfs.vfat -F 32 -n ESP -i 1234ABCD "$(part $src 1)" >/dev/null &&
	export MTOOLS_SKIP_CHECK=1 &&
	mmd -i "$(part $src 1)" ::/EFI ::/EFI/BOOT ::/EFI/debian ::/empty &&
	random_file bootx64.efi 900K && random_file grubx64.efi 1700K && random_file vmlinuz 3M &&
	seq 1 5000 >"Long File Name.txt" &&
	mcopy -i "$(part $src 1)" bootx64.efi ::/EFI/BOOT/BOOTX64.EFI &&
	mcopy -i "$(part $src 1)" grubx64.efi vmlinuz ::/EFI/debian/ &&
	mcopy -i "$(part $src 1)" "Long File Name.txt" ::/ &&

	# 2: BIOS boot partition: GRUB core.img stand-in in its first 64 KiB
	write_sectors "$(part $src 2)" 0 128 bios-boot &&

	# 3: ext4 root with xattrs, odd owners, 220 MiB of deleted data
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L rootfs \
		-U 3e1f3a6c-2b1d-4c55-9a0e-6c7d8e9f0a1b "$(part $src 3)" &&
	mount_fs "$(part $src 3)" mnt.ext4 &&
	fill_tree mnt.ext4 4 5 &&
	setfattr -n user.comment -v "restored with its xattrs" mnt.ext4/random/small-2.bin &&
	setfattr -n user.binary -v 0x00ff10ee mnt.ext4/deep/a/b/c/d/numbers.txt &&
	setfattr -n trusted.lifeboat -v yes mnt.ext4/empty-file &&
	setfattr -h -n trusted.link -v on-a-symlink mnt.ext4/links/relative &&
	chown 1234:5678 mnt.ext4/random/small-3.bin &&
	chown -h 4321:8765 mnt.ext4/links/absolute &&
	chmod 4755 mnt.ext4/random/small-4.bin &&
	mkfifo mnt.ext4/fifo &&
	random_file mnt.ext4/deleted.bin 220M deleted &&
	sync -f mnt.ext4 &&
	rm mnt.ext4/deleted.bin &&
	unmount_fs mnt.ext4 &&

	# 4: swap
	mkswap -L swap-test -U 0d7c1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f "$(part $src 4)" >/dev/null &&

	# 5: NTFS, filled through ntfs-3g
	mkfs.ntfs -f -Q -L WINDATA "$(part $src 5)" >/dev/null &&
	mount_fs "$(part $src 5)" mnt.ntfs -t ntfs-3g &&
	mkdir -p mnt.ntfs/Users/Public/Documents "mnt.ntfs/Program Files" &&
	random_file mnt.ntfs/Users/Public/Documents/report.bin 2M ntfs-report &&
	random_file "mnt.ntfs/Program Files/app.exe" 5M ntfs-app &&
	seq 1 100000 >mnt.ntfs/Users/numbers.txt &&
	echo "unicode" >"mnt.ntfs/Users/Größe ünd Ñame.txt" &&
	ln mnt.ntfs/Users/numbers.txt mnt.ntfs/Users/hardlink.txt &&
	ln -s numbers.txt mnt.ntfs/Users/symlink &&
	unmount_fs mnt.ntfs &&

	# 6: btrfs with compression and a subvolume
	mkfs.btrfs -q -f -L btrfs-test -U 6f5e4d3c-2b1a-4098-8765-43210fedcba9 "$(part $src 6)" &&
	mount_fs "$(part $src 6)" mnt.btrfs -o compress=zstd &&
	fill_tree mnt.btrfs 3 3 &&
	btrfs -q subvolume create mnt.btrfs/subvol &&
	random_file mnt.btrfs/subvol/in-subvolume.bin 2M subvol &&
	setfattr -n user.where -v btrfs mnt.btrfs/subvol/in-subvolume.bin &&
	unmount_fs mnt.btrfs &&

	# 7: XFS with a reflinked copy
	mkfs.xfs -q -f -L xfs-test -m uuid=9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d "$(part $src 7)" &&
	mount_fs "$(part $src 7)" mnt.xfs &&
	fill_tree mnt.xfs 4 3 &&
	cp --reflink=always mnt.xfs/random/big.bin mnt.xfs/reflinked.bin &&
	setfattr -n user.fs -v xfs mnt.xfs/reflinked.bin &&
	chown 2000:3000 mnt.xfs/reflinked.bin &&
	unmount_fs mnt.xfs &&

	# random MBR boot code, the gap after the GPT entries (sectors 40 to
	# 2047) and the gap before partition 6
	random_data 440 mbr-boot-code | dd of=disk.img bs=440 count=1 conv=notrunc status=none &&
	write_sectors disk.img 40 2008 gpt-gap &&
	write_sectors disk.img $GAP_START $GAP_LEN partition-gap &&
	sync &&
	sfdisk -d "$src" >src.table &&
	info "$(cat src.table)" &&
	info "source: $(disk_kib disk.img) KiB allocated of $((DISK_SIZE >> 10)) KiB"
'
SRC=$(cat src.dev 2>/dev/null)

test_expect_success 'setup: reference copies of the source file trees' '
	for n in 3:ext4 6:btrfs 7:xfs 5:ntfs; do
		mount_ro "$(part $SRC ${n%%:*})" ref.mnt ${n#*:} &&
		save_tree ref.mnt ref.${n%%:*} &&
		unmount_fs ref.mnt || exit 1
	done &&
	fat_save "$(part $SRC 1)" ref.1 &&
	test -f ref.1/EFI/debian/vmlinuz &&
	test -f "ref.1/Long File Name.txt" &&
	expect_grep "user.comment" ref.3.xattrs &&
	expect_grep "trusted.link" ref.3.xattrs &&
	expect_grep "user.where" ref.6.xattrs &&
	test -L ref.5/Users/symlink &&
	for n in 1 2 3 4 5 6 7; do
		blkid -p -o export "$(part $SRC $n)" | grep -E "^(TYPE|LABEL|UUID)=" >src.blkid.$n || :
	done &&
	fast_sum disk.img >src.sum
'

test_expect_success 'backup of the disk reads only what the filesystems use' '
	lifeboat init --repo repo &&
	lifeboat backup --repo repo "$SRC" --json >b1.json 2>b1.err &&
	cat b1.err >&2 &&
	expect_no_grep "warning" b1.err &&
	expect_eq "$(json_get "d[\"bytes_total\"]" <b1.json)" $DISK_SIZE bytes_total &&
	read=$(json_get "d[\"bytes_read\"]" <b1.json) &&
	stored=$(json_get "d[\"stored_bytes\"]" <b1.json) &&
	info "read $read bytes, stored $stored bytes of $DISK_SIZE" &&
	# the filesystems hold about 60 MiB; 220 MiB of deleted data lie in the
	# free space of the ext4 filesystem
	test "$read" -lt $((200 << 20)) &&
	test "$stored" -lt $((200 << 20)) &&
	expect_eq "$(fast_sum disk.img)" "$(cat src.sum)" "checksum of the source after the backup"
'

test_expect_success 'info --json lists every partition with its filesystem, label and UUID' '
	lifeboat info --repo repo latest --json >info.json &&
	expect_eq "$(json_get "d[\"images\"][0][\"disk\"][\"table\"]" <info.json)" gpt table &&
	expect_eq "$(json_get "d[\"images\"][0][\"disk\"][\"id\"]" <info.json)" 5B1D0E6C-3A4F-4C2B-9E57-1F0A2B3C4D5E "disk id" &&
	expect_eq "$(json_parts info.json "p[\"number\"]" | tr "\n" " ")" "1 2 3 4 5 6 7 " "partition numbers" &&
	for n in 1 2 3 4 5 6 7; do
		line=$(grep "^$(part $SRC $n) :" src.table) &&
		start=$(echo "$line" | sed -E "s/.*start= *([0-9]+).*/\1/") &&
		size=$(echo "$line" | sed -E "s/.*size= *([0-9]+).*/\1/") &&
		type=$(echo "$line" | sed -E "s/.*type=([0-9A-F-]+).*/\1/") &&
		uuid=$(echo "$line" | sed -E "s/.*uuid=([0-9A-F-]+).*/\1/") &&
		name=$(echo "$line" | sed -E "s/.*name=\"([^\"]*)\".*/\1/") &&
		json_parts info.json "p[\"number\"] == $n and \"%s|%s|%s|%s|%s|%s|%s|%s\" % (p[\"start\"], p[\"size\"], p[\"type\"], p[\"uuid\"].upper(), p[\"name\"], fs[\"type\"], fs[\"label\"], fs[\"uuid\"])" |
			grep -v "^False$" >part.$n &&
		# what blkid finds in the partition
		want_type=$(sed -n "s/^TYPE=//p" src.blkid.$n) &&
		want_label=$(sed -n "s/^LABEL=//p" src.blkid.$n) &&
		want_uuid=$(sed -n "s/^UUID=//p" src.blkid.$n) &&
		expect_eq "$(cat part.$n)" "$((start * 512))|$((size * 512))|$type|$uuid|$name|$want_type|$want_label|$want_uuid" "partition $n" || exit 1
	done &&
	expect_eq "$(json_parts info.json "fs[\"type\"]" | tr "\n" " ")" "vfat  ext4 swap ntfs btrfs xfs " "filesystem types" &&
	expect_eq "$(json_parts info.json "fs[\"label\"]" | tr "\n" " ")" "ESP  rootfs swap-test WINDATA btrfs-test xfs-test " "labels" &&
	expect_eq "$(json_parts info.json "fs[\"all_blocks\"]" | tr "\n" " ")" "False True False False False False False " "all_blocks" &&
	expect_eq "$(json_parts info.json "fs.get(\"note\", \"\")" | sed -n 2p)" "all blocks: no filesystem recognised" "note of the BIOS boot partition" &&
	ext4_used=$(json_parts info.json "fs[\"used_bytes\"]" | sed -n 3p) &&
	info "ext4 partition: $ext4_used bytes used" &&
	test "$ext4_used" -lt $((100 << 20)) &&
	expect_eq "$(json_parts info.json "fs[\"used_bytes\"]" | sed -n 2p)" $((1 << 20)) "used bytes of the BIOS boot partition" &&
	lifeboat info --repo repo latest >info.out &&
	cat info.out >&2 &&
	expect_grep "table +GPT, disk id 5B1D0E6C-3A4F-4C2B-9E57-1F0A2B3C4D5E, 512-byte sectors" info.out &&
	expect_grep "^  1 .* vfat +ESP +1234-ABCD " info.out &&
	expect_grep "^  2 .*all blocks: no filesystem recognised" info.out &&
	expect_grep "^  3 .* ext4 +rootfs +3e1f3a6c-2b1d-4c55-9a0e-6c7d8e9f0a1b " info.out &&
	expect_grep "^  4 .* swap +swap-test +0d7c1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f " info.out &&
	expect_grep "^  5 .* ntfs +WINDATA " info.out &&
	expect_grep "^  6 .* btrfs +btrfs-test +6f5e4d3c-2b1a-4098-8765-43210fedcba9 " info.out &&
	expect_grep "^  7 .* xfs +xfs-test +9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d " info.out &&
	expect_grep "^  used map " info.out
'

test_expect_success 'a second backup of the unchanged disk adds less than 1 MiB' '
	lifeboat backup --repo repo "$SRC" --json >b2.json &&
	stored=$(json_get "d[\"stored_bytes\"]" <b2.json) &&
	info "second backup stored $stored bytes" &&
	test "$stored" -lt $((1 << 20)) &&
	expect_eq "$(json_get "d[\"new_chunks\"]" <b2.json)" 0 new_chunks
'

# ---- checks of a restored disk ----

# check_tables DST same|larger|grown
check_tables() {
	local dst=$1 mode=$2 sectors last
	sectors=$(($(dev_size "$dst") / 512))
	case $mode in
	same)
		diff -u <(table_dump "$SRC") <(table_dump "$dst") >&2 || return 1
		;;
	larger)
		diff -u <(table_dump "$SRC" --no-last-lba) <(table_dump "$dst" --no-last-lba) >&2 || return 1
		;;
	grown)
		# everything but the size of partition 7 (and last-lba)
		diff -u <(table_dump "$SRC" --no-last-lba | sed -E "/^7 : /s/size= *[0-9]+/size=?/") \
			<(table_dump "$dst" --no-last-lba | sed -E "/^7 : /s/size= *[0-9]+/size=?/") >&2 || return 1
		;;
	esac
	# the usable area reaches the backup GPT at the end of the disk
	last=$(table_dump "$dst" | sed -n "s/^last-lba: //p")
	expect_eq "$last" $((sectors - 34)) "last-lba of $dst" || return 1
	# both headers valid, each pointing at the other
	expect_eq "$(gpt_header_ok "$dst" 1)" $((sectors - 1)) "backup LBA in the primary GPT header" || return 1
	expect_eq "$(gpt_header_ok "$dst" $((sectors - 1)))" 1 "primary LBA in the backup GPT header" || return 1
	sfdisk --verify "$dst" >verify.out 2>&1 || { cat verify.out >&2; return 1; }
}

# check_boot_areas DST same|larger|grown
check_boot_areas() {
	local dst=$1 mode=$2
	case $mode in
	same)
		# protective MBR, GPT header, entries, the gap after them
		sectors_cmp "$SRC" "$dst" 0 2048 || return 1
		;;
	larger)
		# on a larger disk the headers (and the size in the protective
		# MBR) change with the new end; boot code, entries and gap do not
		bytes_cmp "$SRC" "$dst" 0 440 || return 1
		sectors_cmp "$SRC" "$dst" 2 2046 || return 1
		;;
	grown)
		# ... and the ending LBA of partition 7 (bytes 40-47 of the
		# 7th 128-byte entry) changes with --grow
		bytes_cmp "$SRC" "$dst" 0 440 || return 1
		bytes_cmp "$SRC" "$dst" 1024 $((6 * 128 + 40)) || return 1
		bytes_cmp "$SRC" "$dst" $((1024 + 6 * 128 + 48)) $((2048 * 512 - 1024 - 6 * 128 - 48)) || return 1
		;;
	esac
	# the gap between partitions 5 and 6
	sectors_cmp "$SRC" "$dst" $GAP_START $GAP_LEN || return 1
	# the raw BIOS boot partition
	expect_cmp "$(part $SRC 2)" "$(part $dst 2)"
}

# check_filesystems DST: each filesystem's checker is happy; swap has the
# same label and UUID.
check_filesystems() {
	local dst=$1 n
	for n in $FILESYSTEMS 4:swap; do
		fs_check "$(part $dst ${n%%:*})" ${n#*:} || return 1
	done
	expect_eq "$(blkid_value "$(part $dst 4)" UUID)" 0d7c1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f "swap UUID" || return 1
	expect_eq "$(blkid_value "$(part $dst 4)" LABEL)" swap-test "swap label"
}

# check_trees DST: the same files, metadata and xattrs as the source.
check_trees() {
	local dst=$1 n
	for n in 3:ext4 6:btrfs 7:xfs; do
		mount_ro "$(part $dst ${n%%:*})" dst.mnt ${n#*:} || return 1
		compare_tree ref.${n%%:*} dst.mnt || { unmount_fs dst.mnt; return 1; }
		unmount_fs dst.mnt || return 1
	done
	mount_ro "$(part $dst 5)" dst.mnt ntfs || return 1
	compare_tree ref.5 dst.mnt --no-xattrs || { unmount_fs dst.mnt; return 1; }
	unmount_fs dst.mnt || return 1
	fat_compare ref.1 "$(part $dst 1)"
}

# ---- restore to a file ----

test_expect_success 'restore to a file' '
	lifeboat restore --repo repo latest r1.img >r1.out &&
	expect_grep "^Restored 1.5 GiB to r1.img" r1.out &&
	expect_eq "$(file_size r1.img)" $DISK_SIZE "size of the restored file" &&
	info "restored file: $(disk_kib r1.img) KiB allocated" &&
	test "$(disk_kib r1.img)" -lt $((300 << 10)) &&
	disk_loop r1.img >r1.dev
'
R1=$(cat r1.dev 2>/dev/null)

test_expect_success 'restored file: same partition table, boot code, GPT gap and BIOS boot partition' '
	check_tables "$R1" same &&
	check_boot_areas "$R1" same
'

test_expect_success 'restored file: every filesystem passes its checker' '
	check_filesystems "$R1"
'

test_expect_success 'restored file: the file trees are the source trees' '
	check_trees "$R1"
'

# ---- restore to a disk twice the size ----

test_expect_success 'restore to a loop device twice the size' '
	truncate -s $BIG_SIZE big.img &&
	make_loop big.img >big.dev &&
	big=$(cat big.dev) &&
	lifeboat restore --repo repo latest "$big" >big.out &&
	cat big.out >&2 &&
	expect_grep "^Restored 1.5 GiB to $big" big.out &&
	expect_no_grep "now extend" big.out &&
	attach_parts "$big"
'
BIG=$(cat big.dev 2>/dev/null)

test_expect_success 'larger disk: same partitions, the backup GPT at the new end' '
	check_tables "$BIG" larger &&
	check_boot_areas "$BIG" larger &&
	# partition 7 did not grow
	expect_eq "$(blockdev --getsize64 "$(part $BIG 7)")" "$(blockdev --getsize64 "$(part $SRC 7)")" "size of partition 7"
'

test_expect_success 'larger disk: every filesystem passes its checker' '
	check_filesystems "$BIG"
'

test_expect_success 'larger disk: the file trees are the source trees' '
	check_trees "$BIG"
'

# ---- the same with --grow ----

test_expect_success 'restore --grow onto the larger disk extends partition 7 and its XFS' '
	lifeboat restore --repo repo latest "$BIG" --grow >grow.out &&
	cat grow.out >&2 &&
	expect_grep "^Partition 7 and its filesystem now extend to the end of $BIG" grow.out &&
	attach_parts "$BIG" &&
	sfdisk -d "$BIG" >&2 &&
	sectors=$((BIG_SIZE / 512)) &&
	line=$(sfdisk -d "$BIG" | grep "^$(part $BIG 7) :") &&
	start=$(echo "$line" | sed -E "s/.*start= *([0-9]+).*/\1/") &&
	size=$(echo "$line" | sed -E "s/.*size= *([0-9]+).*/\1/") &&
	end=$((start + size)) &&
	info "partition 7 ends at sector $end of $sectors" &&
	test $end -le $((sectors - 33)) &&
	test $end -ge $((sectors - 34 - 2048)) &&
	old=$(xfs_info "$(part $SRC 7)" | sed -nE "s/^data += *bsize=([0-9]+) +blocks=([0-9]+).*/\1*\2/p") &&
	new=$(xfs_info "$(part $BIG 7)" | sed -nE "s/^data += *bsize=([0-9]+) +blocks=([0-9]+).*/\1*\2/p") &&
	info "XFS data section: $((old)) -> $((new)) bytes" &&
	test -n "$old" && test -n "$new" &&
	test $((new)) -gt $((old + (1 << 30))) &&
	test $((new)) -le $((size * 512))
'

test_expect_success 'grown disk: same partitions but the last, boot areas, backup GPT at the end' '
	check_tables "$BIG" grown &&
	check_boot_areas "$BIG" grown
'

test_expect_success 'grown disk: every filesystem passes its checker' '
	check_filesystems "$BIG"
'

test_expect_success 'grown disk: the file trees are the source trees' '
	check_trees "$BIG"
'

test_expect_success 'the source disk was never written' '
	expect_eq "$(fast_sum disk.img)" "$(cat src.sum)" "checksum of the source"
'

test_done
