# SPDX-License-Identifier: GPL-2.0-or-later
# tests/cli/disk-lib.sh: helpers for the whole-disk tests (t01NN-*.sh), sourced
# after lib.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$TEST_DIR/disk-lib.sh"     # lib.sh has changed into the scratch directory
#
# Partitioned loop devices (no udev here: partition nodes are waited for and
# made with mknod when devtmpfs does not make them), swap areas switched on
# by a test (switched off by the cleanup, before lib.sh's cleanup detaches the
# loop devices), partition tables compared without device names, filesystem
# checkers by type, and file trees compared with their metadata and xattrs.

# ---- the cleanup: swapoff and made nodes first, then lib.sh's ----

: >"$_STATE/swaps" # swap device per line
: >"$_STATE/nodes" # device node made with mknod, per line

_disk_cleanup() {
	local rc=$? d
	[ -n "$_cleanup_done" ] && return $rc
	set +e +x
	while read -r d; do
		[ -n "$d" ] || continue
		grep -q "^$d " /proc/swaps 2>/dev/null && swapoff "$d"
	done < <(tac "$_STATE/swaps" 2>/dev/null)
	while read -r d; do
		[ -n "$d" ] && [ -b "$d" ] && rm -f "$d"
	done <"$_STATE/nodes"
	(exit $rc)
	_cleanup
}
trap '_disk_cleanup' EXIT
trap '_disk_cleanup; exit 130' INT
trap '_disk_cleanup; exit 143' TERM

# require_tools TOOL...: skip the whole script when one is missing (call at
# the top level, before the first test).
require_tools() {
	local t missing=
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
	done
	[ -z "$missing" ] || skip_all "missing tools:$missing (make deps; setfattr/getfattr are in the package attr)"
}

# ---- disks ----

# make_disk FILE SIZE: a sparse file of SIZE, partitioned by the sfdisk
# script on stdin.
make_disk() {
	local -
	_quiet
	rm -f "$1" &&
		truncate -s "$2" "$1" &&
		sfdisk -q --wipe always "$1" >&2
}

# part DEV N: the node of partition N of a partitioned loop device.
part() {
	echo "${1}p$2"
}

# _wait_part DEV N: wait (5 s) for DEVpN; make it with mknod from sysfs if
# devtmpfs did not.
_wait_part() {
	local dev=$1 n=$2 node i sys
	node=$(part "$dev" "$n")
	sys=/sys/block/$(basename "$dev")/$(basename "$dev")p$n/dev
	for ((i = 0; i < 100; i++)); do
		[ -b "$node" ] && return 0
		sleep 0.05
	done
	[ -r "$sys" ] || die "partition $n of $dev: no $sys after partx -a" || return 1
	mknod "$node" b "$(cut -d: -f1 "$sys")" "$(cut -d: -f2 "$sys")" || return 1
	echo "$node" >>"$_STATE/nodes"
	[ -b "$node" ]
}

# attach_parts DEV: (re)read the partition table of a loop device this test
# made (partx -d, partx -a) and wait for every partition node.
attach_parts() {
	local -
	_quiet
	local dev=$1 n
	partx -d "$dev" 2>/dev/null || true
	# an empty or unpartitioned device: nothing to add
	partx -g -o NR "$dev" >/dev/null 2>&1 || return 0
	partx -a "$dev" >&2 || die "partx -a $dev failed" || return 1
	for n in $(partx -g -o NR "$dev"); do
		_wait_part "$dev" "$n" || return 1
	done
}

# loop_4k FILE: like make_loop, with 4096-byte logical sectors.
loop_4k() {
	local -
	_quiet
	local dev back
	dev=$(losetup -b 4096 -f --show -- "$1") || die "losetup -b 4096 -f --show $1 failed" || return 1
	back=$(losetup -n -O BACK-FILE "$dev" | sed 's/ *$//')
	echo "$dev ${back% (deleted)}" >>"$_STATE/loops"
	wait_for_node "$dev" >&2 || return 1
	echo "$dev"
}

# disk_loop FILE [SECTOR_SIZE]: attach FILE to a loop device (with 512- or
# 4096-byte sectors) with its partitions; prints the device.
disk_loop() {
	local -
	_quiet
	local dev
	if [ "${2:-512}" = 4096 ]; then
		dev=$(loop_4k "$1") || return 1
	else
		dev=$(make_loop "$1") || return 1
	fi
	attach_parts "$dev" || return 1
	echo "$dev"
}

