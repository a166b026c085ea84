# SPDX-License-Identifier: GPL-2.0-or-later
# rescue-lib.sh: what /init, unattended.sh and menu.sh share on the recovery
# media (busybox sh): consoles and the log, the configuration, block devices,
# finding and mounting a repository, choosing a target.

# (LIFEBOAT_RUN and LIFEBOAT_MEDIA_INFO: for tests on the host,
# tests/media/t0506-rescue-lib.sh; the media never set them)
RUN=${LIFEBOAT_RUN:-/run/lifeboat}
LOG=$RUN/log
VOLID=LIFEBOAT_RESCUE
MEDIA_INFO=${LIFEBOAT_MEDIA_INFO:-/etc/lifeboat/media-info}
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

# is_boot_medium DISK: DISK is the recovery media or any other Lifeboat
# recovery media (an older stick, a copy): never a target.
is_boot_medium() {
	medium_node "$1" >/dev/null
}

# media_id: the ID mkrescue.sh gave these media (media_id= in media-info,
# also in /lifeboat-media at the root of the ISO filesystem).
media_id() {
	sed -n 's/^media_id=//p' "$MEDIA_INFO" 2>/dev/null | head -n 1
}

# boot_medium_dev: the device holding the filesystem of the media that were
# booted: of the filesystems labelled LIFEBOAT_RESCUE (mounted read-only to
# look), the one whose /lifeboat-media carries this boot's media_id. Another
# Lifeboat stick plugged in too (an older one, another machine's) is not
# taken. Sets BOOT_MEDIUM; fails with REASON when there is none or several.
BOOT_MEDIUM=
boot_medium_dev() {
	local d node id m=$RUN/probe-media found= others=
	BOOT_MEDIUM=
	id=$(media_id)
	if [ -z "$id" ]; then
		REASON="these media carry no media ID ($MEDIA_INFO): cannot tell their own filesystem from another Lifeboat medium's"
		return 1
	fi
	for d in $(disks); do
		node=$(medium_node "$d") || continue
		if mount_dev "$node" "$m" probe; then
			if grep -qx "media_id=$id" "$m/lifeboat-media" 2>/dev/null; then
				found="$found${found:+ }$node"
			else
				others="$others${others:+ }$node"
			fi
			umount "$m" 2>/dev/null
		else
			others="$others${others:+ }$node"
		fi
		rmdir "$m" 2>/dev/null
	done
	case $found in
	'')
		REASON="the filesystem of these media ($VOLID, media ID ${id%"${id#????????????}"}) is not visible"
		[ -n "$others" ] && REASON="$REASON; other Lifeboat media, not taken: $others"
		return 1
		;;
	*' '*)
		REASON="several filesystems carry the ID of these media ($found): remove the other copies, or name the repository with lifeboat.repo=DEVICE:/lifeboat/repo"
		return 1
		;;
	esac
	BOOT_MEDIUM=$found
	return 0
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

