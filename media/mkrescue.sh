#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# mkrescue.sh: build Lifeboat recovery media, a hybrid ISO image that boots
# from a CD or a USB stick, with BIOS (isolinux) or UEFI (GRUB), into an
# initramfs holding busybox, lifeboat and the tools a restore needs. Booted,
# it runs the unattended plan of its configuration, or a menu on the console.
#
# Usually run as `lifeboat media create ...`, which sets LIFEBOAT_BIN to
# itself. Needs no root, no loop devices and no network. Reproducible: the
# same inputs (and SOURCE_DATE_EPOCH, default: the newest input's mtime) give
# the same bytes.

set -euo pipefail
umask 022
export LC_ALL=C

PROG=mkrescue.sh
MEDIA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VOLID=LIFEBOAT_RESCUE

OUTPUT=
KERNEL=
REPO=
CONFIG=
TIMEOUT=5
APPEND=
LIFEBOAT_BIN=${LIFEBOAT_BIN:-}
INCLUDE_SNAPSHOT=
INCLUDE_REPO=${LIFEBOAT_REPO:-}
PASSWORD_FILE=
KEEP_TEMP=
QUIET=

# Storage and filesystem modules (a Debian kernel has none of them built in);
# their dependencies are added with modprobe -D.
MODULES="virtio_pci virtio_blk virtio_scsi ahci ata_piix sd_mod sr_mod nvme usb_storage uas xhci_pci
ehci_pci ohci_pci uhci_hcd mmc_block sdhci_pci isofs ext4 xfs btrfs vfat nls_cp437 nls_utf8 nls_ascii
loop fuse crc32c_generic ${LIFEBOAT_MEDIA_MODULES:-}"

# Programs copied with their shared libraries: name, then "required" or not.
TOOLS_REQUIRED="lifeboat blkid sfdisk partx losetup mount umount e2fsck resize2fs mke2fs kmod"
TOOLS_OPTIONAL="xfs_repair xfs_growfs xfs_db fsck.vfat mkfs.vfat ntfs-3g ntfsresize ntfsfix mkfs.ntfs btrfs
mkswap wipefs lsblk blockdev dumpe2fs tune2fs fusermount3 fusefat"

usage() {
	cat <<EOF
Usage: $PROG --output FILE.iso [--kernel VMLINUZ] [--repo LOCATION]
                   [--config FILE] [--timeout S] [--append ARGS]
Build Lifeboat recovery media: a hybrid ISO for CD or USB stick, BIOS or UEFI.

  --output FILE     the ISO image to write
  --kernel FILE     the kernel (default: the newest /boot/vmlinuz-*); its
                    modules come from /lib/modules/VERSION
  --repo LOCATION   the repository the media uses: DEVICE:/PATH (DEVICE is
                    /dev/sdb1, LABEL=name or UUID=uuid) or auto (search)
  --config FILE     the media's configuration, key=value lines (see
                    media/lifeboat.conf.example): with restore= or backup=
                    the media runs that plan unattended
  --timeout S       seconds the boot menu waits (default 5; 0: boot at once)
  --append ARGS     more kernel command line arguments
  --include-snapshot SNAPSHOT
                    copy this snapshot (latest or an ID prefix) of the
                    repository --include-repo into the media (/lifeboat/repo
                    on the ISO): a self-contained recovery drive; the media's
                    repository is then that copy (repo=media) unless --repo
                    or the configuration names another
  --include-repo PATH
                    the repository to copy it from (default: \$LIFEBOAT_REPO)
  --password-file FILE
                    its passphrase, if encrypted (or \$LIFEBOAT_PASSWORD)
  --lifeboat FILE   the lifeboat binary (default: \$LIFEBOAT_BIN, else the
                    one in PATH)
  --keep-temp       keep the staging directory
  --quiet           print only errors
Environment: SOURCE_DATE_EPOCH (the time stamp of every file), TMPDIR,
LIFEBOAT_MEDIA_MODULES (more kernel modules).
EOF
}

