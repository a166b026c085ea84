#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Self-contained recovery media: `--include-snapshot` copies a snapshot (of
# an encrypted repository) into the ISO, whose configuration then names the
# copy (repo=media). QEMU boots it with no disk but a blank target, from a CD
# with BIOS and as a USB disk with UEFI; the plan restores the snapshot onto
# the target and powers off; the host checks the target. With another
# Lifeboat medium seen first (vda), the media take their own filesystem (vdb),
# the one whose /lifeboat-media has the media ID of their initramfs. A
# snapshot that does not exist, or a wrong passphrase, stops the build with
# the reason.
. "$(dirname "$0")/../cli/lib.sh"
. "$TEST_DIR/media-lib.sh"
media_require

test_expect_success 'setup: a GPT disk, its backup, an ISO holding the snapshot and a plan' '
	make_test_disk disk.img &&
	make_repo_disk repo.img disk.img &&
	"$LIFEBOAT" info --repo repo.tree/repo --password-file pw latest >info.out &&
	snap=$(awk "\$1 == \"Snapshot\" { print \$2; exit }" info.out) &&
	test -n "$snap" &&
	cat >plan.conf <<-EOF &&
	restore=latest
	target=auto
	password=$PW
	after=poweroff
	EOF
	t0=$(date +%s.%N) &&
	media_iso selfcontained --timeout 1 --config plan.conf --include-snapshot "$snap" \
		--include-repo repo.tree/repo --password-file pw >iso.path &&
	iso_extract "$(cat iso.path)" /lifeboat.conf conf.out &&
	expect_grep "^repo=media$" conf.out &&
	iso_extract "$(cat iso.path)" /lifeboat/repo/config repo-config.out &&
	cmp repo-config.out repo.tree/repo/config
'
diag "self-contained ISO: $(du -m --apparent-size "$(cat iso.path)" | cut -f1) MiB"

test_expect_success 'the snapshot on the media is whole: verify --read-data, restore' '
	rm -rf iso.repo && mkdir iso.repo &&
	xorriso -osirrox on -indev "$(cat iso.path)" -extract /lifeboat/repo iso.repo/repo 2>/dev/null &&
	"$LIFEBOAT" verify --read-data --repo iso.repo/repo --password-file pw >verify.out &&
	"$LIFEBOAT" restore --repo iso.repo/repo --password-file pw latest restored.img >/dev/null &&
	cmp disk.img restored.img &&
	rm -f restored.img
'

test_expect_success 'BIOS, CD, no other disk: the plan restores from the media itself' '
	truncate -s 400M target.img &&
	qemu_boot bios bios-cd "$(cat iso.path)" -drive file=target.img,format=raw,if=virtio &&
	expect_powered_off bios &&
	serial_grep "Repository: /dev/sr0:/lifeboat/repo" bios &&
	serial_grep "Target: vda 400.0 MiB" bios &&
	serial_grep "Lifeboat: restore finished" bios &&
	check_restored disk.img target.img
'
[ -f bios.times ] && diag "BIOS CD, self-contained: $(qemu_figures bios)"

test_expect_success 'UEFI, USB stick: the same media as a disk; it is not a target' '
	rm -f target.img && truncate -s 400M target.img &&
	qemu_boot uefi uefi-usb "$(cat iso.path)" -drive file=target.img,format=raw,if=virtio &&
	expect_powered_off uefi &&
	serial_grep "Repository: /dev/vda1?:/lifeboat/repo" uefi &&
	serial_grep "Target: vdb 400.0 MiB" uefi &&
	serial_grep "Lifeboat: restore finished" uefi &&
	check_restored disk.img target.img
'
[ -f uefi.times ] && diag "UEFI USB, self-contained: $(qemu_figures uefi)"

test_expect_success 'another Lifeboat stick plugged in too, seen first: not taken; the media find their own copy by their ID' '
	iso_extract "$(cat iso.path)" /lifeboat-media marker.out &&
	id=$(sed -n "s/^media_id=//p" marker.out) &&
	expect_eq "${#id}" 32 "length of the media ID" &&
	iso_extract "$(cat iso.path)" /boot/initrd.gz initrd.gz &&
	gzip -dc initrd.gz | cpio -i --quiet --to-stdout "*media-info" >media-info.out &&
	expect_grep "^media_id=$id\$" media-info.out &&
	media_iso base --timeout 1 >base.path &&
	iso_extract "$(cat base.path)" /lifeboat-media base-marker.out &&
	expect_grep "^media_id=" base-marker.out &&
	expect_no_grep "^media_id=$id\$" base-marker.out &&
	rm -f target.img && truncate -s 400M target.img &&
	qemu_boot other kernel "$(cat iso.path)" -drive "file=$(cat base.path),format=raw,if=virtio,readonly=on" \
		-drive "file=$(cat iso.path),format=raw,if=virtio,readonly=on" -drive file=target.img,format=raw,if=virtio &&
	expect_powered_off other &&
	serial_grep "Repository: /dev/vdb1?:/lifeboat/repo" other &&
	serial_grep "Target: vdc 400.0 MiB" other &&
	serial_grep "Lifeboat: restore finished" other &&
	check_restored disk.img target.img
'
[ -f other.times ] && diag "another Lifeboat stick first (-kernel), self-contained: $(qemu_figures other)"

test_expect_success 'a snapshot that does not exist: the build fails and says so' '
	expect_exit 1 "$LIFEBOAT" media create --quiet --output bad.iso \
		--include-snapshot 0000dead --include-repo repo.tree/repo --password-file pw &&
	expect_grep "cannot copy snapshot 0000dead" last.err &&
	test ! -e bad.iso
'

test_expect_success 'a wrong passphrase: the build fails and says so' '
	echo "wrong words" >badpw &&
	expect_exit 1 "$LIFEBOAT" media create --quiet --output bad.iso \
		--include-snapshot latest --include-repo repo.tree/repo --password-file badpw &&
	expect_grep "[Pp]assphrase" last.err &&
	test ! -e bad.iso
'

test_expect_success 'no repository to copy from: refused before any work' '
	expect_exit 1 env -u LIFEBOAT_REPO "$LIFEBOAT" media create --quiet --output bad.iso \
		--include-snapshot latest &&
	expect_grep "include-repo" last.err &&
	test ! -e bad.iso
'

test_done
