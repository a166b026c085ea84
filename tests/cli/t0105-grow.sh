#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# restore --grow with each filesystem Lifeboat can grow as the last
# partition (ext4, btrfs, NTFS on an MBR disk, swap), with one it cannot grow
# (FAT), and onto a disk of the same size (nothing to grow).
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/disk-lib.sh"

require_tools sfdisk partx mkfs.ext4 e2fsck dumpe2fs resize2fs mkfs.btrfs btrfs mkfs.ntfs ntfs-3g ntfsfix ntfsresize \
	mkswap mkfs.vfat fsck.vfat mcopy blkid getfattr

SMALL=384M
BIG=$((1 << 30))

# make_grow_disk NAME LABEL FS: a 384 MiB disk (GPT, or MBR for ntfs) whose
# last partition (2, 256 MiB) holds FS with a file "data.bin" (FAT: via
# mtools); backed up into repo. Leaves the disk attached; its device in
# NAME.dev.
make_grow_disk() {
	local name=$1 label=$2 fs=$3 dev p
	if [ "$label" = dos ]; then
		printf 'label: dos\nstart=2048, size=64MiB, type=83\nsize=256MiB, type=7\n'
	else
		printf 'label: gpt\nstart=2048, size=64MiB\nsize=256MiB\n'
	fi | make_disk $name.img $SMALL || return 1
	dev=$(disk_loop $name.img) || return 1
	echo "$dev" >$name.dev
	p=$(part $dev 2)
	mkfs.ext4 -q -F "$(part $dev 1)" || return 1
	random_file data.$name 20M "data-$name" || return 1
	case $fs in
	ext4) mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L grow-ext4 "$p" ;;
	btrfs) mkfs.btrfs -q -f -L grow-btrfs "$p" ;;
	ntfs) mkfs.ntfs -q -f -Q -L GROWNTFS "$p" 2>/dev/null ;;
	swap) mkswap -L grow-swap -U 5ee5ee5e-0000-4000-8000-000000000005 "$p" >/dev/null ;;
	vfat) mkfs.vfat -F 32 -n GROWFAT "$p" >/dev/null ;;
	esac || return 1
	local opts=()
	[ $fs = ntfs ] && opts=(-t ntfs-3g)
	case $fs in
	ext4 | btrfs | ntfs)
		mount_fs "$p" mnt "${opts[@]}" &&
			cp data.$name mnt/data.bin &&
			unmount_fs mnt || return 1
		;;
	vfat) MTOOLS_SKIP_CHECK=1 mcopy -i "$p" data.$name ::/DATA.BIN || return 1 ;;
	esac
	lifeboat backup --repo repo "$dev" --tag $name --quiet
}

# grow_restore NAME: restore the latest snapshot of NAME's disk onto a 1 GiB
# loop device with --grow; output in NAME.grow.out; device in NAME.big.
grow_restore() {
	local name=$1 big snap
	snap=$(lifeboat list --repo repo --json | json_get "[s[\"id\"] for s in d if \"$name\" in s[\"tags\"]][-1]") || return 1
	truncate -s $BIG $name.big.img &&
		big=$(make_loop $name.big.img) &&
		echo "$big" >$name.big &&
		lifeboat restore --repo repo "$snap" "$big" --grow >$name.grow.out &&
		cat $name.grow.out >&2 &&
		expect_grep "^Partition 2 and its filesystem now extend to the end of $big" $name.grow.out &&
		attach_parts "$big"
}

# check_grown_partition SRC BIG: partition 2 ends within 1 MiB of the end of
# the usable area; partition 1 as it was.
check_grown_partition() {
	local src=$1 big=$2 start size last
	start=$(partx -g -o START -n 2 "$big") &&
		size=$(partx -g -o SECTORS -n 2 "$big") &&
		last=$(($(dev_size "$big") / 512 - 34)) &&
		info "partition 2: sectors $start..$((start + size - 1)) of $last" &&
		test $((start + size - 1)) -le $last &&
		test $((start + size - 1)) -ge $((last - 2048)) &&
		expect_eq "$(partx -g -o START,SECTORS -n 1 "$big")" "$(partx -g -o START,SECTORS -n 1 "$src")" "partition 1"
}

test_expect_success 'setup: a repository' '
	lifeboat init --repo repo
'

test_expect_success 'ext4 as the last partition grows, its files intact' '
	make_grow_disk ext4 gpt ext4 &&
	grow_restore ext4 &&
	src=$(cat ext4.dev) big=$(cat ext4.big) &&
	check_grown_partition "$src" "$big" &&
	fs_check "$(part $big 2)" ext4 &&
	bytes() { dumpe2fs -h "$1" 2>/dev/null | awk -F: "/^Block count/ { c = \$2 } /^Block size/ { s = \$2 } END { print c * s }"; } &&
	old=$(bytes "$(part $src 2)") new=$(bytes "$(part $big 2)") &&
	info "ext4: $old -> $new bytes" &&
	test "$new" -gt $((old + (512 << 20))) &&
	expect_eq "$(blkid_value "$(part $big 2)" UUID)" "$(blkid_value "$(part $src 2)" UUID)" UUID &&
	mount_ro "$(part $big 2)" dst.mnt ext4 &&
	expect_cmp dst.mnt/data.bin data.ext4 &&
	unmount_fs dst.mnt
