#!/usr/bin/env bash
# bench/mount.sh — `lifeboat mount` on the reference volume (8 GiB ext4, no
# partition table), backed up into a temporary repository:
#
#   tar     `tar -cf - . | wc -c` over the whole tree through `mount --files`
#           against the original volume loop-mounted read-only (target: at
#           most 1.3 times the original's time);
#   dd      `dd bs=4M` of <image>/disk.img, the whole volume, or with
#           --disk-repo of part1.img of that repository's latest snapshot
#           (target: at least 1 GB/s);
#   ls      the first `ls -l` of a freshly mounted snapshot directory
#           (target: under 1 s), and how long `lifeboat mount` takes.
#
# The page cache is dropped (echo 3 > /proc/sys/vm/drop_caches) before each
# timed command, and each mount is fresh. Figures are medians of N runs
# (default 3), original and Lifeboat alternating, so that other load on the
# machine hits both alike.
#
# Usage: bench/mount.sh [--runs N] [--volume IMG] [--workdir DIR] [--keep-repo]
#                       [--repo DIR] [--disk-repo DIR] [--results FILE]
#   (as root: loop devices, mounts)
#   --repo DIR       a repository whose latest snapshot is of IMG (used as it
#                    is, not removed); default: a backup into the work dir
#   --disk-repo DIR  read part1.img of this repository's latest snapshot
#   --results FILE   write the verdict lines there too (bench/compare.sh)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
lifeboat=${LIFEBOAT:-$top/build/src/cli/lifeboat}
shared=${SHARED:-$top/../shared}
volume=/var/tmp/ref-ext4.img
work=/var/tmp/lifeboat-bench-mount
runs=3
keep=
repo=
repo_given=
disk_repo=
results=
while [ $# -gt 0 ]; do
	case $1 in
	--volume) volume=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--workdir) work=$2; shift 2 ;;
	--keep-repo) keep=1; shift ;;
	--repo) repo=$2; keep=1; repo_given=1; shift 2 ;;
	--disk-repo) disk_repo=$2; shift 2 ;;
	--results) results=$2; shift 2 ;;
	-h | --help) sed -n '2,26p' "$0"; exit 0 ;;
	*) echo "mount.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "mount.sh: run as root (loop devices, mounts)" >&2; exit 2; }
[ -x "$lifeboat" ] || { echo "mount.sh: build first (make build)" >&2; exit 2; }
for p in tar dd python3 findmnt; do
	command -v "$p" >/dev/null || { echo "mount.sh: needs $p" >&2; exit 2; }
done
if [ ! -f "$volume" ]; then
	echo "building the reference volume $volume (8 GiB ext4, 3 GiB used)..."
	sh "$shared/bench/make-volume.sh" "$volume" 8192 3072 ext4
fi
mkdir -p "$work"
repo=${repo:-$work/repo}
orig=$work/orig
mnt=$work/mnt
mkdir -p "$orig" "$mnt"

cleanup() {
	set +e
	findmnt -rn -o TARGET | grep -qx -F "$orig" && umount "$orig"
	[ -n "$(ls /run/lifeboat/*.json 2>/dev/null | xargs -r grep -l -F "\"mountpoint\":\"$mnt\"")" ] &&
		"$lifeboat" umount --lazy "$mnt" >/dev/null
	[ -n "$keep" ] || rm -rf "$repo"
}
trap cleanup EXIT

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# seconds COMMAND...: wall time of COMMAND (its stdout goes to ./last.out).
seconds() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >"$work/last.out"
	t1=$(date +%s.%N)
	python3 -c "print('%.3f' % ($t1 - $t0))"
}

median() {
	python3 -c 'import statistics, sys; print("%.3f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"
}

tar_size() {
	(cd "$1" && tar -cf - . | wc -c)
}

if [ ! -f "$repo/config" ]; then
	[ -z "$repo_given" ] || { echo "mount.sh: $repo is not a Lifeboat repository" >&2; exit 2; }
	rm -rf "$repo"
	"$lifeboat" init --repo "$repo" --quiet
	echo "backing up $volume into $repo..."
	t=$(seconds "$lifeboat" backup --repo "$repo" "$volume" --quiet)
	echo "backup: $t s, repository $(du -sh "$repo" | cut -f1)"
