#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The recovery media written to a USB stick (lifeboat media create --usb onto
# a loop device over a 64 MiB file, which QEMU then gives as a virtio hard
# disk): a menu-driven restore over the serial console, BIOS (an expect-style
# driver answers the prompts: Enter, 1 = restore, the passphrase, the latest
# snapshot, then of the two disks offered not the one proposed first and
# marked as the disk of the backup (a copy of it: the same partition table
# ID) but the blank one, no growing, yes, 7 = power off); and
# an unattended restore with growing (grow=yes from a config volume), UEFI.
# The host checks the target each time.
. "$(dirname "$0")/../cli/lib.sh"
. "$TEST_DIR/media-lib.sh"
media_require

test_expect_success 'setup: a disk, a repository disk with its backup, the media on a USB stick (--usb)' '
	make_test_disk disk.img &&
	make_repo_disk repo.img disk.img &&
	media_iso base --timeout 1 >iso.path &&
	truncate -s 64M stick.img &&
	make_loop stick.img >stick.dev &&
	lifeboat media create --quiet --timeout 1 --usb "$(cat stick.dev)" >out &&
	expect_grep "^Wrote and verified" out &&
	free_loop "$(cat stick.dev)" &&
	expect_eq "$(blkid -p -s LABEL -o value stick.img)" LIFEBOAT_RESCUE "label of the stick"
'

test_expect_success 'BIOS, USB: a restore through the menu on the serial console' '
	truncate -s 400M target.img &&
	cp --sparse=always disk.img same.img &&
	sha same.img >same.before &&
	QEMU_EXPECT=(
		"Press Enter to start the Lifeboat menu on this console \\(ttyS0\\)" "\\r"
		"Choice: " "1\\r"
		"Passphrase of the repository: " "$PW\\r"
		"Snapshot to restore \\(number\\) \\[1\\]: " "\\r"
		"1\\) vdd 320.0 MiB, gpt: 2 partition[^\\n]* -- same disk as in the backup \\(partition table ID\\)\\n  2\\) vdc 400.0 MiB, no partition table[^\\n]*\\n  s\\) skip this image\\nRestore it onto which disk \\(number\\) \\[1\\]: " "2\\r"
		"fill it\\? \\(yes/no\\) \\[no\\]: " "\\r"
		"Type yes to restore: " "yes\\r"
		"Press Enter to go back to the menu" "\\r"
		"Choice: " "7\\r"
	) &&
	qemu_boot menu bios-usb stick.img -drive file=repo.img,format=raw,if=virtio \
		-drive file=target.img,format=raw,if=virtio -drive file=same.img,format=raw,if=virtio &&
	expect_powered_off menu &&
	! grep "^expect-unmatched" menu.times &&
	serial_grep "Repository: /dev/vdb:/repo" menu &&
	serial_grep "image 1 \\(disk.img, 320.0 MiB\\) -> /dev/vdc" menu &&
	serial_grep "Restored: vdc 400.0 MiB, gpt: 2 partition" menu &&
	check_restored disk.img target.img &&
	expect_eq "$(sha same.img)" "$(cat same.before)" "SHA-256 of the disk not chosen"
'
[ -f menu.times ] && diag "menu restore (BIOS USB): $(qemu_figures menu)"

test_expect_success 'UEFI, USB: unattended restore with grow=yes from a config volume' '
	config_disk cfg.img <<-EOF &&
	restore=latest
	repo=auto
	target=auto
	grow=yes
	password=$PW
	EOF
	rm -f target.img && truncate -s 512M target.img &&
	qemu_boot grow uefi-usb stick.img -drive file=repo.img,format=raw,if=virtio \
		-drive file=target.img,format=raw,if=virtio -drive file=cfg.img,format=raw,if=virtio &&
	expect_powered_off grow &&
	serial_grep "Target: vdc 512.0 MiB" grow &&
	serial_grep "Lifeboat: restore finished" grow &&
	check_restored disk.img target.img --grown &&
	expect_eq "$(partx -g -o END -n 2 target.img | tr -d " ")" $(((512 * 2048 - 34) / 2048 * 2048 - 1)) \
		"end of partition 2 (the last MiB boundary before the backup GPT)"
'
[ -f grow.times ] && diag "unattended restore with grow (UEFI USB): $(qemu_figures grow)"

# typed into the media's shell: each tool must start (not 126/127: missing,
# not executable, a library missing)
cat >"$SCRATCH/tools.cmd" <<'EOF'
for t in "lifeboat --version" "e2fsck -V" "resize2fs -h" "xfs_repair -V" "xfs_growfs -V" "btrfs --version" "ntfsresize --version" "ntfsfix --version" "fsck.vfat --help" "mkswap -V" "sfdisk -v" "blkid -V" "partx -V" "losetup -V"; do $t </dev/null >/dev/null 2>&1; rc=$?; if [ $rc -lt 126 ]; then echo "RAN ${t%% *}"; else echo "BROKEN ${t%% *} $rc"; fi; done; test -c /dev/loop-control && echo LOOP"-"OK; echo TOOLS"-"DONE
EOF

test_expect_success 'the shell entry (lifeboat.mode=shell): the tools a restore needs run' '
	QEMU_EXPECT=("~ # " "$(cat tools.cmd)\r" "(?m)^TOOLS-DONE\n" "poweroff -f\r") &&
	KERNEL_APPEND=lifeboat.mode=shell qemu_boot shell kernel "$(cat iso.path)" &&
	expect_powered_off shell &&
	! grep "^expect-unmatched" shell.times &&
	for t in lifeboat e2fsck resize2fs xfs_repair xfs_growfs btrfs ntfsresize ntfsfix fsck.vfat mkswap sfdisk blkid \
		partx losetup; do
		serial_grep "^RAN $t\$" shell || exit 1
	done &&
	serial_grep "^LOOP-OK" shell &&
	! serial_grep "^BROKEN [a-z]" shell 2>/dev/null
'
[ -f shell.times ] && diag "shell (-kernel): $(qemu_figures shell)"

test_done
