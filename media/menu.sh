# SPDX-License-Identifier: GPL-2.0-or-later
# menu.sh: the text menu of the recovery media, with plain `read` prompts so
# that it works on a serial console.
#
# Sourced by /init (PID 1): menu_start offers the menu on every console
# ("press Enter"); the first console where Enter is pressed runs it
# (LIFEBOAT_MENU_RUN=1 sh menu.sh, in a new session with that console as its
# terminal). Leaving the menu, or the menu dying, offers it again.

command -v say >/dev/null 2>&1 || . /lib/lifeboat/rescue-lib.sh

# ---- the watchers (in /init) ----

menu_watch() {
	local c=$1 x
	while :; do
		printf '\nPress Enter to start the Lifeboat menu on this console (%s).\n' "${c#/dev/}" >"$c" 2>/dev/null
		read -r x <"$c" || sleep 2
		if mkdir "$RUN/menu.lock" 2>/dev/null; then
			echo "$c" >"$RUN/menu.console"
			setsid -c env LIFEBOAT_MENU_RUN=1 sh /lib/lifeboat/menu.sh <"$c" >"$c" 2>&1
			rm -f "$RUN/menu.console"
			rmdir "$RUN/menu.lock"
		else
			printf 'The menu is running on %s.\n' "$(cat "$RUN/menu.console" 2>/dev/null)" >"$c" 2>/dev/null
			sleep 1
		fi
	done
}

menu_start() {
	local c
	rmdir "$RUN/menu.lock" 2>/dev/null
	for c in ${CONSOLES:-/dev/console}; do
		menu_watch "$c" &
	done
	# PID 1 waits; the menu ends in a reboot or a power off
	while :; do sleep 3600; done
}

# ---- the menu (LIFEBOAT_MENU_RUN=1) ----

# ask PROMPT [DEFAULT]: ANSWER is what was typed (or DEFAULT for nothing).
ask() {
	printf '%s%s: ' "$1" "${2:+ [$2]}"
	if ! read -r ANSWER; then
		echo
		exit 0
	fi
	ANSWER=$(printf '%s' "$ANSWER" | tr -d '\r')
	[ -n "$ANSWER" ] || ANSWER=${2:-}
}

pause() {
	ask "Press Enter to go back to the menu"
}

# nth_line N: line N of stdin, if N is digits only and from 1 to the number
# of lines; else nothing, and it fails.
nth_line() {
	case $1 in '' | *[!0-9]*) return 1 ;; esac
	awk -v n="$1" 'BEGIN { n += 0 } n >= 1 && NR == n { print; found = 1 } END { exit !found }'
}

