#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# backup --system: the disks under the system's mount points and its active
# swap. LIFEBOAT_SYSTEM_MOUNTS points the mount point list at a read-only
# mount of a test disk's partition; a swap partition of the same disk is
# switched on. Exactly that disk is imaged (not a second test disk with a
# mount elsewhere), and it restores.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/disk-lib.sh"

require_tools sfdisk partx mkfs.ext4 e2fsck mkswap swapon swapoff mkfs.vfat fsck.vfat mcopy mdir blkid getfattr

# Swap areas of other users of this machine would be system disks too.
foreign_swaps() {
	tail -n +2 /proc/swaps | awk '{ print $1 }' | grep -v -F -f <(cat "$_STATE/swaps" 2>/dev/null; echo /nonexistent) || true
}

test_expect_success 'setup: a "system" disk (root, swap, EFI) and another disk' '
	make_disk sys.img 512M <<-EOF &&
	label: gpt
	start=2048, size=200MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name="root"
	size=64MiB, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F, name="swap"
	size=64MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="esp"
	EOF
	sys=$(disk_loop sys.img) &&
	echo "$sys" >sys.dev &&
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L sysroot "$(part $sys 1)" &&
	mount_fs "$(part $sys 1)" mnt &&
	fill_tree mnt 6 4 &&
	mkdir -p mnt/etc mnt/boot/efi &&
	echo "test-system" >mnt/etc/hostname &&
	unmount_fs mnt &&
	mkswap -L sysswap -U 7e57c0de-0000-4000-8000-000000000001 "$(part $sys 2)" >/dev/null &&
	mkfs.vfat -F 16 -n SYSESP "$(part $sys 3)" >/dev/null &&
	random_file grub.efi 1M &&
	MTOOLS_SKIP_CHECK=1 mcopy -i "$(part $sys 3)" grub.efi ::/ &&
	fat_save "$(part $sys 3)" ref.3 &&

	make_disk other.img 128M <<-EOF &&
	label: gpt
	start=2048, size=100MiB
	EOF
	other=$(disk_loop other.img) &&
	echo "$other" >other.dev &&
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L other "$(part $other 1)" &&
	mount_fs "$(part $other 1)" other.mnt -o ro &&

	# the "running system": / read-only, swap on
	mount_ro "$(part $sys 1)" sysroot ext4 &&
	save_tree sysroot ref.1 &&
	swap_on "$(part $sys 2)" &&
	grep -q "^$(part $sys 2) " /proc/swaps
'
SYS=$(cat sys.dev 2>/dev/null)
export LIFEBOAT_SYSTEM_MOUNTS="$SCRATCH/sysroot:$SCRATCH/sysroot/boot:$SCRATCH/sysroot/boot/efi"

test_expect_success 'backup --system images exactly the disk of the root mount and the swap' '
	f=$(foreign_swaps) &&
	{ [ -z "$f" ] || info "other swap areas on this machine: $f"; } &&
	lifeboat init --repo repo &&
	lifeboat backup --repo repo --system --tag system >b.out 2>b.err &&
	cat b.out b.err >&2 &&
	expect_eq "$(grep "^System disk: " b.out)" "System disk: $SYS" "system disks" &&
	expect_no_grep "warning" b.err &&
	lifeboat info --repo repo latest --json >info.json &&
	expect_eq "$(json_get "len(d[\"images\"])" <info.json)" 1 images &&
	expect_eq "$(json_get "d[\"images\"][0][\"source\"]" <info.json)" "$SYS" source &&
	expect_eq "$(json_get "d[\"live\"]" <info.json)" false live &&
	expect_eq "$(json_get "d[\"tags\"]" <info.json)" "[\"system\"]" tags &&
	expect_eq "$(json_parts info.json "fs[\"type\"] + \" \" + fs[\"label\"]" | tr "\n" ,)" "ext4 sysroot,swap sysswap,vfat SYSESP," filesystems
'

test_expect_success 'the swap partition alone makes its disk a system disk' '
	LIFEBOAT_SYSTEM_MOUNTS=$SCRATCH/not-mounted lifeboat backup --repo repo --system >swap.out &&
	expect_grep "^System disk: $SYS\$" swap.out &&
	expect_eq "$(grep -c "^System disk: " swap.out)" 1 "system disks"
'

test_expect_success 'the restored system disk: table, filesystems, files, swap' '
	lifeboat restore --repo repo latest r.img &&
	r=$(disk_loop r.img) &&
	diff -u <(table_dump "$SYS") <(table_dump "$r") >&2 &&
	sectors_cmp "$SYS" "$r" 0 2048 &&
	fs_check "$(part $r 1)" ext4 &&
	fs_check "$(part $r 3)" vfat &&
	fat_compare ref.3 "$(part $r 3)" &&
	expect_eq "$(blkid_value "$(part $r 2)" TYPE)" swap "swap type" &&
	expect_eq "$(blkid_value "$(part $r 2)" UUID)" 7e57c0de-0000-4000-8000-000000000001 "swap UUID" &&
	expect_eq "$(blkid_value "$(part $r 2)" LABEL)" sysswap "swap label" &&
	mount_ro "$(part $r 1)" dst.mnt ext4 &&
	compare_tree ref.1 dst.mnt &&
	expect_eq "$(cat dst.mnt/etc/hostname)" test-system hostname &&
	unmount_fs dst.mnt &&
	free_loop "$r"
'

test_expect_success 'backup --system with a system filesystem mounted read-write needs --live' '
	unmount_fs sysroot &&
	mount_fs "$(part $SYS 1)" sysroot &&
	expect_fail 1 "$SYS has filesystems mounted read-write.*--live" lifeboat backup --repo repo --system &&
	lifeboat backup --repo repo --system --live --json >live.json &&
	lifeboat info --repo repo latest --json >live-info.json &&
	expect_eq "$(json_get "d[\"images\"][0][\"source\"]" <live-info.json)" "$SYS" source &&
	expect_eq "$(json_get "d[\"live\"]" <live-info.json)" true live &&
	unmount_fs sysroot
'

test_expect_success 'backup --system with no system mount point and no swap on a block device' '
	swap_off "$(part $SYS 2)" &&
	if [ -n "$(foreign_swaps)" ]; then
		info "skipped: other swap areas are active on this machine"
	else
		expect_fail 1 "cannot find the (system.s )?disks" env LIFEBOAT_SYSTEM_MOUNTS=$SCRATCH/not-mounted \
			"$LIFEBOAT" backup --repo repo --system
	fi
'

test_expect_success '--system together with a source is a usage error' '
	expect_fail 2 "either --system or SOURCE" lifeboat backup --repo repo --system "$SYS"
'

test_done
