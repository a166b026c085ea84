# SPDX-License-Identifier: GPL-2.0-or-later
# tests/media/media-lib.sh: helpers for the recovery media tests
# (tests/media/tNNNN-*.sh), sourced after tests/cli/lib.sh:
#
#   . "$(dirname "$0")/../cli/lib.sh"
#   . "$TEST_DIR/media-lib.sh"
#
# Everything here works on plain files: disks are sparse raw files made with
# sfdisk, mkfs -d and mtools, repositories are put on ext4 images with
# mkfs.ext4 -d and read back with debugfs. No loop devices, no mounts.
#
# ISOs are built once and kept in $MEDIA_CACHE (build/media-test), keyed by
# the SHA-256 of their inputs (the lifeboat binary, media/*, the kernel, the
# options and the files they name), so that the test scripts share them.
# QEMU runs under TCG with its serial console on a pipe (qemu-run.py), bounded
# by a timeout; each run leaves NAME.serial (the console) in the scratch
# directory and prints its timings as TAP comments.
# Environment: RUN_MEDIA_TESTS=0 skips them; MEDIA_QEMU_TIMEOUT (seconds a
# QEMU run may take, default 200); MEDIA_CACHE.

MEDIA_CACHE=${MEDIA_CACHE:-$TOP/build/media-test}
QEMU_RUN=$TEST_DIR/qemu-run.py
OVMF_CODE=/usr/share/OVMF/OVMF_CODE.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS.fd
: "${MEDIA_QEMU_TIMEOUT:=200}"
# The passphrase of the test repositories (with a blank: config values may
# have them).
PW='secret words'
export MTOOLS_SKIP_CHECK=1
# the private copy of the binary (lib.sh) is not next to the source tree
export LIFEBOAT_MEDIA_DIR=$TOP/media

# media_require: skip the whole script when media tests are off or a tool is
# missing (call at the top level).
media_require() {
	local t missing=
	[ "${RUN_MEDIA_TESTS:-1}" != 0 ] || skip_all "RUN_MEDIA_TESTS=0"
	for t in qemu-system-x86_64 xorriso grub-mkimage mkfs.vfat mcopy mdir cpio busybox debugfs mkfs.ext4 e2fsck \
		fsck.vfat sfdisk partx depmod; do
		command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
	done
	[ -r /usr/lib/ISOLINUX/isolinux.bin ] || missing="$missing isolinux"
	[ -r "$OVMF_CODE" ] || missing="$missing ovmf"
	[ -z "$missing" ] || skip_all "missing:$missing (make deps)"
	ls /boot/vmlinuz-* >/dev/null 2>&1 || skip_all "no kernel in /boot (make deps installs linux-image-amd64)"
}

# ---- ISOs ----