# pick_repo ro|rw: choose and mount a repository (REPO...). rw: offer to
# create one at a location typed in.
pick_repo() {
	local how=$1 spec found n i
	spec=$(conf repo)
	if [ -z "$spec" ] || [ "$spec" = auto ]; then
		echo "Looking for repositories on every disk ..."
		found=$(find_repos)
		n=$(printf '%s\n' "$found" | grep -c .)
		if [ "$n" = 0 ]; then
			echo "No repository found on any disk."
			ask "Location of the repository, DEVICE:/PATH (e.g. /dev/sdb1:/backups; empty: back)"
			spec=$ANSWER
			[ -n "$spec" ] || return 1
		elif [ "$n" = 1 ]; then
			spec=$found
			echo "Repository: $spec"
		else
			i=0
			for spec in $found; do
				i=$((i + 1))
				echo "  $i) $spec"
			done
			ask "Which repository (number)" 1
			spec=$(printf '%s\n' "$found" | nth_line "$ANSWER")
			[ -n "$spec" ] || { echo "No such repository."; return 1; }
		fi
	fi
	if open_repo "$spec" "$how"; then
		return 0
	fi
	echo "$REASON"
	[ "$how" = rw ] || return 1
	# a backup: offer a new repository there
	case $spec in *:/*) ;; *) return 1 ;; esac
	ask "Create a new repository at $spec? (yes/no)" no
	[ "$ANSWER" = yes ] || return 1
	resolve_dev "${spec%%:/*}" 2 || { echo "No device ${spec%%:/*}: $REASON"; return 1; }
	REPO_DEV=$RESOLVED
	umount "$REPO_MNT" 2>/dev/null
	mount_dev "$REPO_DEV" "$REPO_MNT" rw || { echo "Cannot mount $REPO_DEV writable."; return 1; }
	REPO=$REPO_MNT/${spec#*:/}
	REPO=${REPO%/}
	ask "Encrypt it with a passphrase? (yes/no)" yes
	if [ "$ANSWER" = yes ]; then
		lifeboat init --encrypt --repo "$REPO" || { close_repo; return 1; }
	else
		lifeboat init --repo "$REPO" || { close_repo; return 1; }
	fi
	REPO_DISK=$(disk_of "$REPO_DEV")
	REPO_SPEC=$spec
	return 0
}

# ensure_password: the repository opens (asks for the passphrase if needed).
ensure_password() {
	local tries=0 pw
	load_password || echo "$REASON"
	repo_encrypted || return 0
	if [ -n "${LIFEBOAT_PASSWORD:-}" ]; then
		lifeboat list --repo "$REPO" >/dev/null 2>"$RUN/pw.err" </dev/null && return 0
		cat "$RUN/pw.err"
		unset LIFEBOAT_PASSWORD
	fi
	while [ $tries -lt 3 ]; do
		tries=$((tries + 1))
		# no echo, also for what is typed before the prompt shows
		stty -echo 2>/dev/null
		printf 'Passphrase of the repository: '
		read -r pw
		stty echo 2>/dev/null
		echo
		LIFEBOAT_PASSWORD=$(printf '%s' "$pw" | tr -d '\r')
		export LIFEBOAT_PASSWORD
		lifeboat list --repo "$REPO" >/dev/null 2>"$RUN/pw.err" </dev/null && return 0
		cat "$RUN/pw.err"
	done
	unset LIFEBOAT_PASSWORD
	return 1
}

# pick_snapshot VERB: list the snapshots of the open repository and ask for
# one, the latest by default ("Snapshot to VERB"). Sets SNAP (an ID prefix);
# fails with the reason shown.
pick_snapshot() {
	local n
	lifeboat list --repo "$REPO" >"$RUN/list.out" 2>&1 </dev/null || { cat "$RUN/list.out"; return 1; }
	n=$(($(grep -c . "$RUN/list.out") - 1))
	if [ "$n" -lt 1 ]; then
		echo "The repository has no snapshots."
		return 1
	fi
	echo
	echo "Snapshots in $REPO_SPEC:"
	awk 'NR == 1 { printf "     %s\n", $0; next } { printf "%3d) %s\n", NR - 1, $0 }' "$RUN/list.out"
	ask "Snapshot to $1 (number)" "$n"
	SNAP=$(sed 1d "$RUN/list.out" | nth_line "$ANSWER" | awk '{ print $1 }')
	[ -n "$SNAP" ] || { echo "No snapshot $ANSWER."; return 1; }
}

# menu_restore: repository, snapshot, a disk for each image (by size), the
# plan, "yes", restore.
menu_restore() {
	local snap line need name idx cands best bestsize d s i plan= grow args how
	pick_repo ro || { pause; return; }
	ensure_password || { close_repo; pause; return; }
	pick_snapshot restore || { close_repo; pause; return; }
	snap=$SNAP
	snapshot_images "$snap" >"$RUN/images" || { echo "$REASON"; close_repo; pause; return; }
	cfgdisk=$(cat "$RUN/cfgdisk" 2>/dev/null)
	: >"$RUN/plan"
	while read -r idx need name; do
		echo
		echo "Image $idx of snapshot $snap: $name, $(human "$need")"
		cands=$(target_candidates "$need" "$REPO_DISK" $cfgdisk $PW_DISK)
		# exclude disks already chosen for another image
		for d in $(cut -d' ' -f2 "$RUN/plan"); do cands=$(echo "$cands" | grep -vx "$d"); done
		if [ -z "$cands" ]; then
			echo "No disk here is large enough (at least $(human "$need")) and free. Disks here:"
			for d in $(disks); do echo "  $(describe_disk "$d")"; done
			continue
		fi
		# the disk the image was taken from (same serial, WWID or
		# partition table ID) first, and the default
		image_identity "$idx"
		cands=$(for d in $cands; do same_disk "$d" >/dev/null && echo "$d"; done
			for d in $cands; do same_disk "$d" >/dev/null || echo "$d"; done)
		# else the default: the smallest disk that fits (the same size, usually)
		best= bestsize=
		i=0
		for d in $cands; do
			i=$((i + 1))
			s=$(dev_size "$d")
			if how=$(same_disk "$d"); then
				echo "  $i) $(describe_disk "$d") -- same disk as in the backup ($how)"
				[ -n "$best" ] || best=$i bestsize=0
				continue
			fi
			echo "  $i) $(describe_disk "$d")"
			if [ -z "$bestsize" ] || [ "$s" -lt "$bestsize" ]; then best=$i bestsize=$s; fi
		done
		echo "  s) skip this image"
		ask "Restore it onto which disk (number)" "$best" </dev/tty
		[ "$ANSWER" = s ] && continue
		d=$(echo "$cands" | nth_line "$ANSWER")
		[ -n "$d" ] || { echo "No disk $ANSWER: skipping this image."; continue; }
		grow=no
		if [ "$(dev_size "$d")" -gt "$need" ]; then
			ask "The disk is larger: grow the last partition and its filesystem to fill it? (yes/no)" no </dev/tty
			[ "$ANSWER" = yes ] && grow=yes
		fi
		echo "$idx $d $grow $need $name" >>"$RUN/plan"
	done <"$RUN/images"
	if [ ! -s "$RUN/plan" ]; then
		echo "Nothing to restore."
		close_repo
		pause
		return
	fi
	echo
	echo "The plan: restore snapshot $snap from $REPO_SPEC"
	while read -r idx d grow need name; do
		echo "  image $idx ($name, $(human "$need")) -> /dev/$d, now: $(describe_disk "$d")${grow:+, grow: $grow}"
	done <"$RUN/plan"
	echo "EVERYTHING ON THESE DISKS WILL BE OVERWRITTEN."
	ask "Type yes to restore"
	if [ "$ANSWER" != yes ]; then
		echo "Nothing was written."
		close_repo
		pause
		return
	fi
	while read -r idx d grow need name; do
		args="--disk $idx"
		[ "$grow" = yes ] && args="$args --grow"
		echo "Restoring image $idx onto /dev/$d ..."
		# shellcheck disable=SC2086
		if lifeboat restore --repo "$REPO" $args "$snap" "/dev/$d" </dev/null; then
			blockdev --rereadpt "/dev/$d" 2>/dev/null || partx -u "/dev/$d" 2>/dev/null
			echo "Restored: $(describe_disk "$d")"
		else
			echo "THE RESTORE OF IMAGE $idx ONTO /dev/$d FAILED (see the message above)."
		fi
	done <"$RUN/plan"
	close_repo
	echo "Restore finished. Remove the recovery media and reboot."
	pause
}

menu_backup() {
	local cands d i list= tag cfgdisk
	pick_repo rw || { pause; return; }
	ensure_password || { close_repo; pause; return; }
	cfgdisk=$(cat "$RUN/cfgdisk" 2>/dev/null)
	cands=
	for d in $(disks); do
		case $d in sr*) continue ;; esac
		[ "$d" = "$REPO_DISK" ] && continue
		case " $(echo $cfgdisk) " in *" $d "*) continue ;; esac
		[ "$(dev_size "$d")" -gt 0 ] || continue
		is_boot_medium "$d" && continue
		cands="$cands $d"
	done
	if [ -z "$cands" ]; then
		echo "No disk to back up here (besides the repository's and the recovery media)."
		close_repo
		pause
		return
	fi
	echo
	echo "Disks of this machine:"
	i=0
	for d in $cands; do
		i=$((i + 1))
		echo "  $i) $(describe_disk "$d")"
	done
	ask "Disks to back up (numbers separated by spaces, or all)" all
	if [ "$ANSWER" = all ]; then
		list=$cands
	else
		for i in $ANSWER; do
			d=$(echo $cands | tr ' ' '\n' | nth_line "$i")
			if [ -n "$d" ]; then
				list="$list $d"
			else
				echo "No disk $i: left out."
			fi
		done
	fi
	[ -n "$list" ] || { echo "No disk chosen."; close_repo; pause; return; }
	ask "Tag for the snapshot" rescue-media
	tag=$ANSWER
	echo "The plan: back up$(for d in $list; do printf ' /dev/%s' "$d"; done) into $REPO_SPEC (tag $tag)"
	ask "Type yes to start"
	if [ "$ANSWER" = yes ]; then
		# shellcheck disable=SC2046
		lifeboat backup --repo "$REPO" --tag "$tag" $(for d in $list; do printf '/dev/%s ' "$d"; done) </dev/null ||
			echo "THE BACKUP FAILED (see the message above)."
	else
		echo "Nothing was done."
	fi
	close_repo
	pause
}

# menu_browse: repository, snapshot, `lifeboat mount --files` at
# $BROWSE_MNT, a shell in the snapshot's directory, then `lifeboat umount`.
BROWSE_MNT=/mnt/lifeboat
menu_browse() {
	local dir i p
	pick_repo ro || { pause; return; }
	ensure_password || { close_repo; pause; return; }
	pick_snapshot browse || { close_repo; pause; return; }
	mkdir -p "$BROWSE_MNT"
	echo "Mounting snapshot $SNAP at $BROWSE_MNT ..."
	if ! lifeboat mount --repo "$REPO" --files "$SNAP" "$BROWSE_MNT" </dev/null; then
		echo "Cannot mount the snapshot (see the message above)."
		lifeboat umount "$BROWSE_MNT" >/dev/null 2>&1
		close_repo
		pause
		return
	fi
	dir=$(ls -d "$BROWSE_MNT"/*_"$SNAP"* 2>/dev/null | head -n 1)
	[ -d "$dir" ] || dir=$BROWSE_MNT
	echo
	echo "The files of snapshot $SNAP, read-only, are in $dir:"
	(cd "$dir" && for i in *; do
		[ -d "$i" ] || continue
		printf '  %s/:' "$i"
		for p in "$i"/part* "$i"/fs; do [ -d "$p" ] && printf ' %s/' "${p##*/}"; done
		echo
	done)
	cat <<-EOF
	  IMAGE/partN/ holds the files of partition N (IMAGE/fs/: a disk without partitions);
	  IMAGE/disk.img and IMAGE/partN.img are the raw images.
	To copy files to a USB disk: plug it in, find it with blkid, then
	  mkdir -p /mnt/usb && mount /dev/sdX1 /mnt/usb    (NTFS: ntfs-3g /dev/sdX1 /mnt/usb)
	  cp -a FILES /mnt/usb/ && umount /mnt/usb
	Type exit to leave this shell: the snapshot is then unmounted.
	EOF
	(cd "$dir" && PS1='browse:\w # ' sh)
	cd /
	if lifeboat umount "$BROWSE_MNT" </dev/null || lifeboat umount --lazy "$BROWSE_MNT" </dev/null; then
		echo "Unmounted the snapshot."
	fi
	close_repo
	pause
}

