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
#   - damaged and random volumes give a clean error,
#   - XFS: a clean log (also after it wrapped) is mapped, a dirty one (copy
#     of a mounted or frozen filesystem, forced shutdown) refused ("xfs-log"
#     runs only these; "xfs" includes them).
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

# ---- XFS log: the free-space trees are only current when the log is clean --

be32_at() { # FILE OFFSET
        local h
        h=$(od -An -t x1 -j "$2" -N 4 "$1" | tr -d ' \n')
        echo $((16#${h:-0}))
}
be32_put() { # FILE OFFSET VALUE
        printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($3 >> 24 & 255)) $(($3 >> 16 & 255)) $(($3 >> 8 & 255)) $(($3 & 255)))" |
                dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
# Where the internal log is: XLOG_OFF (bytes) and XLOG_BBS (512-byte blocks).
xfs_log_geometry() { # IMG
        local logstart=0 agblklog=0 agblocks=0 blocksize=0 logblocks=0
        eval "$(xfs_db -r -c 'sb 0' -c 'p logstart' -c 'p agblklog' -c 'p agblocks' -c 'p blocksize' -c 'p logblocks' "$1" |
                sed -n 's/^\([a-z]*\) = \([0-9]*\)$/\1=\2/p')"
        XLOG_OFF=$((((logstart >> agblklog) * agblocks + (logstart & ((1 << agblklog) - 1))) * blocksize))
        XLOG_BBS=$((logblocks * blocksize / 512))
}
# The pass ("cycle") that wrote a log block: its first word, or for a record
# header the word after the magic.
xlog_cycle() { # IMG BB
        local off=$((XLOG_OFF + $2 * 512)) w
        w=$(be32_at "$1" "$off")
        [ "$w" = $((0xfeedbabe)) ] && w=$(be32_at "$1" $((off + 4)))
        echo "$w"
}
# xfs_logprint's view: CLEAN or DIRTY, and the head block.
xlog_state() { xfs_logprint -t "$1" 2>/dev/null | sed -n 's/.*state: <\([A-Z]*\)>.*/\1/p' | head -n 1; }
xlog_head() { xfs_logprint -t "$1" 2>/dev/null | sed -n 's/.*head: \([0-9]*\).*/\1/p' | head -n 1; }

# A clean log: xfs_logprint agrees, the reader maps it, and the copy with
# unused bytes zeroed passes the checker and holds every file.
xfs_log_clean() { # TAG IMG
        local tag=$1 img=$2 st dev
        st=$(xlog_state "$img")
        if [ "$st" = CLEAN ]; then ok "$tag: xfs_logprint reports a clean log"; else notok "$tag: xfs_logprint reports a clean log (says '$st')"; return; fi
        loop_attach "$img" -r || { notok "$tag: attach the image"; return; }
        dev=$LOOPDEV
        fs_manifest xfs "$dev" "$WORK/log.manifest" 2>"$WORK/err" || { notok "$tag: read the image"; diag "$WORK/err"; }
        loop_detach "$dev"
        verify xfs "$img" 0 "$(stat -c %s "$img")" "$WORK/log.manifest" "$tag"
}

# A dirty log: xfs_logprint and xfs_repair -n say so, the reader refuses it;
# after the kernel replays the log it is clean and mapped again.
xfs_log_dirty() { # TAG IMG
        local tag=$1 img=$2 st rc dev mnt=$WORK/mnt-log
        st=$(xlog_state "$img")
        if [ "$st" = DIRTY ] && xfs_repair -n -f "$img" 2>&1 | grep -q 'valuable metadata changes in a log'; then
                ok "$tag: xfs_logprint and xfs_repair -n report a dirty log"
        else
                notok "$tag: xfs_logprint and xfs_repair -n report a dirty log (xfs_logprint says '$st')"
        fi
        "$DUMP" "$img" >"$WORK/out" 2>&1
        rc=$?
        if [ $rc = 3 ] && grep -q '^error=.*XFS log needs recovery' "$WORK/out"; then
                ok "$tag: reader refuses it ($(sed -n 's/^error=//p' "$WORK/out" | head -c 60)...)"
        else
                notok "$tag: reader refuses it (exit $rc)"
                diag "$WORK/out"
        fi
        loop_attach "$img" || { notok "$tag: attach for log replay"; return; }
        dev=$LOOPDEV
        if do_mount mount -o nouuid "$dev" "$mnt" && do_umount "$mnt"; then
                loop_detach "$dev"
                xfs_log_clean "$tag, after log replay" "$img"
        else
                loop_detach "$dev"
                notok "$tag: mount to replay the log"
        fi
}

# Whatever xfs_logprint says, the reader must agree (a frozen filesystem's
# log is covered, not unmounted: dirty on the kernels we know).
xfs_log_agree() { # TAG IMG
        if [ "$(xlog_state "$2")" = DIRTY ]; then xfs_log_dirty "$1" "$2"; else xfs_log_clean "$1" "$2"; fi
}

