#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Back up an ext4 filesystem on a loop device and restore it, to a file and
# to another loop device; the bookkeeping commands around it; --json
# everywhere; LIFEBOAT_REPO; several images per snapshot; compression
# settings; --force; sparse restores.
. "$(dirname "$0")/lib.sh"

test_expect_success 'setup: 256 MiB ext4 image (about 100 MiB used) on a loop device' '
	make_fs_image src.img 256M 32 &&
	used=$(du -k src.img | cut -f1) &&
	info "source image uses $used KiB" &&
	test "$used" -gt 80000 && test "$used" -lt 180000 &&
	make_loop src.img >src.dev &&
	test -b "$(cat src.dev)"
'
SRC=$(cat src.dev 2>/dev/null)

test_expect_success 'init creates a version 1 repository' '
	lifeboat init --repo repo >init.out &&
	expect_grep "Created repository" init.out &&
	expect_grep "\"version\": *1" repo/config &&
	for d in keys packs index snapshots tmp; do test -d repo/$d; done &&
	test -z "$(ls -A repo/snapshots)"
'

test_expect_success 'list of an empty repository' '
	lifeboat list --repo repo >list.out &&
	expect_grep "No snapshots" list.out &&
	lifeboat list --repo repo --json >list.json &&
	expect_eq "$(json_get "len(d)" <list.json)" 0 "snapshot count"
'

test_expect_success 'backup of the loop device' '
	lifeboat backup --repo repo "$SRC" --tag first --json >b1.json &&
	is_json <b1.json &&
	json_get "d[\"snapshot\"]" <b1.json >snap1.id &&
	test $(wc -c <snap1.id) = 65 &&
	expect_eq "$(json_get "d[\"bytes_total\"]" <b1.json)" 268435456 bytes_total &&
	stored=$(json_get "d[\"stored_bytes\"]" <b1.json) &&
	info "first backup stored $stored bytes" &&
	test "$stored" -gt 1000000 && test "$stored" -lt 268435456 &&
	test "$(ls -A repo/tmp)" = ""
'

test_expect_success 'second backup of the unchanged device adds (almost) nothing' '
	lifeboat backup --repo repo "$SRC" --tag second --json >b2.json &&
	json_get "d[\"snapshot\"]" <b2.json >snap2.id &&
	! cmp -s snap1.id snap2.id &&
	stored=$(json_get "d[\"stored_bytes\"]" <b2.json) &&
	info "second backup stored $stored bytes" &&
	test "$stored" -lt 1048576 &&
	expect_eq "$(json_get "d[\"new_chunks\"]" <b2.json)" 0 new_chunks
'

test_expect_success 'the human-readable backup summary; --quiet' '
	lifeboat init --repo repo.h --quiet >init.out &&
	test ! -s init.out &&
	random_file h.img 4M &&
	lifeboat backup --repo repo.h h.img >h1.out &&
	expect_grep "^Snapshot [0-9a-f]{8} saved: 4.0 MiB in .*; 4.0 MiB read, .* added to the repository \(4 new chunks, 0 already stored\)" h1.out &&
	lifeboat backup --repo repo.h h.img --quiet >h2.out &&
	test ! -s h2.out &&
	lifeboat list --repo repo.h >h.list &&
	expect_eq "$(grep -c "h.img" h.list)" 2 "snapshot lines"
'

