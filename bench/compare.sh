#!/usr/bin/env bash
# bench/compare.sh — Lifeboat against its peers on the same volume, in one run.
#
# Usage: sudo bench/compare.sh [--volume IMG] [--runs N] [--workdir DIR] [--no-peers]
#
# Without --volume it builds (once) the reference volume of ../shared/bench:
# an 8 GiB ext4 filesystem holding ~3.2 GiB of real files and stale data in
# its free space. Every timing is with a warm page cache; the full backups
# are the median of N runs (default 3). Prints one table with wall time, CPU
# time, peak memory and bytes stored, and the ratios the goals are set in.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
lifeboat=${LIFEBOAT:-$top/build/src/cli/lifeboat}
volume=""
runs=3
work=/var/tmp/lifeboat-bench
peers=1
while [ $# -gt 0 ]; do
        case $1 in
        --volume) volume=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --workdir) work=$2; shift 2 ;;
        --no-peers) peers=0; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
        esac
done
[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root (loop mounts)" >&2; exit 2; }
for p in zstd /usr/bin/time python3; do
        command -v "$p" >/dev/null || { echo "compare.sh: needs $p (make deps)" >&2; exit 2; }
done
[ -x "$lifeboat" ] || { echo "compare.sh: build first (make build)" >&2; exit 2; }

mkdir -p "$work"
if [ -z "$volume" ]; then
        volume=/var/tmp/ref-ext4.img
        if [ ! -f "$volume" ]; then
                echo "building the reference volume $volume (8 GiB ext4, 3 GiB used)..."
                sh "$top/../shared/bench/make-volume.sh" "$volume" 8192 3072 ext4
        fi
fi
mnt=$work/mnt
loopdev=""
cleanup() {
        mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"
        [ -n "$loopdev" ] && losetup -d "$loopdev" 2>/dev/null
        rm -rf "$work/repo" "$work/restore.img" "$work/peer.zst" "$work/peer-restore.img" \
               "$work/partclone.zst" "$work/fsa.fsa" "$work/changed.img"
}
trap cleanup EXIT

size=$(stat -c %s "$volume")
warm() { cat "$@" > /dev/null; }
# measure NAME CMD... : appends "NAME wall user sys maxrss_kb" to $work/times
measure() {
        local name=$1; shift
        sync
        /usr/bin/time -f "%e %U %S %M" -o "$work/t.$$" "$@" > "$work/out.$$" 2>"$work/err.$$" || {
                echo "compare.sh: '$*' failed:" >&2; cat "$work/err.$$" >&2; exit 1; }
        echo "$name $(tail -1 "$work/t.$$")" >> "$work/times"
}
: > "$work/times"

echo "volume: $volume ($(numfmt --to=iec "$size"), $(du -h "$volume" | cut -f1) allocated), $(nproc) cores, runs=$runs"
warm "$volume"

# --- peers -------------------------------------------------------------------
if [ "$peers" = 1 ]; then
        for i in $(seq "$runs"); do
                measure zstd_full sh -c "zstd -q -T0 -3 -c '$volume' > '$work/peer.zst'"
        done
        echo "zstd_bytes $(stat -c %s "$work/peer.zst")" >> "$work/sizes"
        measure zstd_restore sh -c "zstd -q -d -c '$work/peer.zst' > '$work/peer-restore.img'"
        rm -f "$work/peer-restore.img"
        if command -v partclone.ext4 >/dev/null; then
                for i in $(seq "$runs"); do
                        measure partclone_full sh -c "partclone.ext4 -q -c -s '$volume' -o - 2>/dev/null | zstd -q -T0 -3 -c > '$work/partclone.zst'"
                done
                echo "partclone_bytes $(stat -c %s "$work/partclone.zst")" >> "$work/sizes"
                rm -f "$work/partclone.zst"
        fi
        if command -v fsarchiver >/dev/null; then
                for i in $(seq "$runs"); do
                        rm -f "$work/fsa.fsa"
                        measure fsarchiver_full fsarchiver savefs -j2 -Z3 "$work/fsa.fsa" "$volume"
                done
                echo "fsarchiver_bytes $(stat -c %s "$work/fsa.fsa")" >> "$work/sizes"
                rm -f "$work/fsa.fsa"
        fi
fi

# --- Lifeboat ------------------------------------------------------------------
repo=$work/repo
for i in $(seq "$runs"); do
        rm -rf "$repo"
        "$lifeboat" init -q --repo "$repo"
        measure lifeboat_full "$lifeboat" backup -q --repo "$repo" "$volume"
done
echo "lifeboat_bytes $(du -sb "$repo" | cut -f1)" >> "$work/sizes"
before=$(du -sb "$repo" | cut -f1)
measure lifeboat_unchanged "$lifeboat" backup -q --repo "$repo" "$volume"
echo "lifeboat_unchanged_added $(( $(du -sb "$repo" | cut -f1) - before ))" >> "$work/sizes"

# 1% of the files rewritten (fixed seed, same sizes, new contents) in a copy
cp --sparse=always "$volume" "$work/changed.img"
mkdir -p "$mnt"
mount -o loop "$work/changed.img" "$mnt"
python3 - "$mnt" <<'PY'
import os, random, sys
root = sys.argv[1]
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
               if os.path.isfile(os.path.join(d, f)) and not os.path.islink(os.path.join(d, f)))
