#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Interrupted backups must leave the repository consistent: a full disk, a
# backup killed with SIGKILL while it writes, and two backups at once.
. "$(dirname "$0")/lib.sh"

# ---- (a) the disk fills up ----

test_expect_success 'setup: a small filesystem for the repository, with ballast' '
	truncate -s 80M small.img &&
	mkfs.ext4 -q -F -m 0 small.img &&
	make_loop small.img >small.dev &&
	mount_fs "$(cat small.dev)" small &&
	random_file small/ballast 32M ballast &&
	random_file s1.img 4M s1 &&
	random_file big.img 48M big &&
	df -k small >&2
'

test_expect_success 'snapshot 1 of a small source fits' '
	lifeboat init --repo small/repo &&
	lifeboat backup --repo small/repo s1.img --json | json_get "d[\"snapshot\"]" >snap1.id &&
	test -s snap1.id
'

test_expect_success 'a backup that does not fit fails with a message about space' '
	find small/repo -type f | sort >before.list &&
	expect_fail 1 "[Nn]o space|space" lifeboat backup --repo small/repo big.img &&
	df -k small >&2 &&
	lifeboat list --repo small/repo --json >list.json &&
	expect_eq "$(json_get "len(d)" <list.json)" 1 "snapshots after the failed backup"
'

test_expect_success 'after the failure: verify passes, snapshot 1 restores, tmp/ is empty' '
	lifeboat verify --repo small/repo &&
	lifeboat verify --repo small/repo --read-data &&
	lifeboat restore --repo small/repo "$(cat snap1.id)" s1.restored &&
	expect_cmp s1.restored s1.img &&
	ls -la small/repo/tmp >&2 &&
	test -z "$(ls -A small/repo/tmp)"
'

test_expect_success 'after the failure: every file in the repository is complete' '
	check_repo_names small/repo
'

test_expect_success 'after freeing space the big backup works and restores' '
	rm small/ballast &&
	lifeboat backup --repo small/repo big.img --json >big.json &&
	json_get "d[\"snapshot\"]" <big.json >snap2.id &&
	lifeboat verify --repo small/repo --read-data &&
	lifeboat restore --repo small/repo "$(cat snap2.id)" big.restored &&
	expect_cmp big.restored big.img &&
	rm big.restored &&
	lifeboat restore --repo small/repo "$(cat snap1.id)" s1.restored2 &&
	expect_cmp s1.restored2 s1.img &&
	check_repo_names small/repo
'

test_expect_success 'a restore that does not fit fails with a message about space' '
	random_file small/ballast2 $(( ($(df -k --output=avail small | tail -n1) - 2048) * 1024 )) ballast2 &&
	df -k small >&2 &&
	expect_fail 1 "[Nn]o space" lifeboat restore --repo small/repo "$(cat snap2.id)" small/big.restored &&
	rm -f small/big.restored small/ballast2
'

test_expect_success 'cleanup: unmount the small filesystem' '
	unmount_fs small &&
	free_loop "$(cat small.dev)"
'

# ---- (b) kill -9 in the middle of a backup ----

test_expect_success 'setup: a repository with one snapshot, a 1 GiB incompressible source' '
	lifeboat init --repo repo &&
	random_file k1.img 8M k1 &&
	lifeboat backup --repo repo k1.img --json | json_get "d[\"snapshot\"]" >k1.id &&
	random_file huge.img 1G huge
'

test_expect_success 'kill -9 a backup while it writes' '
	"$LIFEBOAT" backup --repo repo huge.img >killed.out 2>&1 &
	pid=$! &&
	register_pid $pid &&
	expect_eq "$(ps -o comm= -p $pid)" lifeboat "the process to kill" &&
	for i in $(seq 1 100); do
		ls repo/tmp | grep -q . && break
		sleep 0.02
	done &&
	sleep 1 &&
	if ! kill -0 $pid 2>/dev/null; then
		cat killed.out; echo "the backup ended before it could be killed"; exit 1
	fi &&
	info "killing the backup; tmp/ has $(ls repo/tmp | wc -l) file(s), $(du -sk repo/tmp | cut -f1) KiB" &&
	kill -9 $pid &&
	{ wait $pid || true; } &&
	ls -la repo/tmp >&2
'

test_expect_success 'after kill -9: verify passes and the earlier snapshot restores' '
	lifeboat list --repo repo --json >list.json &&
	expect_eq "$(json_get "len(d)" <list.json)" 1 "snapshots" &&
	lifeboat verify --repo repo &&
	lifeboat verify --repo repo --read-data &&
	lifeboat restore --repo repo "$(cat k1.id)" k1.restored &&
	expect_cmp k1.restored k1.img &&
	check_repo_names repo
'

test_expect_success 'after kill -9: a new backup succeeds and restores identically' '
	lifeboat backup --repo repo huge.img --json >huge.json &&
	json_get "d[\"snapshot\"]" <huge.json >huge.id &&
	lifeboat verify --repo repo --read-data &&
	lifeboat restore --repo repo "$(cat huge.id)" huge.restored &&
	expect_cmp huge.restored huge.img &&
	rm huge.restored huge.img
'

# ---- (c) two backups at the same time ----

test_expect_success 'setup: two different sources that share a region' '
	random_file shared.part 16M shared &&
	{ random_data 24M x; cat shared.part; random_data 8M x2; } >X.img &&
	{ cat shared.part; random_data 20M y; seq 1 500000; } >Y.img &&
	lifeboat init --repo crepo
'

test_expect_success 'two backups into one repository at the same time both succeed' '
	for round in 1 2; do
		for s in x y; do
			src=$(echo $s | tr xy XY).img &&
			{ rc=0; lifeboat backup --repo crepo $src --tag $s$round --json >$s$round.json 2>$s$round.err || rc=$?; echo $rc >$s$round.rc; } &
			register_pid $!
		done &&
		wait &&
		cat x$round.err y$round.err >&2 &&
		expect_eq "$(cat x$round.rc)" 0 "exit status of backup X (round $round)" &&
		expect_eq "$(cat y$round.rc)" 0 "exit status of backup Y (round $round)"
	done &&
	lifeboat list --repo crepo --json >list.json &&
	expect_eq "$(json_get "len(d)" <list.json)" 4 "snapshots"
'

test_expect_success 'after concurrent backups: verify --read-data passes, both restore' '
	lifeboat verify --repo crepo --read-data &&
	check_repo_names crepo &&
	for s in x1 y1 x2 y2; do
		id=$(json_get "d[\"snapshot\"]" <$s.json) &&
		rm -f $s.restored &&
		lifeboat restore --repo crepo "$id" $s.restored &&
		case $s in x*) expect_cmp $s.restored X.img ;; y*) expect_cmp $s.restored Y.img ;; esac &&
		rm $s.restored
	done
'

test_done
