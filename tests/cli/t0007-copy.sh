#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# lifeboat copy: snapshots of an unencrypted and of an encrypted repository
# into new and existing repositories; restore and verify from the copy; a
# copy that adds nothing; an incremental copy that adds only what is new;
# byte-identical copies (the recovery media must be reproducible); refusals
# (other keys, missing snapshot, the source itself); damage in the source and
# a full destination leave the destination as it was.
. "$(dirname "$0")/lib.sh"

[ -x /usr/bin/time ] || skip_all "needs /usr/bin/time (Debian package time)"

PASS='copy test passphrase'

# tree_sum DIR: one checksum over every file's path and contents.
tree_sum() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

# repo_bytes REPO: bytes of its pack, index and snapshot files.
repo_bytes() {
	find "$1/packs" "$1/index" "$1/snapshots" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}

test_expect_success 'setup: a 128 MiB ext4 image on a loop device' '
	make_fs_image src.img 128M 16 8 &&
	make_loop src.img >src.dev &&
	test -b "$(cat src.dev)"
'
SRC=$(cat src.dev 2>/dev/null)

# copy_tests MODE: MODE is plain or encrypted.
copy_tests() {
	mode=$1
	R=$mode.src

	test_expect_success "$mode: a repository with one snapshot of the device" '
		if [ '"$mode"' = encrypted ]; then
			lifeboat init --repo '"$R"' --encrypt
		else
			lifeboat init --repo '"$R"'
		fi &&
		lifeboat backup --repo '"$R"' "$SRC" --json | json_get "d[\"snapshot\"]" >'"$mode"'.snap1 &&
		test $(wc -c <'"$mode"'.snap1) = 65
	'

	test_expect_success "$mode: copy into a new directory, then restore and verify from it" '
		lifeboat copy --repo '"$R"' --to '"$mode"'.dst --json >copy1.json &&
		is_json <copy1.json &&
		expect_eq "$(json_get "d[\"created\"]" <copy1.json)" true created &&
		expect_eq "$(json_get "d[\"copied\"]" <copy1.json)" 1 copied &&
		expect_eq "$(json_get "d[\"snapshots\"][0][\"id\"]" <copy1.json)" "$(cat '"$mode"'.snap1)" "snapshot ID" &&
		info "copied $(json_get "d[\"stored_bytes\"]" <copy1.json) bytes in $(json_get "d[\"duration_ms\"]" <copy1.json) ms" &&
		cmp '"$R"'/config '"$mode"'.dst/config &&
		cmp '"$R"'/snapshots/$(cat '"$mode"'.snap1) '"$mode"'.dst/snapshots/$(cat '"$mode"'.snap1) &&
		check_repo_names '"$mode"'.dst &&
		test -z "$(ls -A '"$mode"'.dst/tmp)" &&
		lifeboat verify --repo '"$mode"'.dst --read-data >verify.out &&
		expect_grep "^No damage found: 1 snapshot" verify.out &&
		lifeboat restore --repo '"$mode"'.dst latest restored.img &&
		expect_cmp restored.img "$SRC" &&
		rm restored.img
	'

	test_expect_success "$mode: the human-readable summary; the same passphrase opens the copy" '
		lifeboat copy --repo '"$R"' --to '"$mode"'.human >human.out &&
		expect_grep "^Created repository $mode.human with the keys of $R" human.out &&
		expect_grep "^Snapshot [0-9a-f]{8} copied: [0-9]+ blobs, .* added" human.out &&
		expect_grep "^Copied 1 snapshot\(s\) \(0 already there\) in " human.out &&
		lifeboat list --repo '"$mode"'.human --json >list.json &&
		expect_eq "$(json_get "d[0][\"id\"]" <list.json)" "$(cat '"$mode"'.snap1)"
	'

	test_expect_success "$mode: a second copy adds nothing" '
		before=$(tree_sum '"$mode"'.dst) &&
		lifeboat copy --repo '"$R"' --to '"$mode"'.dst --json >copy2.json &&
		expect_eq "$(json_get "d[\"copied\"]" <copy2.json)" 0 copied &&
		expect_eq "$(json_get "d[\"present\"]" <copy2.json)" 1 present &&
		expect_eq "$(json_get "d[\"stored_bytes\"]" <copy2.json)" 0 stored_bytes &&
		expect_eq "$(tree_sum '"$mode"'.dst)" "$before" "tree after the second copy" &&
		lifeboat copy --repo '"$R"' --to '"$mode"'.dst >copy2.out &&
		expect_grep "is already in $mode.dst" copy2.out
	'

	test_expect_success "$mode: an incremental copy adds only the blobs of the new snapshot" '
		mount_fs "$SRC" mnt &&
		random_file mnt/new-'"$mode"'.bin 6M new-'"$mode"' &&
		unmount_fs mnt &&
		lifeboat backup --repo '"$R"' "$SRC" --json >backup2.json &&
		json_get "d[\"snapshot\"]" <backup2.json >'"$mode"'.snap2 &&
		backup_added=$(json_get "d[\"stored_bytes\"]" <backup2.json) &&
		before=$(repo_bytes '"$mode"'.dst) &&
		lifeboat copy --repo '"$R"' --to '"$mode"'.dst latest --json >copy3.json &&
		copied=$(json_get "d[\"stored_bytes\"]" <copy3.json) &&
		grown=$(( $(repo_bytes '"$mode"'.dst) - before )) &&
		info "backup 2 stored $backup_added bytes; the copy added $copied bytes of blobs, $grown bytes of files" &&
		expect_eq "$copied" "$backup_added" "bytes copied (= what backup 2 stored)" &&
		test "$copied" -gt $((6 * 1048576)) && test "$copied" -lt $((16 * 1048576)) &&
		test "$grown" -lt $((copied + 65536)) &&
		expect_eq "$(json_get "d[\"snapshots\"][0][\"dedup_chunks\"]" <copy3.json)" \
			"$(json_get "d[\"dedup_chunks\"]" <backup2.json)" "chunks already there" &&
		lifeboat verify --repo '"$mode"'.dst --read-data &&
		lifeboat restore --repo '"$mode"'.dst $(cut -c1-8 '"$mode"'.snap2) restored.img &&
		expect_cmp restored.img "$SRC" &&
		lifeboat restore --repo '"$mode"'.dst $(cut -c1-8 '"$mode"'.snap1) restored1.img &&
		lifeboat restore --repo '"$R"' $(cut -c1-8 '"$mode"'.snap1) restored1.src.img &&
		expect_cmp restored1.img restored1.src.img &&
		rm restored.img restored1.img restored1.src.img
	'

	test_expect_success "$mode: copies into new directories are byte-identical, in one run or two" '
		lifeboat copy --repo '"$R"' --to '"$mode"'.a --quiet &&
		lifeboat copy --repo '"$R"' --to '"$mode"'.b --quiet &&
		diff -r '"$mode"'.a '"$mode"'.b &&
		lifeboat copy --repo '"$R"' --to '"$mode"'.c $(cut -c1-8 '"$mode"'.snap1) --quiet &&
		lifeboat copy --repo '"$R"' --to '"$mode"'.c $(cut -c1-8 '"$mode"'.snap2) --quiet &&
		diff -r '"$mode"'.a '"$mode"'.c &&
		diff -r '"$mode"'.a '"$mode"'.dst &&
		lifeboat copy --repo '"$R"' --to '"$mode"'.d latest --quiet &&
		lifeboat copy --repo '"$R"' --to '"$mode"'.e latest --quiet &&
		diff -r '"$mode"'.d '"$mode"'.e
	'
}

