# SPDX-License-Identifier: GPL-2.0-or-later
# tests/cli/lib.sh: sourced by every tests/cli/tNNNN-*.sh script.
#
# TAP output in the style of git's t/test-lib.sh:
#
#   test_expect_success 'description' '
#           commands
#   '
#
# runs the commands in a subshell with `set -e` (and `set -x` into the
# captured output) and prints "ok N - description", or "not ok N -
# description" followed by the trace of the commands and their output as
# "# > " lines. test_done prints the plan "1..N" and exits 1 if any failed.
# expect_fail CODE PATTERN COMMAND... checks a failing command's exit status
# and "lifeboat: ..." message.
# Because each test runs in a subshell, variables set inside a test are gone
# afterwards: share state through files in the scratch directory (the
# current directory of every test), or compute it at the top level.
#
# Every test script gets a fresh scratch directory under /tmp and a cleanup
# trap (EXIT INT TERM) that, also when a test failed or the script was
# interrupted, kills the background processes it registered, unmounts what it
# mounted, runs `partx -d` and `losetup -d` on the loop devices it made (and
# only on those: never `losetup -D`, other people use loop devices too) and
# removes the scratch directory.
#
# Options of every test script: -v (show the output of passing tests too),
# -d (keep the scratch directory), -x (trace the helpers as well).
# Environment: LIFEBOAT (the binary; default $TOP/build/src/cli/lifeboat),
# TEST_VERBOSE=1, TEST_KEEP=1.

TEST_NAME=$(basename "$0" .sh)
TEST_DIR=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${LIFEBOAT:=$TOP/build/src/cli/lifeboat}"
export LIFEBOAT
export LC_ALL=C
# A cheap key derivation for `init --encrypt` (the default costs ~100 ms and
# 32 MiB per call).
export LIFEBOAT_TEST_KDF_N=${LIFEBOAT_TEST_KDF_N:-1024}
# Nothing from the caller's environment may change what the tests see.
unset LIFEBOAT_REPO LIFEBOAT_PASSWORD

: "${TEST_VERBOSE:=}" "${TEST_KEEP:=}" "${TEST_TRACE_HELPERS:=}"
for _arg in "$@"; do
	case $_arg in
	-v | --verbose) TEST_VERBOSE=1 ;;
	-d | --debug | --keep) TEST_KEEP=1 ;;
	-x) TEST_TRACE_HELPERS=1 ;;
	esac
done
unset _arg

test_count=0
test_failures=0
test_fixed=0

say() { printf '%s\n' "$*"; }
# A TAP comment line.
diag() { printf '# %s\n' "$*"; }
# Messages from helpers inside a test body go to stderr (the captured output).
info() { printf '%s: %s\n' "$TEST_NAME" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$TEST_NAME" "$*" >&2
	return 1
}

bail_out() {
	say "Bail out! $TEST_NAME: $*"
	exit 1
}

# skip_all REASON: skip the whole script (before any test ran).
skip_all() {
	say "1..0 # SKIP $*"
	exit 0
}

# ---- the scratch directory and what must be undone ----

if [ -n "${LB_DEMO:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "$TEST_NAME: must run as root (loop devices, mount)" >&2; exit 1; }
else
	[ "$(id -u)" = 0 ] || skip_all "needs root (loop devices, mount)"
	[ -x "$LIFEBOAT" ] || bail_out "no lifeboat binary at $LIFEBOAT: build first (make build)"
fi

SCRATCH=$(mktemp -d "/tmp/lifeboat-$TEST_NAME.XXXXXX") || bail_out "mktemp failed"
SCRATCH=$(cd "$SCRATCH" && pwd -P)
# Bookkeeping lives in files: test bodies run in subshells.
_STATE=$SCRATCH/.state
mkdir "$_STATE"
: >"$_STATE/loops"  # "DEVICE BACKING-FILE" per line
: >"$_STATE/mounts" # mount point per line
: >"$_STATE/pids"   # background process per line

_cleanup_done=
_cleanup() {
	local rc=$?
	[ -n "$_cleanup_done" ] && return
	_cleanup_done=1
	set +e +x
	trap - EXIT INT TERM
	_undo_everything
	if [ -n "$TEST_KEEP" ]; then
		echo "# $TEST_NAME: kept the scratch directory $SCRATCH" >&2
	else
		rm -rf --one-file-system "$SCRATCH"
	fi
	return $rc
}

# _kill_tree PID: SIGKILL a process and its descendants, and wait (up to 2 s)
# until it is gone.
_kill_tree() {
	local pid=$1 child
	kill -STOP "$pid" 2>/dev/null || return 0 # no new children meanwhile
	for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
		_kill_tree "$child"
	done
	kill -9 "$pid" 2>/dev/null
	kill -CONT "$pid" 2>/dev/null
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		case $(ps -o stat= -p "$pid" 2>/dev/null) in
		"" | Z*) break ;;
		esac
		sleep 0.2
	done
}

