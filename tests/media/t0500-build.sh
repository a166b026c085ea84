#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# lifeboat media create: its usage errors; two builds from the same inputs
# give the same bytes (the first is kept in the cache for the other media
# tests); the ISO has El Torito images for BIOS and UEFI and is a hybrid
# (MBR and GPT) image of at most 64 MiB; its boot menus have the timeout and
# the serial console; every dynamically linked program of its initramfs finds
# its libraries there; the modules and scripts are there.
. "$(dirname "$0")/../cli/lib.sh"
. "$TEST_DIR/media-lib.sh"
media_require

test_expect_success 'media: usage, unknown subcommand, missing --output, bad --timeout' '
	lifeboat media --help >out &&
	expect_grep "media create --output" out &&
	lifeboat media create --help >out &&
	expect_grep "timeout S" out &&
	expect_fail 2 "unknown subcommand" lifeboat media frobnicate &&
	expect_exit 1 lifeboat media create &&
	expect_grep "give --output" last.err &&
	expect_exit 1 lifeboat media create --output x.iso --timeout soon &&
	expect_grep "bad --timeout" last.err &&
	expect_exit 1 lifeboat media create --output x.iso --repo somewhere &&
	expect_grep "bad --repo" last.err &&
	test ! -e x.iso
'

test_expect_success 'two builds from the same inputs are byte-identical, at most 64 MiB' '
	unset SOURCE_DATE_EPOCH &&
	t0=$(date +%s.%N) &&
	lifeboat media create --output a.iso --timeout 1 --quiet &&
	t1=$(date +%s.%N) &&
	lifeboat media create --output b.iso --timeout 1 --quiet &&
	expect_cmp a.iso b.iso &&
	size=$(file_size a.iso) &&
	test "$size" -le $((64 << 20)) &&
	echo "$size $(awk -v a="$t0" -v b="$t1" "BEGIN { printf \"%.1f\", b - a }")" >figures
'
[ -f figures ] && read -r iso_size build_time <figures && diag "ISO $((iso_size / 1024)) KiB, built in $build_time s"

test_expect_success 'the ISO is kept for the other media tests' '
	MEDIA_PREBUILT=a.iso media_iso base --timeout 1 >iso.path &&
	test -f "$(cat iso.path)"
'

test_expect_success 'El Torito boot images for BIOS and UEFI; MBR and GPT for USB sticks' '
	xorriso -indev a.iso -report_el_torito plain >eltorito 2>&1 &&
	expect_grep "El Torito boot img :   1  BIOS" eltorito &&
	expect_grep "El Torito boot img :   2  UEFI" eltorito &&
	xorriso -indev a.iso -report_system_area plain >sysarea 2>&1 &&
	expect_grep "MBR partition table" sysarea &&
	expect_grep "GPT" sysarea &&
	xorriso -indev a.iso -find / -type f 2>/dev/null | tr -d "'\''" | sort >files &&
	for f in /boot/vmlinuz /boot/initrd.gz /boot/efiboot.img /boot/grub/grub.cfg /isolinux/isolinux.bin \
		/isolinux/isolinux.cfg /isolinux/ldlinux.c32 /isolinux/menu.c32 /lifeboat-media /README.txt; do
		expect_grep "^$f\$" files || exit 1
	done &&
	expect_no_grep "^/lifeboat.conf\$" files &&
	iso_extract a.iso /boot/efiboot.img efiboot.img &&
	mdir -b -/ -i efiboot.img ::/ >efi.list &&
	expect_grep "EFI/BOOT/BOOTX64.EFI" efi.list
'

test_expect_success 'boot menus: the timeout, the serial console, the menu-only entry' '
	iso_extract a.iso /isolinux/isolinux.cfg isolinux.cfg &&
	iso_extract a.iso /boot/grub/grub.cfg grub.cfg &&
	expect_grep "^TIMEOUT 10$" isolinux.cfg &&
	expect_grep "^SERIAL 0 115200" isolinux.cfg &&
	expect_grep "console=tty0 console=ttyS0,115200" isolinux.cfg &&
	expect_grep "lifeboat.mode=menu" isolinux.cfg &&
	expect_grep "^set timeout=1$" grub.cfg &&
	expect_grep "terminal_output console serial" grub.cfg &&
	expect_grep "console=tty0 console=ttyS0,115200" grub.cfg
'

test_expect_success 'the initramfs: programs find their libraries, modules and scripts are there' '
	iso_extract a.iso /boot/initrd.gz initrd.gz &&
	mkdir root && (cd root && gzip -dc ../initrd.gz | cpio -idm --quiet) &&
	test -c root/dev/console &&
	test -x root/init && test -x root/bin/busybox && test -L root/bin/sh &&
	chroot root /bin/sh -n /init &&
	for s in rescue-lib.sh unattended.sh menu.sh; do chroot root /bin/sh -n /lib/lifeboat/$s || exit 1; done &&
	chroot root /usr/bin/lifeboat --version >version &&
	expect_grep "^lifeboat " version &&
	bad= &&
	for f in root/usr/bin/* root/usr/sbin/*; do
		[ -L "$f" ] && continue
		chroot root /lib64/ld-linux-x86-64.so.2 --list "/${f#root/}" >ldd.out 2>&1 || { bad="$bad ${f#root/}"; cat ldd.out; }
	done &&
	test -z "$bad" &&
	for t in e2fsck resize2fs mke2fs blkid sfdisk partx losetup mount kmod; do test -x root/usr/sbin/$t || exit 1; done &&
	k=$(ls root/lib/modules) &&
	for m in virtio_blk virtio_pci ahci sr_mod isofs ext4 vfat loop; do
		grep -q "/$m.ko" root/lib/modules/$k/modules.dep || { echo "no module $m"; exit 1; }
	done
'

test_done