# Many mount / write / unmount cycles; after each unmount xfs_logprint and the
# reader must both call the log clean. Prints one TAP line.
xfs_log_churn() { # TAG IMG CYCLES MOUNT-OPTS
        local tag=$1 img=$2 cycles=$3 opts=$4 dev c i st rc bad=0 heads="" mnt=$WORK/mnt-log
        loop_attach "$img" || { notok "$tag: attach"; return; }
        dev=$LOOPDEV
        for ((c = 1; c <= cycles; c++)); do
                do_mount mount ${opts:+-o "$opts"} "$dev" "$mnt" || { bad=$((bad + 1)); break; }
                mkdir -p "$mnt/t$c"
                (cd "$mnt/t$c" && seq 1 $((1500 + c * 997)) | xargs touch)
                for i in 1 2 3 4 5 6; do gen $((c * 100 + i)) $((i * 3001)) >"$mnt/t$c/data$i" && sync; done
                rm -rf "${mnt:?}/t$((c - 1))"
                [ $c = "$cycles" ] && cp -a "$SRC_SMALL/." "$mnt/"
                do_umount "$mnt" || { bad=$((bad + 1)); break; }
                st=$(xlog_state "$img")
                "$DUMP" "$img" >"$WORK/out" 2>&1
                rc=$?
                heads="$heads $(xlog_head "$img")"
                if [ "$st" != CLEAN ] || [ $rc != 0 ]; then
                        bad=$((bad + 1))
                        { echo "cycle $c: xfs_logprint says '$st', reader exit $rc"; cat "$WORK/out"; } >>"$WORK/churn.fail"
                fi
        done
        loop_detach "$dev"
        if [ $bad = 0 ]; then
                ok "$tag: after each of $cycles unmounts xfs_logprint and the reader find the log clean (heads at$heads)"
        else
                notok "$tag: $bad of $cycles unmounts: xfs_logprint or the reader not clean"
                diag "$WORK/churn.fail"
        fi
        rm -f "$WORK/churn.fail"
}

xfs_log_wrapped() { # TAG IMG
        local c
        xfs_log_geometry "$2"
        c=$(xlog_cycle "$2" 0)
        if [ "$c" -ge 2 ]; then ok "$1: the log has wrapped (block 0 is of pass $c)"; else skip "$1: the log has not wrapped (pass $c; mkfs refused a small log?)"; fi
}

# Forged logs that must be refused (whatever the kernel would make of them):
# a block past the head written by the current pass (a write in flight), and
# an unmount record turned into an ordinary one (checksum cleared, as mkfs
# writes it, so that the op flags are what is tested). Control: only the
# checksum cleared is still clean.
xfs_log_forge() { # TAG IMG
        local tag=$1 img=$2 f=$WORK/forged.img head c b rec rc k
        xfs_log_geometry "$img"
        head=$(xlog_head "$img")
        c=$(xlog_cycle "$img" $(((head + XLOG_BBS - 1) % XLOG_BBS)))
        b=$((head + 5))
        [ $b -ge "$XLOG_BBS" ] && b=$((b - XLOG_BBS)) && c=$((c + 1))
        cp --sparse=always "$img" "$f"
        be32_put "$f" $((XLOG_OFF + b * 512)) "$c"
        "$DUMP" "$f" >"$WORK/out" 2>&1
        rc=$?
        if [ $rc = 3 ]; then ok "$tag: a block written past the unmount record is refused"; else notok "$tag: a block written past the unmount record (exit $rc)"; diag "$WORK/out"; fi

        rec=$(((head + XLOG_BBS - 1) % XLOG_BBS))
        for ((k = 0; k < 1100; k++)); do
                [ "$(be32_at "$img" $((XLOG_OFF + rec * 512)))" = $((0xfeedbabe)) ] && break
                rec=$(((rec + XLOG_BBS - 1) % XLOG_BBS))
        done
        cp --sparse=always "$img" "$f"
        be32_put "$f" $((XLOG_OFF + rec * 512 + 32)) 0
        "$DUMP" "$f" >"$WORK/out" 2>&1
        rc=$?
        if [ $rc = 0 ]; then ok "$tag: unmount record with its checksum cleared is still clean"; else notok "$tag: unmount record with its checksum cleared (exit $rc)"; diag "$WORK/out"; fi
        printf '\0' | dd of="$f" bs=1 seek=$((XLOG_OFF + ((rec + 1) % XLOG_BBS) * 512 + 9)) conv=notrunc status=none
        "$DUMP" "$f" >"$WORK/out" 2>&1
        rc=$?
        if [ $rc = 3 ] && grep -q 'XFS log needs recovery' "$WORK/out"; then ok "$tag: head record without the unmount flag is refused"; else notok "$tag: head record without the unmount flag (exit $rc)"; diag "$WORK/out"; fi
        rm -f "$f"
}