say() { [ -n "$QUIET" ] || printf '%s: %s\n' "$PROG" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--output | -o) OUTPUT=${2?}; shift ;;
		--output=*) OUTPUT=${1#*=} ;;
		--kernel) KERNEL=${2?}; shift ;;
		--kernel=*) KERNEL=${1#*=} ;;
		--repo) REPO=${2?}; shift ;;
		--repo=*) REPO=${1#*=} ;;
		--config) CONFIG=${2?}; shift ;;
		--config=*) CONFIG=${1#*=} ;;
		--timeout) TIMEOUT=${2?}; shift ;;
		--timeout=*) TIMEOUT=${1#*=} ;;
		--append) APPEND=${2?}; shift ;;
		--append=*) APPEND=${1#*=} ;;
		--include-snapshot) INCLUDE_SNAPSHOT=${2?}; shift ;;
		--include-snapshot=*) INCLUDE_SNAPSHOT=${1#*=} ;;
		--include-repo) INCLUDE_REPO=${2?}; shift ;;
		--include-repo=*) INCLUDE_REPO=${1#*=} ;;
		--password-file) PASSWORD_FILE=${2?}; shift ;;
		--password-file=*) PASSWORD_FILE=${1#*=} ;;
		--lifeboat) LIFEBOAT_BIN=${2?}; shift ;;
		--lifeboat=*) LIFEBOAT_BIN=${1#*=} ;;
		--keep-temp) KEEP_TEMP=1 ;;
		--quiet | -q) QUIET=1 ;;
		--help | -h) usage; exit 0 ;;
		*) usage >&2; die "unknown argument '$1'" ;;
		esac
		shift
	done
	[ -n "$OUTPUT" ] || { usage >&2; die "give --output FILE.iso"; }
	case $TIMEOUT in
	'' | *[!0-9]*) die "bad --timeout '$TIMEOUT': give whole seconds" ;;
	esac
	[ -z "$CONFIG" ] || [ -r "$CONFIG" ] || die "cannot read the configuration $CONFIG"
	if [ -n "$INCLUDE_SNAPSHOT" ]; then
		[ -n "$INCLUDE_REPO" ] || die "--include-snapshot: give the repository to copy it from with --include-repo PATH (or LIFEBOAT_REPO)"
		[ -f "$INCLUDE_REPO/config" ] || die "--include-repo $INCLUDE_REPO: not a Lifeboat repository (no config file there)"
		[ -z "$PASSWORD_FILE" ] || [ -r "$PASSWORD_FILE" ] || die "cannot read the passphrase file $PASSWORD_FILE"
	elif [ -n "$PASSWORD_FILE" ]; then
		die "--password-file is for --include-snapshot"
	fi
	case $REPO in
	'' | auto | media | media:/* | /dev/*:/* | LABEL=*:/* | UUID=*:/* | PARTLABEL=*:/* | PARTUUID=*:/* | /dev/* | LABEL=* | UUID=*) ;;
	*) die "bad --repo '$REPO': give DEVICE:/PATH (DEVICE: /dev/sdb1, LABEL=name, UUID=uuid), media or auto" ;;
	esac
}

# ---- what is needed ----

PATH=$PATH:/usr/sbin:/sbin

check_programs() {
	local p missing=
	for p in xorriso grub-mkimage mkfs.vfat mcopy mmd cpio gzip depmod modprobe ldd busybox; do
		command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	[ -z "$missing" ] || die "missing programs:$missing (packages: xorriso grub-common dosfstools mtools cpio kmod busybox-static; make deps)"
	ISOLINUX_BIN=/usr/lib/ISOLINUX/isolinux.bin
	ISOHDPFX=/usr/lib/ISOLINUX/isohdpfx.bin
	SYSLINUX_MODS=/usr/lib/syslinux/modules/bios
	GRUB_EFI_DIR=/usr/lib/grub/x86_64-efi
	[ -r "$ISOLINUX_BIN" ] && [ -r "$ISOHDPFX" ] || die "no $ISOLINUX_BIN (package isolinux)"
	[ -r "$SYSLINUX_MODS/ldlinux.c32" ] || die "no $SYSLINUX_MODS/ldlinux.c32 (package syslinux-common)"
	[ -d "$GRUB_EFI_DIR" ] || die "no $GRUB_EFI_DIR (package grub-efi-amd64-bin)"
	# busybox-static: the initramfs has no C library for busybox to use
	BUSYBOX=$(command -v busybox)
	if ldd "$BUSYBOX" >/dev/null 2>&1; then
		[ -x /bin/busybox-static ] || die "$BUSYBOX is dynamically linked: install busybox-static"
		BUSYBOX=/bin/busybox-static
	fi
	if [ -z "$LIFEBOAT_BIN" ]; then
		LIFEBOAT_BIN=$(command -v lifeboat || true)
	fi
	[ -n "$LIFEBOAT_BIN" ] && [ -x "$LIFEBOAT_BIN" ] || die "no lifeboat binary: give --lifeboat FILE"
}

# The kernel and its version (from the file name vmlinuz-VERSION, else from
# the version string of the bzImage header).
find_kernel() {
	if [ -z "$KERNEL" ]; then
		KERNEL=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)
		[ -n "$KERNEL" ] || die "no kernel in /boot: give --kernel FILE (Debian: apt-get install linux-image-amd64)"
	fi
	[ -r "$KERNEL" ] || die "cannot read the kernel $KERNEL"
	KVER=
	case $(basename "$KERNEL") in
	vmlinuz-*) KVER=${KERNEL##*/vmlinuz-} ;;
	esac
	if [ -z "$KVER" ] || [ ! -d "/lib/modules/$KVER" ]; then
		# setup header: kernel_version at 0x20e, an offset from 0x200
		local off
		off=$(od -An -tu2 -j 526 -N 2 "$KERNEL" | tr -d ' ')
		KVER=$(dd if="$KERNEL" bs=1 skip=$((off + 512)) count=128 status=none | tr '\0' '\n' | head -n 1 | cut -d' ' -f1)
	fi
	[ -d "/lib/modules/$KVER" ] || die "no modules for kernel $KVER in /lib/modules/$KVER"
	say "kernel $KERNEL ($KVER)"
}