_undo_everything() {
	local pid m dev file back line
	# 1. background processes (a backup the test started, ...) and their
	#    children, by process ID
	while read -r pid; do
		[ -n "$pid" ] || continue
		_kill_tree "$pid"
	done <"$_STATE/pids"
	# 2. mounts, innermost first: the recorded ones, then anything else
	#    mounted below the scratch directory
	{
		tac "$_STATE/mounts"
		findmnt -rn -o TARGET | sed 's/\\x20/ /g' | grep -F "$SCRATCH/" | sort -r
	} | while read -r m; do
		[ -n "$m" ] || continue
		if mountpoint -q "$m" 2>/dev/null; then
			umount "$m" 2>/dev/null || { sleep 0.5; umount "$m" 2>/dev/null; } || umount -l "$m"
		fi
	done
	# 3. loop devices: the recorded ones (if they still point at our file:
	#    a device number may have been reused by someone else), then any loop
	#    device whose backing file is in the scratch directory.
	{
		tac "$_STATE/loops"
		losetup -nl -O NAME,BACK-FILE 2>/dev/null | awk -v d="$SCRATCH/" 'index($2, d) == 1 { print $1, $2 }'
	} | while read -r dev file; do
		[ -n "$dev" ] || continue
		back=$(losetup -n -O BACK-FILE "$dev" 2>/dev/null | sed 's/ *$//')
		back=${back% (deleted)}
		[ -n "$back" ] && [ "$back" = "$file" ] || continue
		partx -d "$dev" 2>/dev/null
		losetup -d "$dev" 2>/dev/null || { sleep 0.5; losetup -d "$dev"; }
	done
}

trap '_cleanup' EXIT
trap '_cleanup; exit 130' INT
trap '_cleanup; exit 143' TERM

cd "$SCRATCH" || bail_out "cannot enter $SCRATCH"

# Run a private copy of the binary: a rebuild while the script runs (other
# people work in the same tree) must not change the program under test.
if [ -z "${LB_DEMO:-}" ]; then
	mkdir "$SCRATCH/.bin" && cp "$LIFEBOAT" "$SCRATCH/.bin/lifeboat" || bail_out "cannot copy $LIFEBOAT"
	LIFEBOAT_ORIG=$LIFEBOAT
	LIFEBOAT=$SCRATCH/.bin/lifeboat
fi

# ---- TAP ----

# Runs a test body; returns its exit status. Output goes to $2.
_run_body() {
	local body=$1 out=$2
	(
		cd "$SCRATCH" || exit 99
		PS4='+ '
		# the trace goes to the test's output even where a command's
		# stderr is redirected to a file
		exec 9>&2
		BASH_XTRACEFD=9
		shopt -s inherit_errexit
		set -e -x
		eval "$body"
	) >"$out" 2>&1 </dev/null
}

_print_failure() {
	local out=$2 n
	n=$(wc -l <"$out")
	if [ "$n" -gt 150 ]; then
		say "#	... (output cut: last 150 of $n lines; run with -v for all) ..."
		tail -n 150 "$out" | sed 's/^/# > /'
	else
		sed 's/^/# > /' "$out"
	fi
}