fi
img=$(basename "$volume")
vsize=$(stat -c %s "$volume")

tar_orig=() tar_lb=() dd_lb=() ls_lb=() mount_lb=()
for run in $(seq "$runs"); do
	# tar over the original volume
	mount -o ro,loop,noload "$volume" "$orig"
	drop_caches
	tar_orig+=("$(seconds tar_size "$orig")")
	bytes_orig=$(cat "$work/last.out")
	umount "$orig"

	# tar through mount --files
	"$lifeboat" mount --repo "$repo" --files --quiet "$mnt"
	drop_caches
	tar_lb+=("$(seconds tar_size "$mnt/latest/$img/fs")")
	bytes_lb=$(cat "$work/last.out")
	"$lifeboat" umount --quiet "$mnt"
	if [ "$bytes_orig" != "$bytes_lb" ]; then
		echo "mount.sh: tar gave $bytes_orig bytes from the original, $bytes_lb through the mount" >&2
		exit 1
	fi

	# the first ls of a freshly mounted snapshot directory, dd of disk.img
	drop_caches
	mount_lb+=("$(seconds "$lifeboat" mount --repo "$repo" --quiet "$mnt")")
	snap=$(readlink "$mnt/latest")
	ls_lb+=("$(seconds ls -l "$mnt/$snap" "$mnt/$snap/$img")")
	ddfile=$mnt/$snap/$img/disk.img
	if [ -n "$disk_repo" ]; then
		"$lifeboat" umount --quiet "$mnt"
		"$lifeboat" mount --repo "$disk_repo" --quiet "$mnt"
		snap=$(readlink "$mnt/latest")
		ddfile=$(ls -d "$mnt/$snap"/*/part1.img | head -1)
	fi
	ddsize=$(stat -c %s "$ddfile")
	drop_caches
	t=$(seconds dd if="$ddfile" of=/dev/null bs=4M status=none)
	dd_lb+=("$(python3 -c "print('%.3f' % ($ddsize / $t / 1e9))")")
	"$lifeboat" umount --quiet "$mnt"
	echo "run $run: tar original ${tar_orig[-1]} s, through the mount ${tar_lb[-1]} s;" \
		"dd ${dd_lb[-1]} GB/s; first ls ${ls_lb[-1]} s (mount ${mount_lb[-1]} s); load $(cut -d' ' -f1-3 /proc/loadavg)"
done

to=$(median "${tar_orig[@]}")
tl=$(median "${tar_lb[@]}")
dd=$(median "${dd_lb[@]}")
ls=$(median "${ls_lb[@]}")
mt=$(median "${mount_lb[@]}")
ratio=$(python3 -c "print('%.2f' % ($tl / $to))")
verdict() { python3 -c "print('ok' if $1 else 'MISSED')"; }
echo
echo "Medians of $runs run(s), $(nproc) cores, volume $volume ($((vsize >> 30)) GiB, $((bytes_orig >> 20)) MiB in files):"
printf '  %-44s %8s   %s\n' \
	"tar | wc -c, original volume (loop, ro)" "$to s" "" \
	"tar | wc -c, through mount --files" "$tl s" "${ratio}x the original (target <= 1.3x): $(verdict "$ratio <= 1.3")" \
	"dd bs=4M of $(basename "$ddfile") ($((ddsize >> 20)) MiB)" "$dd GB/s" "target >= 1 GB/s: $(verdict "$dd >= 1")" \
	"first ls -l of a snapshot directory" "$ls s" "target < 1 s: $(verdict "$ls < 1")" \
	"lifeboat mount (to the shell prompt)" "$mt s" ""
if [ -n "$results" ]; then
	# in the format of bench/compare.sh's ratios
	printf '  %-58s %6s %s\n' \
		"mount --files: tar | wc -c time / original volume (loop, ro)" "$ratio" "(goal <= 1.3) $(verdict "$ratio <= 1.3")" \
		"mount: dd bs=4M of $(basename "$ddfile"), GB/s" "$dd" "(goal >= 1) $(verdict "$dd >= 1")" \
		"mount: first ls -l of a snapshot directory, s" "$ls" "(goal < 1) $(verdict "$ls < 1")" \
		"mount: lifeboat mount to the shell prompt, s" "$mt" "" >"$results"
fi