export LIFEBOAT_PASSWORD=$PASS
copy_tests plain
copy_tests encrypted

test_expect_success 'an empty directory (with lost+found) becomes the copy' '
	mkdir -p empty.dst/lost+found &&
	lifeboat copy --repo plain.src --to empty.dst --json >empty.json &&
	expect_eq "$(json_get "d[\"created\"]" <empty.json)" true created &&
	lifeboat verify --repo empty.dst --read-data
'

test_expect_success 'a destination with other keys is refused, and left as it was' '
	lifeboat init --repo other.enc --encrypt &&
	before=$(tree_sum other.enc) &&
	expect_fail 1 "other.enc has the same passphrase as encrypted.src but another master key.*new or empty directory" \
		lifeboat copy --repo encrypted.src --to other.enc &&
	LIFEBOAT_PASSWORD="another $PASS" lifeboat init --repo other.pass --encrypt &&
	expect_fail 1 "other.pass does not open with the passphrase of encrypted.src: it has other keys" \
		lifeboat copy --repo encrypted.src --to other.pass &&
	expect_fail 1 "plain.dst is not encrypted and encrypted.src is encrypted" \
		lifeboat copy --repo encrypted.src --to plain.dst &&
	expect_fail 1 "encrypted.dst is encrypted and plain.src is not encrypted" \
		lifeboat copy --repo plain.src --to encrypted.dst &&
	expect_eq "$(tree_sum other.enc)" "$before" "the refused destination" &&
	test -z "$(ls other.enc/snapshots)"
