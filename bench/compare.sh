#!/usr/bin/env bash
# bench/compare.sh — Lifeboat against its peers on the same volumes, in one run.
#
# Usage: bench/compare.sh [--runs N] [--workdir DIR] [--volume IMG] [--quick]
#   (as root: loop devices and mounts)
#
# Inputs (built once, then reused): the reference volume of ../shared/bench
# (8 GiB ext4, ~3.2 GiB used, stale data in its free space) and a GPT disk
# holding a 512 MiB FAT32 ESP and that ext4. Timings use a warm page cache;
# full backups are the median of N runs (default 3; --quick: 1). Restores go
# to files on the same filesystem as the work dir, as the peers' do.
#
# Peers, run here in the same session:
#   zstd -T0 -3 of the raw volume;
#   Clonezilla's pipeline: sfdisk -d, partclone.<fs> -c | zstd -T0 -3, restore
#     with zstd -dc | partclone.<fs> -r;
#   fsarchiver savefs -j2 -Z3.
# Then reading the snapshots through `lifeboat mount` (bench/mount.sh, page
# cache dropped before each timed command): tar of the volume's files through
# --files against the original volume loop-mounted read-only, dd of the disk
# snapshot's part1.img, the first ls -l of a mounted snapshot.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
lifeboat=${LIFEBOAT:-$top/build/src/cli/lifeboat}
shared=${SHARED:-$top/../shared}
volume=""
runs=3
work=/var/tmp/lifeboat-bench
while [ $# -gt 0 ]; do
        case $1 in
        --volume) volume=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --quick) runs=1; shift ;;
        --workdir) work=$2; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
        esac