# ---- staging ----

WORK=
cleanup() {
	local rc=$?
	if [ -n "$WORK" ] && [ -d "$WORK" ]; then
		if [ -n "$KEEP_TEMP" ]; then
			say "kept the staging directory $WORK"
		else
			rm -rf --one-file-system "$WORK"
		fi
	fi
	return $rc
}

make_work() {
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/lifeboat-media.XXXXXX")
	ROOT=$WORK/initramfs
	ISO=$WORK/iso
	mkdir -p "$ROOT" "$ISO"
}

# copy_libs FILE...: every shared library the ELF files need (one ldd call),
# at the paths ldd reports, with the dynamic loader.
copy_libs() {
	local lib
	ldd "$@" 2>/dev/null | awk '
		$2 == "=>" && $3 ~ /^\// { print $3; next }
		$1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u >"$WORK/libs"
	while read -r lib; do
		[ -e "$ROOT$lib" ] && continue
		mkdir -p "$ROOT${lib%/*}"
		cp -L "$lib" "$ROOT$lib"
	done <"$WORK/libs"
}

# The directory layout and busybox (its applet links are written straight
# into the initramfs: see make_initramfs).
stage_base() {
	local d
	for d in bin sbin usr/bin usr/sbin lib lib64 etc/lifeboat dev proc sys run tmp mnt root var/log; do
		mkdir -p "$ROOT/$d"
	done
	chmod 1777 "$ROOT/tmp"
	install -m 0755 "$BUSYBOX" "$ROOT/bin/busybox"
	ln -sf /proc/self/mounts "$ROOT/etc/mtab"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOT/etc/passwd"
	printf 'root:x:0:\n' >"$ROOT/etc/group"
	printf 'lifeboat-rescue\n' >"$ROOT/etc/hostname"
}