# media_key ARGS...: the SHA-256 of the inputs of a build with these options.
media_key() {
	local a
	{
		sha256sum "$LIFEBOAT" "$TOP"/media/* | cut -d' ' -f1
		ls -l --time-style=+%s /boot/vmlinuz-* | awk '{ print $5, $6, $7 }'
		for a in "$@"; do
			if [ -f "$a" ]; then sha256sum <"$a"; else printf '%s\n' "$a"; fi
		done
	} | sha256sum | cut -c1-16
}

# media_iso NAME [mkrescue.sh OPTIONS]: print the path of an ISO built with
# these options, building it if the cache has none for these inputs. With
# MEDIA_PREBUILT=FILE, FILE (built with the same options) is put in the cache.
media_iso() {
	local -
	_quiet
	local name=$1 key iso t0
	shift
	key=$(media_key "$@")
	iso=$MEDIA_CACHE/$name-$key.iso
	mkdir -p "$MEDIA_CACHE"
	(
		flock 9
		[ -f "$iso" ] && exit 0
		rm -f "$MEDIA_CACHE/$name"-*.iso "$MEDIA_CACHE/$name"-*.time
		if [ -n "${MEDIA_PREBUILT:-}" ]; then
			cp "$MEDIA_PREBUILT" "$iso.new"
		else
			t0=$(date +%s.%N)
			"$TOP/media/mkrescue.sh" --quiet --lifeboat "$LIFEBOAT" --output "$iso.new" "$@" >&2 || exit 1
			awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' >"$MEDIA_CACHE/$name-$key.time"
		fi
		mv "$iso.new" "$iso"
	) 9>"$MEDIA_CACHE/.lock" || return 1
	echo "$iso"
}

# iso_extract ISO PATH OUT: a file of the ISO.
iso_extract() {
	xorriso -osirrox on -indev "$1" -extract "$2" "$3" 2>/dev/null
	[ -f "$3" ]
}

# ---- disks ----

# gpt_disk FILE BYTES DISK-GUID: a sparse FILE of BYTES with a GPT (and its
# protective MBR) holding the partitions on stdin, one a line: START SECTORS
# TYPE-GUID PARTITION-GUID NAME. Written here rather than by sfdisk, which
# calls sync(2): that waits for every filesystem of the machine, and a hung
# one (someone else's loop device) would hang the test.
gpt_disk() {
	local script
	script=$(cat <<-'EOF'
	import struct, sys, uuid, zlib
	path, size, guid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
	total = size // 512
	entries = bytearray(128 * 128)
	for i, line in enumerate(l for l in sys.stdin if l.strip()):
	    start, n, ptype, puuid, name = line.split(None, 4)
	    start, n = int(start), int(n)
	    entries[i * 128:(i + 1) * 128] = (uuid.UUID(ptype).bytes_le + uuid.UUID(puuid).bytes_le +
	        struct.pack("<QQQ", start, start + n - 1, 0) + name.strip().encode("utf-16-le").ljust(72, b"\0"))
	ecrc = zlib.crc32(entries)
	def header(my, alt, table):
	    h = bytearray(struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0, my, alt, 34, total - 34,
	                              uuid.UUID(guid).bytes_le, table, 128, 128, ecrc))
	    h[16:20] = struct.pack("<I", zlib.crc32(bytes(h)))
	    return bytes(h).ljust(512, b"\0")
	mbr = bytearray(512)
	mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\x00\x02\x00", 0xEE, b"\xff\xff\xff", 1, min(total - 1, 0xFFFFFFFF))
	mbr[510:512] = b"\x55\xaa"
	with open(path, "wb") as f:
	    f.truncate(size)
	    f.write(mbr + header(1, total - 1, 2) + entries)
	    f.seek((total - 33) * 512)
	    f.write(entries + header(total - 1, 1, total - 33))
	EOF
	)
	python3 -c "$script" "$@"
}

# make_test_disk FILE: a 320 MiB GPT disk: an EFI system partition (FAT32,
# 64 MiB, a boot loader stand-in and a text file) and an ext4 root with a
# tree of files. Leaves root.tree (the files), esp.tree (the ESP's files) and
# disk.parts ("N START SECTORS" per partition) in the current directory.
make_test_disk() {
	local -
	_quiet
	local disk=$1 n start sectors
	rm -f "$disk"
	gpt_disk "$disk" $((320 << 20)) 6A1F0C7E-2B3D-4E5F-8A9B-0C1D2E3F4A5B <<-'EOF'
	2048 131072 C12A7328-F81F-11D2-BA4B-00A0C93EC93B 0B3C8E21-64D4-4B35-9D0F-5E3A7A1C2B01 EFI system partition
	133120 520192 0FC63DAF-8483-4772-8E79-3D69D8477DE4 9A7F6E5D-4C3B-4A29-8817-0F6E5D4C3B2A root
	EOF
	partx -g -o NR,START,SECTORS "$disk" >disk.parts
	# the ESP
	rm -rf esp.tree && mkdir -p esp.tree/EFI/BOOT esp.tree/EFI/debian
	random_data 700K bootx64 >esp.tree/EFI/BOOT/BOOTX64.EFI
	random_data 1500K grubx64 >esp.tree/EFI/debian/grubx64.efi
	seq 1 5000 >esp.tree/numbers.txt
	rm -f esp.img
	mkfs.vfat -C -F 32 -n ESP -i 1234ABCD esp.img $((64 * 1024)) >/dev/null
	mcopy -s -m -i esp.img esp.tree/EFI esp.tree/numbers.txt ::/
	# the root filesystem, from a tree
	rm -rf root.tree && mkdir -p root.tree
	fill_tree root.tree 6 4
	read -r n start sectors < <(sed -n 2p disk.parts)
	rm -f root.img
	truncate -s $((sectors * 512)) root.img
	mkfs.ext4 -q -F -L root -U 3e1f3a6c-2b1d-4c55-9a0e-6c7d8e9f0a1b -E lazy_itable_init=0,lazy_journal_init=0 \
		-d root.tree root.img
	dd if=esp.img of="$disk" bs=512 seek=2048 conv=notrunc,sparse status=none
	dd if=root.img of="$disk" bs=512 seek="$start" conv=notrunc,sparse status=none
	rm -f esp.img root.img
}

# make_repo_disk FILE DISK...: an encrypted repository (passphrase $PW) at
# /repo, holding a backup of each DISK, on a 256 MiB ext4 filesystem labelled
# "backups" that fills the whole FILE (no partition table). Keeps repo.tree/.
make_repo_disk() {
	local -
	_quiet
	local file=$1 d
	shift
	rm -rf repo.tree && mkdir repo.tree
	printf '%s\n' "$PW" >pw
	"$LIFEBOAT" init --encrypt --repo repo.tree/repo --password-file pw >/dev/null
	for d in "$@"; do
		"$LIFEBOAT" backup --repo repo.tree/repo --password-file pw "$d" >/dev/null
	done
	rm -f "$file"
	truncate -s 256M "$file"
	mkfs.ext4 -q -F -L backups -E lazy_itable_init=0,lazy_journal_init=0 -d repo.tree "$file"
}

# repo_extract FILE DIR: the repository directory of a repository disk, read
# with debugfs (DIR/repo), and the log files next to it (DIR/*.log).
repo_extract() {
	local -
	_quiet
	rm -rf "$2" && mkdir -p "$2"
	debugfs -R "rdump / $2" "$1" >/dev/null 2>&1
	[ -f "$2/repo/config" ] || die "no repository in $1"
}

# config_disk FILE: a small FAT filesystem labelled LBCONFIG holding
# /lifeboat.conf from stdin.
config_disk() {
	local -
	_quiet
	cat >lifeboat.conf
	rm -f "$1"
	mkfs.vfat -C -n LBCONFIG "$1" 4096 >/dev/null
	mcopy -i "$1" lifeboat.conf ::/lifeboat.conf
}

# part_extract DISK N OUT: partition N of a disk image into a file.
part_extract() {
	local -
	_quiet
	local n start sectors
	read -r n start sectors < <(partx -g -o NR,START,SECTORS -n "$2" "$1")
	rm -f "$3"
	dd if="$1" of="$3" bs=512 skip="$start" count="$sectors" conv=sparse status=none
}

# table_of DISK: the partition table without the device names, the disk's
# size dependent lines (last-lba) and the device line.
table_of() {
	sfdisk -d "$1" | sed -E '/^device:/d; /^last-lba:/d; s|^[^ :]*[^0-9 ]([0-9]+) : |\1 : |'
}

# check_restored SOURCE TARGET [--grown]: TARGET holds what SOURCE (a disk
# made by make_test_disk) held: the same partition table (but for the disk's
# size), the same bytes in every partition, clean filesystems and the same
# files. --grown: the last partition was grown; its filesystem is compared
# by its files only.
check_restored() {
	local -
	_quiet
	local src=$1 dst=$2 grown=${3:-} n start sectors
	if [ -z "$grown" ]; then
		diff -u <(table_of "$src") <(table_of "$dst") >&2 || die "the partition tables differ"
	else
		diff -u <(table_of "$src" | grep -v '^2 :') <(table_of "$dst" | grep -v '^2 :') >&2 ||
			die "the partition tables differ"
	fi
	while read -r n start sectors; do
		[ -n "$grown" ] && [ "$n" = 2 ] && continue
		cmp -n $((sectors * 512)) -i $((start * 512)):$((start * 512)) -- "$src" "$dst" ||
			die "partition $n differs"
	done <disk.parts
	part_extract "$dst" 1 esp.out
	fsck.vfat -n esp.out >&2 || die "fsck.vfat found problems in the restored ESP"
	rm -rf esp.check && mkdir esp.check
	mcopy -s -m -n -i esp.out '::*' esp.check/
	diff -r esp.tree esp.check >&2 || die "the files of the restored ESP differ"
	part_extract "$dst" 2 root.out
	e2fsck -fn root.out >&2 || die "e2fsck found problems in the restored root"
	rm -rf root.check && mkdir root.check
	debugfs -R "rdump / root.check" root.out >/dev/null 2>&1
	rm -rf root.check/lost+found
	diff -r --no-dereference root.tree root.check >&2 || die "the files of the restored root differ"
	rm -rf esp.out root.out esp.check root.check
}

# ---- QEMU ----

# qemu_boot NAME HOW ISO [QEMU ARGS...]: boot ISO under TCG, its serial
# console on a pipe into NAME.serial, and wait until QEMU ends (it must power
# off by itself) or MEDIA_QEMU_TIMEOUT. HOW: bios-cd, uefi-cd, bios-usb,
# uefi-usb (the ISO as a virtio hard disk), or kernel (the ISO's kernel and
# initramfs with -kernel/-initrd; KERNEL_APPEND more arguments). Expect/send
# pairs for qemu-run.py in the array QEMU_EXPECT. Prints qemu-run.py's
# summary into NAME.times; returns QEMU's exit status.
qemu_boot() {
	local -
	_quiet
	local name=$1 how=$2 iso=$3 rc=0 boot=()
	shift 3
	case $how in
	bios-cd) boot=(-cdrom "$iso" -boot d) ;;
	uefi-cd) boot=(-cdrom "$iso" -boot d) ;;
	bios-usb | uefi-usb) boot=(-drive "file=$iso,format=raw,if=virtio,readonly=on") ;;
	kernel)
		[ -f vmlinuz ] || iso_extract "$iso" /boot/vmlinuz vmlinuz
		[ -f initrd.gz ] || iso_extract "$iso" /boot/initrd.gz initrd.gz
		boot=(-kernel vmlinuz -initrd initrd.gz
			-append "console=tty0 console=ttyS0,115200 quiet panic=10 ${KERNEL_APPEND:-}")
		;;
	*) die "qemu_boot: unknown way to boot: $how" ;;
	esac
	case $how in
	uefi-*)
		cp "$OVMF_VARS" "$name.vars.fd"
		boot=(-drive "if=pflash,format=raw,readonly=on,file=$OVMF_CODE" -drive "if=pflash,format=raw,file=$name.vars.fd"
			"${boot[@]}")
		;;
	esac
	local exp=() i
	for ((i = 0; i + 1 < ${#QEMU_EXPECT[@]}; i += 2)); do
		exp+=(--expect "${QEMU_EXPECT[i]}" --send "${QEMU_EXPECT[i + 1]}")
	done
	python3 "$QEMU_RUN" --log "$name.serial" --timeout "$MEDIA_QEMU_TIMEOUT" \
		--mark 'init=Lifeboat recovery media \(' \
		--mark 'action=Unattended (restore|backup)|Press Enter to start the Lifeboat menu' \
		--mark 'done=Lifeboat: (restore|backup) finished|LIFEBOAT FAILED|Restore finished\.|Snapshot [0-9a-f]+ saved' \
		"${exp[@]}" -- \
		qemu-system-x86_64 -accel tcg -m 1024 -smp "${MEDIA_QEMU_SMP:-2}" -display none -monitor none \
		-serial stdio -no-reboot -nic none "${boot[@]}" "$@" >"$name.times" </dev/null || rc=$?
	echo "qemu-rc $rc" >>"$name.times"
	return $rc
}

# qemu_figures NAME: the timings of a run as one line.
qemu_figures() {
	awk '
		$1 == "mark" { m[$2] = $3 }
		$1 == "elapsed" { e = $2 }
		$1 == "qemu-rc" { rc = $2 }
		END {
			printf "boot-to-init %s s, boot-to-action %s s, boot-to-done %s s, QEMU ran %s s (exit %s)\n",
				m["init"] ? m["init"] : "-", m["action"] ? m["action"] : "-", m["done"] ? m["done"] : "-", e, rc
		}' "$1.times"
}

# expect_powered_off NAME: QEMU ended by itself (exit 0), not by the timeout.
expect_powered_off() {
	local -
	_quiet
	local rc
	rc=$(awk '$1 == "qemu-rc" { print $2 }' "$1.times")
	[ "$rc" = 0 ] && return 0
	echo "QEMU run $1 did not power off by itself (exit $rc); its console:" >&2
	tail -n 60 "$1.serial" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' >&2
	return 1
}

# serial_grep PATTERN NAME: the console of run NAME has a line matching.
serial_grep() {
	local -
	_quiet
	sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\r//g' "$2.serial" | grep -Eq -- "$1" && return 0
	echo "the console of $2 has no line matching /$1/:" >&2
	sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\r//g' "$2.serial" | sed -n '/Lifeboat recovery media/,$p' | tail -n 60 >&2
	return 1
}
