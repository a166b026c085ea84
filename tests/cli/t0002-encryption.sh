#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Encrypted repositories: the round trip, passphrase sources and errors, and
# that no plaintext reaches the repository (while it does reach an
# unencrypted, uncompressed one: the check can fail).
. "$(dirname "$0")/lib.sh"

PASS='correct horse battery staple'
MARKER=LIFEBOAT-PLAINTEXT-MARKER-4b1d7e
SOURCE_NAME=secret-source-name-9f2c.img

test_expect_success 'setup: a source with a marker string written many times' '
	{
		random_data 3M m1
		for i in $(seq 1 40000); do echo "$MARKER $i"; done
		random_data 2M m2
		for i in $(seq 1 20000); do echo "line $i: $MARKER"; done
		random_data 1M m3
	} >$SOURCE_NAME &&
	test "$(grep -a -c $MARKER $SOURCE_NAME)" -ge 60000
'

test_expect_success 'init --encrypt with LIFEBOAT_PASSWORD' '
	LIFEBOAT_PASSWORD=$PASS lifeboat init --repo enc --encrypt >init.out &&
	expect_grep "Created encrypted repository" init.out &&
	expect_grep "\"encryption\": *\"aes-256-gcm\"" enc/config &&
	test -s enc/keys/default &&
	! grep -r -F -q "$PASS" enc
'

test_expect_success 'backup and restore round trip' '
	LIFEBOAT_PASSWORD=$PASS lifeboat backup --repo enc $SOURCE_NAME --json >b1.json &&
	LIFEBOAT_PASSWORD=$PASS lifeboat backup --repo enc $SOURCE_NAME --compression none --json >b2.json &&
	expect_eq "$(json_get "d[\"stored_bytes\"]" <b2.json)" 0 "stored bytes of the second backup" &&
	LIFEBOAT_PASSWORD=$PASS lifeboat restore --repo enc latest restored.img &&
	expect_cmp restored.img $SOURCE_NAME &&
	LIFEBOAT_PASSWORD=$PASS lifeboat list --repo enc --json >list.json &&
	expect_eq "$(json_get "len(d)" <list.json)" 2 &&
	LIFEBOAT_PASSWORD=$PASS lifeboat info --repo enc latest >info.out &&
	expect_grep "source +$SOURCE_NAME" info.out &&
	LIFEBOAT_PASSWORD=$PASS lifeboat verify --repo enc --read-data
'

test_expect_success 'an uncompressed backup into a fresh encrypted repository' '
	LIFEBOAT_PASSWORD=$PASS lifeboat init --repo enc.raw --encrypt &&
	LIFEBOAT_PASSWORD=$PASS lifeboat backup --repo enc.raw --compression none $SOURCE_NAME &&
	LIFEBOAT_PASSWORD=$PASS lifeboat restore --repo enc.raw latest restored.raw &&
	expect_cmp restored.raw $SOURCE_NAME
'

test_expect_success 'a wrong passphrase is refused by every command' '
	export LIFEBOAT_PASSWORD="wrong $PASS" &&
	expect_fail 1 "wrong passphrase" lifeboat list --repo enc &&
	expect_fail 1 "wrong passphrase" lifeboat info --repo enc latest &&
	expect_fail 1 "wrong passphrase" lifeboat verify --repo enc &&
	expect_fail 1 "wrong passphrase" lifeboat backup --repo enc $SOURCE_NAME &&
	expect_fail 1 "wrong passphrase" lifeboat restore --repo enc latest wrong.img &&
	test ! -e wrong.img &&
	unset LIFEBOAT_PASSWORD &&
	LIFEBOAT_PASSWORD=$PASS lifeboat list --repo enc --json >list.json &&
	expect_eq "$(json_get "len(d)" <list.json)" 2 "snapshots after the refused backup"
'

