#!/bin/sh
# Every public header, alone and twice, must compile cleanly in a program
# that is strict about warnings: as C11, and as C++11 and C++17, with
# -Wall -Wextra -Wpedantic -Werror.  Users include these headers into their
# own builds, under flags we do not choose.
#
#   check-headers.sh INCLUDE_DIR
# CC and CXX (set by tests/meson.build) name the compilers; without CXX the
# C++ half cannot run and the test is skipped (exit 77) after the C half.
set -u
inc=${1:?usage: check-headers.sh INCLUDE_DIR}
CC=${CC:-cc}
CXX=${CXX:-}
warn="-Wall -Wextra -Wpedantic -Werror"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

headers=$(cd "$inc" && ls uvfio/*.h)
[ -n "$headers" ] || { echo "no headers under $inc/uvfio"; exit 1; }

fail=0
# check LANG STD COMPILER...: each header, alone then included twice (the
# include guard), in a translation unit of its own.
check() {
	lang=$1 std=$2
	shift 2
	for h in $headers; do
		printf '#include <%s>\n#include <%s>\nint uvfio_header_check;\n' \
			"$h" "$h" >"$tmp/tu"
		# shellcheck disable=SC2086
		if ! "$@" -x "$lang" -std="$std" $warn -I"$inc" -fsyntax-only \
			"$tmp/tu" 2>"$tmp/err"; then
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