'

test_expect_success 'btrfs as the last partition grows, its files intact' '
	make_grow_disk btrfs gpt btrfs &&
	grow_restore btrfs &&
	src=$(cat btrfs.dev) big=$(cat btrfs.big) &&
	check_grown_partition "$src" "$big" &&
	fs_check "$(part $big 2)" btrfs &&
	bytes() { btrfs inspect-internal dump-super "$1" | awk "/^total_bytes/ { print \$2 }"; } &&
	old=$(bytes "$(part $src 2)") new=$(bytes "$(part $big 2)") &&
	info "btrfs: $old -> $new bytes" &&
	test "$new" -gt $((old + (512 << 20))) &&
	mount_ro "$(part $big 2)" dst.mnt btrfs &&
	expect_cmp dst.mnt/data.bin data.btrfs &&
	unmount_fs dst.mnt
'

test_expect_success 'NTFS as the last primary partition of an MBR disk grows, its files intact' '
	make_grow_disk ntfs dos ntfs &&
	grow_restore ntfs &&
	src=$(cat ntfs.dev) big=$(cat ntfs.big) &&
	start=$(partx -g -o START -n 2 "$big") size=$(partx -g -o SECTORS -n 2 "$big") &&
	info "partition 2: sectors $start..$((start + size - 1)) of $((BIG / 512))" &&
	test $((start + size)) -ge $((BIG / 512 - 2048)) &&
	fs_check "$(part $big 2)" ntfs &&
	mount_ro "$(part $big 2)" dst.mnt ntfs &&
	kib=$(df -k --output=size dst.mnt | tail -n 1) &&
	info "NTFS: $kib KiB" &&
	test "$kib" -gt $((768 << 10)) &&
	expect_cmp dst.mnt/data.bin data.ntfs &&
	unmount_fs dst.mnt
'

test_expect_success 'swap as the last partition is made anew over the whole partition, same UUID and label' '
	make_grow_disk swap gpt swap &&
	grow_restore swap &&
	src=$(cat swap.dev) big=$(cat swap.big) &&
	check_grown_partition "$src" "$big" &&
	expect_eq "$(blkid_value "$(part $big 2)" TYPE)" swap type &&
	expect_eq "$(blkid_value "$(part $big 2)" UUID)" 5ee5ee5e-0000-4000-8000-000000000005 UUID &&
	expect_eq "$(blkid_value "$(part $big 2)" LABEL)" grow-swap label &&
	# the last page in the swap header
	pages() { od -An -t u4 -j 1028 -N 4 "$1" | tr -d " "; } &&
	old=$(pages "$(part $src 2)") new=$(pages "$(part $big 2)") &&
	info "swap: last page $old -> $new" &&
	test "$new" -gt $((old * 3))
'

# Lifeboat cannot grow FAT: it extends the partition, restores the
# filesystem unchanged and says so.
test_expect_success 'FAT as the last partition: --grow is refused before anything is written; without it the restore works' '
	make_grow_disk fat gpt vfat &&
	snap=$(lifeboat list --repo repo --json | json_get "d[-1][\"id\"]") &&
	truncate -s $BIG fat.big.img &&
	big=$(make_loop fat.big.img) &&
	expect_fail 1 "last partition \(2\) holds vfat, which Lifeboat cannot grow.*Nothing was written" \
		lifeboat restore --repo repo "$snap" "$big" --grow &&
	expect_eq "$(head -c 4194304 "$big" | tr -d "\\000" | wc -c)" 0 "bytes written to the target" &&
	lifeboat restore --repo repo "$snap" "$big" &&
	attach_parts "$big" &&
	fs_check "$(part $big 2)" vfat &&
	MTOOLS_SKIP_CHECK=1 mcopy -i "$(part $big 2)" ::/DATA.BIN fat.out &&
	expect_cmp fat.out data.fat
'

test_expect_success '--grow onto a disk of the same size: restored, nothing to grow' '
	snap=$(lifeboat list --repo repo --json | json_get "[s[\"id\"] for s in d if \"ext4\" in s[\"tags\"]][-1]") &&
	truncate -s $SMALL same.img &&
	same=$(make_loop same.img) &&
	lifeboat restore --repo repo "$snap" "$same" --grow >same.out &&
	expect_no_grep "now extend" same.out &&
	expect_cmp "$same" ext4.img
'

test_done
