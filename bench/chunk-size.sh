#!/usr/bin/env bash
# bench/chunk-size.sh — what an incremental backup stores, per chunk size.
#
# Usage: bench/chunk-size.sh [DISK] [SIZES...]   (as root)
#   DISK defaults to the GPT disk bench/compare.sh builds; SIZES to 256K 512K 1M.
# Rewrites 1% of the files of the disk's ext4 partition (fixed seed, same sizes),
# then for each chunk size: full backup, backup of the changed disk, and what the
# changed ranges are made of (ext4 metadata, journal, file data), from
# 'lifeboat diff' and the filesystem's own description (dumpe2fs, debugfs).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
lifeboat=${LIFEBOAT:-$top/build/src/cli/lifeboat}
disk=${1:-/var/tmp/lifeboat-bench/ref-disk.img}; shift || true
sizes=${*:-256K 512K 1M}
work=$(mktemp -d /var/tmp/lb-chunk.XXXXXX)
loop=""
cleanup() { set +e; mountpoint -q "$work/m" && umount "$work/m"; [ -n "$loop" ] && { partx -d "$loop"; losetup -d "$loop"; }; rm -rf "$work"; }
trap cleanup EXIT

cp --sparse=always "$disk" "$work/a.img"
cp --sparse=always "$disk" "$work/b.img"
loop=$(losetup -f --show "$work/b.img"); partx -a "$loop"
for i in $(seq 50); do [ -b "${loop}p2" ] && break; sleep 0.1; done
mkdir "$work/m"; mount "${loop}p2" "$work/m"
python3 - "$work/m" <<'PY'
import os, random, sys
root = sys.argv[1]
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
               if os.path.isfile(os.path.join(d, f)) and not os.path.islink(os.path.join(d, f)))
rng = random.Random(20261122)
picked = rng.sample(files, max(1, len(files) // 100))
for p in picked:
    with open(p, "r+b") as f:
        f.write(rng.randbytes(os.path.getsize(p)))
print(f"rewrote {len(picked)} of {len(files)} files, {sum(os.path.getsize(p) for p in picked)/1e6:.1f} MB")
PY
umount "$work/m"
start=$(( $(partx -g -o START -n 2 "$loop") * 512 ))
dumpe2fs "${loop}p2" 2>/dev/null > "$work/dumpe2fs.txt"
debugfs -R "stat <8>" "${loop}p2" 2>/dev/null > "$work/journal.txt"
partx -d "$loop"; losetup -d "$loop"; loop=""

printf "%-6s %14s %14s %10s %10s  %s\n" chunk full_bytes added_bytes added_% diff_MB "changed MB: metadata / journal / data"
for cs in $sizes; do
        rm -rf "$work/repo"
        "$lifeboat" init -q --repo "$work/repo" --chunk-size "$cs"
        # the same source path for both, as for a disk that changed in place
        ln -sf "$work/a.img" "$work/disk.img"
        "$lifeboat" backup -q --repo "$work/repo" "$work/disk.img"
        full=$(du -sb "$work/repo" | cut -f1)
        ln -sf "$work/b.img" "$work/disk.img"
        "$lifeboat" backup -q --repo "$work/repo" "$work/disk.img"
        added=$(( $(du -sb "$work/repo" | cut -f1) - full ))
        ids=$("$lifeboat" list --repo "$work/repo" --json | python3 -c "import json,sys; print(' '.join(s['id'] for s in json.load(sys.stdin)))")
        "$lifeboat" diff --repo "$work/repo" $ids --json > "$work/diff.json"
        python3 - "$work/diff.json" "$work/dumpe2fs.txt" "$work/journal.txt" "$start" "$cs" "$full" "$added" <<'PY'
import json, re, sys
diff = json.load(open(sys.argv[1]))
d = open(sys.argv[2]).read(); j = open(sys.argv[3]).read()
start = int(sys.argv[4]); bs = int(re.search(r"Block size:\s+(\d+)", d).group(1))
meta = []  # (first, last) block ranges of metadata
for m in re.finditer(r"(?:Primary superblock|Backup superblock) at (\d+), Group descriptors at (\d+)-(\d+)", d):
    meta.append((int(m.group(1)), int(m.group(3))))
for m in re.finditer(r"Reserved GDT blocks at (\d+)-(\d+)", d):
    meta.append((int(m.group(1)), int(m.group(2))))
for m in re.finditer(r"(?:Block bitmap|Inode bitmap) at (\d+)", d):
    meta.append((int(m.group(1)), int(m.group(1))))
for m in re.finditer(r"Inode table at (\d+)-(\d+)", d):
    meta.append((int(m.group(1)), int(m.group(2))))
journal = [(int(a), int(b)) for a, b in re.findall(r"\(\d+(?:-\d+)?\):(\d+)-(\d+)", j)]
def overlap(lo, hi, ranges):
    t = 0
    for a, b in ranges:
        a, b = start + a * bs, start + (b + 1) * bs
        t += max(0, min(hi, b) - max(lo, a))
    return t
m = jb = tot = 0
for r in diff["ranges"]:
    lo, hi = r["offset"], r["offset"] + r["length"]
    m += overlap(lo, hi, meta); jb += overlap(lo, hi, journal); tot += hi - lo
full, added = int(sys.argv[6]), int(sys.argv[7])
print(f"{sys.argv[5]:6} {full:14,} {added:14,} {added/full*100:9.1f}% {tot/1e6:10.1f}  "
      f"{m/1e6:.1f} / {jb/1e6:.1f} / {(tot-m-jb)/1e6:.1f}")
PY
done