# swap_on DEV: swapon, remembered for the cleanup.
swap_on() {
	local -
	_quiet
	echo "$1" >>"$_STATE/swaps"
	swapon "$1"
}

swap_off() {
	local -
	_quiet
	swapoff "$1"
}

# table_dump DEV|FILE [--no-last-lba]: `sfdisk -d` without device names
# (the partition lines start with their number), without the device line and
# optionally without last-lba (it differs on a larger disk).
table_dump() {
	local -
	_quiet
	local dump
	dump=$(sfdisk -d "$1") || return 1
	printf '%s\n' "$dump" | sed -E '/^device:/d; s|^[^ :]*[^0-9 ]([0-9]+) : |\1 : |' |
		if [ "${2:-}" = --no-last-lba ]; then grep -v '^last-lba:'; else cat; fi
}

# sectors_cmp A B START COUNT: sectors START..START+COUNT-1 (512 bytes) of
# A and B are byte-identical.
sectors_cmp() {
	local -
	_quiet
	local a=$1 b=$2 s=$3 n=$4
	cmp -n $((n * 512)) -i $((s * 512)):$((s * 512)) -- "$a" "$b" && return 0
	echo "$a and $b differ in sectors $s..$((s + n - 1))" >&2
	return 1
}

# bytes_cmp A B OFFSET LENGTH: the same bytes at OFFSET in A and B.
bytes_cmp() {
	local -
	_quiet
	cmp -n "$4" -i "$3:$3" -- "$1" "$2" && return 0
	echo "$1 and $2 differ in bytes $3..$(($3 + $4 - 1))" >&2
	return 1
}

# write_sectors FILE START COUNT SEED: deterministic random bytes into
# sectors START..START+COUNT-1 of FILE (or device), in place.
write_sectors() {
	local -
	_quiet
	random_data $(($3 * 512)) "$4" | dd of="$1" bs=512 seek="$2" conv=notrunc status=none iflag=fullblock
}

# fast_sum FILE|DEV: a checksum (CRC-32 and size) of big disk images, 15
# times faster than lib.sh's sha here; to see whether anything was written.
fast_sum() {
	cksum <"$1"
}

# blkid_value DEV TAG: what libblkid finds, probing the device itself.
blkid_value() {
	blkid -p -o value -s "$2" "$1" 2>/dev/null || true
}

# ---- filesystems ----

# fs_check DEV TYPE: the filesystem's own checker, in no-change mode, must
# find nothing wrong.
fs_check() {
	local -
	_quiet
	local dev=$1 type=$2
	info "checking $type on $dev"
	case $type in
	vfat) fsck.vfat -n "$dev" >&2 ;;
	ext2 | ext3 | ext4) e2fsck -fn "$dev" >&2 ;;
	xfs) xfs_repair -n "$dev" >&2 2>&1 ;;
	btrfs) btrfs check --readonly "$dev" >&2 2>&1 ;;
	ntfs) ntfsfix -n "$dev" >&2 ;;
	swap) expect_eq "$(blkid_value "$dev" TYPE)" swap "filesystem type of $dev" ;;
	*) die "fs_check: unknown type $type" ;;
	esac
}

# mount_ro DEV DIR TYPE: a read-only mount that writes nothing to DEV (no
# log replay) and tolerates a second filesystem with the same UUID.
mount_ro() {
	local -
	_quiet
	case $3 in
	xfs) mount_fs "$1" "$2" -t xfs -o ro,nouuid,norecovery ;;
	ext3 | ext4) mount_fs "$1" "$2" -t "$3" -o ro,noload ;;
	ntfs) mount_fs "$1" "$2" -t ntfs-3g -o ro ;;
	*) mount_fs "$1" "$2" -t "$3" -o ro ;;
	esac
}

# tree_manifest DIR: every entry's name, type, mode, owner, link count,
# size and symlink target, sorted.
tree_manifest() {
	(cd "$1" && find . -printf '%p %y %m %u %g %n %s %l\n' | sort)
}

