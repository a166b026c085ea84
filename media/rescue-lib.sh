# SPDX-License-Identifier: GPL-2.0-or-later
# rescue-lib.sh: what /init, unattended.sh and menu.sh share on the recovery
# media (busybox sh): consoles and the log, the configuration, block devices,
# finding and mounting a repository, choosing a target.

RUN=/run/lifeboat
LOG=$RUN/log
VOLID=LIFEBOAT_RESCUE
mkdir -p "$RUN" 2>/dev/null

# ---- consoles and the log ----

# Every console the kernel writes to (console=tty0 console=ttyS0: both).
CONSOLES=$(cat "$RUN/consoles" 2>/dev/null)

find_consoles() {
	local c list=
	for c in $(cat /sys/class/tty/console/active 2>/dev/null); do
		[ -c "/dev/$c" ] && list="$list /dev/$c"
	done
	[ -n "$list" ] || list=/dev/console
	CONSOLES=$list
	echo "$CONSOLES" >"$RUN/consoles"
}

# log LINE: into the session log only.
log() {
	printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >>"$LOG"
}

# say LINE: on every console and in the log.
say() {
	local c
	for c in ${CONSOLES:-/dev/console}; do
		printf '%s\n' "$*" >"$c" 2>/dev/null
	done
	log "$*"
}

# say_file FILE [PREFIX]: every line of FILE, through say.
say_file() {
	local line
	while IFS= read -r line || [ -n "$line" ]; do
		say "${2:-}$line"
	done <"$1"
}

# human BYTES: 1.5 GiB
human() {
	awk -v b="$1" 'BEGIN {
		split("B KiB MiB GiB TiB PiB", u, " ")
		i = 1
		while (b >= 1024 && i < 6) { b /= 1024; i++ }
		if (i == 1) printf "%d B\n", b; else printf "%.1f %s\n", b, u[i] }'
}

# ---- the configuration ----
# Keys (without the lifeboat. prefix of the kernel command line); values are
# kept in CFG_<key>. Later sources win: the media's file, a config volume
# (filesystem label LBCONFIG, file /lifeboat.conf), the kernel command line.

KNOWN_KEYS="mode restore backup repo target after password password_file disk grow tag wait"

conf_set() {
	local k=$1 v=$2
	k=${k#lifeboat.}
	case $k in
	'' | *[!a-z_]*)
		log "configuration: ignoring the bad key '$k'"
		return 0
		;;
	esac
	case " $KNOWN_KEYS " in
	*" $k "*) ;;
	*) log "configuration: unknown key '$k' (ignored)"; return 0 ;;
	esac
	eval "CFG_$k=\$v"
}

# conf KEY [DEFAULT]
conf() {
	local v
	eval "v=\${CFG_$1-}"
	[ -n "$v" ] || v=${2:-}
	printf '%s' "$v"
}

# load_conf_file FILE WHERE: key=value lines, # comments, optional quotes.
load_conf_file() {
	local line k v
	[ -r "$1" ] || return 0
	log "configuration from $2"
	while IFS= read -r line || [ -n "$line" ]; do
		line=$(printf '%s' "$line" | tr -d '\r')
		case $line in
		'' | '#'*) continue ;;
		*=*) ;;
		*) log "configuration ($2): not key=value: $line"; continue ;;
		esac
		k=$(printf '%s' "${line%%=*}" | tr -d ' \t')
		v=${line#*=}
		# trim blanks, then one pair of quotes
		v=$(printf '%s' "$v" | sed -e 's/^[ \t]*//' -e 's/[ \t]*$//')
		case $v in
		\"*\") v=${v#\"}; v=${v%\"} ;;
		\'*\') v=${v#\'}; v=${v%\'} ;;
		esac
		conf_set "$k" "$v"
	done <"$1"
}

# load_all_conf: the configuration as /init read it (for a new shell).
load_all_conf() {
	load_conf_file /etc/lifeboat/media.conf "the media (/lifeboat.conf)"
	load_conf_file "$RUN/volume.conf" "the config volume"
	load_cmdline
}