# test_expect_success DESCRIPTION BODY
test_expect_success() {
	[ $# = 2 ] || bail_out "bug in the test script: test_expect_success takes 2 arguments, got $#"
	local desc=$1 body=$2 out rc
	test_count=$((test_count + 1))
	out=$_STATE/out.$test_count
	_run_body "$body" "$out"
	rc=$?
	if [ $rc = 0 ]; then
		say "ok $test_count - $desc"
		[ -n "$TEST_VERBOSE" ] && sed 's/^/# > /' "$out"
	else
		test_failures=$((test_failures + 1))
		say "not ok $test_count - $desc"
		_print_failure "$body" "$out"
	fi
	return 0
}

# test_expect_failure DESCRIPTION BODY: a known bug; the body should succeed
# once it is fixed. Reported as a TAP TODO, which does not fail the run.
test_expect_failure() {
	[ $# = 2 ] || bail_out "bug in the test script: test_expect_failure takes 2 arguments, got $#"
	local desc=$1 body=$2 out rc
	test_count=$((test_count + 1))
	out=$_STATE/out.$test_count
	_run_body "$body" "$out"
	rc=$?
	if [ $rc = 0 ]; then
		test_fixed=$((test_fixed + 1))
		say "ok $test_count - $desc # TODO known breakage vanished"
	else
		say "not ok $test_count - $desc # TODO known breakage"
		[ -n "$TEST_VERBOSE" ] && sed 's/^/# > /' "$out"
	fi
	return 0
}

# test_skip DESCRIPTION REASON
test_skip() {
	test_count=$((test_count + 1))
	say "ok $test_count # skip $1 ($2)"
}

test_done() {
	say "1..$test_count"
	if [ "$test_fixed" -gt 0 ]; then
		diag "$test_fixed known breakage(s) vanished; mark them as test_expect_success"
	fi
	if [ "$test_failures" -gt 0 ]; then
		diag "$TEST_NAME: failed $test_failures of $test_count test(s)"
		exit 1
	fi
	exit 0
}

# ---- helpers for test bodies ----

# Helpers hide their own commands from the `set -x` trace of a test, unless
# -x was given: they start with `local -; _quiet`, and _quiet is an alias, so
# that the trace shows no more than "local -".
_QUIET='{ [ -n "$TEST_TRACE_HELPERS" ] || set +x; } 2>/dev/null 9>/dev/null'
shopt -s expand_aliases
# shellcheck disable=SC2139
alias _quiet="$_QUIET"

lifeboat() {
	local -
	_quiet
	"$LIFEBOAT" "$@"
}

# The system's python3: a pyenv shim in PATH costs most of a second a call.
PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
python3() {
	"$PYTHON" "$@"
}

# expect_fail CODE PATTERN COMMAND...: COMMAND must exit with CODE and print
# a line matching the extended regular expression PATTERN on stderr. Every
# error message must be a "lifeboat: ..." line. The output is kept in
# ./last.out and ./last.err for further checks.
expect_fail() {
	local -
	_quiet
	local code=$1 pattern=$2 rc=0
	shift 2
	"$@" >last.out 2>last.err || rc=$?
	if [ "$rc" != "$code" ]; then
		{
			echo "expect_fail: '$*' exited with $rc, expected $code"
			echo "--- stdout:"
			cat last.out
			echo "--- stderr:"
			cat last.err
		} >&2
		return 1
	fi
	if ! grep -Eq -- "$pattern" last.err; then
		{
			echo "expect_fail: stderr of '$*' does not match /$pattern/"
			echo "--- stderr:"
			cat last.err
		} >&2
		return 1
	fi
	if ! grep -q '^lifeboat: ' last.err; then
		{
			echo "expect_fail: stderr of '$*' has no 'lifeboat: <message>' line"
			cat last.err
		} >&2
		return 1
	fi
	return 0
}

# expect_exit CODE COMMAND...: like expect_fail, for commands whose errors are
# not on stderr (--json); output in ./last.out and ./last.err.
expect_exit() {
	local -
	_quiet
	local code=$1 rc=0
	shift
	"$@" >last.out 2>last.err || rc=$?
	[ "$rc" = "$code" ] && return 0
	{
		echo "expect_exit: '$*' exited with $rc, expected $code"
		echo "--- stdout:"
		cat last.out
		echo "--- stderr:"
		cat last.err
	} >&2
	return 1
}

# expect_grep PATTERN FILE / expect_no_grep PATTERN FILE with a useful message.
expect_grep() {
	local -
	_quiet
	grep -Eq -- "$1" "$2" && return 0
	{
		echo "expected /$1/ in $2, which has:"
		cat "$2"
	} >&2
	return 1
}
expect_no_grep() {
	local -
	_quiet
	grep -Eq -- "$1" "$2" || return 0
	{
		echo "did not expect /$1/ in $2, which has:"
		grep -En -- "$1" "$2"
	} >&2
	return 1
}

# expect_eq ACTUAL EXPECTED [WHAT]
expect_eq() {
	[ "$1" = "$2" ] && return 0
	echo "expected ${3:-value} '$2', got '$1'" >&2
	return 1
}

# expect_cmp A B: byte-identical files or devices.
expect_cmp() {
	local -
	_quiet
	cmp -- "$1" "$2" && return 0
	echo "$1 and $2 differ" >&2
	return 1
}

# is_json: stdin parses as JSON.
is_json() {
	local -
	_quiet
	python3 -c 'import json, sys; json.load(sys.stdin)'
}

# json_get EXPR <FILE: print the value of the Python expression EXPR over the
# parsed JSON document `d`, e.g. json_get 'd["snapshot"]' <out.json;
# json_get 'len(d)'.
json_get() {
	local -
	_quiet
	python3 -c '
import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1], {"d": d})
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$1"
}

