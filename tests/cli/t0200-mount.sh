#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# lifeboat mount / umount. A 600 MiB GPT disk with FAT32, ext4 (symlinks,
# modes, owners, xattrs, mtimes), NTFS and XFS partitions is backed up; the
# FUSE mount must give back what restore gives (disk.img, part<N>.img), work
# with losetup -r, mount -o loop, fdisk and ntfs-3g, and with --files show every
# file with its metadata; concurrent readers; umount leaves no mount, loop
# device or process, also after kill -9 of the mount process; a damaged chunk
# gives EIO for what it holds and nothing else; new snapshots appear, deleted
# ones fail; bad mount points and snapshots are refused; a long mount point
# path, one given through a symbolic link, another filesystem mounted below or
# over Lifeboat's; a mount that fails while starting (state directory
# read-only) leaves nothing, in the foreground too; images whose names would
# give the same directory; encrypted repositories; the foreground mode.
. "$(dirname "$0")/lib.sh"
. "$TEST_DIR/disk-lib.sh"

require_tools sfdisk partx mkfs.vfat mcopy mdir mmd mkfs.ext4 e2fsck mkfs.xfs mkfs.ntfs ntfs-3g setfattr getfattr \
	fdisk losetup findmnt
[ -c /dev/fuse ] || skip_all "no /dev/fuse (modprobe fuse)"

# Every mount point this script mounts: `lifeboat umount --lazy` on each
# before the cleanup of lib.sh (which unmounts what is left below the scratch
# directory and detaches loop devices whose backing file lies in it).
: >"$_STATE/lbmounts"
_mount_cleanup() {
	local rc=$? m
	[ -n "$_cleanup_done" ] && return $rc
	set +e +x
	while read -r m; do
		[ -n "$m" ] && "$LIFEBOAT" umount --lazy "$m" >/dev/null 2>&1
	done < <(tac "$_STATE/lbmounts")
	(exit $rc)
	_disk_cleanup
}
trap '_mount_cleanup' EXIT
trap '_mount_cleanup; exit 130' INT
trap '_mount_cleanup; exit 143' TERM

