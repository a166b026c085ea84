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
			spec=$(printf '%s\n' "$found" | sed -n "${ANSWER}p")
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
	REPO_DEV=$(resolve_dev "${spec%%:/*}" 2) || { echo "No device ${spec%%:/*}."; return 1; }
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

# menu_restore: repository, snapshot, a disk for each image (by size), the
# plan, "yes", restore.
menu_restore() {
	local snap n line need name idx cands best bestsize d s i plan= grow args how
	pick_repo ro || { pause; return; }
	ensure_password || { close_repo; pause; return; }
	lifeboat list --repo "$REPO" >"$RUN/list.out" 2>&1 </dev/null || { cat "$RUN/list.out"; close_repo; pause; return; }
	n=$(($(grep -c . "$RUN/list.out") - 1))
	if [ "$n" -lt 1 ]; then
		echo "The repository has no snapshots."
		close_repo
		pause
		return
	fi
	echo
	echo "Snapshots in $REPO_SPEC:"
	awk 'NR == 1 { printf "     %s\n", $0; next } { printf "%3d) %s\n", NR - 1, $0 }' "$RUN/list.out"
	ask "Snapshot to restore (number)" "$n"
	snap=$(awk -v n="$ANSWER" 'NR == n + 1 { print $1 }' "$RUN/list.out")
	[ -n "$snap" ] || { echo "No snapshot $ANSWER."; close_repo; pause; return; }
	snapshot_images "$snap" >"$RUN/images" || { echo "$REASON"; close_repo; pause; return; }
	cfgdisk=$(cat "$RUN/cfgdisk" 2>/dev/null)
	: >"$RUN/plan"
	while read -r idx need name; do
		echo
		echo "Image $idx of snapshot $snap: $name, $(human "$need")"
		cands=$(target_candidates "$need" "$REPO_DISK" $cfgdisk)
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
		d=$(echo "$cands" | sed -n "${ANSWER}p")
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
		[ "$d" = "$REPO_DISK" ] || [ "$d" = "$cfgdisk" ] && continue
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
			d=$(echo $cands | tr ' ' '\n' | sed -n "${i}p")
			[ -n "$d" ] && list="$list $d"
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
		3 | 4) echo "Not yet: use the shell (5) for now." ;;
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