done
[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root (loop devices, mounts)" >&2; exit 2; }
for p in zstd /usr/bin/time python3 partclone.ext4 partclone.vfat fsarchiver sfdisk mkfs.vfat partx; do
        command -v "$p" >/dev/null || { echo "compare.sh: needs $p (make deps)" >&2; exit 2; }
done
[ -x "$lifeboat" ] || { echo "compare.sh: build first (make build)" >&2; exit 2; }
mkdir -p "$work"
: > "$work/times"
: > "$work/sizes"

loops=()
mnt=$work/mnt
cleanup() {
        set +e
        mountpoint -q "$mnt" && umount "$mnt"
        for l in "${loops[@]}"; do partx -d "$l" 2>/dev/null; losetup -d "$l" 2>/dev/null; done
        rm -f /dev/shm/lifeboat-bench.$$
        rm -rf "$work/repo" "$work/repo-disk" "$work"/*.zst "$work"/*.fsa "$work"/*.out "$work"/t.* \
               "$work/changed.img" "$work/restore.img" "$work/peer-restore.img"
}
trap cleanup EXIT

# ---- inputs ----------------------------------------------------------------
if [ -z "$volume" ]; then
        volume=/var/tmp/ref-ext4.img
        if [ ! -f "$volume" ]; then
                echo "building the reference volume $volume (8 GiB ext4, 3 GiB used)..."
                sh "$shared/bench/make-volume.sh" "$volume" 8192 3072 ext4
        fi
fi
vsize=$(stat -c %s "$volume")
disk=$work/ref-disk.img
if [ ! -f "$disk" ] || [ "$disk" -ot "$volume" ]; then
        echo "building the GPT disk $disk (512 MiB ESP + the reference volume)..."
        rm -f "$disk"
        truncate -s $(( vsize + 514 * 1024 * 1024 + 1024 * 1024 )) "$disk"
        sfdisk -q "$disk" <<SF
label: gpt
start=2048, size=512MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system"
size=$(( vsize / 512 )), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"
SF
        l=$(losetup -f --show "$disk"); loops+=("$l"); partx -a "$l"
        for i in $(seq 50); do [ -b "${l}p2" ] && break; sleep 0.1; done
        mkfs.vfat -F 32 -n ESP "${l}p1" >/dev/null
        mkdir -p "$mnt/../esp-src"
        # an ESP with a bootloader-sized payload: kernels and EFI binaries
        esp_files=$(find /usr/lib/modules /boot /usr/lib/grub /usr/share/doc -type f -size +100k 2>/dev/null | head -60 || true)
        for f in $esp_files; do mcopy -o -i "${l}p1" "$f" "::/$(basename "$f")" 2>/dev/null || true; done
        dd if="$volume" of="${l}p2" bs=4M conv=sparse status=none
        partx -d "$l"; losetup -d "$l"; loops=()
fi
dsize=$(stat -c %s "$disk")

measure() { # NAME CMD...: appends "NAME wall cpu maxrss_kb" to $work/times
        local name=$1; shift
        sync
        /usr/bin/time -f "%e %U %S %M" -o "$work/t.time" "$@" > "$work/t.out" 2> "$work/t.err" || {
                echo "compare.sh: '$*' failed:" >&2; cat "$work/t.err" >&2; exit 1; }
        read -r wall user sys rss < <(tail -1 "$work/t.time")
        echo "$name $wall $(echo "$user + $sys" | bc) $rss" >> "$work/times"
}
size_of() { echo "$1 $2" >> "$work/sizes"; }
warm() { cat "$@" > /dev/null; }

echo "volume $(numfmt --to=iec "$vsize") ($(du -h "$volume" | cut -f1) allocated), disk $(numfmt --to=iec "$dsize"), $(nproc) cores, runs=$runs"

# ---- peers -------------------------------------------------------------------
warm "$volume"
for i in $(seq "$runs"); do
        measure zstd_raw sh -c "zstd -q -T0 -3 -c '$volume' > '$work/raw.zst'"
done
size_of zstd_raw "$(stat -c %s "$work/raw.zst")"; rm -f "$work/raw.zst"
for i in $(seq "$runs"); do
        measure clonezilla_vol sh -c "partclone.ext4 -q -c -s '$volume' -o - 2>/dev/null | zstd -q -T0 -3 -c > '$work/vol.pc.zst'"
done
size_of clonezilla_vol "$(stat -c %s "$work/vol.pc.zst")"
l=$(losetup -f --show -r "$volume"); loops+=("$l")   # fsarchiver wants a block device
for i in $(seq "$runs"); do
        rm -f "$work/vol.fsa"
        measure fsarchiver_vol fsarchiver -o savefs -j2 -Z3 "$work/vol.fsa" "$l"
done
losetup -d "$l"; loops=()
size_of fsarchiver_vol "$(stat -c %s "$work/vol.fsa")"; rm -f "$work/vol.fsa"
# Restores: onto the work dir's disk, made durable (Lifeboat fsyncs; the peer's
# file gets the same with sync FILE), and into tmpfs, where only the CPU work
# of the two pipelines is compared.
shm=/dev/shm/lifeboat-bench.$$
measure clonezilla_restore sh -c "zstd -q -dc '$work/vol.pc.zst' | partclone.ext4 -q -r -W -s - -O '$work/peer-restore.img' 2>/dev/null && sync '$work/peer-restore.img'"
rm -f "$work/peer-restore.img"
measure clonezilla_restore_shm sh -c "zstd -q -dc '$work/vol.pc.zst' | partclone.ext4 -q -r -W -s - -O '$shm' 2>/dev/null"
rm -f "$shm" "$work/vol.pc.zst"

# the disk, as Clonezilla saves it: table + one image per partition
l=$(losetup -f --show -r "$disk"); loops+=("$l"); partx -a "$l"
for i in $(seq 50); do [ -b "${l}p2" ] && break; sleep 0.1; done
warm "$disk"
for i in $(seq "$runs"); do
        measure clonezilla_disk sh -c "sfdisk -d '$l' > '$work/disk.sf.out' &&
                partclone.vfat -q -c -s '${l}p1' -o - 2>/dev/null | zstd -q -T0 -3 -c > '$work/p1.pc.zst' &&
                partclone.ext4 -q -c -s '${l}p2' -o - 2>/dev/null | zstd -q -T0 -3 -c > '$work/p2.pc.zst'"
done
size_of clonezilla_disk "$(( $(stat -c %s "$work/p1.pc.zst") + $(stat -c %s "$work/p2.pc.zst") + $(stat -c %s "$work/disk.sf.out") ))"
rm -f "$work"/p?.pc.zst
partx -d "$l"; losetup -d "$l"; loops=()

# ---- Lifeboat ----------------------------------------------------------------
lb_full() { # NAME SOURCE REPO
        for i in $(seq "$runs"); do
                rm -rf "$3"; "$lifeboat" init -q --repo "$3"
                measure "$1" "$lifeboat" backup -q --repo "$3" "$2"
        done
        size_of "$1" "$(du -sb "$3" | cut -f1)"
}
warm "$volume"
lb_full lifeboat_vol "$volume" "$work/repo"
warm "$disk"
lb_full lifeboat_disk "$disk" "$work/repo-disk"
before=$(du -sb "$work/repo-disk" | cut -f1)
measure lifeboat_unchanged "$lifeboat" backup -q --repo "$work/repo-disk" "$disk"
size_of lifeboat_unchanged "$(( $(du -sb "$work/repo-disk" | cut -f1) - before ))"

# 1% of the files rewritten: fixed seed, same sizes, new contents. The changed
# disk replaces the original in place, so it is the same source to Lifeboat.
cp --sparse=always "$disk" "$work/changed.img"
l=$(losetup -f --show "$work/changed.img"); loops+=("$l"); partx -a "$l"
for i in $(seq 50); do [ -b "${l}p2" ] && break; sleep 0.1; done
mkdir -p "$mnt"; mount "${l}p2" "$mnt"
python3 - "$mnt" <<'PY'
import os, random, sys
root = sys.argv[1]
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
               if os.path.isfile(os.path.join(d, f)) and not os.path.islink(os.path.join(d, f)))
rng = random.Random(20261122)
picked = rng.sample(files, max(1, len(files) // 100))
total = 0
for p in picked:
    n = os.path.getsize(p)
    total += n
    with open(p, "r+b") as f:
        f.write(rng.randbytes(n))
print(f"rewrote {len(picked)} of {len(files)} files, {total/1e6:.1f} MB", file=sys.stderr)
PY
umount "$mnt"; partx -d "$l"; losetup -d "$l"; loops=()
mv "$disk" "$work/ref-disk.orig"; mv "$work/changed.img" "$disk"
warm "$disk"
before=$(du -sb "$work/repo-disk" | cut -f1)
measure lifeboat_changed "$lifeboat" backup -q --repo "$work/repo-disk" "$disk"
size_of lifeboat_changed "$(( $(du -sb "$work/repo-disk" | cut -f1) - before ))"
"$lifeboat" info --repo "$work/repo-disk" latest --json > "$work/changed-info.out"
mv "$work/ref-disk.orig" "$disk"; touch -r "$volume" "$disk"; touch "$disk"

warm "$work/repo"/packs/*/*
measure lifeboat_restore "$lifeboat" restore -q --repo "$work/repo" latest "$work/restore.img"
rm -f "$work/restore.img"
measure lifeboat_restore_shm "$lifeboat" restore -q --repo "$work/repo" latest "$shm"
rm -f "$shm"

# ---- lifeboat mount ----------------------------------------------------------
echo "lifeboat mount (bench/mount.sh):"
LIFEBOAT=$lifeboat bash "$top/bench/mount.sh" --runs "$runs" --volume "$volume" --repo "$work/repo" \
        --disk-repo "$work/repo-disk" --workdir "$work/mount" --results "$work/mount-ratios.out"

# ---- table ------------------------------------------------------------------
python3 - "$work/times" "$work/sizes" "$vsize" "$dsize" "$work/changed-info.out" "$work/mount-ratios.out" <<'PY'
import json, sys
times, sizes = {}, {}
for line in open(sys.argv[1]):
    n, wall, cpu, rss = line.split()
    times.setdefault(n, []).append((float(wall), float(cpu), int(rss)))
for line in open(sys.argv[2]):
    n, b = line.split()
    sizes[n] = int(b)
vsize, dsize = int(sys.argv[3]), int(sys.argv[4])
med = lambda n: sorted(times[n])[len(times[n]) // 2]
rows = [
    ("volume: zstd -T0 -3 of the raw image", "zstd_raw"),
    ("volume: partclone.ext4 | zstd -T0 -3", "clonezilla_vol"),
    ("volume: fsarchiver savefs -j2 -Z3", "fsarchiver_vol"),
    ("volume: lifeboat backup", "lifeboat_vol"),
    ("disk: sfdisk + partclone | zstd (x2)", "clonezilla_disk"),
    ("disk: lifeboat backup", "lifeboat_disk"),
    ("disk: lifeboat backup, unchanged", "lifeboat_unchanged"),
    ("disk: lifeboat backup, 1% files changed", "lifeboat_changed"),
    ("restore: zstd -dc | partclone.ext4 -r; sync", "clonezilla_restore"),
    ("restore: lifeboat restore (fsync)", "lifeboat_restore"),
    ("restore to tmpfs: zstd -dc | partclone -r", "clonezilla_restore_shm"),
    ("restore to tmpfs: lifeboat restore", "lifeboat_restore_shm"),
]
print()
print(f"{'task':42} {'wall s':>7} {'CPU s':>7} {'peak MiB':>9} {'bytes stored':>15}")
for label, n in rows:
    if n not in times:
        continue
    w, c, r = med(n)
    b = f"{sizes[n]:,}" if n in sizes else ""
    print(f"{label:42} {w:7.2f} {c:7.2f} {r/1024:9.1f} {b:>15}")
print()
def ratio(label, a, b, goal=""):
    print(f"  {label:58} {a/b:6.3f} {goal}")
print("Ratios (Lifeboat / peer, same run):")
ratio("volume backup wall / partclone|zstd", med("lifeboat_vol")[0], med("clonezilla_vol")[0], "(goal <= 0.40)")
ratio("volume repository / partclone|zstd image", sizes["lifeboat_vol"], sizes["clonezilla_vol"], "(goal <= 1.05)")
ratio("volume backup wall / zstd -T0 -3 raw", med("lifeboat_vol")[0], med("zstd_raw")[0], "(goal < 1)")
ratio("volume repository / zstd -3 raw image", sizes["lifeboat_vol"], sizes["zstd_raw"], "(goal <= 1.02)")
ratio("volume backup wall / fsarchiver", med("lifeboat_vol")[0], med("fsarchiver_vol")[0])
ratio("disk backup wall / Clonezilla disk", med("lifeboat_disk")[0], med("clonezilla_disk")[0], "(goal <= 0.40)")
ratio("disk repository / Clonezilla disk images", sizes["lifeboat_disk"], sizes["clonezilla_disk"], "(goal <= 1.05)")
ratio("unchanged backup wall / Clonezilla disk", med("lifeboat_unchanged")[0], med("clonezilla_disk")[0], "(goal <= 0.10)")
ratio("unchanged backup wall / lifeboat full disk backup", med("lifeboat_unchanged")[0], med("lifeboat_disk")[0], "(goal <= 0.10)")
print(f"  {'unchanged backup added':58} {sizes['lifeboat_unchanged']:,} bytes (goal < 1 MiB)")
ratio("1%-changed backup wall / Clonezilla disk", med("lifeboat_changed")[0], med("clonezilla_disk")[0], "(goal <= 0.15)")
ratio("1%-changed backup added / full disk backup", sizes["lifeboat_changed"], sizes["lifeboat_disk"], "(goal <= 0.10)")
ratio("restore wall / zstd -dc | partclone -r (both durable)", med("lifeboat_restore")[0], med("clonezilla_restore")[0], "(goal <= 0.25)")
ratio("restore wall / zstd -dc | partclone -r (tmpfs)", med("lifeboat_restore_shm")[0], med("clonezilla_restore_shm")[0], "(goal <= 0.25)")
print(f"  {'restore rate, durable (image bytes / wall)':58} {vsize/med('lifeboat_restore')[0]/1e9:6.2f} GB/s")
print(f"  {'restore rate, tmpfs (image bytes / wall)':58} {vsize/med('lifeboat_restore_shm')[0]/1e9:6.2f} GB/s (goal >= 1.5)")
print(f"  {'peak RSS of any lifeboat run':58} {max(r for n in times if n.startswith('lifeboat') for _,_,r in times[n])/1024:6.1f} MiB (goal <= 256)")
try:
    st = json.load(open(sys.argv[5]))["images"][0]
    print(f"  1%-changed backup: {st['new_chunks']} new chunks ({st['new_bytes']/1e6:.1f} MB before compression), "
          f"{st['unchanged_chunks']} chunks unchanged by fingerprint, {st['bytes_read']/1e6:.0f} MB read")
except Exception as e:
    pass
print()
print("Reading a snapshot through lifeboat mount (page cache dropped before each):")
print(open(sys.argv[6]).read(), end="")
PY
