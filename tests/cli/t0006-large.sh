#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A 1 TiB sparse image with a few MiB of data at the start, in the middle and
# at the end: backup, restore and verify must be quick, skip the holes, keep
# the restored file sparse, and stay within 256 MiB of memory.
. "$(dirname "$0")/lib.sh"

[ -x /usr/bin/time ] || skip_all "needs /usr/bin/time (Debian package time)"

TIB=$((1024 * 1024 * 1024 * 1024))
MAX_RSS_KIB=$((256 * 1024))
# data regions: offset in MiB, length in MiB
REGIONS="0:4 524288:3 1048572:4"

test_expect_success 'setup: a 1 TiB sparse file with data at the start, middle and end' '
	truncate -s 1T big.img &&
	for r in $REGIONS; do
		write_at big.img ${r%:*} ${r#*:} "region-$r"
	done &&
	expect_eq "$(file_size big.img)" $TIB "size" &&
	used=$(disk_kib big.img) &&
	info "source: $used KiB on disk" &&
	test "$used" -lt 65536
'

test_expect_success 'backup: holes are not read; peak RSS within the limit' '
	lifeboat init --repo repo &&
	/usr/bin/time -v -o backup.time "$LIFEBOAT" backup --repo repo big.img --json >backup.json &&
	rss=$(peak_rss_kib backup.time) &&
	info "backup: peak RSS $rss KiB, $(json_get "d[\"duration_ms\"]" <backup.json) ms" &&
	test "$rss" -le $MAX_RSS_KIB &&
	test "$(json_get "d[\"duration_ms\"]" <backup.json)" -lt 30000 &&
	expect_eq "$(json_get "d[\"bytes_total\"]" <backup.json)" $TIB "bytes_total" &&
	read=$(json_get "d[\"bytes_read\"]" <backup.json) &&
	info "backup read $read bytes" &&
	test "$read" -ge $((11 * 1024 * 1024)) &&
	test "$read" -lt $((64 * 1024 * 1024)) &&
	stored=$(du -sk repo | cut -f1) &&
	info "repository: $stored KiB" &&
	test "$stored" -lt 65536
'

test_expect_success 'info reports the size' '
	lifeboat info --repo repo latest >info.out &&
	expect_grep "size +1.0 TiB \(1099511627776 bytes\)" info.out
'

test_expect_success 'a second backup is just as quick and adds nothing' '
	/usr/bin/time -v -o backup2.time "$LIFEBOAT" backup --repo repo big.img --json >backup2.json &&
	test "$(peak_rss_kib backup2.time)" -le $MAX_RSS_KIB &&
	test "$(json_get "d[\"stored_bytes\"]" <backup2.json)" -lt 1048576
'

test_expect_success 'restore to a sparse file: peak RSS within the limit' '
	/usr/bin/time -v -o restore.time "$LIFEBOAT" restore --repo repo latest restored.img --json >restore.json &&
	rss=$(peak_rss_kib restore.time) &&
	info "restore: peak RSS $rss KiB, $(json_get "d[\"duration_ms\"]" <restore.json) ms" &&
	test "$rss" -le $MAX_RSS_KIB &&
	test "$(json_get "d[\"duration_ms\"]" <restore.json)" -lt 30000
'

test_expect_success 'the restored file: same size, same data regions, still sparse' '
	expect_eq "$(file_size restored.img)" $TIB "size" &&
	used=$(disk_kib restored.img) &&
	info "restored: $used KiB on disk" &&
	test "$used" -lt 65536 &&
	for r in $REGIONS; do
		off=$(( ${r%:*} * 1048576 )) len=$(( ${r#*:} * 1048576 )) &&
		cmp --ignore-initial=$off:$off --bytes=$len big.img restored.img &&
		a=$(dd if=big.img bs=1M skip=${r%:*} count=${r#*:} status=none | sha256sum) &&
		b=$(dd if=restored.img bs=1M skip=${r%:*} count=${r#*:} status=none | sha256sum) &&
		expect_eq "$b" "$a" "checksum of region $r" || exit 1
	done
'

test_expect_success 'the holes of the restored file read as zeros' '
	for mib in 4 100 524287 524291 800000 1048571; do
		cmp --ignore-initial=$((mib * 1048576)):0 --bytes=1048576 restored.img /dev/zero || exit 1
	done &&
	cmp --ignore-initial=$((TIB - 4 * 1048576 - 1)):0 --bytes=1 restored.img /dev/zero
'

test_expect_success 'an odd-sized sparse image with data in its last, partial chunk' '
	truncate -s $((TIB + 12345)) odd.img &&
	write_at odd.img 1048575 1 odd &&
	printf "the very end" | dd of=odd.img bs=1 seek=$((TIB + 12345 - 12)) conv=notrunc status=none &&
	/usr/bin/time -v -o odd.time "$LIFEBOAT" backup --repo repo odd.img --json >odd.json &&
	test "$(peak_rss_kib odd.time)" -le $MAX_RSS_KIB &&
	lifeboat restore --repo repo latest odd.restored &&
	expect_eq "$(file_size odd.restored)" $((TIB + 12345)) "size" &&
	cmp --ignore-initial=$((TIB - 1048576)):$((TIB - 1048576)) odd.img odd.restored &&
	test "$(tail -c 12 odd.restored)" = "the very end" &&
	test "$(disk_kib odd.restored)" -lt 16384
'

test_expect_success 'verify --read-data: peak RSS within the limit' '
	/usr/bin/time -v -o verify.time "$LIFEBOAT" verify --repo repo --read-data &&
	rss=$(peak_rss_kib verify.time) &&
	info "verify: peak RSS $rss KiB" &&
	test "$rss" -le $MAX_RSS_KIB
'

test_done