sha() {
	local -
	_quiet
	sha256sum <"$1" | cut -d' ' -f1
}

file_size() {
	stat -c %s -- "$1"
}

# Space a file takes on disk, in KiB.
disk_kib() {
	du -k -- "$1" | cut -f1
}

dev_size() {
	blockdev --getsize64 "$1"
}

# random_data SIZE [SEED]: deterministic incompressible bytes on stdout
# (AES-CTR keystream under a key derived from SEED). SIZE as for `head -c`
# (1M = 1048576).
random_data() {
	local -
	_quiet
	local key
	key=$(printf '%s' "${2:-lifeboat}" | sha256sum | cut -c1-32)
	openssl enc -aes-128-ctr -K "$key" -iv 00000000000000000000000000000000 -nosalt -in /dev/zero 2>/dev/null |
		head -c "$1"
}

# random_file FILE SIZE [SEED]
random_file() {
	local -
	_quiet
	random_data "$2" "${3:-$1}" >"$1"
}

# write_at FILE OFFSET_MIB SIZE_MIB [SEED]: random data into a file, in place.
write_at() {
	local -
	_quiet
	random_data "$3M" "${4:-$1@$2}" | dd of="$1" bs=1M seek="$2" conv=notrunc status=none iflag=fullblock
}

# flip_byte FILE [OFFSET]: invert one byte (default: the middle one).
flip_byte() {
	local -
	_quiet
	python3 - "$1" "${2:-}" <<'EOF'
import os, sys
path, off = sys.argv[1], sys.argv[2]
size = os.path.getsize(path)
off = size // 2 if off == "" else int(off)
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0xFF]))
EOF
}

# register_pid PID: killed by the cleanup if still running.
register_pid() {
	echo "$1" >>"$_STATE/pids"
}

# wait_for_node PATH [SECONDS]: no udev here; devtmpfs creates the nodes a
# little later.
wait_for_node() {
	local -
	_quiet
	local i n=$((${2:-10} * 20))
	for ((i = 0; i < n; i++)); do
		[ -b "$1" ] && return 0
		sleep 0.05
	done
	die "device node $1 did not appear"
}

# make_loop FILE: attach FILE to a free loop device; prints the device.
make_loop() {
	local -
	_quiet
	local dev back
	dev=$(losetup -f --show -- "$1") || die "losetup -f --show $1 failed" || return 1
	back=$(losetup -n -O BACK-FILE "$dev" | sed 's/ *$//')
	echo "$dev ${back% (deleted)}" >>"$_STATE/loops"
	wait_for_node "$dev" >&2 || return 1
	echo "$dev"
}

# make_loop_parts FILE: make_loop, then `partx -a` and wait for the
# partition nodes (DEVpN). Prints the device.
make_loop_parts() {
	local -
	_quiet
	local dev n i
	dev=$(make_loop "$1") || return 1
	partx -a "$dev" >&2 || die "partx -a $dev failed" || return 1
	n=$(partx -g -o NR "$dev" | wc -l)
	for ((i = 1; i <= n; i++)); do
		wait_for_node "${dev}p$i" >&2 || return 1
	done
	echo "$dev"
}

# free_loop DEV: detach a loop device this test made.
free_loop() {
	local -
	_quiet
	grep -q "^$1 " "$_STATE/loops" || die "free_loop: $1 was not made by this test" || return 1
	partx -d "$1" 2>/dev/null || true
	losetup -d "$1"
	sed -i "\\|^$1 |d" "$_STATE/loops"
}