# load_cmdline: lifeboat.KEY=VALUE arguments of the kernel command line;
# double quotes as the kernel reads them (lifeboat.password="two words").
load_cmdline() {
	local w
	awk '{
		w = ""; q = 0; inw = 0
		for (i = 1; i <= length($0); i++) {
			c = substr($0, i, 1)
			if (c == "\"") { q = !q; inw = 1; continue }
			if (!q && (c == " " || c == "\t")) { if (inw) print w; w = ""; inw = 0; continue }
			w = w c; inw = 1
		}
		if (inw) print w
	}' /proc/cmdline >"$RUN/cmdline.words"
	while IFS= read -r w; do
		case $w in
		lifeboat.*=*)
			w=${w#lifeboat.}
			conf_set "${w%%=*}" "${w#*=}"
			;;
		esac
	done <"$RUN/cmdline.words"
}

# ---- block devices ----

# disks: the whole disks, one name per line (no loop, RAM or floppy devices).
disks() {
	local d n
	for d in /sys/block/*; do
		n=${d##*/}
		case $n in
		loop* | ram* | zram* | fd* | nbd* | mtdblock*) continue ;;
		esac
		echo "$n"
	done
}

# blockdevs: every disk and partition (name per line).
blockdevs() {
	local d p
	for d in $(disks); do
		echo "$d"
		for p in /sys/block/"$d"/"$d"*; do
			[ -e "$p/partition" ] && echo "${p##*/}"
		done
	done
}

