#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Unattended restores that must stop: no repository, a target too small, a
# wrong passphrase, two disks that could be the target, a damaged pack. Each
# time the media says why on the serial console ("LIFEBOAT FAILED: ..."),
# powers off by itself within a bound, and (but for the damaged pack, where
# the restore had started) leaves every disk as it was (SHA-256 before and
# after). The plans come from the kernel command line (QEMU -kernel/-initrd
# with the ISO's kernel and initramfs) or from a config volume (a FAT disk
# labelled LBCONFIG) with the ISO booted from a CD; the command line wins
# over the config volume; two config volumes are both ignored. In contrast, when one of two disks that fit is the
# disk of the backup (the same partition table ID), target=auto takes it;
# when the only disk that fits is not and holds a filesystem, it is not
# taken (it would be if it were blank: t0510).
. "$(dirname "$0")/../cli/lib.sh"
. "$TEST_DIR/media-lib.sh"
media_require

# seconds within which QEMU must have powered off
BOUND=${MEDIA_FAIL_BOUND:-150}

# expect_bounded NAME: QEMU powered off by itself within $BOUND s.
expect_bounded() {
	local e
	expect_powered_off "$1" || return 1
	e=$(awk '$1 == "elapsed" { print int($2) }' "$1.times")
	[ "$e" -le "$BOUND" ] || die "QEMU run $1 took $e s (more than $BOUND s)"
}

test_expect_success 'setup: a disk, a repository disk with its backup, the media' '
	make_test_disk disk.img &&
	make_repo_disk repo.img disk.img &&
	media_iso base --timeout 1 >iso.path &&
	iso_extract "$(cat iso.path)" /boot/vmlinuz vmlinuz &&
	iso_extract "$(cat iso.path)" /boot/initrd.gz initrd.gz
'

test_expect_success 'no repository anywhere: says so, writes nothing, powers off' '
	cp --sparse=always disk.img target.img &&
	sha target.img >before &&
	KERNEL_APPEND="lifeboat.restore=latest lifeboat.repo=auto lifeboat.target=/dev/vda lifeboat.wait=3" \
		qemu_boot norepo kernel "$(cat iso.path)" -drive file=target.img,format=raw,if=virtio &&
	expect_bounded norepo &&
	serial_grep "LIFEBOAT FAILED: no Lifeboat repository found" norepo &&
	serial_grep "Nothing was written to any disk" norepo &&
	expect_eq "$(sha target.img)" "$(cat before)" "SHA-256 of the disk"
'
[ -f norepo.times ] && diag "no repository (-kernel): $(qemu_figures norepo)"

test_expect_success 'target smaller than the image (CD, config volume, password_file): refused' '
	printf "%s\n" "$PW" >pwfile &&
	config_disk cfg.img <<-EOF &&
	restore=latest
	repo=LABEL=backups:/repo
	target=/dev/vdb
	password_file=LABEL=LBCONFIG:/pw
	EOF
	mcopy -i cfg.img pwfile ::/pw &&
	random_file small.img 128M &&
	sha small.img >before &&
	sha repo.img >repo.before &&
	qemu_boot small bios-cd "$(cat iso.path)" -drive file=repo.img,format=raw,if=virtio \
		-drive file=small.img,format=raw,if=virtio -drive file=cfg.img,format=raw,if=virtio &&
	expect_bounded small &&
	serial_grep "Configuration from the config volume" small &&
	serial_grep "LIFEBOAT FAILED: the target /dev/vdb is 128.0 MiB, the image needs 320.0 MiB: target too small" small &&
	expect_eq "$(sha small.img)" "$(cat before)" "SHA-256 of the small disk"
'
[ -f small.times ] && diag "target too small (BIOS CD): $(qemu_figures small)"

test_expect_success 'the log of the failure is next to the repository' '
	repo_extract repo.img repo.out &&
	cat repo.out/lifeboat-media-*-restore.log >log &&
	expect_grep "LIFEBOAT FAILED: the target /dev/vdb is 128.0 MiB" log
'

test_expect_success 'two config volumes: neither is read, the plan stops, nothing written' '
	cp cfg.img cfgcopy.img &&
	rm -f blank.img && truncate -s 400M blank.img &&
	KERNEL_APPEND="lifeboat.restore=latest lifeboat.wait=3" \
		qemu_boot twocfg kernel "$(cat iso.path)" -drive file=repo.img,format=raw,if=virtio \
		-drive file=blank.img,format=raw,if=virtio -drive file=cfg.img,format=raw,if=virtio \
		-drive file=cfgcopy.img,format=raw,if=virtio &&
	expect_bounded twocfg &&
	serial_grep "LIFEBOAT FAILED: several config volumes \(filesystems labelled LBCONFIG\): /dev/vdc /dev/vdd; none of them was read" twocfg &&
	expect_eq "$(disk_kib blank.img)" 0 "space used by the blank disk"
'
[ -f twocfg.times ] && diag "two config volumes (-kernel): $(qemu_figures twocfg)"