# mount_fs DEV DIR [MOUNT-OPTIONS...]: mount and remember for the cleanup.
mount_fs() {
	local -
	_quiet
	local dev=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd -P)
	echo "$dir" >>"$_STATE/mounts"
	mount "$@" "$dev" "$dir"
}

unmount_fs() {
	local -
	_quiet
	umount "$1"
}

# fill_tree DIR [BIG_MIB [DOC_MIB]]: a deterministic mix of files: the first
# DOC_MIB (default 50) MiB of /usr/share/doc (text, compressible), random
# files with fixed seeds, a big random file of BIG_MIB (default 24) MiB, a
# file with holes, empty files, symlinks (relative, absolute, dangling), a
# hard link, odd names, modes.
fill_tree() {
	local -
	_quiet
	local d=$1 big=${2:-24} doc=${3:-50} i
	mkdir -p "$d/doc" "$d/random" "$d/deep/a/b/c/d" "$d/links" "$d/empty-dir"
	du -s -k --apparent-size /usr/share/doc/* |
		awk -v max=$((doc * 1024)) '{ if (sum >= max) exit; sum += $1; sub(/^[0-9]+\t/, ""); print }' |
		while IFS= read -r i; do cp -a "$i" "$d/doc/"; done
	# a machine with few packages has less documentation: top up with text
	i=0
	while [ "$(du -s -k --apparent-size "$d/doc" | cut -f1)" -lt $((doc * 1024)) ]; do
		i=$((i + 1))
		mkdir -p "$d/doc/zz-text"
		seq -f "line %g: the quick brown fox $i jumps over the lazy dog" 1 30000 >"$d/doc/zz-text/$i.txt"
	done
	for i in 1 2 3 4 5 6 7 8; do
		random_data "$((i * 37))K" "small-$i" >"$d/random/small-$i.bin"
	done
	random_data "${big}M" "big" >"$d/random/big.bin"
	truncate -s 20M "$d/random/holes.bin"
	random_data 1M "holes-a" | dd of="$d/random/holes.bin" bs=1M seek=3 conv=notrunc status=none
	random_data 1M "holes-b" | dd of="$d/random/holes.bin" bs=1M seek=17 conv=notrunc status=none
	: >"$d/empty-file"
	seq 1 200000 >"$d/deep/a/b/c/d/numbers.txt"
	ln -s ../random/big.bin "$d/links/relative"
	ln -s /etc/hostname "$d/links/absolute"
	ln -s does-not-exist "$d/links/dangling"
	ln "$d/random/small-1.bin" "$d/links/hardlink"
	echo "odd name" >"$d/with space & 'quote'"
	echo secret >"$d/mode-600"
	chmod 600 "$d/mode-600"
	chmod 1777 "$d/empty-dir"
}

# make_fs_image FILE SIZE [BIG_MIB [DOC_MIB]]: a sparse file of SIZE (truncate
# syntax) with an ext4 filesystem filled by fill_tree. Leaves nothing attached.
make_fs_image() {
	local -
	_quiet
	local file=$1 size=$2 big=${3:-24} doc=${4:-50} dev mnt
	rm -f "$file"
	truncate -s "$size" "$file"
	# no lazy initialisation: the image must not change after its first mount
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L lifeboat-test "$file" >&2
	dev=$(make_loop "$file") || return 1
	mnt=$SCRATCH/.mnt.$$.$RANDOM
	mount_fs "$dev" "$mnt" || return 1
	fill_tree "$mnt" "$big" "$doc"
	unmount_fs "$mnt" && rmdir "$mnt"
	free_loop "$dev"
}

# check_repo_names REPO: every pack, index and snapshot file's SHA-256 is its
# name (files are written to tmp/ and renamed into place only when complete).
check_repo_names() {
	local -
	_quiet
	local f bad=0
	while IFS= read -r f; do
		if [ "$(sha "$f")" != "$(basename "$f")" ]; then
			echo "$f: SHA-256 does not match the file name" >&2
			bad=1
		fi
	done < <(find "$1/packs" "$1/index" "$1/snapshots" -type f)
	return $bad
}

# peak_rss_kib FILE: from the output of /usr/bin/time -v -o FILE.
peak_rss_kib() {
	sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$1"
}