test_expect_success 'list shows the 2 snapshots, oldest first' '
	lifeboat list --repo repo >list.out &&
	expect_eq "$(grep -c "^[0-9a-f]\{8\}  " list.out)" 2 "snapshot lines" &&
	expect_grep "^$(cut -c1-8 snap1.id)  .*256.0 MiB.*\[first\]" list.out &&
	expect_grep "^$(cut -c1-8 snap2.id)  .*\[second\]" list.out &&
	test "$(sed -n 2p list.out | cut -c1-8)" = "$(cut -c1-8 snap1.id)" &&
	lifeboat list --repo repo --json >list.json &&
	expect_eq "$(json_get "len(d)" <list.json)" 2 "snapshot count" &&
	expect_eq "$(json_get "d[0][\"id\"]" <list.json)" "$(cat snap1.id)" &&
	expect_eq "$(json_get "d[1][\"id\"]" <list.json)" "$(cat snap2.id)" &&
	expect_eq "$(json_get "d[0][\"size\"]" <list.json)" 268435456 &&
	expect_eq "$(json_get "d[0][\"tags\"]" <list.json)" "[\"first\"]"
'

test_expect_success 'info latest and info by an 8-digit prefix' '
	lifeboat info --repo repo latest >info.out &&
	expect_grep "^Snapshot  $(cat snap2.id)\$" info.out &&
	expect_grep "source +$SRC\$" info.out &&
	expect_grep "size +256.0 MiB \(268435456 bytes\)" info.out &&
	lifeboat info --repo repo "$(cut -c1-8 snap1.id)" >info1.out &&
	expect_grep "^Snapshot  $(cat snap1.id)\$" info1.out &&
	expect_grep "first" info1.out &&
	lifeboat info --repo repo "$(cat snap1.id)" --json >info1.json &&
	expect_eq "$(json_get "d[\"id\"]" <info1.json)" "$(cat snap1.id)" &&
	expect_eq "$(json_get "d[\"images\"][0][\"source\"]" <info1.json)" "$SRC" &&
	expect_eq "$(json_get "d[\"images\"][0][\"size\"]" <info1.json)" 268435456 &&
	expect_eq "$(json_get "len(d[\"images\"])" <info1.json)" 1
'

test_expect_success 'restore to a new file is identical to the device' '
	lifeboat restore --repo repo latest restored.img >restore.out &&
	expect_grep "^Restored 256.0 MiB to restored.img" restore.out &&
	expect_eq "$(file_size restored.img)" 268435456 "restored size" &&
	expect_cmp restored.img "$SRC"
'

test_expect_success 'restore the first snapshot by prefix to a second loop device' '
	truncate -s 256M dst.img &&
	make_loop dst.img >dst.dev &&
	dst=$(cat dst.dev) &&
	lifeboat restore --repo repo "$(cut -c1-8 snap1.id)" "$dst" &&
	expect_cmp "$dst" "$SRC" &&
	e2fsck -fn "$dst"
'

test_expect_success 'the restored filesystem has the same tree as the original' '
	dst=$(cat dst.dev) &&
	mount_fs "$SRC" mnt.src -o ro &&
	mount_fs "$dst" mnt.dst -o ro &&
	diff -r --no-dereference mnt.src mnt.dst &&
	test -L mnt.dst/links/dangling &&
	expect_eq "$(stat -c %a mnt.dst/mode-600)" 600 &&
	expect_eq "$(stat -c %h mnt.dst/links/hardlink)" 2 "link count" &&
	expect_cmp mnt.dst/random/big.bin mnt.src/random/big.bin &&
	unmount_fs mnt.dst &&
	unmount_fs mnt.src
'

# Blocks that no filesystem uses need not be written: over old data the
# result is the same filesystem, not necessarily the same bytes.
test_expect_success 'restore onto a device full of old data gives the same filesystem' '
	random_file junk.img 256M &&
	junk=$(make_loop junk.img) &&
	lifeboat restore --repo repo latest "$junk" &&
	e2fsck -fn "$junk" &&
	mount_fs "$SRC" mnt.src -o ro &&
	mount_fs "$junk" mnt.junk -o ro &&
	diff -r --no-dereference mnt.src mnt.junk &&
	unmount_fs mnt.junk &&
	unmount_fs mnt.src &&
	free_loop "$junk"
'

test_expect_success 'verify and verify --read-data pass' '
	lifeboat verify --repo repo >verify.out &&
	expect_grep "^No damage found: 2 snapshot" verify.out &&
	lifeboat verify --repo repo --read-data >verify.out &&
	expect_grep "all data read and re-hashed" verify.out &&
	lifeboat verify --repo repo "$(cut -c1-8 snap1.id)" >verify.out &&
	expect_grep "1 snapshot" verify.out
'

test_expect_success '--json output of every command parses' '
	lifeboat init --repo repo.j --json >j.init &&
	lifeboat backup --repo repo.j "$SRC" --json >j.backup &&
	lifeboat list --repo repo.j --json >j.list &&
	lifeboat info --repo repo.j latest --json >j.info &&
	lifeboat restore --repo repo.j latest j.img --json >j.restore &&
	lifeboat verify --repo repo.j --json >j.verify &&
	lifeboat verify --repo repo.j --read-data --json >j.verify-data &&
	for f in j.init j.backup j.list j.info j.restore j.verify j.verify-data; do
		is_json <$f || { echo "$f is not JSON:"; cat $f; exit 1; }
	done &&
	expect_eq "$(json_get "d[\"encrypted\"]" <j.init)" false &&
	expect_eq "$(json_get "d[\"bytes_total\"]" <j.restore)" 268435456 &&
	expect_eq "$(json_get "d[\"ok\"]" <j.verify)" true &&
	expect_eq "$(json_get "d[\"ok\"]" <j.verify-data)" true &&
	expect_eq "$(json_get "d[\"read_data\"]" <j.verify-data)" true &&
	expect_eq "$(json_get "d[\"damage\"]" <j.verify-data)" "[]" &&
	expect_cmp j.img "$SRC"
'

test_expect_success 'LIFEBOAT_REPO works instead of --repo, and --repo wins over it' '
	LIFEBOAT_REPO=$SCRATCH/repo lifeboat list --json >env.json &&
	expect_eq "$(json_get "len(d)" <env.json)" 2 &&
	LIFEBOAT_REPO=$SCRATCH/repo lifeboat info latest >env.info &&
	expect_grep "$(cat snap2.id)" env.info &&
	LIFEBOAT_REPO=$SCRATCH/repo lifeboat restore latest env.img &&
	expect_cmp env.img "$SRC" &&
	LIFEBOAT_REPO=$SCRATCH/repo lifeboat verify &&
	LIFEBOAT_REPO=$SCRATCH/repo.env lifeboat init &&
	LIFEBOAT_REPO=$SCRATCH/repo.env lifeboat backup --json "$SRC" >env.backup &&
	test -s repo.env/config &&
	LIFEBOAT_REPO=/nonexistent lifeboat list --repo repo --json >env2.json &&
	expect_eq "$(json_get "len(d)" <env2.json)" 2
'

test_expect_success 'several sources in one snapshot; restore --image N' '
	random_file a.img 8M &&
	{ random_data 5M b; seq 1 20000; } >b.img &&
	mkdir sub && random_file sub/a.img 3M sub-a &&
	lifeboat init --repo repo.multi &&
	lifeboat backup --repo repo.multi a.img b.img "$SRC" sub/a.img --json >m.json &&
	expect_eq "$(json_get "d[\"bytes_total\"]" <m.json)" \
		$(( $(file_size a.img) + $(file_size b.img) + 268435456 + 3145728 )) &&
	lifeboat info --repo repo.multi latest --json >m.info &&
	expect_eq "$(json_get "[i[\"name\"] for i in d[\"images\"]]" <m.info)" \
		"[\"a.img\", \"b.img\", \"$(basename $SRC)\", \"a.img-2\"]" &&
	lifeboat restore --repo repo.multi latest m1.img &&
	expect_cmp m1.img a.img &&
	lifeboat restore --repo repo.multi latest m2.img --image 2 &&
	expect_cmp m2.img b.img &&
	lifeboat restore --repo repo.multi latest m3.img --image 3 &&
	expect_cmp m3.img "$SRC" &&
	lifeboat restore --repo repo.multi latest m4.img --image 4 &&
	expect_cmp m4.img sub/a.img &&
	expect_fail 1 "no image 5" lifeboat restore --repo repo.multi latest m5.img --image 5 &&
	test ! -e m5.img
'

for comp in none zstd:1 zstd:9; do
	test_expect_success "--compression $comp round trip" '
		rm -rf repo.c && lifeboat init --repo repo.c &&
		lifeboat backup --repo repo.c --compression '"$comp"' "$SRC" --json >c.json &&
		json_get "d[\"stored_bytes\"]" <c.json >"stored.'"$comp"'" &&
		info "'"$comp"': $(cat stored.'"$comp"') bytes stored" &&
		lifeboat verify --repo repo.c --read-data &&
		rm -f c.img && lifeboat restore --repo repo.c latest c.img &&
		expect_cmp c.img "$SRC"
	'
done

test_expect_success 'compression makes the repository smaller' '
	none=$(cat stored.none) z1=$(cat stored.zstd:1) z9=$(cat stored.zstd:9) &&
	test "$z1" -lt "$none" &&
	test "$z9" -le "$z1"
'

test_expect_success 'restore over an existing non-empty file needs --force' '
	echo "precious data" >existing.img &&
	before=$(sha existing.img) &&
	expect_fail 1 "exists.*--force" lifeboat restore --repo repo latest existing.img &&
	expect_eq "$(sha existing.img)" "$before" "checksum of the untouched file" &&
	lifeboat restore --repo repo latest existing.img --force &&
	expect_cmp existing.img "$SRC" &&
	: >empty.img &&
	lifeboat restore --repo repo latest empty.img &&
	expect_cmp empty.img "$SRC"
'

test_expect_success 'restore --force over a larger file truncates it to the image size' '
	random_file larger.img 300M &&
	lifeboat restore --repo repo latest larger.img --force &&
	expect_eq "$(file_size larger.img)" 268435456 "size" &&
	expect_cmp larger.img "$SRC"
'

test_expect_success 'a restored file keeps the holes of a mostly empty source' '
	truncate -s 512M sparse-src.img &&
	write_at sparse-src.img 0 1 &&
	write_at sparse-src.img 100 2 &&
	write_at sparse-src.img 300 3 &&
	head -c 1M /dev/zero | dd of=sparse-src.img bs=1M seek=400 conv=notrunc status=none &&
	info "source: $(disk_kib sparse-src.img) KiB on disk for $(file_size sparse-src.img) bytes" &&
	lifeboat init --repo repo.s &&
	lifeboat backup --repo repo.s sparse-src.img &&
	lifeboat restore --repo repo.s latest sparse.img &&
	expect_cmp sparse.img sparse-src.img &&
	used=$(disk_kib sparse.img) &&
	info "restored: $used KiB on disk for 524288 KiB" &&
	test "$used" -lt 16384
'

test_expect_success 'a restored filesystem image stays sparse' '
	truncate -s 512M fs-src.img &&
	mkfs.ext4 -q -F fs-src.img &&
	loop=$(make_loop fs-src.img) &&
	mount_fs "$loop" mnt.fs &&
	random_file mnt.fs/data 3M &&
	unmount_fs mnt.fs &&
	lifeboat backup --repo repo.s "$loop" &&
	lifeboat restore --repo repo.s latest fs.img &&
	e2fsck -fn fs.img &&
	used=$(disk_kib fs.img) &&
	info "restored: $used KiB on disk for 524288 KiB" &&
	test "$used" -lt 65536 &&
	used=$(disk_kib restored.img) &&
	info "restored 256 MiB filesystem: $used KiB on disk" &&
	test "$used" -lt 200000
'

test_done