# lb_mount [OPTIONS...] MOUNTPOINT: lifeboat mount (MOUNTPOINT is created),
# remembered for the cleanup.
lb_mount() {
	local mp=${!#}
	mkdir -p "$mp"
	(cd "$mp" && pwd -P) >>"$_STATE/lbmounts"
	lifeboat mount "$@"
}

# state_file MOUNTPOINT: the state file of a Lifeboat mount.
state_file() {
	local mp
	mp=$(abs "$1")
	grep -l -F "\"mountpoint\":\"$mp\"" /run/lifeboat/*.json 2>/dev/null | head -1
}

# abs PATH: absolute path, without entering PATH (it may be a dead FUSE mount).
abs() {
	echo "$(cd "$(dirname "$1")" && pwd -P)/$(basename "$1")"
}

# mount_pid MOUNTPOINT: the process serving a Lifeboat mount.
mount_pid() {
	json_get 'd["pid"]' <"$(state_file "$1")"
}

# check_clean MOUNTPOINT [PID]: nothing of a Lifeboat mount is left: no
# mount at or below it, no loop device reading a file below it, no process
# (the serving one, ntfs-3g, fusefat) about it, no state file.
check_clean() {
	local -
	_quiet
	local mp pid=${2:-} st
	mp=$(abs "$1")
	if findmnt -rn -o TARGET | sed 's/\\x20/ /g' | grep -q -x -F -e "$mp" -e "$mp/"; then
		echo "$mp is still mounted:" >&2
		findmnt -rn -o TARGET,FSTYPE,SOURCE | grep -F "$mp" >&2
		return 1
	fi
	if findmnt -rn -o TARGET | sed 's/\\x20/ /g' | grep -q -F "$mp/"; then
		echo "mounts left below $mp:" >&2
		findmnt -rn -o TARGET | grep -F "$mp/" >&2
		return 1
	fi
	if losetup -nl -O NAME,BACK-FILE | grep -q -F "$mp/"; then
		echo "loop devices left over files below $mp:" >&2
		losetup -nl -O NAME,BACK-FILE | grep -F "$mp/" >&2
		return 1
	fi
	if [ -n "$pid" ]; then
		st=$(ps -o stat= -p "$pid" 2>/dev/null || true)
		case $st in
		"" | Z*) ;;
		*)
			echo "process $pid ($st) still runs" >&2
			return 1
			;;
		esac
	fi
	if pgrep -f -- "$mp/" | grep -q .; then
		echo "processes about $mp left:" >&2
		pgrep -a -f -- "$mp/" >&2
		return 1
	fi
	if [ -n "$(state_file "$mp")" ]; then
		echo "state file $(state_file "$mp") left" >&2
		return 1
	fi
	return 0
}

# snap_dir MOUNTPOINT SNAPSHOT-ID: the directory name of a snapshot.
snap_dir() {
	local t
	t=$(lifeboat info --repo "$REPO_FOR_DIR" "$2" --json | json_get 'd["time"]')
	echo "$(date -d "@$t" +%Y-%m-%dT%H%M%S)_$(echo "$2" | cut -c1-8)"
}

# mtimes DIR: every entry's modification and change time, sorted.
mtimes() {
	(cd "$1" && find . -printf '%p %T@ %C@\n' | sort)
}

# fat_files DIR: checksum and lower-case path of every file. fusefat (FUSE;
# the kernel here has no vfat) shows names that fit 8.3 in upper case even
# when stored in lower case, and the volume label as an empty file.
fat_files() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | tr "A-Z" "a-z" | sort)
}

HAVE_FAT=
if grep -qw vfat /proc/filesystems || command -v fusefat >/dev/null; then
	HAVE_FAT=1
fi

test_expect_success 'setup: a 600 MiB GPT disk with FAT32, ext4, NTFS and XFS' '
	make_disk disk.img 600M <<-EOF &&
	label: gpt
	start=2048, size=40MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system partition"
	size=120MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"
	size=64MiB, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="windows data"
	type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="xfs"
	EOF
	src=$(disk_loop disk.img) &&
	echo "$src" >src.dev &&

	mkfs.vfat -F 32 -n ESP "$(part $src 1)" >/dev/null &&
	export MTOOLS_SKIP_CHECK=1 &&
	mmd -i "$(part $src 1)" ::/EFI ::/EFI/BOOT ::/EFI/debian &&
	random_file bootx64.efi 900K && random_file vmlinuz 3M &&
	seq 1 5000 >"Long File Name.txt" &&
	mcopy -i "$(part $src 1)" bootx64.efi ::/EFI/BOOT/BOOTX64.EFI &&
	mcopy -i "$(part $src 1)" vmlinuz ::/EFI/debian/ &&
	mcopy -i "$(part $src 1)" "Long File Name.txt" ::/ &&

	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L rootfs "$(part $src 2)" &&
	mount_fs "$(part $src 2)" mnt.ext4 &&
	fill_tree mnt.ext4 4 5 &&
	random_file mnt.ext4/target.bin 3M target &&
	setfattr -n user.comment -v "mounted with its xattrs" mnt.ext4/random/small-2.bin &&
	setfattr -n user.binary -v 0x00ff10ee mnt.ext4/deep/a/b/c/d/numbers.txt &&
	setfattr -n trusted.lifeboat -v yes mnt.ext4/empty-file &&
	setfattr -h -n trusted.link -v on-a-symlink mnt.ext4/links/relative &&
	chown 1234:5678 mnt.ext4/random/small-3.bin &&
	chown -h 4321:8765 mnt.ext4/links/absolute &&
	chmod 4755 mnt.ext4/random/small-4.bin &&
	chmod 640 mnt.ext4/random/small-5.bin &&
	mkfifo mnt.ext4/fifo &&
	touch -d "2001-02-03 04:05:06.123456789" mnt.ext4/random/small-6.bin &&
	touch -h -d "1999-12-31 23:59:59" mnt.ext4/links/dangling &&
	unmount_fs mnt.ext4 &&

	mkfs.ntfs -f -Q -L WINDATA "$(part $src 3)" >/dev/null &&
	mount_fs "$(part $src 3)" mnt.ntfs -t ntfs-3g &&
	mkdir -p mnt.ntfs/Users/Public "mnt.ntfs/Program Files" &&
	random_file mnt.ntfs/Users/Public/report.bin 2M ntfs-report &&
	random_file "mnt.ntfs/Program Files/app.exe" 3M ntfs-app &&
	seq 1 100000 >mnt.ntfs/Users/numbers.txt &&
	echo "unicode" >"mnt.ntfs/Users/Größe ünd Ñame.txt" &&
	ln -s numbers.txt mnt.ntfs/Users/symlink &&
	unmount_fs mnt.ntfs &&

	mkfs.xfs -q -f -L xfs-test "$(part $src 4)" &&
	mount_fs "$(part $src 4)" mnt.xfs &&
	fill_tree mnt.xfs 3 3 &&
	setfattr -n user.fs -v xfs mnt.xfs/random/big.bin &&
	chown 2000:3000 mnt.xfs/random/big.bin &&
	touch -d "2010-10-10 10:10:10" mnt.xfs/doc &&
	unmount_fs mnt.xfs &&
	sync
'
SRC=$(cat src.dev 2>/dev/null)
IMG=$(basename "$SRC")

test_expect_success 'setup: reference copies of the file trees, backup, restores' '
	for n in 2:ext4 4:xfs 3:ntfs; do
		mount_ro "$(part $SRC ${n%%:*})" ref.mnt ${n#*:} &&
		save_tree ref.mnt ref.${n%%:*} &&
		mtimes ref.mnt >ref.${n%%:*}.mtimes &&
		unmount_fs ref.mnt || exit 1
	done &&
	fat_save "$(part $SRC 1)" ref.1 &&
	expect_grep "user.comment" ref.2.xattrs &&
	expect_grep "trusted.link" ref.2.xattrs &&
	expect_grep "user.fs" ref.4.xattrs &&
	lifeboat init --repo repo &&
	lifeboat backup --repo repo "$SRC" --json >b1.json &&
	json_get "d[\"snapshot\"]" <b1.json >snap1.id &&
	lifeboat restore --repo repo latest full.img &&
	for n in 1 2 3 4; do
		lifeboat restore --repo repo latest --partition $n p$n.img || exit 1
	done &&
	sha full.img >full.sha
'
REPO_FOR_DIR=$SCRATCH/repo
SNAP1=$(cat snap1.id 2>/dev/null)

test_expect_success 'mount: one directory per snapshot, latest, info.json, disk.img and part<N>.img' '
	lb_mount --repo repo m >mount.out &&
	cat mount.out >&2 &&
	expect_grep "^Mounted 1 snapshot\(s\) of $SCRATCH/repo at $SCRATCH/m\$" mount.out &&
	mountpoint -q m &&
	d=$(snap_dir m "$SNAP1") &&
	expect_eq "$(ls m | tr "\n" " ")" "$d latest " "entries of the mount point" &&
	expect_eq "$(readlink m/latest)" "$d" "latest" &&
	expect_eq "$(ls m/$d | tr "\n" " ")" "$(printf "%s\n" info.json $IMG | sort | tr "\n" " ")" "entries of the snapshot" &&
	expect_eq "$(ls m/$d/$IMG | tr "\n" " ")" "disk.img part1.img part2.img part3.img part4.img " "entries of the image" &&
	lifeboat info --repo repo "$SNAP1" --json >info.json &&
	expect_cmp m/$d/info.json info.json &&
	expect_eq "$(file_size m/latest/$IMG/disk.img)" $((600 << 20)) "size of disk.img" &&
	for n in 1 2 3 4; do
		expect_eq "$(file_size m/latest/$IMG/part$n.img)" "$(file_size p$n.img)" "size of part$n.img" || exit 1
	done &&
	test ! -w m/latest/$IMG/disk.img &&
	! touch m/latest/$IMG/disk.img 2>/dev/null &&
	! mkdir m/latest/new 2>/dev/null
'

test_expect_success 'disk.img is what restore writes, part<N>.img its partitions' '
	expect_cmp m/latest/$IMG/disk.img full.img &&
	for n in 1 2 3 4; do
		expect_cmp m/latest/$IMG/part$n.img p$n.img || exit 1
	done
'

test_expect_success 'fdisk -l, losetup -r, mount -o ro,loop and ntfs-3g work on the images' '
	fdisk -l m/latest/$IMG/disk.img >fdisk.out &&
	cat fdisk.out >&2 &&
	expect_eq "$(grep -c "^m/latest/$IMG/disk.img[1-4] " fdisk.out)" 4 "partitions fdisk lists" &&
	dev=$(losetup -r -f --show m/latest/$IMG/part2.img) &&
	echo "$dev $SCRATCH/m/$(readlink m/latest)/$IMG/part2.img" >>"$_STATE/loops" &&
	mount_fs "$dev" ro.ext4 -o ro,noload &&
	compare_tree ref.2 ro.ext4 &&
	unmount_fs ro.ext4 &&
	free_loop "$dev" &&
	mount_fs m/latest/$IMG/part4.img ro.xfs -o ro,loop,norecovery,nouuid &&
	compare_tree ref.4 ro.xfs &&
	unmount_fs ro.xfs &&
	mount_fs m/latest/$IMG/part3.img ro.ntfs -t ntfs-3g -o ro &&
	compare_tree ref.3 ro.ntfs --no-xattrs &&
	unmount_fs ro.ntfs &&
	fat_compare ref.1 m/latest/$IMG/part1.img &&
	if command -v qemu-img >/dev/null; then
		qemu-img info -f raw m/latest/$IMG/disk.img >qemu.out &&
		expect_grep "virtual size: 600 MiB" qemu.out
	fi
'

test_expect_success 'concurrent readers get the right bytes' '
	for i in 1 2 3 4 5 6; do
		sha256sum <m/latest/$IMG/disk.img >par.$i &
	done
	for n in 1 2 3 4; do
		sha256sum <m/latest/$IMG/part$n.img >parp.$n &
	done
	wait
	for i in 1 2 3 4 5 6; do
		expect_eq "$(cut -d" " -f1 par.$i)" "$(cat full.sha)" "checksum of reader $i" || exit 1
	done &&
	for n in 1 2 3 4; do
		expect_eq "$(cut -d" " -f1 parp.$n)" "$(sha p$n.img)" "checksum of part$n.img" || exit 1
	done
'

test_expect_success 'umount leaves no mount, process or state file' '
	pid=$(mount_pid m) &&
	test -n "$pid" &&
	lifeboat umount m >umount.out &&
	expect_grep "^Unmounted $SCRATCH/m\$" umount.out &&
	check_clean m "$pid" &&
	test -z "$(ls -A m)"
'

test_expect_success 'mount --files: every file of ext4, XFS, NTFS (and FAT) as in the source' '
	lb_mount --repo repo --files m >files.out 2>files.err &&
	cat files.out files.err >&2 &&
	d=m/$(snap_dir m "$SNAP1")/$IMG &&
	expect_grep "part2 \(ext4\) mounted at " files.out &&
	expect_grep "part3 \(ntfs\) mounted at " files.out &&
	expect_grep "part4 \(xfs\) mounted at " files.out &&
	findmnt -rn -o TARGET,FSTYPE,OPTIONS | grep -F "$SCRATCH/m/" >&2 &&
	expect_eq "$(findmnt -n -o FSTYPE "$SCRATCH/$d/part2")" ext4 &&
	expect_eq "$(findmnt -n -o FSTYPE "$SCRATCH/$d/part4")" xfs &&
	findmnt -n -o OPTIONS "$SCRATCH/$d/part2" | grep -q "^ro," &&
	losetup -nl -O NAME,RO,AUTOCLEAR,BACK-FILE | grep -F "$SCRATCH/m/" >loops.out &&
	cat loops.out >&2 &&
	test "$(wc -l <loops.out)" -ge 3 &&
	! awk "\$2 != 1 || \$3 != 1" loops.out | grep -q . &&
	compare_tree ref.2 $d/part2 &&
	diff -u ref.2.mtimes <(mtimes $d/part2) >&2 &&
	compare_tree ref.4 $d/part4 &&
	diff -u ref.4.mtimes <(mtimes $d/part4) >&2 &&
	compare_tree ref.3 $d/part3 --no-xattrs &&
	expect_eq "$(stat -c "%a %u:%g" $d/part2/random/small-4.bin)" "4755 0:0" &&
	expect_eq "$(stat -c "%u:%g" $d/part2/random/small-3.bin)" "1234:5678" &&
	expect_eq "$(readlink $d/part2/links/absolute)" /etc/hostname &&
	expect_eq "$(getfattr -h --only-values -n trusted.link $d/part2/links/relative)" on-a-symlink &&
	expect_eq "$(stat -c %Y $d/part2/random/small-6.bin)" "$(date -d "2001-02-03 04:05:06" +%s)" &&
	if [ -n "$HAVE_FAT" ]; then
		expect_grep "part1 \(vfat\) mounted at " files.out &&
		fat_files $d/part1 | grep -v " \./esp\$" >fat.list &&
		diff -u <(fat_files ref.1) fat.list >&2 &&
		test -f "$d/part1/Long File Name.txt"
	else
		expect_grep "part1: vfat filesystem not mounted" files.err
	fi
'

test_expect_success 'concurrent readers through the inner filesystems' '
	d=m/latest/$IMG &&
	(cd ref.2 && tar -cf - --sort=name --exclude=./fifo . | sha256sum) >tar.ref &&
	for i in 1 2 3 4; do
		(cd $d/part2 && tar -cf - --sort=name --exclude=./fifo . | sha256sum) >tar.$i &
	done
	sha256sum <$d/part4/random/big.bin >big.sha &
	sha256sum <$d/disk.img >par.disk &
	wait
	expect_eq "$(cut -d" " -f1 big.sha)" "$(sha ref.4/random/big.bin)" "checksum of big.bin" &&
	for i in 1 2 3 4; do
		expect_eq "$(cat tar.$i)" "$(cat tar.ref)" "tar of reader $i" || exit 1
	done &&
	expect_eq "$(cut -d" " -f1 par.disk)" "$(cat full.sha)" "checksum of disk.img"
'

test_expect_success 'umount undoes the inner mounts, loop devices, helpers and FUSE' '
	pid=$(mount_pid m) &&
	lifeboat umount m &&
	check_clean m "$pid" &&
	test -z "$(ls -A m)"
'

test_expect_success 'umount after kill -9 of the mount process (--files)' '
	lb_mount --repo repo --files m >/dev/null 2>&1 &&
	pid=$(mount_pid m) &&
	cat m/latest/$IMG/part2/target.bin >/dev/null &&
	kill -9 "$pid" &&
	sleep 0.5 &&
	! ls m >/dev/null 2>&1 &&
	lifeboat umount m &&
	check_clean m "$pid" &&
	test -z "$(ls -A m)"
'

test_expect_success 'umount after kill -9 of the mount process (no --files)' '
	lb_mount --repo repo m >/dev/null &&
	pid=$(mount_pid m) &&
	head -c 1M m/latest/$IMG/disk.img >/dev/null &&
	kill -9 "$pid" &&
	sleep 0.5 &&
	lifeboat umount m &&
	check_clean m "$pid"
'

test_expect_success 'bad mount points and snapshots are refused' '
	mkdir -p full && echo x >full/file &&
	expect_fail 1 "mount point .*full is not empty" lifeboat mount --repo repo full &&
	expect_fail 1 "not a directory" lifeboat mount --repo repo full/file &&
	expect_fail 1 "mount point .*nowhere: No such file" lifeboat mount --repo repo nowhere &&
	mkdir -p e &&
	expect_fail 1 "no snapshot 0123abcd" lifeboat mount --repo repo --files 0123abcd e &&
	expect_fail 1 "not a Lifeboat repository|cannot open" lifeboat mount --repo full e &&
	expect_fail 2 "give" lifeboat mount --repo repo latest e &&
	expect_fail 2 "cache-size" lifeboat mount --repo repo --cache-size 1 e &&
	expect_fail 1 "is not a Lifeboat mount" lifeboat umount e &&
	! mountpoint -q e &&
	test -z "$(ls -A e)" &&
	lb_mount --repo repo e >/dev/null &&
	expect_fail 1 "not empty|already" lifeboat mount --repo repo e &&
	lifeboat umount e &&
	check_clean e
'

# types_at DIR: the types of the filesystems mounted at DIR, bottom first.
types_at() {
	findmnt -rn -o TARGET,FSTYPE | awk -v t="$(abs "$1")" '$1 == t { print $2 }' | tr "\n" " "
}

test_expect_success 'a long mount point path: its state file has a shorter name, umount finds it' '
	long=$(printf "%0100d" 0 | tr 0 a)/$(printf "%0100d" 0 | tr 0 b)/$(printf "%0100d" 0 | tr 0 c) &&
	lb_mount --repo repo "$long" >/dev/null &&
	sf=$(state_file "$long") &&
	test -n "$sf" &&
	name=$(basename "$sf") &&
	test ${#name} -le 255 &&
	expect_cmp "$long"/latest/$IMG/part2.img p2.img &&
	lifeboat umount "$long" >umount.out &&
	expect_grep "^Unmounted $SCRATCH/$long\$" umount.out &&
	check_clean "$long"
'

test_expect_success 'umount through a symbolic link to the mount point, also after kill -9' '
	mkdir -p m && ln -s m mlink && ln -s mlink mlink2 &&
	lb_mount --repo repo mlink >/dev/null &&
	lifeboat umount mlink2 >umount.out &&
	expect_grep "^Unmounted $SCRATCH/m\$" umount.out &&
	check_clean m &&
	lb_mount --repo repo m >/dev/null &&
	pid=$(mount_pid m) &&
	kill -9 "$pid" &&
	sleep 0.5 &&
	lifeboat umount mlink &&
	check_clean m "$pid"
'

test_expect_success 'another filesystem below Lifeboat'"'"'s: umount takes only its own; one over it: refused' '
	mount_fs tmpfs under -t tmpfs &&
	lb_mount --repo repo under >/dev/null &&
	expect_eq "$(types_at under)" "tmpfs fuse.lifeboat " "mounts at under" &&
	pid=$(mount_pid under) &&
	lifeboat umount under >umount.out &&
	expect_grep "^Unmounted $SCRATCH/under\$" umount.out &&
	expect_eq "$(types_at under)" "tmpfs " "mounts at under after umount" &&
	test -z "$(state_file under)" &&
	for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done &&
	! kill -0 "$pid" 2>/dev/null &&
	unmount_fs under &&
	lb_mount --repo repo m >/dev/null &&
	mount_fs tmpfs m -t tmpfs &&
	expect_fail 1 "a tmpfs filesystem is mounted over Lifeboat.s; unmount it first" lifeboat umount m &&
	expect_eq "$(types_at m)" "fuse.lifeboat tmpfs " "mounts at m" &&
	unmount_fs m &&
	lifeboat umount m &&
	check_clean m
'

test_expect_success 'a mount that fails while starting undoes itself, in the foreground too' '
	mount_fs tmpfs rorun -t tmpfs -o ro &&
	mkdir -p m && (cd m && pwd -P) >>"$_STATE/lbmounts" &&
	LIFEBOAT_RUN_DIR=$PWD/rorun expect_fail 1 "cannot write .*/rorun/.*\.json: Read-only file system" \
		lifeboat mount --repo repo -f m &&
	check_clean m &&
	test -z "$(ls -A m)" &&
	LIFEBOAT_RUN_DIR=$PWD/rorun expect_fail 1 "cannot write .*/rorun/.*\.json: Read-only file system" \
		lifeboat mount --repo repo --files m &&
	check_clean m &&
	test -z "$(ls -A m)" &&
	unmount_fs rorun
'

test_expect_success 'images whose names give the same directory name: one directory each' '
	mkdir -p n1 n2 &&
	random_file n1/info.json 64K one &&
	random_file n2/info.json 64K two &&
	lifeboat init --repo repo.names >/dev/null &&
	lifeboat backup --repo repo.names n1/info.json n2/info.json >/dev/null &&
	lb_mount --repo repo.names m >/dev/null &&
	expect_eq "$(ls m/latest | tr "\n" " ")" "info.json info.json-2 info.json-2-2 " "entries of the snapshot" &&
	expect_cmp m/latest/info.json-2/disk.img n1/info.json &&
	expect_cmp m/latest/info.json-2-2/disk.img n2/info.json &&
	lifeboat umount m &&
	check_clean m
'

test_expect_success 'a new snapshot appears; latest follows it' '
	lb_mount --repo repo m >/dev/null &&
	test "$(ls m | wc -l)" = 2 &&
	lifeboat backup --repo repo "$SRC" --json >b2.json &&
	json_get "d[\"snapshot\"]" <b2.json >snap2.id &&
	snap2=$(cat snap2.id) &&
	d2=$(snap_dir m "$snap2") &&
	sleep 2.2 &&
	ls m >ls.out &&
	expect_grep "^$d2\$" ls.out &&
	expect_eq "$(wc -l <ls.out)" 3 "entries" &&
	expect_eq "$(readlink m/latest)" "$d2" latest &&
	lifeboat info --repo repo "$snap2" --json >info2.json &&
	expect_cmp m/latest/info.json info2.json &&
	expect_cmp m/latest/$IMG/part2.img p2.img &&
	lifeboat umount m
'

test_expect_success 'a deleted snapshot: not listed, its files fail, never other data' '
	cp -a repo repo.prune &&
	lb_mount --repo repo.prune m >/dev/null &&
	d1=$(snap_dir m "$SNAP1") &&
	test -f m/$d1/$IMG/disk.img &&
	exec 3<m/$d1/$IMG/part2.img &&
	rm repo.prune/snapshots/$SNAP1 &&
	sleep 2.2 &&
	ls m >ls.out &&
	expect_no_grep "$d1" ls.out &&
	! dd bs=64k count=1 status=none <&3 >/dev/null 2>dd.err &&
	cat dd.err >&2 &&
	exec 3<&- &&
	! cat m/$d1/$IMG/part2.img >/dev/null 2>cat.err &&
	cat cat.err >&2 &&
	expect_cmp m/latest/$IMG/part2.img p2.img &&
	lifeboat umount m
'

test_expect_success 'a damaged chunk: EIO for what it holds, the rest reads fine' '
	cp -a repo repo.bad &&
	python3 - repo.bad ref.2/target.bin <<-EOF &&
	import glob, sys
	needle = open(sys.argv[2], "rb").read()[1572864:1572864 + 64]
	hits = []
	for p in glob.glob(sys.argv[1] + "/packs/*/*"):
	    data = open(p, "rb").read()
	    i = data.find(needle)
	    if i >= 0:
	        hits.append((p, i))
	assert len(hits) == 1, hits
	p, i = hits[0]
	with open(p, "r+b") as f:
	    f.seek(i + 32)
	    b = f.read(1)
	    f.seek(i + 32)
	    f.write(bytes([b[0] ^ 0x55]))
	EOF
	lb_mount --repo repo.bad --files m >/dev/null &&
	log=$(json_get "d[\"log\"]" <"$(state_file m)") &&
	d=m/latest/$IMG &&
	! cat $d/part2/target.bin >/dev/null 2>cat.err &&
	cat cat.err >&2 &&
	expect_grep "Input/output error" cat.err &&
	diff -r --no-dereference -x fifo -x target.bin ref.2 $d/part2 >&2 &&
	compare_tree ref.4 $d/part4 &&
	expect_cmp $d/part1.img p1.img &&
	expect_cmp $d/part3.img p3.img &&
	! cat $d/disk.img >/dev/null 2>cat.err &&
	expect_grep "Input/output error" cat.err &&
	cat "$log" >&2 &&
	expect_grep "image $IMG: bytes [0-9]+-[0-9]+ cannot be read: data damaged in pack" "$log" &&
	lifeboat umount m &&
	check_clean m
'

test_expect_success 'an encrypted repository: the passphrase is asked once, at mount' '
	export LIFEBOAT_PASSWORD="correct horse battery staple" &&
	lifeboat init --repo repo.enc --encrypt >/dev/null &&
	lifeboat backup --repo repo.enc "$SRC" >/dev/null &&
	LIFEBOAT_PASSWORD=wrong expect_fail 1 "passphrase|wrong" lifeboat mount --repo repo.enc m &&
	! mountpoint -q m &&
	lb_mount --repo repo.enc --files m >/dev/null &&
	unset LIFEBOAT_PASSWORD &&
	expect_cmp m/latest/$IMG/disk.img full.img &&
	compare_tree ref.2 m/latest/$IMG/part2 &&
	lifeboat umount m &&
	check_clean m
'

test_expect_success 'the foreground mode; SIGTERM unmounts everything' '
	mkdir -p m && (cd m && pwd -P) >>"$_STATE/lbmounts" &&
	"$LIFEBOAT" mount --repo repo --files -f m >fg.out 2>fg.err &
	pid=$!
	register_pid $pid &&
	for i in $(seq 100); do
		findmnt -rn -o TARGET | grep -q -F "$SCRATCH/m/" && grep -q "^Mounted" fg.out && break
		sleep 0.1
	done &&
	cat fg.out >&2 &&
	expect_grep "^Mounted 2 snapshot" fg.out &&
	compare_tree ref.2 m/latest/$IMG/part2 &&
	pid=$(mount_pid m) &&
	register_pid $pid &&
	ps -o args= -p $pid | grep -q "mount --repo repo --files -f m" &&
	kill -TERM $pid &&
	for i in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done &&
	! kill -0 $pid 2>/dev/null &&
	check_clean m
'

test_done