'

test_expect_success 'an unencrypted destination made by init is accepted (chunk IDs are plain SHA-256)' '
	lifeboat init --repo plain.other &&
	lifeboat copy --repo plain.src --to plain.other --quiet &&
	lifeboat verify --repo plain.other --read-data &&
	lifeboat restore --repo plain.other latest restored.img &&
	lifeboat restore --repo plain.src latest restored.src.img &&
	expect_cmp restored.img restored.src.img &&
	rm restored.img restored.src.img
'

test_expect_success 'a missing or malformed snapshot is refused before anything is written' '
	expect_fail 1 "no snapshot deadbeef in plain.src" lifeboat copy --repo plain.src --to nosnap.dst deadbeef &&
	test ! -e nosnap.dst &&
	expect_fail 1 "not a snapshot" lifeboat copy --repo plain.src --to nosnap.dst xyz &&
	test ! -e nosnap.dst &&
	expect_fail 1 "no snapshot deadbeef" lifeboat copy --repo plain.src --to plain.dst latest deadbeef
'

test_expect_success 'the source as destination is refused, by any path' '
	before=$(tree_sum plain.src) &&
	expect_fail 1 "is the repository being copied" lifeboat copy --repo plain.src --to plain.src &&
	expect_fail 1 "is the repository being copied" lifeboat copy --repo plain.src --to ./plain.src/ &&
	ln -s plain.src link.src &&
	expect_fail 1 "is the repository being copied" lifeboat copy --repo plain.src --to link.src &&
	expect_eq "$(tree_sum plain.src)" "$before" "the source"
'

test_expect_success 'usage errors' '
	expect_fail 2 "give the destination repository with --to" lifeboat copy --repo plain.src &&
	expect_fail 2 "unknown option" lifeboat copy --repo plain.src --to x --frobnicate &&
	mkdir -p full.dir && echo x >full.dir/file &&
	expect_fail 1 "full.dir is neither a Lifeboat repository nor an empty directory" \
		lifeboat copy --repo plain.src --to full.dir
'

test_expect_success 'the number of threads does not change the result; --json and errors' '
	lifeboat copy --repo encrypted.src --to threads.1 --threads 1 --quiet &&
	lifeboat copy --repo encrypted.src --to threads.7 --threads 7 --quiet &&
	diff -r threads.1 threads.7 &&
	diff -r threads.1 encrypted.a &&
	expect_fail 2 "bad --threads" lifeboat copy --repo plain.src --to x --threads 0 &&
	expect_fail 1 "no snapshot deadbeef" lifeboat copy --repo plain.src --to x deadbeef --json &&
	test ! -s last.out
'

test_expect_success 'a repository without snapshots: the copy is an empty repository with its keys' '
	lifeboat init --repo none.src --encrypt &&
	lifeboat copy --repo none.src --to none.dst --json >none.json &&
	expect_eq "$(json_get "d[\"created\"]" <none.json)" true created &&
	expect_eq "$(json_get "d[\"copied\"]" <none.json)" 0 copied &&
	cmp none.src/keys/default none.dst/keys/default &&
	random_file none.img 3M none &&
	lifeboat backup --repo none.dst none.img --quiet &&
	lifeboat copy --repo none.dst --to none.src --quiet &&
	lifeboat restore --repo none.src latest none.restored &&
	expect_cmp none.restored none.img
'

test_expect_success 'one copy into a destination at a time' '
	lifeboat init --repo lock.src &&
	random_file lock.img 3M lock &&
	lifeboat backup --repo lock.src lock.img --quiet &&
	lifeboat copy --repo lock.src --to lock.dst --quiet &&
	{ flock lock.dst sh -c "echo \$\$ >lock.pid; exec sleep 60" & } &&
	pid=$! && register_pid $pid &&
	for i in $(seq 1 50); do
		test -s lock.pid && break
		sleep 0.1
	done &&
	register_pid $(cat lock.pid) &&
	! flock -n lock.dst true &&
	expect_fail 1 "another .lifeboat copy. is writing to lock.dst" lifeboat copy --repo plain.src --to lock.dst &&
	kill $(cat lock.pid) && { wait $pid || true; } &&
	lifeboat copy --repo lock.src --to lock.dst --quiet
