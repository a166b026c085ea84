#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# lifeboat forget and prune, on an unencrypted and an encrypted repository:
# four backups of a changing source; forget by ID, 'latest' and --keep-last,
# and the refusals (no rule, a wrong ID); prune --dry-run changes nothing;
# prune, then every remaining snapshot restores byte for byte, verify
# --read-data is clean and the repository shrank by about the unique data of
# the forgotten snapshots; the repository lock (prune and forget refuse
# while a backup, or a mount, holds it; a backup waits for a prune); a
# damaged snapshot or index file makes prune refuse and delete nothing;
# kill -9 at each step of prune, then verify, restore and a second prune; a
# full disk while repacking. The retention rules themselves (periods, DST,
# --keep-within) are tested in tests/unit/test-forget.c.
. "$(dirname "$0")/lib.sh"

export LIFEBOAT_PASSWORD='forget prune test passphrase'
MIB=1048576

# tree_sum DIR: one checksum over every file's path and contents.
tree_sum() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
}

# repo_bytes REPO: bytes of its pack files.
repo_bytes() {
	find "$1/packs" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}

# small_packs REPO: packs of 4 MiB (4 chunks each, with backups on one
# thread: chunks 0-3, 4-7, ...), so that forgetting a snapshot leaves packs
# with nothing in use, and packs partly used, and prune has many to sort.
small_packs() {
	sed -i 's/"pack_size":[0-9]*/"pack_size":4194304/' "$1/config"
}

# hold_lock MODE REPO: hold the repository lock (-s or -x) in a background
# process, as another lifeboat process would, until killed; prints its PID
# once the lock is held.
hold_lock() {
	(
		exec 9<"$2/lock" && flock "$1" 9 && exec sleep 60
	) >/dev/null 2>&1 &
	local pid=$! i
	register_pid $pid
	for i in $(seq 100); do
		flock -n "$([ "$1" = -s ] && echo -x || echo -s)" "$2/lock" true || break
		sleep 0.05
	done
	echo $pid
}

# chunk_sums IMAGE...: the SHA-256 of every 1 MiB chunk, one per line.
chunk_sums() {
	local f
	for f in "$@"; do
		python3 - "$f" <<'EOF'
import hashlib, sys
with open(sys.argv[1], "rb") as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        print(hashlib.sha256(b).hexdigest())
EOF
	done
}

# unique_mib "FORGOTTEN IMAGES" "KEPT IMAGES": MiB of chunks only the
# forgotten images have.
unique_mib() {
	# shellcheck disable=SC2086
	comm -23 <(chunk_sums $1 | sort -u) <(chunk_sums $2 | sort -u) | wc -l
}

# snap_id N: the ID of snapshot N of the current mode.
snap_id() { cat "$mode.snap$1"; }

test_expect_success 'setup: a 24 MiB source, and three versions of it with 4 MiB changed each time' '
	random_file v1.img 24M v1 &&
	cp v1.img v2.img && write_at v2.img 2 4 v2 &&
	cp v2.img v3.img && write_at v3.img 10 4 v3 &&
	cp v3.img v4.img && write_at v4.img 18 4 v4 &&
	cmp -s v1.img v2.img && exit 1 || true
'

