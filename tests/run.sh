#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs every test of Lifeboat and sums up their TAP results. Builds nothing
# (`make check` builds first).
#
#   tests/run.sh [-v] [PATTERN...]
#
# Runs, in this order:
#   unit  the unit test programs build/tests/unit/test-* (TAP)
#   fuzz  the replays of the fuzz corpora (fuzz/corpus/<name>), as registered
#         in meson (suite fuzz), else build/fuzz/fuzz-* over their corpus
#   other any other test registered in meson (TAP or exit code)
#   cli   the shell tests tests/cli/t*.sh, on the real binary (need root)
# PATTERN (e.g. t0003, unit, fuzz-index) selects the programs whose name or
# kind contains it. -v shows every program's output as it runs.
#
# Each program's output is kept in $LOGDIR (default build/test-logs). A
# program counts its "ok" and "not ok" lines; one that exits non-zero
# without a "not ok", bails out, or runs fewer tests than it planned counts
# one failure more. The last line is "N passed, N failed"; the exit status is
# 1 when anything failed.
set -u
export LC_ALL=C

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
LOGDIR=${LOGDIR:-$BUILD/test-logs}
# Per program, unless meson says otherwise.
TIMEOUT=${TEST_TIMEOUT:-900}
VERBOSE=
PATTERNS=()
for a in "$@"; do
	case $a in
	-v | --verbose) VERBOSE=1 ;;
	-h | --help)
		sed -n '3,20p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "run.sh: unknown option $a" >&2
		exit 2
		;;
	*) PATTERNS+=("$a") ;;
	esac
done

mkdir -p "$LOGDIR" 2>/dev/null || LOGDIR=$(mktemp -d /tmp/lifeboat-test-logs.XXXXXX)

# The system's python3 (a pyenv shim in PATH costs most of a second a call).
PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3 || true)}

# ---- what to run: "kind name protocol timeout workdir argv env", separated by
# US (\x1f: IFS whitespace like tabs would merge empty fields); the words of
# argv and the VAR=value of env are separated by RS (\x1e) ----
S=$'\x1f'
R=$'\x1e'

list_meson_tests() {
	[ -f "$BUILD/meson-info/intro-tests.json" ] || return 0
	[ -n "$PYTHON" ] || return 0
	"$PYTHON" - "$BUILD/meson-info/intro-tests.json" <<'EOF'
import json, sys
for t in json.load(open(sys.argv[1])):
    suites = [x.split(":")[-1] for x in t.get("suite") or []]
    name = t["name"]
    if "fuzz" in suites or name.startswith("fuzz-"):
        kind = "fuzz"
    elif "unit" in suites or name.startswith("unit-"):
        kind = "unit"
    else:
        kind = "other"
    env = ["%s=%s" % kv for kv in (t.get("env") or {}).items()]
    print("\x1f".join([kind, name, t.get("protocol") or "exitcode", str(t.get("timeout") or 0),
                     t.get("workdir") or "", "\x1e".join(t["cmd"]), "\x1e".join(env)]))
EOF
}

PROGRAMS=()
add() {
	PROGRAMS+=("$1$S$2$S$3$S$4$S$5$S$6$S${7:-}")
}

MESON_TESTS=$(list_meson_tests)
# unit tests: every build/tests/unit/test-*, with meson's settings if it has any
for exe in "$BUILD"/tests/unit/test-*; do
	[ -f "$exe" ] && [ -x "$exe" ] || continue
	line=$(printf '%s\n' "$MESON_TESTS" | awk -F"$S" -v e="$exe" -v r="$R" '$1 == "unit" && ($6 == e || index($6, e r) == 1)' | head -n1)
	if [ -n "$line" ]; then
		IFS=$S read -r kind name proto tmo wd argv env <<<"$line"
		add unit "$(basename "$exe")" tap "$tmo" "$wd" "$argv" "$env"
	else
		add unit "$(basename "$exe")" tap 0 "" "$exe"
	fi
done
# fuzz replays: as registered in meson, else guessed
fuzz_lines=$(printf '%s\n' "$MESON_TESTS" | awk -F"$S" '$1 == "fuzz"')
if [ -n "$fuzz_lines" ]; then
	while IFS=$S read -r kind name proto tmo wd argv env; do
		add fuzz "$name" exitcode "$tmo" "$wd" "$argv" "$env"
	done <<<"$fuzz_lines"
else
	for exe in "$BUILD"/fuzz/fuzz-*; do
		[ -f "$exe" ] && [ -x "$exe" ] || continue
		n=$(basename "$exe")
		for c in "$TOP/fuzz/corpus/${n#fuzz-}" "$TOP/fuzz/corpus/$n"; do
			if [ -d "$c" ]; then
				add fuzz "$n-replay" exitcode 0 "" "$exe$R$c"
				break
			fi
		done
	done
fi
# anything else registered in meson
other_lines=$(printf '%s\n' "$MESON_TESTS" | awk -F"$S" '$1 == "other"')
if [ -n "$other_lines" ]; then
	while IFS=$S read -r kind name proto tmo wd argv env; do
		add other "$name" "$proto" "$tmo" "$wd" "$argv" "$env"
	done <<<"$other_lines"
fi
# the shell tests
for t in "$TOP"/tests/cli/t[0-9]*.sh; do
	[ -f "$t" ] || continue
	add cli "$(basename "$t" .sh)" tap 0 "" "bash$R$t"