# fs_checker TYPE DEV check|repair: the command that checks (read-only) or
# repairs a filesystem of that type; nothing if there is none (btrfs is
# never repaired from here: btrfs check --repair can make matters worse).
fs_checker() {
	case $1:$3 in
	ext2:check | ext3:check | ext4:check) echo "e2fsck -f -n $2" ;;
	ext2:repair | ext3:repair | ext4:repair) echo "e2fsck -f -y $2" ;;
	xfs:check) echo "xfs_repair -n $2" ;;
	xfs:repair) echo "xfs_repair $2" ;;
	vfat:check) echo "fsck.vfat -n $2" ;;
	vfat:repair) echo "fsck.vfat -a -w $2" ;;
	ntfs:check) echo "ntfsfix -n $2" ;;
	ntfs:repair) echo "ntfsfix $2" ;;
	btrfs:check) echo "btrfs check --readonly $2" ;;
	esac
}

# check_fs NAME check|repair: run the checker of /dev/NAME and say what it
# found; a check that finds problems adds NAME to $RUN/check.bad.
check_fs() {
	local n=$1 how=$2 t l cmd rc
	t=$(fs_type "/dev/$n")
	l=$(fs_label "/dev/$n")
	if grep -q "^/dev/$n " /proc/mounts; then
		echo "  $n: mounted, not checked"
		return 0
	fi
	cmd=$(fs_checker "$t" "/dev/$n" "$how")
	if [ -z "$cmd" ]; then
		case $how:$t in
		check:) echo "  $n: no filesystem found, nothing to check" ;;
		check:swap) echo "  $n: swap, nothing to check" ;;
		check:*) echo "  $n: $t: no checker for it on the media" ;;
		repair:*) echo "  $n: $t: not repaired from the menu (use the shell)" ;;
		esac
		return 0
	fi
	if ! command -v "${cmd%% *}" >/dev/null 2>&1; then
		echo "  $n: $t: ${cmd%% *} is not on the media"
		return 0
	fi
	echo "  $n ($t${l:+ $l}): $cmd"
	# shellcheck disable=SC2086
	$cmd </dev/null >"$RUN/check.out" 2>&1
	rc=$?
	if [ "$how" = repair ]; then
		tail -n 15 "$RUN/check.out" | sed 's/^/    | /'
		echo "    repair finished (exit status $rc)"
	elif [ "$rc" = 0 ]; then
		echo "    clean"
	else
		tail -n 15 "$RUN/check.out" | sed 's/^/    | /'
		echo "    PROBLEMS FOUND (exit status $rc)"
		echo "$n" >>"$RUN/check.bad"
	fi
	return 0
}