# lifeboat and the tools restores and --grow need, with their libraries.
stage_tools() {
	local t p elfs=()
	install -m 0755 "$LIFEBOAT_BIN" "$ROOT/usr/bin/lifeboat"
	elfs+=("$LIFEBOAT_BIN")
	for t in $TOOLS_REQUIRED $TOOLS_OPTIONAL; do
		[ "$t" = lifeboat ] && continue
		p=$(type -P "$t" || true)
		if [ -z "$p" ]; then
			case " $TOOLS_REQUIRED " in
			*" $t "*) die "missing program $t" ;;
			esac
			warn "no $t here: the media will not have it"
			continue
		fi
		cp -L "$p" "$ROOT/usr/sbin/$t"
		elfs+=("$p")
	done
	copy_libs "${elfs[@]}"
	# the names restores and users call them by
	for t in fsck.ext2 fsck.ext3 fsck.ext4; do ln -sf e2fsck "$ROOT/usr/sbin/$t"; done
	for t in mkfs.ext2 mkfs.ext3 mkfs.ext4; do ln -sf mke2fs "$ROOT/usr/sbin/$t"; done
	[ -e "$ROOT/usr/sbin/fsck.vfat" ] && ln -sf fsck.vfat "$ROOT/usr/sbin/fsck.fat"
	[ -e "$ROOT/usr/sbin/ntfs-3g" ] && ln -sf ntfs-3g "$ROOT/usr/sbin/mount.ntfs-3g" && ln -sf ntfs-3g "$ROOT/usr/sbin/mount.ntfs"
	for t in modprobe insmod rmmod lsmod modinfo depmod; do
		rm -f "$ROOT/sbin/$t"
		ln -s /usr/sbin/kmod "$ROOT/sbin/$t"
	done
	# glibc loads libgcc_s when a thread is cancelled or unwinds
	for p in /lib/x86_64-linux-gnu/libgcc_s.so.1 /usr/lib/x86_64-linux-gnu/libgcc_s.so.1; do
		if [ -e "$p" ]; then
			install -D -m 0755 "$(readlink -f "$p")" "$ROOT/lib/x86_64-linux-gnu/libgcc_s.so.1"
			break
		fi
	done
}

# The kernel modules of $MODULES and their dependencies, and depmod's files.
stage_modules() {
	local m f n=0 src=/lib/modules/$KVER
	mkdir -p "$ROOT/lib/modules/$KVER"
	for f in modules.order modules.builtin modules.builtin.modinfo; do
		[ -e "$src/$f" ] && cp "$src/$f" "$ROOT/lib/modules/$KVER/"
	done
	# shellcheck disable=SC2086
	modprobe -S "$KVER" -a -D $MODULES >"$WORK/deps" 2>"$WORK/deps.err" || true
	sed -n 's/^modprobe: WARNING: Module \([^ ]*\) not found.*/\1/p' "$WORK/deps.err" | while read -r m; do
		warn "kernel $KVER has no module $m"
	done
	awk '$1 == "insmod" { print $2 }' "$WORK/deps" | sort -u >"$WORK/mods"
	[ -s "$WORK/mods" ] || die "no kernel modules found for $KVER"
	xargs cp --parents -t "$ROOT" <"$WORK/mods"
	depmod -b "$ROOT" "$KVER"
	n=$(find "$ROOT/lib/modules" -name '*.ko*' | wc -l)
	printf '%s\n' $MODULES >"$ROOT/etc/lifeboat/modules"
	say "$n kernel modules"
}

