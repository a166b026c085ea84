#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# lifeboat forget, on an unencrypted and an encrypted repository: four
# backups of a changing source; forget by ID and --keep-last, and the
# refusals (no rule, a wrong ID); the repository lock (forget refuses while
# another process holds it; a backup waits while it is held exclusively).
# The retention rules themselves (periods, DST, --keep-within) are tested in
# tests/unit/test-forget.c.
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

	test_expect_success "$mode: forget refuses while another process holds the lock, and removes nothing" '
		before=$(tree_sum '"$R"') &&
		pid=$(hold_lock -s '"$R"') &&
		expect_fail 1 "in use by another lifeboat process \(backup, restore.*try again when it has finished" \
			lifeboat forget --repo '"$R"' --keep-last 1 &&
		lifeboat forget --repo '"$R"' --keep-last 1 --dry-run >/dev/null &&
		kill $pid &&
		expect_eq "$(tree_sum '"$R"')" "$before" "the repository"
	'
}

forget_prune_tests plain
forget_prune_tests encrypted

# ---- a backup waits for a forget or prune ----

test_expect_success 'a backup waits while the lock is held exclusively, then runs' '
	pid=$(hold_lock -x plain.repo) &&
	{ sleep 2; kill $pid; } &
	cp v2.img src.img &&
	lifeboat backup --repo plain.repo src.img >backup.out 2>backup.err &&
	expect_grep "being pruned by another lifeboat process.*waiting" backup.err &&
	lifeboat restore --repo plain.repo latest r.img && expect_cmp r.img v2.img && rm r.img
'

test_done