# menu_check: a disk, each of its filesystems checked read-only, and if
# problems were found, repaired after a yes and checked again.
menu_check() {
	local cands d i nodes n bad
	close_repo
	cands=$(for d in $(disks); do
		case $d in sr*) continue ;; esac
		[ "$(dev_size "$d")" -gt 0 ] || continue
		is_boot_medium "$d" || echo "$d"
	done)
	if [ -z "$cands" ]; then
		echo "No disk here (besides the recovery media)."
		pause
		return
	fi
	echo
	echo "Disks:"
	i=0
	for d in $cands; do
		i=$((i + 1))
		echo "  $i) $(describe_disk "$d")"
	done
	ask "Disk to check (number)" 1
	d=$(echo "$cands" | nth_line "$ANSWER")
	[ -n "$d" ] || { echo "No disk $ANSWER."; pause; return; }
	nodes=$(ls /sys/block/"$d" | grep "^$d")
	[ -n "$nodes" ] || nodes=$d
	: >"$RUN/check.bad"
	echo "Checking the filesystems of /dev/$d, read-only:"
	for n in $nodes; do check_fs "$n" check; done
	bad=$(cat "$RUN/check.bad")
	if [ -z "$bad" ]; then
		echo "No problems found on /dev/$d."
		pause
		return
	fi
	echo "Problems found on:$(printf ' /dev/%s' $bad)"
	ask "Repair them now? The checkers then write to the disk. (yes/no)" no
	if [ "$ANSWER" = yes ]; then
		for n in $bad; do check_fs "$n" repair; done
		echo "Checking again, read-only:"
		: >"$RUN/check.bad"
		for n in $bad; do check_fs "$n" check; done
		[ -s "$RUN/check.bad" ] || echo "No problems left."
	else
		echo "Nothing was written."
	fi
	pause
}

menu_main() {
	load_all_conf
	while :; do
		echo
		echo "Lifeboat recovery menu"
		echo "  1) Restore a system image"
		echo "  2) Create a system image of this machine's disks"
		echo "  3) Browse the files of a snapshot"
		echo "  4) Check the filesystems of a disk"
		echo "  5) Shell"
		echo "  6) Reboot"
		echo "  7) Power off"
		ask "Choice"
		case $ANSWER in
		1) menu_restore ;;
		2) menu_backup ;;
		3) menu_browse ;;
		4) menu_check ;;
		5)
			echo "Type exit to come back to the menu."
			sh -l
			;;
		6) finish reboot ;;
		7) finish poweroff ;;
		'') ;;
		*) echo "Choose 1 to 7." ;;
		esac
	done
}

if [ "${LIFEBOAT_MENU_RUN:-}" = 1 ]; then
	trap 'stty echo 2>/dev/null' EXIT
	menu_main
fi
