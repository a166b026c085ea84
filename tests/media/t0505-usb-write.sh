#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# lifeboat media create --usb DEVICE, without QEMU, loop devices as sticks:
# the image is written to a whole disk, read back and compared (with
# --output: the same bytes as that file; without: no file left behind), and
# these are refused with nothing written (SHA-256 before and after): a
# regular file, a partition, a disk with a mounted partition, the disk of
# the running system (findmnt /), the disk holding the --repo location, a
# stick smaller than the image, a stick that changed during the build (the
# path now names another device, or the device another size; a stand-in
# builder, LIFEBOAT_MEDIA_DIR, changes it). The refusals that need no image
# come before the build.
. "$(dirname "$0")/../cli/lib.sh"
. "$TEST_DIR/media-lib.sh"
media_require

test_expect_success 'setup: three sticks (loop devices): 64 MiB, 64 MiB with an ext4 partition, 8 MiB' '
	truncate -s 64M stick.img part.img &&
	truncate -s 8M small.img &&
	random_data 1M old | dd of=stick.img conv=notrunc status=none &&
	printf "label: dos\nstart=2048, size=30720, type=83\n" | sfdisk -q --no-reread part.img &&
	make_loop stick.img >stick.dev &&
	make_loop_parts part.img >part.dev &&
	mkfs.ext4 -q -L STICK "$(cat part.dev)p1" &&
	make_loop small.img >small.dev
'

test_expect_success '--usb with --output: written, read back, the same bytes as the ISO' '
	lifeboat media create --quiet --timeout 1 --output rescue.iso --usb "$(cat stick.dev)" >out &&
	expect_grep "^Wrote and verified .* on $(cat stick.dev) in" out &&
	size=$(file_size rescue.iso) &&
	cmp -n "$size" rescue.iso "$(cat stick.dev)" &&
	blkid -p -s LABEL -o value "$(cat stick.dev)" >label &&
	expect_eq "$(cat label)" LIFEBOAT_RESCUE "label of the stick"
'

test_expect_success '--usb alone: the image only on the stick, no temporary file left' '
	mkdir tmp &&
	random_data 1M old | dd of="$(cat stick.dev)" conv=fsync status=none &&
	TMPDIR=$PWD/tmp lifeboat media create --quiet --timeout 1 --usb "$(cat stick.dev)" >out &&
	expect_grep "^Wrote and verified" out &&
	cmp -n "$(file_size rescue.iso)" rescue.iso "$(cat stick.dev)" &&
	test -z "$(ls -A tmp)"
'

test_expect_success 'refused before building: a file, a partition, a mounted partition, the system disk, the repository disk' '
	sha part.img >before &&
	expect_fail 1 "is not a block device" lifeboat media create --output x.iso --usb stick.img &&
	expect_fail 1 "is a partition: give the whole disk" lifeboat media create --output x.iso --usb "$(cat part.dev)p1" &&
	expect_fail 1 "holds the repository $(cat part.dev)p1:/repo" \
		lifeboat media create --output x.iso --repo "$(cat part.dev)p1:/repo" --usb "$(cat part.dev)" &&
	expect_fail 1 "holds the repository LABEL=STICK" \
		lifeboat media create --output x.iso --repo LABEL=STICK --usb "$(cat part.dev)" &&
	mount_fs "$(cat part.dev)p1" mnt -o ro &&
	expect_fail 1 "is in use \(mounted on $PWD/mnt\): unmount it first" \
		lifeboat media create --output x.iso --usb "$(cat part.dev)" &&
	unmount_fs mnt &&
	sysdisk=$(findmnt -n -o SOURCE / | sed -E "s/p?[0-9]+\$//") &&
	if [ -b "$sysdisk" ]; then
		expect_fail 1 "holds the running system" lifeboat media create --output x.iso --usb "$sysdisk"
	fi &&
	test ! -e x.iso &&
	expect_eq "$(sha part.img)" "$(cat before)" "SHA-256 of the stick with a partition"
'

test_expect_success 'a stick smaller than the image: refused after the build, nothing written' '
	random_data 8M small | dd of="$(cat small.dev)" conv=fsync status=none &&
	sha "$(cat small.dev)" >before &&
	expect_fail 1 "is 8.0 MiB, the image needs .*: too small; nothing was written" \
		lifeboat media create --quiet --timeout 1 --output small.iso --usb "$(cat small.dev)" &&
	expect_eq "$(sha "$(cat small.dev)")" "$(cat before)" "SHA-256 of the small stick"
'

test_expect_success 'the stick changed during the build: another device behind the path, another size; nothing written' '
	mkdir fake &&
	cat >fake/mkrescue.sh <<-\EOF &&
	# stands in for the builder: a 1 MiB image; meanwhile ./during-build changes the stick
	while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done
	head -c 1M /dev/urandom >"$out"
	. ./during-build
	EOF
	random_data 8M small | dd of="$(cat small.dev)" conv=fsync status=none &&
	sha "$(cat stick.dev)" >stick.before &&
	sha "$(cat small.dev)" >small.before &&
	ln -s "$(cat stick.dev)" usb-link &&
	echo "ln -sfn $(cat small.dev) usb-link" >during-build &&
	LIFEBOAT_MEDIA_DIR=$PWD/fake expect_fail 1 "usb-link: the device changed during the build \(device [0-9]+:[0-9]+, was [0-9]+:[0-9]+\).*Nothing was written" \
		lifeboat media create --output fake.iso --usb usb-link &&
	echo "truncate -s 96M stick.img && losetup -c $(cat stick.dev)" >during-build &&
	LIFEBOAT_MEDIA_DIR=$PWD/fake expect_fail 1 "the device changed during the build \(96.0 MiB, was 64.0 MiB\)" \
		lifeboat media create --output fake.iso --usb "$(cat stick.dev)" &&
	truncate -s 64M stick.img && losetup -c "$(cat stick.dev)" &&
	expect_eq "$(sha "$(cat stick.dev)")" "$(cat stick.before)" "SHA-256 of the stick" &&
	expect_eq "$(sha "$(cat small.dev)")" "$(cat small.before)" "SHA-256 of the small stick" &&
	echo : >during-build &&
	LIFEBOAT_MEDIA_DIR=$PWD/fake lifeboat media create --output fake.iso --usb usb-link >out &&
	expect_grep "^Wrote and verified 1.0 MiB on usb-link" out &&
	cmp -n 1048576 fake.iso "$(cat small.dev)"
'

test_expect_success 'usage: --usb without a device' '
	expect_fail 2 "--usb needs a device" lifeboat media create --output x.iso --usb
'

test_done
