# SPDX-License-Identifier: GPL-2.0-or-later
# unattended.sh: sourced by /init when the configuration has restore= or
# backup=. Never reads input. Every step and any reason to stop goes to every
# console and into a log, which is written next to the repository when that
# is possible (else it stays on the tmpfs). Afterwards, success or not, it
# does what after= says (default: power off). It writes to no disk but the
# target it was given (or the one target=auto singles out) and the
# repository's: a backup writes its snapshot there, and save_log remounts
# the repository's filesystem read-write for a moment to put the log next to
# it (after a restore too, and after a failure).

AFTER=$(conf after poweroff)
case $AFTER in
reboot | poweroff | shell) ;;
*)
	say "Unknown after=$AFTER: powering off afterwards."
	AFTER=poweroff
	;;
esac
ACTION=
WROTE=
U_T0=$(date +%s)

elapsed() {
	echo $(($(date +%s) - U_T0))
}

# save_log: the session log next to the repository (in the directory that
# holds it), remounting it writable for that if needed.
save_log() {
	local dir f was_ro=
	if [ -z "$REPO" ] || ! grep -q " $REPO_MNT " /proc/mounts; then
		say "The log is in memory only ($LOG): no repository disk to write it to."
		return 0
	fi
	if grep " $REPO_MNT " /proc/mounts | grep -q ' ro[, ]'; then
		was_ro=1
		if ! mount -o remount,rw "$REPO_MNT" 2>>"$LOG"; then
			umount "$REPO_MNT" 2>/dev/null
			mount_dev "$REPO_DEV" "$REPO_MNT" rw || {
				mount_dev "$REPO_DEV" "$REPO_MNT" ro
				say "The log is in memory only ($LOG): $REPO_DEV is not writable."
				return 0
			}
		fi
	fi
	dir=${REPO%/*}
	case $dir in "$REPO_MNT"/* | "$REPO_MNT") ;; *) dir=$REPO ;; esac
	f=lifeboat-media-$(date -u +%Y%m%d-%H%M%S)-$ACTION.log
	if cp "$LOG" "$dir/$f" 2>/dev/null; then
		sync
		say "Log written to $REPO_DEV:${dir#"$REPO_MNT"}/$f"
	else
		say "The log is in memory only ($LOG): cannot write to $REPO_DEV."
	fi
	[ -n "$was_ro" ] && mount -o remount,ro "$REPO_MNT" 2>/dev/null
	return 0
}

# fail REASON: say why on every console, keep the log, then after=.
fail() {
	say ""
	say "LIFEBOAT FAILED: $*"
	if [ -n "$WROTE" ]; then
		say "The $ACTION was started: $WROTE may be partly written."
	elif [ -n "$REPO" ] && grep -q " $REPO_MNT " /proc/mounts; then
		say "Nothing was written to any disk, but for this log next to the repository (below)."
	else
		say "Nothing was written to any disk."
	fi
	save_log
	close_repo
	finish "$AFTER"
}

# run_logged WHAT DEV read|write COMMAND...: run COMMAND with its output in
# the log; every 10 s a progress line with what DEV has read or written.
run_logged() {
	local what=$1 dev=${2#/dev/} dir=$3 i=0 b0 b field=3 verb=read rc
	shift 3
	[ "$dir" = write ] && field=7 verb=written
	b0=$(awk -v f=$field '{ print $f }' "/sys/class/block/$dev/stat" 2>/dev/null)
	rm -f "$RUN/cmd.rc"
	(
		"$@" >"$RUN/cmd.out" 2>&1 </dev/null
		echo $? >"$RUN/cmd.rc"
	) &
	while [ ! -f "$RUN/cmd.rc" ]; do
		sleep 1
		i=$((i + 1))
		if [ $((i % 10)) = 0 ]; then
			b=$(awk -v f=$field '{ print $f }' "/sys/class/block/$dev/stat" 2>/dev/null)
			say "  $what: $(human $(((b - b0) * 512))) $verb after $i s"
		fi
	done
	wait
	rc=$(cat "$RUN/cmd.rc")
	say_file "$RUN/cmd.out" "  "
	return "$rc"
}

# lifeboat_reason: the "lifeboat: ..." message of the last command.
lifeboat_reason() {
	local m
	m=$(grep '^lifeboat: ' "$RUN/cmd.out" | tail -n 1 | cut -c11-)
	[ -n "$m" ] || m=$(tail -n 1 "$RUN/cmd.out")
	echo "$m"
}

yes_no() {
	case $1 in
	1 | y | yes | true | on) return 0 ;;
	*) return 1 ;;
	esac
}

# check_device DEV WHAT: a disk or partition (/dev/NAME, as resolve_dev
# gives it) we may write to (restore) or read from (backup): not the
# repository's disk, not a Lifeboat medium, not the disk of password_file=.
check_device() {
	local d
	d=$(disk_of "$1")
	[ -n "$d" ] && [ -e "/sys/class/block/$d" ] || fail "$2 $1 is not a block device"
	[ "$d" = "$REPO_DISK" ] && fail "$2 $1 is on the disk that holds the repository ($REPO_DEV)"
	is_boot_medium "$d" && fail "$2 $1 is Lifeboat recovery media"
	[ -n "$PW_DISK" ] && [ "$d" = "$PW_DISK" ] && [ "$ACTION" = restore ] &&
		fail "$2 $1 is the disk that holds the passphrase file ($(conf password_file))"
	return 0
}

unattended_restore() {
	local snap repo target need name imgs line disk cands n cfgdisk args d how
	ACTION=restore
	snap=$(conf restore)
	repo=$(conf repo auto)
	target=$(conf target auto)
	disk=$(conf disk 1)
	say "Unattended restore: snapshot $snap from repository $repo onto target $target; afterwards: $AFTER"
	open_repo "$repo" ro || fail "$REASON"
	say "Repository: $REPO_SPEC"
	load_password || fail "$REASON"
	if repo_encrypted && [ -z "${LIFEBOAT_PASSWORD:-}" ]; then
		fail "the repository is encrypted and no passphrase was given (set password_file= or password=)"
	fi
	# (not in $(...): REASON must reach this shell)
	snapshot_images "$snap" >"$RUN/images" || fail "$REASON"
	imgs=$(cat "$RUN/images")
	line=$(echo "$imgs" | awk -v n="$disk" '$1 == n')
	[ -n "$line" ] || fail "snapshot $snap has no image $disk (it has $(echo "$imgs" | grep -c .))"
	need=$(echo "$line" | cut -d' ' -f2)
	name=$(echo "$line" | cut -d' ' -f3-)
	say "Snapshot $(snapshot_id | cut -c1-8), image $disk ($name): $(human "$need")"

	cfgdisk=$(cat "$RUN/cfgdisk" 2>/dev/null)
	image_identity "$disk"
	if [ "$target" = auto ]; then
		# (not in $(...): it says what it waits for)
		auto_target "$need" "$REPO_DISK" $cfgdisk $PW_DISK || fail "$(cat "$RUN/auto.reason")"
		target=/dev/$AUTO_TARGET
	else
		resolve_dev "$target" || fail "the target: $REASON"
		target=$RESOLVED
	fi
	check_device "$target" "the target"
	for d in $cfgdisk; do
		[ "$(disk_of "$target")" = "$d" ] && fail "the target $target is the config volume"
	done
	[ "$(dev_size "$target")" -ge "$need" ] ||
		fail "the target $target is $(human "$(dev_size "$target")"), the image needs $(human "$need"): target too small"
	how=$(same_disk "$target") && how=", the same disk as in the backup (its $how)"
	say "Target: $(describe_disk "$target")$how"

	args="--disk $disk"
	yes_no "$(conf grow no)" && args="$args --grow"
	say "Restoring snapshot $snap onto $target ..."
	WROTE=$target
	# shellcheck disable=SC2086
	if ! run_logged restore "$target" write lifeboat restore --repo "$REPO" $args "$snap" "$target"; then
		fail "restore failed: $(lifeboat_reason)"
	fi
	blockdev --rereadpt "$target" 2>/dev/null || partx -u "$target" 2>/dev/null
	sleep 1
	say "Target now: $(describe_disk "$target")"
	say "Lifeboat: restore finished in $(elapsed) s"
	save_log
	close_repo
	finish "$AFTER"
}

unattended_backup() {
	local srcs s d dev list= tag
	ACTION=backup
	srcs=$(conf backup | tr ',' ' ')
	tag=$(conf tag rescue-media)
	say "Unattended backup of $srcs into repository $(conf repo auto); afterwards: $AFTER"
	open_repo "$(conf repo auto)" rw || fail "$REASON"
	say "Repository: $REPO_SPEC"
	load_password || fail "$REASON"
	if repo_encrypted && [ -z "${LIFEBOAT_PASSWORD:-}" ]; then
		fail "the repository is encrypted and no passphrase was given (set password_file= or password=)"
	fi
	for s in $srcs; do
		resolve_dev "$s" || fail "the source: $REASON"
		dev=$RESOLVED
		check_device "$dev" "the source"
		say "Source: $(describe_disk "$dev")"
		list="$list $dev"
	done
	d=$(echo $list | cut -d' ' -f1)
	say "Backing up$list ..."
	WROTE="the repository ($REPO_SPEC)"
	# shellcheck disable=SC2086
	if ! run_logged backup "$d" read lifeboat backup --repo "$REPO" --tag "$tag" $list; then
		fail "backup failed: $(lifeboat_reason)"
	fi
	say "Lifeboat: backup finished in $(elapsed) s"
	save_log
	close_repo
	finish "$AFTER"
}

if [ -n "$(conf restore)" ] && [ -n "$(conf backup)" ]; then
	ACTION=plan
	fail "the configuration has both restore= and backup=: choose one"
elif [ -n "$(conf restore)" ]; then
	unattended_restore
else
	unattended_backup
fi
