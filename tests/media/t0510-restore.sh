#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Unattended restore from the recovery media, planned by the configuration
# built into the ISO (--config): a 320 MiB GPT disk (ESP + ext4) backed up on
# the host into an encrypted repository on an ext4 disk labelled "backups";
# QEMU boots the ISO from a CD, BIOS then UEFI, with that disk and a blank
# 400 MiB disk; the media finds the repository by its label, picks the blank
# disk (target=auto), restores the latest snapshot, writes its log next to
# the repository and powers off by itself. The host then checks the target:
# partition table, the bytes of both partitions, fsck.vfat, e2fsck, files.
. "$(dirname "$0")/../cli/lib.sh"
. "$TEST_DIR/media-lib.sh"
media_require

test_expect_success 'setup: a GPT disk, its backup in a repository disk, an ISO with the plan' '
	make_test_disk disk.img &&
	make_repo_disk repo.img disk.img &&
	cat >plan.conf <<-EOF &&
	# restore the latest snapshot onto the only disk that fits
	restore=latest
	repo=LABEL=backups:/repo
	target=auto
	password=$PW
	after=poweroff
	EOF
	media_iso plan --timeout 1 --config plan.conf >iso.path &&
	iso_extract "$(cat iso.path)" /lifeboat.conf conf.out &&
	expect_cmp plan.conf conf.out
'

test_expect_success 'BIOS, CD: the plan restores the disk and powers off' '
	truncate -s 400M target.img &&
	qemu_boot bios bios-cd "$(cat iso.path)" \
		-drive file=repo.img,format=raw,if=virtio -drive file=target.img,format=raw,if=virtio &&
	expect_powered_off bios &&
	serial_grep "Repository: /dev/vda:/repo" bios &&
	serial_grep "Target: vdb 400.0 MiB" bios &&
	serial_grep "Lifeboat: restore finished" bios &&
	check_restored disk.img target.img
'
[ -f bios.times ] && diag "BIOS CD: $(qemu_figures bios)"

test_expect_success 'the log of the restore is next to the repository' '
	repo_extract repo.img repo.out &&
	ls repo.out/lifeboat-media-*-restore.log >logs &&
	test "$(wc -l <logs)" = 1 &&
	expect_grep "Lifeboat: restore finished" "$(cat logs)" &&
	expect_no_grep "$PW" "$(cat logs)"
'

test_expect_success 'UEFI, CD: the same plan' '
	rm -f target.img && truncate -s 400M target.img &&
	qemu_boot uefi uefi-cd "$(cat iso.path)" \
		-drive file=repo.img,format=raw,if=virtio -drive file=target.img,format=raw,if=virtio &&
	expect_powered_off uefi &&
	serial_grep "Lifeboat: restore finished" uefi &&
	check_restored disk.img target.img
'
[ -f uefi.times ] && diag "UEFI CD: $(qemu_figures uefi)"

test_done