test_expect_success 'wrong passphrase on the command line, which wins over the config volume' '
	config_disk cfg2.img <<-EOF &&
	restore=latest
	repo=LABEL=backups:/repo
	target=/dev/vdb
	password=$PW
	EOF
	truncate -s 400M blank.img &&
	random_data 1M marker | dd of=blank.img conv=notrunc status=none &&
	sha blank.img >before &&
	KERNEL_APPEND="lifeboat.password=\"not the passphrase\"" \
		qemu_boot wrongpw kernel "$(cat iso.path)" -drive file=repo.img,format=raw,if=virtio \
		-drive file=blank.img,format=raw,if=virtio -drive file=cfg2.img,format=raw,if=virtio &&
	expect_bounded wrongpw &&
	serial_grep "LIFEBOAT FAILED: cannot read snapshot latest: wrong passphrase" wrongpw &&
	expect_eq "$(sha blank.img)" "$(cat before)" "SHA-256 of the target"
'
[ -f wrongpw.times ] && diag "wrong passphrase (-kernel): $(qemu_figures wrongpw)"

test_expect_success 'target=auto with two disks that fit: refuses to guess (then after=reboot)' '
	truncate -s 400M blank2.img &&
	sha blank.img >before &&
	KERNEL_APPEND="lifeboat.restore=latest lifeboat.repo=LABEL=backups:/repo lifeboat.target=auto lifeboat.password=\"$PW\" lifeboat.after=reboot" \
		qemu_boot twodisks kernel "$(cat iso.path)" -drive file=repo.img,format=raw,if=virtio \
		-drive file=blank.img,format=raw,if=virtio -drive file=blank2.img,format=raw,if=virtio &&
	expect_bounded twodisks &&
	serial_grep "LIFEBOAT FAILED: several disks could take the image \(vdb vdc\)" twodisks &&
	serial_grep "^Rebooting\." twodisks &&
	expect_eq "$(sha blank.img)" "$(cat before)" "SHA-256 of the first disk" &&
	expect_eq "$(disk_kib blank2.img)" 0 "space used by the second disk"
'

test_expect_success 'target=auto, two disks fit, one is the disk of the backup (its partition table ID): that one' '
	cp --sparse=always disk.img same.img &&
	random_data 4M damage | dd of=same.img bs=512 seek=133120 conv=notrunc status=none &&
	rm -f blank2.img && truncate -s 400M blank2.img &&
	KERNEL_APPEND="lifeboat.restore=latest lifeboat.repo=LABEL=backups:/repo lifeboat.target=auto lifeboat.password=\"$PW\"" \
		qemu_boot samedisk kernel "$(cat iso.path)" -drive file=repo.img,format=raw,if=virtio \
		-drive file=blank2.img,format=raw,if=virtio -drive file=same.img,format=raw,if=virtio &&
	expect_bounded samedisk &&
	serial_grep "Target: vdc 320.0 MiB, gpt: .*the same disk as in the backup \(its partition table ID\)" samedisk &&
	serial_grep "Lifeboat: restore finished" samedisk &&
	check_restored disk.img same.img &&
	expect_eq "$(disk_kib blank2.img)" 0 "space used by the blank disk"
'
[ -f samedisk.times ] && diag "restore onto the same disk (-kernel): $(qemu_figures samedisk)"

test_expect_success 'target=auto, the only disk that fits holds a filesystem and is not the disk of the backup: refused' '
	rm -f data.img && truncate -s 400M data.img &&
	mkfs.ext4 -q -F -L data -E lazy_itable_init=0,lazy_journal_init=0 data.img &&
	sha data.img >before &&
	KERNEL_APPEND="lifeboat.restore=latest lifeboat.repo=LABEL=backups:/repo lifeboat.target=auto lifeboat.password=\"$PW\" lifeboat.wait=3" \
		qemu_boot notblank kernel "$(cat iso.path)" -drive file=repo.img,format=raw,if=virtio \
		-drive file=data.img,format=raw,if=virtio &&
	expect_bounded notblank &&
	serial_grep "No disk here is the disk of the backup \(partition table ID 6a1f0c7e-2b3d-4e5f-8a9b-0c1d2e3f4a5b\): waiting up to 3 s" notblank &&
	serial_grep "LIFEBOAT FAILED: the only disk that could take the image, vdb 400.0 MiB, ext4, is not the disk of the backup .* and is not blank: .* name it with lifeboat.target=/dev/vdb" notblank &&
	expect_eq "$(sha data.img)" "$(cat before)" "SHA-256 of the disk with a filesystem"
'
[ -f notblank.times ] && diag "target=auto, a disk with data (-kernel): $(qemu_figures notblank)"

test_expect_success 'a damaged pack: the restore fails and says where' '
	rm -rf bad.tree && cp -a repo.tree bad.tree &&
	pack=$(find bad.tree/repo/packs -type f -size +1M | head -n 1) &&
	flip_byte "$pack" &&
	truncate -s 256M bad.img &&
	mkfs.ext4 -q -F -L backups -d bad.tree bad.img &&
	rm -f target.img && truncate -s 400M target.img &&
	KERNEL_APPEND="lifeboat.restore=latest lifeboat.repo=auto lifeboat.target=/dev/vdb lifeboat.password=\"$PW\"" \
		qemu_boot damaged kernel "$(cat iso.path)" -drive file=bad.img,format=raw,if=virtio \
		-drive file=target.img,format=raw,if=virtio &&
	expect_bounded damaged &&
	serial_grep "LIFEBOAT FAILED: restore failed: .*could not be restored.*data damaged in pack" damaged &&
	serial_grep "/dev/vdb may be partly written" damaged
'
[ -f damaged.times ] && diag "damaged pack (-kernel): $(qemu_figures damaged)"

test_done