# dev_size NAME|/dev/NAME: bytes (0 if none).
dev_size() {
	local n=${1#/dev/} s
	s=$(cat "/sys/class/block/$n/size" 2>/dev/null) || s=0
	echo $((s * 512))
}

# disk_of NAME|/dev/NAME: the whole disk a partition is on (itself for a disk).
disk_of() {
	local n=${1#/dev/} p
	if [ -e "/sys/class/block/$n/partition" ]; then
		p=$(readlink -f "/sys/class/block/$n")
		p=${p%/*}
		echo "${p##*/}"
	else
		echo "$n"
	fi
}

# fs_type DEV, fs_label DEV: what is on it (libblkid, probing the device).
fs_type() { blkid -p -s TYPE -o value "$1" 2>/dev/null | head -n 1; }
fs_label() { blkid -p -s LABEL -o value "$1" 2>/dev/null | head -n 1; }

# medium_node DISK: the node of DISK (itself or a partition) holding a
# filesystem labelled LIFEBOAT_RESCUE: these media (the CD, or the USB stick
# the ISO was written to) or another copy of them.
medium_node() {
	local d=${1#/dev/} n
	for n in "$d" $(ls /sys/block/"$d" 2>/dev/null | grep "^$d"); do
		if [ "$(fs_label "/dev/$n")" = "$VOLID" ]; then
			echo "/dev/$n"
			return 0
		fi
	done
	return 1
}

# is_boot_medium DISK: DISK is the recovery media (or a copy of them).
is_boot_medium() {
	medium_node "$1" >/dev/null
}

# boot_medium_dev: the device holding the media's filesystem, or nothing.
boot_medium_dev() {
	local d
	for d in $(disks); do
		medium_node "$d" && return 0
	done
	return 1
}

# settle [SECONDS]: wait until the set of block devices has not changed for
# 1.5 s (drivers probe asynchronously; USB takes a few seconds), at most
# SECONDS (default 10).
settle() {
	local max=$((${1:-10} * 2)) i=0 same=0 prev= cur
	while [ $i -lt "$max" ]; do
		cur=$(blockdevs | tr '\n' ' ')
		if [ -n "$cur" ] && [ "$cur" = "$prev" ]; then
			same=$((same + 1))
			[ $same -ge 3 ] && return 0
		else
			same=0
		fi
		prev=$cur
		sleep 0.5
		i=$((i + 1))
	done
}

# resolve_dev SPEC [SECONDS]: /dev/sdb1, LABEL=x, UUID=x, PARTLABEL=x,
# PARTUUID=x → the device node; waits for it up to SECONDS (default: wait=).
resolve_dev() {
	local spec=$1 max=${2:-$(conf wait 15)} i=0 dev
	while :; do
		case $spec in
		/dev/*) [ -b "$spec" ] && dev=$spec ;;
		*=*) dev=$(blkid -c /dev/null -l -o device -t "$spec" 2>/dev/null | head -n 1) ;;
		*) return 1 ;;
		esac
		if [ -n "$dev" ] && [ -b "$dev" ]; then
			echo "$dev"
			return 0
		fi
		[ $i -ge $((max * 2)) ] && return 1
		sleep 0.5
		i=$((i + 1))
	done
}

# ---- mounts ----

# mount_dev DEV DIR ro|rw|probe: mount a filesystem by its type. probe: read
# only and without journal replay (nothing is written to a disk looked at).
mount_dev() {
	local dev=$1 dir=$2 how=$3 t o
	t=$(fs_type "$dev")
	mkdir -p "$dir"
	case $how in
	probe)
		case $t in
		ext3 | ext4) o=ro,noload ;;
		xfs) o=ro,norecovery ;;
		btrfs) o=ro,nologreplay ;;
		*) o=ro ;;
		esac
		;;
	*) o=$how ;;
	esac
	case $t in
	'' | swap | crypto_LUKS | LVM2_member | linux_raid_member | zfs_member | bcache) return 1 ;;
	ntfs) ntfs-3g -o "$o" "$dev" "$dir" 2>>"$LOG" ;;
	*) mount -t "$t" -o "$o" "$dev" "$dir" 2>>"$LOG" ;;
	esac
}

is_repo_dir() {
	[ -f "$1/config" ] && grep -q '"format" *: *"lifeboat-repository"' "$1/config" 2>/dev/null
}

# repos_in DIR: repository directories at most two levels below DIR.
repos_in() {
	local c
	for c in "$1/config" "$1"/*/config "$1"/*/*/config; do
		[ -f "$c" ] || continue
		is_repo_dir "${c%/config}" && echo "${c%/config}"
	done
}

# find_repos: every repository on every filesystem, as DEV:/PATH lines.
find_repos() {
	local n m r medium=
	for n in $(blockdevs); do
		# a USB stick holding the ISO shows its filesystem twice (the whole
		# disk and partition 1): look once
		if [ "$(fs_label "/dev/$n")" = "$VOLID" ]; then
			[ -n "$medium" ] && [ "$(disk_of "$n")" = "$medium" ] && continue
			medium=$(disk_of "$n")
		fi
		m=$RUN/probe/$n
		mount_dev "/dev/$n" "$m" probe || { rmdir "$m" 2>/dev/null; continue; }
		for r in $(repos_in "$m"); do
			r=${r#"$m"}
			echo "/dev/$n:${r:-/}"
		done
		umount "$m" 2>/dev/null
		rmdir "$m" 2>/dev/null
	done
}

# open_repo SPEC ro|rw: mount the repository named by SPEC (DEV:/PATH, DEV,
# or auto) at $RUN/repo. Sets REPO (the directory), REPO_DEV, REPO_DISK,
# REPO_SPEC; on failure sets REASON and returns 1.
REPO= REPO_DEV= REPO_DISK= REPO_SPEC= REPO_MNT=$RUN/repo
open_repo() {
	local spec=$1 how=$2 dev path found n
	case $spec in
	'' | auto)
		found=$(find_repos)
		n=$(printf '%s\n' "$found" | grep -c .)
		if [ "$n" = 0 ]; then
			# devices may still be arriving: one more look
			settle 5
			found=$(find_repos)
			n=$(printf '%s\n' "$found" | grep -c .)
		fi
		if [ "$n" = 0 ]; then
			REASON="no Lifeboat repository found on any disk (searched every filesystem, two levels deep); set lifeboat.repo=DEVICE:/PATH"
			return 1
		fi
		if [ "$n" -gt 1 ]; then
			REASON="several repositories found: $(echo $found); name one with lifeboat.repo=DEVICE:/PATH"
			return 1
		fi
		spec=$found
		;;
	esac
	case $spec in
	media | media:/*)
		# the copy that --include-snapshot put on these media
		dev=$(boot_medium_dev)
		if [ -z "$dev" ]; then
			REASON="repo=$spec: the recovery media's own filesystem ($VOLID) is not visible"
			return 1
		fi
		path=/lifeboat/repo
		case $spec in media:/*) path=/${spec#media:/} ;; esac
		spec=$dev:$path
		;;
	esac
	case $spec in
	*:/*) dev=${spec%%:/*}; path=/${spec#*:/} ;;
	*) dev=$spec; path= ;;
	esac
	REPO_DEV=$(resolve_dev "$dev") || {
		REASON="the repository's device $dev does not exist (waited $(conf wait 15) s)"
		return 1
	}
	umount "$REPO_MNT" 2>/dev/null
	if ! mount_dev "$REPO_DEV" "$REPO_MNT" "$how"; then
		REASON="cannot mount $REPO_DEV ($(fs_type "$REPO_DEV" || true)) $how to read the repository"
		[ "$how" = rw ] && REASON="$REASON (a backup needs it writable)"
		return 1
	fi
	if [ -z "$path" ]; then
		found=$(repos_in "$REPO_MNT")
		n=$(printf '%s\n' "$found" | grep -c .)
		if [ "$n" != 1 ]; then
			umount "$REPO_MNT"
			REASON="$n repositories on $REPO_DEV: give the path, lifeboat.repo=$dev:/PATH"
			return 1
		fi
		path=${found#"$REPO_MNT"}
		path=${path:-/}
	fi
	REPO=$REPO_MNT${path%/}
	[ "$path" = / ] && REPO=$REPO_MNT
	if ! is_repo_dir "$REPO"; then
		umount "$REPO_MNT"
		REASON="no Lifeboat repository at $path on $REPO_DEV (no config file of a repository there)"
		return 1
	fi
	REPO_DISK=$(disk_of "$REPO_DEV")
	REPO_SPEC=$REPO_DEV:$path
	return 0
}

close_repo() {
	sync
	umount "$REPO_MNT" 2>/dev/null
}

# repo_encrypted: the open repository is encrypted.
repo_encrypted() {
	! grep -q '"encryption" *: *"none"' "$REPO/config"
}

# ---- passphrase ----

# load_password: LIFEBOAT_PASSWORD from password= or password_file=SPEC
# (DEV:/PATH as for repo=, or a path in the initramfs). Sets REASON, returns 1.
load_password() {
	local pw pf dev path m=$RUN/pwdev
	pw=$(conf password)
	pf=$(conf password_file)
	if [ -n "$pf" ]; then
		case $pf in
		*:/*)
			dev=$(resolve_dev "${pf%%:/*}") || { REASON="the device of password_file=$pf does not exist"; return 1; }
			path=/${pf#*:/}
			if [ "$(disk_of "$dev")" = "$REPO_DISK" ] && [ "$dev" = "$REPO_DEV" ] && [ -r "$REPO_MNT$path" ]; then
				pw=$(head -n 1 "$REPO_MNT$path")
			else
				mount_dev "$dev" "$m" probe || { REASON="cannot mount $dev to read the passphrase file"; return 1; }
				if [ -r "$m$path" ]; then
					pw=$(head -n 1 "$m$path")
					umount "$m"
				else
					umount "$m"
					REASON="no passphrase file $path on $dev"
					return 1
				fi
			fi
			;;
		*)
			[ -r "$pf" ] || { REASON="no passphrase file $pf"; return 1; }
			pw=$(head -n 1 "$pf")
			;;
		esac
	fi
	if [ -n "$pw" ]; then
		LIFEBOAT_PASSWORD=$pw
		export LIFEBOAT_PASSWORD
	fi
	return 0
}

# ---- snapshots ----

# snapshot_images SNAP: "N SIZE NAME" per image of a snapshot (from lifeboat
# info). Fails with REASON (wrong passphrase, no such snapshot, damage).
# Leaves in $RUN/image-ids what identified each image's source disk, "N KEY
# VALUE" lines (KEY: serial, wwid, ptid; see image_identity).
snapshot_images() {
	local out=$RUN/info.out
	if ! lifeboat info --repo "$REPO" "$1" >"$out" 2>&1 </dev/null; then
		REASON="cannot read snapshot $1: $(grep '^lifeboat: ' "$out" | head -n 1 | cut -c11-)"
		[ "$REASON" = "cannot read snapshot $1: " ] && REASON="cannot read snapshot $1: $(tail -n 1 "$out")"
		return 1
	fi
	awk -v ids="$RUN/image-ids" '
		function field(line, key,   v) {
			if (!match(line, ", " key " [^,]*")) return ""
			v = substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
			return v
		}
		BEGIN { printf "" >ids }
		/^Image [0-9]+:/ { n = $2; sub(":", "", n); cur = n; name = $3; next }
		n != "" && $1 == "size" { s = $0; sub(/.*\(/, "", s); sub(/ bytes\).*/, "", s); print n, s, name; n = "" }
		cur != "" && $1 == "disk" {
			if ((v = field($0, "serial")) != "") print cur, "serial", v >ids
			if ((v = field($0, "wwid")) != "") print cur, "wwid", v >ids
		}
		cur != "" && $1 == "table" && $3 != "" {
			v = $0; sub(/.*disk id /, "", v); sub(/,.*/, "", v)
			if (v != "" && v != $0) print cur, "ptid", v >ids
		}
	' "$out"
}

# snapshot_id SNAP: the full ID (first line of lifeboat info).
snapshot_id() {
	awk '$1 == "Snapshot" { print $2; exit }' "$RUN/info.out"
}

# ---- disk identities ----

# sysfs_text FILE [SKIP]: a sysfs attribute without blanks around it (SKIP
# bytes of binary header left out: SCSI VPD pages).
sysfs_text() {
	[ -r "$1" ] || return 0
	dd if="$1" bs=1 skip="${2:-0}" 2>/dev/null | tr -d '\000' | tr '\n\r\t' '???' |
		sed -e 's/[^ -~]/?/g' -e 's/^[ ?]*//' -e 's/[ ?]*$//'
}

# disk_serial NAME, disk_wwid NAME: as lifeboat records them at backup time
# (lb_disk_identity_read): the serial of virtio disks, NVMe and MMC devices,
# or the SCSI/ATA unit serial number page; the WWID of NVMe namespaces or
# SCSI/ATA devices. Nothing for loop devices and the like.
disk_serial() {
	local d=/sys/block/${1#/dev/} v
	v=$(sysfs_text "$d/serial")
	[ -n "$v" ] || v=$(sysfs_text "$d/device/serial")
	[ -n "$v" ] || v=$(sysfs_text "$d/device/vpd_pg80" 4)
	printf '%s' "$v"
}
disk_wwid() {
	local d=/sys/block/${1#/dev/} v
	v=$(sysfs_text "$d/wwid")
	[ -n "$v" ] || v=$(sysfs_text "$d/device/wwid")
	printf '%s' "$v"
}

# norm_ptid ID: partition table IDs compared as blkid and libfdisk write
# them: lower case, no 0x (MBR: 0x1a2b3c4d and 1a2b3c4d are the same).
norm_ptid() {
	printf '%s' "$1" | tr 'A-F' 'a-f' | sed 's/^0x//'
}

# image_identity N: IMG_SERIAL, IMG_WWID, IMG_PTID of image N of the snapshot
# last read by snapshot_images (empty where the backup did not know).
IMG_SERIAL= IMG_WWID= IMG_PTID=
image_identity() {
	IMG_SERIAL=$(awk -v n="$1" '$1 == n && $2 == "serial" { sub(/^[^ ]+ [^ ]+ /, ""); print; exit }' "$RUN/image-ids" 2>/dev/null)
	IMG_WWID=$(awk -v n="$1" '$1 == n && $2 == "wwid" { sub(/^[^ ]+ [^ ]+ /, ""); print; exit }' "$RUN/image-ids" 2>/dev/null)
	IMG_PTID=$(awk -v n="$1" '$1 == n && $2 == "ptid" { print $3; exit }' "$RUN/image-ids" 2>/dev/null)
	IMG_PTID=$(norm_ptid "$IMG_PTID")
}

# same_disk NAME: how the disk NAME is the one the image was taken from
# (after image_identity): prints "serial", "WWID" or "partition table ID"
# and succeeds, or prints nothing and fails.
same_disk() {
	local d=${1#/dev/} v
	if [ -n "$IMG_SERIAL" ] && [ "$(disk_serial "$d")" = "$IMG_SERIAL" ]; then
		echo serial
		return 0
	fi
	if [ -n "$IMG_WWID" ] && [ "$(disk_wwid "$d")" = "$IMG_WWID" ]; then
		echo WWID
		return 0
	fi
	if [ -n "$IMG_PTID" ]; then
		v=$(blkid -p -s PTUUID -o value "/dev/$d" 2>/dev/null)
		if [ -n "$v" ] && [ "$(norm_ptid "$v")" = "$IMG_PTID" ]; then
			echo "partition table ID"
			return 0
		fi
	fi
	return 1
}

# ---- targets ----

# target_candidates NEED [EXCLUDE...]: whole disks that could take an image
# of NEED bytes: writable, not the boot medium, not holding the repository
# or the configuration, not an optical drive, large enough.
target_candidates() {
	local need=$1 d x skip
	shift
	for d in $(disks); do
		case $d in sr* | dm-* | md*) continue ;; esac
		skip=
		for x in "$@"; do [ "$d" = "$x" ] && skip=1; done
		[ -n "$skip" ] && continue
		[ "$(cat /sys/block/"$d"/ro 2>/dev/null)" = 1 ] && continue
		[ "$(dev_size "$d")" -gt 0 ] || continue
		is_boot_medium "$d" && continue
		[ "$(dev_size "$d")" -ge "$need" ] || continue
		echo "$d"
	done
}

# describe_disk NAME: "vdb 1.0 GiB, gpt: 2 partitions (vfat ESP, ext4 root)"
describe_disk() {
	local d=${1#/dev/} pt parts= p t l np=0
	pt=$(blkid -p -s PTTYPE -o value "/dev/$d" 2>/dev/null)
	for p in $(ls /sys/block/"$d" 2>/dev/null | grep "^$d"); do
		np=$((np + 1))
		t=$(fs_type "/dev/$p")
		l=$(fs_label "/dev/$p")
		parts="$parts${parts:+, }${t:-?}${l:+ $l}"
	done
	if [ -n "$pt" ]; then
		echo "$d $(human "$(dev_size "$d")"), $pt: $np partition(s)${parts:+ ($parts)}"
	else
		t=$(fs_type "/dev/$d")
		echo "$d $(human "$(dev_size "$d")"), ${t:-no partition table or filesystem found}"
	fi
}

# ---- the end ----

# finish poweroff|reboot|shell|menu: unmount, sync and do it.
finish() {
	case $1 in
	shell)
		say "Starting a shell; leave it (exit) to power off."
		run_shells
		finish poweroff
		;;
	reboot)
		say "Rebooting."
		umount_all
		reboot -f
		;;
	*)
		say "Powering off."
		umount_all
		poweroff -f
		;;
	esac
	sleep 5
	echo o >/proc/sysrq-trigger 2>/dev/null
	while :; do sleep 60; done
}

umount_all() {
	sync
	awk '$2 ~ "^/run/lifeboat/" || $2 ~ "^/mnt/" { print $2 }' /proc/mounts | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	sync
}

# run_shells: a shell on every console; returns when one of them exits.
run_shells() {
	local c pids='' p q
	for c in ${CONSOLES:-/dev/console}; do
		setsid -c sh -c 'cd /root; exec sh -l' <"$c" >"$c" 2>&1 &
		pids="$pids $!"
	done
	while :; do
		sleep 1
		for p in $pids; do
			kill -0 "$p" 2>/dev/null || {
				for q in $pids; do kill -HUP "$q" 2>/dev/null; done
				return 0
			}
		done
	done
}