'

test_expect_success 'a killed copy: the destination stays valid, and a new copy completes it' '
	lifeboat init --repo kill.src &&
	random_file kill.img 160M kill &&
	lifeboat backup --repo kill.src kill.img --quiet &&
	{ "$LIFEBOAT" copy --repo kill.src --to kill.dst --threads 1 --quiet & } &&
	pid=$! && register_pid $pid &&
	for i in $(seq 1 200); do
		test -n "$(find kill.dst/packs -type f 2>/dev/null)" && break
		sleep 0.05
	done &&
	kill -9 $pid && { wait $pid || true; } &&
	info "killed with $(find kill.dst/packs -type f | wc -l) pack(s) and $(ls kill.dst/tmp | wc -l) temporary file(s) written" &&
	test -n "$(find kill.dst/packs -type f)" &&
	test -z "$(ls kill.dst/snapshots)" &&
	lifeboat verify --repo kill.dst &&
	lifeboat copy --repo kill.src --to kill.dst --quiet &&
	lifeboat verify --repo kill.dst --read-data &&
	lifeboat copy --repo kill.src --to kill.fresh --quiet &&
	diff -r -x tmp kill.dst kill.fresh &&
	rm kill.img
'

# ---- damage in the source ----

test_expect_success 'setup: a source with a third snapshot whose new data sits in a pack of its own' '
	cp -a plain.src damaged.src &&
	find damaged.src/packs -type f | sort >packs.before &&
	random_file extra.img 6M extra &&
	lifeboat backup --repo damaged.src extra.img --threads 1 --json | json_get "d[\"snapshot\"]" >damaged.snap3 &&
	find damaged.src/packs -type f | sort >packs.after &&
	comm -13 packs.before packs.after >packs.new &&
	test "$(wc -l <packs.new)" = 1 &&
	lifeboat copy --repo damaged.src --to damaged.dst $(cut -c1-8 plain.snap1) $(cut -c1-8 plain.snap2) --quiet &&
	cp -a damaged.dst damaged.dst.before
'

test_expect_success 'a flipped byte in a source pack: copy fails, names snapshot and range, changes nothing' '
	flip_byte "$(cat packs.new)" &&
	expect_fail 1 "cannot copy snapshot $(cut -c1-8 damaged.snap3): the chunk of image extra.img \(bytes [0-9]+-[0-9]+\) is damaged in damaged.src.*Nothing of it was kept in damaged.dst" \
		lifeboat copy --repo damaged.src --to damaged.dst &&
	diff -r damaged.dst damaged.dst.before &&
	lifeboat verify --repo damaged.dst --read-data &&
	expect_fail 1 "is damaged in damaged.src" lifeboat copy --repo damaged.src --to damaged.new &&
	lifeboat list --repo damaged.new --json >list.json &&
	expect_eq "$(json_get "len(d)" <list.json)" 2 "snapshots copied before the damaged one" &&
	lifeboat verify --repo damaged.new --read-data &&
	diff -r damaged.new damaged.dst.before
'

test_expect_success 'a damaged source snapshot file is not copied either' '
	lifeboat copy --repo damaged.src --to damaged.dst2 $(cut -c1-8 plain.snap1) --quiet &&
	cp -a damaged.dst2 damaged.dst2.before &&
	cp -a damaged.src damaged.src2 &&
	printf x | dd of=damaged.src2/snapshots/$(cat plain.snap2) bs=1 seek=100 conv=notrunc status=none &&
	expect_fail 1 "$(cut -c1-8 plain.snap2).*damaged" \
		lifeboat copy --repo damaged.src2 --to damaged.dst2 $(cut -c1-8 plain.snap2) &&
	diff -r damaged.dst2 damaged.dst2.before
'