# mkfs.xfs refuses logs under 64 MiB outside fstests; a small log wraps fast.
mkfs_xfs_small_log() { # IMG SIZE LOG-OPTS
        rm -f "$1" && truncate -s "$2" "$1" || return 1
        TEST_DIR=$WORK TEST_DEV=$1 QA_CHECK_FS=1 mkfs.xfs -q -f -l "$3" "$1" 2>/dev/null || mkfs.xfs -q -f "$1"
}

test_xfs_log() {
        local img=$WORK/xfs-log.img mnt=$WORK/mnt-log dev i

        # (a) clean: fresh filesystems of several sizes, with and without files
        rm -f "$img" && truncate -s 300M "$img" && mkfs.xfs -q -f "$img"
        xfs_log_clean "xfs log, fresh 300 MiB" "$img"
        rm -f "$img" && truncate -s 2G "$img" && mkfs.xfs -q -f "$img"
        xfs_log_clean "xfs log, fresh 2 GiB (sparse)" "$img"
        xfs_log_churn "xfs log, 2 GiB, 64 MiB log" "$img" 2 ""
        xfs_log_clean "xfs log, 2 GiB with files" "$img"

        # (a) clean after many cycles that wrap a small log, then forged variants
        mkfs_xfs_small_log "$img" 300M size=1368b
        xfs_log_churn "xfs log, small log" "$img" 7 ""
        xfs_log_wrapped "xfs log, small log" "$img"
        xfs_log_clean "xfs log, small log after wrapping" "$img"
        xfs_log_forge "xfs log, small log" "$img"
        xfs_log_geometry "$img"
        fuzz "xfs log, small log, around the head" xfs "$img" $((XLOG_OFF + ($(xlog_head "$img") + XLOG_BBS - 24) % XLOG_BBS * 512)) \
                16384 "${FUZZ_ROUNDS:-40}"
        # records with extra header blocks (256 KiB in-core logs) and log stripe padding
        mkfs_xfs_small_log "$img" 300M size=1920b,su=64k
        xfs_log_churn "xfs log, stripe unit 64 KiB, 128 KiB in-core logs" "$img" 5 logbsize=128k
        xfs_log_wrapped "xfs log, stripe unit 64 KiB" "$img"
        xfs_log_clean "xfs log, stripe unit 64 KiB after wrapping" "$img"

        # (b) dirty: copies of a mounted filesystem, and a forced shutdown
        rm -f "$img" && truncate -s 300M "$img" && mkfs.xfs -q -f "$img"
        loop_attach "$img" || { notok "xfs log: attach"; return; }
        dev=$LOOPDEV
        if do_mount mount "$dev" "$mnt"; then
                cp -a "$SRC_SMALL/." "$mnt/" && sync
                cp --sparse=always "$img" "$WORK/xfs-mounted.img"
                for i in 1 2 3 4 5; do gen $((500 + i)) 70000 >"$mnt/frozen$i"; done
                sync && xfs_freeze -f "$mnt" && cp --sparse=always "$img" "$WORK/xfs-frozen.img"
                xfs_freeze -u "$mnt"
                rm -rf "${mnt:?}/dir1" && gen 600 300000 >"$mnt/shutdown" && sync
                xfs_io -x -c 'shutdown -f' "$mnt"
                do_umount "$mnt"
        else
                notok "xfs log: mount"
        fi
        loop_detach "$dev"
        xfs_log_dirty "xfs log, copy of a mounted filesystem after sync" "$WORK/xfs-mounted.img"
        xfs_log_agree "xfs log, copy of a frozen filesystem" "$WORK/xfs-frozen.img"
        xfs_log_dirty "xfs log, after a forced shutdown" "$img"
        rm -f "$img" "$WORK/xfs-mounted.img" "$WORK/xfs-frozen.img"

        # An external log cannot be checked: -EOPNOTSUPP
        rm -f "$img" "$WORK/xfs-logdev.img" && truncate -s 300M "$img" && truncate -s 64M "$WORK/xfs-logdev.img" &&
                mkfs.xfs -q -f -l logdev="$WORK/xfs-logdev.img",size=64m "$img"
        "$DUMP" "$img" >"$WORK/out" 2>&1
        i=$?
        if [ $i = 2 ]; then ok "xfs log, external log device: -EOPNOTSUPP"; else notok "xfs log, external log device (exit $i)"; diag "$WORK/out"; fi
        rm -f "$img" "$WORK/xfs-logdev.img"
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
        case $fs in
        xfs-log) test_xfs_log ;;
        *) test_fs "$fs"
                [ "$fs" = xfs ] && test_xfs_log ;;
        esac
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