# /init, the scripts it runs and the configuration.
stage_scripts() {
	install -m 0755 "$MEDIA_DIR/init" "$ROOT/init"
	install -D -m 0644 "$MEDIA_DIR/rescue-lib.sh" "$ROOT/lib/lifeboat/rescue-lib.sh"
	install -D -m 0755 "$MEDIA_DIR/unattended.sh" "$ROOT/lib/lifeboat/unattended.sh"
	install -D -m 0755 "$MEDIA_DIR/menu.sh" "$ROOT/lib/lifeboat/menu.sh"
	: >"$ROOT/etc/lifeboat/media.conf"
	if [ -n "$CONFIG" ]; then
		cat "$CONFIG" >>"$ROOT/etc/lifeboat/media.conf"
	fi
	if [ -n "$REPO" ]; then
		printf '# from --repo\nrepo=%s\n' "$REPO" >>"$ROOT/etc/lifeboat/media.conf"
	elif [ -n "$INCLUDE_SNAPSHOT" ] && ! grep -q '^[[:space:]]*repo[[:space:]]*=' "$ROOT/etc/lifeboat/media.conf"; then
		printf '# from --include-snapshot: the copy on these media\nrepo=media\n' >>"$ROOT/etc/lifeboat/media.conf"
	fi
	chmod 0600 "$ROOT/etc/lifeboat/media.conf"
	{
		echo "lifeboat=$("$LIFEBOAT_BIN" --version 2>/dev/null | awk '{ print $2 }')"
		echo "kernel=$KVER"
		echo "built=$(date -u -d "@$SOURCE_DATE_EPOCH" '+%Y-%m-%d %H:%M:%S UTC')"
		echo "volume=$VOLID"
		echo "media_id=$(media_id)"
	} >"$ROOT/etc/lifeboat/media-info"
}