# tree_xattrs DIR: every entry's extended attributes (all namespaces), in
# sorted order of the names.
tree_xattrs() {
	(cd "$1" && find . -print0 | sort -z | xargs -0 getfattr -h -d -m - -- 2>/dev/null) || true
}

# save_tree DIR REF: copy the tree of a (source) mount to REF and record its
# manifest and xattrs in REF.manifest and REF.xattrs.
save_tree() {
	local -
	_quiet
	rm -rf "$2" &&
		cp -a "$1" "$2" &&
		tree_manifest "$1" >"$2.manifest" &&
		tree_xattrs "$1" >"$2.xattrs"
}

# compare_tree REF DIR [--no-xattrs]: DIR (a restored mount) has the same
# files as the saved tree REF, the same metadata and the same xattrs.
compare_tree() {
	local -
	_quiet
	local ref=$1 dir=$2 x=() f
	# diff cannot compare FIFOs, sockets and device nodes; the manifest
	# checks their type and metadata
	while IFS= read -r f; do
		x+=(-x "$f")
	done < <(find "$ref" -type p -printf '%f\n' -o -type s -printf '%f\n' -o -type b -printf '%f\n' -o -type c -printf '%f\n')
	diff -r --no-dereference "${x[@]}" "$ref" "$dir" >&2 || { echo "the files of $dir differ from $ref" >&2; return 1; }
	diff -u "$ref.manifest" <(tree_manifest "$dir") >&2 || { echo "metadata of $dir differs from $ref" >&2; return 1; }
	if [ "${3:-}" != --no-xattrs ]; then
		diff -u "$ref.xattrs" <(tree_xattrs "$dir") >&2 || { echo "xattrs of $dir differ from $ref" >&2; return 1; }
	fi
	return 0
}

# fat_save DEV REF: copy everything out of a FAT filesystem (mtools) to REF,
# and its recursive listing to REF.list.
fat_save() {
	local -
	_quiet
	rm -rf "$2" &&
		mkdir -p "$2" &&
		MTOOLS_SKIP_CHECK=1 mcopy -s -p -m -n -Q -i "$1" '::*' "$2/" >&2 &&
		MTOOLS_SKIP_CHECK=1 mdir -/ -a -i "$1" :: >"$2.list"
}

# fat_compare REF DEV: the FAT filesystem on DEV has the same files and the
# same listing (names, sizes, times, volume label and serial).
fat_compare() {
	local -
	_quiet
	local out=$SCRATCH/.fat.$$.$RANDOM
	fat_save "$2" "$out" || return 1
	diff -r "$1" "$out" >&2 || { echo "files of the FAT on $2 differ" >&2; return 1; }
	diff -u "$1.list" "$out.list" >&2 || { echo "listing of the FAT on $2 differs" >&2; return 1; }
	rm -rf "$out" "$out.list"
}

# json_parts FILE EXPR: for each partition of the first image of an `info
# --json` document, EXPR over `p` (the partition); one line each.
json_parts() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for p in d["images"][0]["disk"]["partitions"]:
    fs = p.get("filesystem", {})
    print(eval(sys.argv[2], {"p": p, "fs": fs}))' "$1" "$2"
}

# gpt_header_ok DEV|FILE LBA [SECTOR_SIZE]: an "EFI PART" header with a
# valid CRC at LBA; prints the LBA of the other header.
gpt_header_ok() {
	python3 - "$1" "$2" "${3:-512}" <<'EOF'
import struct, sys, zlib
path, lba, ss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "rb") as f:
    f.seek(lba * ss)
    h = f.read(512)
if h[:8] != b"EFI PART":
    sys.exit("%s: no GPT header at LBA %d" % (path, lba))
size = struct.unpack_from("<I", h, 12)[0]
crc = struct.unpack_from("<I", h, 16)[0]
hh = bytearray(h[:size])
hh[16:20] = b"\0\0\0\0"
if zlib.crc32(bytes(hh)) & 0xffffffff != crc:
    sys.exit("%s: bad GPT header CRC at LBA %d" % (path, lba))
my, alt = struct.unpack_from("<QQ", h, 24)
if my != lba:
    sys.exit("%s: GPT header at LBA %d says it is at %d" % (path, lba, my))
print(alt)
EOF
}