# canon_dev PATH: /dev/NAME for a block device PATH names, itself or through
# symbolic links (/dev/disk/by-id/..., /dev/mapper/...), that the kernel
# lists in /sys/class/block; fails for anything else.
canon_dev() {
	local p
	p=$(readlink -f "$1" 2>/dev/null) || return 1
	case $p in
	/dev/*/* | /dev/) return 1 ;;
	/dev/*) ;;
	*) return 1 ;;
	esac
	[ -b "$p" ] && [ -e "/sys/class/block/${p#/dev/}" ] || return 1
	echo "$p"
}

# resolve_dev SPEC [SECONDS]: /dev/sdb1 (or a link to it), LABEL=x, UUID=x,
# PARTLABEL=x, PARTUUID=x → RESOLVED=/dev/NAME; waits for it up to SECONDS
# (default: wait=). Fails with REASON: no such device (after the wait), not
# a block device, or a tag that several devices carry (never one of them).
# Not in $(...): RESOLVED and REASON must reach the caller.
RESOLVED=
resolve_dev() {
	local spec=$1 max=${2:-$(conf wait 15)} i=0 dev devs n
	RESOLVED=
	while :; do
		dev=
		case $spec in
		/dev/*)
			if [ -e "$spec" ]; then
				dev=$(canon_dev "$spec") || {
					REASON="$spec is not a block device the kernel knows (/dev/NAME in /sys/class/block)"
					return 1
				}
			fi
			;;
		*=*)
			devs=$(blkid -c /dev/null -o device -t "$spec" 2>/dev/null |
				while read -r dev; do canon_dev "$dev"; done | sort -u)
			dev=
			n=$(printf '%s\n' "$devs" | grep -c .)
			if [ "$n" -gt 1 ]; then
				REASON="$spec is ambiguous: $n devices carry it ($(echo $devs)); name one with /dev/NAME"
				return 1
			fi
			dev=$devs
			;;
		*)
			REASON="$spec is not a device: give /dev/NAME, LABEL=, UUID=, PARTLABEL= or PARTUUID="
			return 1
			;;
		esac
		if [ -n "$dev" ]; then
			RESOLVED=$dev
			return 0
		fi
		if [ $i -ge $((max * 2)) ]; then
			REASON="$spec does not exist (waited $max s)"
			return 1
		fi
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
		# the copy that --include-snapshot put on these media (these
		# media, not another Lifeboat stick: boot_medium_dev)
		if ! boot_medium_dev; then
			REASON="repo=$spec: $REASON"
			return 1
		fi
		dev=$BOOT_MEDIUM
		path=/lifeboat/repo
		case $spec in media:/*) path=/${spec#media:/} ;; esac
		spec=$dev:$path
		;;
	esac
	case $spec in
	*:/*) dev=${spec%%:/*}; path=/${spec#*:/} ;;
	*) dev=$spec; path= ;;
	esac
	resolve_dev "$dev" || {
		REASON="the repository's device: $REASON"
		return 1
	}
	REPO_DEV=$RESOLVED
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
# (DEV:/PATH as for repo=, or a path in the initramfs). Sets PW_DISK to the
# disk holding password_file= (a key stick: never a target). Sets REASON,
# returns 1.
PW_DISK=
load_password() {
	local pw pf dev path m=$RUN/pwdev
	PW_DISK=
	pw=$(conf password)
	pf=$(conf password_file)
	if [ -n "$pf" ]; then
		case $pf in
		*:/*)
			resolve_dev "${pf%%:/*}" || { REASON="the device of password_file=$pf: $REASON"; return 1; }
			dev=$RESOLVED
			PW_DISK=$(disk_of "$dev")
			echo "$PW_DISK" >"$RUN/pwdisk"
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

# is_blank NAME: a whole disk with nothing on it that blkid (probing the
# device) recognises: no partition table, no filesystem or other signature,
# and no partitions known to the kernel.
is_blank() {
	local d=${1#/dev/} p
	for p in /sys/block/"$d"/"$d"*; do
		[ -e "$p/partition" ] && return 1
	done
	[ -z "$(blkid -p -o export "/dev/$d" 2>/dev/null | grep -E '^(PTTYPE|TYPE|PTUUID|UUID|LABEL|USAGE)=')" ]
}

# auto_target NEED EXCLUDE...: the disk target=auto means (after
# image_identity), into AUTO_TARGET: among the disks that could take the
# image (target_candidates, not the EXCLUDEd ones: the repository's, the
# config volume's, the passphrase file's), the one that is the disk the image
# was taken from (same serial, WWID or partition table ID). If none is, it
# waits up to wait= seconds for that disk to appear (a slow driver); then
# it takes the only candidate only if that one is blank (is_blank): a disk
# holding anything, that is not the disk of the backup, is never
# overwritten unless named (target=/dev/NAME). Never a guess: with none, two
# that are the same disk, two others or one that holds data, it fails with
# the reason in $RUN/auto.reason.
AUTO_TARGET=
auto_target() {
	local need=$1 cands= same= n d max i=0 prev=- cur
	shift
	AUTO_TARGET=
	max=$(conf wait 15)
	case $max in '' | *[!0-9]*) max=15 ;; esac
	while :; do
		cur=$(blockdevs | tr '\n' ' ')
		if [ "$cur" != "$prev" ]; then
			cands=$(target_candidates "$need" "$@")
			same=$(for d in $cands; do same_disk "$d" >/dev/null && echo "$d"; done)
			prev=$cur
		fi
		[ -n "$same" ] && break
		# the image says which disk it came from (its partition table ID at
		# least): wait for that disk
		[ -n "$IMG_SERIAL$IMG_WWID$IMG_PTID" ] || break
		[ $i -ge $((max * 2)) ] && break
		[ $i = 0 ] && say "No disk here is the disk of the backup$(identity_text): waiting up to $max s (wait=) for it to appear ..."
		sleep 0.5
		i=$((i + 1))
	done
	n=$(echo "$cands" | grep -c .)
	if [ "$n" = 0 ]; then
		say "Disks here:"
		for d in $(disks); do say "  $(describe_disk "$d")"; done
		echo "no disk to restore onto: none of at least $(human "$need") that does not hold the repository, the configuration or the passphrase file" >"$RUN/auto.reason"
		return 1
	fi
	case $(echo "$same" | grep -c .) in
	1)
		AUTO_TARGET=$same
		return 0
		;;
	0) ;;
	*)
		echo "several disks are the disk of the backup ($(echo $same): the same serial, WWID or partition table ID): name one with lifeboat.target=/dev/NAME" >"$RUN/auto.reason"
		return 1
		;;
	esac
	if [ "$n" -gt 1 ]; then
		echo "several disks could take the image ($(echo $cands)) and none of them is the disk of the backup (no serial, WWID or partition table ID matches): name one with lifeboat.target=/dev/NAME" >"$RUN/auto.reason"
		return 1
	fi
	if ! is_blank "$cands"; then
		echo "the only disk that could take the image, $(describe_disk "$cands"), is not the disk of the backup$(identity_text) and is not blank: target=auto overwrites only the disk of the backup or a blank disk; to overwrite this one, name it with lifeboat.target=/dev/$cands" >"$RUN/auto.reason"
		return 1
	fi
	AUTO_TARGET=$cands
	return 0
}

# identity_text: " (serial X, WWID Y, partition table ID Z)" of the image
# (after image_identity), or nothing.
identity_text() {
	local t=
	[ -n "$IMG_SERIAL" ] && t="serial $IMG_SERIAL"
	[ -n "$IMG_WWID" ] && t="$t${t:+, }WWID $IMG_WWID"
	[ -n "$IMG_PTID" ] && t="$t${t:+, }partition table ID $IMG_PTID"
	[ -n "$t" ] && printf ' (%s)' "$t"
	return 0
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
