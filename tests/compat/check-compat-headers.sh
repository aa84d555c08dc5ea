#!/bin/sh
# The libvfio-user compatible headers, each alone and twice, must compile
# cleanly under strict warnings the way their users include them:
#   <vfio-user/X.h>  with -I<prefix>/include
#   "X.h"            with -I<prefix>/include/vfio-user   (QEMU, SPDK)
# as C11, GNU C11, C++11 and C++17, with -Wall -Wextra -Wpedantic -Werror.
# They may include only system headers and each other, and carry uvfio's
# own licence line.
#
#   check-compat-headers.sh INCLUDE_DIR     (compat/libvfio-user/include)
# CC and CXX (set by tests/compat/meson.build) name the compilers; without
# CXX the C++ half cannot run and the test is skipped (exit 77) after the
# C half.
set -u
inc=${1:?usage: check-compat-headers.sh INCLUDE_DIR}
CC=${CC:-cc}
CXX=${CXX:-}
warn="-Wall -Wextra -Wpedantic -Werror"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

headers=$(cd "$inc/vfio-user" && find . -name '*.h' | sed 's|^\./||' | sort)
[ -n "$headers" ] || { echo "no headers under $inc/vfio-user"; exit 1; }

fail=0

# Only <system> headers, or "relative" ones that exist next to the includer.
for h in $headers; do
	dir=$(dirname "$inc/vfio-user/$h")
	for q in $(sed -n 's/^#include "\(.*\)".*/\1/p' "$inc/vfio-user/$h"); do
		if [ ! -f "$dir/$q" ]; then
			echo "FAIL $h includes \"$q\", which is not a compat header"
			fail=1
		fi
	done
	if grep -q '^#include <uvfio/' "$inc/vfio-user/$h"; then
		echo "FAIL $h includes a uvfio header"
		fail=1
	fi
	if ! head -1 "$inc/vfio-user/$h" | grep -q 'SPDX-License-Identifier: MIT'; then
		echo "FAIL $h does not start with the MIT SPDX line"
		fail=1
	fi
	if grep -qi 'nutanix\|copyright' "$inc/vfio-user/$h"; then
		echo "FAIL $h carries a copyright notice that is not uvfio's"
		fail=1
	fi
done

# check LANG STD COMPILER...: both spellings of each header, twice each.
check() {
	lang=$1 std=$2
	shift 2
	for h in $headers; do
		printf '#include <vfio-user/%s>\n#include <vfio-user/%s>\n#include "%s"\nint lvu_header_check;\n' \
			"$h" "$h" "$h" >"$tmp/tu"
		# shellcheck disable=SC2086
		if ! "$@" -x "$lang" -std="$std" $warn -I"$inc" \
			-I"$inc/vfio-user" -fsyntax-only "$tmp/tu" \
			2>"$tmp/err"; then
			echo "FAIL $h as $lang -std=$std:"
			cat "$tmp/err"
			fail=1
		else
			echo "ok   $h as $lang -std=$std"
		fi
	done
}

# shellcheck disable=SC2086
check c c11 $CC
# shellcheck disable=SC2086
check c gnu11 $CC
if [ -z "$CXX" ]; then
	echo "no C++ compiler: C++ checks skipped"
	[ $fail -eq 0 ] && exit 77
	exit 1
fi
# shellcheck disable=SC2086
check c++ c++11 $CXX
# shellcheck disable=SC2086
check c++ c++17 $CXX
exit $fail
