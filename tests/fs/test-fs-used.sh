#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End-to-end test of the used-block readers (src/lib/fs), TAP output.
#
#   tests/fs/test-fs-used.sh [PATH/TO/fs-used-dump] [FILESYSTEM...]
#
# For each filesystem: make an image, fill it (many small files, a few big
# ones, deleted random data left in free space), then
#   - compare the used bytes with the filesystem's own tools,
#   - THE REAL CHECK: copy only the used ranges into a sparse file (the rest
#     reads as zeros), run the filesystem's checker on the copy and compare
#     every file with the original,
#   - the same with the filesystem inside a bigger file at an offset,
#   - damaged and random volumes give a clean error.
# Needs root (loop devices, mounts). Cleans up its own loop devices and
# mounts only, also on failure.
set -u
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
DUMP=${1:-}
[ $# -gt 0 ] && shift
if [ -z "$DUMP" ]; then
        for c in "$here/../../build/tests/fs/fs-used-dump" /tmp/fs-used-dump; do
                [ -x "$c" ] && DUMP=$c && break
        done
fi
ALL="ext4 ext2 ext4-bigalloc ext4-1k xfs xfs-v4 vfat12 vfat16 vfat32 ntfs swap btrfs"
ONLY=${*:-$ALL}

if [ "$(id -u)" != 0 ]; then
        echo "1..0 # SKIP needs root (loop devices and mounts)"
        exit 0
fi
if [ -z "$DUMP" ] || [ ! -x "$DUMP" ]; then
        echo "Bail out! fs-used-dump not found (pass its path as the first argument)"
        exit 1
fi

WORK=$(mktemp -d /tmp/lb-fs-test.XXXXXX)
LOOPS=()
MOUNTS=()
n=0
failed=0

cleanup() {
        local i
        for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
                umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" 2>/dev/null
        done
        MOUNTS=()
        for l in "${LOOPS[@]}"; do
                losetup -d "$l" 2>/dev/null
        done
        LOOPS=()
        rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n - $* # SKIP"; }
diag() { sed 's/^/# /' "$@" | head -n 40; }

# check DESCRIPTION COMMAND...: one TAP line, output as diagnostics on failure.
check() {
        local what=$1
        shift
        if "$@" >"$WORK/out" 2>&1; then
                ok "$what"
        else
                notok "$what"
                diag "$WORK/out"
        fi
}

# Loop devices and mounts, remembered so cleanup() removes only ours. Not
# called in $(...): the registration must happen in this shell.
LOOPDEV=
loop_attach() { # FILE [losetup options...] -> $LOOPDEV
        local f=$1
        shift
        LOOPDEV=$(losetup --find --show "$@" "$f") || return 1
        LOOPS+=("$LOOPDEV")
}
loop_detach() {
        local dev=$1 keep=() l
        losetup -d "$dev"
        for l in "${LOOPS[@]}"; do [ "$l" != "$dev" ] && keep+=("$l"); done
        LOOPS=("${keep[@]}")
}
do_mount() { # MOUNT-ARGS... DIR (DIR last)
        local dir=${*: -1}
        mkdir -p "$dir"
        "$@" || return 1
        MOUNTS+=("$dir")
}
do_umount() {
        local dir=$1 keep=() m
        umount "$dir" || return 1
        for m in "${MOUNTS[@]}"; do [ "$m" != "$dir" ] && keep+=("$m"); done
        MOUNTS=("${keep[@]}")
}

gen() { "$DUMP" --gen "$1" "$2"; }

# The deterministic tree every filesystem gets (scaled down for small ones):
# $1 = directory, $2 = number of small files, $3 = size of the big files (KiB).
make_tree() {
        local d=$1 nsmall=$2 big=$3 i
        mkdir -p "$d"
        for ((i = 0; i < nsmall; i++)); do
                mkdir -p "$d/dir$((i % 12))/sub$((i % 3))"
                gen "$i" $(((i * 7919) % 9000)) >"$d/dir$((i % 12))/sub$((i % 3))/file$i.dat"
        done
        gen 1001 $((big * 1024)) >"$d/big1.bin"
        gen 1002 $((big * 512 + 123)) >"$d/big2.bin"
        gen 1003 $((big * 256 + 4095)) >"$d/dir0/big3.bin"
        : >"$d/empty"
        printf 'hello, lifeboat\n' >"$d/hello.txt"
}
SRC_FULL=$WORK/src-full
SRC_SMALL=$WORK/src-small

# Write random data into a file on a mounted filesystem and delete it, so free
# space holds stale data the copy must not need.
stale() { # DIR MiB
        head -c "$(($2 * 1048576))" /dev/urandom >"$1/stale.tmp" && sync && rm -f "$1/stale.tmp" && sync
}

# A listing of the tree with sizes, types, symlink targets and a hash of every
# regular file: equal listings mean byte-for-byte equal trees.
manifest() { # DIR [nomode]
        (
                cd "$1" || exit 1
                if [ "${2:-}" = nomode ]; then
                        find . -path ./lost+found -prune -o -printf '%p %y %s %l\n'
                else
                        find . -path ./lost+found -prune -o -printf '%p %y %s %m %l\n'
                fi | sort
                find . -path ./lost+found -prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum
        )
}

# ---- making and filling the filesystems -------------------------------------

# Linux filesystems: mount the image rw through our own loop device.
fill_mounted() { # IMG MOUNT-OPTS
        local img=$1 opts=$2 dev mnt=$WORK/mnt-fill
        loop_attach "$img" || return 1
        dev=$LOOPDEV
        do_mount mount ${opts:+-o "$opts"} "$dev" "$mnt" || return 1
        stale "$mnt" 40 || return 1
        cp -a "$SRC_FULL/." "$mnt/" || return 1
        ln -s dir0/big3.bin "$mnt/link"
        truncate -s 30M "$mnt/sparse" && gen 77 100000 | dd of="$mnt/sparse" bs=4096 seek=3000 conv=notrunc status=none
        for i in $(seq 0 5 200); do rm -f "$mnt/dir$((i % 12))/sub$((i % 3))/file$i.dat"; done
        stale "$mnt" 20 || return 1
        do_umount "$mnt" || return 1
        loop_detach "$dev"
}

fill_ntfs() { # IMG
        local img=$1 mnt=$WORK/mnt-fill
        do_mount ntfs-3g "$img" "$mnt" || return 1
        stale "$mnt" 40 || return 1
        cp -r "$SRC_FULL/." "$mnt/" || return 1
        for i in $(seq 0 5 200); do rm -f "$mnt/dir$((i % 12))/sub$((i % 3))/file$i.dat"; done
        stale "$mnt" 20 || return 1
        do_umount "$mnt"
}

fill_fat() { # IMG SRC
        local img=$1 src=$2 mb
        mb=$(($(stat -c %s "$img") / 1048576 / 4))
        head -c "$((mb * 1048576))" /dev/urandom >"$WORK/stale.bin"
        MTOOLS_SKIP_CHECK=1 mcopy -i "$img" "$WORK/stale.bin" ::/stale.bin || return 1
        MTOOLS_SKIP_CHECK=1 mdel -i "$img" ::/stale.bin || return 1
        MTOOLS_SKIP_CHECK=1 mcopy -s -i "$img" "$src"/* ::/ || return 1
        for i in $(seq 0 5 60); do
                MTOOLS_SKIP_CHECK=1 mdel -i "$img" "::/dir$((i % 12))/sub$((i % 3))/file$i.dat" 2>/dev/null
        done
        rm -f "$WORK/stale.bin"
}

# make_fs NAME IMG: create and fill; prints nothing on success.
make_fs() {
        local name=$1 img=$2
        rm -f "$img"
        case $name in
        ext4) truncate -s 256M "$img" && mkfs.ext4 -q -F -L lbtest -b 4096 "$img" && fill_mounted "$img" "" ;;
        ext4-1k) truncate -s 256M "$img" && mkfs.ext4 -q -F -b 1024 "$img" && fill_mounted "$img" "" ;;
        ext2) truncate -s 200M "$img" && mkfs.ext2 -q -F "$img" && fill_mounted "$img" "" ;;
        ext4-bigalloc) truncate -s 300M "$img" && mkfs.ext4 -q -F -O bigalloc -C 65536 "$img" 2>/dev/null &&
                fill_mounted "$img" "" ;;
        xfs) truncate -s 512M "$img" && mkfs.xfs -q -f -L lbtest "$img" && fill_mounted "$img" "" ;;
        xfs-v4) # Kernels without CONFIG_XFS_SUPPORT_V4 cannot mount it: then only the empty fs is checked.
                truncate -s 512M "$img" && mkfs.xfs -q -f -m crc=0 "$img" 2>/dev/null &&
                        { fill_mounted "$img" "" || { cleanup_mounts_loops; mkfs.xfs -q -f -m crc=0 "$img" 2>/dev/null; }; } ;;
        btrfs) truncate -s 512M "$img" && mkfs.btrfs -q -f -L lbtest "$img" >/dev/null && fill_mounted "$img" "" ;;
        vfat12) truncate -s 8M "$img" && mkfs.vfat -F 12 -n LBTEST "$img" >/dev/null && fill_fat "$img" "$SRC_SMALL" ;;
        vfat16) truncate -s 64M "$img" && mkfs.vfat -F 16 "$img" >/dev/null && fill_fat "$img" "$SRC_FULL" ;;
        vfat32) truncate -s 256M "$img" && mkfs.vfat -F 32 -s 1 -n LBTEST "$img" >/dev/null && fill_fat "$img" "$SRC_FULL" ;;
        ntfs) truncate -s 256M "$img" && mkfs.ntfs -q -f -F -L lbtest "$img" >/dev/null 2>&1 && fill_ntfs "$img" ;;
        swap) truncate -s 64M "$img" && head -c 64M /dev/urandom >"$img" && mkswap -L lbswap "$img" >/dev/null ;;
        *) return 1 ;;
        esac
}

# ---- the checks -------------------------------------------------------------

# What the filesystem's own tools call used, in bytes (or "" if no figure).
tool_used() { # NAME DEV-OR-FILE
        local name=$1 f=$2
        case $name in
        ext*) e2fsck -fn "$f" 2>/dev/null | awk -v bs="$(dumpe2fs -h "$f" 2>/dev/null | awk '/^Block size:/ {print $3}')" \
                '/ blocks$/ { split($(NF-1), a, "/"); print a[1] * bs }' ;;
        xfs*) xfs_db -r -c 'freesp -s' -c 'sb 0' -c 'p dblocks' -c 'p blocksize' "$f" |
                awk '/total free blocks/ {fr=$4} /^dblocks/ {d=$3} /^blocksize/ {b=$3} END {print (d - fr) * b}' ;;
        vfat*) fsck.fat -n -v "$f" 2>/dev/null |
                awk '/bytes per cluster/ {c=$1} /Data area starts at byte/ {d=$6} / clusters$/ {split($(NF-1), a, "/"); u=a[1]}
                     END {print d + u * c}' ;;
        ntfs) ntfsinfo -m "$f" 2>/dev/null |
                awk '/Cluster Size:/ {c=$3} /Volume Size in Clusters:/ {t=$5} /Free Clusters:/ {fr=$3} END {print (t - fr) * c}' ;;
        swap) echo 4096 ;;
        btrfs) # 1 MiB reserved + superblock mirrors + each profile's used bytes times its copies
                local mnt=$WORK/mnt-usage dev_bytes
                dev_bytes=$(btrfs inspect-internal dump-super "$f" | awk '/^dev_item.total_bytes/ {print $2}')
                do_mount mount -o ro "$f" "$mnt" >/dev/null || return 0
                btrfs filesystem usage -b "$mnt" | awk -v dev="$dev_bytes" '
                        /^(Data|Metadata|System),[A-Za-z0-9]+: / {
                                split($1, a, ","); m = (a[2] ~ /DUP/) ? 2 : 1
                                for (i = 2; i <= NF; i++) if ($i ~ /^Used:/) { u = $i; sub(/^Used:/, "", u); sub(/,$/, "", u); t += u * m }
                        }
                        END { t += 1048576; if (dev >= 67108864 + 4096) t += 4096; print t }'
                do_umount "$mnt" >/dev/null ;;
        esac
}

fsck_fs() { # NAME DEV
        case $1 in
        ext*) e2fsck -fn "$2" ;;
        xfs*) xfs_repair -n -f "$2" ;;
        btrfs) btrfs check --readonly "$2" ;;
        vfat*) fsck.fat -n "$2" ;;
        ntfs) ntfsfix -n "$2" ;;
        swap) [ "$(blkid -p -o value -s UUID "$2")" = "$3" ] ;;
        esac
}

# Manifest of the filesystem on DEV (read-only).
fs_manifest() { # NAME DEV OUT
        local name=$1 dev=$2 out=$3 mnt=$WORK/mnt-ro
        case $name in
        ext* | btrfs | xfs*)
                local o=ro
                case $name in xfs*) o=ro,norecovery,nouuid ;; esac
                if [ "$name" = xfs-v4 ] && ! mount -o "$o" "$dev" "$mnt" 2>/dev/null; then
                        echo "unmountable" >"$out"
                        return 0
                fi
                [ "$name" = xfs-v4 ] && umount "$mnt"
                do_mount mount -o "$o" "$dev" "$mnt" || return 1
                manifest "$mnt" >"$out"
                do_umount "$mnt" ;;
        ntfs)
                do_mount ntfs-3g -o ro "$dev" "$mnt" || return 1
                manifest "$mnt" >"$out"
                do_umount "$mnt" ;;
        vfat*)
                rm -rf "$WORK/fatout" && mkdir "$WORK/fatout"
                MTOOLS_SKIP_CHECK=1 mcopy -s -n -i "$dev" '::*' "$WORK/fatout/" || return 1
                manifest "$WORK/fatout" nomode >"$out" ;;
        swap) blkid -p -o export "$dev" | grep -E '^(TYPE|UUID|LABEL)=' >"$out"
                head -c 4096 "$dev" | sha256sum >>"$out" ;;
        esac
}

value() { sed -n "s/^$1=//p" "$2"; }

# verify NAME FILE OFFSET SIZE REF-MANIFEST LABEL: the zero-the-rest check.
verify() {
        local name=$1 file=$2 off=$3 size=$4 ref=$5 tag=$6 copy=$WORK/copy.img dev rc
        rm -f "$copy"
        "$DUMP" --copy "$copy" "$file" "$off" "$size" >"$WORK/info" 2>"$WORK/err"
        rc=$?
        if [ $rc != 0 ]; then
                notok "$tag: reader succeeds (exit $rc)"
                diag "$WORK/info" "$WORK/err"
                return
        fi
        ok "$tag: reader succeeds, $(value used_bytes "$WORK/info") of $(value total_bytes "$WORK/info") bytes used in $(value extents "$WORK/info") extents"
        loop_attach "$copy" -r -o "$off" --sizelimit "$size" || { notok "$tag: attach copy"; return; }
        dev=$LOOPDEV
        check "$tag: checker passes on the copy with unused bytes zeroed" fsck_fs "$name" "$dev" "$(value uuid "$WORK/info")"
        if grep -qx unmountable "$ref"; then
                skip "$tag: every file of the copy equals the original (this kernel cannot mount it)"
        elif fs_manifest "$name" "$dev" "$WORK/copy.manifest" 2>"$WORK/err"; then
                if cmp -s "$ref" "$WORK/copy.manifest"; then
                        ok "$tag: every file of the copy equals the original ($(grep -c . "$ref") manifest lines)"
                else
                        notok "$tag: every file of the copy equals the original"
                        diff "$ref" "$WORK/copy.manifest" | head -n 20 | sed 's/^/# /'
                fi
        else
                notok "$tag: read the copy"
                diag "$WORK/err"
        fi
        loop_detach "$dev"
        rm -f "$copy"
}

# Flip bytes in the metadata area and run the reader directly: any exit but a
# crash (or a broken invariant, exit 1) is fine.
fuzz() { # NAME READER IMG START BYTES ROUNDS
        local name=$1 reader=$2 img=$3 start=$4 span=$5 rounds=$6 i rc bad=0 f=$WORK/fuzz.img
        for ((i = 0; i < rounds; i++)); do
                cp --sparse=always "$img" "$f"
                for k in 1 2 3 4 5 6 7 8; do
                        printf "\\x$(printf %02x $((RANDOM % 256)))" |
                                dd of="$f" bs=1 seek=$((start + (RANDOM * 32768 + RANDOM) % span)) conv=notrunc status=none
                done
                "$DUMP" --reader "$reader" "$f" >"$WORK/fuzz.out" 2>&1
                rc=$?
                if [ $rc -ne 0 ] && [ $rc -ne 2 ] && [ $rc -ne 3 ]; then
                        bad=$((bad + 1))
                        cp "$WORK/fuzz.out" "$WORK/fuzz.fail"
                        echo "exit $rc" >>"$WORK/fuzz.fail"
                fi
        done
        rm -f "$f"
        if [ $bad = 0 ]; then
                ok "$name: $rounds randomly damaged copies give a result or a clean error"
        else
                notok "$name: $bad of $rounds damaged copies crashed or broke invariants"
                diag "$WORK/fuzz.fail"
        fi
}

reader_of() {
        case $1 in ext*) echo ext4 ;; xfs*) echo xfs ;; vfat*) echo vfat ;; *) echo "$1" ;; esac
}

le_at() { od -An -t u"$3" -j "$2" -N "$3" "$1" | tr -d ' '; } # FILE OFFSET BYTES

ntfs_mft_offset() { # byte offset of the MFT
        echo $(($(le_at "$1" 0x30 8) * $(le_at "$1" 11 2) * $(le_at "$1" 13 1)))
}

# Damage that must be refused by the reader (exit 2 or 3, never 0).
damage() { # NAME IMG
        local name=$1 img=$2 f=$WORK/damaged.img rc
        cp --sparse=always "$img" "$f"
        case $name in
        ext*) printf '\377\377\377\377' | dd of="$f" bs=1 seek=$((1024 + 4)) conv=notrunc status=none ;; # s_blocks_count
        xfs*) printf '\377\377\377\377' | dd of="$f" bs=1 seek=88 conv=notrunc status=none ;;           # sb_agcount
        vfat*) printf '\0\0' | dd of="$f" bs=1 seek=11 conv=notrunc status=none ;;                     # bytes per sector
        ntfs) printf 'XXXX' | dd of="$f" bs=1 seek=$(($(ntfs_mft_offset "$f") + 6 * 1024)) conv=notrunc status=none ;; # $Bitmap record
        swap) printf 'XXXXXXXXXX' | dd of="$f" bs=1 seek=4086 conv=notrunc status=none ;;
        btrfs) printf 'XXXXXXXX' | dd of="$f" bs=1 seek=$((65536 + 64)) conv=notrunc status=none ;;   # magic
        esac
        "$DUMP" --reader "$(reader_of "$name")" "$f" >"$WORK/out" 2>&1
        rc=$?
        if [ $rc = 2 ] || [ $rc = 3 ]; then
                ok "$name: damaged superblock gives a clean error ($(sed -n 's/^error=//p' "$WORK/out" | head -c 100))"
        else
                notok "$name: damaged superblock (exit $rc)"
                diag "$WORK/out"
        fi
        rm -f "$f"
}

test_fs() {
        local name=$1 img=$WORK/$1.img dev used tused size rc disk=$WORK/disk.img off=$((1024 * 1024 + 4096 * 3))
        if ! make_fs "$name" "$img" >"$WORK/mk.out" 2>&1; then
                notok "$name: create and fill the filesystem"
                diag "$WORK/mk.out"
                cleanup_mounts_loops
                return
        fi
        ok "$name: create and fill the filesystem"
        size=$(stat -c %s "$img")

        loop_attach "$img" -r || { notok "$name: attach the image"; return; }
        dev=$LOOPDEV
        check "$name: checker passes on the original" fsck_fs "$name" "$dev" "$(blkid -p -o value -s UUID "$dev")"
        fs_manifest "$name" "$dev" "$WORK/ref.manifest" 2>"$WORK/err" || { notok "$name: read the original"; diag "$WORK/err"; }
        tused=$(tool_used "$name" "$dev")
        loop_detach "$dev"

        "$DUMP" "$img" >"$WORK/info" 2>&1
        used=$(value used_bytes "$WORK/info")
        if [ -z "$used" ]; then
                notok "$name: used bytes"
                diag "$WORK/info"
        elif [ -z "$tused" ]; then
                ok "$name: used bytes $used (no independent figure)"
        else
                # Exact for most; slack for bigalloc cluster rounding and NTFS's backup boot sector.
                local slack=0
                case $name in ntfs) slack=4096 ;; esac
                if [ "$used" -ge "$tused" ] && [ "$used" -le $((tused + slack)) ]; then
                        ok "$name: used bytes $used match the filesystem's tools ($tused)"
                else
                        notok "$name: used bytes $used, filesystem's tools say $tused"
                fi
        fi

        verify "$name" "$img" 0 "$size" "$WORK/ref.manifest" "$name"

        # As a partition: garbage around it, starting at an odd 4K offset.
        head -c $((off)) /dev/urandom >"$disk"
        dd if="$img" of="$disk" bs=1M oflag=seek_bytes seek="$off" conv=notrunc,sparse status=none
        truncate -s $((off + size)) "$disk"
        head -c 3M /dev/urandom >>"$disk"
        verify "$name" "$disk" "$off" "$size" "$WORK/ref.manifest" "$name at offset $off"
        rm -f "$disk"

        damage "$name" "$img"
        if [ "$name" = ext4 ]; then # a journal to replay means stale bitmaps: refuse
                cp --sparse=always "$img" "$WORK/recover.img"
                debugfs -w -R "feature needs_recovery" "$WORK/recover.img" >/dev/null 2>&1
                "$DUMP" "$WORK/recover.img" >"$WORK/out" 2>&1
                rc=$?
                if [ $rc = 3 ]; then ok "$name: journal needing recovery is refused"; else notok "$name: journal needing recovery (exit $rc)"; diag "$WORK/out"; fi
                rm -f "$WORK/recover.img"
        fi
        # Flip bytes where the reader looks first; checksummed metadata (ext4
        # metadata_csum, XFS v5, btrfs) mostly tests the rejection, the rest
        # (ext2, XFS v4, FAT, NTFS records) the parsers.
        local fstart=0 fspan=65536
        case $name in
        xfs*) fspan=8192 ;;
        btrfs) fstart=65536 fspan=4096 ;;
        ntfs) fstart=$(ntfs_mft_offset "$img") fspan=16384 ;;
        swap) fspan=4096 ;;
        esac
        fuzz "$name" "$(reader_of "$name")" "$img" "$fstart" "$fspan" "${FUZZ_ROUNDS:-40}"
        rm -f "$img"
}

cleanup_mounts_loops() {
        local i
        for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[i]}" 2>/dev/null; done
        MOUNTS=()
        for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
        LOOPS=()
}

# ---- main -------------------------------------------------------------------

check "lb_extents_add matches a bitmap (randomised)" "$DUMP" --selftest
make_tree "$SRC_FULL" 400 8192
make_tree "$SRC_SMALL" 60 512

for fs in $ONLY; do
        test_fs "$fs"
done

# Random garbage: no filesystem, and every reader refuses it cleanly.
head -c 16M /dev/urandom >"$WORK/garbage.img"
"$DUMP" "$WORK/garbage.img" >"$WORK/out" 2>&1
rc=$?
if [ $rc = 2 ]; then ok "random garbage: -ENOTSUP"; else notok "random garbage: exit $rc"; diag "$WORK/out"; fi
for r in ext4 xfs btrfs vfat ntfs swap; do
        "$DUMP" --reader "$r" "$WORK/garbage.img" >"$WORK/out" 2>&1
        rc=$?
        if [ $rc = 2 ] || [ $rc = 3 ]; then ok "random garbage, $r reader: clean error"; else notok "random garbage, $r reader: exit $rc"; diag "$WORK/out"; fi
done
truncate -s 0 "$WORK/empty.img"
"$DUMP" "$WORK/empty.img" >"$WORK/out" 2>&1
rc=$?
if [ $rc = 2 ]; then ok "empty volume: -ENOTSUP"; else notok "empty volume: exit $rc"; fi

echo "1..$n"
[ $failed = 0 ]