# hint_blob_offset PACK: offset of the middle of the first hint blob (type 5)
# in PACK, from its plaintext directory (docs/FORMAT.md, "Pack files").
hint_blob_offset() {
	python3 - "$1" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
dir_off, count = struct.unpack_from("<QI", data, len(data) - 24)
for i in range(count):
    _id, off, length, typ = struct.unpack_from("<32sQIB", data, dir_off + 48 * i)
    if typ == 5:
        print(off + 48 + (length - 48) // 2)
        break
PY
}

test_expect_success 'a damaged hint blob is left behind with a warning; the copy is complete' '
	lifeboat init --repo hint.src &&
	lifeboat backup --repo hint.src extra.img --quiet &&
	for p in $(find hint.src/packs -type f); do
		off=$(hint_blob_offset $p)
		if [ -n "$off" ]; then
			flip_byte $p $off && echo $p >hint.pack
		fi
	done &&
	test -s hint.pack &&
	lifeboat copy --repo hint.src --to hint.dst >hint.out 2>hint.err &&
	expect_grep "^lifeboat: warning: snapshot [0-9a-f]{8} image extra.img: change-detection hints of segment 0 not copied" hint.err &&
	lifeboat verify --repo hint.dst --read-data &&
	lifeboat restore --repo hint.dst latest hint.restored &&
	expect_cmp hint.restored extra.img &&
	lifeboat backup --repo hint.dst extra.img --json >hint.backup.json 2>hint.backup.err &&
	expect_eq "$(json_get "d[\"new_chunks\"]" <hint.backup.json)" 0 "new chunks of a backup into the copy"
'

# ---- a destination that fills up ----

test_expect_success 'setup: a 24 MiB filesystem for the destination; a small and a big snapshot' '
	truncate -s 24M small.img &&
	mkfs.ext4 -q -F -m 0 small.img &&
	make_loop small.img >small.dev &&
	mount_fs "$(cat small.dev)" small &&
	random_file little.img 4M little &&
	random_file huge.img 40M huge &&
	lifeboat init --repo full.src &&
	lifeboat backup --repo full.src little.img --json | json_get "d[\"snapshot\"]" >full.snap1 &&
	lifeboat backup --repo full.src huge.img --json | json_get "d[\"snapshot\"]" >full.snap2
'

test_expect_success 'a copy that does not fit: a message about space; earlier snapshots stay whole' '
	lifeboat copy --repo full.src --to small/dst $(cut -c1-8 full.snap1) --quiet &&
	cp -a small/dst small.before &&
	expect_fail 1 "small/dst is full, snapshot $(cut -c1-8 full.snap2) does not fit: .*No space left on device.*Nothing of it was kept in small/dst" \
		lifeboat copy --repo full.src --to small/dst &&
	diff -r small/dst small.before &&
	test -z "$(ls -A small/dst/tmp)" &&
	lifeboat verify --repo small/dst --read-data &&
	lifeboat restore --repo small/dst latest little.restored &&
	expect_cmp little.restored little.img &&
	rm -rf small/dst && mkdir small/dst &&
	expect_fail 1 "is full" lifeboat copy --repo full.src --to small/dst &&
	lifeboat list --repo small/dst --json >list.json &&
	expect_eq "$(json_get "len(d)" <list.json)" 1 "snapshots that fitted" &&
	lifeboat verify --repo small/dst --read-data &&
	unmount_fs small
'

# ---- memory and time on a huge sparse image ----

test_expect_success 'a 1 TiB sparse image: quick, and peak RSS within 256 MiB' '
	truncate -s 1T sparse.img &&
	write_at sparse.img 0 2 &&
	write_at sparse.img 700000 2 &&
	lifeboat init --repo sparse.src &&
	lifeboat backup --repo sparse.src sparse.img --quiet &&
	/usr/bin/time -v -o copy.time "$LIFEBOAT" copy --repo sparse.src --to sparse.dst --json >sparse.json &&
	rss=$(peak_rss_kib copy.time) &&
	ms=$(json_get "d[\"duration_ms\"]" <sparse.json) &&
	info "1 TiB sparse copy: $ms ms, peak RSS $rss KiB" &&
	test "$rss" -le $((256 * 1024)) &&
	test "$ms" -lt 30000 &&
	expect_eq "$(json_get "d[\"bytes_total\"]" <sparse.json)" $((1 << 40)) bytes_total &&
	test "$(du -sk sparse.dst | cut -f1)" -lt 16384 &&
	lifeboat verify --repo sparse.dst --read-data
'

test_done
