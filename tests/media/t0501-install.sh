#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# meson install puts the media's builder and scripts in share/lifeboat/media
# (the scripts /init runs executable, the library and the example not), and
# the installed lifeboat finds them there by itself (the installed builder is
# the one that runs) and builds the same ISO as the source tree's scripts. Uses the build directory of the binary under
# test (LIFEBOAT=BUILD/src/cli/lifeboat), installed into a DESTDIR in the
# scratch directory.
. "$(dirname "$0")/../cli/lib.sh"
. "$TEST_DIR/media-lib.sh"
media_require

BUILD=$(cd "$(dirname "$LIFEBOAT_ORIG")/../.." && pwd)
[ -f "$BUILD/meson-info/meson-info.json" ] || skip_all "$LIFEBOAT_ORIG is not in a meson build directory"
command -v meson >/dev/null || skip_all "no meson"

test_expect_success 'meson install: share/lifeboat/media with the scripts' '
	DESTDIR=$PWD/inst meson install -C "$BUILD" --no-rebuild --quiet >&2 &&
	bin=$(find inst -path "*/bin/lifeboat" -type f) &&
	test -x "$bin" &&
	echo "$bin" >bin.path &&
	media=$(dirname "$bin")/../share/lifeboat/media &&
	for f in mkrescue.sh init unattended.sh menu.sh; do
		test -x "$media/$f" || exit 1
		cmp "$TOP/media/$f" "$media/$f" || exit 1
	done &&
	for f in rescue-lib.sh lifeboat.conf.example; do
		test -f "$media/$f" && test ! -x "$media/$f" || exit 1
		cmp "$TOP/media/$f" "$media/$f" || exit 1
	done
'

test_expect_success 'the installed lifeboat finds its media scripts and builds the ISO' '
	unset LIFEBOAT_MEDIA_DIR &&
	media=$(dirname "$(cat bin.path)")/../share/lifeboat/media &&
	sed -i "2i echo \"builder: \$0\" >\&2" "$media/mkrescue.sh" &&
	SOURCE_DATE_EPOCH=1700000000 "$(cat bin.path)" media create --quiet --timeout 1 --output installed.iso 2>err &&
	expect_grep "^builder: .*/inst/.*/share/lifeboat/media/mkrescue.sh\$" err &&
	SOURCE_DATE_EPOCH=1700000000 LIFEBOAT_BIN=$(cat bin.path) "$TOP/media/mkrescue.sh" --quiet --timeout 1 \
		--output tree.iso &&
	expect_cmp tree.iso installed.iso
'

test_done