rng = random.Random(20261122)
for p in rng.sample(files, max(1, len(files) // 100)):
    n = os.path.getsize(p)
    with open(p, "r+b") as f:
        f.write(rng.randbytes(n))
PY
umount "$mnt"
warm "$work/changed.img"
before=$(du -sb "$repo" | cut -f1)
measure lifeboat_changed "$lifeboat" backup -q --repo "$repo" "$work/changed.img"
echo "lifeboat_changed_added $(( $(du -sb "$repo" | cut -f1) - before ))" >> "$work/sizes"
rm -f "$work/changed.img"

warm "$repo"/packs/*/*
measure lifeboat_restore "$lifeboat" restore -q --repo "$repo" latest "$work/restore.img"
rm -f "$work/restore.img"

# --- table ---------------------------------------------------------------------
python3 - "$work/times" "$work/sizes" "$size" "$peers" <<'PY'
import statistics, sys
times = {}
for line in open(sys.argv[1]):
    name, wall, user, sys_, rss = line.split()
    times.setdefault(name, []).append((float(wall), float(user) + float(sys_), int(rss)))
sizes = dict((l.split()[0], int(l.split()[1])) for l in open(sys.argv[2]))
vol = int(sys.argv[3])

def med(name):
    runs = sorted(times[name])
    return runs[len(runs) // 2]

rows = [
    ("zstd -T0 -3 (raw image)", "zstd_full", "zstd_bytes"),
    ("partclone.ext4 | zstd -T0 -3", "partclone_full", "partclone_bytes"),
    ("fsarchiver savefs -j2 -Z3", "fsarchiver_full", "fsarchiver_bytes"),
    ("lifeboat backup (full)", "lifeboat_full", "lifeboat_bytes"),
    ("lifeboat backup (unchanged)", "lifeboat_unchanged", "lifeboat_unchanged_added"),
    ("lifeboat backup (1% files changed)", "lifeboat_changed", "lifeboat_changed_added"),
    ("zstd -d (raw restore)", "zstd_restore", None),
    ("lifeboat restore (sparse file)", "lifeboat_restore", None),
]
print()
print(f"{'task':38} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9} {'bytes stored':>14}")
for label, t, s in rows:
    if t not in times:
        continue
    wall, cpu, rss = med(t)
    b = f"{sizes[s]:,}" if s and s in sizes else ""
    print(f"{label:38} {wall:8.2f} {cpu:8.2f} {rss/1024:9.1f} {b:>14}")
print()
lf = med("lifeboat_full")
if "zstd_full" in times:
    zf = med("zstd_full")
    print(f"full backup wall, lifeboat / zstd -T0 -3:      {lf[0]/zf[0]:.2f}   (goal < 1.00)")
    print(f"repository size, lifeboat / zstd -3 image:     {sizes['lifeboat_bytes']/sizes['zstd_bytes']:.3f}  (goal <= 1.02)")
if "partclone_full" in times:
    pf = med("partclone_full")
    print(f"full backup wall, lifeboat / partclone|zstd:   {lf[0]/pf[0]:.2f}")
    print(f"size, lifeboat / partclone|zstd image:         {sizes['lifeboat_bytes']/sizes['partclone_bytes']:.3f}")
u = med("lifeboat_unchanged")
print(f"unchanged backup wall / full backup wall:      {u[0]/lf[0]:.3f}  (goal <= 0.10), added {sizes['lifeboat_unchanged_added']:,} bytes (goal < 1 MiB)")
c = med("lifeboat_changed")
print(f"1%-changed backup wall / full backup wall:     {c[0]/lf[0]:.3f}, added {sizes['lifeboat_changed_added']/sizes['lifeboat_bytes']*100:.1f}% of the full backup's bytes")
r = med("lifeboat_restore")
print(f"restore rate: {vol/r[0]/1e9:.2f} GB/s of image data (goal >= 1.5)")
if "zstd_restore" in times:
    print(f"restore wall, lifeboat / zstd -d:              {r[0]/med('zstd_restore')[0]:.2f}")
PY