# media_id: the ID of these media, in the initramfs (media-info) and at the
# root of the ISO filesystem (/lifeboat-media), so that booted media tell
# their own filesystem from another Lifeboat stick's (repo=media). Derived
# from the inputs, not random (the image stays reproducible): the SHA-256 of
# the kernel, the lifeboat binary, the scripts on the media (not this
# builder: an installed copy builds the same image), the configuration, the
# boot options and, with --include-snapshot, the copied repository's config
# and snapshot IDs.
media_id() {
	{
		printf 'lifeboat-media-id 1\n'
		sha256sum <"$KERNEL"
		sha256sum <"$LIFEBOAT_BIN"
		cat "$ROOT/init" "$ROOT"/lib/lifeboat/*.sh | sha256sum
		sha256sum <"$ROOT/etc/lifeboat/media.conf"
		printf '%s\n' "$SOURCE_DATE_EPOCH" "$TIMEOUT" "$APPEND"
		if [ -d "$ISO/lifeboat/repo" ]; then
			sha256sum <"$ISO/lifeboat/repo/config"
			ls "$ISO/lifeboat/repo/snapshots"
		fi
	} | sha256sum | cut -c1-32
}

# The initramfs: one newc cpio archive, gzip -n. First entries written here
# (with shell builtins: no root needed, no process per entry): the
# directories, /dev/console (the kernel opens it before /init runs) and the
# busybox applet links; then GNU cpio's archive of the staging tree, sorted,
# every file owned by root with the same time stamp, inodes renumbered.
NEWC_INO=$((0x7f000000))
newc_pad() {
	case $1 in
	1) printf '\0' ;;
	2) printf '\0\0' ;;
	3) printf '\0\0\0' ;;
	esac
}
# newc_entry NAME MODE [RDEVMAJOR RDEVMINOR [DATA]]
newc_entry() {
	local name=$1 mode=$2 maj=${3:-0} min=${4:-0} data=${5:-} namesize filesize
	namesize=$((${#name} + 1))
	filesize=${#data}
	NEWC_INO=$((NEWC_INO + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
		"$NEWC_INO" "$mode" 0 0 1 "$SOURCE_DATE_EPOCH" "$filesize" 0 0 "$maj" "$min" "$namesize" 0 "$name"
	newc_pad $(((4 - (110 + namesize) % 4) % 4))
	printf '%s' "$data"
	newc_pad $(((4 - filesize % 4) % 4))
}
newc_head() {
	local d a
	for d in bin sbin usr usr/bin usr/sbin dev; do
		newc_entry "$d" $((8#040755))
	done
	newc_entry dev/console $((8#020600)) 5 1
	while read -r a; do
		# the real tools win over applets of the same name
		[ -e "$ROOT/$a" ] || [ -L "$ROOT/$a" ] || [ -e "$ROOT/usr/sbin/${a##*/}" ] && continue
		newc_entry "$a" $((8#0120777)) 0 0 /bin/busybox
	done <"$WORK/applets"
}
make_initramfs() {
	"$BUSYBOX" --list-full | sort >"$WORK/applets"
	find "$ROOT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	{
		newc_head
		(cd "$ROOT" && find . -mindepth 1 -printf '%P\n' | sort |
			cpio --quiet -o -H newc -R 0:0 --reproducible)
	} | gzip -n -6 >"$ISO/boot/initrd.gz"
	say "initramfs: $(du -sh "$ROOT" | cut -f1) in $(du -h "$ISO/boot/initrd.gz" | cut -f1) (gzip)"
}

KCMDLINE_BASE="console=tty0 console=ttyS0,115200 quiet panic=10"

# BIOS: isolinux with a serial console and a menu.
make_isolinux() {
	local f t
	mkdir -p "$ISO/isolinux"
	cp "$ISOLINUX_BIN" "$ISO/isolinux/"
	for f in ldlinux.c32 libcom32.c32 libutil.c32 menu.c32; do
		cp "$SYSLINUX_MODS/$f" "$ISO/isolinux/"
	done
	# isolinux: tenths of a second, 0 = wait forever
	t=$((TIMEOUT * 10))
	[ "$t" -gt 0 ] || t=1
	cat >"$ISO/isolinux/isolinux.cfg" <<EOF
SERIAL 0 115200
UI menu.c32
PROMPT 0
TIMEOUT $t
MENU TITLE Lifeboat recovery
DEFAULT lifeboat

LABEL lifeboat
  MENU LABEL Lifeboat recovery
  KERNEL /boot/vmlinuz
  INITRD /boot/initrd.gz
  APPEND $KCMDLINE_BASE $APPEND

LABEL menu
  MENU LABEL Lifeboat recovery: menu only (no unattended plan)
  KERNEL /boot/vmlinuz
  INITRD /boot/initrd.gz
  APPEND $KCMDLINE_BASE $APPEND lifeboat.mode=menu

LABEL shell
  MENU LABEL Lifeboat recovery: shell
  KERNEL /boot/vmlinuz
  INITRD /boot/initrd.gz
  APPEND $KCMDLINE_BASE $APPEND lifeboat.mode=shell
EOF
}

# GRUB's menu, used by the UEFI image (it finds the ISO by its marker file).
make_grub_cfg() {
	mkdir -p "$ISO/boot/grub"
	cat >"$ISO/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=$TIMEOUT
set default=0

menuentry "Lifeboat recovery" {
	linux /boot/vmlinuz $KCMDLINE_BASE $APPEND
	initrd /boot/initrd.gz
}
menuentry "Lifeboat recovery: menu only (no unattended plan)" {
	linux /boot/vmlinuz $KCMDLINE_BASE $APPEND lifeboat.mode=menu
	initrd /boot/initrd.gz
}
menuentry "Lifeboat recovery: shell" {
	linux /boot/vmlinuz $KCMDLINE_BASE $APPEND lifeboat.mode=shell
	initrd /boot/initrd.gz
}
EOF
}

# UEFI: a GRUB EFI image with its modules built in and a small embedded
# configuration that finds the ISO and reads /boot/grub/grub.cfg, on a FAT
# image made without loop devices (mkfs.vfat -C, mtools). grub-mkimage rather
# than grub-mkstandalone: the latter's memdisk tar carries the build time.
make_efiboot() {
	local img=$ISO/boot/efiboot.img
	cat >"$WORK/grub-embedded.cfg" <<'EOF'
search --no-floppy --set=root --file /lifeboat-media
set prefix=($root)/boot/grub
configfile ($root)/boot/grub/grub.cfg
EOF
	grub-mkimage -O x86_64-efi -o "$WORK/BOOTX64.EFI" -p /boot/grub -c "$WORK/grub-embedded.cfg" \
		part_gpt part_msdos fat iso9660 search search_fs_file configfile normal linux serial terminal \
		echo test all_video efi_gop gzio sleep
	touch -d "@$SOURCE_DATE_EPOCH" "$WORK/BOOTX64.EFI"
	rm -f "$img"
	mkfs.vfat -C --invariant -i 4C425245 -n LB_EFIBOOT "$img" 2048 >/dev/null
	MTOOLS_SKIP_CHECK=1 mmd -i "$img" ::/EFI ::/EFI/BOOT
	MTOOLS_SKIP_CHECK=1 mcopy -m -i "$img" "$WORK/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
}

make_iso_tree() {
	mkdir -p "$ISO/boot"
	cp "$KERNEL" "$ISO/boot/vmlinuz"
	cat >"$ISO/lifeboat-media" <<EOF
Lifeboat recovery media
$(cat "$ROOT/etc/lifeboat/media-info")
EOF
	if [ -s "$ROOT/etc/lifeboat/media.conf" ]; then
		cp "$ROOT/etc/lifeboat/media.conf" "$ISO/lifeboat.conf"
		chmod 0644 "$ISO/lifeboat.conf"
	fi
	cat >"$ISO/README.txt" <<'EOF'
Lifeboat recovery media. Boot it from a CD or write it to a USB stick
(dd if=rescue.iso of=/dev/sdX bs=4M); it boots with BIOS and UEFI.
The configuration it was built with is /lifeboat.conf (if any); kernel
command line arguments lifeboat.KEY=VALUE override it. See docs/RECOVERY.md.
EOF
}

# --include-snapshot: a copy of the snapshot (lifeboat copy: the same keys,
# only the blobs it needs, the same bytes for the same inputs) at
# /lifeboat/repo on the ISO, which the media find as repo=media.
include_snapshot() {
	local args
	[ -n "$INCLUDE_SNAPSHOT" ] || return 0
	args=(copy --repo "$INCLUDE_REPO" --to "$ISO/lifeboat/repo")
	[ -z "$PASSWORD_FILE" ] || args+=(--password-file "$PASSWORD_FILE")
	mkdir -p "$ISO/lifeboat"
	"$LIFEBOAT_BIN" "${args[@]}" "$INCLUDE_SNAPSHOT" </dev/null >"$WORK/copy.log" 2>&1 || {
		cat "$WORK/copy.log" >&2
		die "cannot copy snapshot $INCLUDE_SNAPSHOT of $INCLUDE_REPO into the media"
	}
	say "snapshot $INCLUDE_SNAPSHOT: $(du -sh "$ISO/lifeboat/repo" | cut -f1) in /lifeboat/repo"
}

# The hybrid ISO, as Debian's live-build makes it.
make_iso() {
	local date
	find "$ISO" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d%H%M%S00)
	mkdir -p "$(dirname "$OUTPUT")"
	rm -f "$OUTPUT.tmp"
	xorriso -report_about SORRY -as mkisofs -iso-level 3 -r -J -joliet-long -V "$VOLID" \
		--modification-date="$date" \
		-isohybrid-mbr "$ISOHDPFX" -partition_offset 16 \
		-c isolinux/boot.cat -b isolinux/isolinux.bin -no-emul-boot -boot-load-size 4 -boot-info-table \
		-eltorito-alt-boot -e boot/efiboot.img -no-emul-boot -isohybrid-gpt-basdat \
		-o "$OUTPUT.tmp" "$ISO" 2>"$WORK/xorriso.log" || {
		cat "$WORK/xorriso.log" >&2
		die "xorriso failed"
	}
	mv -f "$OUTPUT.tmp" "$OUTPUT"
}

main() {
	parse_args "$@"
	check_programs
	find_kernel
	if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
		# the newest input: the same inputs give the same image
		SOURCE_DATE_EPOCH=$(stat -L -c %Y "$KERNEL" "$LIFEBOAT_BIN" "$MEDIA_DIR"/init "$MEDIA_DIR"/*.sh \
			${CONFIG:+"$CONFIG"} | sort -n | tail -n 1)
	fi
	export SOURCE_DATE_EPOCH
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	make_work
	mkdir -p "$ISO/boot"
	# first: its snapshot is part of the media ID (stage_scripts)
	include_snapshot
	stage_base
	stage_tools
	stage_modules
	stage_scripts
	make_initramfs
	make_iso_tree
	make_isolinux
	make_grub_cfg
	make_efiboot
	make_iso
	say "wrote $OUTPUT ($(du -h --apparent-size "$OUTPUT" | cut -f1))"
}

main "$@"
