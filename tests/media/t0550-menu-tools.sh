#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The menu's tools, in one boot (-kernel, BIOS) driven over the serial
# console: "Check the filesystems of a disk" on a copy of the test disk whose
# ext4 has a wrong link count (the read-only check finds it, the ESP is
# clean; after a yes, e2fsck repairs it and the second check is clean; the
# host then finds it clean too), then "Browse the files of a snapshot"
# (lifeboat mount --files in the media: a file of the snapshot's ext4 read
# in the shell the menu opens has the source's SHA-256; leaving the shell
# unmounts the snapshot), then power off.
. "$(dirname "$0")/../cli/lib.sh"
. "$TEST_DIR/media-lib.sh"
media_require

test_expect_success 'setup: a disk, its backup, a copy with a damaged ext4, the media' '
	make_test_disk disk.img &&
	make_repo_disk repo.img disk.img &&
	cp --sparse=always disk.img damaged.img &&
	part_extract damaged.img 2 root.img &&
	debugfs -w -R "sif /deep/a/b/c/d/numbers.txt links_count 7" root.img &&
	! e2fsck -fn root.img >/dev/null 2>&1 &&
	read -r n start sectors < <(partx -g -o NR,START,SECTORS -n 2 damaged.img) &&
	dd if=root.img of=damaged.img bs=512 seek="$start" conv=notrunc,sparse status=none &&
	sha256sum <root.tree/random/small-3.bin | cut -d" " -f1 >want.sha &&
	media_iso base --timeout 1 >iso.path
'

test_expect_success 'menu 4 checks and repairs the ext4, menu 3 browses the snapshot' '
	QEMU_EXPECT=(
		"Press Enter to start the Lifeboat menu on this console \\(ttyS0\\)" "\\r"
		"Choice: " "4\\r"
		"2\\) vdb 320.0 MiB, gpt[^\\n]*\\nDisk to check \\(number\\) \\[1\\]: " "2\\r"
		"Repair them now\\? [^\\n]*\\[no\\]: " "yes\\r"
		"Press Enter to go back to the menu" "\\r"
		"Choice: " "3\\r"
		"Passphrase of the repository: " "$PW\\r"
		"Snapshot to browse \\(number\\) \\[1\\]: " "\\r"
		"browse:[^\\n]*# " "sha256sum disk.img/part2/random/small-3.bin; ls disk.img; echo BROWSE\"-\"DONE\\r"
		"(?m)^BROWSE-DONE" "exit\\r"
		"Press Enter to go back to the menu" "\\r"
		"Choice: " "7\\r"
	) &&
	qemu_boot tools kernel "$(cat iso.path)" -drive file=repo.img,format=raw,if=virtio \
		-drive file=damaged.img,format=raw,if=virtio &&
	expect_powered_off tools &&
	! grep "^expect-unmatched" tools.times &&
	serial_grep "vdb1 \\(vfat ESP\\): fsck.vfat -n /dev/vdb1" tools &&
	serial_grep "vdb2 \\(ext4 root\\): e2fsck -f -n /dev/vdb2" tools &&
	serial_grep "PROBLEMS FOUND \\(exit status 4\\)" tools &&
	serial_grep "vdb2 \\(ext4 root\\): e2fsck -f -y /dev/vdb2" tools &&
	serial_grep "No problems left\\." tools &&
	serial_grep "^$(cat want.sha)  disk.img/part2/random/small-3.bin" tools &&
	serial_grep "^Unmounted the snapshot\\." tools &&
	part_extract damaged.img 2 root.out &&
	e2fsck -fn root.out >&2
'
[ -f tools.times ] && diag "menu check + browse (-kernel): $(qemu_figures tools)"

test_done