# forget_prune_tests MODE: MODE is plain or encrypted.
forget_prune_tests() {
	mode=$1
	R=$mode.repo

	test_expect_success "$mode: four backups of the changing source" '
		if [ '"$mode"' = encrypted ]; then lifeboat init --repo '"$R"' --encrypt; else lifeboat init --repo '"$R"'; fi &&
		small_packs '"$R"' &&
		for v in 1 2 3 4; do
			cp v$v.img src.img &&
			lifeboat backup --repo '"$R"' src.img --threads 1 --tag v$v --json | json_get "d[\"snapshot\"]" >'"$mode"'.snap$v || exit 1
		done &&
		lifeboat list --repo '"$R"' --json >list.json &&
		expect_eq "$(json_get "len(d)" <list.json)" 4 snapshots
	'

	test_expect_success "$mode: forget with no rule and no snapshot is a usage error and removes nothing" '
		before=$(tree_sum '"$R"') &&
		expect_fail 2 "forget what\? Name snapshots or give a --keep-\* rule" lifeboat forget --repo '"$R"' &&
		expect_fail 2 "forget what\?" lifeboat forget --repo '"$R"' --dry-run &&
		expect_fail 2 "bad --keep-last" lifeboat forget --repo '"$R"' --keep-last 0 &&
		expect_fail 2 "bad --keep-within" lifeboat forget --repo '"$R"' --keep-within 3x &&
		expect_fail 2 "either snapshots or --keep-\* rules" lifeboat forget --repo '"$R"' latest --keep-last 1 &&
		expect_fail 1 "no snapshot 0000" lifeboat forget --repo '"$R"' "$(snap_id 1)" 0000 &&
		expect_eq "$(tree_sum '"$R"')" "$before" "the repository"
	'

	test_expect_success "$mode: forget --dry-run by ID shows what it would remove and removes nothing" '
		before=$(tree_sum '"$R"') &&
		lifeboat forget --repo '"$R"' --dry-run "$(snap_id 2 | cut -c1-8)" >dry.out &&
		expect_grep "^  would remove  $(snap_id 2 | cut -c1-8) " dry.out &&
		expect_grep "^Would remove 1 snapshot" dry.out &&
		expect_eq "$(tree_sum '"$R"')" "$before" "the repository"
	'

	test_expect_success "$mode: forget snapshot 2 by ID" '
		lifeboat forget --repo '"$R"' "$(snap_id 2 | cut -c1-10)" >forget.out &&
		expect_grep "^  remove  $(snap_id 2 | cut -c1-8) " forget.out &&
		expect_grep "^Removed 1 snapshot\(s\), kept 3" forget.out &&
		test ! -e '"$R"'/snapshots/$(snap_id 2) &&
		expect_fail 1 "no snapshot" lifeboat restore --repo '"$R"' "$(snap_id 2)" x.img
	'

	test_expect_success "$mode: forget --keep-last 2 keeps 3 and 4 (why: last), removes 1" '
		lifeboat forget --repo '"$R"' --keep-last 2 --dry-run --json >keep.json &&
		is_json <keep.json &&
		expect_eq "$(json_get "[s[\"id\"] for s in d[\"remove\"]]" <keep.json)" "[\"$(snap_id 1)\"]" removed &&
		expect_eq "$(json_get "[s[\"reasons\"] for s in d[\"keep\"]]" <keep.json)" "[[\"last\"], [\"last\"]]" reasons &&
		lifeboat forget --repo '"$R"' --keep-last 2 >keep.out &&
		expect_grep "^  keep    $(snap_id 4 | cut -c1-8) .*\(last\)" keep.out &&
		expect_grep "^  keep    $(snap_id 3 | cut -c1-8) .*\(last\)" keep.out &&
		expect_grep "^  remove  $(snap_id 1 | cut -c1-8) " keep.out &&
		lifeboat list --repo '"$R"' --json >list.json &&
		expect_eq "$(json_get "sorted(s[\"id\"] for s in d)" <list.json)" \
			"$(python3 -c "import json,sys; print(json.dumps(sorted(sys.argv[1:])))" "$(snap_id 3)" "$(snap_id 4)")" left
	'

	test_expect_success "$mode: --keep-tag keeps what --keep-last would remove" '
		lifeboat forget --repo '"$R"' --keep-last 1 --keep-tag v3 --dry-run >tag.out &&
		expect_grep "^  keep    $(snap_id 3 | cut -c1-8) .*\(tag\)" tag.out &&
		expect_grep "^Would remove 0 snapshot" tag.out
	'

	test_expect_success "$mode: prune --dry-run reports and changes nothing (diff -r)" '
		cp -a '"$R"' '"$mode"'.before &&
		lifeboat prune --repo '"$R"' --dry-run >dry.out &&
		expect_grep "would be deleted" dry.out &&
		expect_grep "^Dry run: nothing was changed" dry.out &&
		diff -r '"$mode"'.before '"$R"' &&
		rm -rf '"$mode"'.before
	'

	test_expect_success "$mode: prune refuses while another process holds the lock, and removes nothing" '
		before=$(tree_sum '"$R"') &&
		pid=$(hold_lock -s '"$R"') &&
		expect_fail 1 "in use by another lifeboat process \(backup, restore.*try again when it has finished" \
			lifeboat prune --repo '"$R"' &&
		expect_fail 1 "in use by another lifeboat process" lifeboat forget --repo '"$R"' --keep-last 1 &&
		lifeboat prune --repo '"$R"' --dry-run >/dev/null &&
		kill $pid &&
		expect_eq "$(tree_sum '"$R"')" "$before" "the repository"
	'

	test_expect_success "$mode: prune refuses a damaged snapshot file, naming it, and deletes nothing" '
		victim='"$R"'/snapshots/$(snap_id 3) &&
		before=$(tree_sum '"$R"') &&
		flip_byte "$victim" 40 &&
		damaged=$(tree_sum '"$R"') &&
		expect_fail 1 "snapshot $(snap_id 3 | cut -c1-8) cannot be read.*deletes nothing.*lifeboat forget" \
			lifeboat prune --repo '"$R"' &&
		expect_eq "$(tree_sum '"$R"')" "$damaged" "the repository" &&
		flip_byte "$victim" 40 &&
		expect_eq "$(tree_sum '"$R"')" "$before" "the repository, repaired"
	'

	test_expect_success "$mode: prune refuses a damaged index file and deletes nothing" '
		victim=$(ls '"$R"'/index/* | head -1) &&
		flip_byte "$victim" &&
		damaged=$(tree_sum '"$R"') &&
		expect_fail 1 "index file .* is damaged.*deletes nothing" lifeboat prune --repo '"$R"' &&
		expect_eq "$(tree_sum '"$R"')" "$damaged" "the repository" &&
		flip_byte "$victim"
	'

	test_expect_success "$mode: prune frees about the unique data of the forgotten snapshots" '
		before=$(repo_bytes '"$R"') &&
		want=$(unique_mib "v1.img v2.img" "v3.img v4.img") &&
		: stale tmp file of a killed process, and a pack no index lists: &&
		echo junk >'"$R"'/tmp/12345-0123456789abcdef.pack &&
		lifeboat prune --repo '"$R"' --json >prune.json &&
		is_json <prune.json &&
		after=$(repo_bytes '"$R"') &&
		freed=$((before - after)) &&
		diag_line="'"$mode"': forgot 2 of 4 snapshots holding $want MiB of their own; prune freed $freed bytes ($((freed / MIB)) MiB) of $before in $(json_get "d[\"duration_ms\"]" <prune.json) ms; deleted $(json_get "d[\"packs_deleted\"]" <prune.json), repacked $(json_get "d[\"packs_repacked\"]" <prune.json) packs, $(json_get "d[\"bytes_unused\"]" <prune.json) bytes unused left" &&
		echo "$diag_line" >'"$mode"'.diag &&
		info "$diag_line" &&
		expect_eq "$(json_get "d[\"bytes_freed\"]" <prune.json)" "$freed" "bytes_freed" &&
		test "$want" -ge 4 &&
		test "$freed" -ge $(( want * MIB * 95 / 100 )) &&
		test "$freed" -le $(( want * MIB * 110 / 100 + 256 * 1024 )) &&
		test -z "$(ls -A '"$R"'/tmp)"
	'
	diag "$(cat "$mode.diag" 2>/dev/null)"

	test_expect_success "$mode: after prune every remaining snapshot restores byte for byte; verify --read-data is clean" '
		lifeboat verify --repo '"$R"' --read-data >verify.out &&
		expect_grep "^No damage found: 2 snapshot" verify.out &&
		check_repo_names '"$R"' &&
		for v in 3 4; do
			lifeboat restore --repo '"$R"' "$(snap_id $v)" r$v.img &&
			expect_cmp r$v.img v$v.img &&
			rm r$v.img || exit 1
		done
	'

	test_expect_success "$mode: a second prune has nothing to do" '
		before=$(tree_sum '"$R"'/packs) &&
		lifeboat prune --repo '"$R"' --json >prune2.json &&
		expect_eq "$(json_get "d[\"packs_deleted\"] + d[\"packs_repacked\"] + d[\"packs_unlisted_deleted\"]" <prune2.json)" 0 "packs touched" &&
		expect_eq "$(tree_sum '"$R"'/packs)" "$before" "the packs"
	'

	test_expect_success "$mode: backups go on after prune; forget latest --prune" '
		cp v1.img src.img &&
		lifeboat backup --repo '"$R"' src.img --json | json_get "d[\"snapshot\"]" >'"$mode"'.snap5 &&
		lifeboat restore --repo '"$R"' latest r5.img && expect_cmp r5.img v1.img && rm r5.img &&
		lifeboat forget --repo '"$R"' latest --prune >fp.out &&
		expect_grep "^  remove  $(snap_id 5 | cut -c1-8) " fp.out &&
		expect_grep "^Freed " fp.out &&
		lifeboat verify --repo '"$R"' --read-data &&
		lifeboat restore --repo '"$R"' "$(snap_id 3)" r3.img && expect_cmp r3.img v3.img && rm r3.img
	'
}

forget_prune_tests plain
forget_prune_tests encrypted

# ---- a backup waits for a prune ----

test_expect_success 'a backup waits while the lock is held exclusively, then runs' '
	pid=$(hold_lock -x plain.repo) &&
	{ sleep 2; kill $pid; } &
	cp v2.img src.img &&
	lifeboat backup --repo plain.repo src.img >backup.out 2>backup.err &&
	expect_grep "being pruned by another lifeboat process.*waiting" backup.err &&
	lifeboat restore --repo plain.repo latest r.img && expect_cmp r.img v2.img && rm r.img
'

# ---- kill -9 at each step of prune ----

test_expect_success 'setup: a repository with 4 snapshots, 2 of them forgotten' '
	lifeboat init --repo kill.base && small_packs kill.base &&
	for v in 1 2 3 4; do
		cp v$v.img src.img && lifeboat backup --repo kill.base src.img --threads 1 --json | json_get "d[\"snapshot\"]" >kill.snap$v || exit 1
	done &&
	lifeboat forget --repo kill.base "$(cat kill.snap1)" "$(cat kill.snap2)" &&
	cp -a kill.base kill.ref &&
	lifeboat prune --repo kill.ref --max-unused 0 --json >ref.json &&
	test "$(json_get "d[\"packs_repacked\"]" <ref.json)" -gt 0 &&
	test "$(json_get "d[\"packs_deleted\"]" <ref.json)" -gt 0
'

for step in pack index unindex delete; do
	test_expect_success "kill -9 after step '$step' of prune: verify clean, restores OK, a second prune finishes" '
		rm -rf kill.repo && cp -a kill.base kill.repo &&
		rc=0 && LIFEBOAT_TEST_PRUNE_KILL='"$step"' lifeboat prune --repo kill.repo --max-unused 0 >/dev/null 2>&1 || rc=$? &&
		expect_eq "$rc" 137 "exit status (SIGKILL)" &&
		lifeboat verify --repo kill.repo --read-data >v.out &&
		expect_grep "^No damage found: 2 snapshot" v.out &&
		for v in 3 4; do
			lifeboat restore --repo kill.repo "$(cat kill.snap$v)" r.img && expect_cmp r.img v$v.img && rm r.img || exit 1
		done &&
		lifeboat prune --repo kill.repo --max-unused 0 --json >again.json &&
		lifeboat verify --repo kill.repo --read-data >v.out &&
		expect_grep "^No damage found: 2 snapshot" v.out &&
		test -z "$(ls -A kill.repo/tmp)" &&
		lifeboat restore --repo kill.repo "$(cat kill.snap3)" r.img && expect_cmp r.img v3.img && rm r.img &&
		echo "kill -9 after step '"$step"', then a second prune: $(repo_bytes kill.repo) bytes of packs; uninterrupted: $(repo_bytes kill.ref)" >kill.diag &&
		test "$(repo_bytes kill.repo)" -le $(( $(repo_bytes kill.ref) + MIB ))
	'
	diag "$(cat kill.diag 2>/dev/null)"
	rm -f kill.diag
done

# ---- a full disk while repacking ----

test_expect_success 'setup: a repository on a small ext4 filesystem, a partly used 24 MiB pack' '
	truncate -s 64M small.img &&
	mkfs.ext4 -q -F -m 0 small.img &&
	make_loop small.img >small.dev &&
	mount_fs "$(cat small.dev)" small &&
	lifeboat init --repo small/repo &&
	cp v1.img src.img && lifeboat backup --repo small/repo src.img --json | json_get "d[\"snapshot\"]" >full.snap1 &&
	cp v2.img src.img && lifeboat backup --repo small/repo src.img --json | json_get "d[\"snapshot\"]" >full.snap2 &&
	lifeboat forget --repo small/repo "$(cat full.snap1)" &&
	lifeboat prune --repo small/repo --dry-run --json >full.dry &&
	test "$(json_get "d[\"packs_repacked\"]" <full.dry)" -ge 1 &&
	avail=$(df -k --output=avail small | tail -n1) &&
	random_file small/ballast $(( (avail - 3 * 1024) * 1024 )) ballast &&
	df -k small >&2
'

test_expect_success 'prune on a full disk fails with a clear message and loses nothing' '
	find small/repo/packs small/repo/index small/repo/snapshots -type f | sort >full.before &&
	expect_fail 1 "is full.*nothing was removed.*--max-unused 100" lifeboat prune --repo small/repo &&
	find small/repo/packs small/repo/index small/repo/snapshots -type f | sort >full.after &&
	diff full.before full.after &&
	test -z "$(ls -A small/repo/tmp)" &&
	lifeboat verify --repo small/repo --read-data &&
	lifeboat restore --repo small/repo "$(cat full.snap2)" r.img && expect_cmp r.img v2.img && rm r.img
'

test_expect_success 'with space again, prune succeeds' '
	rm small/ballast &&
	lifeboat prune --repo small/repo >full.out &&
	expect_grep "^Freed " full.out &&
	lifeboat verify --repo small/repo --read-data &&
	lifeboat restore --repo small/repo "$(cat full.snap2)" r.img && expect_cmp r.img v2.img && rm r.img &&
	unmount_fs small &&
	free_loop "$(cat small.dev)"
'

# ---- groups are whole: long source paths never merge two groups ----

test_expect_success 'forget --keep-last 1: groups of long source paths stay apart' '
	long=$(printf "very-long-directory-name-%02d/" $(seq 1 8)) &&
	mkdir -p "$long" &&
	head -c $MIB v1.img >"${long}a.img" && head -c $MIB v2.img >"${long}b.img" &&
	head -c $MIB v3.img >"${long}c.img" &&
	lifeboat init --repo groups.repo >/dev/null &&
	lifeboat backup --repo groups.repo "${long}a.img" "${long}b.img" >/dev/null &&
	lifeboat backup --repo groups.repo "${long}a.img" "${long}c.img" >/dev/null &&
	test "$(lifeboat list --repo groups.repo | grep -c "^[0-9a-f]")" = 2 &&
	lifeboat forget --repo groups.repo --keep-last 1 >forget.out &&
	expect_grep "^Removed 0 snapshot" forget.out &&
	test "$(grep -c "^Snapshots of" forget.out)" = 2 &&
	test "$(ls groups.repo/snapshots | wc -l)" = 2
'

# ---- the lock file can be taken by everyone, whatever the umask ----

test_expect_success 'the lock file is made readable by all under umask 077' '
	(umask 077 && lifeboat init --repo umask.repo >/dev/null && cp v1.img u.img &&
		lifeboat backup --repo umask.repo u.img >/dev/null) &&
	test "$(stat -c %a umask.repo/lock)" = 644
'

# ---- a mount holds the lock ----

if [ -c /dev/fuse ]; then
	test_expect_success 'prune refuses while the repository is mounted, and runs after umount' '
		mkdir -p mnt &&
		echo "$SCRATCH/mnt" >>"$_STATE/mounts" &&
		lifeboat mount --repo kill.ref mnt &&
		test -n "$(ls mnt)" &&
		expect_fail 1 "in use by another lifeboat process.*mount" lifeboat prune --repo kill.ref &&
		lifeboat umount mnt &&
		lifeboat prune --repo kill.ref >/dev/null
	'
else
	test_skip 'prune refuses while the repository is mounted' 'no /dev/fuse'
fi

test_done