test_expect_success 'no passphrase and no terminal: a clear message' '
	expect_fail 1 "passphrase.*LIFEBOAT_PASSWORD.*--password-file" lifeboat list --repo enc </dev/null &&
	expect_fail 1 "passphrase" lifeboat restore --repo enc latest nopass.img </dev/null &&
	test ! -e nopass.img &&
	expect_fail 1 "passphrase" setsid "$LIFEBOAT" list --repo enc </dev/null &&
	expect_fail 1 "passphrase" lifeboat init --repo enc.nopass --encrypt </dev/null &&
	test ! -e enc.nopass/config &&
	LIFEBOAT_PASSWORD= expect_fail 1 "non-empty passphrase" lifeboat init --repo enc.empty --encrypt &&
	test ! -e enc.empty/config
'

test_expect_success '--password-file works, and wins over LIFEBOAT_PASSWORD' '
	printf "%s\n" "$PASS" >pw &&
	lifeboat list --repo enc --password-file pw --json >list.json &&
	expect_eq "$(json_get "len(d)" <list.json)" 2 &&
	LIFEBOAT_PASSWORD="wrong $PASS" lifeboat list --repo enc --password-file pw >/dev/null &&
	lifeboat restore --repo enc --password-file pw latest pwfile.img &&
	expect_cmp pwfile.img $SOURCE_NAME &&
	printf "%s" "$PASS" >pw.nonl &&
	lifeboat list --repo enc --password-file pw.nonl >/dev/null &&
	printf "%s\n" "$PASS" >pw.new &&
	lifeboat init --repo enc.pw --encrypt --password-file pw.new &&
	lifeboat backup --repo enc.pw --password-file pw.new $SOURCE_NAME --quiet &&
	LIFEBOAT_PASSWORD=$PASS lifeboat verify --repo enc.pw --read-data &&
	echo "not it" >pw.wrong &&
	expect_fail 1 "wrong passphrase" lifeboat list --repo enc --password-file pw.wrong &&
	expect_fail 1 "cannot read password file" lifeboat list --repo enc --password-file does-not-exist &&
	: >pw.empty &&
	expect_fail 1 "empty" lifeboat list --repo enc --password-file pw.empty
'

test_expect_success 'an unencrypted repository ignores a passphrase' '
	lifeboat init --repo plain &&
	LIFEBOAT_PASSWORD=$PASS lifeboat backup --repo plain $SOURCE_NAME --quiet &&
	lifeboat list --repo plain --password-file pw >/dev/null &&
	expect_no_grep "\"encryption\": *\"aes" plain/config
'

test_expect_success 'no file of the encrypted repositories contains the marker or the source name' '
	for r in enc enc.raw enc.pw; do
		n=$(find $r -type f | wc -l) &&
		test "$n" -gt 3 &&
		if grep -r -a -l -F -e "$MARKER" -e "$SOURCE_NAME" $r; then
			echo "plaintext found in $r"; exit 1
		fi
	done &&
	{ grep -r -a -c -F "$MARKER" enc >counts || true; } &&
	test -s counts &&
	! grep -v ":0\$" counts
'

test_expect_success 'the marker is in an unencrypted repository with --compression none' '
	lifeboat init --repo plain.raw &&
	lifeboat backup --repo plain.raw --compression none $SOURCE_NAME &&
	grep -r -a -l -F "$MARKER" plain.raw >found &&
	test -s found &&
	grep -r -a -c -F "$MARKER" plain.raw/packs | grep -v ":0\$" >counts &&
	test "$(awk -F: "{ s += \$NF } END { print s }" counts)" -ge 1000
'

test_expect_success 'repositories with the same passphrase do not share chunk IDs or keys' '
	LIFEBOAT_PASSWORD=$PASS lifeboat init --repo enc.twin --encrypt &&
	LIFEBOAT_PASSWORD=$PASS lifeboat backup --repo enc.twin --compression none $SOURCE_NAME &&
	! cmp -s enc.twin/keys/default enc.raw/keys/default &&
	(cd enc.raw/packs && find . -type f | sort) >packs.a &&
	(cd enc.twin/packs && find . -type f | sort) >packs.b &&
	! cmp -s packs.a packs.b
'

test_done
