#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Unattended backup from the recovery media: QEMU boots the ISO (BIOS, CD)
# with a repository disk, a GPT disk (read-only) and a config volume whose
# lifeboat.conf says backup=/dev/vdb; the media backs the disk up into the
# repository and powers off. The host reads the repository back from the
# ext4 image (debugfs), finds the snapshot with its tag and restores it into
# a file identical to the disk, and the serial number of the disk it was taken
# from (QEMU's virtio serial) is in the manifest: restored with target=auto,
# the media picks the one of two blank disks that has that serial. (Disks
# with a serial are -device virtio-blk-pci, which QEMU numbers before the
# -drive if=virtio ones: these runs give every disk that way, in order.)
. "$(dirname "$0")/../cli/lib.sh"
. "$TEST_DIR/media-lib.sh"
media_require

test_expect_success 'setup: a disk, an empty repository disk, a config volume, the media' '
	make_test_disk disk.img &&
	make_repo_disk repo.img &&
	config_disk cfg.img <<-EOF &&
	backup=/dev/vdb
	repo=LABEL=backups:/repo
	password=$PW
	tag=from-media
	EOF
	media_iso base --timeout 1 >iso.path
'

test_expect_success 'BIOS, CD: the media backs the disk up and powers off' '
	sha disk.img >before &&
	qemu_boot backup bios-cd "$(cat iso.path)" \
		-drive file=repo.img,format=raw,if=none,id=repo -device virtio-blk-pci,drive=repo \
		-drive file=disk.img,format=raw,if=none,id=src,readonly=on -device virtio-blk-pci,drive=src,serial=LB-SRC-0001 \
		-drive file=cfg.img,format=raw,if=none,id=cfg -device virtio-blk-pci,drive=cfg &&
	expect_powered_off backup &&
	serial_grep "Unattended backup of /dev/vdb" backup &&
	serial_grep "Source: vdb 320.0 MiB, gpt: 2 partition" backup &&
	serial_grep "Lifeboat: backup finished" backup &&
	expect_eq "$(sha disk.img)" "$(cat before)" "SHA-256 of the source disk"
'
[ -f backup.times ] && diag "backup (BIOS CD): $(qemu_figures backup)"

test_expect_success 'the host restores that snapshot: the same bytes as the disk' '
	repo_extract repo.img repo.out &&
	printf "%s\n" "$PW" >pw &&
	lifeboat list --repo repo.out/repo --password-file pw >list &&
	expect_grep "vdb \[from-media\]" list &&
	lifeboat verify --repo repo.out/repo --password-file pw &&
	lifeboat restore --repo repo.out/repo --password-file pw latest out.img &&
	expect_cmp disk.img out.img &&
	ls repo.out/lifeboat-media-*-backup.log &&
	lifeboat info --repo repo.out/repo --password-file pw latest >info &&
	expect_grep "^  disk        \(model unknown\), serial LB-SRC-0001\$" info &&
	lifeboat info --json --repo repo.out/repo --password-file pw latest >info.json &&
	expect_grep "\"serial\": *\"LB-SRC-0001\"" info.json
'

test_expect_success 'target=auto, two blank disks: the one with the serial of the backed-up disk' '
	truncate -s 400M blank1.img blank2.img &&
	KERNEL_APPEND="lifeboat.restore=latest lifeboat.repo=LABEL=backups:/repo lifeboat.target=auto lifeboat.password=\"$PW\"" \
		qemu_boot byserial kernel "$(cat iso.path)" \
		-drive file=repo.img,format=raw,if=none,id=repo -device virtio-blk-pci,drive=repo \
		-drive file=blank1.img,format=raw,if=none,id=b1 -device virtio-blk-pci,drive=b1,serial=OTHER-DISK \
		-drive file=blank2.img,format=raw,if=none,id=b2 -device virtio-blk-pci,drive=b2,serial=LB-SRC-0001 &&
	expect_powered_off byserial &&
	serial_grep "Target: vdc 400.0 MiB, .*the same disk as in the backup \(its serial\)" byserial &&
	serial_grep "Lifeboat: restore finished" byserial &&
	check_restored disk.img blank2.img &&
	expect_eq "$(disk_kib blank1.img)" 0 "space used by the other disk"
'
[ -f byserial.times ] && diag "restore onto the disk with the same serial (-kernel): $(qemu_figures byserial)"

test_expect_success 'BIOS, CD: a backup through the menu on the serial console' '
	QEMU_EXPECT=(
		"Press Enter to start the Lifeboat menu on this console \\(ttyS0\\)" "\\r"
		"Choice: " "2\\r"
		"Passphrase of the repository: " "$PW\\r"
		"1\\) vdb 320.0 MiB, gpt: 2 partition[^\\n]*\\nDisks to back up \\(numbers separated by spaces, or all\\) \\[all\\]: " "\\r"
		"Tag for the snapshot \\[rescue-media\\]: " "menu-tag\\r"
		"Type yes to start: " "yes\\r"
		"Press Enter to go back to the menu" "\\r"
		"Choice: " "7\\r"
	) &&
	qemu_boot menu bios-cd "$(cat iso.path)" -drive file=repo.img,format=raw,if=virtio \
		-drive file=disk.img,format=raw,if=virtio,readonly=on &&
	expect_powered_off menu &&
	! grep "^expect-unmatched" menu.times &&
	serial_grep "Snapshot [0-9a-f]+ saved" menu &&
	repo_extract repo.img repo.out &&
	lifeboat list --repo repo.out/repo --password-file pw >list &&
	expect_grep "vdb \\[menu-tag\\]" list &&
	lifeboat restore --repo repo.out/repo --password-file pw latest out2.img &&
	expect_cmp disk.img out2.img
'
[ -f menu.times ] && diag "menu backup (BIOS CD): $(qemu_figures menu)"

test_done
