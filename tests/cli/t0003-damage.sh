#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Damaged repositories, unencrypted and encrypted: a flipped byte, a
# truncated or deleted pack, a damaged index file or snapshot manifest. verify
# must find and locate the damage (snapshot, image, byte range), restore must
# fail rather than write wrong data, and an undamaged copy must stay clean.
. "$(dirname "$0")/lib.sh"

test_expect_success 'setup: two source images' '
	{ random_data 16M a; seq 1 1200000; } >A.img &&
	random_file B.img 12M b &&
	cmp -s A.img B.img && exit 1 || true
'

# work_copy MODE: a fresh copy of the undamaged repository in MODE.work
work_copy() {
	rm -rf "$1.work" && cp -a "$1.pristine" "$1.work"
}

# The biggest pack file of snapshot A (holds image data).
pack_of_a() {
	(cd "$1.work" && xargs ls -S <../"$1".packsA | head -n1)
}

damage_tests() {
	mode=$1

	test_expect_success "$mode: setup: a repository with snapshots of A and B" '
		if [ '"$mode"' = encrypted ]; then
			lifeboat init --repo '"$mode"'.pristine --encrypt
		else
			lifeboat init --repo '"$mode"'.pristine
		fi &&
		lifeboat backup --repo '"$mode"'.pristine A.img --json | json_get "d[\"snapshot\"]" >'"$mode"'.A &&
		(cd '"$mode"'.pristine && find packs -type f && find index -type f) >'"$mode"'.filesA &&
		grep ^packs/ '"$mode"'.filesA >'"$mode"'.packsA &&
		grep ^index/ '"$mode"'.filesA >'"$mode"'.indexA &&
		test -s '"$mode"'.packsA && test -s '"$mode"'.indexA &&
		lifeboat backup --repo '"$mode"'.pristine B.img --json | json_get "d[\"snapshot\"]" >'"$mode"'.B &&
		test $(wc -c <'"$mode"'.A) = 65 && test $(wc -c <'"$mode"'.B) = 65
	'
	A=$(cut -c1-8 "$mode.A" 2>/dev/null)
	B=$(cut -c1-8 "$mode.B" 2>/dev/null)
	R=$mode.work

	test_expect_success "$mode: the undamaged repository verifies clean" '
		work_copy '"$mode"' &&
		lifeboat verify --repo '"$R"' >v.out 2>v.err &&
		test ! -s v.err &&
		lifeboat verify --repo '"$R"' --read-data >v.out 2>v.err &&
		test ! -s v.err &&
		expect_grep "^No damage found: 2 snapshot" v.out
	'

	test_expect_success "$mode: a flipped byte in the middle of a pack is found and located" '
		work_copy '"$mode"' &&
		pack=$(pack_of_a '"$mode"') &&
		info "damaging $pack ($(file_size '"$R"'/$pack) bytes)" &&
		flip_byte '"$R"'/$pack &&
		expect_fail 1 "snapshot '"$A"' image A.img bytes [0-9]+-[0-9]+ .*damaged" lifeboat verify --repo '"$R"' &&
		expect_no_grep "snapshot '"$B"'" last.err &&
		expect_grep "DAMAGE FOUND" last.out &&
		expect_fail 1 "snapshot '"$A"' image A.img bytes [0-9]+-[0-9]+ " lifeboat verify --repo '"$R"' --read-data &&
		expect_no_grep "snapshot '"$B"'" last.err &&
		expect_exit 1 lifeboat verify --repo '"$R"' --json &&
		json_get "d[\"ok\"]" <last.out >ok && expect_eq "$(cat ok)" false &&
		json_get "sorted(set(x[\"snapshot\"] for x in d[\"damage\"]))" <last.out >snaps &&
		expect_eq "$(cat snaps)" "[\"$(cat '"$mode"'.A)\"]" "damaged snapshots" &&
		lifeboat verify --repo '"$R"' '"$B"'
	'

	test_expect_success "$mode: restore of the damaged snapshot fails and names the range" '
		expect_fail 1 "A.img.*bytes [0-9]+-[0-9]+" lifeboat restore --repo '"$R"' '"$A"' A.restored &&
		lifeboat restore --repo '"$R"' '"$B"' B.restored &&
		expect_cmp B.restored B.img &&
		rm -f A.restored B.restored
	'

	test_expect_success "$mode: a truncated pack is found" '
		work_copy '"$mode"' &&
		pack=$(pack_of_a '"$mode"') &&
		truncate -s $(( $(file_size '"$R"'/$pack) / 2 )) '"$R"'/$pack &&
		expect_fail 1 "snapshot '"$A"' image A.img bytes [0-9]+-[0-9]+ " lifeboat verify --repo '"$R"' &&
		expect_no_grep "snapshot '"$B"'" last.err &&
		expect_fail 1 "snapshot '"$A"' image A.img bytes [0-9]+-[0-9]+ " lifeboat verify --repo '"$R"' --read-data &&
		expect_fail 1 "A.img.*bytes [0-9]+-[0-9]+|map of image A.img" lifeboat restore --repo '"$R"' '"$A"' A.restored &&
		rm -f A.restored
	'

	test_expect_success "$mode: a deleted pack is found" '
		work_copy '"$mode"' &&
		pack=$(pack_of_a '"$mode"') &&
		rm '"$R"'/$pack &&
		expect_fail 1 "missing" lifeboat verify --repo '"$R"' &&
		expect_grep "snapshot '"$A"' image A.img bytes [0-9]+-[0-9]+ " last.err &&
		expect_no_grep "snapshot '"$B"'" last.err &&
		expect_fail 1 "snapshot '"$A"' image A.img bytes [0-9]+-[0-9]+ " lifeboat verify --repo '"$R"' --read-data &&
		expect_fail 1 "A.img.*bytes [0-9]+-[0-9]+|map of image A.img" lifeboat restore --repo '"$R"' '"$A"' A.restored &&
		rm -f A.restored &&
		lifeboat restore --repo '"$R"' '"$B"' B.restored &&
		expect_cmp B.restored B.img &&
		rm B.restored
	'

	# A backup that says it succeeded must be restorable, also when packs it
	# would deduplicate against are gone.
	test_expect_success "$mode: after a deleted pack, a new backup either fails or is complete" '
		rc=0 && lifeboat backup --repo '"$R"' A.img --json >new.json 2>backup.err || rc=$? &&
		cat backup.err >&2 &&
		if [ $rc = 0 ]; then
			new=$(json_get "d[\"snapshot\"]" <new.json) &&
			lifeboat verify --repo '"$R"' $new &&
			lifeboat restore --repo '"$R"' $new A.new &&
			expect_cmp A.new A.img &&
			rm A.new
		else
			expect_grep "^lifeboat: " backup.err
		fi
	'

	test_expect_success "$mode: every pack deleted: nothing restores, verify names both snapshots" '
		work_copy '"$mode"' &&
		rm -r '"$R"'/packs/* &&
		expect_fail 1 "snapshot '"$A"' image A.img bytes 0-" lifeboat verify --repo '"$R"' &&
		expect_grep "snapshot '"$B"' image B.img bytes 0-" last.err &&
		expect_fail 1 "" lifeboat restore --repo '"$R"' '"$B"' B.restored &&
		test ! -s B.restored &&
		rm -f B.restored
	'

	test_expect_success "$mode: a flipped byte in an index file: a warning, verify fails" '
		work_copy '"$mode"' &&
		index=$(cat '"$mode"'.indexA) &&
		flip_byte '"$R"'/$index &&
		expect_fail 1 "warning: .*index" lifeboat verify --repo '"$R"' &&
		expect_grep "index file .*damaged" last.err &&
		expect_grep "snapshot '"$A"' image A.img bytes [0-9]+-[0-9]+ " last.err &&
		expect_fail 1 "" lifeboat restore --repo '"$R"' '"$A"' A.restored &&
		rm -f A.restored &&
		lifeboat restore --repo '"$R"' '"$B"' B.restored 2>restore.err &&
		expect_cmp B.restored B.img &&
		rm B.restored
	'

	# The index file is still damaged (verify keeps saying so), but the
	# chunks it lost look missing, so a new backup stores them again.
	test_expect_success "$mode: after a damaged index file, a new backup is complete" '
		lifeboat backup --repo '"$R"' A.img --json 2>backup.err >new.json &&
		new=$(json_get "d[\"snapshot\"]" <new.json) &&
		expect_exit 1 lifeboat verify --repo '"$R"' --read-data --json $new &&
		expect_eq "$(json_get "d[\"damage\"]" <last.out)" "[]" "damage in the new snapshot" &&
		lifeboat restore --repo '"$R"' $new A.new 2>restore.err &&
		expect_cmp A.new A.img &&
		rm A.new
	'

	test_expect_success "$mode: a flipped byte in a snapshot manifest" '
		work_copy '"$mode"' &&
		flip_byte '"$R"'/snapshots/$(cat '"$mode"'.A) &&
		lifeboat list --repo '"$R"' >list.out 2>list.err &&
		expect_grep "warning: .*'"$A"'.*damaged.*skipping" list.err &&
		expect_no_grep "^'"$A"'" list.out &&
		expect_grep "^'"$B"'" list.out &&
		expect_fail 1 "snapshot '"$A"'.* damaged" lifeboat verify --repo '"$R"' &&
		expect_fail 1 "damaged" lifeboat restore --repo '"$R"' '"$A"' A.restored &&
		test ! -e A.restored &&
		expect_fail 1 "damaged" lifeboat info --repo '"$R"' '"$A"' &&
		lifeboat restore --repo '"$R"' latest B.restored 2>restore.err &&
		expect_cmp B.restored B.img &&
		rm B.restored
	'

	test_expect_success "$mode: a flipped byte anywhere: found, and never restored as wrong data" '
		for spec in first:0 header-id:20 lengths:10 early:1000 middle: late:-2000 directory:-40 footer:-1; do
			work_copy '"$mode"' &&
			pack=$(pack_of_a '"$mode"') &&
			size=$(file_size '"$R"'/$pack) &&
			off=${spec#*:} &&
			case $off in -*) off=$((size + off)) ;; esac &&
			info "flipping byte ${off:-(middle)} of $size (${spec%%:*})" &&
			flip_byte '"$R"'/$pack $off &&
			case ${spec%%:*} in
			directory|footer)
				# outside every blob: the pack is reported, and its data
				# is checked blob by blob and found intact
				expect_fail 1 "pack file .* is damaged.*every blob in it is intact" \
					lifeboat verify --repo '"$R"' ;;
			*)
				expect_fail 1 "snapshot '"$A"' image A.img bytes [0-9]+-[0-9]+ " lifeboat verify --repo '"$R"' ;;
			esac &&
			for s in A B; do
				rm -f any.$s &&
				rc=0 && lifeboat restore --repo '"$R"' $(cut -c1-8 '"$mode"'.$s) any.$s 2>restore.err || rc=$? &&
				if [ $rc = 0 ]; then
					cmp any.$s $s.img || { echo "restore exited 0 with wrong data"; exit 1; }
				else
					expect_eq $rc 1 "exit status of a failed restore" &&
					expect_grep "^lifeboat: " restore.err
				fi
			done
		done &&
		rm -f any.A any.B
	'

	test_expect_success "$mode: the undamaged copy is still clean" '
		lifeboat verify --repo '"$mode"'.pristine --read-data &&
		lifeboat restore --repo '"$mode"'.pristine '"$A"' A.restored &&
		expect_cmp A.restored A.img &&
		rm A.restored
	'
}

damage_tests plain
export LIFEBOAT_PASSWORD='damage test passphrase'
damage_tests encrypted

test_done