done
# the recovery media tests (QEMU), unless RUN_MEDIA_TESTS=0
[ "${RUN_MEDIA_TESTS:-1}" = 0 ] || for t in "$TOP"/tests/media/t[0-9]*.sh; do [ -f "$t" ] && add media "$(basename "$t" .sh)" tap 0 "" "bash$R$t"; done

selected() {
	local kind=$1 name=$2 p
	[ ${#PATTERNS[@]} = 0 ] && return 0
	for p in "${PATTERNS[@]}"; do
		case "$kind $name" in *"$p"*) return 0 ;; esac
	done
	return 1
}

# ---- run ----

total_pass=0
total_fail=0
nprog=0
failed_progs=()
t_start=$(date +%s.%N)

elapsed() {
	awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

for entry in "${PROGRAMS[@]}"; do
	IFS=$S read -r kind name proto tmo wd argv env <<<"$entry"
	selected "$kind" "$name" || continue
	nprog=$((nprog + 1))
	[ "$tmo" -gt 0 ] 2>/dev/null || tmo=$TIMEOUT
	log=$LOGDIR/$name.log
	IFS=$R read -r -a cmd <<<"$argv"
	envs=()
	[ -n "$env" ] && IFS=$R read -r -a envs <<<"$env"
	if [ -z "$wd" ]; then
		if [ "$kind" = cli ]; then wd=$TOP; else wd=$BUILD; fi
	fi
	t0=$(date +%s.%N)
	rc=0
	(cd "$wd" && exec env ${envs[@]+"${envs[@]}"} timeout -k 30 "$tmo" "${cmd[@]}") </dev/null >"$log" 2>&1 &
	pid=$!
	trap 'kill -TERM $pid 2>/dev/null; wait $pid; echo "run.sh: interrupted" >&2; exit 130' INT TERM
	tailpid=
	if [ -n "$VERBOSE" ]; then
		tail -n +1 -f --pid=$pid "$log" 2>/dev/null | sed -u "s/^/[$name] /" &
		tailpid=$!
	fi
	wait $pid || rc=$?
	trap - INT TERM
	[ -n "$tailpid" ] && wait $tailpid 2>/dev/null
	secs=$(elapsed "$t0")

	pass=0 fail=0 note=
	if [ "$proto" = tap ]; then
		pass=$(grep -Ec '^ok( |$)' "$log")
		fail=$(grep -E '^not ok( |$)' "$log" | grep -Evc '# *TODO')
		todo=$(grep -E '^not ok( |$)' "$log" | grep -Ec '# *TODO')
		pass=$((pass + todo))
		[ "$todo" -gt 0 ] && note="$note, $todo known breakage(s)"
		plan=$(grep -Eo '^1\.\.[0-9]+' "$log" | head -n1 | cut -c4-)
		ran=$((pass + fail))
		if grep -q '^Bail out!' "$log"; then
			fail=$((fail + 1))
			note="$note, bailed out"
		elif [ -n "$plan" ] && [ "$plan" != "$ran" ]; then
			fail=$((fail + 1))
			note="$note, planned $plan tests but ran $ran"
		elif [ -z "$plan" ] && [ $((pass + fail)) -gt 0 ]; then
			fail=$((fail + 1))
			note="$note, no TAP plan (did it stop early?)"
		fi
		if grep -q '^1\.\.0 *# *SKIP' "$log"; then
			note="$note, skipped: $(sed -n 's/^1\.\.0 *# *SKIP *//p' "$log" | head -n1)"
		fi
		if [ $rc != 0 ] && [ "$fail" = 0 ]; then
			fail=1
		fi
		if [ $rc = 0 ] && [ $((pass + fail)) = 0 ] && [ -z "$plan" ]; then
			pass=1 # no TAP at all: judged by the exit status
		fi
	else
		if [ $rc = 0 ]; then pass=1; else fail=1; fi
	fi
	case $rc in
	124 | 137) note="$note, TIMED OUT after ${tmo}s" ;;
	0) ;;
	*) note="$note, exit status $rc" ;;
	esac
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	if [ "$fail" = 0 ]; then
		printf 'PASS  %-5s %-28s %4d passed            %7ss%s\n' "$kind" "$name" "$pass" "$secs" "$note"
	else
		failed_progs+=("$name")
		printf 'FAIL  %-5s %-28s %4d passed, %3d failed %6ss%s\n' "$kind" "$name" "$pass" "$fail" "$secs" "$note"
		# the failed tests with their diagnostics (capped), or the tail of the log
		if grep -q '^not ok' "$log"; then
			# each failed test and the last lines of its output
			awk -v max=30 '
			function flush() {
				if (!show) return
				if (n > max) print "      #   ... (" n - max " lines before; see the log)"
				for (i = (n > max ? n - max + 1 : 1); i <= n; i++) print "      " buf[i]
				show = 0
			}
			/^(ok|not ok|1\.\.)/ { flush() }
			/^not ok/ && !/# *TODO/ { show = 1; n = 0; print "      " $0; next }
			show { buf[++n] = $0 }
			END { flush() }' "$log"
		else
			tail -n 25 "$log" | sed 's/^/      /'
		fi
		echo "      log: $log"
	fi
done

if [ "$nprog" = 0 ]; then
	echo "run.sh: no test program matches: ${PATTERNS[*]:-(none built?)}" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
echo "--"
echo "$nprog program(s) in $(elapsed "$t_start") s; logs in $LOGDIR"
[ ${#failed_progs[@]} -gt 0 ] && echo "failed: ${failed_progs[*]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
